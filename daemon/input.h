/* mgcd's audio input: a PortAudio capture device, an audio file, or stdin
 * (WAV/AU/FLAC through libsndfile, or headerless PCM with input.raw),
 * delivered as mono float samples at the model's rate.
 *
 * Every kind is a producer thread (the PortAudio callback, or a reader
 * thread for files and stdin) writing into a lock-free SPSC ring
 * (mgc/stream/ring.h); mgc_input_read is the consumer and never blocks. Files and
 * stdin are paced at real time unless `fast`, where the reader waits for
 * ring space instead. Resampling (soxr) never happens in the callback: it
 * is on the consumer side for devices and in the reader thread for files.
 *
 * Device loss (stream error, callback stalled, device gone) moves the state
 * to MGC_INPUT_LOST; later reads retry with back-off (retry_min_s doubling to
 * retry_max_s, re-initialising PortAudio so that a re-plugged device is
 * found) and return to MGC_INPUT_RUNNING without a restart. A device that
 * cannot be opened at start is not fatal either: the input starts LOST. A
 * file that cannot be read is fatal (mgc_input_new fails, naming it). */
#ifndef MGC_DAEMON_INPUT_H
#define MGC_DAEMON_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mgc/util/error.h"

typedef enum { MGC_INPUT_RUNNING = 0, MGC_INPUT_LOST = 1, MGC_INPUT_ENDED = 2 } mgc_input_state;

typedef struct mgc_input mgc_input;

/* Open the input c describes, delivering audio at `rate` Hz. Free a device
 * input before opening another: PortAudio 19.6 may abort() the process when
 * an open fails while another of its streams runs (see input.c). On stdin
 * this waits until the stream's header has arrived. */
mgc_status mgc_input_new(const mgc_config *c, int rate, mgc_input **out);

/* Move up to cap samples of available audio into buf (*n of them). Never
 * blocks. Drives loss detection and the retries. Returns MGC_OK unless
 * something is wrong with the program itself (not the device). */
mgc_status mgc_input_read(mgc_input *in, float *buf, size_t cap, size_t *n);

/* RUNNING, LOST (retrying) or ENDED (file/stdin reached its end and every
 * sample has been read). */
mgc_input_state mgc_input_get_state(const mgc_input *in);

/* Human-readable description of what is open: "device 'pulse' (ALSA) at
 * 44100 Hz, 2 channels", "file x.wav (22050 Hz, 1 channel)", "stdin (WAV)". */
const char *mgc_input_describe(const mgc_input *in);

/* Why the input was lost last ("" if never). */
const char *mgc_input_last_error(const mgc_input *in);

/* Seconds until the next retry while LOST (0 otherwise). */
double mgc_input_retry_in(const mgc_input *in);

/* Samples dropped because the ring was full (the consumer fell behind). */
uint64_t mgc_input_overruns(const mgc_input *in);

/* Device callbacks PortAudio flagged paInputOverflow (audio lost before it
 * reached us: the system was too slow for the device's buffer). */
uint64_t mgc_input_overflows(const mgc_input *in);

/* Increments each time the input goes LOST -> RUNNING (for status). */
unsigned mgc_input_reconnects(const mgc_input *in);

/* Stop the producer and close everything; safe on NULL. */
void mgc_input_free(mgc_input *in);

#endif
