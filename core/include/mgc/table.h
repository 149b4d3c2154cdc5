/* The 57 clip-level features of the GTZAN feature table (features_30_sec.csv),
 * computed as librosa computes them over a whole clip: means and variances of
 * chroma_stft, rms, spectral centroid, bandwidth and rolloff, zero-crossing
 * rate, the harmonic and percussive signals of effects.hpss, the beat
 * tracker's tempo, and 20 MFCC means and variances. */
#ifndef MGC_TABLE_H
#define MGC_TABLE_H

#include <stddef.h>

#include "mgc/error.h"

#define MGC_TABLE_DIM 57
/* The rate the feature table was computed at (librosa's default): the table
 * members of an ensemble take their audio at it. */
#define MGC_TABLE_RATE 22050

/* Column indices, in the CSV's order (between "length" and "label"). */
enum {
  MGC_TABLE_CHROMA_MEAN = 0,
  MGC_TABLE_CHROMA_VAR,
  MGC_TABLE_RMS_MEAN,
  MGC_TABLE_RMS_VAR,
  MGC_TABLE_CENTROID_MEAN,
  MGC_TABLE_CENTROID_VAR,
  MGC_TABLE_BANDWIDTH_MEAN,
  MGC_TABLE_BANDWIDTH_VAR,
  MGC_TABLE_ROLLOFF_MEAN,
  MGC_TABLE_ROLLOFF_VAR,
  MGC_TABLE_ZCR_MEAN,
  MGC_TABLE_ZCR_VAR,
  MGC_TABLE_HARMONY_MEAN,
  MGC_TABLE_HARMONY_VAR,
  MGC_TABLE_PERCEPTR_MEAN,
  MGC_TABLE_PERCEPTR_VAR,
  MGC_TABLE_TEMPO,
  MGC_TABLE_MFCC = 17 /* mfcc k (1-based) mean at 17 + 2(k-1), var just after */
};

/* All 57 features of the mono signal y[0..n) at sr Hz (the table itself is
 * at 22050). librosa defaults: n_fft 2048, hop 512, centred frames; variances
 * are population variances (numpy's var) over frames, for chroma over all
 * bins and frames. Allocates per call, but streams the frames and HPSS
 * rather than keep spectrograms: ~1.5 MB for a 30 s clip at 22050 Hz (a few
 * floats and the 128 dB mel bands per frame; up to ~5 MB on pathological
 * spectra with peaks in every other bin), so mgcd can run it in the
 * background within its memory budget. */
mgc_status mgc_table_features(const float *y, size_t n, int sr, float out[MGC_TABLE_DIM]);

/* The CSV header name of column i ("chroma_stft_mean" ... "mfcc20_var"), NULL
 * outside [0, MGC_TABLE_DIM). */
const char *mgc_table_column_name(int i);

#endif
