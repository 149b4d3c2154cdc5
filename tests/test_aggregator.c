/* Track aggregator: the rolling mean over the horizon and the EMA against
 * hand-computed values, the silence gate, new tracks after a silence gap at
 * exactly the right window, the spectral-change detector (exact distances,
 * the held-out streak, min_track_windows, no triggers on noise), reset,
 * parameter validation, no allocation while processing, and skipped windows
 * (not music): no vote, a track that ends with the music, a broken silence run. */
#include "mgc/stream/aggregator.h"

#include <math.h>

#include "alloc_count.h"
#include "test_util.h"

/* Unit hop so seconds count windows. */
static mgc_aggregator_params unit_params(void) {
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  p.hop_s = 1.0;
  p.horizon_s = 3.0;
  p.halflife_s = 2.0;
  p.gap_s = 2.0;
  p.change_db = 6.0;
  return p;
}

static mgc_aggregator *make(const mgc_aggregator_params *p, int n_classes, int dim) {
  mgc_aggregator *a;
  if (mgc_aggregator_new(p, n_classes, dim, &a) != MGC_OK) fail_msg("%s", mgc_error_message());
  return a;
}

#define LOUD (-20.0)
#define QUIET (-70.0)

static void test_defaults_and_validation(void **st) {
  (void)st;
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  assert_int_equal(p.mode, MGC_AGG_MEAN);
  assert_true(p.hop_s == 65.0 * 512.0 / 22050.0);
  assert_true(p.horizon_s == 30.0 && p.halflife_s == 10.0 && p.silence_db == -50.0 && p.gap_s == 2.0);
  assert_true(p.change_db == 11.5);
  assert_int_equal(p.change_windows, 2);
  assert_int_equal(p.min_track_windows, 4);
  assert_int_equal(mgc_aggregator_params_validate(&p), MGC_OK);

#define BAD(field_name, stmt)                                                      \
  do {                                                                             \
    mgc_aggregator_params q = p;                                                   \
    stmt;                                                                          \
    assert_int_equal(mgc_aggregator_params_validate(&q), MGC_EINVAL);              \
    if (!strstr(mgc_error_message(), field_name))                                  \
      fail_msg("'%s' does not name %s", mgc_error_message(), field_name);          \
    mgc_aggregator *x = (void *)&q;                                                 \
    assert_int_equal(mgc_aggregator_new(&q, 10, 128, &x), MGC_EINVAL);             \
    assert_null(x);                                                                \
  } while (0)
  BAD("mode", q.mode = (mgc_agg_mode)7);
  BAD("hop_s", q.hop_s = NAN);
  BAD("hop_s", q.hop_s = 0.0);
  BAD("hop_s", q.hop_s = -1.5);
  BAD("hop_s", q.hop_s = INFINITY);
  BAD("horizon_s", q.horizon_s = NAN);
  BAD("horizon_s", q.horizon_s = 1.0); /* < hop_s */
  BAD("horizon_s", q.horizon_s = 1e12);
  BAD("halflife_s", q.halflife_s = 0.0);
  BAD("halflife_s", q.halflife_s = NAN);
  BAD("silence_db", q.silence_db = NAN);
  BAD("silence_db", q.silence_db = INFINITY);
  BAD("gap_s", q.gap_s = -1.0);
  BAD("gap_s", q.gap_s = NAN);
  BAD("change_db", q.change_db = -0.5);
  BAD("change_db", q.change_db = NAN);
  BAD("change_windows", q.change_windows = 0);
  BAD("min_track_windows", q.min_track_windows = 0);
#undef BAD
  /* the documented special values are accepted */
  mgc_aggregator_params q = p;
  q.silence_db = -INFINITY;
  q.gap_s = 0.0;
  q.change_db = 0.0;
  q.horizon_s = q.hop_s;
  assert_int_equal(mgc_aggregator_params_validate(&q), MGC_OK);

  mgc_aggregator *a = (mgc_aggregator *)&q;
  assert_int_equal(mgc_aggregator_new(&p, 0, 128, &a), MGC_EINVAL);
  assert_null(a);
  assert_non_null(strstr(mgc_error_message(), "n_classes"));
  assert_int_equal(mgc_aggregator_new(&p, 10, 0, &a), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "profile_dim"));
  mgc_aggregator_free(NULL);
}

static void test_mean_over_horizon(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* horizon 3 windows */
  mgc_aggregator *a = make(&p, 3, 4);
  mgc_decision d;
  mgc_aggregator_current(a, &d);
  assert_int_equal(d.genre, -1);
  assert_true(d.confidence == 0.0f);
  assert_int_equal(d.windows, 0);
  assert_int_equal(d.track, 1);
  assert_non_null(d.probs);
  assert_true(d.probs[0] == 0.0f && d.probs[1] == 0.0f && d.probs[2] == 0.0f);

  const float w[5][3] = {{1, 0, 0}, {0.75f, 0.25f, 0}, {0, 0.75f, 0.25f}, {0.75f, 0, 0.25f}, {0, 0, 1}};
  mgc_aggregator_process(a, w[0], LOUD, NULL, &d);
  assert_int_equal(d.genre, 0);
  assert_true(d.confidence == 1.0f);
  assert_int_equal(d.windows, 1);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 1);
  assert_int_equal(d.silent, 0);
  mgc_aggregator_process(a, w[1], LOUD, NULL, &d);
  assert_float_equal(d.probs[0], 0.875, 1e-7);
  assert_float_equal(d.probs[1], 0.125, 1e-7);
  mgc_aggregator_process(a, w[2], LOUD, NULL, &d);
  assert_int_equal(d.windows, 3);
  assert_float_equal(d.probs[0], 1.75 / 3, 1e-7);
  assert_float_equal(d.probs[1], 1.0 / 3, 1e-7);
  assert_float_equal(d.probs[2], 0.25 / 3, 1e-7);
  /* the 4th decision is the mean of windows 2..4 only */
  mgc_aggregator_process(a, w[3], LOUD, NULL, &d);
  assert_int_equal(d.windows, 3);
  assert_float_equal(d.probs[0], 0.5, 1e-7);
  assert_float_equal(d.probs[1], 1.0 / 3, 1e-7);
  assert_float_equal(d.probs[2], 1.0 / 6, 1e-7);
  assert_int_equal(d.genre, 0);
  assert_float_equal(d.confidence, 0.5, 1e-7);
  /* windows 3..5: {0.25, 0.25, 0.5} */
  mgc_aggregator_process(a, w[4], LOUD, NULL, &d);
  assert_float_equal(d.probs[0], 0.25, 1e-7);
  assert_float_equal(d.probs[1], 0.25, 1e-7);
  assert_float_equal(d.probs[2], 0.5, 1e-7);
  assert_int_equal(d.genre, 2);
  mgc_decision c;
  mgc_aggregator_current(a, &c);
  assert_int_equal(c.genre, 2);
  assert_int_equal(c.windows, 3);
  assert_float_equal(c.probs[2], 0.5, 1e-7);
  mgc_aggregator_free(a);

  /* horizon rounding: round(30 / 1.5093) = 20 windows; 2.6 s at 1 s = 3 */
  mgc_aggregator_params_default(&p);
  a = make(&p, 2, 4);
  const float v[2] = {0.5f, 0.5f};
  for (int i = 0; i < 25; i++) mgc_aggregator_process(a, v, LOUD, NULL, &d);
  assert_int_equal(d.windows, 20);
  mgc_aggregator_free(a);
  p = unit_params();
  p.horizon_s = 2.6;
  a = make(&p, 2, 4);
  for (int i = 0; i < 5; i++) mgc_aggregator_process(a, v, LOUD, NULL, &d);
  assert_int_equal(d.windows, 3);
  mgc_aggregator_free(a);
}

static void test_ema(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  p.mode = MGC_AGG_EMA;
  p.halflife_s = 2.0; /* alpha = 1 - 0.5^(1/2) */
  const double alpha = 1.0 - sqrt(0.5);
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0, 1}, x2[2] = {0.5f, 0.5f};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d); /* the first window initialises */
  assert_true(d.probs[0] == 1.0f && d.probs[1] == 0.0f);
  assert_int_equal(d.windows, 1);
  mgc_aggregator_process(a, x1, LOUD, NULL, &d);
  assert_float_equal(d.probs[0], 1.0 - alpha, 1e-7);
  assert_float_equal(d.probs[1], alpha, 1e-7);
  mgc_aggregator_process(a, x1, LOUD, NULL, &d);
  /* after one half-life the first window weighs exactly one half */
  assert_float_equal(d.probs[0], 0.5, 1e-7);
  assert_float_equal(d.probs[1], 0.5, 1e-7);
  mgc_aggregator_process(a, x2, LOUD, NULL, &d);
  assert_float_equal(d.probs[0], 0.5, 1e-7);
  mgc_aggregator_process(a, x1, LOUD, NULL, &d);
  assert_float_equal(d.probs[0], 0.5 * (1.0 - alpha), 1e-7);
  assert_float_equal(d.probs[1], 0.5 + 0.5 * alpha, 1e-7);
  assert_int_equal(d.genre, 1);
  assert_int_equal(d.windows, 5);
  mgc_aggregator_free(a);
}

static void test_silence_does_not_vote(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  p.gap_s = 0.0; /* no gaps here */
  mgc_aggregator *a = make(&p, 2, 4);
  assert_true(mgc_aggregator_is_silent(a, -50.1));
  assert_false(mgc_aggregator_is_silent(a, -50.0));
  assert_false(mgc_aggregator_is_silent(a, 0.0));
  assert_true(mgc_aggregator_is_silent(a, -INFINITY));
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0, 1};
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* silence before any vote */
  assert_int_equal(d.silent, 1);
  assert_int_equal(d.genre, -1);
  assert_int_equal(d.windows, 0);
  assert_true(d.silence_s == 1.0);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  assert_int_equal(d.silent, 0);
  assert_true(d.silence_s == 0.0);
  /* probabilities passed with a silent window are ignored */
  for (int i = 0; i < 5; i++) {
    mgc_aggregator_process(a, x1, QUIET, NULL, &d);
    assert_int_equal(d.silent, 1);
    assert_int_equal(d.genre, 0);
    assert_int_equal(d.windows, 1);
    assert_true(d.probs[0] == 1.0f);
    assert_true(d.silence_s == (double)(i + 1));
    assert_int_equal(d.new_track, 0);
  }
  assert_int_equal(d.track, 1);
  mgc_aggregator_free(a);

  /* -inf: no gate at all */
  p.silence_db = -INFINITY;
  a = make(&p, 2, 4);
  assert_false(mgc_aggregator_is_silent(a, -300.0));
  assert_false(mgc_aggregator_is_silent(a, -INFINITY));
  mgc_aggregator_process(a, x1, -INFINITY, NULL, &d);
  assert_int_equal(d.silent, 0);
  assert_int_equal(d.genre, 1);
  mgc_aggregator_free(a);
}

static void test_gap_starts_track(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* gap 2 s = 2 silent windows */
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0.25f, 0.75f};
  /* silence before the first track does not make empty tracks */
  for (int i = 0; i < 5; i++) {
    mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
    assert_int_equal(d.new_track, 0);
  }
  assert_int_equal(d.track, 1);
  for (int i = 0; i < 3; i++) mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* 1 s: not yet */
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);    /* music breaks the run */
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* 1 s */
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.genre, 0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* 2 s: new track here */
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_GAP);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.silent, 1);
  assert_int_equal(d.genre, -1);
  assert_int_equal(d.windows, 0);
  assert_true(d.confidence == 0.0f);
  assert_true(d.silence_s == 2.0);
  for (int i = 0; i < 4; i++) { /* more silence: still the same (empty) track */
    mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
    assert_int_equal(d.new_track, 0);
    assert_int_equal(d.track, 2);
  }
  mgc_aggregator_process(a, x1, LOUD, NULL, &d); /* track 2's first vote, alone */
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.windows, 1);
  assert_int_equal(d.genre, 1);
  assert_true(d.probs[0] == 0.25f && d.probs[1] == 0.75f);
  mgc_aggregator_free(a);

  /* 2.5 s at 1 s hops needs 3 silent windows; the default 2 s at 1.51 s hops 2 */
  p.gap_s = 2.5;
  a = make(&p, 2, 4);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_GAP);
  mgc_aggregator_free(a);
  mgc_aggregator_params_default(&p);
  a = make(&p, 2, 4);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 1);
  assert_float_equal(d.silence_s, 2 * 65.0 * 512.0 / 22050.0, 1e-12);
  mgc_aggregator_free(a);
  /* gap 0: never */
  p = unit_params();
  p.gap_s = 0.0;
  a = make(&p, 2, 4);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  for (int i = 0; i < 100; i++) {
    mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
    assert_int_equal(d.new_track, 0);
  }
  assert_int_equal(d.track, 1);
  assert_int_equal(d.genre, 0);
  mgc_aggregator_free(a);
}

static void fill(float *x, int dim, float v) {
  for (int i = 0; i < dim; i++) x[i] = v;
}

static void test_change_exact(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* change 6 dB, 2 windows, min 4 */
  p.horizon_s = 10.0;
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0, 1};
  float prof[4];
  fill(prof, 4, -20.0f);
  mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_true(d.change == 0.0); /* nothing to compare with yet */
  for (int i = 0; i < 3; i++) mgc_aggregator_process(a, x0, LOUD, prof, &d);
  /* exact distance: sqrt((16 + 16) / 4) */
  const float near[4] = {-16, -24, -20, -20};
  mgc_aggregator_process(a, x0, LOUD, near, &d);
  assert_float_equal(d.change, sqrt(8.0), 1e-9);
  assert_int_equal(d.new_track, 0);
  /* the track profile is now the mean of 5 windows: {-19.2, -20.8, -20, -20} */
  fill(prof, 4, -20.0f);
  mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_float_equal(d.change, sqrt((0.64 + 0.64) / 4), 1e-6);

  /* a jump of +10 dB: the first window only arms the detector... */
  float up[4];
  fill(up, 4, -10.0f);
  mgc_aggregator_process(a, x1, LOUD, up, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 1);
  assert_int_equal(d.windows, 7);
  /* against the mean of the 6 windows, {-19 1/3, -20 2/3, -20, -20} */
  const double want = sqrt((pow(9.0 + 1.0 / 3, 2) + pow(10.0 + 2.0 / 3, 2) + 100 + 100) / 4);
  assert_float_equal(d.change, want, 1e-5);
  /* ...the second, measured against the same profile (the first was held
   * out), starts track 2 with this window's probabilities alone */
  mgc_aggregator_process(a, x1, LOUD, up, &d);
  assert_float_equal(d.change, want, 1e-5);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_CHANGE);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.windows, 1);
  assert_int_equal(d.genre, 1);
  assert_true(d.probs[0] == 0.0f && d.probs[1] == 1.0f);
  /* the new track's profile is the triggering window's */
  mgc_aggregator_process(a, x1, LOUD, up, &d);
  assert_true(d.change == 0.0);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.windows, 2);
  /* a young track (2, then 3 votes) does not trigger, however far the jump */
  fill(prof, 4, -60.0f);
  mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_float_equal(d.change, 50.0, 1e-9);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, x0, LOUD, prof, &d); /* joined the profile: {-10,-10,-60} mean */
  assert_float_equal(d.change, 100.0 / 3, 1e-5);
  assert_int_equal(d.new_track, 0);
  /* with 4 votes the detector arms (held out) and fires on the next window */
  mgc_aggregator_process(a, x0, LOUD, prof, &d); /* vs {-10,-10,-60,-60} */
  assert_float_equal(d.change, 25.0, 1e-5);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_float_equal(d.change, 25.0, 1e-5);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_CHANGE);
  assert_int_equal(d.track, 3);
  mgc_aggregator_free(a);
}

/* One window above, then one below: no trigger, and the held-out window
 * joins the profile afterwards. */
static void test_change_streak_breaks(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 2);
  mgc_decision d;
  const float x[2] = {0.5f, 0.5f}, zero[2] = {0, 0}, far[2] = {20, 20};
  for (int i = 0; i < 4; i++) mgc_aggregator_process(a, x, LOUD, zero, &d);
  mgc_aggregator_process(a, x, LOUD, far, &d);
  assert_float_equal(d.change, 20.0, 1e-12);
  mgc_aggregator_process(a, x, LOUD, zero, &d);
  assert_float_equal(d.change, 0.0, 1e-12); /* the far window was held out */
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, x, LOUD, zero, &d);
  assert_float_equal(d.change, 20.0 / 6, 1e-12); /* now it is in: 20 / 6 windows */
  /* silence inside a streak neither breaks nor extends it */
  mgc_aggregator_process(a, x, LOUD, far, &d);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 0);
  /* nor does a window without a profile */
  mgc_aggregator_process(a, x, LOUD, NULL, &d);
  assert_int_equal(d.new_track, 0);
  assert_true(d.change == 0.0);
  mgc_aggregator_process(a, x, LOUD, far, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_CHANGE);
  assert_int_equal(d.track, 2);
  mgc_aggregator_free(a);

  /* change_db 0 turns detection off but still reports the distance */
  p.change_db = 0.0;
  a = make(&p, 2, 2);
  for (int i = 0; i < 4; i++) mgc_aggregator_process(a, x, LOUD, zero, &d);
  for (int i = 0; i < 5; i++) {
    mgc_aggregator_process(a, x, LOUD, far, &d);
    assert_int_equal(d.new_track, 0);
  }
  assert_float_equal(d.change, 10.0, 1e-12); /* 20 against the mean of 4 zeros and 4 twenties */
  /* a profile with a NaN is ignored rather than poisoning the track's */
  const float bad[2] = {NAN, 0};
  mgc_aggregator_process(a, x, LOUD, bad, &d);
  assert_true(d.change == 0.0);
  mgc_aggregator_process(a, x, LOUD, zero, &d);
  assert_true(isfinite(d.change));
  mgc_aggregator_free(a);
}

/* Synthetic spectra: a fixed random shape plus +-1.5 dB of noise per band
 * and window never triggers over 2000 windows; a shift of the whole shape by
 * 15 dB triggers on its second window, every time. */
static void test_change_noise_and_jumps(void **st) {
  (void)st;
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  p.horizon_s = 1e4;
  enum { D = 128 };
  mgc_aggregator *a = make(&p, 2, D);
  float shape[D], prof[D];
  uint64_t seed = 42;
  for (int i = 0; i < D; i++) shape[i] = -30.0f - (float)i * 0.3f + (float)(test_rand(&seed) % 1000) / 100.0f;
  const float x[2] = {0.5f, 0.5f};
  mgc_decision d;
  double maxc = 0.0;
  int tracks = 0;
  for (int w = 0; w < 2000; w++) {
    float shift = (w / 100) % 2 ? 15.0f : 0.0f; /* a new "song" every 100 windows */
    for (int i = 0; i < D; i++)
      prof[i] = shape[i] + shift + (float)((int)(test_rand(&seed) % 3001) - 1500) / 1000.0f;
    mgc_aggregator_process(a, x, LOUD, prof, &d);
    if (d.new_track) {
      assert_int_equal(d.reason, MGC_TRACK_CHANGE);
      assert_int_equal(w % 100, 1); /* the song's second window */
      tracks++;
    } else if (w % 100 >= 4) {
      if (d.change > maxc) maxc = d.change;
    }
  }
  assert_int_equal(tracks, 19);
  assert_int_equal(d.track, 20);
  assert_true(maxc < 2.0); /* noise of 0.87 dB RMS stays far below 11.5 */
  mgc_aggregator_free(a);
}

static void test_reset(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 2);
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0, 1}, prof[2] = {-20, -20};
  /* reset before anything: the first window is a new track */
  mgc_aggregator_reset(a);
  mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_RESET);
  assert_int_equal(d.track, 2);
  for (int i = 0; i < 5; i++) mgc_aggregator_process(a, x0, LOUD, prof, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.windows, 3);
  mgc_aggregator_reset(a);
  mgc_aggregator_current(a, &d); /* takes effect with the next window */
  assert_int_equal(d.track, 2);
  assert_int_equal(d.genre, 0);
  mgc_aggregator_process(a, x1, LOUD, prof, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_RESET);
  assert_int_equal(d.track, 3);
  assert_int_equal(d.windows, 1);
  assert_int_equal(d.genre, 1);
  assert_true(d.change == 0.0); /* the profile restarted too */
  mgc_aggregator_process(a, x1, LOUD, prof, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.reason, MGC_TRACK_NONE);
  /* reset landing on silence: a new, empty track */
  mgc_aggregator_reset(a);
  mgc_aggregator_process(a, x1, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_RESET);
  assert_int_equal(d.track, 4);
  assert_int_equal(d.genre, -1);
  assert_int_equal(d.silent, 1);
  /* and the gap that follows does not make another */
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 4);
  mgc_aggregator_current(a, &d);
  assert_int_equal(d.track, 4);
  assert_true(d.silence_s == 3.0);
  mgc_aggregator_free(a);
}

static void test_no_allocation(void **st) {
  (void)st;
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  long before_new = g_allocs;
  mgc_aggregator *a = make(&p, 10, 128);
  assert_true(g_allocs > before_new); /* the counter works */
  p.mode = MGC_AGG_EMA;
  mgc_aggregator *e = make(&p, 10, 128);
  float probs[10], prof[128];
  uint64_t seed = 5;
  mgc_decision d;
  long before = g_allocs;
  for (int w = 0; w < 3000; w++) {
    for (int c = 0; c < 10; c++) probs[c] = (float)(test_rand(&seed) % 100) / 1000.0f;
    float shift = (w / 50) % 2 ? 20.0f : 0.0f;
    for (int i = 0; i < 128; i++) prof[i] = -40.0f + shift + (float)(test_rand(&seed) % 100) / 50.0f;
    double rms = w % 37 < 3 ? -80.0 : -20.0;
    if (w % 500 == 0) {
      mgc_aggregator_reset(a);
      mgc_aggregator_reset(e);
    }
    mgc_aggregator_process(a, probs, rms, prof, &d);
    mgc_aggregator_process(e, probs, rms, prof, &d);
    mgc_aggregator_current(a, &d);
  }
  assert_int_equal(g_allocs - before, 0);
  assert_true(d.track > 10); /* resets, gaps and changes all happened */
  mgc_aggregator_free(e);
  mgc_aggregator_free(a);
}

/* ---- mgc_aggregator_skip: sound windows that are not music ---- */

static void test_skip_does_not_vote(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* horizon 3 windows */
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0}, x1[2] = {0, 1};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  for (int i = 0; i < 4; i++) {
    mgc_aggregator_skip(a, &d);
    assert_int_equal(d.new_track, 0);
    assert_int_equal(d.silent, 0);
    assert_int_equal(d.track, 1);
    assert_int_equal(d.genre, 0);
    assert_int_equal(d.windows, 1);
    assert_true(d.probs[0] == 1.0f && d.probs[1] == 0.0f);
  }
  /* the skipped windows took no place in the horizon either */
  mgc_aggregator_process(a, x1, LOUD, NULL, &d);
  assert_int_equal(d.windows, 2);
  assert_true(d.probs[0] == 0.5f && d.probs[1] == 0.5f);
  mgc_aggregator_free(a);
}

static void test_end_track_after_votes_starts_track_no_music(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_end_track(a);
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_NO_MUSIC);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.genre, -1);
  assert_int_equal(d.windows, 0);
  assert_true(d.confidence == 0.0f);
  mgc_decision c;
  mgc_aggregator_current(a, &c);
  assert_int_equal(c.track, 2);
  assert_int_equal(c.genre, -1);
  mgc_aggregator_free(a);
}

static void test_end_track_without_votes_starts_no_track(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0};
  mgc_aggregator_end_track(a); /* before anything */
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 1);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_end_track(a); /* ends track 1 */
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.track, 2);
  mgc_aggregator_end_track(a); /* track 2 has no votes: it goes on */
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.reason, MGC_TRACK_NONE);
  assert_int_equal(d.track, 2);
  mgc_aggregator_free(a);
}

/* The end of the music also ends a track on a silent window, before (and
 * instead of) the gap that the same silence completes; it is used once. */
static void test_end_track_on_a_silent_window(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* gap 2 windows */
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  mgc_aggregator_end_track(a);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* the gap's window too */
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_NO_MUSIC);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.silent, 1);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  assert_int_equal(d.new_track, 0);
  assert_int_equal(d.track, 2);
  mgc_aggregator_free(a);
}

static void test_skip_breaks_a_silence_run(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* gap 2 s = 2 silent windows */
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_true(d.silence_s == 1.0);
  mgc_aggregator_skip(a, &d);
  assert_true(d.silence_s == 0.0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d); /* 1 s again, not 2 */
  assert_true(d.silence_s == 1.0);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_GAP);
  assert_int_equal(d.track, 2);
  mgc_aggregator_free(a);
}

/* A track that has only heard windows that were not music is not ended by
 * the silence after them. */
static void test_skip_does_not_count_as_heard(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  for (int i = 0; i < 3; i++) mgc_aggregator_skip(a, &d);
  for (int i = 0; i < 4; i++) {
    mgc_aggregator_process(a, NULL, QUIET, NULL, &d);
    assert_int_equal(d.new_track, 0);
  }
  assert_int_equal(d.track, 1);
  mgc_aggregator_free(a);
}

static void test_skip_takes_a_pending_reset(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params();
  mgc_aggregator *a = make(&p, 2, 4);
  mgc_decision d;
  const float x0[2] = {1, 0};
  mgc_aggregator_process(a, x0, LOUD, NULL, &d);
  mgc_aggregator_reset(a);
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_RESET);
  assert_int_equal(d.track, 2);
  assert_int_equal(d.genre, -1);
  mgc_aggregator_free(a);
}

static void test_skip_does_not_break_a_change_streak(void **st) {
  (void)st;
  mgc_aggregator_params p = unit_params(); /* change 6 dB over 2 windows, min 4 */
  mgc_aggregator *a = make(&p, 2, 2);
  mgc_decision d;
  const float x[2] = {0.5f, 0.5f}, zero[2] = {0, 0}, far[2] = {20, 20};
  for (int i = 0; i < 4; i++) mgc_aggregator_process(a, x, LOUD, zero, &d);
  mgc_aggregator_process(a, x, LOUD, far, &d); /* arms the detector */
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_skip(a, &d);
  assert_int_equal(d.new_track, 0);
  mgc_aggregator_process(a, x, LOUD, far, &d);
  assert_int_equal(d.new_track, 1);
  assert_int_equal(d.reason, MGC_TRACK_CHANGE);
  mgc_aggregator_free(a);
}

static void test_skip_does_not_allocate(void **st) {
  (void)st;
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  mgc_aggregator *a = make(&p, 10, 128);
  float probs[10] = {0.5f, 0.5f};
  mgc_decision d;
  long before = g_allocs;
  for (int w = 0; w < 3000; w++) {
    if (w % 7 < 3) mgc_aggregator_process(a, probs, LOUD, NULL, &d);
    else {
      if (w % 7 == 6) mgc_aggregator_end_track(a);
      mgc_aggregator_skip(a, &d);
    }
  }
  assert_int_equal(g_allocs - before, 0);
  assert_true(d.track > 100); /* every 7th window ended a track */
  mgc_aggregator_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_validation),
      cmocka_unit_test(test_mean_over_horizon),
      cmocka_unit_test(test_ema),
      cmocka_unit_test(test_silence_does_not_vote),
      cmocka_unit_test(test_gap_starts_track),
      cmocka_unit_test(test_change_exact),
      cmocka_unit_test(test_change_streak_breaks),
      cmocka_unit_test(test_change_noise_and_jumps),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_no_allocation),
      cmocka_unit_test(test_skip_does_not_vote),
      cmocka_unit_test(test_end_track_after_votes_starts_track_no_music),
      cmocka_unit_test(test_end_track_without_votes_starts_no_track),
      cmocka_unit_test(test_end_track_on_a_silent_window),
      cmocka_unit_test(test_skip_breaks_a_silence_run),
      cmocka_unit_test(test_skip_does_not_count_as_heard),
      cmocka_unit_test(test_skip_takes_a_pending_reset),
      cmocka_unit_test(test_skip_does_not_break_a_change_streak),
      cmocka_unit_test(test_skip_does_not_allocate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
