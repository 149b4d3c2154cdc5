#include "mgc/dsp/mel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Each band's triangle covers a contiguous run of FFT bins; storing only that
 * run makes the filterbank ~60x cheaper than a dense 128 x 1025 product. */
struct mgc_mel {
  int n_mels, n_bins;
  int *start, *len; /* per band: first bin and number of bins */
  float **w;        /* per band: len weights */
};

/* Slaney's auditory-toolbox scale: linear below 1 kHz, logarithmic above. */
#define F_SP (200.0 / 3.0)
#define MIN_LOG_HZ 1000.0
#define MIN_LOG_MEL (MIN_LOG_HZ / F_SP)
#define LOGSTEP (0.06875177742094912) /* log(6.4) / 27 */

double mgc_hz_to_mel(double hz, mgc_mel_scale scale) {
  if (scale == MGC_MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0);
  if (hz >= MIN_LOG_HZ) return MIN_LOG_MEL + log(hz / MIN_LOG_HZ) / LOGSTEP;
  return hz / F_SP;
}

double mgc_mel_to_hz(double mel, mgc_mel_scale scale) {
  if (scale == MGC_MEL_HTK) return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
  if (mel >= MIN_LOG_MEL) return MIN_LOG_HZ * exp(LOGSTEP * (mel - MIN_LOG_MEL));
  return F_SP * mel;
}

mgc_status mgc_mel_new(const mgc_frontend_params *p, mgc_mel **out) {
  *out = NULL;
  mgc_status st = mgc_frontend_params_validate(p);
  if (st) return st;
  const int nm = p->n_mels, nb = p->n_fft / 2 + 1;
  mgc_mel *m = calloc(1, sizeof *m);
  double *mel_f = malloc(sizeof(double) * (size_t)(nm + 2));
  float *row = malloc(sizeof(float) * (size_t)nb);
  if (!m || !mel_f || !row) goto oom;
  m->n_mels = nm;
  m->n_bins = nb;
  m->start = calloc((size_t)nm, sizeof(int));
  m->len = calloc((size_t)nm, sizeof(int));
  m->w = calloc((size_t)nm, sizeof(float *));
  if (!m->start || !m->len || !m->w) goto oom;

  /* Band edges equally spaced in mel between fmin and fmax (n_mels + 2 points). */
  const double lo = mgc_hz_to_mel(p->fmin, p->mel_scale);
  const double hi = mgc_hz_to_mel(mgc_frontend_params_fmax(p), p->mel_scale);
  for (int i = 0; i < nm + 2; i++) {
    /* np.linspace: lo + i * step, last point exactly hi */
    double mel = (i == nm + 1) ? hi : lo + i * ((hi - lo) / (nm + 1));
    mel_f[i] = mgc_mel_to_hz(mel, p->mel_scale);
  }
  for (int b = 0; b < nm; b++) {
    const double fd0 = mel_f[b + 1] - mel_f[b], fd1 = mel_f[b + 2] - mel_f[b + 1];
    const double enorm =
        p->mel_norm == MGC_MELNORM_SLANEY ? 2.0 / (mel_f[b + 2] - mel_f[b]) : 1.0;
    int first = -1, last = -1;
    /* Only bins with mel_f[b] <= f <= mel_f[b+2] can be non-zero (outside,
     * one ramp is negative); scan that range plus one bin of margin. */
    const double bin_hz = (double)p->sample_rate / p->n_fft;
    int k0 = (int)floor(mel_f[b] / bin_hz) - 1, k1 = (int)ceil(mel_f[b + 2] / bin_hz) + 1;
    if (k0 < 0) k0 = 0;
    if (k1 > nb - 1) k1 = nb - 1;
    for (int k = k0; k <= k1; k++) {
      const double f = (double)k * p->sample_rate / p->n_fft;
      const double lower = (f - mel_f[b]) / fd0;     /* -ramps[i] / fdiff[i] */
      const double upper = (mel_f[b + 2] - f) / fd1; /* ramps[i+2] / fdiff[i+1] */
      double v = fmax(0.0, fmin(lower, upper));
      /* librosa stores the triangle in float32, then scales it by enorm in
       * double and rounds again: same two roundings here. */
      row[k] = (float)((double)(float)v * enorm);
      if (row[k] != 0.0f) {
        if (first < 0) first = k;
        last = k;
      }
    }
    if (first < 0) { /* empty band (too many mels for n_fft): one zero weight */
      first = last = 0;
      row[0] = 0.0f;
    }
    m->start[b] = first;
    m->len[b] = last - first + 1;
    m->w[b] = malloc(sizeof(float) * (size_t)m->len[b]);
    if (!m->w[b]) goto oom;
    memcpy(m->w[b], row + first, sizeof(float) * (size_t)m->len[b]);
  }
  free(mel_f);
  free(row);
  *out = m;
  return MGC_OK;
oom:
  free(mel_f);
  free(row);
  mgc_mel_free(m);
  return mgc_error_set(MGC_ENOMEM, "mel: out of memory");
}

void mgc_mel_weights(const mgc_mel *m, float *dense) {
  memset(dense, 0, sizeof(float) * (size_t)m->n_mels * (size_t)m->n_bins);
  for (int b = 0; b < m->n_mels; b++)
    memcpy(dense + (size_t)b * m->n_bins + m->start[b], m->w[b], sizeof(float) * (size_t)m->len[b]);
}

void mgc_mel_process(const mgc_mel *m, const float *power, float *mel) {
  for (int b = 0; b < m->n_mels; b++) {
    const float *restrict w = m->w[b];
    const float *restrict x = power + m->start[b];
    const int len = m->len[b];
    /* Four independent partial sums let the compiler vectorise; a single
     * accumulator is a serial dependency chain it must keep in order. */
    float acc4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int k = 0;
    for (; k + 4 <= len; k += 4)
      for (int j = 0; j < 4; j++) acc4[j] += w[k + j] * x[k + j];
    float acc = (acc4[0] + acc4[2]) + (acc4[1] + acc4[3]);
    for (; k < len; k++) acc += w[k] * x[k];
    mel[b] = acc;
  }
}

void mgc_power_to_db(float *x, size_t n, double amin, double ref) {
  const float famin = (float)amin;
  const float offset = (float)(10.0 * log10(fmax(ref, amin)));
  /* logf times a constant, with the max inline: glibc's log10f and fmaxf are
   * out-of-line calls and were a quarter of the front-end's time. The
   * comparison form keeps fmaxf's NaN -> amin behaviour. */
  const float k = (float)(10.0 / M_LN10);
  for (size_t i = 0; i < n; i++) {
    const float v = x[i] > famin ? x[i] : famin;
    x[i] = k * logf(v) - offset;
  }
}

void mgc_db_clip_top(float *db, size_t n, double top_db) {
  if (top_db <= 0.0 || n == 0) return;
  float mx = db[0];
  for (size_t i = 1; i < n; i++) mx = fmaxf(mx, db[i]);
  const float floor_db = mx - (float)top_db;
  for (size_t i = 0; i < n; i++) db[i] = fmaxf(db[i], floor_db);
}

void mgc_mel_free(mgc_mel *m) {
  if (!m) return;
  if (m->w)
    for (int b = 0; b < m->n_mels; b++) free(m->w[b]);
  free(m->w);
  free(m->start);
  free(m->len);
  free(m);
}
