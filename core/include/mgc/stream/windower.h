/* Window scheduler: collects feature frames (one vector per frame) and emits
 * classification windows of `length` frames every `hop` frames (130 / 65 by
 * default: 3 s windows at 50 % overlap). Allocates only in _new. */
#ifndef MGC_WINDOWER_H
#define MGC_WINDOWER_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"

typedef struct mgc_windower mgc_windower;

/* A window: `length` frames of `dim` values, stored frame-major
 * [length][dim] (time along the first axis), valid during the callback. */
typedef struct mgc_window {
  uint64_t index;       /* window number in the stream */
  uint64_t first_frame; /* stream index of its first frame */
  const float *data;
  int length, dim;
} mgc_window;

typedef int (*mgc_window_fn)(void *user, const mgc_window *w);

mgc_status mgc_windower_new(int dim, int length, int hop, mgc_windower **out);

/* Add one frame of `dim` values; calls fn when a window completes. A
 * non-zero return from fn is passed back. Never allocates. */
int mgc_windower_push(mgc_windower *w, const float *frame, mgc_window_fn fn, void *user);

/* Forget buffered frames (new stream / new track). */
void mgc_windower_reset(mgc_windower *w);

/* Number of complete windows in a stream of n_frames frames. */
uint64_t mgc_windower_count(int length, int hop, uint64_t n_frames);

void mgc_windower_free(mgc_windower *w);

#endif
