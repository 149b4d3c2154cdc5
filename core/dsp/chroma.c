#include "mgc/dsp/chroma.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mgc_chroma {
  int n_chroma, n_bins;
  float *w; /* [n_chroma][n_bins] */
};

/* numpy's remainder: result has the sign of the divisor. */
static double py_mod(double a, double b) {
  double r = fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

mgc_status mgc_chroma_new(int sr, int n_fft, int n_chroma, double tuning, mgc_chroma **out) {
  *out = NULL;
  if (sr <= 0 || n_fft < 4 || (n_fft & 1) || n_chroma < 1 || !isfinite(tuning))
    return mgc_error_set(MGC_EINVAL, "chroma: bad parameters (sr %d, n_fft %d, n_chroma %d, tuning %g)",
                         sr, n_fft, n_chroma, tuning);
  const int nb = n_fft / 2 + 1;
  mgc_chroma *c = calloc(1, sizeof *c);
  double *frq = malloc(sizeof(double) * (size_t)n_fft);
  double *bw = malloc(sizeof(double) * (size_t)n_fft);
  double *wts = malloc(sizeof(double) * (size_t)n_chroma * (size_t)n_fft);
  if (!c || !frq || !bw || !wts) {
    free(c); free(frq); free(bw); free(wts);
    return mgc_error_set(MGC_ENOMEM, "chroma: out of memory");
  }
  c->n_chroma = n_chroma;
  c->n_bins = nb;
  c->w = malloc(sizeof(float) * (size_t)n_chroma * (size_t)nb);
  if (!c->w) {
    free(c); free(frq); free(bw); free(wts);
    return mgc_error_set(MGC_ENOMEM, "chroma: out of memory");
  }
  /* librosa.filters.chroma, step by step (all n_fft bins, then cut to nb). */
  const double a440 = 440.0 * pow(2.0, tuning / n_chroma);
  for (int k = 1; k < n_fft; k++) {
    double f = (double)k * sr / n_fft;
    frq[k] = n_chroma * log2(f / (a440 / 16.0));
  }
  frq[0] = frq[1] - 1.5 * n_chroma; /* DC: pretend it is 1.5 octaves below bin 1 */
  for (int k = 0; k < n_fft - 1; k++) bw[k] = fmax(frq[k + 1] - frq[k], 1.0);
  bw[n_fft - 1] = 1.0;
  const double half = round(n_chroma / 2.0);
  for (int ch = 0; ch < n_chroma; ch++)
    for (int k = 0; k < n_fft; k++) {
      double d = py_mod(frq[k] - ch + half + 10.0 * n_chroma, n_chroma) - half;
      double z = 2.0 * d / bw[k];
      wts[(size_t)ch * n_fft + k] = exp(-0.5 * z * z);
    }
  for (int k = 0; k < n_fft; k++) { /* unit L2 norm per frequency column */
    double ss = 0.0;
    for (int ch = 0; ch < n_chroma; ch++) ss += wts[(size_t)ch * n_fft + k] * wts[(size_t)ch * n_fft + k];
    double len = sqrt(ss);
    if (len < DBL_MIN) len = 1.0;
    const double g = (frq[k] / n_chroma - 5.0) / 2.0; /* octave weighting: ctroct 5, octwidth 2 */
    const double oct = exp(-0.5 * g * g);
    for (int ch = 0; ch < n_chroma; ch++) wts[(size_t)ch * n_fft + k] = wts[(size_t)ch * n_fft + k] / len * oct;
  }
  const int roll = 3 * (n_chroma / 12); /* base_c: start the bins at C, not A */
  for (int ch = 0; ch < n_chroma; ch++) {
    const double *src = wts + (size_t)((ch + roll) % n_chroma) * n_fft;
    for (int k = 0; k < nb; k++) c->w[(size_t)ch * nb + k] = (float)src[k];
  }
  free(frq); free(bw); free(wts);
  *out = c;
  return MGC_OK;
}

void mgc_chroma_process(const mgc_chroma *c, const float *power, float *out) {
  float mx = 0.0f;
  for (int ch = 0; ch < c->n_chroma; ch++) {
    const float *restrict w = c->w + (size_t)ch * c->n_bins;
    double acc = 0.0;
    for (int k = 0; k < c->n_bins; k++) acc += (double)w[k] * power[k];
    out[ch] = (float)acc;
    mx = fmaxf(mx, fabsf(out[ch]));
  }
  /* librosa.util.normalize(norm=inf): frames below the smallest normal float
   * are left unscaled rather than divided by ~0. */
  if (mx >= FLT_MIN)
    for (int ch = 0; ch < c->n_chroma; ch++) out[ch] /= mx;
}

void mgc_chroma_weights(const mgc_chroma *c, float *dense) {
  memcpy(dense, c->w, sizeof(float) * (size_t)c->n_chroma * (size_t)c->n_bins);
}

void mgc_tuning_acc_init(mgc_tuning_acc *a, int sr, int n_fft) {
  *a = (mgc_tuning_acc){.sample_rate = sr, .n_fft = n_fft};
}

mgc_status mgc_tuning_acc_add(mgc_tuning_acc *a, const float *s) {
  /* piptrack(fmin=150, fmax=4000, threshold=0.1): parabolic interpolation of
   * the spectral peaks of the frame. */
  const int sr = a->sample_rate, n_fft = a->n_fft, nb = n_fft / 2 + 1;
  float mx = s[0];
  for (int k = 1; k < nb; k++) mx = fmaxf(mx, s[k]);
  const float ref = 0.1f * mx;
  for (int k = 1; k < nb - 1; k++) {
    const double f = (double)k * sr / n_fft;
    if (f < 150.0 || f >= 4000.0) continue;
    const float lo = s[k - 1] > ref ? s[k - 1] : 0.0f;
    const float mid = s[k] > ref ? s[k] : 0.0f;
    const float hi = s[k + 1] > ref ? s[k + 1] : 0.0f;
    if (!(mid > lo && mid >= hi)) continue;
    float avg = 0.5f * (s[k + 1] - s[k - 1]);
    float sh = 2.0f * s[k] - s[k + 1] - s[k - 1];
    sh = avg / (sh + (fabsf(sh) < FLT_MIN ? 1.0f : 0.0f));
    if (a->n == a->cap) {
      const size_t cap = a->cap ? 2 * a->cap : 4096;
      float *p2 = realloc(a->pitch, sizeof(float) * cap);
      if (p2) a->pitch = p2;
      float *m2 = realloc(a->mag, sizeof(float) * cap);
      if (m2) a->mag = m2;
      if (!p2 || !m2) return mgc_error_set(MGC_ENOMEM, "tuning: out of memory");
      a->cap = cap;
    }
    a->pitch[a->n] = (float)((k + (double)sh) * (double)sr / n_fft);
    a->mag[a->n] = s[k] + 0.5f * avg * sh;
    a->n++;
  }
  return MGC_OK;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

mgc_status mgc_tuning_acc_finish(const mgc_tuning_acc *a, int n_chroma, double *tuning) {
  *tuning = 0.0;
  if (a->n == 0) return MGC_OK;
  /* Keep the peaks at or above the median magnitude of the detected ones. */
  float *sorted = malloc(sizeof(float) * a->n);
  if (!sorted) return mgc_error_set(MGC_ENOMEM, "tuning: out of memory");
  size_t m = 0;
  for (size_t i = 0; i < a->n; i++)
    if (a->pitch[i] > 0) sorted[m++] = a->mag[i];
  float med = 0.0f;
  if (m > 0) {
    qsort(sorted, m, sizeof(float), cmp_float);
    med = (m & 1) ? sorted[m / 2] : (float)(0.5 * ((double)sorted[m / 2 - 1] + sorted[m / 2]));
  }
  free(sorted);
  /* pitch_tuning: histogram of the deviation from the nearest bin, resolution 0.01. */
  enum { NBINS = 100 };
  int counts[NBINS] = {0};
  double edges[NBINS + 1];
  for (int i = 0; i <= NBINS; i++) edges[i] = i == NBINS ? 0.5 : -0.5 + i * (1.0 / NBINS);
  size_t kept = 0;
  for (size_t i = 0; i < a->n; i++) {
    if (!(a->pitch[i] > 0 && a->mag[i] >= med)) continue;
    kept++;
    double octs = log2(a->pitch[i] / (440.0 / 16.0));
    double r = py_mod(n_chroma * octs, 1.0);
    if (r >= 0.5) r -= 1.0;
    int idx = (int)((r + 0.5) * NBINS);
    if (idx >= NBINS) idx = NBINS - 1;
    if (idx < 0) idx = 0;
    if (r < edges[idx]) idx--;
    else if (idx < NBINS - 1 && r >= edges[idx + 1]) idx++;
    if (idx >= 0 && idx < NBINS) counts[idx]++;
  }
  if (kept == 0) return MGC_OK;
  int best = 0;
  for (int i = 1; i < NBINS; i++)
    if (counts[i] > counts[best]) best = i;
  *tuning = edges[best];
  return MGC_OK;
}

void mgc_tuning_acc_free(mgc_tuning_acc *a) {
  free(a->pitch);
  free(a->mag);
  a->pitch = a->mag = NULL;
  a->n = a->cap = 0;
}

mgc_status mgc_chroma_estimate_tuning(const float *S, size_t n_frames, int sr, int n_fft,
                                      int n_chroma, double *tuning) {
  *tuning = 0.0;
  const size_t nb = (size_t)(n_fft / 2 + 1);
  mgc_tuning_acc a;
  mgc_tuning_acc_init(&a, sr, n_fft);
  mgc_status st = MGC_OK;
  for (size_t t = 0; t < n_frames && !st; t++) st = mgc_tuning_acc_add(&a, S + t * nb);
  if (!st) st = mgc_tuning_acc_finish(&a, n_chroma, tuning);
  mgc_tuning_acc_free(&a);
  return st;
}

void mgc_chroma_free(mgc_chroma *c) {
  if (!c) return;
  free(c->w);
  free(c);
}
