/* The recurrent-layer driver shared by GRU and LSTM (see rnn_common.h).
 *
 * Cost structure: the input projection of every step of a layer/direction
 * is one sgemm over N*T rows; only the h_prev W_hh^T product is per step
 * (an sgemv at batch 1). Backward collects the gate gradients of all steps
 * and then forms dW_ih, dW_hh and dx with one sgemm each, so the per-step
 * work in backward is also a single product (the dh_{t-1} carry). */
#include "rnn_common.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const rnn_cell *cell;
  int G, H, L, D, T, F;
  int last, bias;
  float p;            /* inter-layer dropout */
  mgc_rng rng;
  float *cache;       /* training caches for the planned batch */
  size_t cap;         /* floats */
} rnn_state;

/* Where everything lives for a batch of n; the same function sizes and
 * carves the buffers so the two can never disagree. */
typedef struct {
  float *gates[RNN_MAX_LAYERS][2], *aux[RNN_MAX_LAYERS][2];
  float *h[RNN_MAX_LAYERS];    /* output of layer k, [N*T, D*H] */
  float *mask[RNN_MAX_LAYERS]; /* dropout scale on h[k], k < L-1 */
  float *xin[RNN_MAX_LAYERS];  /* input of layer k > 0: h[k-1] after dropout */
} rnn_bufs;

/* Scratch of one call, carved from the shared workspace. */
typedef struct {
  float *hp;         /* [N, G*H] recurrent product of one step */
  float *bias;       /* [G*H] folded input bias */
  float *zeros;      /* [G*H] stands in for b_hh without bias */
  float *dxp, *dhp;  /* [N*T, G*H] gate gradients of a direction */
  float *dA, *dB;    /* [N*T, D*H] ping-pong gradients of layer outputs */
  float *carry, *carry_c; /* [N, H] */
} rnn_scratch;

/* ---- buffers ------------------------------------------------------------ */

static float *take(float *base, size_t *off, size_t n) {
  float *r = base ? base + *off : NULL;
  *off += n;
  return r;
}

static mgc_param *par(mgc_layer *l, int k, int d, int which) {
  const rnn_state *s = l->state;
  return &l->params[(k * s->D + d) * (s->bias ? 4 : 2) + which];
}

/* Training caches: every layer/direction keeps its gates and aux, every
 * layer its output (the top one only in "last" mode: in "sequence" mode the
 * output is y itself), dropout masks and dropped inputs. */
static size_t train_layout(const rnn_state *s, int n, float *base, rnn_bufs *b) {
  size_t nt = (size_t)n * s->T, gh = (size_t)s->G * s->H, dh = (size_t)s->D * s->H, off = 0;
  memset(b, 0, sizeof *b);
  for (int k = 0; k < s->L; k++) {
    for (int d = 0; d < s->D; d++) {
      b->gates[k][d] = take(base, &off, nt * gh);
      b->aux[k][d] = take(base, &off, nt * (size_t)s->H);
    }
    if (k < s->L - 1 || s->last) b->h[k] = take(base, &off, nt * dh);
    if (k < s->L - 1) {
      if (s->p > 0) {
        b->mask[k] = take(base, &off, nt * dh);
        b->xin[k + 1] = take(base, &off, nt * dh);
      } else {
        b->xin[k + 1] = b->h[k];
      }
    }
  }
  return off;
}

/* Inference: one set of gates/aux reused by every layer/direction, layer
 * outputs alternating between two buffers. */
static size_t infer_layout(const rnn_state *s, int n, float *base, rnn_bufs *b) {
  size_t nt = (size_t)n * s->T, gh = (size_t)s->G * s->H, dh = (size_t)s->D * s->H, off = 0;
  memset(b, 0, sizeof *b);
  float *g = take(base, &off, nt * gh), *a = take(base, &off, nt * (size_t)s->H);
  float *ping = take(base, &off, nt * dh), *pong = take(base, &off, nt * dh);
  for (int k = 0; k < s->L; k++) {
    for (int d = 0; d < s->D; d++) b->gates[k][d] = g, b->aux[k][d] = a;
    b->h[k] = k % 2 ? pong : ping;
    if (k) b->xin[k] = b->h[k - 1];
  }
  return off;
}

/* Scratch after the inference buffers (forward) or on its own (backward). */
static size_t fwd_scratch(const rnn_state *s, int n, float *base, size_t off, rnn_scratch *w) {
  size_t gh = (size_t)s->G * s->H;
  memset(w, 0, sizeof *w);
  w->hp = take(base, &off, (size_t)n * gh);
  w->bias = take(base, &off, gh);
  w->zeros = take(base, &off, gh);
  return off;
}

static size_t bwd_scratch(const rnn_state *s, int n, float *base, rnn_scratch *w) {
  size_t nt = (size_t)n * s->T, gh = (size_t)s->G * s->H, off = 0;
  size_t dh = (size_t)s->D * s->H;
  memset(w, 0, sizeof *w);
  w->dxp = take(base, &off, nt * gh);
  w->dhp = s->cell->separate_dhp ? take(base, &off, nt * gh) : w->dxp;
  w->dA = take(base, &off, nt * dh);
  w->dB = take(base, &off, nt * dh);
  w->carry = take(base, &off, (size_t)n * s->H);
  w->carry_c = take(base, &off, (size_t)n * s->H);
  return off;
}

size_t rnn_workspace(const mgc_layer *l, int batch, int training) {
  const rnn_state *s = l->state;
  rnn_bufs b;
  rnn_scratch w;
  /* The inference path needs its buffers even in a training plan: the net
   * shares one workspace for both modes. */
  size_t need = fwd_scratch(s, batch, NULL, infer_layout(s, batch, NULL, &b), &w);
  if (training) {
    size_t bw = bwd_scratch(s, batch, NULL, &w);
    if (bw > need) need = bw;
  }
  return need;
}

mgc_status rnn_plan(mgc_layer *l, int batch, int training) {
  rnn_state *s = l->state;
  rnn_bufs b;
  size_t n = training ? train_layout(s, batch, NULL, &b) : 0;
  if (n <= s->cap) return MGC_OK;
  float *c = realloc(s->cache, n * sizeof(float));
  if (!c) return mgc_error_set(MGC_ENOMEM, "out of memory for %s caches", l->name);
  s->cache = c;
  s->cap = n;
  return MGC_OK;
}

/* out[n, m] = a[n, k] (rows lda apart) . w[m, k]^T; a gemv at n == 1, where
 * sgemm's packing costs more than the product. */
static void mul_wt(int n, int m, int k, const float *a, size_t lda, const float *w, float *out) {
  if (n == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0f, w, k, a, 1, 0.0f, out, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, a, (int)lda, w, k,
                0.0f, out, m);
}

/* out[n, k] = beta out + a[n, m] (rows lda apart) . w[m, k]. */
static void mul_w(int n, int m, int k, const float *a, size_t lda, const float *w, float beta,
                  float *out) {
  if (n == 1)
    cblas_sgemv(CblasRowMajor, CblasTrans, m, k, 1.0f, w, k, a, 1, beta, out, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, m, 1.0f, a, (int)lda, w, k,
                beta, out, k);
}

/* Direction d of layer k over the whole sequence: input xk [N*T, in],
 * output columns d*H.. of hk [N*T, D*H]. Direction 1 runs t = T-1 .. 0. */
static void run_forward(mgc_layer *l, int k, int d, const float *xk, int in, float *hk,
                        float *gates, float *aux, const rnn_scratch *w, int n) {
  rnn_state *s = l->state;
  int H = s->H, gh = s->G * s->H, T = s->T, dh = s->D * s->H;
  size_t nt = (size_t)n * T;
  const float *wih = par(l, k, d, 0)->value, *whh = par(l, k, d, 1)->value;
  const float *bhh = w->zeros;
  if (s->bias) {
    const float *bih = par(l, k, d, 2)->value;
    bhh = par(l, k, d, 3)->value;
    /* b_hh of the blocks outside any product with a gate goes in once here
     * instead of at every step. */
    int fold = s->cell->fold * H;
    for (int j = 0; j < gh; j++) w->bias[j] = bih[j] + (j < fold ? bhh[j] : 0.0f);
    for (size_t r = 0; r < nt; r++) memcpy(gates + r * gh, w->bias, (size_t)gh * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, gh, in, 1.0f, xk, in, wih, in,
              s->bias ? 1.0f : 0.0f, gates, gh);
  size_t h_ld = (size_t)T * dh;
  for (int i = 0; i < T; i++) {
    int t = d ? T - 1 - i : i, tp = d ? t + 1 : t - 1;
    rnn_fwd_step st = {.n = n,
                       .h = H,
                       .bhh = bhh,
                       .gates = gates + (size_t)t * gh,
                       .g_ld = (size_t)T * gh,
                       .aux = aux + (size_t)t * H,
                       .aux_ld = (size_t)T * H,
                       .hout = hk + (size_t)t * dh + (size_t)d * H,
                       .h_ld = h_ld};
    if (i) {
      st.hprev = hk + (size_t)tp * dh + (size_t)d * H;
      st.aux_prev = aux + (size_t)tp * H;
      mul_wt(n, gh, H, st.hprev, h_ld, whh, w->hp);
      st.hp = w->hp;
    }
    s->cell->forward(&st);
  }
}

void rnn_forward(mgc_layer *l, const float *x, float *y, int batch, int training, float *ws) {
  rnn_state *s = l->state;
  rnn_bufs b;
  rnn_scratch w;
  if (training) {
    train_layout(s, batch, s->cache, &b);
    fwd_scratch(s, batch, ws, 0, &w);
  } else {
    fwd_scratch(s, batch, ws, infer_layout(s, batch, ws, &b), &w);
  }
  int H = s->H, T = s->T, dh = s->D * H;
  size_t nt = (size_t)batch * T;
  if (!s->bias) memset(w.zeros, 0, (size_t)s->G * H * sizeof(float));
  for (int k = 0; k < s->L; k++) {
    const float *xk = k ? b.xin[k] : x;
    float *hk = k == s->L - 1 && !s->last ? y : b.h[k];
    for (int d = 0; d < s->D; d++)
      run_forward(l, k, d, xk, k ? dh : s->F, hk, b.gates[k][d], b.aux[k][d], &w, batch);
    if (training && k < s->L - 1 && s->p > 0) {
      float keep = 1.0f / (1.0f - s->p);
      for (size_t i = 0; i < nt * dh; i++) {
        b.mask[k][i] = mgc_rng_uniformf(&s->rng) >= s->p ? keep : 0.0f;
        b.xin[k + 1][i] = hk[i] * b.mask[k][i];
      }
    }
  }
  if (s->last) {
    /* PyTorch's h_n of the top layer: forward state after t = T-1, backward
     * state after t = 0. */
    const float *ht = b.h[s->L - 1];
    for (int n = 0; n < batch; n++) {
      float *yo = y + (size_t)n * dh;
      memcpy(yo, ht + ((size_t)n * T + T - 1) * dh, (size_t)H * sizeof(float));
      if (s->D == 2)
        memcpy(yo + H, ht + (size_t)n * T * dh + H, (size_t)H * sizeof(float));
    }
  }
}

/* out[j] = sum over rows of a[r][j], four columns at a time. */
static void col_sum(const float *a, size_t rows, int cols, float *out) {
  for (int j = 0; j < cols; j += 4) {
    int m = cols - j < 4 ? cols - j : 4;
    rnn_v4 acc = {0, 0, 0, 0};
    if (m == 4)
      for (size_t r = 0; r < rows; r++) acc += rnn_ld(a + r * cols + j, 4);
    else
      for (size_t r = 0; r < rows; r++) acc += rnn_ld(a + r * cols + j, m);
    rnn_st(out + j, acc, m);
  }
}

/* Backward of direction d of layer k: dH [N*T, D*H] is dL/d(layer output);
 * writes every parameter grad of (k, d) and adds dL/dxk into dxk (beta 0
 * for the first direction) unless dxk is NULL. */
static void run_backward(mgc_layer *l, int k, int d, const float *xk, int in, const float *hk,
                         const float *dH, float *dxk, const float *gates, const float *aux,
                         const rnn_scratch *w, int n) {
  rnn_state *s = l->state;
  int H = s->H, gh = s->G * s->H, T = s->T, dh = s->D * s->H;
  size_t nt = (size_t)n * T, h_ld = (size_t)T * dh, g_ld = (size_t)T * gh;
  mgc_param *wih = par(l, k, d, 0), *whh = par(l, k, d, 1);
  memset(w->carry, 0, (size_t)n * H * sizeof(float));
  memset(w->carry_c, 0, (size_t)n * H * sizeof(float));
  for (int i = T - 1; i >= 0; i--) {
    int t = d ? T - 1 - i : i, tp = d ? t + 1 : t - 1;
    rnn_bwd_step st = {.n = n,
                       .h = H,
                       .dh_out = dH + (size_t)t * dh + (size_t)d * H,
                       .dh_ld = h_ld,
                       .carry = w->carry,
                       .carry_c = w->carry_c,
                       .gates = gates + (size_t)t * gh,
                       .aux = aux + (size_t)t * H,
                       .aux_prev = i ? aux + (size_t)tp * H : NULL,
                       .g_ld = g_ld,
                       .aux_ld = (size_t)T * H,
                       .hprev = i ? hk + (size_t)tp * dh + (size_t)d * H : NULL,
                       .h_ld = h_ld,
                       .dxp = w->dxp + (size_t)t * gh,
                       .dhp = w->dhp + (size_t)t * gh,
                       .d_ld = g_ld};
    s->cell->backward(&st);
    if (i)
      mul_w(n, gh, H, st.dhp, g_ld, whh->value, s->cell->carry_direct ? 1.0f : 0.0f, w->carry);
  }
  if (s->bias) {
    col_sum(w->dxp, nt, gh, par(l, k, d, 2)->grad);
    col_sum(w->dhp, nt, gh, par(l, k, d, 3)->grad);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, gh, in, (int)nt, 1.0f, w->dxp, gh, xk,
              in, 0.0f, wih->grad, in);
  if (dxk)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nt, in, gh, 1.0f, w->dxp, gh,
                wih->value, in, d ? 1.0f : 0.0f, dxk, in);
  /* dW_hh = sum over steps of dhp_t^T h_prev(t): one sgemm pairing row r of
   * dhp with row r-1 (forward) or r+1 (backward) of h. The pairs that cross
   * from one sample to the next are exactly the first-step rows, whose h_prev
   * is the zero initial state: zeroing those rows (after db_hh used them)
   * makes the single product exact. */
  int t0 = d ? T - 1 : 0;
  for (int b = 0; b < n; b++) memset(w->dhp + ((size_t)b * T + t0) * gh, 0, (size_t)gh * sizeof(float));
  if (nt < 2) {
    memset(whh->grad, 0, whh->size * sizeof(float));
    return;
  }
  const float *a = d ? w->dhp : w->dhp + gh;
  const float *hprev = hk + (size_t)d * H + (d ? (size_t)dh : 0);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, gh, H, (int)(nt - 1), 1.0f, a, gh, hprev,
              dh, 0.0f, whh->grad, H);
}

void rnn_backward(mgc_layer *l, const float *x, const float *y, const float *dy, float *dx,
                  int batch, float *ws) {
  rnn_state *s = l->state;
  rnn_bufs b;
  rnn_scratch w;
  train_layout(s, batch, s->cache, &b);
  bwd_scratch(s, batch, ws, &w);
  int H = s->H, T = s->T, dh = s->D * H;
  size_t nt = (size_t)batch * T;
  const float *dH = dy;
  if (s->last) {
    /* Only the final states reach the output; every other step of the top
     * layer gets no gradient from above. */
    memset(w.dB, 0, nt * dh * sizeof(float));
    for (int n = 0; n < batch; n++) {
      const float *g = dy + (size_t)n * dh;
      memcpy(w.dB + ((size_t)n * T + T - 1) * dh, g, (size_t)H * sizeof(float));
      if (s->D == 2) memcpy(w.dB + (size_t)n * T * dh + H, g + H, (size_t)H * sizeof(float));
    }
    dH = w.dB;
  }
  for (int k = s->L - 1; k >= 0; k--) {
    const float *hk = k == s->L - 1 && !s->last ? y : b.h[k];
    float *dxk = k ? (dH == w.dA ? w.dB : w.dA) : dx;
    for (int d = 0; d < s->D; d++)
      run_backward(l, k, d, k ? b.xin[k] : x, k ? dh : s->F, hk, dH, dxk, b.gates[k][d],
                   b.aux[k][d], &w, batch);
    if (k && s->p > 0)
      for (size_t i = 0; i < nt * dh; i++) dxk[i] *= b.mask[k - 1][i];
    dH = dxk;
  }
}

void rnn_reseed(mgc_layer *l, uint64_t seed) {
  rnn_state *s = l->state;
  mgc_rng_seed(&s->rng, seed);
}

void rnn_destroy(mgc_layer *l) {
  rnn_state *s = l->state;
  if (s) free(s->cache);
  free(s);
}

mgc_status rnn_create(const rnn_cell *cell, const mgc_layer_ops *ops, mgc_layer_spec *spec,
                      const mgc_shape *in, mgc_rng *rng, mgc_layer **out) {
  int hidden, layers, bidir, ret, bias;
  double p;
  mgc_status st;
  if ((st = mgc_spec_int(spec, "hidden", 0, 1, 1 << 16, &hidden)) ||
      (st = mgc_spec_int(spec, "layers", 1, 1, RNN_MAX_LAYERS, &layers)) ||
      (st = mgc_spec_bool(spec, "bidirectional", 0, &bidir)) ||
      (st = mgc_spec_choice(spec, "return", "sequence|last", 0, &ret)) ||
      (st = mgc_spec_float(spec, "dropout", 0.0, 0.0, 0.99, &p)) ||
      (st = mgc_spec_bool(spec, "bias", 1, &bias)))
    return st;
  if (hidden == 0) return mgc_error_set(MGC_EINVAL, "'hidden' (number of units) is required");
  if (in->ndim == 3)
    return mgc_error_set(MGC_EINVAL,
                         "%s needs a sequence [T, F], got a map [C, H, W]; add to_sequence "
                         "before it to read the map as a sequence along its last axis",
                         cell->type);
  if (in->ndim != 2)
    return mgc_error_set(MGC_EINVAL, "%s needs a sequence [T, F], got a vector [F]",
                         cell->type);
  /* PyTorch only warns here; a dropout that can never act is a mistake. */
  if (p > 0 && layers == 1)
    return mgc_error_set(MGC_EINVAL,
                         "'dropout' acts between stacked layers and does nothing with "
                         "layers: 1; put a dropout layer after the %s instead",
                         cell->type);
  int D = bidir ? 2 : 1;
  mgc_layer *l;
  if ((st = mgc_layer_alloc(ops, spec, in, layers * D * 4, &l))) return st;
  rnn_state *s = calloc(1, sizeof *s);
  if (!s) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->state = s;
  s->cell = cell;
  s->G = cell->gates;
  s->H = hidden;
  s->L = layers;
  s->D = D;
  s->T = in->d[0];
  s->F = in->d[1];
  s->last = ret == 1;
  s->bias = bias;
  s->p = (float)p;
  l->out = s->last ? mgc_shape_make(1, D * hidden, 0, 0)
                   : mgc_shape_make(2, s->T, D * hidden, 0);
  /* PyTorch's order and init: per layer, per direction, weight_ih, weight_hh,
   * bias_ih, bias_hh, all U(+-1/sqrt(hidden)). */
  float bound = 1.0f / sqrtf((float)hidden);
  int gh = s->G * hidden;
  for (int k = 0; k < layers; k++)
    for (int d = 0; d < D; d++) {
      const char *sfx = d ? "_reverse" : "";
      int in_k = k ? D * hidden : s->F;
      struct {
        const char *what;
        int ndim, shape[2];
      } t[4] = {{"weight_ih", 2, {gh, in_k}},
                {"weight_hh", 2, {gh, hidden}},
                {"bias_ih", 1, {gh, 0}},
                {"bias_hh", 1, {gh, 0}}};
      for (int i = 0; i < (bias ? 4 : 2); i++) {
        char name[48];
        mgc_param *prm;
        snprintf(name, sizeof name, "%s_l%d%s", t[i].what, k, sfx);
        if ((st = mgc_layer_add_param(l, name, 1, t[i].ndim, t[i].shape, &prm))) {
          mgc_layer_free(l);
          return st;
        }
        mgc_param_uniform(prm, rng, bound);
      }
    }
  mgc_rng_seed(&s->rng, mgc_rng_next(rng));
  *out = l;
  return MGC_OK;
}
