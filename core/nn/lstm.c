/* LSTM (torch.nn.LSTM, batch_first=True), gate blocks (i, f, g, o):
 *   i, f, o = sigma(W_* x + b_i* + W_h* h + b_h*), g = tanh(...)
 *   c' = f * c + i * g,  h' = o * tanh(c')
 * with zero initial h and c. Every b_hh block is folded into the input
 * projection by the driver; the step keeps c (aux) for backward. Options,
 * parameters and the time loop are in rnn_common.c; here is the math of
 * one step for units j..j+m-1 of one sample (m = 4 except at the end of a
 * row). */
#include "rnn_common.h"

static const rnn_v4 k_zero = {0, 0, 0, 0};

RNN_INLINE void lstm_fwd_units(const rnn_fwd_step *s, int b, int j, int m) {
  int H = s->h;
  float *g = s->gates + b * s->g_ld + j, *c = s->aux + b * s->aux_ld + j;
  rnn_v4 ai = rnn_ld(g, m), af = rnn_ld(g + H, m), ag = rnn_ld(g + 2 * H, m);
  rnn_v4 ao = rnn_ld(g + 3 * H, m), cp = k_zero; /* c_prev, zero at the first step */
  if (s->hp) {
    const float *hp = s->hp + (size_t)b * 4 * H + j;
    ai += rnn_ld(hp, m);
    af += rnn_ld(hp + H, m);
    ag += rnn_ld(hp + 2 * H, m);
    ao += rnn_ld(hp + 3 * H, m);
    cp = rnn_ld(s->aux_prev + b * s->aux_ld + j, m);
  }
  rnn_v4 i = rnn_sigmoid(ai), f = rnn_sigmoid(af), gg = rnn_tanh(ag), o = rnn_sigmoid(ao);
  rnn_v4 cn = f * cp + i * gg;
  rnn_st(g, i, m);
  rnn_st(g + H, f, m);
  rnn_st(g + 2 * H, gg, m);
  rnn_st(g + 3 * H, o, m);
  rnn_st(c, cn, m);
  rnn_st(s->hout + b * s->h_ld + j, o * rnn_tanh(cn), m);
}

static void lstm_step_forward(const rnn_fwd_step *s) {
  for (int b = 0; b < s->n; b++) {
    int j = 0;
    for (; j + 4 <= s->h; j += 4) lstm_fwd_units(s, b, j, 4);
    if (j < s->h) lstm_fwd_units(s, b, j, s->h - j);
  }
}

RNN_INLINE void lstm_bwd_units(const rnn_bwd_step *s, int b, int j, int m) {
  int H = s->h;
  const float *g = s->gates + b * s->g_ld + j;
  float *dhc = s->carry + (size_t)b * H + j, *dcc = s->carry_c + (size_t)b * H + j;
  float *dx = s->dxp + b * s->d_ld + j;
  rnn_v4 i = rnn_ld(g, m), f = rnn_ld(g + H, m), gg = rnn_ld(g + 2 * H, m);
  rnn_v4 o = rnn_ld(g + 3 * H, m);
  rnn_v4 cp = s->aux_prev ? rnn_ld(s->aux_prev + b * s->aux_ld + j, m) : k_zero;
  rnn_v4 dh = rnn_ld(s->dh_out + b * s->dh_ld + j, m) + rnn_ld(dhc, m);
  rnn_v4 tc = rnn_tanh(rnn_ld(s->aux + b * s->aux_ld + j, m));
  rnn_v4 dc = rnn_ld(dcc, m) + dh * o * (1.0f - tc * tc);
  rnn_st(dx, dc * gg * i * (1.0f - i), m);
  rnn_st(dx + H, dc * cp * f * (1.0f - f), m);
  rnn_st(dx + 2 * H, dc * i * (1.0f - gg * gg), m);
  rnn_st(dx + 3 * H, dh * tc * o * (1.0f - o), m);
  rnn_st(dcc, dc * f, m);
}

static void lstm_step_backward(const rnn_bwd_step *s) {
  for (int b = 0; b < s->n; b++) {
    int j = 0;
    for (; j + 4 <= s->h; j += 4) lstm_bwd_units(s, b, j, 4);
    if (j < s->h) lstm_bwd_units(s, b, j, s->h - j);
  }
}

static const rnn_cell k_lstm_cell = {.type = "lstm",
                                     .gates = 4,
                                     .fold = 4,
                                     .separate_dhp = 0,
                                     .carry_direct = 0,
                                     .forward = lstm_step_forward,
                                     .backward = lstm_step_backward};

static const mgc_layer_ops k_lstm = {.type = "lstm",
                                     .workspace = rnn_workspace,
                                     .plan = rnn_plan,
                                     .forward = rnn_forward,
                                     .backward = rnn_backward,
                                     .reseed = rnn_reseed,
                                     .destroy = rnn_destroy};

mgc_status mgc_lstm_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                           mgc_layer **out) {
  return rnn_create(&k_lstm_cell, &k_lstm, spec, in, rng, out);
}
