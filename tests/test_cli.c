/* mgc-features end to end: the .npy it writes has librosa's layout and the
 * golden values; bad input exits non-zero with a message naming the file. */
#include <math.h>
#include <sys/wait.h>

#include "test_util.h"

#ifndef MGC_FEATURES_BIN
#error "MGC_FEATURES_BIN must point at the mgc-features binary"
#endif


static void test_logmel_npy_matches_golden(void **st) {
  (void)st;
  char cmd[4096], out[4096], wav[512], gold[512], npy[512];
  snprintf(npy, sizeof npy, "%s/lm.npy", g_dir);
  snprintf(cmd, sizeof cmd, "%s '%s' --kind logmel --out '%s'", MGC_FEATURES_BIN,
           fixture(wav, sizeof wav, "blues.00000_10s-14s.wav"), npy);
  assert_int_equal(run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "[128, 173]"));
  mgc_npy a, g;
  load_npy(npy, &a);
  load_npy(fixture(gold, sizeof gold, "golden/blues.logmel.npy"), &g);
  assert_int_equal(a.ndim, 2);
  assert_int_equal(a.shape[0], 128); /* [n_features, n_frames] like librosa */
  assert_int_equal(a.shape[1], 173);
  double worst = 0;
  for (size_t i = 0; i < mgc_npy_count(&a); i++)
    if (g.data[i] > -60.0) worst = fmax(worst, fabs(a.data[i] - g.data[i])); /* -60 dB = 1e-6 power */
  assert_true(worst < 0.01);
  mgc_npy_free(&a);
  mgc_npy_free(&g);
}

static void test_each_kind_shape(void **st) {
  (void)st;
  const char *kinds[] = {"mfcc", "chroma", "stft"};
  const size_t rows[] = {20, 12, 1025};
  for (int i = 0; i < 3; i++) {
    char cmd[4096], out[4096], wav[512], npy[512];
    snprintf(npy, sizeof npy, "%s/%s.npy", g_dir, kinds[i]);
    snprintf(cmd, sizeof cmd, "%s '%s' -k %s -o '%s'", MGC_FEATURES_BIN,
             fixture(wav, sizeof wav, "blues.00000_10s-14s.wav"), kinds[i], npy);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    mgc_npy a;
    load_npy(npy, &a);
    assert_int_equal(a.shape[0], rows[i]);
    assert_int_equal(a.shape[1], 173);
    mgc_npy_free(&a);
  }
}

static void test_bad_input(void **st) {
  (void)st;
  char cmd[4096], out[4096], path[512];
  snprintf(path, sizeof path, "%s/not-audio.wav", g_dir);
  FILE *f = fopen(path, "w");
  fputs("plain text\n", f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s '%s' -o '%s/x.npy'", MGC_FEATURES_BIN, path, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 1);
  assert_non_null(strstr(out, path));
  assert_non_null(strstr(out, "not a readable audio file"));
  snprintf(cmd, sizeof cmd, "test -e '%s/x.npy'", g_dir);
  assert_int_not_equal(system(cmd), 0); /* nothing half-written */
  /* usage errors exit 2 */
  snprintf(cmd, sizeof cmd, "%s '%s' --kind spectrum", MGC_FEATURES_BIN, path);
  assert_int_equal(run(cmd, out, sizeof out), 2);
  assert_non_null(strstr(out, "unknown feature kind"));
  snprintf(cmd, sizeof cmd, "%s x.wav --n-fft abc", MGC_FEATURES_BIN);
  assert_int_equal(run(cmd, out, sizeof out), 2);
  snprintf(cmd, sizeof cmd, "%s", MGC_FEATURES_BIN);
  assert_int_equal(run(cmd, out, sizeof out), 2);
  assert_non_null(strstr(out, "usage"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logmel_npy_matches_golden),
      cmocka_unit_test(test_each_kind_shape),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
