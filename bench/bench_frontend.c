/* bench_frontend: log-mel throughput of mgc's front-end on one 30 s clip,
 * one thread.
 *
 *   bench_frontend FILE [--repeat N] [--json] [--write-raw PATH]
 *                       [--dump-logmel OUT.npy]
 *
 * FILE is decoded with mgc_audio_load at 22050 Hz and cut to its first 30 s
 * (661500 samples; shorter files are refused). Two rows are timed, each after
 * one warm-up run:
 *
 *   whole   mgc_features_compute(MGC_KIND_LOGMEL): everything a caller pays
 *           per clip, including framer creation (FFTW planning) and the
 *           output matrix allocation.
 *   stream  one framer created outside the timed region; each repetition
 *           feeds the clip in 512-sample chunks and flushes.
 *
 * Reported per row: median and min seconds per 30 s clip and throughput as
 * "x real time" (30 / median). --write-raw writes the exact float32 input
 * (raw little-endian) so a peer implementation (torchaudio_frontend.py) can
 * time the same samples; --dump-logmel writes the whole-path log-mel as a
 * [n_mels][frames] float32 .npy (librosa/torchaudio layout) for a numerical
 * cross-check. This is a benchmark, not a test: it never fails on speed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgc/audio/audio.h"
#include "mgc/util/error.h"
#include "mgc/dsp/features.h"
#include "mgc/dsp/framer.h"
#include "mgc/io/npy.h"
#include "mgc/dsp/params.h"

#define CLIP_SECONDS 30
#define CHUNK 512

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of t[0..n) (sorts t). */
static double median_sorted(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct {
  const char *path; /* "whole" | "stream" */
  double median_s, min_s, xrt;
  size_t frames;
} row;

static void report(const row *r, int repeat, int json) {
  printf("mgc %-6s  median %8.3f ms  min %8.3f ms  %7.1fx real time  (%zu frames, %d reps)\n",
         r->path, r->median_s * 1e3, r->min_s * 1e3, r->xrt, r->frames, repeat);
  if (json)
    printf("{\"impl\":\"mgc\",\"path\":\"%s\",\"median_s\":%.9f,\"min_s\":%.9f,\"xrt\":%.3f,"
           "\"frames\":%zu,\"repeat\":%d,\"clip_s\":%d}\n",
           r->path, r->median_s, r->min_s, r->xrt, r->frames, repeat, CLIP_SECONDS);
  fflush(stdout);
}

static void summarise(row *r, double *t, int repeat) {
  r->median_s = median_sorted(t, repeat);
  r->min_s = t[0];
  r->xrt = (double)CLIP_SECONDS / r->median_s;
}

/* ---- whole-file path ---------------------------------------------------- */

static int time_whole(const mgc_frontend_params *p, const float *y, size_t n, int repeat,
                      double *t, row *r) {
  mgc_feature_matrix m;
  if (mgc_features_compute(p, MGC_KIND_LOGMEL, y, n, &m)) { /* warm-up */
    fprintf(stderr, "bench_frontend: features: %s\n", mgc_error_message());
    return -1;
  }
  r->frames = m.n_frames;
  mgc_feature_matrix_free(&m);
  for (int i = 0; i < repeat; i++) {
    const double t0 = now_s();
    mgc_status st = mgc_features_compute(p, MGC_KIND_LOGMEL, y, n, &m);
    const double t1 = now_s();
    if (st) {
      fprintf(stderr, "bench_frontend: features: %s\n", mgc_error_message());
      return -1;
    }
    mgc_feature_matrix_free(&m);
    t[i] = t1 - t0;
  }
  r->path = "whole";
  summarise(r, t, repeat);
  return 0;
}

/* ---- streaming path ----------------------------------------------------- */

typedef struct {
  size_t frames;
  float sink; /* keeps the compiler from treating the frames as dead */
} stream_ctx;

static int on_frame(void *user, const mgc_frame *f) {
  stream_ctx *c = user;
  c->frames++;
  c->sink += f->mel_db[0];
  return 0;
}

static int stream_once(mgc_framer *fr, const float *y, size_t n, stream_ctx *c) {
  for (size_t i = 0; i < n; i += CHUNK) {
    const size_t k = n - i < CHUNK ? n - i : CHUNK;
    if (mgc_framer_process(fr, y + i, k, on_frame, c)) return -1;
  }
  return mgc_framer_flush(fr, on_frame, c) ? -1 : 0;
}

static int time_stream(const mgc_frontend_params *p, const float *y, size_t n, int repeat,
                       double *t, row *r) {
  mgc_framer *fr = NULL;
  if (mgc_framer_new(p, MGC_FEAT_LOGMEL, &fr)) {
    fprintf(stderr, "bench_frontend: framer: %s\n", mgc_error_message());
    return -1;
  }
  stream_ctx c = {0, 0.0f};
  int rc = stream_once(fr, y, n, &c); /* warm-up */
  r->frames = c.frames;
  for (int i = 0; i < repeat && rc == 0; i++) {
    c.frames = 0;
    const double t0 = now_s();
    rc = stream_once(fr, y, n, &c);
    const double t1 = now_s();
    t[i] = t1 - t0;
    if (c.frames != r->frames) rc = -1;
  }
  mgc_framer_free(fr);
  if (rc) {
    fprintf(stderr, "bench_frontend: streaming failed\n");
    return -1;
  }
  if (c.sink == 12345.678f) fprintf(stderr, " "); /* use the sink */
  r->path = "stream";
  summarise(r, t, repeat);
  return 0;
}

/* ---- outputs for the peer ----------------------------------------------- */

static int write_raw(const char *path, const float *y, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "bench_frontend: %s: %s\n", path, strerror(errno));
    return -1;
  }
  /* float32 in host order; every platform mgc runs on is little-endian. */
  size_t w = fwrite(y, sizeof(float), n, f);
  if (fclose(f) != 0 || w != n) {
    fprintf(stderr, "bench_frontend: %s: write failed\n", path);
    return -1;
  }
  return 0;
}

static int dump_logmel(const char *path, const mgc_frontend_params *p, const float *y, size_t n) {
  mgc_feature_matrix m;
  if (mgc_features_compute(p, MGC_KIND_LOGMEL, y, n, &m)) {
    fprintf(stderr, "bench_frontend: features: %s\n", mgc_error_message());
    return -1;
  }
  float *tr = malloc(sizeof(float) * (m.n_frames ? m.n_frames : 1) * m.dim);
  if (!tr) {
    mgc_feature_matrix_free(&m);
    fprintf(stderr, "bench_frontend: out of memory\n");
    return -1;
  }
  for (size_t t = 0; t < m.n_frames; t++)
    for (size_t d = 0; d < m.dim; d++) tr[d * m.n_frames + t] = m.data[t * m.dim + d];
  const size_t shape[2] = {m.dim, m.n_frames};
  mgc_status st = mgc_npy_write(path, tr, 2, shape);
  free(tr);
  mgc_feature_matrix_free(&m);
  if (st) {
    fprintf(stderr, "bench_frontend: %s\n", mgc_error_message());
    return -1;
  }
  return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *to) {
  fprintf(to,
          "usage: bench_frontend FILE [--repeat N] [--json] [--write-raw PATH] "
          "[--dump-logmel OUT.npy]\n"
          "Times mgc's log-mel front-end on the first 30 s of FILE (22050 Hz, one thread).\n");
}

int main(int argc, char **argv) {
  const char *file = NULL, *raw_path = NULL, *dump_path = NULL;
  int repeat = 20, json = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--repeat") && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 100000) {
        fprintf(stderr, "bench_frontend: --repeat wants a positive integer, got '%s'\n", argv[i]);
        return 2;
      }
      repeat = (int)v;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--write-raw") && i + 1 < argc) {
      raw_path = argv[++i];
    } else if (!strcmp(a, "--dump-logmel") && i + 1 < argc) {
      dump_path = argv[++i];
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-' || file) {
      usage(stderr);
      return 2;
    } else {
      file = a;
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }

  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_audio a;
  if (mgc_audio_load(file, p.sample_rate, &a)) {
    fprintf(stderr, "bench_frontend: %s\n", mgc_error_message());
    return 1;
  }
  const size_t n = (size_t)CLIP_SECONDS * (size_t)p.sample_rate;
  if (a.n < n) {
    fprintf(stderr, "bench_frontend: %s: %.2f s of audio, need at least %d s\n", file,
            (double)a.n / p.sample_rate, CLIP_SECONDS);
    mgc_audio_free(&a);
    return 1;
  }
  const float *y = a.samples;

  int rc = 0;
  if (raw_path && write_raw(raw_path, y, n)) rc = 1;
  if (!rc && dump_path && dump_logmel(dump_path, &p, y, n)) rc = 1;

  double *t = malloc(sizeof(double) * (size_t)repeat);
  if (!rc && !t) {
    fprintf(stderr, "bench_frontend: out of memory\n");
    rc = 1;
  }
  row r;
  if (!rc) rc = time_whole(&p, y, n, repeat, t, &r) ? 1 : 0;
  if (!rc) report(&r, repeat, json);
  if (!rc) rc = time_stream(&p, y, n, repeat, t, &r) ? 1 : 0;
  if (!rc) report(&r, repeat, json);

  free(t);
  mgc_audio_free(&a);
  return rc;
}
