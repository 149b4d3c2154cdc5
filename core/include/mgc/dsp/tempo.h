/* Onset strength and global tempo, as librosa.onset.onset_strength and
 * librosa.beat.tempo (what librosa.beat.beat_track reports as its tempo). */
#ifndef MGC_TEMPO_H
#define MGC_TEMPO_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef enum {
  MGC_ONSET_MEAN = 0,  /* onset_strength's default */
  MGC_ONSET_MEDIAN = 1 /* what beat_track asks for */
} mgc_onset_aggregate;

/* Spectral flux of a dB spectrogram S_db stored frame-major [n_frames][n_bands]
 * (librosa: power_to_db of the 128-band mel spectrogram, top_db 80): env[t] =
 * agg over bands of max(0, S[t-s] - S[t-s-1]) with s = n_fft / (2 hop), the
 * shift that undoes centred framing; the first s+1 values are 0 (lag 1,
 * max_size 1, center, no detrend). env holds n_frames values. */
mgc_status mgc_onset_strength(const float *S_db, size_t n_frames, int n_bands, int n_fft, int hop_length,
                              mgc_onset_aggregate agg, float *env);

typedef struct mgc_tempo_params {
  double start_bpm; /* centre of the log-normal tempo prior (120) */
  double std_bpm;   /* its standard deviation in octaves (1) */
  double ac_size;   /* autocorrelation window, seconds (8: 344 frames at 22050/512) */
  double max_tempo; /* lags faster than this are ruled out (320) */
} mgc_tempo_params;

void mgc_tempo_params_default(mgc_tempo_params *p);

/* librosa.beat.tempo(onset_envelope=env, aggregate=mean): Hann-windowed
 * autocorrelation tempogram (centred, linear-ramp padding, each frame scaled
 * to max 1), averaged over time, weighted by the prior; the best lag k gives
 * 60 sr / (hop k) BPM (so the result is on that grid). An envelope with no
 * periodicity at all gives start_bpm, as librosa. Allocates per call. */
mgc_status mgc_tempo_estimate(const float *env, size_t n, int sr, int hop_length, const mgc_tempo_params *p,
                              double *bpm);

#endif
