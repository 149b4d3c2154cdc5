#include "mgc/util/argmax.h"

int mgc_argmax(const float *p, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (p[i] > p[b]) b = i;
  return b;
}
