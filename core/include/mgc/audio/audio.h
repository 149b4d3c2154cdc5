/* Audio files in: anything libsndfile reads (wav, au, aiff, flac, ogg/vorbis,
 * opus, mp3), decoded to float, downmixed to mono (channel mean, as librosa)
 * and resampled with soxr HQ to the requested rate. */
#ifndef MGC_AUDIO_H
#define MGC_AUDIO_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef struct mgc_audio {
  float *samples;    /* mono, at `rate` */
  size_t n;          /* number of samples */
  int rate;          /* sample rate of `samples` */
  int source_rate;   /* the file's own rate */
  int source_channels;
} mgc_audio;

/* The sample rates a file may have; others are refused as damaged. */
#define MGC_AUDIO_MIN_RATE 1000
#define MGC_AUDIO_MAX_RATE 768000

/* Decode `path` to mono at `rate` Hz (rate <= 0: keep the file's rate).
 * Output length is ceil(frames * rate / source_rate), as librosa.load.
 * Unreadable, empty, truncated or silent-by-absence (0 frames) files fail with
 * a message naming the file and the reason; *out is then left empty. */
mgc_status mgc_audio_load(const char *path, int rate, mgc_audio *out);

/* Resample a whole mono signal (allocates *out, length ceil(n*ratio)). */
mgc_status mgc_audio_resample(const float *in, size_t n, int in_rate, int out_rate, float **out,
                              size_t *n_out);

void mgc_audio_free(mgc_audio *a);

#endif
