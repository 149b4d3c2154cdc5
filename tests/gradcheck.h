/* Central-difference gradient checks for layers and whole nets.
 *
 * The loss is L = sum(r * y) with a fixed random r, so dL/dy = r. Analytic
 * gradients (backward) of the input and of every trainable tensor are
 * compared with (L(v + eps) - L(v - eps)) / 2 eps on a sample of entries,
 * the forward running in training mode with the dropout stream reseeded
 * before every call so each evaluation sees the same mask.
 *
 * A tensor passes when ||a - n|| <= tol * max(||a||, ||n||) AND both norms
 * exceed a floor: an all-zero analytic gradient, or a numeric one that is
 * zero because the input does not reach the output, fails the check. */
#ifndef MGC_GRADCHECK_H
#define MGC_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/model/arch.h"
#include "mgc/nn/layer.h"
#include "mgc/model/net.h"
#include "mgc/nn/rng.h"

#define GC_FLOOR 1e-4
#define GC_SAMPLES 48

typedef struct gc_opts {
  int batch;
  double tol;   /* relative tolerance on the sampled gradient vector */
  double eps;   /* finite-difference step */
  double scale; /* inputs ~ N(0, scale^2) */
  uint64_t seed;
  int zero_analytic; /* self-test: replace analytic gradients by zeros */
  int skip_input;    /* do not check dL/dx (e.g. input not differentiable) */
} gc_opts;

static inline gc_opts gc_defaults(void) {
  gc_opts o = {2, 1e-2, 1e-3, 1.0, 1234, 0, 0};
  return o;
}

/* The thing under test: a whole net (logits) or its layer 0 alone. */
typedef struct gc_model {
  mgc_net *net;
  mgc_layer *layer; /* when set, check this layer alone */
  float *y, *ws, *dx;
  size_t n_in, n_out;
} gc_model;

static inline const float *gc_forward(gc_model *m, const float *x, int batch) {
  if (m->layer) {
    if (m->layer->ops->reseed) m->layer->ops->reseed(m->layer, 99);
    m->layer->ops->forward(m->layer, x, m->y, batch, 1, m->ws);
    return m->y;
  }
  mgc_net_reseed(m->net, 99);
  return mgc_net_forward(m->net, x, batch, 1);
}

static inline double gc_loss(gc_model *m, const float *x, const float *r, int batch) {
  const float *y = gc_forward(m, x, batch);
  if (!y) fail_msg("forward: %s", mgc_error_message());
  double s = 0;
  for (size_t i = 0; i < m->n_out * (size_t)batch; i++) s += (double)r[i] * y[i];
  return s;
}

/* Compare analytic a with numeric n on idx[0..k); returns 1 on pass. */
static inline int gc_compare(const char *what, const float *a, const double *n, int k,
                             double tol) {
  double da = 0, na = 0, nn = 0;
  for (int i = 0; i < k; i++) {
    da += (a[i] - n[i]) * (a[i] - n[i]);
    na += (double)a[i] * a[i];
    nn += n[i] * n[i];
  }
  da = sqrt(da), na = sqrt(na), nn = sqrt(nn);
  double rel = da / fmax(fmax(na, nn), 1e-30);
  int ok = rel <= tol && na > GC_FLOOR && nn > GC_FLOOR;
  if (!ok || getenv("GC_VERBOSE"))
    fprintf(stderr, "  %-28s rel %.2e  |analytic| %.3e  |numeric| %.3e  %s\n", what, rel, na,
            nn, ok ? "ok" : "FAIL");
  return ok;
}

/* Check one tensor v (size n) whose analytic gradient is g. */
static inline int gc_tensor(gc_model *m, const char *what, float *v, const float *g, size_t n,
                            float *x, const float *r, const gc_opts *o, mgc_rng *rng) {
  int k = n < GC_SAMPLES ? (int)n : GC_SAMPLES;
  size_t idx[GC_SAMPLES];
  float a[GC_SAMPLES];
  double num[GC_SAMPLES];
  for (int i = 0; i < k; i++) {
    idx[i] = n <= GC_SAMPLES ? (size_t)i : (size_t)mgc_rng_below(rng, n);
    a[i] = o->zero_analytic ? 0.0f : g[idx[i]];
  }
  for (int i = 0; i < k; i++) {
    float keep = v[idx[i]];
    v[idx[i]] = keep + (float)o->eps;
    double lp = gc_loss(m, x, r, o->batch);
    v[idx[i]] = keep - (float)o->eps;
    double lm = gc_loss(m, x, r, o->batch);
    v[idx[i]] = keep;
    num[i] = (lp - lm) / (2 * o->eps);
  }
  return gc_compare(what, a, num, k, o->tol);
}

/* Run the whole check; returns the number of tensors that failed (the
 * input counts as one tensor). */
static inline int gc_run(gc_model *m, mgc_param **params, int n_params, const gc_opts *o) {
  mgc_rng rng;
  mgc_rng_seed(&rng, o->seed);
  size_t nx = m->n_in * (size_t)o->batch, ny = m->n_out * (size_t)o->batch;
  float *x = malloc(nx * sizeof(float)), *r = malloc(ny * sizeof(float));
  float *dx = malloc(nx * sizeof(float));
  assert_non_null(x);
  assert_non_null(r);
  assert_non_null(dx);
  for (size_t i = 0; i < nx; i++) x[i] = (float)(mgc_rng_normal(&rng) * o->scale);
  for (size_t i = 0; i < ny; i++) r[i] = (float)mgc_rng_normal(&rng);
  /* analytic */
  gc_forward(m, x, o->batch);
  if (m->layer) {
    m->layer->ops->backward(m->layer, x, m->y, r, dx, o->batch, m->ws);
  } else {
    assert_int_equal(mgc_net_backward(m->net, r, dx), MGC_OK);
  }
  float **g = calloc((size_t)n_params + 1, sizeof *g);
  assert_non_null(g);
  for (int i = 0; i < n_params; i++) {
    if (!params[i]->grad) continue;
    g[i] = malloc(params[i]->size * sizeof(float));
    assert_non_null(g[i]);
    memcpy(g[i], params[i]->grad, params[i]->size * sizeof(float));
  }
  int failed = 0;
  if (!o->skip_input) failed += !gc_tensor(m, "input", x, dx, nx, x, r, o, &rng);
  for (int i = 0; i < n_params; i++) {
    if (!g[i]) continue;
    failed += !gc_tensor(m, params[i]->name, params[i]->value, g[i], params[i]->size, x, r, o,
                         &rng);
    free(g[i]);
  }
  free(g);
  free(x);
  free(r);
  free(dx);
  return failed;
}

static inline mgc_arch *gc_arch(const char *yaml) {
  mgc_arch *a = NULL;
  if (mgc_arch_parse(yaml, strlen(yaml), "<test>", &a)) fail_msg("%s", mgc_error_message());
  return a;
}

/* Check a whole net built from YAML (gradients of its logits). */
static inline int gc_check_net(const char *yaml, const gc_opts *o) {
  mgc_arch *a = gc_arch(yaml);
  gc_model m = {0};
  if (mgc_net_new(a, 0, o->seed, &m.net)) fail_msg("%s", mgc_error_message());
  if (mgc_net_plan(m.net, o->batch, 1)) fail_msg("%s", mgc_error_message());
  mgc_shape si = mgc_net_input_shape(m.net);
  m.n_in = mgc_shape_size(&si);
  const mgc_layer *last = mgc_net_layer(m.net, mgc_net_n_layers(m.net) - 1);
  mgc_shape so = last->out;
  m.n_out = mgc_shape_size(&so);
  int n = mgc_net_n_params(m.net);
  mgc_param **ps = calloc((size_t)n + 1, sizeof *ps);
  for (int i = 0; i < n; i++) ps[i] = mgc_net_param(m.net, i);
  int failed = gc_run(&m, ps, n, o);
  free(ps);
  mgc_net_free(m.net);
  mgc_arch_free(a);
  return failed;
}

/* Check the first layer of the YAML alone (any layer, softmax included). */
static inline int gc_check_layer(const char *yaml, const gc_opts *o) {
  mgc_arch *a = gc_arch(yaml);
  gc_model m = {0};
  mgc_rng rng;
  mgc_rng_seed(&rng, o->seed);
  a->layers[0].n_classes = a->n_classes;
  if (mgc_layer_new(&a->layers[0], &a->input, &rng, &m.layer))
    fail_msg("%s", mgc_error_message());
  mgc_layer *l = m.layer;
  if (l->ops->plan && l->ops->plan(l, o->batch, 1)) fail_msg("%s", mgc_error_message());
  m.n_in = mgc_shape_size(&l->in);
  m.n_out = mgc_shape_size(&l->out);
  size_t w = l->ops->workspace ? l->ops->workspace(l, o->batch, 1) : 0;
  m.ws = malloc((w + 1) * sizeof(float));
  m.y = malloc(m.n_out * (size_t)o->batch * sizeof(float));
  mgc_param **ps = calloc((size_t)l->n_params + 1, sizeof *ps);
  for (int i = 0; i < l->n_params; i++) ps[i] = &l->params[i];
  int failed = gc_run(&m, ps, l->n_params, o);
  free(ps);
  free(m.ws);
  free(m.y);
  mgc_layer_free(l);
  mgc_arch_free(a);
  return failed;
}

/* Fail the current test unless every tensor passes. */
static inline void check_layer(const char *yaml, gc_opts o) {
  int failed = gc_check_layer(yaml, &o);
  if (failed) fail_msg("%d tensor(s) failed the gradient check for:\n%s", failed, yaml);
}

static inline void check_net(const char *yaml, gc_opts o) {
  int failed = gc_check_net(yaml, &o);
  if (failed) fail_msg("%d tensor(s) failed the gradient check for:\n%s", failed, yaml);
}

#endif
