/* Whole-signal feature matrices (offline tools, tests, training cache).
 * Frames come from the streaming framer, so they equal what mgcd computes
 * live; librosa's whole-file steps (chroma tuning estimate, top_db) are
 * applied after. */
#ifndef MGC_FEATURES_H
#define MGC_FEATURES_H

#include <stddef.h>

#include "mgc/params.h"

typedef enum {
  MGC_KIND_STFT = 0, /* power spectrogram |STFT|^2, n_fft/2+1 rows */
  MGC_KIND_LOGMEL,   /* dB mel bands, n_mels rows */
  MGC_KIND_MFCC,     /* n_mfcc rows */
  MGC_KIND_CHROMA    /* n_chroma rows */
} mgc_feature_kind;

/* "stft" | "logmel" | "mfcc" | "chroma" -> kind; MGC_EINVAL otherwise. */
mgc_status mgc_feature_kind_parse(const char *name, mgc_feature_kind *kind);
const char *mgc_feature_kind_name(mgc_feature_kind kind);

typedef struct mgc_feature_matrix {
  float *data;      /* [n_frames][dim], frame-major (transpose of librosa's layout) */
  size_t n_frames;
  size_t dim;
  double tuning;    /* chroma: tuning used (estimated if p->tuning is NaN) */
} mgc_feature_matrix;

/* Compute `kind` for the mono signal y (at p->sample_rate). Chroma with a NaN
 * tuning estimates it as librosa does; p->top_db > 0 clips dB output. */
mgc_status mgc_features_compute(const mgc_frontend_params *p, mgc_feature_kind kind, const float *y,
                                size_t n, mgc_feature_matrix *out);

void mgc_feature_matrix_free(mgc_feature_matrix *m);

#endif
