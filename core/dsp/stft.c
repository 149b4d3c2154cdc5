#include "mgc/dsp/stft.h"

#include "fftw_lock.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>

#include "mgc/dsp/hann.h"

struct mgc_stft {
  int n_fft;
  float *window;      /* periodic Hann, n_fft */
  float *in;          /* fftwf_malloc'd so FFTW may use its aligned SIMD codelets */
  fftwf_complex *out; /* n_fft/2 + 1 */
  fftwf_plan plan;
};

/* FFTW's planner is not thread-safe; the daemon may (re)load models while
 * the table features (HPSS, tempo) plan in another thread: one lock for all
 * of core/dsp (fftw_lock.h). */

mgc_status mgc_stft_new(int n_fft, mgc_stft **out) {
  *out = NULL;
  if (n_fft < 2 || (n_fft & 1)) return mgc_error_set(MGC_EINVAL, "stft: n_fft %d must be even", n_fft);
  mgc_stft *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "stft: out of memory");
  s->n_fft = n_fft;
  s->window = fftwf_malloc(sizeof(float) * (size_t)n_fft);
  s->in = fftwf_malloc(sizeof(float) * (size_t)n_fft);
  s->out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(n_fft / 2 + 1));
  if (!s->window || !s->in || !s->out) {
    mgc_stft_free(s);
    return mgc_error_set(MGC_ENOMEM, "stft: out of memory");
  }
  /* Periodic ("fftbins") Hann as scipy.signal.get_window('hann', N), computed
   * in double then rounded once, as librosa stores it. */
  mgc_hann_fill(s->window, (size_t)n_fft);
  /* FFTW_ESTIMATE, not MEASURE: the plan must not depend on timing, so that a
   * window computed by mgc-train and the same audio heard by mgcd (other
   * process, other moment) give bit-identical features. */
  mgc_fftw_planner_lock();
  s->plan = fftwf_plan_dft_r2c_1d(n_fft, s->in, s->out, FFTW_ESTIMATE);
  mgc_fftw_planner_unlock();
  if (!s->plan) {
    mgc_stft_free(s);
    return mgc_error_set(MGC_ENOMEM, "stft: FFTW could not plan a %d-point transform", n_fft);
  }
  *out = s;
  return MGC_OK;
}

int mgc_stft_bins(const mgc_stft *s) { return s->n_fft / 2 + 1; }

void mgc_stft_process(mgc_stft *s, const float *frame, float *power) {
  const int n = s->n_fft, nb = n / 2 + 1;
  float *restrict in = s->in;
  const float *restrict w = s->window;
  for (int i = 0; i < n; i++) in[i] = w[i] * frame[i];
  fftwf_execute(s->plan);
  const float *restrict c = (const float *)s->out;
  for (int k = 0; k < nb; k++) power[k] = c[2 * k] * c[2 * k] + c[2 * k + 1] * c[2 * k + 1];
}

void mgc_stft_free(mgc_stft *s) {
  if (!s) return;
  if (s->plan) {
    mgc_fftw_planner_lock();
    fftwf_destroy_plan(s->plan);
    mgc_fftw_planner_unlock();
  }
  fftwf_free(s->window);
  fftwf_free(s->in);
  fftwf_free(s->out);
  free(s);
}
