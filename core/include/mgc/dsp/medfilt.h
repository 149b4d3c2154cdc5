/* Running median filter along one axis, as scipy.ndimage.median_filter with
 * an odd window and mode 'reflect' (edge sample repeated: c b a | a b c |
 * c b a). Used by HPSS on spectrogram rows and columns.
 *
 * The building block is a sorted window of k values that slides by one:
 * the leaving value is replaced by the entering one without branching on
 * the data (position counts and blends, vectorised where the compiler has
 * GCC vector extensions), which is several times faster than an insertion
 * with a binary search and a data-dependent shift. HPSS runs one window per
 * frequency bin side by side to filter along time while streaming frames. */
#ifndef MGC_MEDFILT_H
#define MGC_MEDFILT_H

#include <stddef.h>

#include "mgc/util/error.h"

/* Floats of state one window of width k needs (the sorted values plus
 * sentinels); also the scratch mgc_medfilt1d needs. k >= 1. */
size_t mgc_medfilt_work_size(int k);

/* scipy.ndimage 'reflect' of index i into [0, n), n >= 1 (period 2n, the
 * second half mirrored: -1 -> 0, n -> n - 1). */
size_t mgc_medfilt_reflect(long long i, size_t n);

/* Start a window (mgc_medfilt_work_size(k) floats at win) holding the k
 * values v[0..k); k odd >= 1. Returns their median. */
float mgc_medfilt_window_init(float *win, int k, const float *v);

/* Replace one value equal to `leaving` (it must be in the window) by
 * `entering`; returns the new median. Never allocates, no data-dependent
 * branches. */
float mgc_medfilt_window_slide(float *win, int k, float leaving, float entering);

/* out[i * out_stride] = median of x[j * stride] for j in [i - k/2, i + k/2]
 * (indices reflected into [0, n)), i < n. k odd and >= 1; x finite (NaN has
 * no place in a sorted window). work holds mgc_medfilt_work_size(k) floats.
 * Keeps the window sorted, so each step costs O(k), not a sort. Never
 * allocates. out must not overlap x. */
mgc_status mgc_medfilt1d(const float *x, size_t n, size_t stride, int k, float *out, size_t out_stride,
                         float *work);

#endif
