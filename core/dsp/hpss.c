#include "mgc/hpss.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fftw_lock.h"
#include "mgc/frontend.h"
#include "mgc/medfilt.h"
#include "mgc/hann.h"

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
  const size_t nfft = (size_t)p->n_fft, nb = nfft / 2 + 1, hop = (size_t)p->hop_length;
  const size_t T = 1 + n / hop;          /* centred frames, as librosa.stft */
  const size_t L = nfft + hop * (T - 1); /* overlap-add length of the istft */
  const size_t half = nfft / 2;
  const size_t kh = (size_t)p->kernel_harm, h = kh / 2;
  /* Frames kept: the time median of frame i reads frames i - h - 1 (leaving)
   * to i + h (entering). */
  const size_t R = kh + 1 < T ? kh + 1 : T;
  const size_t Lr = nfft + hop; /* overlap-add ring: covers a frame plus the hop being finished */
  const size_t wsz = mgc_medfilt_work_size(p->kernel_harm);
  mgc_status st = MGC_OK;
  float *win = malloc(sizeof(float) * nfft);
  float *mag = malloc(sizeof(float) * R * nb);
  float *spec = malloc(sizeof(float) * 2 * R * nb);
  float *bank = malloc(sizeof(float) * nb * wsz); /* one sorted window per bin, along time */
  float *hrow = malloc(sizeof(float) * nb), *prow = malloc(sizeof(float) * nb);
  float *work = malloc(sizeof(float) * mgc_medfilt_work_size(p->kernel_perc));
  float *col = malloc(sizeof(float) * kh);
  size_t *rows = malloc(sizeof(size_t) * kh);
  double *acc_h = calloc(Lr, sizeof(double)), *acc_p = calloc(Lr, sizeof(double)), *wss = calloc(Lr, sizeof(double));
  float *blk_h = malloc(sizeof(float) * Lr), *blk_p = malloc(sizeof(float) * Lr);
  float *rbuf = fftwf_malloc(sizeof(float) * nfft);
  fftwf_complex *cbuf = fftwf_malloc(sizeof(fftwf_complex) * nb);
  fftwf_complex *cbuf2 = fftwf_malloc(sizeof(fftwf_complex) * nb);
  fftwf_plan fwd = NULL, inv = NULL;
  if (!win || !mag || !spec || !bank || !hrow || !prow || !work || !col || !rows || !acc_h || !acc_p || !wss ||
      !blk_h || !blk_p || !rbuf || !cbuf || !cbuf2) {
    st = mgc_error_set(MGC_ENOMEM, "hpss: out of memory");
    goto done;
  }
  mgc_fftw_planner_lock();
  fwd = fftwf_plan_dft_r2c_1d(p->n_fft, rbuf, cbuf, FFTW_ESTIMATE);
  inv = fftwf_plan_dft_c2r_1d(p->n_fft, cbuf, rbuf, FFTW_ESTIMATE);
  mgc_fftw_planner_unlock();
  if (!fwd || !inv) {
    st = mgc_error_set(MGC_ENOMEM, "hpss: FFTW could not plan a %d-point transform", p->n_fft);
    goto done;
  }
  mgc_hann_fill(win, nfft);

  const float power = (float)p->power;
  const int square = p->power == 2.0;
  const float scale = 1.0f / (float)nfft; /* FFTW's inverse is unnormalised */
  /* librosa 0.7 cuts the istft at L - half, then pads to n with zeros. */
  const size_t limit = p->full_length ? L : L - half;
  size_t fin = 0;  /* padded-signal samples before fin are finished */
  size_t next = 0; /* next frame to output */
  for (size_t f = 0; f < T && !st; f++) {
    /* Forward STFT of frame f of the reflect-padded signal (librosa.stft). */
    const int64_t start = (int64_t)(f * hop) - (int64_t)half;
    if (start >= 0 && start + (int64_t)nfft <= (int64_t)n) {
      const float *src = y + start;
      for (size_t i = 0; i < nfft; i++) rbuf[i] = win[i] * src[i];
    } else {
      for (size_t i = 0; i < nfft; i++)
        rbuf[i] = win[i] * y[mgc_pad_source_index(MGC_PAD_REFLECT, start + (int64_t)i, (int64_t)n)];
    }
    fftwf_execute(fwd);
    float *sf = spec + 2 * (f % R) * nb, *mf = mag + (f % R) * nb;
    memcpy(sf, cbuf, sizeof(fftwf_complex) * nb);
    for (size_t k = 0; k < nb; k++) {
      const float re = cbuf[k][0], im = cbuf[k][1];
      mf[k] = sqrtf(re * re + im * im);
    }

    for (; next < T && (next + h <= f || f == T - 1); next++) {
      const size_t i = next;
      /* Harmonic: median across time within each bin; percussive: median
       * across frequency within the frame (scipy median_filter, 'reflect'). */
      if (i == 0) {
        for (size_t j = 0; j < kh; j++) rows[j] = (mgc_medfilt_reflect((long long)j - (long long)h, T) % R) * nb;
        for (size_t k = 0; k < nb; k++) {
          for (size_t j = 0; j < kh; j++) col[j] = mag[rows[j] + k];
          hrow[k] = mgc_medfilt_window_init(bank + k * wsz, p->kernel_harm, col);
        }
      } else {
        const float *lv = mag + (mgc_medfilt_reflect((long long)i - 1 - (long long)h, T) % R) * nb;
        const float *ev = mag + (mgc_medfilt_reflect((long long)(i + h), T) % R) * nb;
        for (size_t k = 0; k < nb; k++) hrow[k] = mgc_medfilt_window_slide(bank + k * wsz, p->kernel_harm, lv[k], ev[k]);
      }
      if ((st = mgc_medfilt1d(mag + (i % R) * nb, nb, 1, p->kernel_perc, prow, 1, work))) break;

      /* Mask, inverse FFT, window and overlap-add (librosa.istft). */
      const float *d = spec + 2 * (i % R) * nb;
      for (size_t k = 0; k < nb; k++) {
        const float hv = hrow[k], q = prow[k], z = hv > q ? hv : q;
        const float mh = softmask(hv, q, z, power, square), mp = softmask(q, hv, z, power, square);
        cbuf[k][0] = d[2 * k] * mh;
        cbuf[k][1] = d[2 * k + 1] * mh;
        cbuf2[k][0] = d[2 * k] * mp;
        cbuf2[k][1] = d[2 * k + 1] * mp;
      }
      /* Frames before i reach no sample from i * hop on: finish those. */
      for (size_t s = fin; s < i * hop;) {
        /* Up to the ring's end, then through the sink in one block. */
        const size_t slot = s % Lr, cnt0 = i * hop - s, cnt = cnt0 < Lr - slot ? cnt0 : Lr - slot;
        size_t m = 0, j0 = 0;
        for (size_t q = 0; q < cnt; q++) {
          const size_t ss = s + q, sl = slot + q;
          if (ss >= half && ss - half < n) {
            if (!m) j0 = ss - half;
            const int ok = ss < limit;
            const double norm = ok && wss[sl] > FLT_MIN ? 1.0 / wss[sl] : 1.0;
            blk_h[m] = ok ? (float)(acc_h[sl] * norm) : 0.0f;
            blk_p[m] = ok ? (float)(acc_p[sl] * norm) : 0.0f;
            m++;
          }
          acc_h[sl] = acc_p[sl] = wss[sl] = 0.0;
        }
        if (m) sink_block(sink, j0, m, blk_h, blk_p);
        s += cnt;
      }
      fin = i * hop;
      const size_t base = (i * hop) % Lr;
      const size_t n1 = nfft < Lr - base ? nfft : Lr - base; /* before the ring wraps */
      if (want_h) {
        fftwf_execute_dft_c2r(inv, cbuf, rbuf); /* destroys cbuf: filled again next frame */
        for (size_t q = 0; q < n1; q++) acc_h[base + q] += (double)(win[q] * (rbuf[q] * scale));
        for (size_t q = n1; q < nfft; q++) acc_h[q - n1] += (double)(win[q] * (rbuf[q] * scale));
      }
      if (want_p) {
        fftwf_execute_dft_c2r(inv, cbuf2, rbuf);
        for (size_t q = 0; q < n1; q++) acc_p[base + q] += (double)(win[q] * (rbuf[q] * scale));
        for (size_t q = n1; q < nfft; q++) acc_p[q - n1] += (double)(win[q] * (rbuf[q] * scale));
      }
      for (size_t q = 0; q < n1; q++) wss[base + q] += (double)win[q] * (double)win[q];
      for (size_t q = n1; q < nfft; q++) wss[q - n1] += (double)win[q] * (double)win[q];
    }
  }
  if (st) goto done;
  /* All frames are in: finish the rest of the n output samples. Past L no
   * frame reached, the ring holds zeros there and limit <= L gives 0. */
  for (size_t s = fin; s < half + n;) {
    const size_t slot = s % Lr, cnt0 = half + n - s, cnt = cnt0 < Lr - slot ? cnt0 : Lr - slot;
    size_t m = 0, j0 = 0;
    for (size_t q = 0; q < cnt; q++) {
      const size_t ss = s + q, sl = slot + q;
      if (ss >= half) {
        if (!m) j0 = ss - half;
        const int ok = ss < limit;
        const double norm = ok && wss[sl] > FLT_MIN ? 1.0 / wss[sl] : 1.0;
        blk_h[m] = ok ? (float)(acc_h[sl] * norm) : 0.0f;
        blk_p[m] = ok ? (float)(acc_p[sl] * norm) : 0.0f;
        m++;
      }
      acc_h[sl] = acc_p[sl] = wss[sl] = 0.0;
    }
    if (m) sink_block(sink, j0, m, blk_h, blk_p);
    s += cnt;
  }
done:
  if (fwd || inv) {
    mgc_fftw_planner_lock();
    if (fwd) fftwf_destroy_plan(fwd);
    if (inv) fftwf_destroy_plan(inv);
    mgc_fftw_planner_unlock();
  }
  free(win);
  free(mag);
  free(spec);
  free(bank);
  free(hrow);
  free(prow);
  free(work);
  free(col);
  free(rows);
  free(acc_h);
  free(acc_p);
  free(wss);
  free(blk_h);
  free(blk_p);
  fftwf_free(rbuf);
  fftwf_free(cbuf);
  fftwf_free(cbuf2);
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
