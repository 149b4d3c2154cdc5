/* What reloads do to a process's memory, through the library alone: load
 * an ensemble and its live stream N times, as mgcd's SIGHUP does (the new
 * one built while the previous one is still alive, --overlap) or one after
 * the other, feed each 20 s of audio, free the previous, trim the heap, and
 * print RSS and malloc's in-use bytes every 5 loads (bench/README.md, soak).
 *
 *   bench_reload ENSEMBLE.yaml N [--overlap] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/stream/ensemble_stream.h"

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_reload ENSEMBLE.yaml N [--overlap]\n");
    return 2;
  }
  int n = atoi(argv[2]), overlap = argc > 3 && !strcmp(argv[3], "--overlap");
  mallopt(M_MMAP_THRESHOLD, 128 * 1024); /* as mgcd */
  static float x[22050];
  for (int j = 0; j < 22050; j++) x[j] = 0.1f * (float)((j * 7919) % 200 - 100) / 100.0f;
  mgc_ensemble *old_e = NULL;
  mgc_ensemble_stream *old_s = NULL;
  for (int i = 0; i < n; i++) {
    if (!overlap && old_s) {
      mgc_ensemble_stream_free(old_s);
      mgc_ensemble_free(old_e);
      old_s = NULL;
    }
    mgc_ensemble *e;
    mgc_ensemble_stream *s;
    mgc_pipeline_params pp;
    mgc_pipeline_params_default(&pp);
    if (mgc_ensemble_load(argv[1], MGC_ENSEMBLE_LOAD_MODELS, &e) || mgc_ensemble_stream_new(e, &pp, &s))
      bench_die("bench_reload", argv[1]);
    for (int k = 0; k < 20; k++) mgc_ensemble_stream_process(s, x, 22050, NULL, NULL);
    if (old_s) {
      mgc_ensemble_stream_free(old_s);
      mgc_ensemble_free(old_e);
    }
    old_s = s, old_e = e;
    malloc_trim(0);
    struct mallinfo2 m = mallinfo2();
    if (i % 5 == 0 || i == n - 1)
      printf("load %d: RSS %.1f MB, heap in use %.2f MB, mapped %.1f MB\n", i + 1, rss_kb() / 1024.0,
             m.uordblks / 1048576.0, m.hblkhd / 1048576.0);
  }
  mgc_ensemble_stream_free(old_s);
  mgc_ensemble_free(old_e);
  return 0;
}
