/* Whole-signal feature matrices (offline tools, tests, training cache).
 * Frames come from the streaming framer, so they equal what mgcd computes
 * live; librosa's whole-file steps (chroma tuning estimate, top_db) are
 * applied after. */
#ifndef MGC_FEATURES_H
#define MGC_FEATURES_H

#include <stddef.h>

#include "mgc/dsp/params.h"

typedef enum {
  MGC_KIND_STFT = 0, /* power spectrogram |STFT|^2, n_fft/2+1 rows */
  MGC_KIND_LOGMEL,   /* dB mel bands, n_mels rows */
  MGC_KIND_MFCC,     /* n_mfcc rows */
  MGC_KIND_CHROMA,   /* n_chroma rows */
  MGC_KIND_WAVEFORM  /* the samples themselves, hop_length per frame (below) */
} mgc_feature_kind;

/* "stft" | "logmel" | "mfcc" | "chroma" | "waveform" -> kind; MGC_EINVAL
 * otherwise. */
mgc_status mgc_feature_kind_parse(const char *name, mgc_feature_kind *kind);
const char *mgc_feature_kind_name(mgc_feature_kind kind);
/* Values per frame of `kind` under p (n_fft/2+1, n_mels, n_mfcc, n_chroma,
 * or hop_length samples for a waveform frame). */
size_t mgc_feature_dim(const mgc_frontend_params *p, mgc_feature_kind kind);

typedef struct mgc_feature_matrix {
  float *data;      /* [n_frames][dim], frame-major (transpose of librosa's layout) */
  size_t n_frames;
  size_t dim;
  double tuning;    /* chroma: tuning used (estimated if p->tuning is NaN) */
} mgc_feature_matrix;

/* Compute `kind` for the mono signal y (at p->sample_rate). Chroma with a NaN
 * tuning estimates it as librosa does; p->top_db > 0 clips dB output.
 * Waveform: frame i is samples [i * hop_length, (i + 1) * hop_length) of y,
 * copied (no centring, no padding; a partial frame at the end is dropped),
 * so n / hop_length frames of hop_length values. Frame i starts where the
 * centred spectral frame i is centred, so a window of 130 waveform frames
 * (66560 samples) and a window of 130 spectral frames with the same first
 * frame cover the same 3 s of audio, their centres half a frame apart:
 * windows of every kind line up in time. Never padded, and no tuning. */
mgc_status mgc_features_compute(const mgc_frontend_params *p, mgc_feature_kind kind, const float *y,
                                size_t n, mgc_feature_matrix *out);

void mgc_feature_matrix_free(mgc_feature_matrix *m);

#endif
