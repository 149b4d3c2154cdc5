/* Softmax over the last dimension. As the last layer of a classifier it is
 * skipped in training, where the fused softmax cross-entropy (loss.c) takes
 * the logits; its own backward exists for completeness and is checked. */
#include <math.h>
#include <string.h>

#include "layers.h"

static void softmax_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                            float *ws) {
  int c = l->in.d[l->in.ndim - 1];
  size_t rows = (size_t)batch * mgc_shape_size(&l->in) / (size_t)c;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * c;
    float *yr = y + r * c;
    float m = xr[0];
    for (int k = 1; k < c; k++) m = xr[k] > m ? xr[k] : m;
    double s = 0;
    for (int k = 0; k < c; k++) s += (yr[k] = expf(xr[k] - m));
    float inv = (float)(1.0 / s);
    for (int k = 0; k < c; k++) yr[k] *= inv;
  }
}

static void softmax_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int batch, float *ws) {
  if (!dx) return;
  int c = l->in.d[l->in.ndim - 1];
  size_t rows = (size_t)batch * mgc_shape_size(&l->in) / (size_t)c;
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * c, *g = dy + r * c;
    double dot = 0;
    for (int k = 0; k < c; k++) dot += (double)g[k] * yr[k];
    for (int k = 0; k < c; k++) dx[r * c + k] = yr[k] * (g[k] - (float)dot);
  }
}

static const mgc_layer_ops k_softmax = {
    .type = "softmax", .forward = softmax_forward, .backward = softmax_backward};

mgc_status mgc_softmax_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                              mgc_layer **out) {
  return mgc_layer_alloc(&k_softmax, spec, in, 0, out);
}
