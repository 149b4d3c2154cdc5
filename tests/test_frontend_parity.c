/* Parity with librosa's definitions, on golden values from
 * tests/golden/make_golden.py (float64 NumPy re-implementation, cross-checked
 * against torchaudio there): 4 s of a real GTZAN clip and a synthetic signal.
 *
 * Tolerances (documented in README):
 *  - log-mel: 0.01 dB wherever the mel power exceeds 1e-6 (the bar);
 *  - MFCC: MFCC_TOL absolute per coefficient, every frame (values span +-300);
 *  - chroma: 1e-4 absolute (values are in [0, 1]);
 *  - estimated tuning: equal to the 0.01-bin histogram resolution. */
#include <math.h>

#include "mgc/audio/audio.h"
#include "mgc/dsp/features.h"
#include "test_util.h"

#define MFCC_TOL 0.1 /* measured: 0.0015 on music, 0.041 on the synthetic signal */

typedef struct {
  const char *name;
  float *y;
  size_t n;
  mgc_audio audio;
  mgc_npy input;
} test_signal;

static void get_signal(const char *name, test_signal *s) {
  char path[512];
  memset(s, 0, sizeof *s);
  s->name = name;
  if (!strcmp(name, "blues")) {
    if (mgc_audio_load(fixture(path, sizeof path, "blues.00000_10s-14s.wav"), 22050, &s->audio))
      fail_msg("%s", mgc_error_message());
    s->y = s->audio.samples;
    s->n = s->audio.n;
  } else {
    load_npy(fixture(path, sizeof path, "golden/synth.input.npy"), &s->input);
    s->y = s->input.data;
    s->n = mgc_npy_count(&s->input);
  }
}

static void put_signal(test_signal *s) {
  mgc_audio_free(&s->audio);
  mgc_npy_free(&s->input);
}

/* tests/fixtures/golden/<name>.<key>.npy */
static void load_golden(const char *name, const char *key, mgc_npy *a) {
  char path[512], file[128];
  snprintf(file, sizeof file, "golden/%s.%s.npy", name, key);
  load_npy(fixture(path, sizeof path, file), a);
}

static void compute(const test_signal *s, mgc_feature_kind kind, double tuning, mgc_feature_matrix *m) {
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.tuning = tuning;
  if (mgc_features_compute(&p, kind, s->y, s->n, m)) fail_msg("%s", mgc_error_message());
}

/* golden is [dim][frames]; m is [frames][dim] */
static void check_shape(const mgc_npy *g, const mgc_feature_matrix *m) {
  assert_int_equal(g->ndim, 2);
  assert_int_equal(g->shape[0], m->dim);
  assert_int_equal(g->shape[1], m->n_frames);
}

static void logmel_case(const char *name) {
  test_signal s;
  get_signal(name, &s);
  mgc_npy g, pw;
  load_golden(name, "logmel", &g);
  load_golden(name, "melpower", &pw);
  mgc_feature_matrix m;
  compute(&s, MGC_KIND_LOGMEL, 0.0, &m);
  check_shape(&g, &m);
  double worst = 0;
  size_t checked = 0, floor_ok = 0;
  for (size_t d = 0; d < m.dim; d++)
    for (size_t t = 0; t < m.n_frames; t++) {
      double ref = g.data[d * m.n_frames + t], got = m.data[t * m.dim + d];
      if (pw.data[d * m.n_frames + t] > 1e-6) {
        worst = fmax(worst, fabs(ref - got));
        checked++;
      } else if (ref <= -99.99 && got <= -99.99) {
        floor_ok++;
      }
    }
  printf("  %s log-mel: max |err| %.5f dB over %zu values with power > 1e-6 (%zu at the floor)\n", name, worst,
         checked, floor_ok);
  assert_true(checked > m.dim * m.n_frames / 4);
  assert_true(worst < 0.01);
  if (!strcmp(name, "synth")) assert_true(floor_ok > 0); /* the silent tail hits the 1e-10 floor */
  mgc_feature_matrix_free(&m);
  mgc_npy_free(&g);
  mgc_npy_free(&pw);
  put_signal(&s);
}

static void test_logmel_blues(void **st) { (void)st; logmel_case("blues"); }
static void test_logmel_synth(void **st) { (void)st; logmel_case("synth"); }

static void mfcc_case(const char *name) {
  test_signal s;
  get_signal(name, &s);
  mgc_npy g;
  load_golden(name, "mfcc", &g);
  mgc_feature_matrix m;
  compute(&s, MGC_KIND_MFCC, 0.0, &m);
  check_shape(&g, &m);
  /* Every frame counts: bands near the 1e-10 floor carry float32 FFT noise in
   * dB, which the DCT spreads over all coefficients, hence the looser bound
   * than log-mel's on loud bands. */
  double worst = 0;
  for (size_t t = 0; t < m.n_frames; t++)
    for (size_t d = 0; d < m.dim; d++) worst = fmax(worst, fabs(g.data[d * m.n_frames + t] - m.data[t * m.dim + d]));
  printf("  %s MFCC: max |err| %.5f over all %zu frames\n", name, worst, m.n_frames);
  assert_true(worst < MFCC_TOL);
  mgc_feature_matrix_free(&m);
  mgc_npy_free(&g);
  put_signal(&s);
}

static void test_mfcc_blues(void **st) { (void)st; mfcc_case("blues"); }
static void test_mfcc_synth(void **st) { (void)st; mfcc_case("synth"); }

static double golden_tuning(const char *name) {
  char path[512];
  FILE *f = fopen(fixture(path, sizeof path, "golden/golden.json"), "r");
  assert_non_null(f);
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char key[64];
  snprintf(key, sizeof key, "\"%s\"", name);
  char *p = strstr(buf, key);
  assert_non_null(p);
  p = strstr(p, "\"tuning\":");
  assert_non_null(p);
  return strtod(p + 9, NULL);
}

static void chroma_case(const char *name, int estimate) {
  test_signal s;
  get_signal(name, &s);
  mgc_npy g;
  load_golden(name, estimate ? "chroma" : "chroma_t0", &g);
  mgc_feature_matrix m;
  compute(&s, MGC_KIND_CHROMA, estimate ? NAN : 0.0, &m);
  check_shape(&g, &m);
  if (estimate) {
    double want = golden_tuning(name);
    printf("  %s tuning: %+.2f (golden %+.2f)\n", name, m.tuning, want);
    assert_true(fabs(m.tuning - want) < 0.005);
  }
  double worst = 0;
  for (size_t d = 0; d < m.dim; d++)
    for (size_t t = 0; t < m.n_frames; t++)
      worst = fmax(worst, fabs(g.data[d * m.n_frames + t] - m.data[t * m.dim + d]));
  printf("  %s chroma (%s tuning): max |err| %.2e\n", name, estimate ? "estimated" : "zero", worst);
  assert_true(worst < 1e-4);
  mgc_feature_matrix_free(&m);
  mgc_npy_free(&g);
  put_signal(&s);
}

static void test_chroma_blues(void **st) { (void)st; chroma_case("blues", 1); }
static void test_chroma_blues_t0(void **st) { (void)st; chroma_case("blues", 0); }
static void test_chroma_synth(void **st) { (void)st; chroma_case("synth", 1); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logmel_blues),  cmocka_unit_test(test_logmel_synth),
      cmocka_unit_test(test_mfcc_blues),    cmocka_unit_test(test_mfcc_synth),
      cmocka_unit_test(test_chroma_blues),  cmocka_unit_test(test_chroma_blues_t0),
      cmocka_unit_test(test_chroma_synth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
