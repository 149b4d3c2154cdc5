/* Inverted dropout: in training each element is kept with probability 1-p
 * and scaled by 1/(1-p), so inference is the identity. The mask is kept
 * for backward; its random stream is the layer's own, seeded by the net. */
#include <stdlib.h>
#include <string.h>

#include "layers.h"

typedef struct {
  float p;
  mgc_rng rng;
  float *mask; /* planned batch * size scale factors */
  size_t cap;
} dropout_state;

static mgc_status dropout_plan(mgc_layer *l, int batch, int training) {
  dropout_state *s = l->state;
  size_t n = training ? (size_t)batch * mgc_shape_size(&l->in) : 0;
  if (n <= s->cap) return MGC_OK;
  float *m = realloc(s->mask, n * sizeof(float));
  if (!m) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->mask = m;
  s->cap = n;
  return MGC_OK;
}

static void dropout_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                            float *ws) {
  dropout_state *s = l->state;
  size_t n = (size_t)batch * mgc_shape_size(&l->in);
  if (!training || s->p == 0.0f) {
    memcpy(y, x, n * sizeof(float));
    if (training)
      for (size_t i = 0; i < n; i++) s->mask[i] = 1.0f;
    return;
  }
  float keep = 1.0f / (1.0f - s->p);
  /* Two 24-bit uniforms from each 64-bit draw: the generator, not the
   * multiply, is the cost of this layer. */
  const uint32_t thresh = (uint32_t)(s->p * 16777216.0f);
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    uint64_t r = mgc_rng_next(&s->rng);
    s->mask[i] = (uint32_t)(r >> 40) >= thresh ? keep : 0.0f;
    s->mask[i + 1] = (uint32_t)((r >> 8) & 0xffffff) >= thresh ? keep : 0.0f;
  }
  if (i < n) s->mask[i] = (uint32_t)(mgc_rng_next(&s->rng) >> 40) >= thresh ? keep : 0.0f;
  for (i = 0; i < n; i++) y[i] = x[i] * s->mask[i];
}

static void dropout_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int batch, float *ws) {
  dropout_state *s = l->state;
  if (!dx) return;
  size_t n = (size_t)batch * mgc_shape_size(&l->in);
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * s->mask[i];
}

static void dropout_reseed(mgc_layer *l, uint64_t seed) {
  dropout_state *s = l->state;
  mgc_rng_seed(&s->rng, seed);
}

static void dropout_destroy(mgc_layer *l) {
  dropout_state *s = l->state;
  if (s) free(s->mask);
  free(s);
}

static const mgc_layer_ops k_dropout = {.type = "dropout",
                                        .plan = dropout_plan,
                                        .forward = dropout_forward,
                                        .backward = dropout_backward,
                                        .reseed = dropout_reseed,
                                        .destroy = dropout_destroy};

mgc_status mgc_dropout_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                              mgc_layer **out) {
  double p;
  mgc_status st = mgc_spec_float(spec, "p", 0.5, 0.0, 0.99, &p);
  if (st) return st;
  dropout_state *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->p = (float)p;
  mgc_rng_seed(&s->rng, mgc_rng_next(rng));
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_dropout, spec, in, 0, &l))) {
    free(s);
    return st;
  }
  l->state = s;
  *out = l;
  return MGC_OK;
}
