/* Chromagram from a power spectrum (librosa.feature.chroma_stft): Gaussian
 * pitch-class filterbank (ctroct 5, octwidth 2, base C), each frame scaled to
 * max 1, plus librosa's tuning estimate (piptrack + histogram). */
#ifndef MGC_CHROMA_H
#define MGC_CHROMA_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef struct mgc_chroma mgc_chroma;

/* Filterbank for sample_rate, n_fft, n_chroma bins, tuning in fractions of a
 * bin (finite, [-0.5, 0.5]). */
mgc_status mgc_chroma_new(int sample_rate, int n_fft, int n_chroma, double tuning, mgc_chroma **out);

/* out[c] = (W power)[c] / max_c |(W power)[c]| for one frame. Never allocates. */
void mgc_chroma_process(const mgc_chroma *c, const float *power, float *out);

/* Dense copy of the weights, row-major [n_chroma][n_fft/2+1]. */
void mgc_chroma_weights(const mgc_chroma *c, float *dense);

/* librosa.estimate_tuning(S=power, bins_per_octave=n_chroma, resolution 0.01)
 * fed one power frame (n_fft/2+1 bins) at a time, so that the spectrogram
 * need not be kept: piptrack's peaks between 150 and 4000 Hz (threshold 0.1
 * of the frame's max) are collected, a few tens per frame; finish keeps those
 * at or above their median magnitude and takes pitch_tuning's histogram.
 * Offline only (add allocates). A zeroed struct may be freed. */
typedef struct mgc_tuning_acc {
  int sample_rate, n_fft;
  float *pitch, *mag; /* the peaks so far: frequency (Hz) and magnitude */
  size_t n, cap;
} mgc_tuning_acc;

void mgc_tuning_acc_init(mgc_tuning_acc *a, int sample_rate, int n_fft);
mgc_status mgc_tuning_acc_add(mgc_tuning_acc *a, const float *power);
/* The tuning in fractions of a bin of an n_chroma-bin octave over the frames
 * added so far, 0 when no peaks. Leaves a as it is (may be called again). */
mgc_status mgc_tuning_acc_finish(const mgc_tuning_acc *a, int n_chroma, double *tuning);
/* Releases the peaks; a is empty (and may be added to) afterwards. */
void mgc_tuning_acc_free(mgc_tuning_acc *a);

/* The same over a whole power spectrogram stored frame-major
 * [n_frames][n_fft/2+1]. */
mgc_status mgc_chroma_estimate_tuning(const float *power, size_t n_frames, int sample_rate,
                                      int n_fft, int n_chroma, double *tuning);

void mgc_chroma_free(mgc_chroma *c);

#endif
