/* Convolution (torch.nn.Conv2d / Conv1d, groups = 1): im2col + sgemm.
 *
 * A sample's input is unfolded into a column matrix cols [K, P] with
 * K = C_in*kh*kw rows (one per kernel tap) and P = OH*OW columns (one per
 * output position); the output is then W [C_out, K] . cols, which lands in
 * NCHW order directly. conv1d is the same code with H = kh = 1.
 *
 * Samples per gemm, as measured (OpenBLAS, one thread, batch 32): one gemm
 * over the whole batch is slower on real maps (32->64 ch 3x3 on 64x65: 74
 * GFLOP/s against 92 per sample; 1->32 on 128x130: 20 against 37), needs a
 * scratch the size of the batch (190 MB there instead of 5) and a transpose
 * into NCHW. So a sample gets its own gemm, written straight into y, once
 * its map has MGC_CONV_GEMM_COLS positions; smaller maps are unfolded a few
 * samples at a time into one wider [K, g*P] so that a gemm still sees that
 * many columns, and the result is scattered into NCHW (5-15% faster than
 * per sample on 4x4 to 8x8 maps and short conv1d inputs).
 *
 * Backward recomputes the columns instead of keeping them (K*P floats per
 * sample would dwarf the activations): dW = sum over groups of dY . cols^T,
 * dcols = W^T . dY, then col2im adds the columns back onto dX.
 *
 * Threads (mgc/nn/parallel.h): groups are independent in forward and in dX,
 * so the pool runs them in parallel, each thread with its own columns
 * scratch. dW is a sum over groups: each group's share goes to a buffer of
 * its own and the shares are added in group order afterwards, so the sum is
 * the same for any number of threads (the group size depends only on the
 * map and the batch). The bias gradient is split by channel, each summed
 * over the batch in sample order. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "mgc/nn/parallel.h"

/* Output columns one gemm should see at least (see above). */
#ifndef MGC_CONV_GEMM_COLS
#define MGC_CONV_GEMM_COLS 1024
#endif

typedef struct {
  int cin, cout;
  int h, w, oh, ow; /* input and output maps; h = oh = 1 for conv1d */
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int bias;
  int direct;       /* 1x1, stride 1, no padding: a sample is its own column matrix */
  size_t k, p;      /* column matrix of one sample: k rows (cin*kh*kw), p columns (oh*ow) */
  int slots;        /* threads whose scratch the workspace holds (set by plan) */
  float *dwp;       /* training: each group's share of dW, [groups][cout*k] */
  size_t dwp_cap;
} conv_state;

/* Outputs o in [*lo, *hi) whose input index o*stride + off lies in [0, n):
 * the taps that read inside the map, so padding becomes two zero runs around
 * a plain copy instead of a test per element. */
static void out_range(int n_out, int stride, int off, int n, int *lo, int *hi) {
  int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int b = n - 1 - off < 0 ? 0 : (n - 1 - off) / stride + 1;
  a = a < n_out ? a : n_out;
  b = b < a ? a : (b < n_out ? b : n_out);
  *lo = a;
  *hi = b;
}

/* d[0..n) = s[0..n). memcpy for long runs; on the short rows of small maps
 * its call costs more than the copy. */
static inline void copy_run(float *restrict d, const float *restrict s, int n) {
  if (n >= 16) {
    memcpy(d, s, (size_t)n * sizeof(float));
  } else {
    for (int q = 0; q < n; q++) d[q] = s[q];
  }
}

/* The element loops below work in blocks of 8 because -O2 vectorises
 * those and leaves loops of unknown length scalar (4x slower here). */

/* d[0..n) += s[0..n). */
static inline void add_run(float *restrict d, const float *restrict s, int n) {
  int q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; k++) d[q + k] += s[q + k];
  for (; q < n; q++) d[q] += s[q];
}

/* d[0..n) = s[0..n) + v. */
static inline void add_const_run(float *restrict d, const float *restrict s, float v, size_t n) {
  size_t q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; k++) d[q + k] = s[q + k] + v;
  for (; q < n; q++) d[q] = s[q] + v;
}

/* d[0..n) += v. */
static inline void add_scalar_run(float *d, float v, size_t n) {
  size_t q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; k++) d[q + k] += v;
  for (; q < n; q++) d[q] += v;
}

/* sum of s[0..n), in 8 partial sums. */
static inline double sum_run(const float *s, size_t n) {
  float part[8] = {0};
  size_t q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; k++) part[k] += s[q + k];
  double acc = 0;
  for (; q < n; q++) acc += s[q];
  for (int k = 0; k < 8; k++) acc += part[k];
  return acc;
}

/* Unfold g samples of x into cols [k, g*p]: row (c*kh + i)*kw + j, column
 * n*p + oy*ow + ox holds x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], or 0
 * in the padding. One channel plane at a time, so its kh*kw passes read
 * from cache. */
static void im2col(const conv_state *s, const float *x, int g, float *cols) {
  size_t ld = (size_t)g * s->p, plane = (size_t)s->h * s->w;
  const int ow = s->ow, sw = s->sw;
  for (int n = 0; n < g; n++)
    for (int c = 0; c < s->cin; c++) {
      const float *xc = x + ((size_t)n * s->cin + c) * plane;
      for (int i = 0; i < s->kh; i++) {
        int yoff = i * s->dh - s->ph, y0, y1;
        out_range(s->oh, s->sh, yoff, s->h, &y0, &y1);
        for (int j = 0; j < s->kw; j++) {
          int xoff = j * s->dw - s->pw, x0, x1;
          out_range(ow, sw, xoff, s->w, &x0, &x1);
          float *row = cols + ((size_t)(c * s->kh + i) * s->kw + j) * ld + (size_t)n * s->p;
          memset(row, 0, (size_t)y0 * ow * sizeof(float));
          for (int oy = y0; oy < y1; oy++) {
            const float *src = xc + (size_t)(oy * s->sh + yoff) * s->w + (size_t)x0 * sw + xoff;
            float *dst = row + (size_t)oy * ow;
            for (int ox = 0; ox < x0; ox++) dst[ox] = 0.0f;
            if (sw == 1) {
              copy_run(dst + x0, src, x1 - x0);
            } else {
              for (int q = 0; q < x1 - x0; q++) dst[x0 + q] = src[(size_t)q * sw];
            }
            for (int ox = x1; ox < ow; ox++) dst[ox] = 0.0f;
          }
          memset(row + (size_t)y1 * ow, 0, (size_t)(s->oh - y1) * ow * sizeof(float));
        }
      }
    }
}

/* Columns of output rows [oy0, oy1) of one sample into cols [k, (oy1-oy0)*ow]
 * (as im2col, restricted to those rows). */
static void im2col_rows(const conv_state *s, const float *x, int oy0, int oy1, float *cols) {
  size_t plane = (size_t)s->h * s->w, ld = (size_t)(oy1 - oy0) * s->ow;
  const int ow = s->ow, sw = s->sw;
  for (int c = 0; c < s->cin; c++) {
    const float *xc = x + (size_t)c * plane;
    for (int i = 0; i < s->kh; i++) {
      int yoff = i * s->dh - s->ph, y0, y1;
      out_range(s->oh, s->sh, yoff, s->h, &y0, &y1);
      y0 = y0 > oy0 ? y0 : oy0;
      y1 = y1 < oy1 ? y1 : oy1;
      for (int j = 0; j < s->kw; j++) {
        int xoff = j * s->dw - s->pw, x0, x1;
        out_range(ow, sw, xoff, s->w, &x0, &x1);
        float *row = cols + ((size_t)(c * s->kh + i) * s->kw + j) * ld;
        for (int oy = oy0; oy < oy1; oy++) {
          float *dst = row + (size_t)(oy - oy0) * ow;
          if (oy < y0 || oy >= y1) {
            memset(dst, 0, (size_t)ow * sizeof(float));
            continue;
          }
          const float *src = xc + (size_t)(oy * s->sh + yoff) * s->w + (size_t)x0 * sw + xoff;
          for (int ox = 0; ox < x0; ox++) dst[ox] = 0.0f;
          if (sw == 1) {
            copy_run(dst + x0, src, x1 - x0);
          } else {
            for (int q = 0; q < x1 - x0; q++) dst[x0 + q] = src[(size_t)q * sw];
          }
          for (int ox = x1; ox < ow; ox++) dst[ox] = 0.0f;
        }
      }
    }
  }
}

/* The adjoint of im2col: dx = 0, then every column entry is added to the
 * input element it was copied from (taps overlap, hence the sum). */
static void col2im(const conv_state *s, const float *cols, int g, float *dx) {
  size_t ld = (size_t)g * s->p, plane = (size_t)s->h * s->w;
  const int ow = s->ow, sw = s->sw;
  memset(dx, 0, (size_t)g * s->cin * plane * sizeof(float));
  for (int n = 0; n < g; n++)
    for (int c = 0; c < s->cin; c++) {
      float *dc = dx + ((size_t)n * s->cin + c) * plane;
      for (int i = 0; i < s->kh; i++) {
        int yoff = i * s->dh - s->ph, y0, y1;
        out_range(s->oh, s->sh, yoff, s->h, &y0, &y1);
        for (int j = 0; j < s->kw; j++) {
          int xoff = j * s->dw - s->pw, x0, x1;
          out_range(ow, sw, xoff, s->w, &x0, &x1);
          const float *row =
              cols + ((size_t)(c * s->kh + i) * s->kw + j) * ld + (size_t)n * s->p;
          for (int oy = y0; oy < y1; oy++) {
            float *d = dc + (size_t)(oy * s->sh + yoff) * s->w + (size_t)x0 * sw + xoff;
            const float *r = row + (size_t)oy * ow + x0;
            if (sw == 1) {
              add_run(d, r, x1 - x0);
            } else {
              for (int q = 0; q < x1 - x0; q++) d[(size_t)q * sw] += r[q];
            }
          }
        }
      }
    }
}

static int group_size(const conv_state *s, int batch) {
  size_t g = (MGC_CONV_GEMM_COLS + s->p - 1) / s->p;
  return g < (size_t)batch ? (int)g : batch;
}

/* The bias rides in the gemm when the columns are built anyway: a row of
 * ones under them and the bias as an extra weight column. That saves a
 * pass over the output, which on a small K (1->32 ch, 3x3: K = 9) is a
 * sixth of the layer's time. */
static int fold_bias(const conv_state *s, int g) { return s->bias && !(s->direct && g == 1); }

static int n_groups(const conv_state *s, int batch) {
  int g = group_size(s, batch);
  return (batch + g - 1) / g;
}

/* Column matrices beyond the caches cost more to write and read back than
 * the gemm saves by seeing them whole: a sample whose columns exceed
 * MGC_CONV_CHUNK_FLOATS is unfolded and multiplied a band of output rows at
 * a time (the 96x1813 maps of the pretrained taggers: 100 MB of columns in
 * one piece). Smaller maps keep the single gemm. */
#ifndef MGC_CONV_CHUNK_FLOATS
#define MGC_CONV_CHUNK_FLOATS (256 * 1024)
#endif

/* Output rows per band (s->oh: no banding). */
static int chunk_rows(const conv_state *s) {
  size_t row = (s->k + 1) * (size_t)s->ow;
  if (s->direct || (s->k + 1) * s->p <= (size_t)4 * MGC_CONV_CHUNK_FLOATS) return s->oh;
  size_t r = MGC_CONV_CHUNK_FLOATS / row;
  return r < 1 ? 1 : r > (size_t)s->oh ? s->oh : (int)r;
}

/* Scratch layout: the weights with the bias column [cout, k+1], then per
 * thread the columns [k (+1 with the folded bias), g*p] and, for g > 1,
 * the [cout, g*p] gemm result (forward) or gathered dY (backward). */
typedef struct {
  float *cols, *tmp, *wb;
} conv_ws;

/* Floats of each part for groups of g samples. An inference forward of
 * single samples on a banded map only ever holds one band of columns;
 * training keeps the whole matrix, which backward needs. */
static void ws_sizes(const conv_state *s, int g, int training, size_t *cols, size_t *tmp,
                     size_t *wb) {
  *cols = s->direct && g == 1 ? 0 : (s->k + 1) * (size_t)g * s->p;
  if (!training && g == 1 && chunk_rows(s) < s->oh)
    *cols = (s->k + 1) * (size_t)chunk_rows(s) * s->ow;
  *tmp = g > 1 ? (size_t)s->cout * g * s->p : 0;
  *wb = fold_bias(s, g) ? (size_t)s->cout * (s->k + 1) : 0;
}

/* The parts of thread `slot`. A smaller batch than planned has groups no
 * larger, so its parts fit; so do an inference forward's parts in a
 * training plan's scratch. */
static conv_ws ws_layout(const conv_state *s, int g, int training, float *ws, int slot) {
  conv_ws w = {NULL, NULL, NULL};
  size_t cols, tmp, wb;
  ws_sizes(s, g, training, &cols, &tmp, &wb);
  if (!ws) return w; /* nothing needed: a 1x1 conv on single samples */
  w.wb = ws;
  w.cols = ws + wb + (size_t)slot * (cols + tmp);
  w.tmp = w.cols + cols;
  return w;
}

/* Threads worth giving scratch to: no more than there are groups. */
static int plan_slots(const conv_state *s, int batch) {
  int t = mgc_parallel_threads(), n = n_groups(s, batch);
  return t < n ? t : n;
}

static size_t conv_workspace(const mgc_layer *l, int batch, int training) {
  const conv_state *s = l->state;
  size_t cols, tmp, wb;
  ws_sizes(s, group_size(s, batch), training, &cols, &tmp, &wb);
  return wb + (size_t)plan_slots(s, batch) * (cols + tmp);
}

static mgc_status conv_plan(mgc_layer *l, int batch, int training) {
  conv_state *s = l->state;
  s->slots = plan_slots(s, batch);
  /* one group writes dW directly; a smaller batch has no more groups */
  int groups = n_groups(s, batch);
  size_t n = training && groups > 1 ? (size_t)groups * s->cout * s->k : 0;
  if (n <= s->dwp_cap) return MGC_OK;
  float *p = realloc(s->dwp, n * sizeof *p);
  if (!p) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->dwp = p;
  s->dwp_cap = n;
  return MGC_OK;
}

/* The column matrix of samples [b, b+g) of x: x itself for a 1x1 conv of
 * one sample, else unfolded into cols. */
static const float *columns(const conv_state *s, const float *x, int g, float *cols) {
  if (s->direct && g == 1) return x;
  im2col(s, x, g, cols);
  return cols;
}

/* y [cout, p] = a [cout, kk] . columns of one sample x, band by band; the
 * bias rides as a row of ones when fold. */
static void forward_chunked(const conv_state *s, const float *x, const float *a, int fold,
                            float *cols, float *y) {
  int rows = chunk_rows(s);
  size_t kk = s->k + (size_t)fold;
  for (int r0 = 0; r0 < s->oh; r0 += rows) {
    int r1 = r0 + rows < s->oh ? r0 + rows : s->oh;
    size_t n = (size_t)(r1 - r0) * s->ow;
    im2col_rows(s, x, r0, r1, cols);
    if (fold)
      for (size_t q = 0; q < n; q++) cols[s->k * n + q] = 1.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, (int)n, (int)kk, 1.0f, a,
                (int)kk, cols, (int)n, 0.0f, y + (size_t)r0 * s->ow, (int)s->p);
  }
}

/* What a parallel loop body needs of a forward or backward call. */
typedef struct {
  const conv_state *s;
  const float *x, *w, *b, *dy;
  float *y, *dx, *dw, *db;
  int batch, g, groups, training;
  float *ws;
} conv_job;

/* Forward of groups [begin, end). */
static void forward_groups(void *ctx, int begin, int end, int slot) {
  const conv_job *j = ctx;
  const conv_state *s = j->s;
  const float *w = j->w, *b = j->b;
  size_t in_sz = (size_t)s->cin * s->h * s->w, out_sz = (size_t)s->cout * s->p;
  int g = j->g;
  conv_ws sp = ws_layout(s, g, j->training, j->ws, slot);
  for (int gi = begin; gi < end; gi++) {
    int b0 = gi * g, gn = j->batch - b0 < g ? j->batch - b0 : g;
    /* a last group of one 1x1 sample reads x directly: no row of ones */
    int fold = fold_bias(s, gn);
    size_t ld = (size_t)gn * s->p, kk = s->k + (size_t)fold; /* gemm depth */
    const float *a = fold ? sp.wb : w;
    float *yb = j->y + b0 * out_sz;
    if (gn == 1 && chunk_rows(s) < s->oh) {
      forward_chunked(s, j->x + b0 * in_sz, a, fold, sp.cols, yb);
      if (b && !fold)
        for (int o = 0; o < s->cout; o++) add_scalar_run(yb + o * s->p, b[o], s->p);
      continue;
    }
    const float *cols = columns(s, j->x + b0 * in_sz, gn, sp.cols);
    if (fold)
      for (size_t q = 0; q < ld; q++) sp.cols[s->k * ld + q] = 1.0f;
    if (gn == 1) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, (int)s->p, (int)kk, 1.0f,
                  a, (int)kk, cols, (int)s->p, 0.0f, yb, (int)s->p);
      if (b && !fold)
        for (int o = 0; o < s->cout; o++) add_scalar_run(yb + o * s->p, b[o], s->p);
      continue;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, (int)ld, (int)kk, 1.0f, a,
                (int)kk, cols, (int)ld, 0.0f, sp.tmp, (int)ld);
    for (int n = 0; n < gn; n++)
      for (int o = 0; o < s->cout; o++)
        add_const_run(yb + n * out_sz + o * s->p, sp.tmp + o * ld + n * s->p,
                      b && !fold ? b[o] : 0.0f, s->p);
  }
}

static void conv_forward(mgc_layer *l, const float *x, float *y, int batch, int training,
                         float *ws) {
  const conv_state *s = l->state;
  conv_job j = {.s = s, .x = x, .y = y, .w = l->params[0].value,
                .b = s->bias ? l->params[1].value : NULL, .batch = batch, .ws = ws,
                .training = training};
  j.g = group_size(s, batch);
  j.groups = n_groups(s, batch);
  conv_ws sp = ws_layout(s, j.g, training, ws, 0);
  if (fold_bias(s, j.g))
    for (int o = 0; o < s->cout; o++) {
      memcpy(sp.wb + o * (s->k + 1), j.w + o * s->k, s->k * sizeof(float));
      sp.wb[o * (s->k + 1) + s->k] = j.b[o];
    }
  mgc_parallel_for(j.groups, 1, s->slots, forward_groups, &j);
}

/* ---- conv fused with the pool after it (inference) -------------------------
 *
 * A banded map's output is the largest tensor of an inference pass (the
 * FCN's first conv: 64 x 96 x 1813 floats, 44 MB) though the pool after it
 * shrinks it 8 times. Fused, each sample's bands are computed as
 * forward_chunked computes them (same rows, same gemm shapes and operands,
 * only the destination and its row stride differ, which the gemm's
 * arithmetic does not see) into a few rows of scratch, and every pool row
 * whose window those rows complete is written at once (layer.h,
 * forward_rows). The rows the next pool row still needs move to the front
 * of the scratch before the next band. So the pool reads the very values
 * the unfused conv writes, and gives the same output bit for bit. */

/* Rows of the pool's input (this conv's output) held at once: the band
 * plus the rows kept for windows that straddle it. Computed by running the
 * band loop of fused_samples without the arithmetic. */
static int fused_hold(const conv_state *s, const mgc_layer *pool) {
  int rows = chunk_rows(s), poh = pool->out.ndim == 3 ? pool->out.d[1] : 1;
  int base = 0, oy = 0, hold = 0;
  for (int r0 = 0; r0 < s->oh; r0 += rows) {
    int r1 = r0 + rows < s->oh ? r0 + rows : s->oh, y0, y1;
    if (r1 - base > hold) hold = r1 - base;
    while (oy < poh && (pool->ops->window_rows(pool, oy, &y0, &y1), y1 <= r1)) oy++;
    base = oy < poh ? (pool->ops->window_rows(pool, oy, &y0, &y1), y0) : r1;
    base = base < r1 ? base : r1;
  }
  return hold;
}

/* Scratch per thread: one band of columns, then the held rows of every
 * output channel [cout, hold*ow]. */
static void fused_sizes(const conv_state *s, const mgc_layer *pool, size_t *cols,
                        size_t *rows, size_t *wb) {
  *cols = (s->k + 1) * (size_t)chunk_rows(s) * s->ow;
  *rows = (size_t)s->cout * (size_t)fused_hold(s, pool) * s->ow;
  *wb = fold_bias(s, 1) ? (size_t)s->cout * (s->k + 1) : 0;
}

/* Only where every sample takes the banded path (single-sample groups)
 * and the next layer reads its input by row windows. */
static size_t conv_fused_workspace(const mgc_layer *l, const mgc_layer *next, int batch) {
  const conv_state *s = l->state;
  if (!next->ops->window_rows || !next->ops->forward_rows || next->in.ndim != 3 ||
      l->out.ndim != 3 || group_size(s, batch) != 1 || chunk_rows(s) >= s->oh)
    return 0;
  size_t cols, rows, wb;
  fused_sizes(s, next, &cols, &rows, &wb);
  return wb + (size_t)plan_slots(s, batch) * (cols + rows);
}

typedef struct {
  const conv_state *s;
  const mgc_layer *pool;
  const float *x, *a, *b;
  float *y, *ws;
  int fold, hold;
  size_t cols_n, rows_n, wb_n;
} fused_job;

/* Samples [begin, end): bands as forward_chunked, pooled as they come. */
static void fused_samples(void *ctx, int begin, int end, int slot) {
  const fused_job *j = ctx;
  const conv_state *s = j->s;
  const mgc_layer *pool = j->pool;
  int rows = chunk_rows(s), poh = pool->out.ndim == 3 ? pool->out.d[1] : 1;
  size_t in_sz = (size_t)s->cin * s->h * s->w, out_sz = mgc_shape_size(&pool->out);
  size_t kk = s->k + (size_t)j->fold, ld = (size_t)j->hold * s->ow;
  float *cols = j->ws + j->wb_n + (size_t)slot * (j->cols_n + j->rows_n);
  float *held = cols + j->cols_n;
  for (int n = begin; n < end; n++) {
    const float *x = j->x + (size_t)n * in_sz;
    float *y = j->y + (size_t)n * out_sz;
    int base = 0, oy = 0; /* held holds rows [base, r0) of every channel */
    for (int r0 = 0; r0 < s->oh; r0 += rows) {
      int r1 = r0 + rows < s->oh ? r0 + rows : s->oh, y0, y1;
      size_t m = (size_t)(r1 - r0) * s->ow;
      float *dst = held + (size_t)(r0 - base) * s->ow;
      im2col_rows(s, x, r0, r1, cols);
      if (j->fold)
        for (size_t q = 0; q < m; q++) cols[s->k * m + q] = 1.0f;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, (int)m, (int)kk, 1.0f,
                  j->a, (int)kk, cols, (int)m, 0.0f, dst, (int)ld);
      if (j->b && !j->fold)
        for (int o = 0; o < s->cout; o++) add_scalar_run(dst + o * ld, j->b[o], m);
      int oy1 = oy;
      while (oy1 < poh && (pool->ops->window_rows(pool, oy1, &y0, &y1), y1 <= r1)) oy1++;
      pool->ops->forward_rows(pool, held, ld, base, oy, oy1, y);
      oy = oy1;
      int keep = oy < poh ? (pool->ops->window_rows(pool, oy, &y0, &y1), y0) : r1;
      keep = keep < r1 ? keep : r1;
      if (keep > base && keep < r1)
        for (int o = 0; o < s->cout; o++)
          memmove(held + o * ld, held + o * ld + (size_t)(keep - base) * s->ow,
                  (size_t)(r1 - keep) * s->ow * sizeof(float));
      base = keep;
    }
  }
}

static void conv_forward_fused(mgc_layer *l, const mgc_layer *next, const float *x, float *y,
                               int batch, float *ws) {
  const conv_state *s = l->state;
  const float *w = l->params[0].value, *b = s->bias ? l->params[1].value : NULL;
  fused_job j = {.s = s, .pool = next, .x = x, .y = y, .ws = ws, .b = b,
                 .fold = fold_bias(s, 1), .hold = fused_hold(s, next)};
  fused_sizes(s, next, &j.cols_n, &j.rows_n, &j.wb_n);
  j.a = j.fold ? ws : w;
  if (j.fold)
    for (int o = 0; o < s->cout; o++) {
      memcpy(ws + o * (s->k + 1), w + o * s->k, s->k * sizeof(float));
      ws[o * (s->k + 1) + s->k] = b[o];
    }
  mgc_parallel_for(batch, 1, s->slots, fused_samples, &j);
}

/* Bias gradient of channels [begin, end): each a sum over the batch in
 * sample order. */
static void bias_grad(void *ctx, int begin, int end, int slot) {
  const conv_job *j = ctx;
  const conv_state *s = j->s;
  size_t out_sz = (size_t)s->cout * s->p;
  for (int o = begin; o < end; o++) {
    double acc = 0;
    for (int n = 0; n < j->batch; n++) acc += sum_run(j->dy + n * out_sz + o * s->p, s->p);
    j->db[o] = (float)acc;
  }
}

/* Backward of groups [begin, end): the group's share of dW (into dW itself
 * when there is one group) and its part of dX. */
static void backward_groups(void *ctx, int begin, int end, int slot) {
  const conv_job *j = ctx;
  const conv_state *s = j->s;
  size_t in_sz = (size_t)s->cin * s->h * s->w, out_sz = (size_t)s->cout * s->p;
  size_t wsz = (size_t)s->cout * s->k;
  int g = j->g;
  conv_ws sp = ws_layout(s, g, 1, j->ws, slot);
  for (int gi = begin; gi < end; gi++) {
    int b0 = gi * g, gn = j->batch - b0 < g ? j->batch - b0 : g;
    size_t ld = (size_t)gn * s->p;
    const float *cols = columns(s, j->x + b0 * in_sz, gn, sp.cols);
    const float *dyg = j->dy + b0 * out_sz;
    if (gn > 1) { /* gather dY of the group into [cout, gn*p] to match cols */
      for (int n = 0; n < gn; n++)
        for (int o = 0; o < s->cout; o++)
          memcpy(sp.tmp + o * ld + n * s->p, dyg + n * out_sz + o * s->p,
                 s->p * sizeof(float));
      dyg = sp.tmp;
    }
    float *dwg = j->groups > 1 ? s->dwp + (size_t)gi * wsz : j->dw;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, (int)s->k, (int)ld, 1.0f,
                dyg, (int)ld, cols, (int)ld, 0.0f, dwg, (int)s->k);
    if (!j->dx) continue;
    float *dxb = j->dx + b0 * in_sz;
    if (s->direct && gn == 1) { /* the columns are dX itself */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s->k, (int)s->p, s->cout, 1.0f,
                  j->w, (int)s->k, dyg, (int)s->p, 0.0f, dxb, (int)s->p);
      continue;
    }
    /* dcols = W^T . dY into the columns buffer, whose content is spent. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s->k, (int)ld, s->cout, 1.0f,
                j->w, (int)s->k, dyg, (int)ld, 0.0f, sp.cols, (int)ld);
    col2im(s, sp.cols, gn, dxb);
  }
}

/* dW[e] for e in [begin, end): the groups' shares added in group order,
 * whichever threads computed them. */
static void reduce_dw(void *ctx, int begin, int end, int slot) {
  const conv_job *j = ctx;
  size_t wsz = (size_t)j->s->cout * j->s->k;
  float *restrict d = j->dw + begin;
  size_t n = (size_t)(end - begin);
  memcpy(d, j->s->dwp + begin, n * sizeof(float));
  for (int gi = 1; gi < j->groups; gi++) add_run(d, j->s->dwp + gi * wsz + begin, (int)n);
}

static void conv_backward(mgc_layer *l, const float *x, const float *y, const float *dy,
                          float *dx, int batch, float *ws) {
  const conv_state *s = l->state;
  conv_job j = {.s = s, .x = x, .dy = dy, .dx = dx, .w = l->params[0].value,
                .dw = l->params[0].grad, .db = s->bias ? l->params[1].grad : NULL,
                .batch = batch, .ws = ws};
  j.g = group_size(s, batch);
  j.groups = n_groups(s, batch);
  /* the bias and the reduction need no scratch: any number of threads */
  const int any = MGC_PARALLEL_MAX_THREADS;
  if (s->bias)
    mgc_parallel_for(s->cout, mgc_parallel_grain((size_t)batch * s->p), any, bias_grad, &j);
  mgc_parallel_for(j.groups, 1, s->slots, backward_groups, &j);
  if (j.groups > 1)
    mgc_parallel_for((int)(s->cout * s->k), mgc_parallel_grain((size_t)j.groups), any,
                     reduce_dw, &j);
}

static void conv_destroy(mgc_layer *l) {
  conv_state *s = l->state;
  if (s) free(s->dwp);
  free(s);
}

static const mgc_layer_ops k_conv2d = {.type = "conv2d",
                                       .workspace = conv_workspace,
                                       .plan = conv_plan,
                                       .forward = conv_forward,
                                       .backward = conv_backward,
                                       .destroy = conv_destroy,
                                       .fused_workspace = conv_fused_workspace,
                                       .forward_fused = conv_forward_fused};
static const mgc_layer_ops k_conv1d = {.type = "conv1d",
                                       .workspace = conv_workspace,
                                       .plan = conv_plan,
                                       .forward = conv_forward,
                                       .backward = conv_backward,
                                       .destroy = conv_destroy};

/* True (and the option marked used) when `key` is the bare word `word`. */
static int spec_is_word(mgc_layer_spec *spec, const char *key, const char *word) {
  for (int i = 0; i < spec->n_opts; i++)
    if (!strcmp(spec->opt[i].key, key) && !spec->opt[i].is_list &&
        !strcmp(spec->opt[i].item[0], word)) {
      spec->opt[i].used = 1;
      return 1;
    }
  return 0;
}

/* Read the options as pairs (conv1d: single integers, first element set to
 * the 1-D value, second to the H dimension's neutral value). */
static mgc_status conv_options(mgc_layer_spec *spec, int is1d, int kernel[2], int stride[2],
                               int pad[2], int dil[2], int *same) {
  const int big = 1 << 16;
  mgc_status st;
  *same = spec_is_word(spec, "padding", "same");
  if (is1d) {
    if ((st = mgc_spec_int(spec, "kernel", 0, 1, big, &kernel[1])) ||
        (st = mgc_spec_int(spec, "stride", 1, 1, big, &stride[1])) ||
        (!*same && (st = mgc_spec_int(spec, "padding", 0, 0, big, &pad[1]))) ||
        (st = mgc_spec_int(spec, "dilation", 1, 1, big, &dil[1])))
      return st;
    kernel[0] = stride[0] = dil[0] = 1;
    pad[0] = 0;
  } else {
    if ((st = mgc_spec_int2(spec, "kernel", 0, 1, big, kernel)) ||
        (st = mgc_spec_int2(spec, "stride", 1, 1, big, stride)) ||
        (!*same && (st = mgc_spec_int2(spec, "padding", 0, 0, big, pad))) ||
        (st = mgc_spec_int2(spec, "dilation", 1, 1, big, dil)))
      return st;
  }
  if (kernel[1] == 0) return mgc_error_set(MGC_EINVAL, "'kernel' (kernel size) is required");
  if (*same) {
    /* PyTorch pads asymmetrically for an even d*(k-1) and refuses 'same'
     * with a stride; we only take the symmetric case. */
    if (stride[0] != 1 || stride[1] != 1)
      return mgc_error_set(MGC_EINVAL, "'padding' same needs stride 1");
    for (int a = 0; a < 2; a++) {
      int span = dil[a] * (kernel[a] - 1);
      if (span % 2)
        return mgc_error_set(MGC_EINVAL,
                             "'padding' same needs an odd kernel (dilation*(kernel-1) even) "
                             "so that both sides get the same padding");
      pad[a] = span / 2;
    }
  }
  return MGC_OK;
}

mgc_status mgc_conv_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                           mgc_layer **out) {
  int is1d = strcmp(spec->type, "conv1d") == 0;
  int n_out, bias, same, kernel[2], stride[2], pad[2], dil[2];
  mgc_status st;
  if ((st = mgc_spec_int(spec, "out", 0, 1, 1 << 24, &n_out)) ||
      (st = conv_options(spec, is1d, kernel, stride, pad, dil, &same)) ||
      (st = mgc_spec_bool(spec, "bias", 1, &bias)))
    return st;
  if (n_out == 0)
    return mgc_error_set(MGC_EINVAL, "'out' (number of output channels) is required");
  if (is1d && in->ndim != 2)
    return mgc_error_set(MGC_EINVAL, "conv1d needs a map [C, L]%s",
                         in->ndim == 3 ? "; use conv2d for [C, H, W]" : "");
  if (!is1d && in->ndim != 3)
    return mgc_error_set(MGC_EINVAL, "conv2d needs a map [C, H, W]%s",
                         in->ndim == 2 ? "; use conv1d for [C, L]" : "");
  int h = is1d ? 1 : in->d[1], w = in->d[in->ndim - 1];
  long oh = ((long)h + 2L * pad[0] - (long)dil[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
  long ow = ((long)w + 2L * pad[1] - (long)dil[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
  if ((long)h + 2L * pad[0] < (long)dil[0] * (kernel[0] - 1) + 1 ||
      (long)w + 2L * pad[1] < (long)dil[1] * (kernel[1] - 1) + 1) {
    if (is1d)
      return mgc_error_set(MGC_EINVAL,
                           "'kernel' %d (dilation %d) is larger than the input length %d "
                           "padded by %d on each side",
                           kernel[1], dil[1], w, pad[1]);
    return mgc_error_set(MGC_EINVAL,
                         "'kernel' [%d, %d] (dilation [%d, %d]) is larger than the input "
                         "%dx%d padded by [%d, %d] on each side",
                         kernel[0], kernel[1], dil[0], dil[1], h, w, pad[0], pad[1]);
  }
  mgc_layer *l;
  if ((st = mgc_layer_alloc(is1d ? &k_conv1d : &k_conv2d, spec, in, 2, &l))) return st;
  conv_state *s = calloc(1, sizeof *s);
  if (!s) {
    mgc_layer_free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->state = s;
  s->cin = in->d[0];
  s->cout = n_out;
  s->h = h;
  s->w = w;
  s->oh = (int)oh;
  s->ow = (int)ow;
  s->kh = kernel[0], s->kw = kernel[1];
  s->sh = stride[0], s->sw = stride[1];
  s->ph = pad[0], s->pw = pad[1];
  s->dh = dil[0], s->dw = dil[1];
  s->bias = bias;
  s->k = (size_t)s->cin * s->kh * s->kw;
  s->p = (size_t)oh * (size_t)ow;
  s->direct = s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && !s->ph && !s->pw;
  l->out = is1d ? mgc_shape_make(2, n_out, (int)ow, 0) : mgc_shape_make(3, n_out, (int)oh, (int)ow);
  /* PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight and the
   * same bound for the bias, both U(+-1/sqrt(fan_in)). */
  float bound = 1.0f / sqrtf((float)s->k);
  mgc_param *p;
  st = is1d ? mgc_layer_add_param(l, "weight", 1, 3, (int[]){n_out, s->cin, s->kw}, &p)
            : mgc_layer_add_param(l, "weight", 1, 4, (int[]){n_out, s->cin, s->kh, s->kw}, &p);
  if (st) goto fail;
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
