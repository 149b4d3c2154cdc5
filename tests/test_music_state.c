/* Music states (mgc/stream/music_state.h): the defaults and their validation, the
 * hysteresis (enter fast, leave slowly, a broken run starts over), the
 * threshold's edge and NaN, changed/previous, the names, no allocation.
 * The offline scan (mgc/stream/music_scan.h): the music of a recording cut from
 * hand-made windows, and the shipped detector on music, speech and digital
 * silence. */
#include <math.h>

#include "alloc_count.h"
#include "mgc/audio/audio.h"
#include "mgc/model/model.h"
#include "mgc/stream/music_scan.h"
#include "mgc/stream/music_state.h"
#include "mgc/stream/pipeline.h"
#include "test_util.h"

#ifndef MGC_SOURCE_DIR
#error "MGC_SOURCE_DIR must point at the source tree"
#endif

#define DETECTOR MGC_SOURCE_DIR "/models/music_detector.safetensors"
#define GENRES MGC_SOURCE_DIR "/models/crnn.safetensors"
#define ROCK MGC_FIXTURES "/cc/rock_schmiedberger_rock_n_roll_30s.ogg"
#define SPEECH MGC_FIXTURES "/speech/librispeech_1841-150351-0000_10s.ogg"

#define M MGC_SOUND_MUSIC
#define N MGC_SOUND_NO_MUSIC
#define S MGC_SOUND_SILENCE

/* ---- mgc_music_state ---- */

static mgc_music_state make_state(int enter, int leave) {
  mgc_music_params p;
  mgc_music_params_default(&p);
  p.enter_windows = enter;
  p.leave_windows = leave;
  assert_int_equal(mgc_music_params_validate(&p), MGC_OK);
  mgc_music_state s;
  mgc_music_state_init(&s, &p);
  return s;
}

/* One window of class w (P(music) 0.9 for music, 0.1 otherwise). */
static mgc_music_verdict step(mgc_music_state *s, mgc_sound w) {
  mgc_music_verdict v;
  mgc_music_state_process(s, w == S, w == M ? 0.9 : 0.1, &v);
  assert_int_equal(v.window, w);
  return v;
}

static void test_params_defaults(void **st) {
  (void)st;
  mgc_music_params p;
  mgc_music_params_default(&p);
  assert_true(p.threshold == 0.5);
  assert_int_equal(p.enter_windows, 1);
  assert_int_equal(p.leave_windows, 2);
  assert_int_equal(mgc_music_params_validate(&p), MGC_OK);
}

static void test_params_out_of_range_refused_naming_field(void **st) {
  (void)st;
  mgc_music_params p;
  mgc_music_params_default(&p);
#define BAD(field_name, stmt)                                                  \
  do {                                                                         \
    mgc_music_params q = p;                                                    \
    stmt;                                                                      \
    mgc_error_clear();                                                         \
    assert_int_equal(mgc_music_params_validate(&q), MGC_EINVAL);               \
    if (!strstr(mgc_error_message(), field_name))                              \
      fail_msg("'%s' does not name %s", mgc_error_message(), field_name);      \
  } while (0)
  BAD("threshold", q.threshold = NAN);
  BAD("threshold", q.threshold = -0.1);
  BAD("threshold", q.threshold = 1.1);
  BAD("enter_windows", q.enter_windows = 0);
  BAD("enter_windows", q.enter_windows = 1001);
  BAD("leave_windows", q.leave_windows = 0);
  BAD("leave_windows", q.leave_windows = 1001);
#undef BAD
}

static void test_params_range_ends_accepted(void **st) {
  (void)st;
  mgc_music_params p;
  mgc_music_params_default(&p);
  p.threshold = 0.0;
  p.enter_windows = 1000;
  p.leave_windows = 1;
  assert_int_equal(mgc_music_params_validate(&p), MGC_OK);
  p.threshold = 1.0;
  p.enter_windows = 1;
  p.leave_windows = 1000;
  assert_int_equal(mgc_music_params_validate(&p), MGC_OK);
}

static void test_state_starts_as_silence(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 2);
  assert_int_equal(s.state, S);
  /* a first window that is not music does not leave silence at once */
  mgc_music_verdict v = step(&s, N);
  assert_int_equal(v.previous, S);
  assert_int_equal(v.state, S);
  assert_int_equal(v.changed, 0);
}

static void test_enter_one_window_makes_music_that_votes(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 2);
  mgc_music_verdict v = step(&s, M);
  assert_int_equal(v.state, M);
  assert_int_equal(v.votes, 1);
}

static void test_enter_two_windows_first_neither_changes_nor_votes(void **st) {
  (void)st;
  mgc_music_state s = make_state(2, 2);
  mgc_music_verdict v = step(&s, M);
  assert_int_equal(v.state, S);
  assert_int_equal(v.changed, 0);
  assert_int_equal(v.votes, 0);
  v = step(&s, M);
  assert_int_equal(v.state, M);
  assert_int_equal(v.changed, 1);
  assert_int_equal(v.votes, 1);
}

/* Hysteresis: one window of speech in a song keeps the state music; that
 * window does not vote, the music after it does. */
static void test_one_odd_window_keeps_music_without_vote(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 2);
  step(&s, M);
  mgc_music_verdict v = step(&s, N);
  assert_int_equal(v.state, M);
  assert_int_equal(v.changed, 0);
  assert_int_equal(v.votes, 0);
  v = step(&s, M);
  assert_int_equal(v.state, M);
  assert_int_equal(v.votes, 1);
}

static void test_leave_needs_leave_windows_in_a_row(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 3);
  step(&s, M);
  assert_int_equal(step(&s, N).state, M);
  assert_int_equal(step(&s, N).state, M);
  mgc_music_verdict v = step(&s, N);
  assert_int_equal(v.state, N);
  assert_int_equal(v.votes, 0);
}

static void test_music_window_restarts_the_leave_count(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 3);
  step(&s, M);
  step(&s, N);
  step(&s, N);
  assert_int_equal(step(&s, M).state, M); /* breaks the run of 2 */
  assert_int_equal(step(&s, N).state, M);
  assert_int_equal(step(&s, N).state, M); /* 2 again, not 4 */
  assert_int_equal(step(&s, N).state, N);
}

static void test_leave_windows_of_silence_make_silence(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 2);
  step(&s, M);
  mgc_music_verdict v = step(&s, S);
  assert_int_equal(v.state, M);
  assert_int_equal(v.votes, 0);
  v = step(&s, S);
  assert_int_equal(v.state, S);
  assert_int_equal(v.changed, 1);
  assert_int_equal(v.previous, M);
}

/* Speech with pauses between its words (sound and silent windows taking
 * turns) leaves music like speech does: to no_music; and from there the
 * turns keep it no_music rather than flapping. */
static void test_speech_with_pauses_leaves_music(void **st) {
  (void)st;
  mgc_music_state s = make_state(1, 2);
  step(&s, M);
  mgc_music_verdict v = step(&s, S);
  assert_int_equal(v.state, M);
  v = step(&s, N);
  assert_int_equal(v.state, N);
  assert_int_equal(v.changed, 1);
  assert_int_equal(v.previous, M);
  for (int i = 0; i < 10; i++) {
    v = step(&s, i % 2 ? N : S);
    assert_int_equal(v.state, N);
    assert_int_equal(v.changed, 0);
  }
  /* the other order: a word, then a pause */
  s = make_state(1, 2);
  step(&s, M);
  step(&s, N);
  v = step(&s, S);
  assert_int_equal(v.state, N);
  assert_int_equal(v.previous, M);
}

static void test_p_equal_to_threshold_is_music(void **st) {
  (void)st;
  mgc_music_params p;
  mgc_music_params_default(&p);
  p.threshold = 0.3;
  mgc_music_state s;
  mgc_music_state_init(&s, &p);
  mgc_music_verdict v;
  mgc_music_state_process(&s, 0, nextafter(0.3, 0.0), &v);
  assert_int_equal(v.window, N);
  mgc_music_state_process(&s, 0, 0.3, &v);
  assert_int_equal(v.window, M);
  assert_int_equal(v.votes, 1);
}

static void test_nan_p_is_not_music(void **st) {
  (void)st;
  mgc_music_params p;
  mgc_music_params_default(&p);
  p.threshold = 0.0; /* every number is music at 0 */
  p.leave_windows = 1;
  mgc_music_state s;
  mgc_music_state_init(&s, &p);
  mgc_music_verdict v;
  mgc_music_state_process(&s, 0, 0.0, &v);
  assert_int_equal(v.state, M);
  mgc_music_state_process(&s, 0, NAN, &v);
  assert_int_equal(v.window, N);
  assert_int_equal(v.state, N);
  assert_int_equal(v.votes, 0);
}

/* A walk through every transition: changed and previous are set exactly
 * where the state moves. */
static void test_changed_and_previous_only_on_transitions(void **st) {
  (void)st;
  mgc_music_state s = make_state(2, 2);
  static const struct {
    mgc_sound w, state, previous;
    int changed, votes;
  } want[] = {
      {S, S, S, 0, 0}, {M, S, S, 0, 0}, {M, M, S, 1, 1}, {M, M, M, 0, 1}, {N, M, M, 0, 0},
      {N, N, M, 1, 0}, {N, N, N, 0, 0}, {M, N, N, 0, 0}, {M, M, N, 1, 1}, {S, M, M, 0, 0},
      {S, S, M, 1, 0}, {N, S, S, 0, 0}, {N, N, S, 1, 0}, {S, N, N, 0, 0}, {S, S, N, 1, 0},
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    mgc_music_verdict v = step(&s, want[i].w);
    if (v.state != want[i].state || v.previous != want[i].previous || v.changed != want[i].changed ||
        v.votes != want[i].votes)
      fail_msg("window %zu: state %d previous %d changed %d votes %d; want %d %d %d %d", i, v.state,
               v.previous, v.changed, v.votes, want[i].state, want[i].previous, want[i].changed,
               want[i].votes);
  }
}

static void test_sound_names(void **st) {
  (void)st;
  assert_string_equal(mgc_sound_name(MGC_SOUND_SILENCE), "silence");
  assert_string_equal(mgc_sound_name(MGC_SOUND_NO_MUSIC), "no_music");
  assert_string_equal(mgc_sound_name(MGC_SOUND_MUSIC), "music");
}

static void test_process_does_not_allocate(void **st) {
  (void)st;
  mgc_music_state s = make_state(2, 3);
  uint64_t seed = 11;
  mgc_music_verdict v;
  int changes = 0;
  long before = g_allocs;
  for (int i = 0; i < 5000; i++) {
    uint32_t r = test_rand(&seed);
    mgc_music_state_process(&s, r % 5 == 0, (double)(r % 1000) / 1000.0, &v);
    changes += v.changed;
  }
  assert_int_equal(g_allocs - before, 0);
  assert_true(changes > 10); /* the walk did move between states */
}

/* ---- mgc_music_audio, mgc_music_votes ---- */

#define RATE 10 /* samples per second: window times are whole samples */

static mgc_music_window win(double t, double t_end, int votes) {
  mgc_music_window w;
  memset(&w, 0, sizeof w);
  w.t = t;
  w.t_end = t_end;
  w.music = votes ? 0.9f : 0.1f;
  w.v.votes = votes;
  w.v.window = w.v.state = votes ? M : N;
  return w;
}

/* x[i] = i, so a sample's value is where it came from. */
static float *ramp(size_t n) {
  float *x = malloc(n * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = (float)i;
  return x;
}

static void assert_samples(const float *got, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (got[i - from] != (float)i) fail_msg("sample %zu of the span is %g, want %zu", i - from, got[i - from], i);
}

static void test_audio_overlapping_windows_join_each_sample_once(void **st) {
  (void)st;
  float *x = ramp(100), *out;
  size_t n;
  const mgc_music_window w[] = {win(0, 3, 1), win(1.5, 4.5, 1), win(3, 6, 1)};
  assert_int_equal(mgc_music_audio(w, 3, x, 100, RATE, &out, &n), MGC_OK);
  assert_int_equal(n, 60);
  assert_samples(out, 0, 60);
  free(out);
  free(x);
}

static void test_audio_leaves_out_windows_that_do_not_vote(void **st) {
  (void)st;
  float *x = ramp(100), *out;
  size_t n;
  const mgc_music_window w[] = {win(0, 3, 0), win(1.5, 4.5, 1), win(3, 6, 0)};
  assert_int_equal(mgc_music_audio(w, 3, x, 100, RATE, &out, &n), MGC_OK);
  assert_int_equal(n, 30);
  assert_samples(out, 15, 45);
  free(out);
  free(x);
}

static void test_audio_separate_spans_concatenate_in_order(void **st) {
  (void)st;
  float *x = ramp(100), *out;
  size_t n;
  const mgc_music_window w[] = {win(0, 1, 1), win(2, 3, 0), win(5, 6, 1)};
  assert_int_equal(mgc_music_audio(w, 3, x, 100, RATE, &out, &n), MGC_OK);
  assert_int_equal(n, 20);
  assert_samples(out, 0, 10);
  assert_samples(out + 10, 50, 60);
  free(out);
  free(x);
}

static void test_audio_clips_windows_at_the_end(void **st) {
  (void)st;
  float *x = ramp(40), *out;
  size_t n;
  /* the padded last window ends at 4.5 s of a 4 s recording; one past it
   * starts after the end */
  const mgc_music_window w[] = {win(1.5, 4.5, 1), win(4.5, 7.5, 1)};
  assert_int_equal(mgc_music_audio(w, 2, x, 40, RATE, &out, &n), MGC_OK);
  assert_int_equal(n, 25);
  assert_samples(out, 15, 40);
  free(out);
  free(x);
}

static void test_audio_without_votes_is_null(void **st) {
  (void)st;
  float *x = ramp(100), *out = x;
  size_t n = 7;
  const mgc_music_window w[] = {win(0, 3, 0), win(1.5, 4.5, 0)};
  assert_int_equal(mgc_music_audio(w, 2, x, 100, RATE, &out, &n), MGC_OK);
  assert_null(out);
  assert_int_equal(n, 0);
  out = x;
  n = 7;
  assert_int_equal(mgc_music_audio(w, 0, x, 100, RATE, &out, &n), MGC_OK);
  assert_null(out);
  assert_int_equal(n, 0);
  free(x);
}

static void test_votes_counts_voting_windows(void **st) {
  (void)st;
  const mgc_music_window w[] = {win(0, 3, 1), win(1.5, 4.5, 0), win(3, 6, 1), win(4.5, 7.5, 1)};
  assert_int_equal(mgc_music_votes(w, 4), 3);
  assert_int_equal(mgc_music_votes(w + 1, 1), 0);
  assert_int_equal(mgc_music_votes(w, 0), 0);
}

/* ---- the shipped detector ---- */

static mgc_model *load(const char *path) {
  mgc_model *m;
  if (mgc_model_load(path, &m)) fail_msg("%s", mgc_error_message());
  return m;
}

static void test_music_class_of_the_detector(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  int k = -1;
  assert_int_equal(mgc_music_class(d, &k), MGC_OK);
  assert_in_range(k, 0, d->n_classes - 1);
  assert_string_equal(d->classes[k], "music");
  mgc_model_free(d);
}

static void test_music_class_refuses_model_without_music_naming_classes(void **st) {
  (void)st;
  mgc_model *g = load(GENRES);
  int k = 0;
  assert_int_equal(mgc_music_class(g, &k), MGC_EINVAL);
  const char *m = mgc_error_message();
  if (!strstr(m, "'music'") || !strstr(m, "blues, classical") || !strstr(m, "rock"))
    fail_msg("'%s' does not name the missing class and the model's classes", m);
  mgc_model_free(g);
}

static void test_scan_refuses_model_without_music(void **st) {
  (void)st;
  mgc_model *g = load(GENRES);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  float x[22050] = {0};
  mgc_music_window *w = (void *)x;
  size_t nw = 5;
  assert_int_equal(mgc_music_scan(g, &pp, x, 22050, &w, &nw), MGC_EINVAL);
  assert_null(w);
  assert_int_equal(nw, 0);
  assert_non_null(strstr(mgc_error_message(), "'music'"));
  mgc_model_free(g);
}

static void test_scan_refuses_bad_music_params(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.music.enter_windows = 0;
  float x[22050] = {0};
  mgc_music_window *w = (void *)x;
  size_t nw = 5;
  assert_int_equal(mgc_music_scan(d, &pp, x, 22050, &w, &nw), MGC_EINVAL);
  assert_null(w);
  assert_int_equal(nw, 0);
  assert_non_null(strstr(mgc_error_message(), "enter_windows"));
  mgc_model_free(d);
}

static mgc_audio load_audio(const char *path) {
  mgc_audio a;
  if (mgc_audio_load(path, 22050, &a)) fail_msg("%s", mgc_error_message());
  return a;
}

static void scan(const mgc_model *d, const float *x, size_t n, mgc_music_window **w, size_t *nw) {
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  if (mgc_music_scan(d, &pp, x, n, w, nw)) fail_msg("%s", mgc_error_message());
}

typedef struct times {
  size_t n;
  double t[64], t_end[64];
} times;

static int on_window(void *user, const mgc_window_event *e) {
  times *r = user;
  if (r->n < 64) {
    r->t[r->n] = e->t;
    r->t_end[r->n] = e->t_end;
  }
  r->n++;
  return 0;
}

/* The scan is the detector's own pipeline: the windows a plain pipeline of
 * the model emits on the same audio, at the same times. */
static void test_scan_windows_are_the_pipelines(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  mgc_audio a = load_audio(ROCK);
  mgc_music_window *w;
  size_t nw;
  scan(d, a.samples, a.n, &w, &nw);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_pipeline *p;
  if (mgc_pipeline_new(d, &pp, &p)) fail_msg("%s", mgc_error_message());
  times r = {0};
  assert_int_equal(mgc_pipeline_process(p, a.samples, a.n, on_window, &r), 0);
  assert_int_equal(mgc_pipeline_flush(p, on_window, &r), 0);
  assert_int_equal(nw, r.n);
  assert_true(nw >= 15 && nw <= 64); /* 30 s in windows of 3 s every 1.5 s */
  for (size_t i = 0; i < nw; i++) {
    assert_true(w[i].t == r.t[i]);
    assert_true(w[i].t_end == r.t_end[i]);
  }
  mgc_pipeline_free(p);
  free(w);
  mgc_audio_free(&a);
  mgc_model_free(d);
}

static void test_scan_music_fixture_votes(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  mgc_audio a = load_audio(ROCK);
  mgc_music_window *w;
  size_t nw;
  scan(d, a.samples, a.n, &w, &nw);
  size_t votes = mgc_music_votes(w, nw);
  if (votes * 10 < nw * 9) fail_msg("%zu of %zu windows of rock vote", votes, nw);
  free(w);
  mgc_audio_free(&a);
  mgc_model_free(d);
}

static void test_scan_speech_fixture_does_not_vote(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  mgc_audio a = load_audio(SPEECH);
  mgc_music_window *w;
  size_t nw;
  scan(d, a.samples, a.n, &w, &nw);
  assert_true(nw >= 5); /* 10 s */
  for (size_t i = 0; i < nw; i++)
    if (w[i].v.votes || w[i].v.state == M)
      fail_msg("speech window %zu (%.1f s) is music (P %.3f)", i, w[i].t, (double)w[i].music);
  assert_int_equal(mgc_music_votes(w, nw), 0);
  free(w);
  mgc_audio_free(&a);
  mgc_model_free(d);
}

static void test_scan_digital_silence_is_silence(void **st) {
  (void)st;
  mgc_model *d = load(DETECTOR);
  const size_t n = 22050 * 8;
  float *x = calloc(n, sizeof *x);
  assert_non_null(x);
  mgc_music_window *w;
  size_t nw;
  scan(d, x, n, &w, &nw);
  assert_true(nw >= 4);
  for (size_t i = 0; i < nw; i++) {
    assert_true(isnan(w[i].music));
    assert_int_equal(w[i].v.window, S);
    assert_int_equal(w[i].v.state, S);
  }
  free(w);
  free(x);
  mgc_model_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params_defaults),
      cmocka_unit_test(test_params_out_of_range_refused_naming_field),
      cmocka_unit_test(test_params_range_ends_accepted),
      cmocka_unit_test(test_state_starts_as_silence),
      cmocka_unit_test(test_enter_one_window_makes_music_that_votes),
      cmocka_unit_test(test_enter_two_windows_first_neither_changes_nor_votes),
      cmocka_unit_test(test_one_odd_window_keeps_music_without_vote),
      cmocka_unit_test(test_leave_needs_leave_windows_in_a_row),
      cmocka_unit_test(test_music_window_restarts_the_leave_count),
      cmocka_unit_test(test_leave_windows_of_silence_make_silence),
      cmocka_unit_test(test_speech_with_pauses_leaves_music),
      cmocka_unit_test(test_p_equal_to_threshold_is_music),
      cmocka_unit_test(test_nan_p_is_not_music),
      cmocka_unit_test(test_changed_and_previous_only_on_transitions),
      cmocka_unit_test(test_sound_names),
      cmocka_unit_test(test_process_does_not_allocate),
      cmocka_unit_test(test_audio_overlapping_windows_join_each_sample_once),
      cmocka_unit_test(test_audio_leaves_out_windows_that_do_not_vote),
      cmocka_unit_test(test_audio_separate_spans_concatenate_in_order),
      cmocka_unit_test(test_audio_clips_windows_at_the_end),
      cmocka_unit_test(test_audio_without_votes_is_null),
      cmocka_unit_test(test_votes_counts_voting_windows),
      cmocka_unit_test(test_music_class_of_the_detector),
      cmocka_unit_test(test_music_class_refuses_model_without_music_naming_classes),
      cmocka_unit_test(test_scan_refuses_model_without_music),
      cmocka_unit_test(test_scan_refuses_bad_music_params),
      cmocka_unit_test(test_scan_windows_are_the_pipelines),
      cmocka_unit_test(test_scan_music_fixture_votes),
      cmocka_unit_test(test_scan_speech_fixture_does_not_vote),
      cmocka_unit_test(test_scan_digital_silence_is_silence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
