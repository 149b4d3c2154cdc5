/* The daemon's worker without the daemon: audio in chunks of any size must
 * give exactly the windows and probabilities the offline path
 * (mgc_predict_track, as mgc-classify and mgc-eval use it) gives, with
 * correct times and levels, silence gating, new tracks after a gap, a padded
 * window for a short stream, no allocation while streaming, and members of
 * one front-end sharing a framer. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc_count.h"
#include "mgc/audio/audio.h"
#include "mgc/dsp/features.h"
#include "mgc/stream/pipeline.h"
#include "mgc/model/session.h"
#include "mgc/train/trainer.h"
#include "test_util.h"

#define MODEL MGC_SOURCE_DIR "/models/crnn.safetensors"
#define CLIP MGC_FIXTURES "/cc/jazz_macleod_vibe_ace_30s.ogg"
#define MAXW 64

typedef struct rec {
  int n;
  mgc_window_event e[MAXW];
  float probs[MAXW][16], track[MAXW][16];
  int has_probs[MAXW];
  int C;
} rec;

static int collect(void *user, const mgc_window_event *e) {
  rec *r = user;
  if (r->n >= MAXW) return 1;
  r->e[r->n] = *e;
  r->has_probs[r->n] = e->probs != NULL;
  for (int k = 0; k < r->C; k++) {
    if (e->probs) r->probs[r->n][k] = e->probs[k];
    if (e->decision.probs) r->track[r->n][k] = e->decision.probs[k];
  }
  r->n++;
  return 0;
}

static mgc_model *load_model(void) {
  mgc_model *m;
  if (mgc_model_load(MODEL, &m)) fail_msg("%s", mgc_error_message());
  return m;
}

/* Feed in pseudo-random chunk sizes (1 .. 5000 samples). */
static void feed(mgc_pipeline *p, const float *x, size_t n, rec *r, uint64_t seed) {
  size_t i = 0;
  while (i < n) {
    size_t c = 1 + test_rand(&seed) % 5000;
    if (c > n - i) c = n - i;
    assert_int_equal(mgc_pipeline_process(p, x + i, c, collect, r), 0);
    i += c;
  }
}

static void test_matches_offline(void **st) {
  (void)st;
  mgc_model *m = load_model();
  mgc_audio a;
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &a), MGC_OK);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0; /* one track: compare with the offline mean */
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  feed(p, a.samples, a.n, &r, 7);
  assert_int_equal(mgc_pipeline_flush(p, collect, &r), 0);

  /* Offline: the whole-file features and mgc_predict_track. */
  mgc_feature_matrix fm;
  assert_int_equal(mgc_features_compute(&m->frontend, MGC_KIND_LOGMEL, a.samples, a.n, &fm), MGC_OK);
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop;
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  assert_true(nw >= 15);
  assert_int_equal(r.n, nw);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 4, &s), MGC_OK);
  size_t d = mgc_shape_size(&m->arch->input);
  float *scratch = malloc((4 * d + (size_t)win * fm.dim) * sizeof(float));
  float *probs = malloc((size_t)nw * r.C * sizeof(float));
  assert_int_equal(mgc_predict_track(s, &fm, win, hop, scratch, probs), MGC_OK);
  double maxdiff = 0, mean[16] = {0};
  double hop_s = (double)hop * m->frontend.hop_length / m->frontend.sample_rate;
  for (int w = 0; w < nw; w++) {
    assert_true(r.has_probs[w]);
    assert_int_equal(r.e[w].index, w);
    assert_false(r.e[w].decision.silent);
    for (int k = 0; k < r.C; k++) {
      double dd = fabs(r.probs[w][k] - probs[(size_t)w * r.C + k]);
      if (dd > maxdiff) maxdiff = dd;
      mean[k] += probs[(size_t)w * r.C + k];
    }
    /* Window w starts at frame w*hop (centred frames: half an FFT earlier). */
    double t0 = w * hop_s - (m->frontend.n_fft / 2.0) / m->frontend.sample_rate;
    assert_true(fabs(r.e[w].t - (t0 > 0 ? t0 : 0)) < 1e-9);
    double t1 = ((double)(w * hop + win - 1) * m->frontend.hop_length + m->frontend.n_fft / 2.0) /
                m->frontend.sample_rate;
    assert_true(fabs(r.e[w].t_end - t1) < 1e-9);
  }
  assert_true(maxdiff < 1e-5);
  /* 30 s horizon covers every window of a 30 s clip: the track decision is
   * the offline mean of all windows, the rule mgc-classify reports. */
  const mgc_decision *last = &r.e[nw - 1].decision;
  assert_int_equal(last->windows, nw);
  assert_int_equal(last->track, 1);
  int best = 0;
  for (int k = 0; k < r.C; k++) {
    assert_true(fabs(r.track[nw - 1][k] - mean[k] / nw) < 1e-5);
    if (mean[k] > mean[best]) best = k;
  }
  assert_int_equal(last->genre, best);
  assert_true(fabs(mgc_pipeline_audio_s(p) - (double)a.n / a.rate) < 1e-9);
  free(scratch);
  free(probs);
  mgc_session_free(s);
  mgc_feature_matrix_free(&fm);
  mgc_pipeline_free(p);
  mgc_audio_free(&a);
  mgc_model_free(m);
}

static void test_level_silence_gap(void **st) {
  (void)st;
  mgc_model *m = load_model();
  int sr = m->frontend.sample_rate;
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  pp.agg.silence_db = -50;
  pp.agg.gap_s = 2.0;
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  /* 8 s of a 0.5-amplitude 440 Hz sine, 6 s of silence, 8 s of sine. */
  size_t n1 = 8 * (size_t)sr, n0 = 6 * (size_t)sr, n = 2 * n1 + n0;
  float *x = calloc(n, sizeof *x);
  for (size_t i = 0; i < n; i++)
    if (i < n1 || i >= n1 + n0) x[i] = 0.5f * (float)sin(2 * M_PI * 440.0 * (double)i / sr);
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  long before = g_allocs;
  feed(p, x, n, &r, 3);
  assert_int_equal(g_allocs, before); /* the real-time path never allocates */
  assert_true(r.n >= 12);
  /* A sine of amplitude A has RMS A/sqrt(2): -9.03 dBFS. */
  assert_true(fabs(r.e[0].rms_db - 20 * log10(0.5 / sqrt(2.0))) < 0.05);
  assert_false(r.e[0].decision.silent);
  assert_true(r.has_probs[0]);
  int silent = 0, first_after = -1;
  for (int w = 0; w < r.n; w++) {
    if (r.e[w].decision.silent) {
      silent++;
      assert_false(r.has_probs[w]); /* the model is not even run */
      assert_true(r.e[w].rms_db < -100);
    } else if (silent && first_after < 0) {
      first_after = w;
    }
  }
  /* 6 s of silence hold windows entirely inside it: 6 s - 3 s window = 3 s -> 2..3 windows at 1.5 s hop. */
  assert_true(silent >= 2);
  assert_true(first_after > 0);
  /* More than 2 s of silence: the music after it is a new track. */
  int saw_gap = 0;
  for (int w = 1; w < r.n; w++)
    if (r.e[w].decision.new_track) {
      assert_int_equal(r.e[w].decision.reason, MGC_TRACK_GAP);
      assert_int_equal(r.e[w].decision.track, 2);
      saw_gap = 1;
    }
  assert_true(saw_gap);
  assert_int_equal(r.e[r.n - 1].decision.track, 2);
  /* The new track's decision rests only on its own windows. */
  assert_true(r.e[r.n - 1].decision.windows <= r.n - first_after);
  /* A client's reset starts track 3 at the next window. */
  mgc_pipeline_reset_track(p);
  int before_n = r.n;
  feed(p, x, n1, &r, 5);
  assert_true(r.n > before_n);
  assert_int_equal(r.e[before_n].decision.new_track, 1);
  assert_int_equal(r.e[before_n].decision.reason, MGC_TRACK_RESET);
  assert_int_equal(r.e[before_n].decision.track, 3);
  free(x);
  mgc_pipeline_free(p);
  mgc_model_free(m);
}

static void test_all_silence_has_no_genre(void **st) {
  (void)st;
  mgc_model *m = load_model();
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  size_t n = 5 * (size_t)m->frontend.sample_rate;
  float *x = calloc(n, sizeof *x);
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  feed(p, x, n, &r, 1);
  assert_true(r.n >= 1);
  for (int w = 0; w < r.n; w++) {
    assert_true(r.e[w].decision.silent);
    assert_int_equal(r.e[w].decision.genre, -1);
    assert_int_equal(r.e[w].decision.windows, 0);
  }
  free(x);
  mgc_pipeline_free(p);
  mgc_model_free(m);
}

/* A stream shorter than a window gets one padded window at flush, with the
 * probabilities mgc_predict_track gives the same short track. */
static void test_short_stream_padded(void **st) {
  (void)st;
  mgc_model *m = load_model();
  mgc_audio a;
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &a), MGC_OK);
  size_t n = 2 * (size_t)a.rate; /* 2 s < 3 s */
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  feed(p, a.samples, n, &r, 9);
  assert_int_equal(r.n, 0);
  assert_int_equal(mgc_pipeline_flush(p, collect, &r), 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.e[0].padded, 1);
  assert_true(fabs(r.e[0].t_end - 2.0) < 1e-9);
  mgc_feature_matrix fm;
  assert_int_equal(mgc_features_compute(&m->frontend, MGC_KIND_LOGMEL, a.samples, n, &fm), MGC_OK);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 1, &s), MGC_OK);
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop;
  float *scratch = malloc((mgc_shape_size(&m->arch->input) + (size_t)win * fm.dim) * sizeof(float));
  float probs[16];
  assert_int_equal(mgc_predict_track(s, &fm, win, hop, scratch, probs), MGC_OK);
  for (int k = 0; k < r.C; k++) assert_true(fabs(r.probs[0][k] - probs[k]) < 1e-5);
  free(scratch);
  mgc_session_free(s);
  mgc_feature_matrix_free(&fm);
  mgc_pipeline_free(p);
  mgc_audio_free(&a);
  mgc_model_free(m);
}

/* A raw-waveform model (conf/models/waveform_cnn.yaml, random weights, one
 * standardisation statistic for its one channel): its frames are 512-sample
 * stretches of the signal, and the live windows must equal the offline ones
 * (mgc_features_compute's "waveform" + mgc_predict_track) in number, time
 * and probabilities, fed in any chunk sizes, without allocating; a stream
 * shorter than a window gets the offline short track's padded window. */
static void test_waveform_matches_offline(void **st) {
  (void)st;
  mgc_arch *arch;
  if (mgc_arch_load(MGC_SOURCE_DIR "/conf/models/waveform_cnn.yaml", &arch)) fail_msg("%s", mgc_error_message());
  mgc_model *m;
  assert_int_equal(mgc_model_new(arch, 0, NULL, 11, &m), MGC_OK);
  mgc_arch_free(arch);
  const float mean = 0.001f, sd = 0.08f;
  assert_int_equal(mgc_model_set_norm(m, 1, &mean, &sd), MGC_OK);
  mgc_audio a;
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &a), MGC_OK);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  const int win = m->frontend.segment_frames, hop = m->frontend.segment_hop, fl = m->frontend.hop_length;
  const double sr = m->frontend.sample_rate;
  assert_true(fabs(mgc_pipeline_window_s(p) - win * fl / sr) < 1e-12); /* 66560 samples */
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  long before = g_allocs;
  feed(p, a.samples, a.n, &r, 13);
  assert_int_equal(mgc_pipeline_flush(p, collect, &r), 0);
  assert_int_equal(g_allocs, before);

  mgc_feature_matrix fm;
  assert_int_equal(mgc_features_compute(&m->frontend, MGC_KIND_WAVEFORM, a.samples, a.n, &fm), MGC_OK);
  assert_int_equal(fm.dim, fl);
  assert_int_equal(fm.n_frames, a.n / (size_t)fl);
  assert_memory_equal(fm.data, a.samples, fm.n_frames * fm.dim * sizeof(float));
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  assert_true(nw >= 15);
  assert_int_equal(r.n, nw);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 4, &s), MGC_OK);
  size_t d = mgc_shape_size(&m->arch->input);
  assert_int_equal(d, (size_t)win * fl);
  float *scratch = malloc((4 * d + (size_t)win * fm.dim) * sizeof(float));
  float *probs = malloc((size_t)nw * r.C * sizeof(float));
  assert_int_equal(mgc_predict_track(s, &fm, win, hop, scratch, probs), MGC_OK);
  double maxdiff = 0, spread = 0;
  for (int w = 0; w < nw; w++) {
    assert_true(r.has_probs[w]);
    for (int k = 0; k < r.C; k++) {
      double dd = fabs(r.probs[w][k] - probs[(size_t)w * r.C + k]);
      if (dd > maxdiff) maxdiff = dd;
      dd = fabs(probs[(size_t)w * r.C + k] - probs[k]);
      if (dd > spread) spread = dd;
    }
    /* Window w is samples [w * hop * 512, (w * hop + win) * 512). */
    assert_true(fabs(r.e[w].t - (double)w * hop * fl / sr) < 1e-9);
    assert_true(fabs(r.e[w].t_end - (double)(w * hop + win) * fl / sr) < 1e-9);
  }
  assert_true(maxdiff < 1e-5);
  assert_true(spread > 1e-3); /* the windows differ: the comparison means something */

  /* 2 s: one window at flush, the missing samples silent (0) on both sides. */
  size_t n2 = 2 * (size_t)a.rate;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  feed(p, a.samples, n2, &r, 17);
  assert_int_equal(r.n, 0);
  assert_int_equal(mgc_pipeline_flush(p, collect, &r), 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.e[0].padded, 1);
  mgc_feature_matrix_free(&fm);
  assert_int_equal(mgc_features_compute(&m->frontend, MGC_KIND_WAVEFORM, a.samples, n2, &fm), MGC_OK);
  assert_int_equal(mgc_predict_track(s, &fm, win, hop, scratch, probs), MGC_OK);
  for (int k = 0; k < r.C; k++) assert_true(fabs(r.probs[0][k] - probs[k]) < 1e-5);
  free(scratch);
  free(probs);
  mgc_session_free(s);
  mgc_feature_matrix_free(&fm);
  mgc_pipeline_free(p);
  mgc_audio_free(&a);
  mgc_model_free(m);
}

/* Members of one front-end from one framer (the CRNN leading, the chroma
 * RNN and the CNN following; the chroma features make the leader's framer
 * compute more): every pipeline's events equal, bit for bit, those of a
 * pipeline with a framer of its own, through a restart and a flush; the
 * followers are driven by the leader alone. A waveform model and another
 * front-end are refused. */
static void test_shared_framer(void **st) {
  (void)st;
  static const char *names[3] = {"crnn", "chroma_rnn", "cnn"};
  mgc_model *m[3];
  for (int i = 0; i < 3; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.safetensors", MGC_SOURCE_DIR, names[i]);
    assert_int_equal(mgc_model_load(path, &m[i]), MGC_OK);
  }
  mgc_audio a;
  assert_int_equal(mgc_audio_load(CLIP, m[0]->frontend.sample_rate, &a), MGC_OK);
  size_t half = a.n / 2;
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  static rec alone[3], shared[3];
  memset(alone, 0, sizeof alone);
  memset(shared, 0, sizeof shared);
  mgc_pipeline *own[3], *grp[3];
  for (int i = 0; i < 3; i++) {
    alone[i].C = shared[i].C = m[i]->n_classes;
    assert_int_equal(mgc_pipeline_new(m[i], &pp, &own[i]), MGC_OK);
    feed(own[i], a.samples, half, &alone[i], 3);
    mgc_pipeline_restart(own[i], 1.5);
    feed(own[i], a.samples + half, a.n - half, &alone[i], 4);
    assert_int_equal(mgc_pipeline_flush(own[i], collect, &alone[i]), 0);
  }
  assert_int_equal(mgc_pipeline_new(m[0], &pp, &grp[0]), MGC_OK);
  for (int i = 1; i < 3; i++) {
    assert_true(mgc_pipeline_can_share(grp[0], m[i]));
    assert_int_equal(mgc_pipeline_new_shared(m[i], &pp, grp[0], &grp[i]), MGC_OK);
    mgc_pipeline_set_sink(grp[i], collect, &shared[i]);
  }
  assert_false(mgc_pipeline_can_share(grp[1], m[2])); /* a follower leads nothing */
  feed(grp[0], a.samples, half, &shared[0], 5);
  mgc_pipeline_restart(grp[0], 1.5);
  feed(grp[0], a.samples + half, a.n - half, &shared[0], 6);
  assert_int_equal(mgc_pipeline_flush(grp[0], collect, &shared[0]), 0);
  for (int i = 0; i < 3; i++) {
    assert_true(alone[i].n > 10);
    assert_int_equal(shared[i].n, alone[i].n);
    for (int w = 0; w < alone[i].n; w++) {
      assert_true(shared[i].e[w].t == alone[i].e[w].t && shared[i].e[w].t_end == alone[i].e[w].t_end);
      assert_true(shared[i].e[w].rms_db == alone[i].e[w].rms_db);
      assert_memory_equal(shared[i].probs[w], alone[i].probs[w], sizeof(float) * (size_t)alone[i].C);
      assert_memory_equal(shared[i].track[w], alone[i].track[w], sizeof(float) * (size_t)alone[i].C);
    }
    assert_true(mgc_pipeline_audio_s(grp[i]) == mgc_pipeline_audio_s(own[i]));
  }
  /* Refused: a waveform model, another front-end. */
  mgc_model *wf;
  assert_int_equal(mgc_model_load(MGC_SOURCE_DIR "/models/waveform_cnn.safetensors", &wf), MGC_OK);
  assert_false(mgc_pipeline_can_share(grp[0], wf));
  m[2]->frontend.hop_length = 256;
  assert_false(mgc_pipeline_can_share(grp[0], m[2]));
  mgc_pipeline *x = NULL;
  assert_int_equal(mgc_pipeline_new_shared(wf, &pp, own[0], &x), MGC_EINVAL);
  assert_null(x);
  mgc_model_free(wf);
  for (int i = 2; i >= 0; i--) {
    mgc_pipeline_free(grp[i]);
    mgc_pipeline_free(own[i]);
    mgc_model_free(m[i]);
  }
  mgc_audio_free(&a);
}

static void test_refusals(void **st) {
  (void)st;
  mgc_model *m = load_model();
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.window_frames = 100; /* the CRNN's input is 130 frames */
  mgc_pipeline *p;
  assert_int_not_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "do not fit"));
  assert_null(p);
  mgc_model_free(m);
}

/* mgc_pipeline_until_window_s is exact: one sample short of it no window
 * comes, with that sample the next one does (the wait mgcd sleeps). */
static void test_until_window_exact(void **st) {
  (void)st;
  mgc_model *m = load_model();
  mgc_audio a;
  assert_int_equal(mgc_audio_load(CLIP, 22050, &a), MGC_OK);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_pipeline *p;
  assert_int_equal(mgc_pipeline_new(m, &pp, &p), MGC_OK);
  static rec r;
  memset(&r, 0, sizeof r);
  r.C = m->n_classes;
  size_t at = 0;
  for (int w = 0; w < 6; w++) {
    double u = mgc_pipeline_until_window_s(p);
    assert_true(u > 0);
    size_t k = (size_t)llround(u * 22050);
    assert_true(fabs((double)k - u * 22050) < 1e-6); /* a whole number of samples */
    assert_int_equal(mgc_pipeline_process(p, a.samples + at, k - 1, collect, &r), 0);
    assert_int_equal(r.n, w);
    assert_int_equal(mgc_pipeline_process(p, a.samples + at + k - 1, 1, collect, &r), 0);
    assert_int_equal(r.n, w + 1);
    assert_true(mgc_pipeline_until_window_s(p) > 1.4); /* the next is a hop away */
    at += k;
  }
  mgc_pipeline_free(p);
  mgc_audio_free(&a);
  mgc_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_offline),
      cmocka_unit_test(test_level_silence_gap),
      cmocka_unit_test(test_all_silence_has_no_genre),
      cmocka_unit_test(test_short_stream_padded),
      cmocka_unit_test(test_waveform_matches_offline),
      cmocka_unit_test(test_shared_framer),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_until_window_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
