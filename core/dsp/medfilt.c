#include "mgc/dsp/medfilt.h"

#include <math.h>
#include <string.h>

/* A window of width k is stored as win[0] = -inf, win[1..k] the values in
 * ascending order, then +inf up to k rounded up to 4 plus two more, so that
 * whole 4-float groups can be compared and shifted by one either way. */
static size_t padded(int k) { return ((size_t)(k > 0 ? k : 1) + 3) & ~(size_t)3; }

size_t mgc_medfilt_work_size(int k) { return padded(k) + 4; }

size_t mgc_medfilt_reflect(long long i, size_t n) {
  const long long p = 2 * (long long)n;
  long long m = i % p;
  if (m < 0) m += p;
  return (size_t)(m < (long long)n ? m : p - 1 - m);
}

static void window_start(float *win, int k) {
  const size_t s = mgc_medfilt_work_size(k);
  win[0] = -INFINITY;
  for (size_t i = 1; i < s; i++) win[i] = INFINITY;
}

/* Insertion into the first len values (the rest are +inf). */
static void window_insert(float *win, int len, float v) {
  float *w = win + 1;
  int j = len;
  while (j > 0 && w[j - 1] > v) {
    w[j] = w[j - 1];
    j--;
  }
  w[j] = v;
}

float mgc_medfilt_window_init(float *win, int k, const float *v) {
  window_start(win, k);
  for (int i = 0; i < k; i++) window_insert(win, i, v[i]);
  return win[1 + k / 2];
}

/* Remove the value at a = #(w < leaving) (an equal value is as good as the
 * same one) and insert `entering` at b = #(w without it < entering); then
 * new[i] = i < b ? old[i < a ? i : i + 1] : i == b ? entering
 *                : old[i <= a ? i - 1 : i].
 * Positions past k keep +inf (neither i < b nor i <= a holds there). */
#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

static inline v4i load4(const float *p) {
  v4i v;
  memcpy(&v, p, sizeof v);
  return v;
}

float mgc_medfilt_window_slide(float *win, int k, float leaving, float entering) {
  const size_t k4 = padded(k);
  float *w = win + 1;
  const v4f vl = {leaving, leaving, leaving, leaving}, ve = {entering, entering, entering, entering};
  v4i ca = {0, 0, 0, 0}, cb = ca;
  for (size_t i = 0; i < k4; i += 4) {
    v4f x;
    memcpy(&x, w + i, sizeof x);
    ca += x < vl; /* -1 where true */
    cb += x < ve;
  }
  const int a = -(ca[0] + ca[1] + ca[2] + ca[3]);
  const int b = -(cb[0] + cb[1] + cb[2] + cb[3]) - (leaving < entering);
  const v4i va = {a, a, a, a}, vb = {b, b, b, b}, four = {4, 4, 4, 4}, ent = (v4i)ve;
  v4i idx = {0, 1, 2, 3};
  v4i wm = load4(w - 1);
  for (size_t i = 0; i < k4; i += 4) {
    const v4i w0 = load4(w + i), wp = load4(w + i + 1);
    const v4i next_wm = load4(w + i + 3); /* read before this group is stored */
    const v4i lt_a = idx < va, le_a = idx <= va, lt_b = idx < vb, eq_b = idx == vb;
    const v4i before = (lt_a & w0) | (~lt_a & wp);
    const v4i after = (le_a & wm) | (~le_a & w0);
    const v4i rest = (eq_b & ent) | (~eq_b & after);
    const v4f r = (v4f)((lt_b & before) | (~lt_b & rest));
    memcpy(w + i, &r, sizeof r);
    wm = next_wm;
    idx += four;
  }
  return w[k / 2];
}
#else
float mgc_medfilt_window_slide(float *win, int k, float leaving, float entering) {
  float *w = win + 1;
  int a = 0, b = 0;
  for (int i = 0; i < k; i++) {
    a += w[i] < leaving;
    b += w[i] < entering;
  }
  b -= leaving < entering;
  float prev = w[-1];
  for (int i = 0; i < k; i++) {
    const float cur = w[i], next = w[i + 1];
    w[i] = i < b ? (i < a ? cur : next) : i == b ? entering : (i <= a ? prev : cur);
    prev = cur;
  }
  return w[k / 2];
}
#endif

mgc_status mgc_medfilt1d(const float *x, size_t n, size_t stride, int k, float *out, size_t out_stride,
                         float *work) {
  if (k < 1 || !(k & 1)) return mgc_error_set(MGC_EINVAL, "median filter: width %d must be odd and >= 1", k);
  if (n == 0) return MGC_OK;
  const size_t h = (size_t)(k / 2);
  window_start(work, k);
  for (int j = 0; j < k; j++) window_insert(work, j, x[mgc_medfilt_reflect(j - (long long)h, n) * stride]);
  out[0] = work[1 + h];
  for (size_t i = 1; i < n; i++) {
    const size_t lo = i > h ? i - 1 - h : mgc_medfilt_reflect((long long)i - 1 - (long long)h, n);
    const size_t hi = i + h < n ? i + h : mgc_medfilt_reflect((long long)(i + h), n);
    out[i * out_stride] = mgc_medfilt_window_slide(work, k, x[lo * stride], x[hi * stride]);
  }
  return MGC_OK;
}
