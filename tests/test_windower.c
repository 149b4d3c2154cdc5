/* Window scheduler: every window holds exactly the frames [k*hop, k*hop+len),
 * in order, for overlapping, adjacent and gapped hops; reset restarts. */
#include "mgc/stream/windower.h"
#include "test_util.h"

typedef struct {
  int dim, length, hop;
  uint64_t seen;
  int errors;
} check_ctx;

/* Frame t carries the values t*1000 + d, so contents identify frames. */
static int check(void *user, const mgc_window *w) {
  check_ctx *c = user;
  if (w->index != c->seen) c->errors++;
  if (w->first_frame != c->seen * (uint64_t)c->hop) c->errors++;
  if (w->length != c->length || w->dim != c->dim) c->errors++;
  for (int t = 0; t < w->length; t++)
    for (int d = 0; d < w->dim; d++)
      if (w->data[t * w->dim + d] != (float)((w->first_frame + (uint64_t)t) * 1000 + (uint64_t)d)) c->errors++;
  c->seen++;
  return 0;
}

static void run_case(int dim, int length, int hop, int n_frames) {
  mgc_windower *w;
  assert_int_equal(mgc_windower_new(dim, length, hop, &w), MGC_OK);
  for (int round = 0; round < 2; round++) {
    check_ctx c = {dim, length, hop, 0, 0};
    float *frame = malloc(sizeof(float) * (size_t)dim);
    for (int t = 0; t < n_frames; t++) {
      for (int d = 0; d < dim; d++) frame[d] = (float)(t * 1000 + d);
      assert_int_equal(mgc_windower_push(w, frame, check, &c), 0);
    }
    free(frame);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.seen, mgc_windower_count(length, hop, (uint64_t)n_frames));
    mgc_windower_reset(w);
  }
  mgc_windower_free(w);
}

static void test_default_windows(void **st) {
  (void)st;
  run_case(128, 130, 65, 1293); /* a 30 s clip: 18 windows */
  assert_int_equal(mgc_windower_count(130, 65, 1293), 18);
  assert_int_equal(mgc_windower_count(130, 65, 129), 0);
  assert_int_equal(mgc_windower_count(130, 65, 130), 1);
}

static void test_other_hops(void **st) {
  (void)st;
  run_case(3, 10, 10, 95);  /* adjacent */
  run_case(3, 10, 1, 50);   /* maximal overlap */
  run_case(2, 10, 25, 200); /* gaps between windows */
  run_case(1, 1, 1, 20);
}

static void test_bad_args(void **st) {
  (void)st;
  mgc_windower *w = NULL;
  assert_int_equal(mgc_windower_new(0, 130, 65, &w), MGC_EINVAL);
  assert_null(w);
  assert_int_equal(mgc_windower_new(128, 130, 0, &w), MGC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_windows),
      cmocka_unit_test(test_other_hops),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
