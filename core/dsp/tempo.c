#include "mgc/dsp/tempo.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/hann.h"

#include "fftw_lock.h"

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

mgc_status mgc_onset_strength(const float *S, size_t T, int n_bands, int n_fft, int hop_length,
                              mgc_onset_aggregate agg, float *env) {
  if (n_bands < 1 || n_fft < 1 || hop_length < 1 || (agg != MGC_ONSET_MEAN && agg != MGC_ONSET_MEDIAN))
    return mgc_error_set(MGC_EINVAL, "onset strength: bad parameters (%d bands, n_fft %d, hop %d)", n_bands, n_fft,
                         hop_length);
  const size_t nb = (size_t)n_bands;
  const size_t shift = (size_t)(n_fft / (2 * hop_length));
  float *d = malloc(sizeof(float) * nb);
  if (!d) return mgc_error_set(MGC_ENOMEM, "onset strength: out of memory");
  for (size_t t = 0; t < T; t++) {
    if (t < shift + 1) {
      env[t] = 0.0f;
      continue;
    }
    const float *cur = S + (t - shift) * nb, *prev = cur - nb;
    for (size_t b = 0; b < nb; b++) {
      const float v = cur[b] - prev[b];
      d[b] = v > 0.0f ? v : 0.0f;
    }
    if (agg == MGC_ONSET_MEDIAN) {
      qsort(d, nb, sizeof(float), cmp_float);
      /* np.median: the mean of the two middle values for an even count */
      env[t] = (nb & 1) ? d[nb / 2] : (d[nb / 2 - 1] + d[nb / 2]) * 0.5f;
    } else {
      double s = 0.0;
      for (size_t b = 0; b < nb; b++) s += d[b];
      env[t] = (float)(s / (double)nb);
    }
  }
  free(d);
  return MGC_OK;
}

void mgc_tempo_params_default(mgc_tempo_params *p) {
  p->start_bpm = 120.0;
  p->std_bpm = 1.0;
  p->ac_size = 8.0;
  p->max_tempo = 320.0;
}

mgc_status mgc_tempo_estimate(const float *env, size_t n, int sr, int hop_length, const mgc_tempo_params *p,
                              double *bpm) {
  *bpm = NAN;
  if (!env || n == 0) return mgc_error_set(MGC_EINVAL, "tempo: empty onset envelope");
  if (sr <= 0 || hop_length < 1 || !(p->start_bpm > 0.0) || !(p->std_bpm > 0.0) || !(p->ac_size > 0.0) ||
      !isfinite(p->start_bpm) || !isfinite(p->std_bpm) || !isfinite(p->ac_size) || isnan(p->max_tempo))
    return mgc_error_set(MGC_EINVAL, "tempo: bad parameters (sr %d, hop %d, start_bpm %g, std_bpm %g, ac_size %g)",
                         sr, hop_length, p->start_bpm, p->std_bpm, p->ac_size);
  /* librosa.time_to_frames(ac_size): samples truncated, then floor-divided. */
  const long long win_ll = (long long)(p->ac_size * sr) / hop_length;
  if (win_ll < 1 || win_ll > (1 << 20))
    return mgc_error_set(MGC_EINVAL, "tempo: autocorrelation window of %lld frames", win_ll);
  const size_t win = (size_t)win_ll, h = win / 2;
  size_t M = 1;
  while (M < 2 * win - 1) M <<= 1; /* zero-padded: linear, not circular, correlation */
  const size_t mb = M / 2 + 1;
  mgc_status st = MGC_OK;
  float *x = malloc(sizeof(float) * (n + 2 * h));
  float *w = malloc(sizeof(float) * win);
  double *tg = calloc(win, sizeof(double));
  float *r = fftwf_malloc(sizeof(float) * M);
  fftwf_complex *c = fftwf_malloc(sizeof(fftwf_complex) * mb);
  fftwf_plan fwd = NULL, inv = NULL;
  if (!x || !w || !tg || !r || !c) {
    st = mgc_error_set(MGC_ENOMEM, "tempo: out of memory");
    goto done;
  }
  mgc_fftw_planner_lock();
  fwd = fftwf_plan_dft_r2c_1d((int)M, r, c, FFTW_ESTIMATE);
  inv = fftwf_plan_dft_c2r_1d((int)M, c, r, FFTW_ESTIMATE);
  mgc_fftw_planner_unlock();
  if (!fwd || !inv) {
    st = mgc_error_set(MGC_ENOMEM, "tempo: FFTW could not plan a %zu-point transform", M);
    goto done;
  }
  /* tempogram: np.pad(mode='linear_ramp', end_values 0) by win/2 each side. */
  for (size_t j = 0; j < h; j++) {
    x[j] = (float)((double)env[0] * (double)j / (double)h);
    x[h + n + j] = (float)((double)env[n - 1] * (double)(h - 1 - j) / (double)h);
  }
  memcpy(x + h, env, sizeof(float) * n);
  mgc_hann_fill(w, win);
  for (size_t t = 0; t < n; t++) {
    for (size_t i = 0; i < win; i++) r[i] = x[t + i] * w[i];
    memset(r + win, 0, sizeof(float) * (M - win));
    fftwf_execute(fwd);
    for (size_t k = 0; k < mb; k++) {
      c[k][0] = c[k][0] * c[k][0] + c[k][1] * c[k][1];
      c[k][1] = 0.0f;
    }
    fftwf_execute(inv);
    /* util.normalize(norm=inf) per frame; all-zero frames stay zero. */
    float mx = 0.0f;
    for (size_t k = 0; k < win; k++) mx = fmaxf(mx, fabsf(r[k]));
    if (mx < FLT_MIN) continue;
    const double g = 1.0 / (double)mx;
    for (size_t k = 0; k < win; k++) tg[k] += (double)r[k] * g;
  }
  /* Mean over time, log-normal prior over log2 BPM, lags faster than
   * max_tempo (and lag 0) excluded. The prior multiplies the tempogram as in
   * librosa 0.7; 0.8's log1p(1e6 tg) + log prior picks the same lag unless
   * tg is below ~1e-5. */
  size_t best = 0;
  double best_v = 0.0;
  int killing = 1;
  for (size_t k = 1; k < win; k++) {
    const double b = 60.0 * sr / ((double)hop_length * (double)k);
    if (killing && b < p->max_tempo) killing = 0;
    if (killing) continue;
    const double z = (log2(b) - log2(p->start_bpm)) / p->std_bpm;
    const double v = tg[k] / (double)n * exp(-0.5 * z * z);
    if (v > best_v) {
      best_v = v;
      best = k;
    }
  }
  *bpm = best == 0 ? p->start_bpm : 60.0 * sr / ((double)hop_length * (double)best);
done:
  if (fwd || inv) {
    mgc_fftw_planner_lock();
    if (fwd) fftwf_destroy_plan(fwd);
    if (inv) fftwf_destroy_plan(inv);
    mgc_fftw_planner_unlock();
  }
  free(x);
  free(w);
  free(tg);
  fftwf_free(r);
  fftwf_free(c);
  return st;
}
