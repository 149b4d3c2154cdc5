/* Front-end parameters: everything that turns audio into features.
 *
 * One struct, stored verbatim (as JSON) in every model file, so that a model
 * is always fed the features it was trained on. Defaults follow librosa so
 * numbers can be checked against the features the seed papers used. */
#ifndef MGC_PARAMS_H
#define MGC_PARAMS_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef enum { MGC_PAD_REFLECT = 0, MGC_PAD_CONSTANT = 1 } mgc_pad_mode;
typedef enum { MGC_MEL_SLANEY = 0, MGC_MEL_HTK = 1 } mgc_mel_scale;
typedef enum { MGC_MELNORM_SLANEY = 0, MGC_MELNORM_NONE = 1 } mgc_mel_norm;
/* MEAN: the missing frames are the band means (zero once standardised);
 * REPEAT: the track's frames again and again, for long windows (a 29 s
 * window of a 15 s clip): a net that max-pools over time then sees only
 * the music, never a stretch of made-up frames. */
typedef enum { MGC_SEGPAD_MEAN = 0, MGC_SEGPAD_REPEAT = 1 } mgc_segment_pad;

/* A new field that changes the frames belongs in
 * mgc_frontend_params_same_frames too. */
typedef struct mgc_frontend_params {
  int sample_rate;     /* Hz; audio is resampled to this rate (22050) */
  int n_fft;           /* FFT size = window length, periodic Hann (2048) */
  int hop_length;      /* samples between frames (512) */
  int center;          /* 1: frames centred, signal padded by n_fft/2 */
  mgc_pad_mode pad_mode;
  int n_mels;          /* mel bands (128) */
  double fmin, fmax;   /* mel range in Hz; fmax <= 0 means sample_rate/2 */
  mgc_mel_scale mel_scale;
  mgc_mel_norm mel_norm;
  double amin;         /* dB floor on power (1e-10) */
  double ref;          /* dB reference power (1.0: a stream has no maximum) */
  double top_db;       /* offline only: clip at max - top_db; 0 = off */
  int n_mfcc;          /* DCT-II (ortho) coefficients of the dB mel bands (20) */
  int n_chroma;        /* chroma bins (12) */
  double tuning;       /* chroma tuning in bins; NaN = estimate per file (offline) */
  int segment_frames;  /* frames per classification window (130 = 3 s) */
  int segment_hop;     /* frames between windows (65 = 50 % overlap) */
  mgc_segment_pad segment_pad; /* how a track shorter than one window fills it */
} mgc_frontend_params;

/* librosa's defaults for music, which GTZAN models are trained with:
 * 22050 Hz, n_fft 2048, hop 512, centred with reflect padding, 128 Slaney
 * mels with Slaney norm up to Nyquist, dB with amin 1e-10, ref 1 and no
 * top_db, 20 MFCCs, 12 chroma bins at A440; windows of 130 frames (3 s)
 * every 65. */
void mgc_frontend_params_default(mgc_frontend_params *p);

/* Check every field and their combination; message names the bad field. */
mgc_status mgc_frontend_params_validate(const mgc_frontend_params *p);

/* Whether a and b give the same frames (every field but how windows are
 * cut from them: segment_frames, segment_hop, segment_pad): members of an
 * ensemble that may share one framer or one feature matrix. */
int mgc_frontend_params_same_frames(const mgc_frontend_params *a, const mgc_frontend_params *b);

/* fmax with the "<= 0 means Nyquist" rule applied. */
double mgc_frontend_params_fmax(const mgc_frontend_params *p);

/* Serialise to a compact JSON object (malloc'd, caller frees). */
mgc_status mgc_frontend_params_to_json(const mgc_frontend_params *p, char **json);

/* Parse JSON written by _to_json. Missing keys keep their defaults, unknown
 * keys and bad values are refused; the result is validated. */
mgc_status mgc_frontend_params_from_json(const char *json, mgc_frontend_params *p);

#endif
