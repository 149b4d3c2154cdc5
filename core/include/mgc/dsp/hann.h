/* The periodic Hann window, w[i] = 0.5 - 0.5 cos(2 pi i / n), i < n: the
 * STFT's window (librosa's and torch's default), computed in double and
 * rounded once to float, as librosa stores it; one definition for every
 * place that windows audio, so that their frames agree to the bit. */
#ifndef MGC_HANN_H
#define MGC_HANN_H

#include <stddef.h>

/* Sample i of the n-point window, in double. */
double mgc_hann(size_t i, size_t n);

/* w[0..n-1] = (float)mgc_hann(i, n). */
void mgc_hann_fill(float *w, size_t n);

#endif
