/* Running median filter along one axis, as scipy.ndimage.median_filter with
 * an odd window and mode 'reflect' (edge sample repeated: c b a | a b c |
 * c b a). Used by HPSS on spectrogram rows and columns. */
#ifndef MGC_MEDFILT_H
#define MGC_MEDFILT_H

#include <stddef.h>

#include "mgc/error.h"

/* Floats of scratch that mgc_medfilt1d needs for window width k. */
size_t mgc_medfilt_work_size(int k);

/* out[i * out_stride] = median of x[j * stride] for j in [i - k/2, i + k/2]
 * (indices reflected into [0, n)), i < n. k odd and >= 1; x finite (NaN has
 * no place in a sorted window). work holds mgc_medfilt_work_size(k) floats.
 * Keeps the window sorted, so each step costs O(k), not a sort. Never
 * allocates. out must not overlap x. */
mgc_status mgc_medfilt1d(const float *x, size_t n, size_t stride, int k, float *out, size_t out_stride,
                         float *work);

#endif
