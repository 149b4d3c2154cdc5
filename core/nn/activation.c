/* Element-wise activations: relu, leaky_relu (slope), elu (alpha), tanh,
 * sigmoid. Backward uses the output where the derivative allows it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "mgc/nn/parallel.h"

enum { RELU, LEAKY, ELU, TANH, SIGMOID };

typedef struct {
  int kind;
  float a; /* leaky slope or elu alpha */
} act_state;

/* The pool (mgc/nn/parallel.h) splits the elements into blocks of this many;
 * each element's value does not depend on the split. */
#define ACT_BLOCK 16384

typedef struct {
  const act_state *s;
  const float *x, *y, *dy;
  float *out;
  size_t n;
} act_job;

/* Elements [begin, end) of the job's blocks: first element and count. */
static size_t block_range(const act_job *j, int begin, int end, size_t *n) {
  size_t i0 = (size_t)begin * ACT_BLOCK, i1 = (size_t)end * ACT_BLOCK;
  *n = (i1 < j->n ? i1 : j->n) - i0;
  return i0;
}

static int n_blocks(size_t n) { return (int)((n + ACT_BLOCK - 1) / ACT_BLOCK); }

/* The loops of relu and leaky relu run in blocks of 8 in functions with
 * restrict arguments, a form -O2 vectorises (branch-free); otherwise gcc
 * leaves them scalar with a branch per element, which mispredicts on every
 * other sign: relu forward was 6x slower than this on a large map. */
static void relu_run(const float *restrict x, float *restrict y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) y[i + k] = x[i + k] > 0 ? x[i + k] : 0.0f;
  for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

/* y = v * (x > 0 ? 1 : a), v = x forward (the values of x > 0 ? x : a*x)
 * and dy backward; the factor is picked by a mask on its bits, which gcc
 * vectorises where it keeps a float select as a branch. */
static void leaky_run(const float *x, const float *v, float *restrict y, float a, size_t n) {
  uint32_t one, slope;
  const float f1 = 1.0f;
  memcpy(&one, &f1, sizeof one);
  memcpy(&slope, &a, sizeof slope);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) {
      uint32_t m = -(uint32_t)(x[i + k] > 0), fb = (one & m) | (slope & ~m);
      float f;
      memcpy(&f, &fb, sizeof f);
      y[i + k] = v[i + k] * f;
    }
  for (; i < n; i++) y[i] = v[i] * (x[i] > 0 ? 1.0f : a);
}

/* dx = dy where x > 0, else +0: the bits of dy masked (a float select
 * would turn -0 and NaN gradients into other values than a mask). */
static void relu_grad_run(const float *restrict x, const float *restrict dy,
                          float *restrict dx, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) {
      uint32_t b;
      memcpy(&b, &dy[i + k], sizeof b);
      b &= -(uint32_t)(x[i + k] > 0);
      memcpy(&dx[i + k], &b, sizeof b);
    }
  for (; i < n; i++) {
    uint32_t b;
    memcpy(&b, &dy[i], sizeof b);
    b &= -(uint32_t)(x[i] > 0);
    memcpy(&dx[i], &b, sizeof b);
  }
}

static void forward_blocks(void *ctx, int begin, int end, int slot) {
  const act_job *j = ctx;
  size_t n, i0 = block_range(j, begin, end, &n);
  const float *restrict x = j->x + i0;
  float *restrict y = j->out + i0;
  float a = j->s->a;
  switch (j->s->kind) {
  case RELU:
    relu_run(x, y, n);
    break;
  case LEAKY:
    leaky_run(x, x, y, a, n);
    break;
  case ELU:
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : a * expm1f(x[i]);
    break;
  case TANH:
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
    break;
  default:
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
  }
}

static void act_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                        float *ws) {
  act_job j = {.s = l->state, .x = x, .out = y, .n = (size_t)batch * mgc_shape_size(&l->in)};
  mgc_parallel_for(n_blocks(j.n), mgc_parallel_grain(ACT_BLOCK), MGC_PARALLEL_MAX_THREADS,
                   forward_blocks, &j);
}

/* Written without data-dependent branches (a select on the sign), so the
 * compiler vectorises them: a branch here mispredicts half the time on
 * ReLU's random signs and made relu backward 8x slower than forward. */
static void backward_blocks(void *ctx, int begin, int end, int slot) {
  const act_job *j = ctx;
  size_t n, i0 = block_range(j, begin, end, &n);
  const float *restrict x = j->x + i0, *restrict y = j->y + i0, *restrict dy = j->dy + i0;
  float *restrict dx = j->out + i0;
  float a = j->s->a;
  switch (j->s->kind) {
  case RELU:
    relu_grad_run(x, dy, dx, n);
    break;
  case LEAKY:
    leaky_run(x, dy, dx, a, n);
    break;
  case ELU:
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + a);
    break;
  case TANH:
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    break;
  default:
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
  }
}

static void act_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                         float *dx, int batch, float *ws) {
  if (!dx) return;
  act_job j = {.s = l->state, .x = x, .y = y, .dy = dy, .out = dx,
               .n = (size_t)batch * mgc_shape_size(&l->in)};
  mgc_parallel_for(n_blocks(j.n), mgc_parallel_grain(ACT_BLOCK), MGC_PARALLEL_MAX_THREADS,
                   backward_blocks, &j);
}

static void act_destroy(mgc_layer *l) { free(l->state); }

static const mgc_layer_ops k_ops[] = {
    {.type = "relu", .forward = act_forward, .backward = act_backward, .destroy = act_destroy},
    {.type = "leaky_relu", .forward = act_forward, .backward = act_backward,
     .destroy = act_destroy},
    {.type = "elu", .forward = act_forward, .backward = act_backward, .destroy = act_destroy},
    {.type = "tanh", .forward = act_forward, .backward = act_backward, .destroy = act_destroy},
    {.type = "sigmoid", .forward = act_forward, .backward = act_backward,
     .destroy = act_destroy},
};

mgc_status mgc_activation_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                                 mgc_layer **out) {
  int kind = -1;
  for (int k = 0; k < 5; k++)
    if (strcmp(spec->type, k_ops[k].type) == 0) kind = k;
  if (kind < 0) return mgc_error_set(MGC_EINVAL, "not an activation: %s", spec->type);
  double a = 0;
  mgc_status st = MGC_OK;
  if (kind == LEAKY) st = mgc_spec_float(spec, "slope", 0.01, 0.0, 1.0, &a);
  if (kind == ELU) st = mgc_spec_float(spec, "alpha", 1.0, 0.0, 100.0, &a);
  if (st) return st;
  act_state *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->kind = kind;
  s->a = (float)a;
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_ops[kind], spec, in, 0, &l))) {
    free(s);
    return st;
  }
  l->state = s;
  *out = l;
  return MGC_OK;
}
