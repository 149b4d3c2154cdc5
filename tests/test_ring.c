/* SPSC ring: capacity rounding, exact contents across many wraparounds,
 * exact overrun counts, the stereo/multichannel downmix, a two-thread stress
 * test that checks every sample of a long counting sequence in order, and
 * no allocation on the real-time paths. */
#include "mgc/stream/ring.h"

#include <pthread.h>

#include "alloc_count.h"
#include "test_util.h"

static void test_capacity_rounding(void **st) {
  (void)st;
  const size_t ask[] = {1, 2, 3, 5, 8, 9, 1000, 1024, 1025, 65536, 100000};
  const size_t got[] = {1, 2, 4, 8, 8, 16, 1024, 1024, 2048, 65536, 131072};
  for (size_t i = 0; i < sizeof ask / sizeof *ask; i++) {
    mgc_ring *r;
    assert_int_equal(mgc_ring_new(ask[i], &r), MGC_OK);
    assert_int_equal(mgc_ring_capacity(r), got[i]);
    assert_int_equal(mgc_ring_available(r), 0);
    assert_int_equal(mgc_ring_written(r), 0);
    assert_int_equal(mgc_ring_overruns(r), 0);
    mgc_ring_free(r);
  }
  mgc_ring *r = (mgc_ring *)1;
  assert_int_equal(mgc_ring_new(0, &r), MGC_EINVAL);
  assert_null(r);
  assert_non_null(strstr(mgc_error_message(), "capacity"));
  assert_int_equal(mgc_ring_new((size_t)-1, &r), MGC_EINVAL);
  assert_null(r);
  mgc_ring_free(NULL);
}

/* Chunks of varying sizes, never more than fits, through a ring of 16: the
 * positions wrap thousands of times and every value must come out. */
static void test_wraparound_exact(void **st) {
  (void)st;
  mgc_ring *r;
  assert_int_equal(mgc_ring_new(13, &r), MGC_OK); /* 16 */
  float in[16], out[16];
  uint32_t next_in = 0, next_out = 0;
  uint64_t seed = 7;
  for (int it = 0; it < 20000; it++) {
    size_t space = 16 - mgc_ring_available(r);
    size_t n = test_rand(&seed) % (space + 1);
    for (size_t i = 0; i < n; i++) in[i] = (float)(next_in + i);
    assert_int_equal(mgc_ring_write(r, in, n), n);
    next_in += (uint32_t)n;
    assert_int_equal(mgc_ring_available(r), next_in - next_out);
    size_t m = test_rand(&seed) % 17;
    size_t got = mgc_ring_read(r, out, m);
    assert_int_equal(got, m < next_in - next_out ? m : next_in - next_out);
    for (size_t i = 0; i < got; i++) assert_true(out[i] == (float)(next_out + i));
    next_out += (uint32_t)got;
  }
  assert_true(next_in > 100000); /* thousands of laps of 16 */
  assert_int_equal(mgc_ring_written(r), next_in);
  assert_int_equal(mgc_ring_overruns(r), 0);
  mgc_ring_free(r);
}

static void test_overruns_exact(void **st) {
  (void)st;
  mgc_ring *r;
  assert_int_equal(mgc_ring_new(8, &r), MGC_OK);
  float x[20], out[20];
  for (int i = 0; i < 20; i++) x[i] = (float)(i + 1);
  assert_int_equal(mgc_ring_write(r, x, 5), 5);
  assert_int_equal(mgc_ring_write(r, x + 5, 6), 3); /* 3 fit, 3 dropped */
  assert_int_equal(mgc_ring_overruns(r), 3);
  assert_int_equal(mgc_ring_write(r, x, 4), 0); /* full: all dropped */
  assert_int_equal(mgc_ring_overruns(r), 7);
  assert_int_equal(mgc_ring_written(r), 8);
  assert_int_equal(mgc_ring_read(r, out, 3), 3);
  assert_true(out[0] == 1.0f && out[1] == 2.0f && out[2] == 3.0f);
  assert_int_equal(mgc_ring_write(r, x + 10, 20 - 10), 3); /* 11, 12, 13 stored */
  assert_int_equal(mgc_ring_overruns(r), 14);
  assert_int_equal(mgc_ring_written(r), 11);
  assert_int_equal(mgc_ring_read(r, out, 20), 8);
  const float want[8] = {4, 5, 6, 7, 8, 11, 12, 13};
  for (int i = 0; i < 8; i++) assert_true(out[i] == want[i]);
  assert_int_equal(mgc_ring_read(r, out, 20), 0);
  /* write_mix counts dropped frames, not samples */
  float st2[2 * 12];
  for (int i = 0; i < 24; i++) st2[i] = 1.0f;
  assert_int_equal(mgc_ring_write_mix(r, st2, 12, 2), 8);
  assert_int_equal(mgc_ring_overruns(r), 18);
  assert_int_equal(mgc_ring_written(r), 19);
  mgc_ring_reset(r);
  assert_int_equal(mgc_ring_overruns(r), 0);
  assert_int_equal(mgc_ring_written(r), 0);
  assert_int_equal(mgc_ring_available(r), 0);
  assert_int_equal(mgc_ring_write(r, x, 2), 2);
  assert_int_equal(mgc_ring_read(r, out, 8), 2);
  assert_true(out[0] == 1.0f && out[1] == 2.0f);
  mgc_ring_free(r);
}

static void test_write_mix(void **st) {
  (void)st;
  mgc_ring *r;
  assert_int_equal(mgc_ring_new(64, &r), MGC_OK);
  /* stereo: (L + R) / 2, exact in binary */
  const float s[] = {1.0f, 3.0f, -0.5f, 0.25f, 0.0f, 0.0f, 1.0f, -1.0f, 0.75f, 0.5f};
  assert_int_equal(mgc_ring_write_mix(r, s, 5, 2), 5);
  float out[16];
  assert_int_equal(mgc_ring_read(r, out, 16), 5);
  const float want2[] = {2.0f, -0.125f, 0.0f, 0.0f, 0.625f};
  for (int i = 0; i < 5; i++) assert_true(out[i] == want2[i]);
  /* 3 channels, across the end of the ring (positions 62..65) */
  float pad[57] = {0};
  assert_int_equal(mgc_ring_write(r, pad, 57), 57);
  assert_int_equal(mgc_ring_read(r, pad, 57), 57);
  const float s3[] = {3.0f, 6.0f, 9.0f, -1.0f, -2.0f, 0.0f, 0.5f, 0.25f, 0.75f, 30.0f, 0.0f, 0.0f};
  assert_int_equal(mgc_ring_write_mix(r, s3, 4, 3), 4);
  assert_int_equal(mgc_ring_read(r, out, 16), 4);
  assert_true(out[0] == 6.0f);
  assert_true(out[1] == -1.0f);
  assert_true(out[2] == 0.5f);
  assert_true(out[3] == 10.0f);
  /* mono is a plain copy; no channels stores nothing */
  assert_int_equal(mgc_ring_write_mix(r, s, 3, 1), 3);
  assert_int_equal(mgc_ring_write_mix(r, s, 3, 0), 0);
  assert_int_equal(mgc_ring_read(r, out, 16), 3);
  assert_true(out[0] == 1.0f && out[1] == 3.0f && out[2] == -0.5f);
  /* the mean of arbitrary values matches sum / channels in float */
  uint64_t seed = 99;
  float x[6 * 10];
  for (int i = 0; i < 60; i++) x[i] = (float)(test_rand(&seed) % 20001) / 10000.0f - 1.0f;
  assert_int_equal(mgc_ring_write_mix(r, x, 10, 6), 10);
  assert_int_equal(mgc_ring_read(r, out, 16), 10);
  for (int i = 0; i < 10; i++) {
    float sum = 0.0f;
    for (int c = 0; c < 6; c++) sum += x[i * 6 + c];
    assert_true(out[i] == sum / 6.0f);
  }
  mgc_ring_free(r);
}

/* Producer thread writes 0, 1, 2, ... (exact in float up to 2^24, so the
 * values are taken modulo 2^24) in odd-sized chunks, retrying what did not
 * fit; the consumer checks each sample it reads is the next one. Any
 * ordering bug shows up as a wrong or stale value. */
#define STRESS_N 8000000u
#define MOD24 (1u << 24)

typedef struct {
  mgc_ring *r;
  uint64_t retries;
} producer_ctx;

static void *producer(void *arg) {
  producer_ctx *c = arg;
  float chunk[257];
  uint32_t next = 0;
  uint64_t seed = 12345;
  while (next < STRESS_N) {
    size_t n = 1 + test_rand(&seed) % 257;
    if (n > STRESS_N - next) n = STRESS_N - next;
    for (size_t i = 0; i < n; i++) chunk[i] = (float)((next + i) % MOD24);
    size_t done = 0;
    while (done < n) {
      size_t w = mgc_ring_write(c->r, chunk + done, n - done);
      done += w;
      if (done < n) c->retries++;
    }
    next += (uint32_t)n;
  }
  return NULL;
}

static void test_two_threads(void **st) {
  (void)st;
  mgc_ring *r;
  assert_int_equal(mgc_ring_new(1024, &r), MGC_OK);
  producer_ctx c = {r, 0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, producer, &c), 0);
  float buf[300];
  uint32_t expect = 0;
  uint64_t errors = 0, seed = 777;
  while (expect < STRESS_N) {
    size_t got = mgc_ring_read(r, buf, 1 + test_rand(&seed) % 300);
    for (size_t i = 0; i < got; i++)
      if (buf[i] != (float)((expect + i) % MOD24)) errors++;
    expect += (uint32_t)got;
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(errors, 0);
  assert_int_equal(expect, STRESS_N);
  assert_int_equal(mgc_ring_available(r), 0);
  assert_int_equal(mgc_ring_written(r), STRESS_N);
  /* every write that came up short was counted as an overrun */
  assert_true(mgc_ring_overruns(r) >= c.retries);
  mgc_ring_free(r);
}

static void test_no_allocation(void **st) {
  (void)st;
  mgc_ring *r;
  assert_int_equal(mgc_ring_new(4096, &r), MGC_OK);
  float x[1000], out[1000];
  for (int i = 0; i < 1000; i++) x[i] = (float)i;
  long before = g_allocs;
  for (int it = 0; it < 1000; it++) {
    mgc_ring_write(r, x, 1000);
    mgc_ring_write_mix(r, x, 500, 2);
    mgc_ring_read(r, out, 1000);
    mgc_ring_read(r, out, 600);
    (void)mgc_ring_available(r);
    (void)mgc_ring_overruns(r);
  }
  assert_int_equal(g_allocs - before, 0);
  /* the counter works: a new ring allocates */
  mgc_ring *r2;
  assert_int_equal(mgc_ring_new(16, &r2), MGC_OK);
  assert_true(g_allocs > before);
  mgc_ring_free(r2);
  mgc_ring_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capacity_rounding),
      cmocka_unit_test(test_wraparound_exact),
      cmocka_unit_test(test_overruns_exact),
      cmocka_unit_test(test_write_mix),
      cmocka_unit_test(test_two_threads),
      cmocka_unit_test(test_no_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
