#include "mgc/stream/ring.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* head and tail are free-running 64-bit sample counters (never masked), so
 * "full" and "empty" are told apart without a wasted slot and head is also
 * the count of samples ever stored. Only the producer stores head and
 * overruns, only the consumer stores tail: each side publishes its counter
 * with a release store after touching the data, and reads the other's with
 * an acquire load before touching it. The pads keep the two counters on
 * separate cache lines so the producer and consumer do not false-share. */
struct mgc_ring {
  float *buf;
  size_t cap, mask;
  char pad0[64];
  _Atomic uint64_t head; /* written by the producer */
  _Atomic uint64_t overruns;
  char pad1[64];
  _Atomic uint64_t tail; /* written by the consumer */
  char pad2[64];
};

mgc_status mgc_ring_new(size_t capacity, mgc_ring **out) {
  *out = NULL;
  /* The bound keeps the power-of-two rounding and the byte count from
   * overflowing size_t. */
  if (capacity < 1 || capacity > ((size_t)1 << (sizeof(size_t) * 8 - 4)) / sizeof(float))
    return mgc_error_set(MGC_EINVAL, "ring: capacity (%zu) must be between 1 and %zu samples", capacity,
                         ((size_t)1 << (sizeof(size_t) * 8 - 4)) / sizeof(float));
  size_t cap = 1;
  while (cap < capacity) cap <<= 1;
  mgc_ring *r = calloc(1, sizeof *r);
  if (!r) return mgc_error_set(MGC_ENOMEM, "ring: out of memory");
  r->buf = calloc(cap, sizeof(float));
  if (!r->buf) {
    free(r);
    return mgc_error_set(MGC_ENOMEM, "ring: out of memory for %zu samples", cap);
  }
  r->cap = cap;
  r->mask = cap - 1;
  atomic_init(&r->head, 0);
  atomic_init(&r->overruns, 0);
  atomic_init(&r->tail, 0);
  *out = r;
  return MGC_OK;
}

/* Producer side: space left and where writing starts. */
static size_t ring_space(mgc_ring *r, uint64_t *head) {
  *head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  return r->cap - (size_t)(*head - tail);
}

/* Producer side: publish m stored samples and count what was dropped. A plain
 * load + store of overruns suffices because the producer is its only writer;
 * it stays atomic so other threads can read it untorn. */
static void ring_commit(mgc_ring *r, uint64_t head, size_t m, size_t dropped) {
  atomic_store_explicit(&r->head, head + m, memory_order_release);
  if (dropped) {
    uint64_t o = atomic_load_explicit(&r->overruns, memory_order_relaxed);
    atomic_store_explicit(&r->overruns, o + dropped, memory_order_relaxed);
  }
}

size_t mgc_ring_write(mgc_ring *r, const float *x, size_t n) {
  uint64_t head;
  size_t space = ring_space(r, &head);
  size_t m = n < space ? n : space;
  size_t at = (size_t)head & r->mask;
  size_t first = m < r->cap - at ? m : r->cap - at;
  if (first) memcpy(r->buf + at, x, sizeof(float) * first);
  if (m > first) memcpy(r->buf, x + first, sizeof(float) * (m - first));
  ring_commit(r, head, m, n - m);
  return m;
}

size_t mgc_ring_write_mix(mgc_ring *r, const float *x, size_t frames, int channels) {
  if (channels == 1) return mgc_ring_write(r, x, frames);
  if (channels < 1) return 0; /* nothing sensible to store or count */
  uint64_t head;
  size_t space = ring_space(r, &head);
  size_t m = frames < space ? frames : space;
  const size_t ch = (size_t)channels;
  /* Sum then divide, as numpy's mean does, so stereo matches librosa's
   * to_mono to the last bit for the usual 2 channels. */
  for (size_t i = 0; i < m; i++) {
    const float *f = x + i * ch;
    float s = 0.0f;
    for (size_t c = 0; c < ch; c++) s += f[c];
    r->buf[((size_t)head + i) & r->mask] = s / (float)channels;
  }
  ring_commit(r, head, m, frames - m);
  return m;
}

size_t mgc_ring_read(mgc_ring *r, float *out, size_t max) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  size_t avail = (size_t)(head - tail);
  size_t m = max < avail ? max : avail;
  size_t at = (size_t)tail & r->mask;
  size_t first = m < r->cap - at ? m : r->cap - at;
  if (first) memcpy(out, r->buf + at, sizeof(float) * first);
  if (m > first) memcpy(out + first, r->buf, sizeof(float) * (m - first));
  atomic_store_explicit(&r->tail, tail + m, memory_order_release);
  return m;
}

size_t mgc_ring_available(const mgc_ring *r) {
  /* tail before head: both only grow and head >= tail, so this order never
   * gives a negative count; a third thread may still see the consumer move
   * on in between, hence the clamp. */
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  uint64_t n = head - tail;
  return n > r->cap ? r->cap : (size_t)n;
}

size_t mgc_ring_capacity(const mgc_ring *r) { return r->cap; }

uint64_t mgc_ring_overruns(const mgc_ring *r) {
  return atomic_load_explicit(&r->overruns, memory_order_relaxed);
}

uint64_t mgc_ring_written(const mgc_ring *r) {
  return atomic_load_explicit(&r->head, memory_order_relaxed);
}

void mgc_ring_reset(mgc_ring *r) {
  atomic_store_explicit(&r->head, 0, memory_order_relaxed);
  atomic_store_explicit(&r->overruns, 0, memory_order_relaxed);
  atomic_store_explicit(&r->tail, 0, memory_order_release);
}

void mgc_ring_free(mgc_ring *r) {
  if (!r) return;
  free(r->buf);
  free(r);
}
