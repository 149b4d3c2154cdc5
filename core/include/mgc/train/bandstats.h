/* Per-band standardisation statistics: the mean and standard deviation of
 * every feature dimension over all training frames, stored in the model and
 * applied to every frame before the network (training and live alike). */
#ifndef MGC_BANDSTATS_H
#define MGC_BANDSTATS_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef struct mgc_band_stats mgc_band_stats;

/* Empty statistics for frames of dim values. */
mgc_status mgc_band_stats_new(int dim, mgc_band_stats **out);

/* Add n_frames frames, frame-major [n_frames][dim]. */
void mgc_band_stats_add(mgc_band_stats *s, const float *frames, size_t n_frames);

/* Frames added so far. */
size_t mgc_band_stats_count(const mgc_band_stats *s);

/* Per-dimension mean and population std (numpy's default, ddof 0), std
 * floored at 1e-5 so that a constant band cannot divide by zero. With no
 * frames: mean 0, std 1 (the identity transform). */
void mgc_band_stats_get(const mgc_band_stats *s, float *mean, float *std);

/* NULL is fine. */
void mgc_band_stats_free(mgc_band_stats *s);

#endif
