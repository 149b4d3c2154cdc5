/* Harmonic-percussive source separation of a signal by median filtering, as
 * librosa.effects.hpss (Fitzgerald 2010 with soft masks): STFT, median of the
 * magnitude along time (harmonic) and along frequency (percussive), Wiener-
 * like soft masks, inverse STFT of each masked spectrogram.
 *
 * Computed as a stream of frames: the time median needs only kernel_harm/2
 * frames of look-ahead and the frequency median one frame, so only the last
 * kernel_harm + 1 frames of the STFT and n_fft + hop samples of the overlap-
 * add are kept (~0.6 MB at the defaults, whatever the length), and the
 * result is the same to the last bit as from the whole spectrogram. */
#ifndef MGC_HPSS_H
#define MGC_HPSS_H

#include <stddef.h>

#include "mgc/util/error.h"

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
 * edges. Allocates per call (offline use), O(kernel_harm * n_fft) besides
 * the outputs. */
mgc_status mgc_hpss(const float *y, size_t n, const mgc_hpss_params *p, float *harm, float *perc);

/* Mean and population variance (numpy's mean and var) over all n samples of
 * the two signals mgc_hpss gives, without storing them. */
typedef struct mgc_hpss_moments {
  double harm_mean, harm_var, perc_mean, perc_var;
} mgc_hpss_moments;

/* The means are the double sums of mgc_hpss's samples in order, divided by
 * n (what a two-pass mean of its output gives, to the last bit); the
 * variances come from one pass of sums shifted by an early block's mean
 * (within ~1e-15 relative of the two-pass value). Allocates per call,
 * O(kernel_harm * n_fft), never O(n). */
mgc_status mgc_hpss_compute_moments(const float *y, size_t n, const mgc_hpss_params *p, mgc_hpss_moments *m);

#endif
