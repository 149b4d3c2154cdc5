/* Temporal pooling of a sequence [T, F] into a vector [F]: the mean or the
 * max over time (Chen, "Application of Deep Learning in Music Genre Classification",
 * compares it with taking the last RNN step). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

typedef struct {
  int max;
  int *arg; /* argmax time step per (sample, feature), training only */
  size_t cap;
} tpool_state;

static mgc_status tpool_plan(mgc_layer *l, int batch, int training) {
  tpool_state *s = l->state;
  size_t n = s->max ? (size_t)batch * (size_t)l->in.d[1] : 0;
  if (n <= s->cap) return MGC_OK;
  int *a = realloc(s->arg, n * sizeof(int));
  if (!a) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->arg = a;
  s->cap = n;
  return MGC_OK;
}

static void tpool_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                          float *ws) {
  tpool_state *s = l->state;
  int t = l->in.d[0], f = l->in.d[1];
  for (int b = 0; b < batch; b++) {
    const float *xs = x + (size_t)b * t * f;
    float *ys = y + (size_t)b * f;
    if (s->max) {
      int *arg = s->arg ? s->arg + (size_t)b * f : NULL;
      for (int j = 0; j < f; j++) {
        float m = -FLT_MAX;
        int am = 0;
        for (int k = 0; k < t; k++)
          if (xs[(size_t)k * f + j] > m) m = xs[(size_t)k * f + j], am = k;
        ys[j] = m;
        if (arg) arg[j] = am;
      }
    } else {
      memset(ys, 0, (size_t)f * sizeof(float));
      for (int k = 0; k < t; k++)
        for (int j = 0; j < f; j++) ys[j] += xs[(size_t)k * f + j];
      for (int j = 0; j < f; j++) ys[j] /= (float)t;
    }
  }
}

static void tpool_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int batch, float *ws) {
  tpool_state *s = l->state;
  if (!dx) return;
  int t = l->in.d[0], f = l->in.d[1];
  for (int b = 0; b < batch; b++) {
    float *ds = dx + (size_t)b * t * f;
    const float *g = dy + (size_t)b * f;
    if (s->max) {
      memset(ds, 0, (size_t)t * f * sizeof(float));
      for (int j = 0; j < f; j++) ds[(size_t)s->arg[(size_t)b * f + j] * f + j] = g[j];
    } else {
      for (int k = 0; k < t; k++)
        for (int j = 0; j < f; j++) ds[(size_t)k * f + j] = g[j] / (float)t;
    }
  }
}

static void tpool_destroy(mgc_layer *l) {
  tpool_state *s = l->state;
  if (s) free(s->arg);
  free(s);
}

static const mgc_layer_ops k_tpool = {.type = "temporal_pool",
                                      .plan = tpool_plan,
                                      .forward = tpool_forward,
                                      .backward = tpool_backward,
                                      .destroy = tpool_destroy};

mgc_status mgc_temporal_pool_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                                    mgc_layer **out) {
  int mode;
  mgc_status st = mgc_spec_choice(spec, "mode", "mean|max", 0, &mode);
  if (st) return st;
  if (in->ndim != 2)
    return mgc_error_set(MGC_EINVAL, "temporal_pool needs a sequence [T, F]");
  tpool_state *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->max = mode == 1;
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_tpool, spec, in, 0, &l))) {
    free(s);
    return st;
  }
  l->state = s;
  l->out = mgc_shape_make(1, in->d[1], 0, 0);
  *out = l;
  return MGC_OK;
}
