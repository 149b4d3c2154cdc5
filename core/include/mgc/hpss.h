/* Harmonic-percussive source separation of a signal by median filtering, as
 * librosa.effects.hpss (Fitzgerald 2010 with soft masks): STFT, median of the
 * magnitude along time (harmonic) and along frequency (percussive), Wiener-
 * like soft masks, inverse STFT of each masked spectrogram. */
#ifndef MGC_HPSS_H
#define MGC_HPSS_H

#include <stddef.h>

#include "mgc/error.h"

typedef struct mgc_hpss_params {
  int n_fft;        /* STFT size, periodic Hann window (2048) */
  int hop_length;   /* 512 (librosa: n_fft / 4) */
  int kernel_harm;  /* median width along time, frames, odd (31) */
  int kernel_perc;  /* median width along frequency, bins, odd (31) */
  double power;     /* soft-mask exponent, finite > 0 (2) */
  /* 0 (librosa 0.7's effects.hpss, which made the GTZAN table): the inverse
   * STFT is cut to hop * floor(n / hop) samples and padded with zeros, so
   * the last n mod hop samples are 0. 1 (istft(length=n), later librosa):
   * every sample is reconstructed. */
  int full_length;
} mgc_hpss_params;

void mgc_hpss_params_default(mgc_hpss_params *p);

/* Split y[0..n) into harm[0..n) + perc[0..n) (each may be NULL if not
 * wanted). Centred frames, numpy-reflect padding, scipy-reflect median
 * edges. Allocates per call (offline use). */
mgc_status mgc_hpss(const float *y, size_t n, const mgc_hpss_params *p, float *harm, float *perc);

#endif
