/* Dense (torch.nn.Linear): y = x W^T + b over the last dimension, so it
 * applies to vectors [F] and, step by step, to sequences [T, F]. One sgemm
 * covers the whole batch (and every time step). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

typedef struct {
  int in, out, rows; /* rows per sample: 1 for a vector, T for a sequence */
  int bias;
} dense_state;

static void dense_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                          float *ws) {
  dense_state *s = l->state;
  int rows = batch * s->rows;
  const float *w = l->params[0].value;
  if (s->bias) {
    const float *b = l->params[1].value;
    for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * s->out, b, (size_t)s->out * 4);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, s->out, s->in, 1.0f, x, s->in, w,
              s->in, s->bias ? 1.0f : 0.0f, y, s->out);
}

static void dense_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int batch, float *ws) {
  dense_state *s = l->state;
  int rows = batch * s->rows;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->out, s->in, rows, 1.0f, dy, s->out,
              x, s->in, 0.0f, l->params[0].grad, s->in);
  if (s->bias) {
    float *db = l->params[1].grad;
    memset(db, 0, (size_t)s->out * sizeof(float));
    for (int r = 0; r < rows; r++)
      for (int o = 0; o < s->out; o++) db[o] += dy[(size_t)r * s->out + o];
  }
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, s->in, s->out, 1.0f, dy,
                s->out, l->params[0].value, s->in, 0.0f, dx, s->in);
}

static void dense_destroy(mgc_layer *l) { free(l->state); }

static const mgc_layer_ops k_dense = {
    .type = "dense", .forward = dense_forward, .backward = dense_backward,
    .destroy = dense_destroy};

mgc_status mgc_dense_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                            mgc_layer **out) {
  int n_out, bias;
  mgc_status st;
  if ((st = mgc_spec_int(spec, "out", 0, 1, 1 << 24, &n_out)) ||
      (st = mgc_spec_bool(spec, "bias", 1, &bias)))
    return st;
  if (n_out == 0) return mgc_error_set(MGC_EINVAL, "'out' (number of units) is required");
  if (in->ndim > 2)
    return mgc_error_set(MGC_EINVAL,
                         "dense needs a vector [F] or a sequence [T, F]; add flatten, "
                         "to_sequence or a global pool before it");
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_dense, spec, in, 2, &l))) return st;
  dense_state *s = calloc(1, sizeof *s);
  if (!s) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->state = s;
  s->in = in->d[in->ndim - 1];
  s->rows = in->ndim == 2 ? in->d[0] : 1;
  s->out = n_out;
  s->bias = bias;
  l->out = *in;
  l->out.d[in->ndim - 1] = n_out;
  /* PyTorch's default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)). */
  float bound = 1.0f / sqrtf((float)s->in);
  mgc_param *p;
  if ((st = mgc_layer_add_param(l, "weight", 1, 2, (int[]){n_out, s->in}, &p))) goto fail;
  mgc_param_uniform(p, rng, bound);
  if (bias) {
    if ((st = mgc_layer_add_param(l, "bias", 1, 1, (int[]){n_out}, &p))) goto fail;
    mgc_param_uniform(p, rng, bound);
  }
  *out = l;
  return MGC_OK;
fail:
  mgc_layer_free(l);
  return st;
}
