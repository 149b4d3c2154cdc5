#include "mgc/dsp/hann.h"

#include <math.h>

double mgc_hann(size_t i, size_t n) { return 0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)n); }

void mgc_hann_fill(float *w, size_t n) {
  for (size_t i = 0; i < n; i++) w[i] = (float)mgc_hann(i, n);
}
