/* Batch normalisation over channel dimension 1, as torch.nn.BatchNorm1d/2d
 * (track_running_stats=True, momentum a number).
 *
 * Channels: [C, H, W] is normalised per C over the batch and H*W; [C, L]
 * per C over the batch and L; a vector [F] per feature over the batch. A
 * 2-D input is always read channel first, [C, L] as a conv1d map: a
 * sequence [T, F] has the same shape and cannot be told apart, so put
 * batchnorm before to_sequence (or after a per-step dense, where it would
 * normalise per time step, which is rarely what is wanted).
 *
 * Training normalises with the batch mean and biased variance and moves the
 * running statistics by running = (1-momentum)*running + momentum*batch,
 * the variance unbiased (n/(n-1)), exactly as PyTorch. Inference uses the
 * running statistics. Like PyTorch, backward keeps only the per-channel mean
 * and 1/std of the forward and recomputes x-hat from x, which costs one
 * multiply-add per element instead of a cache as large as the input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "mgc/nn/parallel.h"

typedef struct {
  int c;          /* channels */
  size_t inner;   /* values of a channel in one sample: H*W, L or 1 */
  int affine;
  float eps, momentum;
  float *mean, *inv_std; /* of the last training forward, for backward */
  double *s1, *s2;       /* per-channel accumulators */
} bn_state;

/* The element loops work on chunks of at most 256 values in 8 float lanes
 * (a form -O2 vectorises; it leaves plain loops of unknown length scalar,
 * several times slower), each chunk's lanes then added in double: float
 * sums of 32 terms lose nothing that matters, and the total keeps the
 * precision of a double sum over a whole batch of maps. */
#define BN_CHUNK 256

/* Adds to *s1 the sum of a[0..n) and, when b is set, to *s2 the sum of
 * a[i]*(b[i] - m); with `squares` (and no b), adds only the sum of
 * (a[i] - m)^2 to *s2. */
static void sums_run(const float *a, const float *b, float m, int squares, size_t n, double *s1,
                     double *s2) {
  double t1 = 0, t2 = 0;
  size_t q = 0;
  while (n - q >= 8) {
    size_t left = n - q, end = q + ((left < BN_CHUNK ? left : BN_CHUNK) & ~(size_t)7);
    float p1[8] = {0}, p2[8] = {0};
    if (b) {
      for (; q < end; q += 8)
        for (int k = 0; k < 8; k++) p1[k] += a[q + k], p2[k] += a[q + k] * (b[q + k] - m);
    } else if (squares) {
      for (; q < end; q += 8)
        for (int k = 0; k < 8; k++) p2[k] += (a[q + k] - m) * (a[q + k] - m);
    } else {
      for (; q < end; q += 8)
        for (int k = 0; k < 8; k++) p1[k] += a[q + k];
    }
    for (int k = 0; k < 8; k++) t1 += p1[k], t2 += p2[k];
  }
  for (; q < n; q++) {
    if (squares) {
      t2 += (double)(a[q] - m) * (a[q] - m);
    } else {
      t1 += a[q];
      if (b) t2 += (double)a[q] * (b[q] - m);
    }
  }
  if (!squares) *s1 += t1;
  if (b || squares) *s2 += t2;
}

/* What a parallel loop body needs (mgc/nn/parallel.h). Channels are
 * independent: the sums are split by channel, each summed over the batch in
 * sample order as with one thread; the element passes are split by plane. */
typedef struct {
  const bn_state *s;
  const float *a, *b, *center, *x;
  float *y;
  int squares, batch;
  const float *gamma; /* backward */
} bn_job;

static void sums_body(void *ctx, int begin, int end, int slot) {
  const bn_job *j = ctx;
  const bn_state *s = j->s;
  for (int ch = begin; ch < end; ch++) {
    s->s1[ch] = s->s2[ch] = 0;
    for (int n = 0; n < j->batch; n++) {
      size_t off = ((size_t)n * s->c + ch) * s->inner;
      sums_run(j->a + off, j->b ? j->b + off : NULL, j->center ? j->center[ch] : 0.0f,
               j->squares, s->inner, &s->s1[ch], &s->s2[ch]);
    }
  }
}

/* Per-channel sums over the batch (see sums_run) into s->s1 and s->s2. */
static void channel_sums(const bn_state *s, const float *a, const float *b, const float *center,
                         int squares, int batch) {
  bn_job j = {.s = s, .a = a, .b = b, .center = center, .squares = squares, .batch = batch};
  mgc_parallel_for(s->c, mgc_parallel_grain((size_t)batch * s->inner), MGC_PARALLEL_MAX_THREADS,
                   sums_body, &j);
}

/* Planes [begin, end) (plane = sample * c + channel) of apply. */
static void apply_body(void *ctx, int begin, int end, int slot) {
  const bn_job *j = ctx;
  const bn_state *s = j->s;
  for (int pc = begin; pc < end; pc++) {
    int ch = pc % s->c;
    size_t off = (size_t)pc * s->inner, i = 0;
    const float *restrict xp = j->x + off;
    float *restrict yp = j->y + off;
    float m = j->center[ch], a = (float)s->s1[ch], b = (float)s->s2[ch];
    for (; i + 8 <= s->inner; i += 8)
      for (int k = 0; k < 8; k++) yp[i + k] = (xp[i + k] - m) * a + b;
    for (; i < s->inner; i++) yp[i] = (xp[i] - m) * a + b;
  }
}

/* y = (x - center[ch])*scale[ch] + shift[ch], scale and shift in s1, s2.
 * Centring first (rather than folding the mean into the shift) keeps the
 * precision of data far from zero, as PyTorch's (x - mean)*invstd does. */
static void apply(const bn_state *s, const float *center, const float *x, float *y,
                  int batch) {
  bn_job j = {.s = s, .center = center, .x = x, .y = y, .batch = batch};
  mgc_parallel_for(batch * s->c, mgc_parallel_grain(s->inner), MGC_PARALLEL_MAX_THREADS,
                   apply_body, &j);
}

static void bn_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                       float *ws) {
  bn_state *s = l->state;
  const float *gamma = s->affine ? l->params[0].value : NULL;
  const float *beta = s->affine ? l->params[1].value : NULL;
  float *rmean = l->params[s->affine ? 2 : 0].value, *rvar = l->params[s->affine ? 3 : 1].value;
  double cnt = (double)batch * (double)s->inner;
  if (training) {
    channel_sums(s, x, NULL, NULL, 0, batch);
    for (int ch = 0; ch < s->c; ch++) s->mean[ch] = (float)(s->s1[ch] / cnt);
    /* Second pass on centred values: the variance of data far from zero
     * loses everything to cancellation in E[x^2] - E[x]^2. */
    channel_sums(s, x, NULL, s->mean, 1, batch);
    for (int ch = 0; ch < s->c; ch++) {
      double var = s->s2[ch] / cnt;
      s->inv_std[ch] = (float)(1.0 / sqrt(var + s->eps));
      /* PyTorch refuses to train on one value per channel; forward cannot
       * fail, so the running statistics are left alone rather than fed an
       * undefined unbiased variance (the output is then beta). */
      if (cnt > 1) {
        rmean[ch] = (1.0f - s->momentum) * rmean[ch] + s->momentum * s->mean[ch];
        rvar[ch] = (1.0f - s->momentum) * rvar[ch] + s->momentum * (float)(var * cnt / (cnt - 1));
      }
      s->s1[ch] = s->inv_std[ch] * (gamma ? gamma[ch] : 1.0f);
      s->s2[ch] = beta ? beta[ch] : 0.0f;
    }
    apply(s, s->mean, x, y, batch);
  } else {
    for (int ch = 0; ch < s->c; ch++) {
      s->s1[ch] = (gamma ? gamma[ch] : 1.0f) / sqrt((double)rvar[ch] + s->eps);
      s->s2[ch] = beta ? beta[ch] : 0.0f;
    }
    apply(s, rmean, x, y, batch);
  }
}

/* With x-hat = (x - mean)*inv_std and g = dy*gamma, the batch statistics
 * give dx = inv_std * (g - mean(g) - x-hat * mean(g * x-hat)) per channel;
 * dgamma = sum(dy * x-hat), dbeta = sum(dy). */
/* Planes [begin, end) of dx (see bn_backward). */
static void dx_body(void *ctx, int begin, int end, int slot) {
  const bn_job *j = ctx;
  const bn_state *s = j->s;
  for (int pc = begin; pc < end; pc++) {
    int ch = pc % s->c;
    size_t off = (size_t)pc * s->inner, i = 0;
    const float *restrict xp = j->x + off, *restrict g = j->a + off;
    float *restrict d = j->y + off;
    float m = s->mean[ch], is = s->inv_std[ch];
    float k = is * (j->gamma ? j->gamma[ch] : 1.0f);
    /* dx = k*(dy - mean(dy) - (x - m)*is*mean(dy*x-hat)) = k*dy + (x - m)*u + v */
    float u = -k * is * (float)s->s2[ch], v = -k * (float)s->s1[ch];
    for (; i + 8 <= s->inner; i += 8)
      for (int q = 0; q < 8; q++) d[i + q] = k * g[i + q] + (xp[i + q] - m) * u + v;
    for (; i < s->inner; i++) d[i] = k * g[i] + (xp[i] - m) * u + v;
  }
}

static void bn_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                        float *dx, int batch, float *ws) {
  bn_state *s = l->state;
  double cnt = (double)batch * (double)s->inner;
  channel_sums(s, dy, x, s->mean, 0, batch); /* sum(dy), sum(dy*(x - mean)) */
  const float *gamma = s->affine ? l->params[0].value : NULL;
  for (int ch = 0; ch < s->c; ch++) {
    double sdy = s->s1[ch], sdyx = s->inv_std[ch] * s->s2[ch]; /* sum(dy * x-hat) */
    if (s->affine) {
      l->params[0].grad[ch] = (float)sdyx;
      l->params[1].grad[ch] = (float)sdy;
    }
    s->s1[ch] = sdy / cnt;
    s->s2[ch] = sdyx / cnt;
  }
  if (!dx) return;
  bn_job j = {.s = s, .x = x, .a = dy, .y = dx, .gamma = gamma, .batch = batch};
  mgc_parallel_for(batch * s->c, mgc_parallel_grain(s->inner), MGC_PARALLEL_MAX_THREADS,
                   dx_body, &j);
}

static void bn_destroy(mgc_layer *l) {
  bn_state *s = l->state;
  if (s) {
    free(s->mean);
    free(s->inv_std);
    free(s->s1);
    free(s->s2);
  }
  free(s);
}

static const mgc_layer_ops k_bn = {
    .type = "batchnorm", .forward = bn_forward, .backward = bn_backward, .destroy = bn_destroy};

mgc_status mgc_batchnorm_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                                mgc_layer **out) {
  double eps, momentum;
  int affine;
  mgc_status st;
  if ((st = mgc_spec_float(spec, "eps", 1e-5, 0.0, 1.0, &eps)) ||
      (st = mgc_spec_float(spec, "momentum", 0.1, 0.0, 1.0, &momentum)) ||
      (st = mgc_spec_bool(spec, "affine", 1, &affine)))
    return st;
  char buf[64];
  if (!strcmp(spec->type, "batchnorm2d") && in->ndim != 3)
    return mgc_error_set(MGC_EINVAL, "batchnorm2d needs a map [C, H, W], got %s",
                         mgc_shape_str(in, buf, sizeof buf));
  if (!strcmp(spec->type, "batchnorm1d") && in->ndim != 1 && in->ndim != 2)
    return mgc_error_set(MGC_EINVAL, "batchnorm1d needs a vector [F] or a map [C, L], got %s",
                         mgc_shape_str(in, buf, sizeof buf));
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_bn, spec, in, 4, &l))) return st;
  bn_state *s = calloc(1, sizeof *s);
  if (!s) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->state = s;
  s->c = in->d[0];
  s->inner = mgc_shape_size(in) / (size_t)s->c;
  s->affine = affine;
  s->eps = (float)eps;
  s->momentum = (float)momentum;
  s->mean = calloc((size_t)s->c, sizeof(float));
  s->inv_std = calloc((size_t)s->c, sizeof(float));
  s->s1 = calloc((size_t)s->c, sizeof(double));
  s->s2 = calloc((size_t)s->c, sizeof(double));
  if (!s->mean || !s->inv_std || !s->s1 || !s->s2) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  /* PyTorch's names and order: weight, bias, running_mean, running_var. */
  int c[1] = {s->c};
  mgc_param *p;
  if (affine) {
    if ((st = mgc_layer_add_param(l, "weight", 1, 1, c, &p))) goto fail;
    mgc_param_fill(p, 1.0f);
    if ((st = mgc_layer_add_param(l, "bias", 1, 1, c, NULL))) goto fail;
  }
  if ((st = mgc_layer_add_param(l, "running_mean", 0, 1, c, NULL)) ||
      (st = mgc_layer_add_param(l, "running_var", 0, 1, c, &p)))
    goto fail;
  mgc_param_fill(p, 1.0f);
  *out = l;
  return MGC_OK;
fail:
  mgc_layer_free(l);
  return st;
}
