/* Lock-free single-producer / single-consumer ring of float samples.
 *
 * The PortAudio callback is the producer and the daemon's worker the
 * consumer. The producer never blocks, locks or allocates: what does not fit
 * is dropped and counted as an overrun, because a real-time callback that
 * waits loses more audio than one that drops. Positions are C11 atomics with
 * acquire/release ordering; capacity is a power of two. */
#ifndef MGC_RING_H
#define MGC_RING_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"

typedef struct mgc_ring mgc_ring;

/* A ring holding at least `capacity` samples (rounded up to a power of 2). */
mgc_status mgc_ring_new(size_t capacity, mgc_ring **out);

/* Producer: append up to n samples; returns how many were stored. The rest
 * is dropped and added to the overrun count. */
size_t mgc_ring_write(mgc_ring *r, const float *x, size_t n);

/* Producer: append `frames` interleaved frames of `channels` channels as
 * their mono mean (librosa's downmix), without a temporary buffer. Returns
 * frames stored; the rest count as overruns. */
size_t mgc_ring_write_mix(mgc_ring *r, const float *x, size_t frames, int channels);

/* Consumer: take up to max samples; returns how many. */
size_t mgc_ring_read(mgc_ring *r, float *out, size_t max);

/* Consumer: samples ready to read. */
size_t mgc_ring_available(const mgc_ring *r);

size_t mgc_ring_capacity(const mgc_ring *r);

/* Samples dropped because the ring was full, and samples ever stored (any
 * thread may read these). */
uint64_t mgc_ring_overruns(const mgc_ring *r);
uint64_t mgc_ring_written(const mgc_ring *r);

/* Empty the ring and zero the counters; only while no producer runs. */
void mgc_ring_reset(mgc_ring *r);

void mgc_ring_free(mgc_ring *r);

#endif
