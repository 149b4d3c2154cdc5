/* mgc-features: compute a feature matrix of an audio file with mgc's
 * front-end and write it as .npy, [n_features, n_frames] float32 as librosa
 * returns it, so it can be compared with any other implementation. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/audio/audio.h"
#include "mgc/train/augment.h"
#include "mgc/dsp/features.h"
#include "mgc/io/npy.h"
#include "mgc/dsp/clip_features.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgc-features FILE [--kind logmel|mfcc|chroma|stft] [--out X.npy] [options]\n"
          "       mgc-features --kind table FILE... [--sr HZ] [--variant V [--seed N]]\n"
          "\n"
          "Decode FILE (any format libsndfile reads), resample to the front-end rate,\n"
          "and compute one feature matrix, written as float32 .npy [n_features, n_frames].\n"
          "--kind table prints, as CSV on stdout, the 57 clip-level features of the\n"
          "GTZAN feature table (features_30_sec.csv) for every FILE, computed as librosa\n"
          "does (fixed parameters: only --sr, --variant and --seed apply).\n"
          "\n"
          "  -k, --kind K       logmel (default), mfcc, chroma, stft (power spectrogram) or\n"
          "                     table (57 clip-level features, CSV; several FILEs)\n"
          "  -o, --out PATH     write the matrix here (otherwise only a summary is printed)\n"
          "      --sr HZ        sample rate (22050)       --n-fft N   FFT size (2048)\n"
          "      --hop N        hop length (512)          --n-mels N  mel bands (128)\n"
          "      --fmin HZ      lowest mel freq (0)       --fmax HZ   highest (sr/2)\n"
          "      --n-mfcc N     MFCC coefficients (20)    --n-chroma N chroma bins (12)\n"
          "      --htk          HTK mel scale instead of Slaney\n"
          "      --no-norm      no Slaney area normalisation of the mel filters\n"
          "      --pad MODE     reflect (default) or constant\n"
          "      --no-center    frames start at sample 0 (no padding)\n"
          "      --top-db DB    clip dB below max - DB over the file (librosa mfcc uses 80)\n"
          "      --tuning T     chroma tuning in bins, or 'estimate' (default, as librosa)\n"
          "      --variant V    alter the audio first, as mgc-train's audio augmentation and\n"
          "                     mgc-eval --robustness do: speed1.25, pitch+2, noise10, ...\n"
          "      --seed N       random seed of a noise variant (0)\n"
          "      --ascii        draw the matrix in the terminal (time left to right)\n"
          "  -q, --quiet        print nothing but errors\n"
          "  -h, --help         this help\n");
}

/* A terminal heat map: feature rows grouped into at most 16 lines (highest
 * row on top), frames into at most 72 columns, shaded over the top 80 units
 * (dB) or the full range for other features. */
static void draw_ascii(const mgc_feature_matrix *m, int is_db) {
  static const char shades[] = " .:-=+*#%@";
  const size_t rows = m->dim < 16 ? m->dim : 16, cols = m->n_frames < 72 ? m->n_frames : 72;
  if (rows == 0 || cols == 0) return;
  float mx = -INFINITY, mn = INFINITY;
  for (size_t i = 0; i < m->n_frames * m->dim; i++) {
    mx = fmaxf(mx, m->data[i]);
    mn = fminf(mn, m->data[i]);
  }
  if (is_db) mn = fmaxf(mn, mx - 80.0f);
  for (size_t r = rows; r-- > 0;) {
    size_t d0 = r * m->dim / rows, d1 = (r + 1) * m->dim / rows;
    printf("  |");
    for (size_t c = 0; c < cols; c++) {
      size_t t0 = c * m->n_frames / cols, t1 = (c + 1) * m->n_frames / cols;
      double acc = 0;
      for (size_t t = t0; t < t1; t++)
        for (size_t d = d0; d < d1; d++) acc += m->data[t * m->dim + d];
      double v = acc / (double)((t1 - t0) * (d1 - d0));
      double u = mx > mn ? (v - mn) / (mx - mn) : 0.0;
      int k = (int)(u * 9.999);
      putchar(shades[k < 0 ? 0 : k > 9 ? 9 : k]);
    }
    printf("|\n");
  }
  printf("  +%.*s+\n", (int)cols, "------------------------------------------------------------------------");
}

/* One CSV field: quoted (quotes doubled) when it holds a comma, quote or
 * line break. */
static void put_csv_field(const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

/* path decoded at rate, through the audio variant if one is given; a
 * failure is reported on stderr (returns -1). */
static int load_audio(const char *path, int rate, const char *variant, unsigned long long seed, mgc_audio *a) {
  if (mgc_audio_load(path, rate, a)) {
    fprintf(stderr, "mgc-features: %s\n", mgc_error_message());
    return -1;
  }
  if (!variant) return 0;
  float *y;
  size_t n;
  if (mgc_audio_variant(variant, seed, a->samples, a->n, a->rate, &y, &n)) {
    fprintf(stderr, "mgc-features: %s: %s\n", path, mgc_error_message());
    mgc_audio_free(a);
    return -1;
  }
  free(a->samples);
  a->samples = y;
  a->n = n;
  return 0;
}

/* --kind table: a header, then one row per file that could be read; every
 * failure is reported on stderr and makes the exit status 1. */
static int run_table(char **files, int n_files, int rate, const char *variant, unsigned long long seed) {
  printf("filename");
  for (int i = 0; i < MGC_CLIP_DIM; i++) printf(",%s", mgc_clip_feature_name(i));
  printf("\n");
  int failed = 0;
  for (int f = 0; f < n_files; f++) {
    const char *path = files[f];
    mgc_audio audio;
    if (load_audio(path, rate, variant, seed, &audio)) {
      failed = 1;
      continue;
    }
    float row[MGC_CLIP_DIM];
    if (mgc_clip_features(audio.samples, audio.n, audio.rate, row)) {
      fprintf(stderr, "mgc-features: %s: %s\n", path, mgc_error_message());
      mgc_audio_free(&audio);
      failed = 1;
      continue;
    }
    mgc_audio_free(&audio);
    put_csv_field(path);
    for (int i = 0; i < MGC_CLIP_DIM; i++) printf(",%.9g", (double)row[i]);
    printf("\n");
    fflush(stdout);
  }
  return failed;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
  char *e;
  double v = strtod(s, &e);
  if (e == s || *e || !(v >= lo && v <= hi)) {
    fprintf(stderr, "mgc-features: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

/* The matrix in librosa's layout (one row per feature, one column per
 * frame) as .npy; returns the exit status. */
static int write_npy(const char *out_path, const mgc_feature_matrix *m) {
  float *t = malloc(sizeof(float) * (m->n_frames * m->dim + 1));
  if (!t) {
    fprintf(stderr, "mgc-features: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < m->n_frames; i++)
    for (size_t d = 0; d < m->dim; d++) t[d * m->n_frames + i] = m->data[i * m->dim + d];
  size_t shape[2] = {m->dim, m->n_frames};
  int rc = 0;
  if (mgc_npy_write(out_path, t, 2, shape)) {
    fprintf(stderr, "mgc-features: %s\n", mgc_error_message());
    rc = 1;
  }
  free(t);
  return rc;
}

/* What was computed, in a few lines (and the spectrogram drawn with --ascii). */
static void print_summary(const char *path, const mgc_audio *a, mgc_feature_kind kind, const mgc_feature_matrix *m,
                          int ascii, const char *out_path) {
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  for (size_t i = 0; i < m->n_frames * m->dim; i++) {
    mn = fmin(mn, m->data[i]);
    mx = fmax(mx, m->data[i]);
    sum += m->data[i];
  }
  printf("%s: %.2f s (%d Hz, %d ch) -> %zu samples at %d Hz\n", path,
         (double)a->n / a->rate, a->source_rate, a->source_channels, a->n, a->rate);
  printf("%s: [%zu, %zu] (features x frames)  min %.4g  max %.4g  mean %.4g", mgc_feature_kind_name(kind),
         m->dim, m->n_frames, mn, mx, m->n_frames ? sum / (double)(m->n_frames * m->dim) : 0.0);
  if (kind == MGC_KIND_CHROMA) printf("  tuning %+.2f bins", m->tuning);
  printf("\n");
  if (ascii) draw_ascii(m, kind == MGC_KIND_LOGMEL);
  if (out_path) printf("wrote %s\n", out_path);
}

int main(int argc, char **argv) {
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.tuning = NAN;
  const char *out_path = NULL, *kind_name = "logmel", *variant = NULL;
  unsigned long long seed = 0;
  int quiet = 0, ascii = 0;
  enum { O_SR = 256, O_NFFT, O_HOP, O_NMELS, O_FMIN, O_FMAX, O_NMFCC, O_NCHROMA, O_HTK, O_NONORM, O_PAD,
         O_NOCENTER, O_TOPDB, O_TUNING, O_ASCII, O_VARIANT, O_SEED };
  static const struct option opts[] = {
      {"kind", required_argument, 0, 'k'},   {"out", required_argument, 0, 'o'},
      {"sr", required_argument, 0, O_SR},    {"n-fft", required_argument, 0, O_NFFT},
      {"hop", required_argument, 0, O_HOP},  {"n-mels", required_argument, 0, O_NMELS},
      {"fmin", required_argument, 0, O_FMIN}, {"fmax", required_argument, 0, O_FMAX},
      {"n-mfcc", required_argument, 0, O_NMFCC}, {"n-chroma", required_argument, 0, O_NCHROMA},
      {"htk", no_argument, 0, O_HTK},        {"no-norm", no_argument, 0, O_NONORM},
      {"pad", required_argument, 0, O_PAD},  {"no-center", no_argument, 0, O_NOCENTER},
      {"top-db", required_argument, 0, O_TOPDB}, {"tuning", required_argument, 0, O_TUNING},
      {"ascii", no_argument, 0, O_ASCII},    {"variant", required_argument, 0, O_VARIANT},
      {"seed", required_argument, 0, O_SEED},    {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "k:o:qh", opts, NULL)) != -1) {
    switch (c) {
      case 'k': kind_name = optarg; break;
      case 'o': out_path = optarg; break;
      case 'q': quiet = 1; break;
      case 'h': usage(stdout); return 0;
      case O_SR: if (parse_num("--sr", optarg, 1000, 384000, &v)) return 2; p.sample_rate = (int)v; break;
      case O_NFFT: if (parse_num("--n-fft", optarg, 16, 65536, &v)) return 2; p.n_fft = (int)v; break;
      case O_HOP: if (parse_num("--hop", optarg, 1, 65536, &v)) return 2; p.hop_length = (int)v; break;
      case O_NMELS: if (parse_num("--n-mels", optarg, 1, 1024, &v)) return 2; p.n_mels = (int)v; break;
      case O_FMIN: if (parse_num("--fmin", optarg, 0, 1e6, &v)) return 2; p.fmin = v; break;
      case O_FMAX: if (parse_num("--fmax", optarg, 0, 1e6, &v)) return 2; p.fmax = v; break;
      case O_NMFCC: if (parse_num("--n-mfcc", optarg, 1, 1024, &v)) return 2; p.n_mfcc = (int)v; break;
      case O_NCHROMA: if (parse_num("--n-chroma", optarg, 1, 120, &v)) return 2; p.n_chroma = (int)v; break;
      case O_HTK: p.mel_scale = MGC_MEL_HTK; break;
      case O_NONORM: p.mel_norm = MGC_MELNORM_NONE; break;
      case O_PAD:
        if (!strcmp(optarg, "reflect")) p.pad_mode = MGC_PAD_REFLECT;
        else if (!strcmp(optarg, "constant")) p.pad_mode = MGC_PAD_CONSTANT;
        else { fprintf(stderr, "mgc-features: --pad: 'reflect' or 'constant', not '%s'\n", optarg); return 2; }
        break;
      case O_NOCENTER: p.center = 0; break;
      case O_ASCII: ascii = 1; break;
      case O_VARIANT: variant = optarg; break;
      case O_SEED: seed = strtoull(optarg, NULL, 10); break;
      case O_TOPDB: if (parse_num("--top-db", optarg, 0, 1000, &v)) return 2; p.top_db = v; break;
      case O_TUNING:
        if (!strcmp(optarg, "estimate")) p.tuning = NAN;
        else if (parse_num("--tuning", optarg, -0.5, 0.5, &p.tuning)) return 2;
        break;
      default: usage(stderr); return 2;
    }
  }
  if (!strcmp(kind_name, "table")) {
    if (optind >= argc || out_path || ascii) {
      if (out_path || ascii) fprintf(stderr, "mgc-features: --kind table writes CSV to stdout (no --out, --ascii)\n");
      usage(stderr);
      return 2;
    }
    if (mgc_frontend_params_validate(&p) || (variant && mgc_audio_variant_check(variant))) {
      fprintf(stderr, "mgc-features: %s\n", mgc_error_message());
      return 2;
    }
    return run_table(argv + optind, argc - optind, p.sample_rate, variant, seed);
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  const char *path = argv[optind];
  mgc_feature_kind kind;
  if (mgc_feature_kind_parse(kind_name, &kind) || mgc_frontend_params_validate(&p) ||
      (variant && mgc_audio_variant_check(variant))) {
    fprintf(stderr, "mgc-features: %s\n", mgc_error_message());
    return 2;
  }
  mgc_audio audio;
  if (load_audio(path, p.sample_rate, variant, seed, &audio)) return 1;
  mgc_feature_matrix m;
  if (mgc_features_compute(&p, kind, audio.samples, audio.n, &m)) {
    fprintf(stderr, "mgc-features: %s: %s\n", path, mgc_error_message());
    mgc_audio_free(&audio);
    return 1;
  }
  int rc = out_path ? write_npy(out_path, &m) : 0;
  if (!quiet && rc == 0) print_summary(path, &audio, kind, &m, ascii, out_path);
  mgc_feature_matrix_free(&m);
  mgc_audio_free(&audio);
  return rc;
}
