/* What every benchmark program needs: a monotonic clock, the median of
 * repeated timings (robust to the odd slow run on a shared machine), and
 * a fatal error naming the program. */
#ifndef MGC_BENCH_UTIL_H
#define MGC_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mgc/util/error.h"

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v in place. */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline void bench_die(const char *prog, const char *what) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, mgc_error_message());
  exit(1);
}

#endif
