#include "mgc/util/temperature.h"

#include <math.h>
#include <stddef.h>

void mgc_temperature_apply(float *p, int C, double T) {
  double mx = -INFINITY, se = 0;
  for (int k = 0; k < C; k++) mx = fmax(mx, log(fmax((double)p[k], MGC_TEMPERATURE_FLOOR)) / T);
  for (int k = 0; k < C; k++) se += exp(log(fmax((double)p[k], MGC_TEMPERATURE_FLOOR)) / T - mx);
  for (int k = 0; k < C; k++)
    p[k] = (float)(exp(log(fmax((double)p[k], MGC_TEMPERATURE_FLOOR)) / T - mx) / se);
}

/* Mean NLL of the distributions at inverse temperature b. */
static double nll_at(const float *p, const int *labels, int n, int C, double b) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    const float *r = p + (size_t)i * C;
    double mx = -INFINITY, se = 0;
    for (int k = 0; k < C; k++) mx = fmax(mx, b * log(fmax((double)r[k], MGC_TEMPERATURE_FLOOR)));
    for (int k = 0; k < C; k++) se += exp(b * log(fmax((double)r[k], MGC_TEMPERATURE_FLOOR)) - mx);
    s -= b * log(fmax((double)r[labels[i]], MGC_TEMPERATURE_FLOOR)) - mx - log(se);
  }
  return s / n;
}

mgc_status mgc_temperature_fit(const float *p, const int *labels, int n, int C, double *T) {
  if (n < 1 || C < 2) return mgc_error_set(MGC_EINVAL, "temperature: no predictions to fit on");
  for (int i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= C)
      return mgc_error_set(MGC_EINVAL, "temperature: label %d of prediction %d", labels[i], i);
  const double g = (sqrt(5.0) - 1) / 2;
  double lo = 1 / 20.0, hi = 1 / 0.05;
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  double f1 = nll_at(p, labels, n, C, x1), f2 = nll_at(p, labels, n, C, x2);
  while (hi - lo > 1e-6) {
    if (f1 <= f2) {
      hi = x2, x2 = x1, f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = nll_at(p, labels, n, C, x1);
    } else {
      lo = x1, x1 = x2, f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = nll_at(p, labels, n, C, x2);
    }
  }
  *T = 2 / (lo + hi);
  return MGC_OK;
}
