#include "mgc/audio/resampler.h"

#include <soxr.h>
#include <stdlib.h>

struct mgc_resampler {
  soxr_t soxr;
  double ratio;
};

mgc_status mgc_resampler_new(double in_rate, double out_rate, mgc_resampler **out) {
  *out = NULL;
  if (!(in_rate > 0) || !(out_rate > 0))
    return mgc_error_set(MGC_EINVAL, "resampler: rates must be positive (%g -> %g)", in_rate, out_rate);
  mgc_resampler *r = calloc(1, sizeof *r);
  if (!r) return mgc_error_set(MGC_ENOMEM, "resampler: out of memory");
  soxr_error_t err = NULL;
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  r->soxr = soxr_create(in_rate, out_rate, 1, &err, &io, &q, NULL);
  if (err || !r->soxr) {
    free(r);
    return mgc_error_set(MGC_EINVAL, "resampler: soxr: %s", err ? err : "create failed");
  }
  r->ratio = out_rate / in_rate;
  *out = r;
  return MGC_OK;
}

double mgc_resampler_ratio(const mgc_resampler *r) { return r->ratio; }

mgc_status mgc_resampler_process(mgc_resampler *r, const float *in, size_t n_in, size_t *n_used,
                                 float *out, size_t out_cap, size_t *n_out) {
  size_t idone = 0, odone = 0;
  soxr_error_t err = soxr_process(r->soxr, in, n_in, &idone, out, out_cap, &odone);
  if (n_used) *n_used = idone;
  *n_out = odone;
  if (err) return mgc_error_set(MGC_EIO, "resampler: soxr: %s", err);
  return MGC_OK;
}

void mgc_resampler_free(mgc_resampler *r) {
  if (!r) return;
  soxr_delete(r->soxr);
  free(r);
}
