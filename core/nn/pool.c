/* Pooling over conv maps, as torch.nn.MaxPool1d/2d and AvgPool1d/2d (floor
 * mode, no dilation) and global pooling to a vector.
 *
 * 1-D pools read [C, L] as [C, 1, L]; global pools are a window that covers
 * the whole map ([C, H, W] or [C, L] -> [C]) with loops of their own. Max
 * pooling treats padding as -inf and keeps the first maximum of a window
 * (NaN wins, as in PyTorch); its argmax indices are kept for backward. Average pooling divides by the full window size, padding
 * included (PyTorch's count_include_pad=True); in floor mode a window never
 * reaches past the padding, so that is always kh*kw. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "mgc/nn/parallel.h"

typedef struct {
  int max, global;
  int c, h, w, oh, ow;
  int kh, kw, sh, sw, ph, pw;
  int32_t *arg; /* max: argmax (iy*w + ix) per output of a training forward */
  size_t cap;
} pool_state;

static mgc_status pool_plan(mgc_layer *l, int batch, int training) {
  pool_state *s = l->state;
  size_t n = s->max && training ? (size_t)batch * s->c * s->oh * s->ow : 0;
  if (n <= s->cap) return MGC_OK;
  int32_t *a = realloc(s->arg, n * sizeof *a);
  if (!a) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->arg = a;
  s->cap = n;
  return MGC_OK;
}

/* Input rows [*y0, *y1) of output row oy, clipped to the map. */
static inline void rows_of(const pool_state *s, int oy, int *y0, int *y1) {
  int ya = oy * s->sh - s->ph, yb = ya + s->kh;
  *y0 = ya > 0 ? ya : 0;
  *y1 = yb < s->h ? yb : s->h;
}

/* Outputs [*lo, *hi) whose window column j lies inside the map (elsewhere
 * it is padding), and that column's offset: input column ox*sw + *off. */
static inline void cols_of(const pool_state *s, int j, int *lo, int *hi, int *off) {
  *off = j - s->pw;
  *lo = *off >= 0 ? 0 : (-*off + s->sw - 1) / s->sw;
  *hi = s->w - 1 - *off < 0 ? 0 : (s->w - 1 - *off) / s->sw + 1;
  if (*hi > s->ow) *hi = s->ow;
  if (*lo > *hi) *lo = *hi;
}

/* PyTorch's rule for a window holding a NaN (its test is "v > max or v is
 * NaN"): the output is NaN and its index that of the last NaN. xp holds
 * the plane's rows from row0 on (0: the whole plane). */
static void max_nan(const pool_state *s, const float *xp, int row0, int oy, int ox, float *acc,
                    int32_t *am) {
  int y0, y1, xa = ox * s->sw - s->pw;
  rows_of(s, oy, &y0, &y1);
  int x0 = xa > 0 ? xa : 0, x1 = xa + s->kw < s->w ? xa + s->kw : s->w;
  for (int iy = y0; iy < y1; iy++)
    for (int ix = x0; ix < x1; ix++)
      if (isnan(xp[(iy - row0) * s->w + ix])) {
        *acc = xp[(iy - row0) * s->w + ix];
        if (am) *am = iy * s->w + ix;
      }
}

/* One output row of a plane. The window loops run outermost and the
 * outputs innermost: a window of 2x2 leaves too little work per output
 * for loops per window (they cost 3x more). Visiting each window's
 * elements row by row keeps PyTorch's choice among equal maxima (the
 * first); the update is written as selects because which element wins is
 * data, and a mispredicted branch costs more than the loads. xp holds the
 * plane's rows from row0 on (0: the whole plane). */
static void pool_row(const pool_state *s, const float *xp, int row0, int oy, float *yr,
                     int32_t *ar) {
  int y0, y1, ow = s->ow, sw = s->sw;
  rows_of(s, oy, &y0, &y1);
  if (!s->max) {
    for (int ox = 0; ox < ow; ox++) yr[ox] = 0.0f;
    for (int iy = y0; iy < y1; iy++)
      for (int j = 0; j < s->kw; j++) {
        int lo, hi, off;
        cols_of(s, j, &lo, &hi, &off);
        const float *r = xp + (iy - row0) * s->w; /* r + off may lie before the map */
        for (int ox = lo; ox < hi; ox++) yr[ox] += r[ox * sw + off];
      }
    float inv = 1.0f / (float)(s->kh * s->kw);
    for (int ox = 0; ox < ow; ox++) yr[ox] *= inv;
    return;
  }
  for (int ox = 0; ox < ow; ox++) yr[ox] = -INFINITY;
  if (ar) /* the first element inside the window, as PyTorch when all are -inf */
    for (int ox = 0; ox < ow; ox++) {
      int xa = ox * sw - s->pw;
      ar[ox] = y0 * s->w + (xa > 0 ? xa : 0);
    }
  int nan = 0;
  for (int iy = y0; iy < y1; iy++)
    for (int j = 0; j < s->kw; j++) {
      int lo, hi, off;
      cols_of(s, j, &lo, &hi, &off);
      const float *r = xp + (iy - row0) * s->w;
      if (ar) {
        int base = iy * s->w + off;
        for (int ox = lo; ox < hi; ox++) {
          /* a mask, not "gt ? i : ar[ox]", which gcc turns back into a
           * branch around the store */
          float v = r[ox * sw + off], m = yr[ox];
          int32_t a = ar[ox], gt = -(int32_t)(v > m);
          ar[ox] = a ^ ((a ^ (base + ox * sw)) & gt);
          yr[ox] = v > m ? v : m;
          nan |= v != v;
        }
      } else {
        for (int ox = lo; ox < hi; ox++) {
          float v = r[ox * sw + off];
          yr[ox] = v > yr[ox] ? v : yr[ox];
          nan |= v != v;
        }
      }
    }
  if (nan)
    for (int ox = 0; ox < ow; ox++) max_nan(s, xp, row0, oy, ox, &yr[ox], ar ? &ar[ox] : NULL);
}

/* What a parallel loop body needs: planes (sample * c + channel) are
 * independent, so the pool (mgc/nn/parallel.h) splits them. */
typedef struct {
  const pool_state *s;
  const float *x, *dy;
  float *y, *dx;
  int32_t *arg;
} pool_job;

static void forward_planes(void *ctx, int begin, int end, int slot) {
  const pool_job *j = ctx;
  const pool_state *s = j->s;
  size_t plane = (size_t)s->h * s->w, oplane = (size_t)s->oh * s->ow;
  const float *x = j->x;
  float *y = j->y;
  int32_t *arg = j->arg;
  for (size_t pc = (size_t)begin; pc < (size_t)end; pc++) {
    const float *xp = x + pc * plane;
    if (s->global && s->max) { /* a plain scan, same rule as pool_row */
      float m = -INFINITY;
      int32_t am = 0;
      int nan = 0;
      for (size_t i = 0; i < plane; i++) {
        int gt = xp[i] > m;
        am = gt ? (int32_t)i : am;
        m = gt ? xp[i] : m;
        nan |= xp[i] != xp[i];
      }
      if (nan) max_nan(s, xp, 0, 0, 0, &m, &am);
      y[pc] = m;
      if (arg) arg[pc] = am;
    } else if (s->global) { /* 8 partial sums, which -O2 vectorises */
      float part[8] = {0};
      size_t i = 0;
      for (; i + 8 <= plane; i += 8)
        for (int k = 0; k < 8; k++) part[k] += xp[i + k];
      double acc = 0;
      for (; i < plane; i++) acc += xp[i];
      for (int k = 0; k < 8; k++) acc += part[k];
      y[pc] = (float)(acc / (double)plane);
    } else {
      for (int oy = 0; oy < s->oh; oy++)
        pool_row(s, xp, 0, oy, y + pc * oplane + (size_t)oy * s->ow,
                 arg ? arg + pc * oplane + (size_t)oy * s->ow : NULL);
    }
  }
}

static void pool_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                         float *ws) {
  const pool_state *s = l->state;
  pool_job j = {.s = s, .x = x, .y = y, .arg = training ? s->arg : NULL};
  mgc_parallel_for(batch * s->c, mgc_parallel_grain((size_t)s->h * s->w),
                   MGC_PARALLEL_MAX_THREADS, forward_planes, &j);
}

static void backward_planes(void *ctx, int begin, int end, int slot) {
  const pool_job *j = ctx;
  const pool_state *s = j->s;
  size_t plane = (size_t)s->h * s->w, oplane = (size_t)s->oh * s->ow;
  float inv = 1.0f / (float)(s->kh * s->kw);
  memset(j->dx + (size_t)begin * plane, 0, (size_t)(end - begin) * plane * sizeof(float));
  for (size_t pc = (size_t)begin; pc < (size_t)end; pc++) {
    float *dp = j->dx + pc * plane;
    const float *gp = j->dy + pc * oplane;
    if (s->max) {
      const int32_t *ap = s->arg + pc * oplane;
      for (size_t o = 0; o < oplane; o++) dp[ap[o]] += gp[o]; /* windows may overlap */
      continue;
    }
    if (s->global) {
      for (size_t i = 0; i < plane; i++) dp[i] = gp[0] * inv;
      continue;
    }
    for (int oy = 0; oy < s->oh; oy++) {
      int y0, y1;
      rows_of(s, oy, &y0, &y1);
      const float *g = gp + (size_t)oy * s->ow;
      for (int iy = y0; iy < y1; iy++)
        for (int jj = 0; jj < s->kw; jj++) {
          int lo, hi, off;
          cols_of(s, jj, &lo, &hi, &off);
          float *d = dp + iy * s->w;
          for (int ox = lo; ox < hi; ox++) d[ox * s->sw + off] += g[ox] * inv;
        }
    }
  }
}

static void pool_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                          float *dx, int batch, float *ws) {
  const pool_state *s = l->state;
  if (!dx) return;
  pool_job j = {.s = s, .dy = dy, .dx = dx};
  mgc_parallel_for(batch * s->c, mgc_parallel_grain((size_t)s->h * s->w),
                   MGC_PARALLEL_MAX_THREADS, backward_planes, &j);
}

/* Row by row for a producer that hands over its map in bands (a conv fused
 * with this pool, layer.h): the same pool_row on the same values, so the
 * outputs are those of pool_forward, bit for bit. */
static void pool_window_rows(const mgc_layer *l, int oy, int *y0, int *y1) {
  rows_of(l->state, oy, y0, y1);
}

static void pool_forward_rows(const mgc_layer *l, const float *x, size_t ld, int iy0, int oy0,
                              int oy1, float *y) {
  const pool_state *s = l->state;
  size_t oplane = (size_t)s->oh * s->ow;
  for (int c = 0; c < s->c; c++)
    for (int oy = oy0; oy < oy1; oy++)
      pool_row(s, x + (size_t)c * ld, iy0, oy, y + c * oplane + (size_t)oy * s->ow, NULL);
}

static void pool_destroy(mgc_layer *l) {
  pool_state *s = l->state;
  if (s) free(s->arg);
  free(s);
}

#define POOL_OPS(name)                                                                     \
  {.type = name, .plan = pool_plan, .forward = pool_forward, .backward = pool_backward,    \
   .destroy = pool_destroy}
#define WINDOW_POOL_OPS(name)                                                              \
  {.type = name, .plan = pool_plan, .forward = pool_forward, .backward = pool_backward,    \
   .destroy = pool_destroy, .window_rows = pool_window_rows,                               \
   .forward_rows = pool_forward_rows}
static const mgc_layer_ops k_pool_ops[] = {
    POOL_OPS("maxpool1d"), WINDOW_POOL_OPS("maxpool2d"), POOL_OPS("avgpool1d"),
    WINDOW_POOL_OPS("avgpool2d"), POOL_OPS("global_avgpool"), POOL_OPS("global_maxpool"),
};

mgc_status mgc_pool_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                           mgc_layer **out) {
  int kind = -1;
  for (int i = 0; i < 6; i++)
    if (!strcmp(spec->type, k_pool_ops[i].type)) kind = i;
  if (kind < 0) return mgc_error_set(MGC_EINVAL, "unknown pooling type '%s'", spec->type);
  int global = kind >= 4, is1d = kind == 0 || kind == 2;
  int is_max = kind == 0 || kind == 1 || kind == 5;
  int kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0};
  const int big = 1 << 16;
  mgc_status st;
  if (global) {
    if (in->ndim != 2 && in->ndim != 3)
      return mgc_error_set(MGC_EINVAL, "%s needs a map [C, H, W] or [C, L]", spec->type);
  } else if (is1d) {
    if ((st = mgc_spec_int(spec, "kernel", 0, 1, big, &kernel[1])) ||
        (st = mgc_spec_int(spec, "stride", 0, 1, big, &stride[1])) ||
        (st = mgc_spec_int(spec, "padding", 0, 0, big, &pad[1])))
      return st;
    if (in->ndim != 2)
      return mgc_error_set(MGC_EINVAL, "%s needs a map [C, L]%s", spec->type,
                           in->ndim == 3 ? "; use the 2d pool for [C, H, W]" : "");
  } else {
    if ((st = mgc_spec_int2(spec, "kernel", 0, 1, big, kernel)) ||
        (st = mgc_spec_int2(spec, "stride", 0, 1, big, stride)) ||
        (st = mgc_spec_int2(spec, "padding", 0, 0, big, pad)))
      return st;
    if (in->ndim != 3)
      return mgc_error_set(MGC_EINVAL, "%s needs a map [C, H, W]%s", spec->type,
                           in->ndim == 2 ? "; use the 1d pool for [C, L]" : "");
  }
  int h = in->ndim == 3 ? in->d[1] : 1, w = in->d[in->ndim - 1];
  if (global) {
    kernel[0] = stride[0] = h;
    kernel[1] = stride[1] = w;
  } else {
    if (kernel[1] == 0) return mgc_error_set(MGC_EINVAL, "'kernel' (window size) is required");
    for (int a = 0; a < 2; a++) {
      if (stride[a] == 0) stride[a] = kernel[a]; /* PyTorch: stride defaults to the kernel */
      /* PyTorch's rule; it also keeps every window overlapping the map. */
      if (2 * pad[a] > kernel[a])
        return mgc_error_set(MGC_EINVAL, "'padding' must be at most half the kernel, got %d "
                             "for a kernel of %d", pad[a], kernel[a]);
    }
    if (h + 2 * pad[0] < kernel[0] || w + 2 * pad[1] < kernel[1]) {
      if (is1d)
        return mgc_error_set(MGC_EINVAL,
                             "'kernel' %d is larger than the input length %d padded by %d",
                             kernel[1], w, pad[1]);
      return mgc_error_set(MGC_EINVAL,
                           "'kernel' [%d, %d] is larger than the input %dx%d padded by "
                           "[%d, %d]",
                           kernel[0], kernel[1], h, w, pad[0], pad[1]);
    }
  }
  mgc_layer *l;
  if ((st = mgc_layer_alloc(&k_pool_ops[kind], spec, in, 0, &l))) return st;
  pool_state *s = calloc(1, sizeof *s);
  if (!s) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->state = s;
  s->max = is_max;
  s->global = global;
  s->c = in->d[0];
  s->h = h;
  s->w = w;
  s->kh = kernel[0], s->kw = kernel[1];
  s->sh = stride[0], s->sw = stride[1];
  s->ph = pad[0], s->pw = pad[1];
  s->oh = (h + 2 * pad[0] - kernel[0]) / stride[0] + 1;
  s->ow = (w + 2 * pad[1] - kernel[1]) / stride[1] + 1;
  if (global)
    l->out = mgc_shape_make(1, s->c, 0, 0);
  else if (is1d)
    l->out = mgc_shape_make(2, s->c, s->ow, 0);
  else
    l->out = mgc_shape_make(3, s->c, s->oh, s->ow);
  *out = l;
  return MGC_OK;
}
