/* The streaming framer against the whole-signal path: identical frames (bit
 * for bit) whatever the chunking, for long and short signals, both padding
 * modes and centred or not; and no allocation while streaming. */
#include <math.h>

#include "mgc/dsp/features.h"
#include "mgc/dsp/framer.h"
#include "test_util.h"

#include "alloc_count.h"

typedef struct {
  float *v;      /* frames x dim */
  size_t dim, n, cap;
  uint64_t next; /* expected frame index */
  int bad_index;
} sink;

static int collect(void *user, const mgc_frame *f) {
  sink *s = user;
  if (f->index != s->next++) s->bad_index = 1;
  if (s->n < s->cap) {
    memcpy(s->v + s->n * s->dim, f->mel_db, sizeof(float) * 128);
    if (f->mfcc) memcpy(s->v + s->n * s->dim + 128, f->mfcc, sizeof(float) * 20);
    if (f->chroma) memcpy(s->v + s->n * s->dim + 148, f->chroma, sizeof(float) * 12);
  }
  s->n++;
  return 0;
}

static float *test_signal(size_t n, uint64_t seed) {
  float *y = malloc(sizeof(float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    y[i] = 0.3f * sinf(0.05f * (float)i) + 0.1f * ((float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f);
  return y;
}

/* Whole-signal reference (mgc_frontend_run pads the full signal at once). */
static void reference(const mgc_frontend_params *p, const float *y, size_t n, sink *s) {
  mgc_frontend *fe;
  assert_int_equal(mgc_frontend_new(p, MGC_FEAT_MFCC | MGC_FEAT_CHROMA, &fe), MGC_OK);
  assert_int_equal(mgc_frontend_run(fe, y, n, collect, s), MGC_OK);
  mgc_frontend_free(fe);
}

static void check_chunked(const mgc_frontend_params *p, size_t n, uint64_t seed, size_t max_chunk) {
  float *y = test_signal(n, seed);
  size_t frames = (size_t)mgc_frontend_frame_count(p, n), dim = 160;
  sink ref = {calloc(frames * dim + 1, sizeof(float)), dim, 0, frames, 0, 0};
  reference(p, y, n, &ref);
  assert_int_equal(ref.n, frames);
  mgc_framer *fr;
  assert_int_equal(mgc_framer_new(p, MGC_FEAT_MFCC | MGC_FEAT_CHROMA, &fr), MGC_OK);
  for (int round = 0; round < 2; round++) { /* second round: after flush/reset */
    sink got = {calloc(frames * dim + 1, sizeof(float)), dim, 0, frames, 0, 0};
    size_t pos = 0;
    while (pos < n) {
      size_t c = 1 + test_rand(&seed) % max_chunk;
      if (c > n - pos) c = n - pos;
      assert_int_equal(mgc_framer_process(fr, y + pos, c, collect, &got), 0);
      pos += c;
    }
    assert_int_equal(mgc_framer_samples(fr), n);
    assert_int_equal(mgc_framer_flush(fr, collect, &got), 0);
    assert_int_equal(got.n, frames);
    assert_false(got.bad_index);
    /* Bit-identical, not merely close. */
    assert_memory_equal(got.v, ref.v, sizeof(float) * frames * dim);
    free(got.v);
  }
  mgc_framer_free(fr);
  free(ref.v);
  free(y);
}

static void test_random_chunks_long(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  /* 10 s in chunks of 1 sample up to 1 s, several seeds */
  for (uint64_t seed = 1; seed <= 4; seed++) check_chunked(&p, 220500 + seed * 37, seed, 22050);
  /* tiny chunks stress the start-up and every buffer boundary */
  check_chunked(&p, 30000, 99, 7);
  check_chunked(&p, 30000, 98, 1);
}

static void test_short_signals(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  /* lengths around the padding (1024) and frame (2048) sizes, where numpy's
   * reflection wraps more than once */
  const size_t lens[] = {1, 2, 3, 100, 511, 512, 513, 1023, 1024, 1025, 1026, 2047, 2048, 2049, 4096};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) check_chunked(&p, lens[i], 7 + i, 300);
}

static void test_modes(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.pad_mode = MGC_PAD_CONSTANT;
  check_chunked(&p, 50000, 5, 4000);
  check_chunked(&p, 700, 6, 100);
  p.pad_mode = MGC_PAD_REFLECT;
  p.center = 0;
  check_chunked(&p, 50000, 8, 4000);
  check_chunked(&p, 2047, 9, 100); /* shorter than a frame: no frames */
  mgc_frontend_params_default(&p);
  p.hop_length = 300; /* hop not dividing n_fft */
  p.n_fft = 1024;
  check_chunked(&p, 40000, 10, 3000);
  /* hop = n_fft / 2 (the pretrained networks' front-end): the end's
   * reflection needs a sample the last streamed frame would have dropped;
   * every length modulo the hop, so one of them ends right there. */
  mgc_frontend_params_default(&p);
  p.n_fft = 512;
  p.hop_length = 256;
  for (size_t extra = 0; extra < 256; extra += 17) check_chunked(&p, 16000 + extra, 11 + extra, 700);
  check_chunked(&p, 16000 + 255, 12, 700);
  check_chunked(&p, 16000 + 256, 13, 700);
}

static void test_empty_stream(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_framer *fr;
  assert_int_equal(mgc_framer_new(&p, MGC_FEAT_LOGMEL, &fr), MGC_OK);
  sink s = {NULL, 128, 0, 0, 0, 0};
  assert_int_equal(mgc_framer_flush(fr, collect, &s), 0);
  assert_int_equal(s.n, 0);
  mgc_framer_free(fr);
}

static int count_only(void *user, const mgc_frame *f) {
  (void)f;
  (*(size_t *)user)++;
  return 0;
}

static void test_no_allocation_while_streaming(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  float *y = test_signal(100000, 3);
  mgc_framer *fr;
  assert_int_equal(mgc_framer_new(&p, MGC_FEAT_MFCC | MGC_FEAT_CHROMA, &fr), MGC_OK);
  size_t frames = 0;
  long before = g_allocs;
  for (size_t pos = 0; pos < 100000; pos += 333)
    mgc_framer_process(fr, y + pos, pos + 333 <= 100000 ? 333 : 100000 - pos, count_only, &frames);
  mgc_framer_flush(fr, count_only, &frames);
  long during = g_allocs - before;
  assert_int_equal(frames, mgc_frontend_frame_count(&p, 100000));
  assert_int_equal(during, 0);
  /* the counter itself works: building another framer allocates */
  mgc_framer *fr2;
  assert_int_equal(mgc_framer_new(&p, MGC_FEAT_LOGMEL, &fr2), MGC_OK);
  assert_true(g_allocs > before);
  mgc_framer_free(fr2);
  mgc_framer_free(fr);
  free(y);
}

static int stop_after_three(void *user, const mgc_frame *f) {
  (void)f;
  return ++*(int *)user == 3 ? 42 : 0;
}

static void test_callback_stops(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  float *y = test_signal(50000, 4);
  mgc_framer *fr;
  assert_int_equal(mgc_framer_new(&p, MGC_FEAT_LOGMEL, &fr), MGC_OK);
  int calls = 0;
  assert_int_equal(mgc_framer_process(fr, y, 50000, stop_after_three, &calls), 42);
  assert_int_equal(calls, 3);
  mgc_framer_free(fr);
  free(y);
}

static void test_chroma_needs_fixed_tuning(void **st) {
  (void)st;
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.tuning = NAN;
  mgc_framer *fr = NULL;
  assert_int_equal(mgc_framer_new(&p, MGC_FEAT_CHROMA, &fr), MGC_EINVAL);
  assert_null(fr);
  assert_non_null(strstr(mgc_error_message(), "tuning"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_chunks_long),
      cmocka_unit_test(test_short_signals),
      cmocka_unit_test(test_modes),
      cmocka_unit_test(test_empty_stream),
      cmocka_unit_test(test_no_allocation_while_streaming),
      cmocka_unit_test(test_callback_stops),
      cmocka_unit_test(test_chroma_needs_fixed_tuning),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
