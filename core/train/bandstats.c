#include "mgc/train/bandstats.h"

#include <math.h>
#include <stdlib.h>

/* Chan et al.'s batch update of Welford's running moments, in double: log-mel
 * values sit near -50 dB with a spread of ~20, and a float sum of squares over
 * millions of frames would lose the variance to cancellation. */
struct mgc_band_stats {
  int dim;
  size_t n;
  double *mean; /* [dim] */
  double *m2;   /* [dim] sum of squared deviations from the mean */
  double *bmean, *bm2; /* [dim] scratch: the moments of one added batch */
};

mgc_status mgc_band_stats_new(int dim, mgc_band_stats **out) {
  *out = NULL;
  if (dim < 1) return mgc_error_set(MGC_EINVAL, "band stats: dimension %d must be >= 1", dim);
  mgc_band_stats *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "band stats: out of memory");
  s->dim = dim;
  s->mean = calloc((size_t)dim, sizeof(double));
  s->m2 = calloc((size_t)dim, sizeof(double));
  s->bmean = calloc((size_t)dim, sizeof(double));
  s->bm2 = calloc((size_t)dim, sizeof(double));
  if (!s->mean || !s->m2 || !s->bmean || !s->bm2) {
    mgc_band_stats_free(s);
    return mgc_error_set(MGC_ENOMEM, "band stats: out of memory");
  }
  *out = s;
  return MGC_OK;
}

void mgc_band_stats_add(mgc_band_stats *s, const float *frames, size_t n_frames) {
  if (n_frames == 0) return;
  const size_t d = (size_t)s->dim;
  /* Two passes over the batch (its mean, then squared deviations from it),
   * then merge with the running moments: no cancellation whatever the offset. */
  double *bmean = s->bmean, *bm2 = s->bm2;
  for (size_t j = 0; j < d; j++) bmean[j] = bm2[j] = 0.0;
  /* Frame-major loops: the data is walked in memory order. */
  for (size_t t = 0; t < n_frames; t++)
    for (size_t j = 0; j < d; j++) bmean[j] += frames[t * d + j];
  const double nb = (double)n_frames, na = (double)s->n, nt = na + nb;
  for (size_t j = 0; j < d; j++) bmean[j] /= nb;
  for (size_t t = 0; t < n_frames; t++)
    for (size_t j = 0; j < d; j++) {
      double x = frames[t * d + j] - bmean[j];
      bm2[j] += x * x;
    }
  for (size_t j = 0; j < d; j++) {
    double delta = bmean[j] - s->mean[j];
    s->mean[j] += delta * nb / nt;
    s->m2[j] += bm2[j] + delta * delta * na * nb / nt;
  }
  s->n += n_frames;
}

size_t mgc_band_stats_count(const mgc_band_stats *s) { return s->n; }

void mgc_band_stats_get(const mgc_band_stats *s, float *mean, float *std) {
  for (int j = 0; j < s->dim; j++) {
    if (s->n == 0) {
      mean[j] = 0.0f;
      std[j] = 1.0f;
      continue;
    }
    double sd = sqrt(s->m2[j] / (double)s->n);
    mean[j] = (float)s->mean[j];
    std[j] = (float)(sd > 1e-5 ? sd : 1e-5);
  }
}

void mgc_band_stats_free(mgc_band_stats *s) {
  if (!s) return;
  free(s->mean);
  free(s->m2);
  free(s->bmean);
  free(s->bm2);
  free(s);
}
