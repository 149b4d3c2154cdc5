#include "mgc/dsp/hpss.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fftw_lock.h"
#include "mgc/dsp/frontend.h"
#include "mgc/dsp/medfilt.h"
#include "mgc/dsp/hann.h"

void mgc_hpss_params_default(mgc_hpss_params *p) {
  p->n_fft = 2048;
  p->hop_length = 512;
  p->kernel_harm = 31;
  p->kernel_perc = 31;
  p->power = 2.0;
  p->full_length = 0;
}

/* librosa.util.softmask(X, X_ref, power, split_zeros=True) for one pixel,
 * in float32 as librosa computes it. */
static inline float softmask(float x, float ref, float z, float power, int square) {
  if (z < FLT_MIN) return 0.5f; /* both filters ~0: split evenly */
  const float a = x / z, b = ref / z;
  const float ma = square ? a * a : powf(a, power), mb = square ? b * b : powf(b, power);
  return ma / (ma + mb); /* one of a, b is 1, so the sum is >= 1 */
}

/* Where the finished output samples go: whole signals, or running sums. */
typedef struct {
  float *harm, *perc; /* mgc_hpss's outputs, or NULL */
  int moments;        /* accumulate instead */
  int shifted;        /* shift[] set (from the first block) */
  float shift[2];
  double sum[2], dsum[2], dsq[2]; /* of x, of x - shift, of (x - shift)^2 */
} hpss_sink;

/* Samples j0 .. j0 + cnt of the output. */
static void sink_block(hpss_sink *s, size_t j0, size_t cnt, const float *h, const float *p) {
  if (!s->moments) {
    if (s->harm) memcpy(s->harm + j0, h, sizeof(float) * cnt);
    if (s->perc) memcpy(s->perc + j0, p, sizeof(float) * cnt);
    return;
  }
  const float *x[2] = {h, p};
  for (int c = 0; c < 2; c++) {
    if (!s->shifted) { /* close to the mean, so that the one-pass variance cancels little */
      double m = 0.0;
      for (size_t i = 0; i < cnt; i++) m += x[c][i];
      s->shift[c] = (float)(m / (double)cnt);
    }
    const double sh = s->shift[c];
    double sum = s->sum[c], dsum = s->dsum[c], dsq = s->dsq[c];
    for (size_t i = 0; i < cnt; i++) {
      const double d = (double)x[c][i] - sh;
      sum += x[c][i];
      dsum += d;
      dsq += d * d;
    }
    s->sum[c] = sum;
    s->dsum[c] = dsum;
    s->dsq[c] = dsq;
  }
  s->shifted = 1;
}

/* One separation in progress: the parameters' sizes, the last frames'
 * spectra, the time-median windows, the overlap-add ring and the FFTs. */
typedef struct hpss_state {
  const mgc_hpss_params *p;
  const float *y;
  size_t n, nfft, nb, hop, T, half, kh, h, R, Lr, wsz, limit;
  size_t fin;                    /* padded-signal samples before fin are finished */
  float *win, *mag, *spec, *bank, *hrow, *prow, *work, *col, *blk_h, *blk_p, *rbuf;
  size_t *rows;
  double *acc_h, *acc_p, *wss;
  fftwf_complex *cbuf, *cbuf2;
  fftwf_plan fwd, inv;
  hpss_sink *sink;
} hpss_state;

static void hpss_close(hpss_state *x) {
  if (x->fwd || x->inv) {
    mgc_fftw_planner_lock();
    if (x->fwd) fftwf_destroy_plan(x->fwd);
    if (x->inv) fftwf_destroy_plan(x->inv);
    mgc_fftw_planner_unlock();
  }
  free(x->win);
  free(x->mag);
  free(x->spec);
  free(x->bank);
  free(x->hrow);
  free(x->prow);
  free(x->work);
  free(x->col);
  free(x->rows);
  free(x->acc_h);
  free(x->acc_p);
  free(x->wss);
  free(x->blk_h);
  free(x->blk_p);
  fftwf_free(x->rbuf);
  fftwf_free(x->cbuf);
  fftwf_free(x->cbuf2);
}

static mgc_status hpss_open(hpss_state *x, const float *y, size_t n, const mgc_hpss_params *p, hpss_sink *sink) {
  memset(x, 0, sizeof *x);
  x->p = p, x->y = y, x->n = n, x->sink = sink;
  x->nfft = (size_t)p->n_fft, x->nb = x->nfft / 2 + 1, x->hop = (size_t)p->hop_length;
  x->T = 1 + n / x->hop;                  /* centred frames, as librosa.stft */
  const size_t L = x->nfft + x->hop * (x->T - 1); /* overlap-add length of the istft */
  x->half = x->nfft / 2;
  x->kh = (size_t)p->kernel_harm, x->h = x->kh / 2;
  /* Frames kept: the time median of frame i reads frames i - h - 1 (leaving)
   * to i + h (entering). */
  x->R = x->kh + 1 < x->T ? x->kh + 1 : x->T;
  x->Lr = x->nfft + x->hop; /* overlap-add ring: covers a frame plus the hop being finished */
  x->wsz = mgc_medfilt_work_size(p->kernel_harm);
  /* librosa 0.7 cuts the istft at L - half, then pads to n with zeros. */
  x->limit = p->full_length ? L : L - x->half;
  const size_t nfft = x->nfft, nb = x->nb, R = x->R, Lr = x->Lr;
  x->win = malloc(sizeof(float) * nfft);
  x->mag = malloc(sizeof(float) * R * nb);
  x->spec = malloc(sizeof(float) * 2 * R * nb);
  x->bank = malloc(sizeof(float) * nb * x->wsz); /* one sorted window per bin, along time */
  x->hrow = malloc(sizeof(float) * nb), x->prow = malloc(sizeof(float) * nb);
  x->work = malloc(sizeof(float) * mgc_medfilt_work_size(p->kernel_perc));
  x->col = malloc(sizeof(float) * x->kh);
  x->rows = malloc(sizeof(size_t) * x->kh);
  x->acc_h = calloc(Lr, sizeof(double)), x->acc_p = calloc(Lr, sizeof(double)), x->wss = calloc(Lr, sizeof(double));
  x->blk_h = malloc(sizeof(float) * Lr), x->blk_p = malloc(sizeof(float) * Lr);
  x->rbuf = fftwf_malloc(sizeof(float) * nfft);
  x->cbuf = fftwf_malloc(sizeof(fftwf_complex) * nb);
  x->cbuf2 = fftwf_malloc(sizeof(fftwf_complex) * nb);
  if (!x->win || !x->mag || !x->spec || !x->bank || !x->hrow || !x->prow || !x->work || !x->col || !x->rows ||
      !x->acc_h || !x->acc_p || !x->wss || !x->blk_h || !x->blk_p || !x->rbuf || !x->cbuf || !x->cbuf2)
    return mgc_error_set(MGC_ENOMEM, "hpss: out of memory");
  mgc_fftw_planner_lock();
  x->fwd = fftwf_plan_dft_r2c_1d(p->n_fft, x->rbuf, x->cbuf, FFTW_ESTIMATE);
  x->inv = fftwf_plan_dft_c2r_1d(p->n_fft, x->cbuf, x->rbuf, FFTW_ESTIMATE);
  mgc_fftw_planner_unlock();
  if (!x->fwd || !x->inv) return mgc_error_set(MGC_ENOMEM, "hpss: FFTW could not plan a %d-point transform", p->n_fft);
  mgc_hann_fill(x->win, nfft);
  return MGC_OK;
}

/* Forward STFT of frame f of the reflect-padded signal (librosa.stft),
 * kept with its magnitude in the frame ring. */
static void stft_frame(hpss_state *x, size_t f) {
  const size_t nfft = x->nfft, nb = x->nb;
  const int64_t start = (int64_t)(f * x->hop) - (int64_t)x->half;
  if (start >= 0 && start + (int64_t)nfft <= (int64_t)x->n) {
    const float *src = x->y + start;
    for (size_t i = 0; i < nfft; i++) x->rbuf[i] = x->win[i] * src[i];
  } else {
    for (size_t i = 0; i < nfft; i++)
      x->rbuf[i] = x->win[i] * x->y[mgc_pad_source_index(MGC_PAD_REFLECT, start + (int64_t)i, (int64_t)x->n)];
  }
  fftwf_execute(x->fwd);
  float *sf = x->spec + 2 * (f % x->R) * nb, *mf = x->mag + (f % x->R) * nb;
  memcpy(sf, x->cbuf, sizeof(fftwf_complex) * nb);
  for (size_t k = 0; k < nb; k++) {
    const float re = x->cbuf[k][0], im = x->cbuf[k][1];
    mf[k] = sqrtf(re * re + im * im);
  }
}

/* Output frame i's masked spectra into cbuf (harmonic) and cbuf2
 * (percussive). Harmonic: median across time within each bin; percussive:
 * median across frequency within the frame (scipy median_filter,
 * 'reflect'). */
static mgc_status masked_frame(hpss_state *x, size_t i) {
  const size_t nb = x->nb, kh = x->kh, h = x->h, T = x->T, R = x->R;
  if (i == 0) {
    for (size_t j = 0; j < kh; j++) x->rows[j] = (mgc_medfilt_reflect((long long)j - (long long)h, T) % R) * nb;
    for (size_t k = 0; k < nb; k++) {
      for (size_t j = 0; j < kh; j++) x->col[j] = x->mag[x->rows[j] + k];
      x->hrow[k] = mgc_medfilt_window_init(x->bank + k * x->wsz, x->p->kernel_harm, x->col);
    }
  } else {
    const float *lv = x->mag + (mgc_medfilt_reflect((long long)i - 1 - (long long)h, T) % R) * nb;
    const float *ev = x->mag + (mgc_medfilt_reflect((long long)(i + h), T) % R) * nb;
    for (size_t k = 0; k < nb; k++)
      x->hrow[k] = mgc_medfilt_window_slide(x->bank + k * x->wsz, x->p->kernel_harm, lv[k], ev[k]);
  }
  mgc_status st = mgc_medfilt1d(x->mag + (i % R) * nb, nb, 1, x->p->kernel_perc, x->prow, 1, x->work);
  if (st) return st;
  const float power = (float)x->p->power;
  const int square = x->p->power == 2.0;
  const float *d = x->spec + 2 * (i % R) * nb;
  for (size_t k = 0; k < nb; k++) {
    const float hv = x->hrow[k], q = x->prow[k], z = hv > q ? hv : q;
    const float mh = softmask(hv, q, z, power, square), mp = softmask(q, hv, z, power, square);
    x->cbuf[k][0] = d[2 * k] * mh;
    x->cbuf[k][1] = d[2 * k + 1] * mh;
    x->cbuf2[k][0] = d[2 * k] * mp;
    x->cbuf2[k][1] = d[2 * k + 1] * mp;
  }
  return MGC_OK;
}

/* Padded-signal samples fin .. end are final: normalise them by the
 * window's squared sum and hand them to the sink, up to the ring's end at
 * a time. */
static void finish_until(hpss_state *x, size_t end) {
  const size_t Lr = x->Lr, half = x->half;
  for (size_t s = x->fin; s < end;) {
    const size_t slot = s % Lr, cnt0 = end - s, cnt = cnt0 < Lr - slot ? cnt0 : Lr - slot;
    size_t m = 0, j0 = 0;
    for (size_t q = 0; q < cnt; q++) {
      const size_t ss = s + q, sl = slot + q;
      if (ss >= half && ss - half < x->n) {
        if (!m) j0 = ss - half;
        const int ok = ss < x->limit;
        const double norm = ok && x->wss[sl] > FLT_MIN ? 1.0 / x->wss[sl] : 1.0;
        x->blk_h[m] = ok ? (float)(x->acc_h[sl] * norm) : 0.0f;
        x->blk_p[m] = ok ? (float)(x->acc_p[sl] * norm) : 0.0f;
        m++;
      }
      x->acc_h[sl] = x->acc_p[sl] = x->wss[sl] = 0.0;
    }
    if (m) sink_block(x->sink, j0, m, x->blk_h, x->blk_p);
    s += cnt;
  }
  x->fin = end;
}

/* Inverse FFT of output frame i's masked spectra, windowed and added into
 * the ring (librosa.istft). */
static void overlap_add(hpss_state *x, size_t i, int want_h, int want_p) {
  const size_t nfft = x->nfft, base = (i * x->hop) % x->Lr;
  const size_t n1 = nfft < x->Lr - base ? nfft : x->Lr - base; /* before the ring wraps */
  const float scale = 1.0f / (float)nfft;                        /* FFTW's inverse is unnormalised */
  const float *win = x->win;
  if (want_h) {
    fftwf_execute_dft_c2r(x->inv, x->cbuf, x->rbuf); /* destroys cbuf: filled again next frame */
    for (size_t q = 0; q < n1; q++) x->acc_h[base + q] += (double)(win[q] * (x->rbuf[q] * scale));
    for (size_t q = n1; q < nfft; q++) x->acc_h[q - n1] += (double)(win[q] * (x->rbuf[q] * scale));
  }
  if (want_p) {
    fftwf_execute_dft_c2r(x->inv, x->cbuf2, x->rbuf);
    for (size_t q = 0; q < n1; q++) x->acc_p[base + q] += (double)(win[q] * (x->rbuf[q] * scale));
    for (size_t q = n1; q < nfft; q++) x->acc_p[q - n1] += (double)(win[q] * (x->rbuf[q] * scale));
  }
  for (size_t q = 0; q < n1; q++) x->wss[base + q] += (double)win[q] * (double)win[q];
  for (size_t q = n1; q < nfft; q++) x->wss[q - n1] += (double)win[q] * (double)win[q];
}

/* The whole separation, streamed: frame f's STFT is taken, and once frame
 * i + kernel_harm/2 is in (or the last one), output frame i is filtered,
 * masked, inverted and overlap-added; samples no later frame reaches are
 * finished and handed to the sink. */
static mgc_status hpss_stream(const float *y, size_t n, const mgc_hpss_params *p, int want_h, int want_p,
                              hpss_sink *sink) {
  if (!y || n == 0) return mgc_error_set(MGC_EINVAL, "hpss: empty signal");
  if (p->n_fft < 2 || (p->n_fft & 1) || p->hop_length < 1 || p->kernel_harm < 1 || !(p->kernel_harm & 1) ||
      p->kernel_perc < 1 || !(p->kernel_perc & 1) || !isfinite(p->power) || p->power <= 0.0)
    return mgc_error_set(MGC_EINVAL,
                         "hpss: bad parameters (n_fft %d even >= 2, hop %d >= 1, kernels %d and %d odd, "
                         "power %g finite > 0)",
                         p->n_fft, p->hop_length, p->kernel_harm, p->kernel_perc, p->power);
  hpss_state x;
  mgc_status st = hpss_open(&x, y, n, p, sink);
  size_t next = 0; /* next frame to output */
  for (size_t f = 0; f < x.T && !st; f++) {
    stft_frame(&x, f);
    for (; next < x.T && (next + x.h <= f || f == x.T - 1); next++) {
      if ((st = masked_frame(&x, next))) break;
      /* Frames before this one reach no sample from next * hop on. */
      finish_until(&x, next * x.hop);
      overlap_add(&x, next, want_h, want_p);
    }
  }
  /* All frames are in: finish the rest of the n output samples. Past L no
   * frame reached, the ring holds zeros there and limit <= L gives 0. */
  if (!st) finish_until(&x, x.half + n);
  hpss_close(&x);
  return st;
}

mgc_status mgc_hpss(const float *y, size_t n, const mgc_hpss_params *p, float *harm, float *perc) {
  hpss_sink s = {0};
  s.harm = harm;
  s.perc = perc;
  return hpss_stream(y, n, p, harm != NULL, perc != NULL, &s);
}

mgc_status mgc_hpss_compute_moments(const float *y, size_t n, const mgc_hpss_params *p, mgc_hpss_moments *m) {
  m->harm_mean = m->harm_var = m->perc_mean = m->perc_var = NAN;
  hpss_sink s = {0};
  s.moments = 1;
  mgc_status st = hpss_stream(y, n, p, 1, 1, &s);
  if (st) return st;
  double mean[2], var[2];
  for (int c = 0; c < 2; c++) {
    mean[c] = s.sum[c] / (double)n;
    const double v = (s.dsq[c] - s.dsum[c] * s.dsum[c] / (double)n) / (double)n;
    var[c] = v > 0.0 ? v : 0.0;
  }
  m->harm_mean = mean[0];
  m->harm_var = var[0];
  m->perc_mean = mean[1];
  m->perc_var = var[1];
  return MGC_OK;
}
