/* The clip features: the 57 clip-level features of GTZAN's feature table
 * (features_30_sec.csv),
 * computed as librosa computes them over a whole clip: means and variances of
 * chroma_stft, rms, spectral centroid, bandwidth and rolloff, zero-crossing
 * rate, the harmonic and percussive signals of effects.hpss, the beat
 * tracker's tempo, and 20 MFCC means and variances. */
#ifndef MGC_CLIP_FEATURES_H
#define MGC_CLIP_FEATURES_H

#include <stddef.h>

#include "mgc/util/error.h"

#define MGC_CLIP_DIM 57
/* The rate the feature table was computed at (librosa's default): the table
 * members of an ensemble take their audio at it. */
#define MGC_CLIP_RATE 22050

/* Column indices, in the CSV's order (between "length" and "label"). */
enum {
  MGC_CLIP_CHROMA_MEAN = 0,
  MGC_CLIP_CHROMA_VAR,
  MGC_CLIP_RMS_MEAN,
  MGC_CLIP_RMS_VAR,
  MGC_CLIP_CENTROID_MEAN,
  MGC_CLIP_CENTROID_VAR,
  MGC_CLIP_BANDWIDTH_MEAN,
  MGC_CLIP_BANDWIDTH_VAR,
  MGC_CLIP_ROLLOFF_MEAN,
  MGC_CLIP_ROLLOFF_VAR,
  MGC_CLIP_ZCR_MEAN,
  MGC_CLIP_ZCR_VAR,
  MGC_CLIP_HARMONY_MEAN,
  MGC_CLIP_HARMONY_VAR,
  MGC_CLIP_PERCEPTR_MEAN,
  MGC_CLIP_PERCEPTR_VAR,
  MGC_CLIP_TEMPO,
  MGC_CLIP_MFCC = 17 /* mfcc k (1-based) mean at 17 + 2(k-1), var just after */
};

/* All 57 features of the mono signal y[0..n) at sr Hz (the table itself is
 * at 22050). librosa defaults: n_fft 2048, hop 512, centred frames; variances
 * are population variances (numpy's var) over frames, for chroma over all
 * bins and frames. Allocates per call, but streams the frames and HPSS
 * rather than keep spectrograms: ~1.5 MB for a 30 s clip at 22050 Hz (a few
 * floats and the 128 dB mel bands per frame; up to ~5 MB on pathological
 * spectra with peaks in every other bin), so mgcd can run it in the
 * background within its memory budget. */
mgc_status mgc_clip_features(const float *y, size_t n, int sr, float out[MGC_CLIP_DIM]);

/* The CSV header name of column i ("chroma_stft_mean" ... "mfcc20_var"), NULL
 * outside [0, MGC_CLIP_DIM). */
const char *mgc_clip_feature_name(int i);

#endif
