/* Shape changes between convolutional and recurrent/dense parts.
 *
 * to_sequence reads a conv map as a time sequence, time being the last
 * axis: [C, H, W] -> [W, C*H] (feature c*H + h) and [C, L] -> [L, C]. In
 * PyTorch: x.permute(0, 3, 1, 2).reshape(N, W, C*H).
 * flatten keeps the memory order: [C, H, W] -> [C*H*W]. */
#include <string.h>

#include "layers.h"

static void seq_dims(const mgc_layer *l, int *ch, int *t) {
  /* [C, H, W]: ch = C*H rows of length W; [C, L]: C rows of length L. */
  *t = l->in.d[l->in.ndim - 1];
  *ch = (int)(mgc_shape_size(&l->in) / (size_t)*t);
}

static void toseq_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                          float *ws) {
  int ch, t;
  seq_dims(l, &ch, &t);
  size_t n = (size_t)ch * t;
  for (int b = 0; b < batch; b++) {
    const float *xs = x + b * n;
    float *ys = y + b * n;
    for (int r = 0; r < ch; r++)
      for (int k = 0; k < t; k++) ys[(size_t)k * ch + r] = xs[(size_t)r * t + k];
  }
}

static void toseq_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int batch, float *ws) {
  if (!dx) return;
  int ch, t;
  seq_dims(l, &ch, &t);
  size_t n = (size_t)ch * t;
  for (int b = 0; b < batch; b++) {
    const float *gs = dy + b * n;
    float *ds = dx + b * n;
    for (int r = 0; r < ch; r++)
      for (int k = 0; k < t; k++) ds[(size_t)r * t + k] = gs[(size_t)k * ch + r];
  }
}

static void flatten_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                            float *ws) {
  memcpy(y, x, (size_t)batch * mgc_shape_size(&l->in) * sizeof(float));
}

static void flatten_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int batch, float *ws) {
  if (dx) memcpy(dx, dy, (size_t)batch * mgc_shape_size(&l->in) * sizeof(float));
}

static const mgc_layer_ops k_toseq = {
    .type = "to_sequence", .forward = toseq_forward, .backward = toseq_backward};
static const mgc_layer_ops k_flatten = {
    .type = "flatten", .forward = flatten_forward, .backward = flatten_backward};

mgc_status mgc_reshape_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                              mgc_layer **out) {
  int toseq = strcmp(spec->type, "to_sequence") == 0;
  if (toseq && in->ndim < 2)
    return mgc_error_set(MGC_EINVAL, "to_sequence needs a map [C, H, W] or [C, L]");
  mgc_status st = mgc_layer_alloc(toseq ? &k_toseq : &k_flatten, spec, in, 0, out);
  if (st) return st;
  size_t n = mgc_shape_size(in);
  if (toseq) {
    int t = in->d[in->ndim - 1];
    (*out)->out = mgc_shape_make(2, t, (int)(n / (size_t)t), 0);
  } else {
    (*out)->out = mgc_shape_make(1, (int)n, 0, 0);
  }
  return MGC_OK;
}
