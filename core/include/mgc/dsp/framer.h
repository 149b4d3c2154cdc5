/* Streaming framer: audio in chunks of any size, frames out exactly as the
 * whole-signal computation (mgc_frontend_run) gives them, bit for bit,
 * including the reflect-padded start and the padded end at flush.
 * Allocates only in _new; _process and _flush are real-time safe. */
#ifndef MGC_FRAMER_H
#define MGC_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/dsp/frontend.h"

typedef struct mgc_framer mgc_framer;

mgc_status mgc_framer_new(const mgc_frontend_params *p, unsigned features, mgc_framer **out);

/* Feed n samples; fn is called for every frame that becomes complete. A
 * non-zero return from fn stops and is returned; the rest of x is dropped. */
int mgc_framer_process(mgc_framer *f, const float *x, size_t n, mgc_frame_fn fn, void *user);

/* End of stream: pad the end as the whole-signal path does, emit the last
 * frames, and reset for a new stream. */
int mgc_framer_flush(mgc_framer *f, mgc_frame_fn fn, void *user);

/* Drop buffered audio and start a new stream (frame indices restart at 0). */
void mgc_framer_reset(mgc_framer *f);

/* Samples and frames seen in the current stream. */
uint64_t mgc_framer_samples(const mgc_framer *f);
uint64_t mgc_framer_frames(const mgc_framer *f);

mgc_frontend *mgc_framer_frontend(mgc_framer *f);

void mgc_framer_free(mgc_framer *f);

#endif
