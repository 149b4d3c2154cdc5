/* Front-end parameter serialisation and .npy reading/writing. */
#include <math.h>
#include <unistd.h>

#include "mgc/util/parse.h"
#include "mgc/dsp/params.h"
#include "test_util.h"

static void test_params_default_valid(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  assert_int_equal(mgc_frontend_params_validate(&p), MGC_OK);
  assert_int_equal(p.sample_rate, 22050);
  assert_int_equal(p.n_fft, 2048);
  assert_int_equal(p.hop_length, 512);
  assert_int_equal(p.n_mels, 128);
  assert_int_equal(p.segment_frames, 130);
  assert_int_equal(p.segment_hop, 65);
  assert_float_equal(mgc_frontend_params_fmax(&p), 11025.0, 0);
}

static void test_params_json_roundtrip(void **st) {
  (void)st;
  mgc_frontend_params p, q;
  mgc_frontend_params_default(&p);
  p.n_mels = 96;
  p.fmin = 30.5;
  p.fmax = 8000;
  p.mel_scale = MGC_MEL_HTK;
  p.pad_mode = MGC_PAD_CONSTANT;
  p.tuning = NAN;
  p.center = 0;
  char *js;
  assert_int_equal(mgc_frontend_params_to_json(&p, &js), MGC_OK);
  assert_non_null(strstr(js, "\"mel_scale\":\"htk\""));
  assert_non_null(strstr(js, "\"tuning\":null"));
  assert_int_equal(mgc_frontend_params_from_json(js, &q), MGC_OK);
  free(js);
  assert_int_equal(q.n_mels, 96);
  assert_float_equal(q.fmin, 30.5, 0);
  assert_float_equal(q.fmax, 8000, 0);
  assert_int_equal(q.mel_scale, MGC_MEL_HTK);
  assert_int_equal(q.pad_mode, MGC_PAD_CONSTANT);
  assert_int_equal(q.center, 0);
  assert_true(isnan(q.tuning));
  /* second trip is textually identical */
  char *a, *b;
  assert_int_equal(mgc_frontend_params_to_json(&q, &a), MGC_OK);
  assert_int_equal(mgc_frontend_params_from_json(a, &p), MGC_OK);
  assert_int_equal(mgc_frontend_params_to_json(&p, &b), MGC_OK);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void refused(const char *json, const char *needle) {
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.n_mels = 77; /* must be left untouched on failure */
  assert_int_not_equal(mgc_frontend_params_from_json(json, &p), MGC_OK);
  printf("  %s -> %s\n", json, mgc_error_message());
  assert_non_null(strstr(mgc_error_message(), needle));
  assert_int_equal(p.n_mels, 77);
}

static void test_params_json_refusals(void **st) {
  (void)st;
  refused("{\"n_mels\": 64, \"colour\": 3}", "unknown key 'colour'");
  refused("{\"n_fft\": 2047}", "n_fft");
  refused("{\"n_fft\": \"big\"}", "integer");
  refused("{\"hop_length\": 0}", "hop_length");
  refused("{\"fmin\": 9000, \"fmax\": 8000}", "fmin");
  refused("{\"mel_scale\": \"bark\"}", "bark");
  refused("{\"window\": \"hamming\"}", "hann");
  refused("{\"tuning\": 0.9}", "tuning");
  refused("{\"n_mfcc\": 500}", "n_mfcc");
  refused("[1, 2]", "object");
  refused("{\"n_mels\": 64,", "line 1");
  refused("{\"n_mels\": 64, \"n_mels\": 65}", "duplicate");
}

static void test_npy_roundtrip(void **st) {
  (void)st;
  char dir[256], path[512];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/a.npy", dir);
  float data[2 * 3 * 4];
  for (int i = 0; i < 24; i++) data[i] = (float)i * 0.5f - 3.0f;
  size_t shape[3] = {2, 3, 4};
  assert_int_equal(mgc_npy_write(path, data, 3, shape), MGC_OK);
  mgc_npy a;
  load_npy(path, &a);
  assert_int_equal(a.ndim, 3);
  assert_int_equal(a.shape[0], 2);
  assert_int_equal(a.shape[2], 4);
  assert_memory_equal(a.data, data, sizeof data);
  mgc_npy_free(&a);
  /* header is a multiple of 64 bytes, as the format requires */
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  assert_int_equal((ftell(f) - 24 * 4) % 64, 0);
  fclose(f);
  /* 1-D shape is written "(n,)" */
  size_t one = 5;
  assert_int_equal(mgc_npy_write(path, data, 1, &one), MGC_OK);
  load_npy(path, &a);
  assert_int_equal(a.ndim, 1);
  assert_int_equal(a.shape[0], 5);
  mgc_npy_free(&a);
  /* damaged files */
  f = fopen(path, "r+b");
  fseek(f, 0, SEEK_END);
  assert_int_equal(ftruncate(fileno(f), ftell(f) - 6), 0); /* lose 1.5 floats */
  fclose(f);
  assert_int_equal(mgc_npy_read(path, &a), MGC_EFORMAT);
  printf("  truncated npy -> %s\n", mgc_error_message());
  assert_non_null(strstr(mgc_error_message(), "size mismatch"));
  f = fopen(path, "wb");
  fputs("hello", f);
  fclose(f);
  assert_int_equal(mgc_npy_read(path, &a), MGC_EFORMAT);
  assert_non_null(strstr(mgc_error_message(), "not a .npy"));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_parse_numbers(void **st) {
  double d;
  long l;
  assert_int_equal(mgc_parse_double("x", "0.25", 0, 1, &d), MGC_OK);
  assert_true(d == 0.25);
  assert_int_equal(mgc_parse_double("x", "1.5", 0, 1, &d), MGC_EINVAL);
  assert_int_equal(mgc_parse_double("x", "nan", -10, 10, &d), MGC_EINVAL);
  assert_int_equal(mgc_parse_double("x", "", 0, 1, &d), MGC_EINVAL);
  assert_int_equal(mgc_parse_int("--n", "42", 1, 100, &l), MGC_OK);
  assert_int_equal(l, 42);
  assert_int_equal(mgc_parse_int("--n", "4.2", 1, 100, &l), MGC_EINVAL);
  assert_int_equal(mgc_parse_int("--n", "3x", 1, 100, &l), MGC_EINVAL);
  assert_string_equal(mgc_error_message(), "'--n' must be an integer in [1, 100], got '3x'");
  assert_int_equal(mgc_parse_int("--n", "0", 1, 100, &l), MGC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_numbers),
      cmocka_unit_test(test_params_default_valid),
      cmocka_unit_test(test_params_json_roundtrip),
      cmocka_unit_test(test_params_json_refusals),
      cmocka_unit_test(test_npy_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
