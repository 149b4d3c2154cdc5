/* Inverted dropout: in training each element is kept with probability 1-p
 * and scaled by 1/(1-p), so inference is the identity. The mask is kept
 * for backward; its random stream is the layer's own, seeded by the net. */
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "mgc/nn/parallel.h"

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

/* The element passes are split into blocks by the pool (mgc/nn/parallel.h);
 * the mask itself is drawn on the caller, in order, so that its random
 * stream is the same for any number of threads. */
#define DROP_BLOCK 16384

typedef struct {
  const float *a, *mask;
  float *out;
  size_t n;
} drop_job;

static void mul_blocks(void *ctx, int begin, int end, int slot) {
  const drop_job *j = ctx;
  size_t i0 = (size_t)begin * DROP_BLOCK, i1 = (size_t)end * DROP_BLOCK;
  if (i1 > j->n) i1 = j->n;
  const float *restrict a = j->a, *restrict m = j->mask;
  float *restrict o = j->out;
  for (size_t i = i0; i < i1; i++) o[i] = a[i] * m[i];
}

/* out = a * mask, element-wise. */
static void mul_mask(const float *a, const float *mask, float *out, size_t n) {
  drop_job j = {.a = a, .mask = mask, .out = out, .n = n};
  mgc_parallel_for((int)((n + DROP_BLOCK - 1) / DROP_BLOCK), mgc_parallel_grain(DROP_BLOCK),
                   MGC_PARALLEL_MAX_THREADS, mul_blocks, &j);
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
  mul_mask(x, s->mask, y, n);
}

static void dropout_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int batch, float *ws) {
  dropout_state *s = l->state;
  if (!dx) return;
  size_t n = (size_t)batch * mgc_shape_size(&l->in);
  mul_mask(dy, s->mask, dx, n);
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
