#include "mgc/hpss.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fftw_lock.h"
#include "mgc/frontend.h"
#include "mgc/medfilt.h"

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

mgc_status mgc_hpss(const float *y, size_t n, const mgc_hpss_params *p, float *harm, float *perc) {
  if (!y || n == 0) return mgc_error_set(MGC_EINVAL, "hpss: empty signal");
  if (p->n_fft < 2 || (p->n_fft & 1) || p->hop_length < 1 || p->kernel_harm < 1 || !(p->kernel_harm & 1) ||
      p->kernel_perc < 1 || !(p->kernel_perc & 1) || !isfinite(p->power) || p->power <= 0.0)
    return mgc_error_set(MGC_EINVAL,
                         "hpss: bad parameters (n_fft %d even >= 2, hop %d >= 1, kernels %d and %d odd, "
                         "power %g finite > 0)",
                         p->n_fft, p->hop_length, p->kernel_harm, p->kernel_perc, p->power);
  const size_t nfft = (size_t)p->n_fft, nb = nfft / 2 + 1, hop = (size_t)p->hop_length;
  const size_t T = 1 + n / hop;                /* centred frames, as librosa.stft */
  const size_t L = nfft + hop * (T - 1);       /* overlap-add length of the istft */
  const size_t half = nfft / 2;
  mgc_status st = MGC_OK;
  float *win = malloc(sizeof(float) * nfft);
  float *mag = malloc(sizeof(float) * T * nb);
  float *H = malloc(sizeof(float) * T * nb);
  float *P = malloc(sizeof(float) * T * nb);
  fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * T * nb);
  float *work = malloc(sizeof(float) * mgc_medfilt_work_size(p->kernel_harm > p->kernel_perc ? p->kernel_harm
                                                                                              : p->kernel_perc));
  double *acc_h = calloc(L, sizeof(double)), *acc_p = calloc(L, sizeof(double)), *wss = calloc(L, sizeof(double));
  float *rbuf = fftwf_malloc(sizeof(float) * nfft);
  fftwf_complex *cbuf = fftwf_malloc(sizeof(fftwf_complex) * nb);
  fftwf_complex *cbuf2 = fftwf_malloc(sizeof(fftwf_complex) * nb);
  fftwf_plan fwd = NULL, inv = NULL;
  if (!win || !mag || !H || !P || !spec || !work || !acc_h || !acc_p || !wss || !rbuf || !cbuf || !cbuf2) {
    st = mgc_error_set(MGC_ENOMEM, "hpss: out of memory (%zu frames)", T);
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
  for (size_t i = 0; i < nfft; i++) win[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)nfft));

  /* Forward STFT of the reflect-padded signal (librosa.stft defaults). */
  for (size_t t = 0; t < T; t++) {
    for (size_t i = 0; i < nfft; i++) {
      const int64_t src = mgc_pad_source_index(MGC_PAD_REFLECT, (int64_t)(t * hop + i) - (int64_t)half, (int64_t)n);
      rbuf[i] = win[i] * y[src];
    }
    fftwf_execute(fwd);
    memcpy(spec + t * nb, cbuf, sizeof(fftwf_complex) * nb);
    for (size_t k = 0; k < nb; k++) {
      const float re = cbuf[k][0], im = cbuf[k][1];
      mag[t * nb + k] = sqrtf(re * re + im * im);
    }
  }
  /* Percussive: median across frequency within each frame; harmonic: median
   * across time within each bin (scipy median_filter, mode 'reflect'). */
  for (size_t t = 0; t < T && !st; t++) st = mgc_medfilt1d(mag + t * nb, nb, 1, p->kernel_perc, P + t * nb, 1, work);
  for (size_t k = 0; k < nb && !st; k++) st = mgc_medfilt1d(mag + k, T, nb, p->kernel_harm, H + k, nb, work);
  if (st) goto done;

  /* Mask, inverse FFT, window and overlap-add (librosa.istft). */
  const float power = (float)p->power;
  const int square = p->power == 2.0;
  const float scale = 1.0f / (float)nfft; /* FFTW's inverse is unnormalised */
  for (size_t t = 0; t < T; t++) {
    const fftwf_complex *d = spec + t * nb;
    for (size_t k = 0; k < nb; k++) {
      const float h = H[t * nb + k], q = P[t * nb + k], z = h > q ? h : q;
      const float mh = softmask(h, q, z, power, square), mp = softmask(q, h, z, power, square);
      cbuf[k][0] = d[k][0] * mh;
      cbuf[k][1] = d[k][1] * mh;
      cbuf2[k][0] = d[k][0] * mp;
      cbuf2[k][1] = d[k][1] * mp;
    }
    double *dst_h = acc_h + t * hop, *dst_p = acc_p + t * hop, *dst_w = wss + t * hop;
    if (harm) {
      fftwf_execute_dft_c2r(inv, cbuf, rbuf); /* destroys cbuf: filled again next frame */
      for (size_t i = 0; i < nfft; i++) dst_h[i] += (double)(win[i] * (rbuf[i] * scale));
    }
    if (perc) {
      fftwf_execute_dft_c2r(inv, cbuf2, rbuf);
      for (size_t i = 0; i < nfft; i++) dst_p[i] += (double)(win[i] * (rbuf[i] * scale));
    }
    for (size_t i = 0; i < nfft; i++) dst_w[i] += (double)win[i] * (double)win[i];
  }
  /* Divide by the summed squared window where it is not ~0, drop the centre
   * padding, and fit to n samples. */
  const size_t limit = p->full_length ? L : L - half;
  for (size_t j = 0; j < n; j++) {
    const size_t s = half + j;
    const int ok = s < limit;
    const double norm = ok && wss[s] > FLT_MIN ? 1.0 / wss[s] : 1.0;
    if (harm) harm[j] = ok ? (float)(acc_h[s] * norm) : 0.0f;
    if (perc) perc[j] = ok ? (float)(acc_p[s] * norm) : 0.0f;
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
  free(H);
  free(P);
  fftwf_free(spec);
  free(work);
  free(acc_h);
  free(acc_p);
  free(wss);
  fftwf_free(rbuf);
  fftwf_free(cbuf);
  fftwf_free(cbuf2);
  return st;
}
