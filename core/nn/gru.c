/* GRU (torch.nn.GRU, batch_first=True), gate blocks (r, z, n):
 *   r = sigma(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigma(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * b_hr and b_hz are folded into the input projection by the driver; b_hn
 * sits inside the product with r, so the step adds it and keeps
 * W_hn h + b_hn (aux) for backward. Options, parameters and the time loop
 * are in rnn_common.c; here is the math of one step for units j..j+m-1 of
 * one sample (m = 4 except at the end of a row). */
#include "rnn_common.h"

static const rnn_v4 k_zero = {0, 0, 0, 0};

RNN_INLINE void gru_fwd_units(const rnn_fwd_step *s, int b, int j, int m) {
  int H = s->h;
  float *g = s->gates + b * s->g_ld + j, *an = s->aux + b * s->aux_ld + j;
  const float *hp = s->hp ? s->hp + (size_t)b * 3 * H + j : NULL;
  rnn_v4 ar = rnn_ld(g, m), az = rnn_ld(g + H, m), hn = rnn_ld(s->bhh + 2 * H + j, m);
  rnn_v4 hv = k_zero; /* h_prev, zero at the first step */
  if (hp) {
    ar += rnn_ld(hp, m);
    az += rnn_ld(hp + H, m);
    hn += rnn_ld(hp + 2 * H, m);
    hv = rnn_ld(s->hprev + b * s->h_ld + j, m);
  }
  rnn_v4 r = rnn_sigmoid(ar), z = rnn_sigmoid(az);
  rnn_v4 n = rnn_tanh(rnn_ld(g + 2 * H, m) + r * hn);
  rnn_st(g, r, m);
  rnn_st(g + H, z, m);
  rnn_st(g + 2 * H, n, m);
  rnn_st(an, hn, m);
  rnn_st(s->hout + b * s->h_ld + j, n + z * (hv - n), m); /* PyTorch's form */
}

static void gru_step_forward(const rnn_fwd_step *s) {
  for (int b = 0; b < s->n; b++) {
    int j = 0;
    for (; j + 4 <= s->h; j += 4) gru_fwd_units(s, b, j, 4);
    if (j < s->h) gru_fwd_units(s, b, j, s->h - j);
  }
}

RNN_INLINE void gru_bwd_units(const rnn_bwd_step *s, int b, int j, int m) {
  int H = s->h;
  const float *g = s->gates + b * s->g_ld + j;
  float *c = s->carry + (size_t)b * H + j, *dx = s->dxp + b * s->d_ld + j;
  float *dp = s->dhp + b * s->d_ld + j;
  rnn_v4 r = rnn_ld(g, m), z = rnn_ld(g + H, m), n = rnn_ld(g + 2 * H, m);
  rnn_v4 dh = rnn_ld(s->dh_out + b * s->dh_ld + j, m) + rnn_ld(c, m);
  rnn_v4 hv = s->hprev ? rnn_ld(s->hprev + b * s->h_ld + j, m) : k_zero;
  rnn_v4 dn = dh * (1.0f - z) * (1.0f - n * n);
  rnn_v4 dz = dh * (hv - n) * z * (1.0f - z);
  rnn_v4 dr = dn * rnn_ld(s->aux + b * s->aux_ld + j, m) * r * (1.0f - r);
  rnn_st(dx, dr, m);
  rnn_st(dx + H, dz, m);
  rnn_st(dx + 2 * H, dn, m);
  rnn_st(dp, dr, m);
  rnn_st(dp + H, dz, m);
  rnn_st(dp + 2 * H, dn * r, m); /* W_hn h + b_hn enters through r */
  rnn_st(c, dh * z, m);          /* h' = ... + z h */
}

static void gru_step_backward(const rnn_bwd_step *s) {
  for (int b = 0; b < s->n; b++) {
    int j = 0;
    for (; j + 4 <= s->h; j += 4) gru_bwd_units(s, b, j, 4);
    if (j < s->h) gru_bwd_units(s, b, j, s->h - j);
  }
}

static const rnn_cell k_gru_cell = {.type = "gru",
                                    .gates = 3,
                                    .fold = 2,
                                    .separate_dhp = 1,
                                    .carry_direct = 1,
                                    .forward = gru_step_forward,
                                    .backward = gru_step_backward};

static const mgc_layer_ops k_gru = {.type = "gru",
                                    .workspace = rnn_workspace,
                                    .plan = rnn_plan,
                                    .forward = rnn_forward,
                                    .backward = rnn_backward,
                                    .reseed = rnn_reseed,
                                    .destroy = rnn_destroy};

mgc_status mgc_gru_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                          mgc_layer **out) {
  return rnn_create(&k_gru_cell, &k_gru, spec, in, rng, out);
}
