/* Short-time Fourier transform of one frame: periodic Hann window, FFTW3
 * single-precision real-to-complex plan made once, power spectrum out. */
#ifndef MGC_STFT_H
#define MGC_STFT_H

#include "mgc/util/error.h"

typedef struct mgc_stft mgc_stft;

/* Plan an n_fft-point transform (n_fft even). */
mgc_status mgc_stft_new(int n_fft, mgc_stft **out);

/* Number of power bins: n_fft/2 + 1. */
int mgc_stft_bins(const mgc_stft *s);

/* power[k] = |FFT(window * frame)[k]|^2 for k in [0, n_fft/2]. `frame` holds
 * n_fft samples. Never allocates; safe on the real-time path. */
void mgc_stft_process(mgc_stft *s, const float *frame, float *power);

void mgc_stft_free(mgc_stft *s);

#endif
