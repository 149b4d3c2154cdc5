#include "mgc/util/argmax.h"

int mgc_argmax(const float *p, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (p[i] > p[b]) b = i;
  return b;
}

int mgc_argmax_double(const double *p, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (p[i] > p[b]) b = i;
  return b;
}
