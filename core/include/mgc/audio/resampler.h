/* Streaming mono resampler on soxr (high quality, as librosa's default
 * 'soxr_hq'), for file decoding and for live input at another rate. */
#ifndef MGC_RESAMPLER_H
#define MGC_RESAMPLER_H

#include <stddef.h>

#include "mgc/util/error.h"

typedef struct mgc_resampler mgc_resampler;

mgc_status mgc_resampler_new(double in_rate, double out_rate, mgc_resampler **out);

/* Consume n_in samples (n_in == 0 with in == NULL flushes the filter tail),
 * write up to out_cap samples; *n_out receives how many were written. Call
 * again with the same remaining input if *n_used < n_in. */
mgc_status mgc_resampler_process(mgc_resampler *r, const float *in, size_t n_in, size_t *n_used,
                                 float *out, size_t out_cap, size_t *n_out);

/* Ratio out_rate / in_rate. */
double mgc_resampler_ratio(const mgc_resampler *r);

void mgc_resampler_free(mgc_resampler *r);

#endif
