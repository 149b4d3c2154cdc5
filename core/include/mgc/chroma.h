/* Chromagram from a power spectrum (librosa.feature.chroma_stft): Gaussian
 * pitch-class filterbank (ctroct 5, octwidth 2, base C), each frame scaled to
 * max 1, plus librosa's tuning estimate (piptrack + histogram). */
#ifndef MGC_CHROMA_H
#define MGC_CHROMA_H

#include <stddef.h>

#include "mgc/error.h"

typedef struct mgc_chroma mgc_chroma;

/* Filterbank for sample_rate, n_fft, n_chroma bins, tuning in fractions of a
 * bin (finite, [-0.5, 0.5]). */
mgc_status mgc_chroma_new(int sample_rate, int n_fft, int n_chroma, double tuning, mgc_chroma **out);

/* out[c] = (W power)[c] / max_c |(W power)[c]| for one frame. Never allocates. */
void mgc_chroma_process(const mgc_chroma *c, const float *power, float *out);

/* Dense copy of the weights, row-major [n_chroma][n_fft/2+1]. */
void mgc_chroma_weights(const mgc_chroma *c, float *dense);

/* librosa.estimate_tuning(S=power, bins_per_octave=n_chroma, resolution 0.01)
 * over a whole power spectrogram stored frame-major [n_frames][n_fft/2+1].
 * Offline only (allocates). Returns the tuning in bins, 0 when no peaks. */
mgc_status mgc_chroma_estimate_tuning(const float *power, size_t n_frames, int sample_rate,
                                      int n_fft, int n_chroma, double *tuning);

void mgc_chroma_free(mgc_chroma *c);

#endif
