#include "mgc/dsp/mfcc.h"

#include <math.h>
#include <stdlib.h>

struct mgc_mfcc {
  int n_mels, n_mfcc;
  float *dct; /* [n_mfcc][n_mels] */
};

mgc_status mgc_mfcc_new(int n_mels, int n_mfcc, mgc_mfcc **out) {
  *out = NULL;
  if (n_mels < 1 || n_mfcc < 1 || n_mfcc > n_mels)
    return mgc_error_set(MGC_EINVAL, "mfcc: need 1 <= n_mfcc (%d) <= n_mels (%d)", n_mfcc, n_mels);
  mgc_mfcc *m = calloc(1, sizeof *m);
  if (!m) return mgc_error_set(MGC_ENOMEM, "mfcc: out of memory");
  m->dct = malloc(sizeof(float) * (size_t)n_mfcc * (size_t)n_mels);
  if (!m->dct) {
    free(m);
    return mgc_error_set(MGC_ENOMEM, "mfcc: out of memory");
  }
  m->n_mels = n_mels;
  m->n_mfcc = n_mfcc;
  /* Orthonormal DCT-II: scipy.fft.dct(x, type=2, norm='ortho'). */
  for (int k = 0; k < n_mfcc; k++) {
    const double scale = k == 0 ? sqrt(1.0 / n_mels) : sqrt(2.0 / n_mels);
    for (int b = 0; b < n_mels; b++)
      m->dct[(size_t)k * n_mels + b] = (float)(scale * cos(M_PI * k * (2.0 * b + 1.0) / (2.0 * n_mels)));
  }
  *out = m;
  return MGC_OK;
}

void mgc_mfcc_process(const mgc_mfcc *m, const float *mel_db, float *out) {
  for (int k = 0; k < m->n_mfcc; k++) {
    const float *restrict d = m->dct + (size_t)k * m->n_mels;
    /* Accumulate in double: dB values are large (-100) and of mixed sign, so a
     * float sum would lose the small high-order coefficients. */
    double acc = 0.0;
    for (int b = 0; b < m->n_mels; b++) acc += (double)d[b] * mel_db[b];
    out[k] = (float)acc;
  }
}

void mgc_mfcc_free(mgc_mfcc *m) {
  if (!m) return;
  free(m->dct);
  free(m);
}
