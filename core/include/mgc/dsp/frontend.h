/* The per-frame feature pipeline shared by every program: one frame of
 * (padded) audio in, power spectrum / dB mel / MFCC / chroma out.
 *
 * The streaming framer (mgc/dsp/framer.h) and the whole-signal path below both
 * call mgc_frontend_frame on the same n_fft samples, which is why a window
 * computed offline for training and the same audio heard live are identical. */
#ifndef MGC_FRONTEND_H
#define MGC_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"
#include "mgc/dsp/params.h"

/* Which features to compute (bit mask). The power spectrum always is. */
enum {
  MGC_FEAT_POWER = 1u << 0,
  MGC_FEAT_LOGMEL = 1u << 1,
  MGC_FEAT_MFCC = 1u << 2, /* implies LOGMEL */
  MGC_FEAT_CHROMA = 1u << 3
};

typedef struct mgc_frame {
  uint64_t index;       /* frame number from the start of the stream */
  const float *power;   /* n_fft/2 + 1 */
  const float *mel_db;  /* n_mels, or NULL if not requested */
  const float *mfcc;    /* n_mfcc, or NULL */
  const float *chroma;  /* n_chroma, or NULL */
} mgc_frame;

/* Called once per frame; the pointers are valid only during the call.
 * A non-zero return stops processing and is passed back to the caller. */
typedef int (*mgc_frame_fn)(void *user, const mgc_frame *frame);

typedef struct mgc_frontend mgc_frontend;

/* Build STFT plan, mel filterbank, DCT and chroma filterbank for p. Chroma
 * needs a finite p->tuning (estimation is a whole-file step). */
mgc_status mgc_frontend_new(const mgc_frontend_params *p, unsigned features, mgc_frontend **out);

const mgc_frontend_params *mgc_frontend_params_of(const mgc_frontend *fe);
unsigned mgc_frontend_features(const mgc_frontend *fe);

/* Compute the requested features of one frame of n_fft samples. Never
 * allocates. The returned frame points into fe's buffers. */
void mgc_frontend_frame(mgc_frontend *fe, const float *samples, uint64_t index, mgc_frame *out);

/* Number of frames a signal of n samples yields (librosa's count). */
uint64_t mgc_frontend_frame_count(const mgc_frontend_params *p, uint64_t n);

/* Map a position of the padded signal (0 = first padded sample) to a sample
 * index of y[0..n), numpy 'reflect' semantics; -1 means a zero (constant pad). */
int64_t mgc_pad_source_index(mgc_pad_mode mode, int64_t i, int64_t n);

/* Whole-signal path: pad y once, then call fn for every frame in order.
 * Allocates a padded copy (offline use). */
mgc_status mgc_frontend_run(mgc_frontend *fe, const float *y, size_t n, mgc_frame_fn fn, void *user);

void mgc_frontend_free(mgc_frontend *fe);

#endif
