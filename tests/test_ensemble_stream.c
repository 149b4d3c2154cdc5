/* The live ensemble (what mgcd runs): its decisions must be exactly the
 * ensemble's rule applied to what each member's own pipeline decides on the
 * same audio, and a table member's answer, computed off the real-time path
 * from the track's audio, must join the decision once it arrives; at the
 * end of input, _finish gives the decision with the table member on the
 * track's last 30 s. The offline ensemble (mgc-classify) is checked against
 * its members computed one by one. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mgc/model/arch.h"
#include "mgc/audio/audio.h"
#include "mgc/ensemble/combine.h"
#include "mgc/stream/context.h"
#include "mgc/ensemble/classify.h"
#include "mgc/stream/ensemble_stream.h"
#include "mgc/dsp/features.h"
#include "mgc/dsp/frontend.h"
#include "mgc/stream/music_scan.h"
#include "mgc/audio/resampler.h"
#include "mgc/train/trainer.h"
#include "mgc/model/session.h"
#include "mgc/dsp/clip_features.h"
#include "test_util.h"

#define CRNN MGC_SOURCE_DIR "/models/crnn.safetensors"
#define CLIP MGC_FIXTURES "/cc/rock_schmiedberger_rock_n_roll_30s.ogg"
#define SPEECH MGC_FIXTURES "/speech/librispeech_1841-150351-0000_10s.ogg"
#define DETECTOR MGC_SOURCE_DIR "/models/music_detector.safetensors"
#define MAXW 32
#define C 10

typedef struct rec {
  int n;
  float track[MAXW][C], win[MAXW][C];
  int genre[MAXW], has_win[MAXW];
  double t_end[MAXW];
} rec;

static int collect(void *user, const mgc_window_event *e) {
  rec *r = user;
  if (r->n >= MAXW) return 0;
  r->genre[r->n] = e->decision.genre;
  r->has_win[r->n] = e->probs != NULL;
  r->t_end[r->n] = e->t_end;
  for (int k = 0; k < C; k++) {
    r->track[r->n][k] = e->decision.probs ? e->decision.probs[k] : 0;
    if (e->probs) r->win[r->n][k] = e->probs[k];
  }
  r->n++;
  return 0;
}

static mgc_audio g_clip;

/* A freshly initialised model of conf/models/NAME.yaml with the CRNN's
 * classes, saved under g_dir. */
static void make_member(const char *arch_name, const char *file, uint64_t seed) {
  char path[512], out[512];
  snprintf(path, sizeof path, "%s/conf/models/%s.yaml", MGC_SOURCE_DIR, arch_name);
  mgc_arch *a;
  assert_int_equal(mgc_arch_load(path, &a), MGC_OK);
  mgc_model *crnn, *m;
  assert_int_equal(mgc_model_load(CRNN, &crnn), MGC_OK);
  assert_int_equal(mgc_model_new(a, crnn->n_classes, (const char *const *)crnn->classes, seed, &m), MGC_OK);
  snprintf(out, sizeof out, "%s/%s", g_dir, file);
  assert_int_equal(mgc_model_save(m, out), MGC_OK);
  mgc_model_free(m);
  mgc_model_free(crnn);
  mgc_arch_free(a);
}

static mgc_ensemble *write_ensemble(const char *name, const char *body) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "%s", body);
  fclose(f);
  mgc_ensemble *e;
  if (mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &e)) fail_msg("%s", mgc_error_message());
  return e;
}

/* Feed the clip's first n samples in chunks of 4000. */
static void feed(mgc_ensemble_stream *s, size_t from, size_t to, rec *r) {
  for (size_t i = from; i < to; i += 4000) {
    size_t c = to - i < 4000 ? to - i : 4000;
    assert_int_equal(mgc_ensemble_stream_process(s, g_clip.samples + i, c, collect, r), 0);
  }
}

/* Two window members and the product rule: each decision is the product of
 * the members' own pipelines' track probabilities. */
static void test_window_members(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("two.yaml",
                                   "rule: product\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: chroma, model: chroma.safetensors, input: window}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  assert_int_equal(mgc_ensemble_stream_framers(s), 1); /* one front-end: one framer */
  static rec r, ra, rb;
  memset(&r, 0, sizeof r);
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  feed(s, 0, g_clip.n, &r);
  assert_int_equal(mgc_ensemble_stream_flush(s, collect, &r), 0);
  /* The members alone, each through its own pipeline. */
  mgc_pipeline *pa, *pb;
  assert_int_equal(mgc_pipeline_new(e->members[0].loaded, &pp, &pa), MGC_OK);
  assert_int_equal(mgc_pipeline_new(e->members[1].loaded, &pp, &pb), MGC_OK);
  assert_int_equal(mgc_pipeline_process(pa, g_clip.samples, g_clip.n, collect, &ra), 0);
  assert_int_equal(mgc_pipeline_process(pb, g_clip.samples, g_clip.n, collect, &rb), 0);
  assert_int_equal(mgc_pipeline_flush(pa, collect, &ra), 0);
  assert_int_equal(mgc_pipeline_flush(pb, collect, &rb), 0);
  assert_true(r.n >= 15);
  assert_int_equal(r.n, ra.n);
  assert_int_equal(r.n, rb.n);
  mgc_combiner prod = {MGC_COMB_PRODUCT, 2, C, NULL, NULL, NULL, 0};
  int differs = 0;
  for (int w = 0; w < r.n; w++) {
    float p[2 * C], out[C];
    memcpy(p, ra.track[w], sizeof ra.track[w]);
    memcpy(p + C, rb.track[w], sizeof rb.track[w]);
    int g = mgc_combine(&prod, p, out);
    assert_int_equal(r.genre[w], g);
    for (int k = 0; k < C; k++) assert_true(fabsf(r.track[w][k] - out[k]) < 1e-6f);
    /* Window level: the product of the two windows. */
    memcpy(p, ra.win[w], sizeof ra.win[w]);
    memcpy(p + C, rb.win[w], sizeof rb.win[w]);
    mgc_combine(&prod, p, out);
    for (int k = 0; k < C; k++) assert_true(fabsf(r.win[w][k] - out[k]) < 1e-6f);
    assert_true(fabs(r.t_end[w] - ra.t_end[w]) < 1e-12);
    if (fabsf(out[0] - ra.win[w][0]) > 1e-3f) differs = 1;
  }
  assert_true(differs); /* the second member really takes part */
  mgc_pipeline_free(pa);
  mgc_pipeline_free(pb);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* A table member joins the decision once its worker has answered: then the
 * decision is the mean of the CRNN's track probabilities and the MLP's
 * answer on the 57 features of the audio the worker was given. */
static void test_table_member(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("table.yaml",
                                   "rule: mean\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: table, model: mlp.safetensors, input: table}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  static rec r;
  memset(&r, 0, sizeof r);
  /* Before 10 s of track audio: the CRNN alone. */
  size_t ten = (size_t)(10.5 * g_clip.rate);
  feed(s, 0, ten, &r);
  assert_false(mgc_ensemble_stream_table_active(s));
  mgc_pipeline *pa;
  assert_int_equal(mgc_pipeline_new(e->members[0].loaded, &pp, &pa), MGC_OK);
  static rec ra;
  memset(&ra, 0, sizeof ra);
  assert_int_equal(mgc_pipeline_process(pa, g_clip.samples, g_clip.n, collect, &ra), 0);
  for (int w = 0; w < r.n; w++)
    for (int k = 0; k < C; k++) assert_true(fabsf(r.track[w][k] - ra.track[w][k]) < 1e-6f);
  /* The worker runs off the real-time path; wait for it. */
  for (int i = 0; i < 3000 && mgc_ensemble_stream_table_runs(s) < 1; i++) usleep(10000);
  assert_int_equal(mgc_ensemble_stream_table_runs(s), 1);
  int before = r.n;
  feed(s, ten, ten + 2 * (size_t)g_clip.rate, &r); /* collects the answer; 2 s: one more window */
  assert_true(r.n > before);
  assert_true(mgc_ensemble_stream_table_active(s));
  double used = mgc_ensemble_stream_table_audio_s(s);
  assert_true(used >= 10.0 && used < 10.5);
  /* The answer: the MLP on the features of exactly that audio. */
  float feats[MGC_CLIP_DIM], tp[C];
  size_t n_used = (size_t)lround(used * g_clip.rate);
  assert_int_equal(mgc_clip_features(g_clip.samples, n_used, g_clip.rate, feats), MGC_OK);
  mgc_session *ts;
  assert_int_equal(mgc_session_new(e->members[1].loaded, 1, &ts), MGC_OK);
  assert_int_equal(mgc_session_run(ts, feats, 1, tp), MGC_OK);
  int checked = 0;
  for (int w = before; w < r.n; w++) {
    /* The next run is due at 20 s: this window (just after 10.5 s) uses the first. */
    for (int k = 0; k < C; k++) {
      float want = 0.5f * (ra.track[w][k] + tp[k]);
      if (fabsf(r.track[w][k] - want) > 1e-5f)
        fail_msg("window %d class %d: %.6f, expected %.6f", w, k, r.track[w][k], want);
    }
    checked++;
    break;
  }
  assert_true(checked == 1);
  mgc_session_free(ts);
  mgc_pipeline_free(pa);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* A whole file fed at once (mgcd --fast): the worker's runs every 10 s are
 * skipped while it is busy, so the answer in use may be on less
 * than the track; _finish runs the table member on the track's last 30 s,
 * waits, and decides with it. */
static void test_finish(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("finish.yaml",
                                   "rule: mean\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: table, model: mlp.safetensors, input: table}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  static rec r;
  memset(&r, 0, sizeof r);
  assert_int_equal(mgc_ensemble_stream_process(s, g_clip.samples, g_clip.n, collect, &r), 0);
  assert_int_equal(mgc_ensemble_stream_flush(s, collect, &r), 0);
  mgc_decision d;
  mgc_ensemble_stream_finish(s, &d);
  assert_true(mgc_ensemble_stream_table_active(s));
  unsigned runs = mgc_ensemble_stream_table_runs(s);
  assert_true(runs >= 1);
  /* The table answer rests on the last 30 s of the clip (it is 30.01 s long). */
  size_t span = (size_t)(30.0 * 22050), n_used = g_clip.n < span ? g_clip.n : span;
  assert_true(fabs(mgc_ensemble_stream_table_audio_s(s) - (double)n_used / g_clip.rate) < 1e-9);
  float feats[MGC_CLIP_DIM], tp[C];
  assert_int_equal(mgc_clip_features(g_clip.samples + (g_clip.n - n_used), n_used, g_clip.rate, feats),
                   MGC_OK);
  mgc_session *ts;
  assert_int_equal(mgc_session_new(e->members[1].loaded, 1, &ts), MGC_OK);
  assert_int_equal(mgc_session_run(ts, feats, 1, tp), MGC_OK);
  /* The CRNN's final track probabilities: the last window event's. */
  mgc_pipeline *pa;
  static rec ra;
  memset(&ra, 0, sizeof ra);
  assert_int_equal(mgc_pipeline_new(e->members[0].loaded, &pp, &pa), MGC_OK);
  assert_int_equal(mgc_pipeline_process(pa, g_clip.samples, g_clip.n, collect, &ra), 0);
  assert_int_equal(mgc_pipeline_flush(pa, collect, &ra), 0);
  assert_int_equal(ra.n, r.n);
  int differs = 0;
  for (int k = 0; k < C; k++) {
    float want = 0.5f * (ra.track[ra.n - 1][k] + tp[k]);
    if (fabsf(d.probs[k] - want) > 1e-5f) fail_msg("class %d: %.6f, expected %.6f", k, d.probs[k], want);
    differs |= fabsf(d.probs[k] - ra.track[ra.n - 1][k]) > 1e-3f;
  }
  assert_true(differs); /* the table member is in the final decision */
  /* Already final: a second call runs nothing more. */
  mgc_ensemble_stream_finish(s, &d);
  assert_int_equal(mgc_ensemble_stream_table_runs(s), runs);
  mgc_session_free(ts);
  mgc_pipeline_free(pa);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* mgc-classify's ensemble: each window member's mean window probabilities
 * over the file, the table member on the whole file, combined by the rule;
 * here each computed on its own. */
static void test_offline_classifier(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("offline.yaml",
                                   "rule: product\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: chroma, model: chroma.safetensors, input: window}\n"
                                   "  - {name: table, model: mlp.safetensors, input: table}\n"
                                   "  - {name: again, model: " CRNN ", input: window}\n");
  mgc_ensemble_classifier *c;
  assert_int_equal(mgc_ensemble_classifier_new(e, &c), MGC_OK);
  assert_int_equal(mgc_ensemble_classifier_rate(c), 22050);
  /* the CRNN's log-mel read by two members is computed once; the chroma
   * member's features are its own, the table's too (not a feature set) */
  assert_int_equal(mgc_ensemble_classifier_feature_sets(c), 2);
  float probs[C], mp[4 * C], want[4 * C], out[C];
  int nw = 0;
  assert_int_equal(mgc_ensemble_classifier_process(c, g_clip.samples, g_clip.n, probs, mp, &nw), MGC_OK);
  for (int m = 0; m < 2; m++) {
    const mgc_model *model = e->members[m].loaded;
    mgc_feature_kind kind;
    assert_int_equal(mgc_feature_kind_parse(model->arch->feature, &kind), MGC_OK);
    mgc_feature_matrix fm = {0};
    assert_int_equal(mgc_features_compute(&model->frontend, kind, g_clip.samples, g_clip.n, &fm), MGC_OK);
    int win = model->frontend.segment_frames, hop = model->frontend.segment_hop;
    int n = mgc_track_windows((int)fm.n_frames, win, hop);
    assert_int_equal(n, nw);
    mgc_session *ss;
    assert_int_equal(mgc_session_new(model, 4, &ss), MGC_OK);
    float *wp = malloc((size_t)n * C * sizeof *wp);
    float *scratch = malloc((4 * mgc_shape_size(&model->arch->input) + (size_t)win * fm.dim) * sizeof *scratch);
    assert_int_equal(mgc_predict_track(ss, &fm, win, hop, scratch, wp), MGC_OK);
    for (int k = 0; k < C; k++) {
      double sum = 0;
      for (int w = 0; w < n; w++) sum += wp[w * C + k];
      want[m * C + k] = (float)(sum / n);
    }
    free(wp);
    free(scratch);
    mgc_session_free(ss);
    mgc_feature_matrix_free(&fm);
  }
  float feats[MGC_CLIP_DIM];
  assert_int_equal(mgc_clip_features(g_clip.samples, g_clip.n, g_clip.rate, feats), MGC_OK);
  mgc_session *ts;
  assert_int_equal(mgc_session_new(e->members[2].loaded, 1, &ts), MGC_OK);
  assert_int_equal(mgc_session_run(ts, feats, 1, want + 2 * C), MGC_OK);
  memcpy(want + 3 * C, want, sizeof(float) * C);
  for (int i = 0; i < 4 * C; i++)
    if (fabsf(mp[i] - want[i]) > 1e-5f) fail_msg("member %d class %d: %.6f, expected %.6f", i / C, i % C, mp[i], want[i]);
  mgc_combiner prod = {MGC_COMB_PRODUCT, 4, C, NULL, NULL, NULL, 0};
  mgc_combine(&prod, want, out);
  for (int k = 0; k < C; k++) assert_true(fabsf(probs[k] - out[k]) < 1e-5f);
  mgc_session_free(ts);
  mgc_ensemble_classifier_free(c);
  mgc_ensemble_free(e);
}

/* A small 16 kHz model (the pretrained members' front-end, shrunk): 32 HTK
 * bands, windows of 200 frames (3.2 s) whose short tracks are repeated. */
static void make_16k_member(const char *file) {
  static const char yaml[] = "name: tiny16k\nfeature: logmel\ninput: [1, 32, 200]\nclasses: 10\n"
                             "layers:\n  - {type: batchnorm, name: spec_bn}\n"
                             "  - {type: conv2d, out: 4, kernel: 3, padding: 1}\n"
                             "  - {type: relu}\n  - {type: maxpool2d, kernel: [32, 200]}\n"
                             "  - {type: flatten}\n  - {type: dense, out: classes}\n"
                             "  - {type: softmax}\n";
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(yaml, strlen(yaml), "tiny16k", &a), MGC_OK);
  mgc_model *crnn, *m;
  assert_int_equal(mgc_model_load(CRNN, &crnn), MGC_OK);
  assert_int_equal(mgc_model_new(a, crnn->n_classes, (const char *const *)crnn->classes, 5, &m), MGC_OK);
  m->frontend.sample_rate = 16000;
  m->frontend.n_fft = 512;
  m->frontend.hop_length = 256;
  m->frontend.n_mels = 32;
  m->frontend.fmax = 8000;
  m->frontend.mel_scale = MGC_MEL_HTK;
  m->frontend.mel_norm = MGC_MELNORM_NONE;
  m->frontend.segment_frames = 200;
  m->frontend.segment_hop = 100;
  m->frontend.segment_pad = MGC_SEGPAD_REPEAT;
  char out[512];
  snprintf(out, sizeof out, "%s/%s", g_dir, file);
  assert_int_equal(mgc_model_save(m, out), MGC_OK);
  mgc_model_free(m);
  mgc_model_free(crnn);
  mgc_arch_free(a);
}

/* The first n_out samples a streaming resampler gives for the clip (what a
 * context member at 16 kHz keeps of a 22050 Hz stream). */
static float *stream_16k(size_t *n_out) {
  mgc_resampler *rs;
  assert_int_equal(mgc_resampler_new(g_clip.rate, 16000, &rs), MGC_OK);
  size_t cap = g_clip.n, got = 0, used = 0;
  float *y = malloc(cap * sizeof *y);
  assert_int_equal(mgc_resampler_process(rs, g_clip.samples, g_clip.n, &used, y, cap, &got), MGC_OK);
  assert_int_equal(used, g_clip.n);
  mgc_resampler_free(rs);
  *n_out = got;
  return y;
}

/* Two 16 kHz context members beside the 22050 Hz CRNN, fed by one
 * resampler: before their first run (after 3 s of the track) the decision
 * is the CRNN's alone; then they join with their answers on exactly the
 * audio they were given, resampled once, and the status says so; at the
 * end, _finish runs them on all the track's audio. */
static void test_context_member_other_rate(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("ctx16k.yaml",
                                   "rule: mean\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: tiny, model: tiny16k.safetensors, input: context,"
                                   " span: 40, first: 3, every: 10}\n"
                                   "  - {name: tiny_b, model: tiny16k.safetensors, input: context,"
                                   " span: 40, first: 3, every: 10}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  assert_int_equal(mgc_ensemble_stream_contexts(s), 2);
  assert_int_equal(mgc_ensemble_stream_resamplers(s), 1); /* one for both 16 kHz members */
  static rec r, ra;
  memset(&r, 0, sizeof r);
  memset(&ra, 0, sizeof ra);
  mgc_pipeline *pa;
  assert_int_equal(mgc_pipeline_new(e->members[0].loaded, &pp, &pa), MGC_OK);
  assert_int_equal(mgc_pipeline_process(pa, g_clip.samples, g_clip.n, collect, &ra), 0);
  size_t early = (size_t)(2.9 * g_clip.rate), four = (size_t)(4.0 * g_clip.rate);
  feed(s, 0, early, &r);
  mgc_context_info ci;
  mgc_ensemble_stream_context_info(s, 0, &ci);
  assert_int_equal(ci.member, 1);
  assert_false(ci.in_decision); /* not due before 3 s */
  assert_int_equal(ci.runs, 0);
  assert_int_equal(r.n, 0);
  feed(s, early, four, &r);
  /* The first window's decision is the CRNN's alone: the member's first job
   * is handed over only after that window (its audio lags the resampler). */
  assert_true(r.n >= 1);
  for (int k = 0; k < C; k++) assert_true(fabsf(r.track[0][k] - ra.track[0][k]) < 1e-6f);
  for (int i = 0; i < 3000; i++) {
    mgc_context_info cb;
    mgc_ensemble_stream_context_info(s, 1, &cb);
    if (mgc_ensemble_stream_table_runs(s) >= 1 && cb.runs >= 1) break;
    usleep(10000);
  }
  int before = r.n;
  feed(s, four, four + 3 * (size_t)g_clip.rate, &r);
  assert_true(r.n > before);
  mgc_ensemble_stream_context_info(s, 0, &ci);
  assert_true(ci.in_decision);
  assert_int_equal(ci.runs, 1);
  assert_true(ci.audio_s >= 3.0 && ci.audio_s < 4.6);
  size_t n16;
  float *y16 = stream_16k(&n16);
  size_t used = (size_t)lround(ci.audio_s * 16000);
  assert_true(used <= n16);
  mgc_session *ts;
  assert_int_equal(mgc_session_new(e->members[1].loaded, 1, &ts), MGC_OK);
  float tp[C];
  assert_int_equal(mgc_predict_recording(ts, y16, used, tp, NULL), MGC_OK);
  mgc_context_info cb;
  mgc_ensemble_stream_context_info(s, 1, &cb);
  assert_true(cb.in_decision && cb.audio_s == ci.audio_s && !cb.error && !ci.error);
  for (int k = 0; k < C; k++) {
    float want = (ra.track[r.n - 1][k] + 2 * tp[k]) / 3;
    if (fabsf(r.track[r.n - 1][k] - want) > 1e-5f)
      fail_msg("class %d: %.6f, expected %.6f", k, r.track[r.n - 1][k], want);
  }
  /* End of input: an answer on every sample the member holds. */
  feed(s, four + 3 * (size_t)g_clip.rate, g_clip.n, &r);
  mgc_decision d;
  mgc_ensemble_stream_finish(s, &d);
  mgc_ensemble_stream_context_info(s, 0, &ci);
  assert_true(ci.in_decision);
  assert_true(ci.runs >= 2);
  used = (size_t)lround(ci.audio_s * 16000);
  assert_true(used <= n16 && used + 16000 > n16); /* all of it but the resampler's delay */
  assert_int_equal(mgc_predict_recording(ts, y16, used, tp, NULL), MGC_OK);
  mgc_decision da;
  mgc_pipeline_current(pa, &da);
  for (int k = 0; k < C; k++) assert_true(fabsf(d.probs[k] - (da.probs[k] + 2 * tp[k]) / 3) < 1e-5f);
  free(y16);
  mgc_session_free(ts);
  mgc_pipeline_free(pa);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* Offline, the same ensemble: the recording at the CRNN's 22050 Hz, the
 * 16 kHz member given it resampled once, as mgc-classify runs it. */
static void test_offline_other_rate(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("ctx16k-off.yaml",
                                   "rule: mean\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: tiny, model: tiny16k.safetensors, input: context}\n");
  mgc_ensemble_classifier *c;
  assert_int_equal(mgc_ensemble_classifier_new(e, &c), MGC_OK);
  assert_int_equal(mgc_ensemble_classifier_rate(c), 22050);
  float probs[C], mp[2 * C], want[C];
  assert_int_equal(mgc_ensemble_classifier_process(c, g_clip.samples, g_clip.n, probs, mp, NULL), MGC_OK);
  float *y16;
  size_t n16;
  assert_int_equal(mgc_audio_resample(g_clip.samples, g_clip.n, 22050, 16000, &y16, &n16), MGC_OK);
  mgc_session *ts;
  assert_int_equal(mgc_session_new(e->members[1].loaded, 4, &ts), MGC_OK);
  int windows = 0;
  assert_int_equal(mgc_predict_recording(ts, y16, n16, want, &windows), MGC_OK);
  assert_int_equal(windows, 1 + ((int)mgc_frontend_frame_count(&e->members[1].loaded->frontend, n16) - 200) / 100);
  for (int k = 0; k < C; k++) {
    assert_true(fabsf(mp[C + k] - want[k]) < 1e-6f);
    assert_true(fabsf(probs[k] - 0.5f * (mp[k] + mp[C + k])) < 1e-6f);
  }
  free(y16);
  mgc_session_free(ts);
  mgc_ensemble_classifier_free(c);
  mgc_ensemble_free(e);
}

/* A run that fails (here: the member's front-end gives 40 bands, its net
 * reads 32) is reported with its message; the member stays out of the
 * decision and the stream goes on. */
static void test_context_failure_reported(void **st) {
  (void)st;
  make_16k_member("bands40.safetensors");
  char path[512];
  snprintf(path, sizeof path, "%s/bands40.safetensors", g_dir);
  mgc_model *m;
  assert_int_equal(mgc_model_load(path, &m), MGC_OK);
  m->frontend.n_mels = 40;
  mgc_context_params p = {10, 1, 10};
  mgc_context *c;
  assert_int_equal(mgc_context_new(m, &p, &c), MGC_OK);
  const char *msg = "unset";
  assert_int_equal(mgc_context_error(c, &msg), MGC_OK);
  assert_null(msg);
  size_t n16;
  float *y16 = stream_16k(&n16);
  mgc_context_feed(c, y16, 2 * 16000);
  for (int i = 0; i < 3000 && mgc_context_error(c, NULL) == MGC_OK; i++) usleep(10000);
  assert_int_not_equal(mgc_context_error(c, &msg), MGC_OK);
  assert_non_null(msg);
  assert_non_null(strstr(msg, "40 features does not fit input [1, 32, 200]"));
  const float *probs;
  assert_int_equal(mgc_context_collect(c, &probs), 0);
  assert_int_equal(mgc_context_runs(c), 0);
  free(y16);
  mgc_context_free(c);
  mgc_model_free(m);
}

static void test_refusals(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("only_table.yaml",
                                   "rule: mean\n"
                                   "members:\n"
                                   "  - {name: table, model: mlp.safetensors, input: table}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_ensemble_stream *s;
  assert_int_not_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "no window member"));
  mgc_ensemble_free(e);
}

/* 10 s of speech then the clip: what the detector tests hear. */
static float *speech_then_music(size_t *n) {
  mgc_audio sp;
  assert_int_equal(mgc_audio_load(SPEECH, 22050, &sp), MGC_OK);
  *n = sp.n + g_clip.n;
  float *x = malloc(sizeof(float) * *n);
  memcpy(x, sp.samples, sizeof(float) * sp.n);
  memcpy(x + sp.n, g_clip.samples, sizeof(float) * g_clip.n);
  mgc_audio_free(&sp);
  return x;
}

typedef struct drec {
  int n;
  int has_win[64], sound[64], windows[64];
  float music[64], win[64][C];
} drec;

static int collect_music(void *user, const mgc_window_event *e) {
  drec *r = user;
  if (r->n >= 64) return 0;
  r->has_win[r->n] = e->probs != NULL;
  r->sound[r->n] = e->sound;
  r->music[r->n] = e->music;
  r->windows[r->n] = e->decision.windows;
  if (e->probs) memcpy(r->win[r->n], e->probs, sizeof r->win[r->n]);
  r->n++;
  return 0;
}

/* With the ensemble's detector, a member runs and votes on exactly the
 * windows the detector's own states let vote (mgc_music_scan on the same
 * audio, as mgc-classify runs it), with the probabilities it has alone;
 * every event carries the detector's P(music) and state; the detector
 * shares the member's framer. */
static void test_detector_gates_members(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("det.yaml",
                                   "rule: mean\n"
                                   "detector: " DETECTOR "\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n");
  assert_non_null(e->detector_loaded);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  assert_int_equal(mgc_ensemble_stream_framers(s), 1);
  assert_true(mgc_ensemble_stream_has_detector(s));
  size_t n;
  float *x = speech_then_music(&n);
  static drec r, alone;
  memset(&r, 0, sizeof r);
  memset(&alone, 0, sizeof alone);
  for (size_t i = 0; i < n; i += 4000)
    assert_int_equal(mgc_ensemble_stream_process(s, x + i, n - i < 4000 ? n - i : 4000, collect_music, &r), 0);
  assert_int_equal(mgc_ensemble_stream_flush(s, collect_music, &r), 0);
  mgc_music_window *mw;
  size_t nw;
  assert_int_equal(mgc_music_scan(e->detector_loaded, &pp, x, n, &mw, &nw), MGC_OK);
  mgc_pipeline *pa;
  assert_int_equal(mgc_pipeline_new(e->members[0].loaded, &pp, &pa), MGC_OK);
  assert_int_equal(mgc_pipeline_process(pa, x, n, collect_music, &alone), 0);
  assert_int_equal(mgc_pipeline_flush(pa, collect_music, &alone), 0);
  assert_int_equal(r.n, (int)nw);
  assert_int_equal(r.n, alone.n);
  int votes = 0, skipped = 0;
  for (int w = 0; w < r.n; w++) {
    assert_int_equal(r.has_win[w], mw[w].v.votes);
    assert_int_equal(r.sound[w], mw[w].v.state);
    assert_true(isnan(mw[w].music) ? isnan(r.music[w]) : r.music[w] == mw[w].music);
    if (r.has_win[w]) {
      votes++;
      for (int k = 0; k < C; k++) assert_true(r.win[w][k] == alone.win[w][k]);
    } else {
      skipped++;
    }
    assert_int_equal(r.windows[w], votes); /* the track counts its votes only */
  }
  assert_true(votes >= 15 && skipped >= 5); /* the speech is skipped, the clip votes */
  assert_int_equal(mgc_ensemble_stream_sound(s, NULL), MGC_SOUND_MUSIC);
  free(mw);
  free(x);
  mgc_pipeline_free(pa);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* Context members do not run while the state is not music, and then answer
 * about the music only: from the window that made the state music. */
static void test_detector_holds_context_members(void **st) {
  (void)st;
  mgc_ensemble *e = write_ensemble("detctx.yaml",
                                   "rule: mean\n"
                                   "detector: " DETECTOR "\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n"
                                   "  - {name: tiny, model: tiny16k.safetensors, input: context,"
                                   " span: 60, first: 3, every: 2}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.agg.change_db = 0;
  mgc_ensemble_stream *s;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_OK);
  size_t n;
  float *x = speech_then_music(&n);
  size_t speech_n = n - g_clip.n;
  static drec r;
  memset(&r, 0, sizeof r);
  for (size_t i = 0; i < speech_n; i += 4000)
    assert_int_equal(mgc_ensemble_stream_process(s, x + i, speech_n - i < 4000 ? speech_n - i : 4000, collect_music, &r), 0);
  usleep(300000);
  mgc_context_info ci;
  mgc_ensemble_stream_context_info(s, 0, &ci);
  assert_int_equal(ci.runs, 0); /* 10 s of speech, a run due every 2 s: none */
  assert_int_not_equal(mgc_ensemble_stream_sound(s, NULL), MGC_SOUND_MUSIC);
  for (size_t i = speech_n; i < n; i += 4000)
    assert_int_equal(mgc_ensemble_stream_process(s, x + i, n - i < 4000 ? n - i : 4000, collect_music, &r), 0);
  assert_int_equal(mgc_ensemble_stream_flush(s, collect_music, &r), 0);
  mgc_decision d;
  mgc_ensemble_stream_finish(s, &d);
  mgc_ensemble_stream_context_info(s, 0, &ci);
  assert_true(ci.runs >= 1 && ci.in_decision);
  /* The clip's 30 s, and at most the window that made the state music
   * before it. */
  double clip_s = (double)g_clip.n / 22050;
  if (!(ci.audio_s >= clip_s - 0.1 && ci.audio_s <= clip_s + mgc_ensemble_stream_window_s(s) + 0.1))
    fail_msg("the context member answered about %.2f s (the music is %.2f s)", ci.audio_s, clip_s);
  free(x);
  mgc_ensemble_stream_free(s);
  mgc_ensemble_free(e);
}

/* A detector whose frames complete after a member's could not gate it. */
static void test_detector_frames_refused(void **st) {
  (void)st;
  mgc_model *d;
  assert_int_equal(mgc_model_load(DETECTOR, &d), MGC_OK);
  d->frontend.n_fft = 4096;
  char path[512];
  snprintf(path, sizeof path, "%s/det4096.safetensors", g_dir);
  assert_int_equal(mgc_model_save(d, path), MGC_OK);
  mgc_model_free(d);
  mgc_ensemble *e = write_ensemble("det4096.yaml",
                                   "rule: mean\n"
                                   "detector: det4096.safetensors\n"
                                   "members:\n"
                                   "  - {name: crnn, model: " CRNN ", input: window}\n");
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_ensemble_stream *s = (void *)&pp;
  assert_int_equal(mgc_ensemble_stream_new(e, &pp, &s), MGC_EINVAL);
  assert_null(s);
  assert_non_null(strstr(mgc_error_message(), "n_fft 4096"));
  mgc_ensemble_free(e);
}

static int setup(void **st) {
  tmpdir_setup(st);
  assert_int_equal(mgc_audio_load(CLIP, 22050, &g_clip), MGC_OK);
  make_member("chroma_rnn", "chroma.safetensors", 7);
  make_member("mlp", "mlp.safetensors", 9);
  make_16k_member("tiny16k.safetensors");
  return 0;
}

static int teardown(void **st) {
  mgc_audio_free(&g_clip);
  return tmpdir_teardown(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window_members),
      cmocka_unit_test(test_table_member),
      cmocka_unit_test(test_finish),
      cmocka_unit_test(test_offline_classifier),
      cmocka_unit_test(test_context_member_other_rate),
      cmocka_unit_test(test_offline_other_rate),
      cmocka_unit_test(test_context_failure_reported),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_detector_gates_members),
      cmocka_unit_test(test_detector_holds_context_members),
      cmocka_unit_test(test_detector_frames_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
