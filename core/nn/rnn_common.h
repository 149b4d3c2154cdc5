/* Internal: the driver shared by the recurrent layers (gru.c, lstm.c).
 *
 * A recurrent layer is a stack of `layers` cells, each run forward in time
 * and, when bidirectional, backward in time too, exactly as torch.nn.GRU /
 * torch.nn.LSTM with batch_first=True. The driver owns everything that does
 * not depend on the cell: options, parameters (PyTorch names, layouts and
 * order), the input projection of all time steps in one sgemm, the
 * recurrent sgemm of each step, inter-layer dropout, the "last" gather,
 * caches and workspace, and the weight gradients (one sgemm per tensor over
 * all steps). A cell only supplies the element-wise gate math of one time
 * step, forward and backward, through rnn_cell.
 *
 * Layouts (N samples, T steps, G gate blocks of H units, D directions):
 * - gates [N*T, G*H], row b*T + t: on entry of a forward step the input
 *   projection W_ih x + b_ih (+ the foldable part of b_hh), on return the
 *   gate activations, kept for backward;
 * - aux [N*T, H]: one more per-unit value per step (GRU: W_hn h + b_hn,
 *   LSTM: the cell state c);
 * - h [N*T, D*H]: the layer output, direction d in columns [d*H, d*H+H),
 *   which is also the recurrent state read by the next step. */
#ifndef MGC_NN_RNN_COMMON_H
#define MGC_NN_RNN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "layers.h"

#define RNN_MAX_LAYERS 16

/* One forward time step for the n rows of a batch. Row b of each argument
 * is at base + b * its _ld. hp, hprev and aux_prev are NULL at the first
 * step of a direction (zero initial state). */
typedef struct rnn_fwd_step {
  int n, h;
  const float *hp;       /* [n, G*H] h_prev W_hh^T, dense rows, no bias */
  const float *bhh;      /* b_hh [G*H] (zeros without bias): the cell adds
                          * the blocks that were not folded into gates */
  float *gates;          /* in: pre-activations minus the hp part; out: activations */
  size_t g_ld;
  float *aux;
  const float *aux_prev; /* aux of the previous step (LSTM c_prev) */
  size_t aux_ld;
  const float *hprev;
  float *hout;
  size_t h_ld;
} rnn_fwd_step;

/* One backward time step. dh_out is dL/dh_t from the layer above (or the
 * loss); carry is dL/dh_t through later steps on entry and must hold the
 * part of dL/dh_{t-1} that does not go through W_hh on return (the driver
 * then adds dhp W_hh). carry_c is the cell's own state gradient (LSTM). */
typedef struct rnn_bwd_step {
  int n, h;
  const float *dh_out;
  size_t dh_ld;
  float *carry;          /* [n, H] dense */
  float *carry_c;        /* [n, H] dense, zero on entry of the last step */
  const float *gates, *aux, *aux_prev; /* as cached by the forward step */
  size_t g_ld, aux_ld;
  const float *hprev;    /* NULL at the first step */
  size_t h_ld;
  float *dxp;            /* out: dL/d(input projection), rows like gates */
  float *dhp;            /* out: dL/d(h_prev W_hh^T + b_hh); may equal dxp */
  size_t d_ld;
} rnn_bwd_step;

typedef struct rnn_cell {
  const char *type;
  int gates;         /* G */
  int fold;          /* leading gate blocks whose b_hh adds to b_ih (GRU 2: r, z) */
  int separate_dhp;  /* dL/dhp differs from dL/dxp (GRU: n block is scaled by r) */
  int carry_direct;  /* the step writes a direct dh_{t-1} term into carry */
  void (*forward)(const rnn_fwd_step *s);
  void (*backward)(const rnn_bwd_step *s);
} rnn_cell;

/* Parse the options, check the input, create and initialise parameters.
 * `ops` must use the rnn_* functions below. */
mgc_status rnn_create(const rnn_cell *cell, const mgc_layer_ops *ops, mgc_layer_spec *spec,
                      const mgc_shape *in, mgc_rng *rng, mgc_layer **out);

size_t rnn_workspace(const mgc_layer *l, int batch, int training);
mgc_status rnn_plan(mgc_layer *l, int batch, int training);
void rnn_forward(mgc_layer *l, const float *x, float *y, int batch, int training, float *ws);
void rnn_backward(mgc_layer *l, const float *x, const float *y, const float *dy, float *dx,
                  int batch, float *ws);
void rnn_reseed(mgc_layer *l, uint64_t seed);
void rnn_destroy(mgc_layer *l);

/* ---- element-wise math for the cells, four units at a time -------------
 * GCC at -O2 (the RelWithDebInfo default) vectorises no loop whose trip
 * count it does not know, and glibc's expf/tanhf are scalar calls (tanhf,
 * through expm1f, was a quarter of a GRU training step). So the cells
 * work on 4-float vectors (GCC/clang vector extensions; plain SSE2 on
 * x86-64): a row of H units is H/4 full blocks and a partial one.
 *
 * rnn_exp is Cephes' single-precision expf made branch-free (every lane
 * takes the same path): n = round(x log2 e), a degree-6 polynomial on the
 * remainder, 2^n through the exponent bits. rnn_tanh is Cephes' tanhf: its
 * odd polynomial below |x| = 0.625, 1 - 2/(exp(2|x|) + 1) above. Measured
 * over [-100, 100] against double: sigmoid within 1.5e-7 and tanh within
 * 1.3e-7 relative; NaN propagates. */
typedef float rnn_v4 __attribute__((vector_size(16)));
typedef int32_t rnn_v4i __attribute__((vector_size(16)));

/* Forced inlining: the block functions must see m == 4 as a constant for
 * rnn_ld/rnn_st to become single vector moves instead of memcpy calls
 * (left to itself GCC kept them out of line, 12 % of the time in memmove). */
#define RNN_INLINE static inline __attribute__((always_inline))

/* m floats from p (m < 4: the tail of a row, the rest zero). */
RNN_INLINE rnn_v4 rnn_ld(const float *p, int m) {
  rnn_v4 v = {0, 0, 0, 0};
  memcpy(&v, p, (size_t)m * sizeof(float));
  return v;
}
RNN_INLINE void rnn_st(float *p, rnn_v4 v, int m) {
  memcpy(p, &v, (size_t)m * sizeof(float));
}
RNN_INLINE rnn_v4 rnn_select(rnn_v4i mask, rnn_v4 a, rnn_v4 b) {
  return (rnn_v4)((mask & (rnn_v4i)a) | (~mask & (rnn_v4i)b));
}

RNN_INLINE rnn_v4 rnn_exp(rnn_v4 x) {
  /* exp(+-87) stays finite and normal; comparisons with NaN are false, so
   * NaN passes through. */
  const rnn_v4 hi = {87.0f, 87.0f, 87.0f, 87.0f};
  x = rnn_select(x > hi, hi, x);
  x = rnn_select(x < -hi, -hi, x);
  /* round to nearest by adding and removing 1.5 * 2^23: a vectorisable rint */
  rnn_v4 k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  /* ln 2 in two parts: k * 0.693359375 is exact for |k| <= 126 */
  rnn_v4 r = x - k * 0.693359375f + k * 2.12194440e-4f;
  rnn_v4 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  rnn_v4i e = (__builtin_convertvector(k, rnn_v4i) + 127) << 23;
  return p * (rnn_v4)e;
}

RNN_INLINE rnn_v4 rnn_sigmoid(rnn_v4 x) { return 1.0f / (1.0f + rnn_exp(-x)); }

RNN_INLINE rnn_v4 rnn_tanh(rnn_v4 x) {
  const rnn_v4i sign = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
  const rnn_v4 knee = {0.625f, 0.625f, 0.625f, 0.625f};
  rnn_v4 a = (rnn_v4)((rnn_v4i)x & ~sign);
  rnn_v4 big = 1.0f - 2.0f / (rnn_exp(2.0f * a) + 1.0f);
  rnn_v4 z = x * x;
  rnn_v4 small = ((((z * -5.70498872745e-3f + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                   1.33314422036e-1f) * z - 3.33332819422e-1f) * z * a + a;
  rnn_v4 t = rnn_select(a < knee, small, big);
  return (rnn_v4)((rnn_v4i)t | ((rnn_v4i)x & sign));
}

#endif
