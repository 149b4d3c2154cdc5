#include "mgc/stream/windower.h"

#include <stdlib.h>
#include <string.h>

/* Frames are appended to a linear buffer of 2 * length frames; when a window
 * is emitted its data is contiguous, and when the buffer fills, the newest
 * (length - hop) frames are moved to the front. Contiguity means the
 * callback (a model's forward pass) reads one plain array, no ring indexing. */
struct mgc_windower {
  int dim, length, hop;
  float *buf;
  size_t cap;           /* frames */
  size_t start, count;  /* current window's first frame in buf, frames held from start */
  size_t skip;          /* frames still to drop before the next window (hop > length) */
  uint64_t frames, windows;
};

mgc_status mgc_windower_new(int dim, int length, int hop, mgc_windower **out) {
  *out = NULL;
  if (dim < 1 || length < 1 || hop < 1)
    return mgc_error_set(MGC_EINVAL, "windower: dim (%d), length (%d) and hop (%d) must be >= 1", dim, length, hop);
  mgc_windower *w = calloc(1, sizeof *w);
  if (!w) return mgc_error_set(MGC_ENOMEM, "windower: out of memory");
  w->dim = dim;
  w->length = length;
  w->hop = hop;
  w->cap = 2 * (size_t)length + (size_t)hop;
  w->buf = malloc(sizeof(float) * w->cap * (size_t)dim);
  if (!w->buf) {
    free(w);
    return mgc_error_set(MGC_ENOMEM, "windower: out of memory");
  }
  *out = w;
  return MGC_OK;
}

void mgc_windower_reset(mgc_windower *w) {
  w->start = w->count = w->skip = 0;
  w->frames = w->windows = 0;
}

uint64_t mgc_windower_count(int length, int hop, uint64_t n_frames) {
  if (n_frames < (uint64_t)length) return 0;
  return 1 + (n_frames - (uint64_t)length) / (uint64_t)hop;
}

int mgc_windower_push(mgc_windower *w, const float *frame, mgc_window_fn fn, void *user) {
  const size_t d = (size_t)w->dim;
  if (w->skip) {
    w->skip--;
    w->frames++;
    return 0;
  }
  if (w->start + w->count == w->cap) {
    memmove(w->buf, w->buf + w->start * d, sizeof(float) * w->count * d);
    w->start = 0;
  }
  memcpy(w->buf + (w->start + w->count) * d, frame, sizeof(float) * d);
  w->count++;
  w->frames++;
  int rc = 0;
  if (w->count == (size_t)w->length) {
    mgc_window win = {w->windows, w->frames - (uint64_t)w->length, w->buf + w->start * d, w->length, w->dim};
    w->windows++;
    rc = fn(user, &win);
    /* Frames before the next window's start are no longer needed. With
     * hop > length the gap frames are skipped as they arrive. */
    if (w->hop <= w->length) {
      w->start += (size_t)w->hop;
      w->count -= (size_t)w->hop;
    } else {
      w->start = 0;
      w->count = 0;
      w->skip = (size_t)(w->hop - w->length);
    }
  }
  return rc;
}

void mgc_windower_free(mgc_windower *w) {
  if (!w) return;
  free(w->buf);
  free(w);
}
