#include "mgc/stream/ensemble_stream.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/stream/context.h"
#include "mgc/model/predict.h"
#include "mgc/audio/resampler.h"

#define CHUNK 4096 /* resampled samples per step */

/* The stream resampled to one context member rate, for every member at it. */
typedef struct rate_feed {
  int rate;
  mgc_resampler *rs;
  float *tmp; /* CHUNK samples */
} rate_feed;

typedef struct member_ctx {
  struct mgc_ensemble_stream *s;
  int k;
} member_ctx;

struct mgc_ensemble_stream {
  const mgc_ensemble *e;
  int M, C, n_win;                 /* members, classes, window members */
  int slot[MGC_ENSEMBLE_MAX_MEMBERS];  /* member -> its pipeline (window members), else -1 */
  mgc_pipeline *pipe[MGC_ENSEMBLE_MAX_MEMBERS];
  member_ctx mctx[MGC_ENSEMBLE_MAX_MEMBERS]; /* each pipeline's events: (s, k) */
  int n_framers;                   /* window members of one front-end share one */
  mgc_combiner full, win_comb;     /* all members; a window's (the window members') */
  double *sub_weights;
  size_t hop_samples;
  int rate;
  /* One window, as the members report it (member order = pipeline order). */
  float *win_probs;                /* [n_win][C] window probabilities */
  float *track_probs;              /* [n_win][C] each member's track probabilities */
  int win_silent, win_voted, got;
  mgc_window_event first;          /* the first member's event (its pointers not kept) */
  float *pm, *wcomb, *dec;         /* [M][C] combine input, [C] window result, [C] decision */
  mgc_decision last;
  uint64_t track;
  mgc_window_event_fn fn;
  void *user;
  /* Context members (mgc/stream/context.h), in the ensemble's order. */
  int n_ctx;
  int ctx_member[MGC_ENSEMBLE_MAX_MEMBERS];
  mgc_context *ctx[MGC_ENSEMBLE_MAX_MEMBERS];
  int ctx_valid[MGC_ENSEMBLE_MAX_MEMBERS];
  const float *ctx_probs[MGC_ENSEMBLE_MAX_MEMBERS];
  int ctx_feed[MGC_ENSEMBLE_MAX_MEMBERS]; /* its rate_feed, -1 at the stream's rate */
  int n_feeds;
  rate_feed feeds[MGC_ENSEMBLE_MAX_MEMBERS];
  double *dyn_weights;             /* [M] weights renormalised over the members present */
  /* The music detector (the ensemble's), a pipeline of its own that runs
   * each window before any member's (it leads the framer it shares, and is
   * fed first), and the state its windows drive. */
  mgc_pipeline *det;
  int det_music;                   /* index of its class "music" */
  mgc_music_state ms;
  mgc_music_verdict verdict;       /* of window verdict_index */
  uint64_t verdict_index;
  int verdict_seen, gate_missed;
  float det_p;                     /* its P(music) for that window (NAN when silent) */
  double fed_s;                    /* audio time the context members have been fed up to */
};

/* The members with an answer: every window member, and the context members
 * whose answer about this track has arrived. All present: the ensemble's
 * combiner; otherwise the same rule over those present (weights
 * renormalised; stacking, which needs every member, their mean). */
static void decide(mgc_ensemble_stream *s, mgc_decision *d) {
  if (d->genre < 0) return; /* nothing has voted in this track yet */
  int k = 0, ci = 0;
  double wsum = 0;
  for (int m = 0; m < s->M; m++) {
    const float *src = NULL;
    if (s->slot[m] >= 0) src = s->track_probs + (size_t)s->slot[m] * s->C;
    else if (s->ctx_valid[ci]) src = s->ctx_probs[ci];
    if (s->slot[m] < 0) ci++;
    if (!src) continue;
    memcpy(s->pm + (size_t)k * s->C, src, sizeof(float) * (size_t)s->C);
    s->dyn_weights[k] = s->e->weights[m];
    wsum += s->e->weights[m];
    k++;
  }
  mgc_combiner c = s->full;
  if (k < s->M) {
    for (int i = 0; i < k; i++) s->dyn_weights[i] = wsum > 0 ? s->dyn_weights[i] / wsum : 1.0 / k;
    c.n_members = k;
    c.weights = s->dyn_weights;
    if (c.rule == MGC_COMB_STACK) {
      c.rule = MGC_COMB_MEAN;
      c.coef = c.intercept = NULL;
    }
  }
  d->genre = mgc_combine(&c, s->pm, s->dec);
  d->confidence = s->dec[d->genre];
  d->probs = s->dec;
}

static void ctx_collect(mgc_ensemble_stream *s) {
  for (int i = 0; i < s->n_ctx; i++) s->ctx_valid[i] = mgc_context_collect(s->ctx[i], &s->ctx_probs[i]);
}

static void new_track(mgc_ensemble_stream *s, uint64_t track) {
  s->track = track;
  for (int i = 0; i < s->n_ctx; i++) {
    mgc_context_new_track(s->ctx[i], track);
    s->ctx_valid[i] = 0;
  }
}

static int on_detector_window(void *user, const mgc_window_event *e) {
  mgc_ensemble_stream *s = user;
  s->det_p = e->probs ? e->probs[s->det_music] : NAN;
  mgc_music_state_process(&s->ms, e->probs == NULL, e->probs ? e->probs[s->det_music] : 0, &s->verdict);
  s->verdict_index = e->index;
  s->verdict_seen = 1;
  return 0;
}

/* A member's window, before its model runs: music that votes, or not
 * (ending the track when the state has just left music for no_music; a
 * stretch of silence ends it by the aggregator's gap rule). */
static mgc_gate music_gate(void *user, uint64_t index) {
  mgc_ensemble_stream *s = user;
  if (!s->verdict_seen || s->verdict_index != index) { /* cannot happen: the detector runs first */
    s->gate_missed = 1;
    return MGC_GATE_SKIP;
  }
  if (s->verdict.votes) return MGC_GATE_VOTE;
  return s->verdict.changed && s->verdict.previous == MGC_SOUND_MUSIC && s->verdict.state == MGC_SOUND_NO_MUSIC
             ? MGC_GATE_END
             : MGC_GATE_SKIP;
}

static void hold_contexts(mgc_ensemble_stream *s, const mgc_window_event *ev);

static int on_member_window(void *user, const mgc_window_event *e) {
  member_ctx *mc = user;
  mgc_ensemble_stream *s = mc->s;
  const int C = s->C, k = mc->k;
  if (k == 0) s->first = *e;
  if (e->probs) memcpy(s->win_probs + (size_t)k * C, e->probs, sizeof(float) * (size_t)C);
  if (e->decision.genre >= 0 && e->decision.probs)
    memcpy(s->track_probs + (size_t)k * C, e->decision.probs, sizeof(float) * (size_t)C);
  /* Every member has this window once all have reported (they are fed the
   * same sub-chunk, in the order of their framers, not of k). */
  if (++s->got < s->n_win) return 0;
  s->got = 0;
  if (s->gate_missed)
    return (int)mgc_error_set(MGC_ESTATE, "ensemble stream: a member's window came before the detector's");
  mgc_window_event ev = s->first;
  /* Without a detector every sound window is music: the state still says
   * music or silence, with the same hysteresis. */
  if (!s->det) mgc_music_state_process(&s->ms, ev.probs == NULL, 1.0, &s->verdict);
  ev.music = s->det ? s->det_p : NAN;
  ev.sound = s->verdict.state;
  ev.sound_changed = s->verdict.changed;
  if (ev.decision.track != s->track) new_track(s, ev.decision.track);
  if (s->det && ev.sound_changed) hold_contexts(s, &ev); /* after a new track's reset */
  if (ev.probs) {
    mgc_combine(&s->win_comb, s->win_probs, s->wcomb);
    ev.probs = s->wcomb;
  }
  decide(s, &ev.decision);
  s->last = ev.decision;
  return s->fn ? s->fn(s->user, &ev) : 0;
}

/* With a detector the context members answer about music only: held
 * while the state is not music, and when it becomes music they keep the
 * audio from the start of the window that made it so (as mgc-classify
 * keeps a file's music, mgc_music_audio). They are fed a step behind the
 * windows, up to fed_s. */
static void hold_contexts(mgc_ensemble_stream *s, const mgc_window_event *ev) {
  int music = ev->sound == MGC_SOUND_MUSIC;
  for (int i = 0; i < s->n_ctx; i++) {
    if (music) mgc_context_keep_last(s->ctx[i], s->fed_s - ev->t);
    mgc_context_hold(s->ctx[i], !music);
  }
}

/* The context members: those at the stream's rate as it is, the others
 * from their rate's one resampler. */
static void feed_contexts(mgc_ensemble_stream *s, const float *x, size_t n) {
  for (int i = 0; i < s->n_ctx; i++)
    if (s->ctx_feed[i] < 0) mgc_context_feed(s->ctx[i], x, n);
  for (int f = 0; f < s->n_feeds; f++) {
    rate_feed *rf = &s->feeds[f];
    const float *in = x;
    size_t left = n;
    while (left > 0) {
      size_t used = 0, got = 0;
      if (mgc_resampler_process(rf->rs, in, left, &used, rf->tmp, CHUNK, &got)) break;
      for (int i = 0; i < s->n_ctx; i++)
        if (s->ctx_feed[i] == f) mgc_context_feed(s->ctx[i], rf->tmp, got);
      in += used;
      left -= used;
      if (used == 0 && got == 0) break;
    }
  }
}

static int feed(mgc_ensemble_stream *s, const float *x, size_t n, int flush) {
  member_ctx *ctx = s->mctx;
  if (flush) {
    if (s->det) {
      int rc = mgc_pipeline_flush(s->det, on_detector_window, s);
      if (rc) return rc;
    }
    for (int k = 0; k < s->n_win; k++) {
      int rc = mgc_pipeline_flush(s->pipe[k], on_member_window, &ctx[k]);
      if (rc) return rc;
    }
    return 0;
  }
  /* At most one window per member per step, so that a window is complete
   * for every member before any member starts the next. */
  while (n > 0) {
    size_t c = n < s->hop_samples ? n : s->hop_samples;
    ctx_collect(s);
    s->fed_s = mgc_pipeline_audio_s(s->det ? s->det : s->pipe[0]);
    if (s->det) {
      int rc = mgc_pipeline_process(s->det, x, c, on_detector_window, s);
      if (rc) return rc;
    }
    for (int k = 0; k < s->n_win; k++) {
      int rc = mgc_pipeline_process(s->pipe[k], x, c, on_member_window, &ctx[k]);
      if (rc) return rc;
    }
    feed_contexts(s, x, c);
    x += c;
    n -= c;
  }
  return 0;
}

int mgc_ensemble_stream_process(mgc_ensemble_stream *s, const float *x, size_t n, mgc_window_event_fn fn,
                                void *user) {
  s->fn = fn;
  s->user = user;
  return feed(s, x, n, 0);
}

int mgc_ensemble_stream_flush(mgc_ensemble_stream *s, mgc_window_event_fn fn, void *user) {
  s->fn = fn;
  s->user = user;
  return feed(s, NULL, 0, 1);
}

void mgc_ensemble_stream_restart(mgc_ensemble_stream *s, double gap_s) {
  if (s->det) mgc_pipeline_restart(s->det, gap_s);
  for (int k = 0; k < s->n_win; k++) mgc_pipeline_restart(s->pipe[k], gap_s);
}

void mgc_ensemble_stream_reset_track(mgc_ensemble_stream *s) {
  for (int k = 0; k < s->n_win; k++) mgc_pipeline_reset_track(s->pipe[k]);
}

void mgc_ensemble_stream_finish(mgc_ensemble_stream *s, mgc_decision *out) {
  for (int i = 0; i < s->n_ctx; i++) s->ctx_valid[i] = mgc_context_finish(s->ctx[i], &s->ctx_probs[i]);
  mgc_ensemble_stream_current(s, out);
}

void mgc_ensemble_stream_current(mgc_ensemble_stream *s, mgc_decision *out) {
  for (int k = 0; k < s->n_win; k++) {
    mgc_decision d;
    mgc_pipeline_current(s->pipe[k], &d);
    if (k == 0) *out = d;
    if (d.genre >= 0 && d.probs) memcpy(s->track_probs + (size_t)k * s->C, d.probs, sizeof(float) * (size_t)s->C);
  }
  decide(s, out);
}

double mgc_ensemble_stream_audio_s(const mgc_ensemble_stream *s) { return mgc_pipeline_audio_s(s->pipe[0]); }
uint64_t mgc_ensemble_stream_windows(const mgc_ensemble_stream *s) { return mgc_pipeline_windows(s->pipe[0]); }
double mgc_ensemble_stream_rms_db(const mgc_ensemble_stream *s) { return mgc_pipeline_rms_db(s->pipe[0]); }
double mgc_ensemble_stream_window_s(const mgc_ensemble_stream *s) { return mgc_pipeline_window_s(s->pipe[0]); }
double mgc_ensemble_stream_until_window_s(const mgc_ensemble_stream *s) {
  return mgc_pipeline_until_window_s(s->det ? s->det : s->pipe[0]);
}
double mgc_ensemble_stream_hop_s(const mgc_ensemble_stream *s) { return mgc_pipeline_hop_s(s->pipe[0]); }
int mgc_ensemble_stream_rate(const mgc_ensemble_stream *s) { return s->rate; }
int mgc_ensemble_stream_contexts(const mgc_ensemble_stream *s) { return s->n_ctx; }
mgc_sound mgc_ensemble_stream_sound(const mgc_ensemble_stream *s, float *music) {
  if (music) *music = s->det ? s->det_p : NAN;
  return s->verdict.state;
}
int mgc_ensemble_stream_has_detector(const mgc_ensemble_stream *s) { return s->det != NULL; }

void mgc_ensemble_stream_context_info(const mgc_ensemble_stream *s, int i, mgc_context_info *out) {
  const mgc_context *c = s->ctx[i];
  out->member = s->ctx_member[i];
  out->runs = mgc_context_runs(c);
  out->in_decision = s->ctx_valid[i];
  out->audio_s = s->ctx_valid[i] ? mgc_context_audio_s(c) : 0;
  mgc_context_error(c, &out->error);
}

int mgc_ensemble_stream_resamplers(const mgc_ensemble_stream *s) { return s->n_feeds; }
int mgc_ensemble_stream_framers(const mgc_ensemble_stream *s) { return s->n_framers; }

unsigned mgc_ensemble_stream_table_runs(const mgc_ensemble_stream *s) {
  return s->n_ctx ? mgc_context_runs(s->ctx[0]) : 0;
}
int mgc_ensemble_stream_table_active(const mgc_ensemble_stream *s) { return s->n_ctx && s->ctx_valid[0]; }
double mgc_ensemble_stream_table_audio_s(const mgc_ensemble_stream *s) {
  return s->n_ctx && s->ctx_valid[0] ? mgc_context_audio_s(s->ctx[0]) : 0;
}

int mgc_ensemble_stream_classes(const mgc_ensemble_stream *s, const char *const **names) {
  *names = (const char *const *)mgc_pipeline_model(s->pipe[0])->classes;
  return s->C;
}

/* The detector must have window i before any member does: it frames the
 * same audio at the same rate and hop, and a frame of its completes no
 * later than the member's (n_fft no larger, both centred or neither). */
static mgc_status check_detector(const mgc_ensemble_stream *s, const mgc_ensemble_member *mb) {
  if (!s->det) return MGC_OK;
  const mgc_frontend_params *d = &mgc_pipeline_model(s->det)->frontend, *a = &mb->loaded->frontend;
  if (a->sample_rate == d->sample_rate && a->hop_length == d->hop_length && a->center == d->center &&
      a->n_fft >= d->n_fft)
    return MGC_OK;
  return mgc_error_set(MGC_EINVAL,
                       "%s: member '%s' frames audio at %d Hz / hop %d / n_fft %d, the detector %s at "
                       "%d Hz / hop %d / n_fft %d: a window member needs the detector's rate and hop, "
                       "and an n_fft at least its",
                       s->e->origin, mb->name, a->sample_rate, a->hop_length, a->n_fft, s->e->detector_path,
                       d->sample_rate, d->hop_length, d->n_fft);
}

/* The ensemble's music detector, when it has one: a pipeline of its own. */
static mgc_status open_detector(mgc_ensemble_stream *s, const mgc_pipeline_params *p) {
  const mgc_ensemble *e = s->e;
  const mgc_model *d = e->detector_loaded;
  if (!d) return MGC_OK;
  if ((s->det_music = mgc_model_class(d, "music")) < 0)
    return mgc_error_set(MGC_EINVAL, "%s: the detector %s has no class 'music'", e->origin, e->detector_path);
  mgc_status st = mgc_pipeline_new(d, p, &s->det);
  if (st) return mgc_error_prefix(st, "%s: detector %s: ", e->origin, e->detector_path);
  mgc_pipeline_set_sink(s->det, on_detector_window, s);
  s->n_framers++;
  return MGC_OK;
}

/* Window member m: its pipeline, sharing the framer of the detector or of
 * an earlier member of the same front-end. */
static mgc_status open_window_member(mgc_ensemble_stream *s, int m, const mgc_pipeline_params *p) {
  const mgc_ensemble *e = s->e;
  const mgc_ensemble_member *mb = &e->members[m];
  const mgc_frontend_params *a = &mb->loaded->frontend;
  if (s->n_win > 0 && (a->sample_rate != mgc_pipeline_model(s->pipe[0])->frontend.sample_rate ||
                       a->hop_length != mgc_pipeline_model(s->pipe[0])->frontend.hop_length))
    return mgc_error_set(MGC_EINVAL, "%s: member '%s' frames audio at %d Hz / hop %d, the others at %d Hz / hop %d",
                         e->origin, mb->name, a->sample_rate, a->hop_length,
                         mgc_pipeline_model(s->pipe[0])->frontend.sample_rate,
                         mgc_pipeline_model(s->pipe[0])->frontend.hop_length);
  mgc_status st = check_detector(s, mb);
  if (st) return st;
  int lead = 0;
  while (lead < s->n_win && !mgc_pipeline_can_share(s->pipe[lead], mb->loaded)) lead++;
  if (s->det && mgc_pipeline_can_share(s->det, mb->loaded))
    st = mgc_pipeline_new_shared(mb->loaded, p, s->det, &s->pipe[s->n_win]);
  else if (lead < s->n_win) st = mgc_pipeline_new_shared(mb->loaded, p, s->pipe[lead], &s->pipe[s->n_win]);
  else if (!(st = mgc_pipeline_new(mb->loaded, p, &s->pipe[s->n_win]))) s->n_framers++;
  if (st) return mgc_error_prefix(st, "%s: member '%s': ", e->origin, mb->name);
  s->mctx[s->n_win] = (member_ctx){s, s->n_win};
  mgc_pipeline_set_sink(s->pipe[s->n_win], on_member_window, &s->mctx[s->n_win]);
  if (s->det) mgc_pipeline_set_gate(s->pipe[s->n_win], music_gate, s);
  s->slot[m] = s->n_win++;
  return MGC_OK;
}

/* Every member: window members get their pipelines, context members are
 * listed (opened by open_contexts); all must share the classes. */
static mgc_status open_members(mgc_ensemble_stream *s, const mgc_pipeline_params *p) {
  const mgc_ensemble *e = s->e;
  const mgc_model *ref = NULL;
  for (int m = 0; m < s->M; m++) {
    const mgc_ensemble_member *mb = &e->members[m];
    s->slot[m] = -1;
    if (!mb->loaded) return mgc_error_set(MGC_ESTATE, "%s: member '%s': model not loaded", e->origin, mb->name);
    if (!ref) ref = mb->loaded;
    if (mb->loaded->n_classes != ref->n_classes || mb->loaded->n_classes > 64)
      return mgc_error_set(MGC_EINVAL, "%s: member '%s' has %d classes, not %d", e->origin, mb->name,
                           mb->loaded->n_classes, ref->n_classes);
    if (mb->input == MGC_ENS_INPUT_CONTEXT) {
      s->ctx_member[s->n_ctx++] = m;
      continue;
    }
    mgc_status st = open_window_member(s, m, p);
    if (st) return st;
  }
  if (s->n_win == 0)
    return mgc_error_set(MGC_EINVAL, "%s: no window member: the live stream needs at least one", e->origin);
  s->C = ref->n_classes;
  s->rate = mgc_pipeline_model(s->pipe[0])->frontend.sample_rate;
  s->hop_samples = (size_t)lround(mgc_pipeline_hop_s(s->pipe[0]) * s->rate);
  for (int k = 1; k < s->n_win; k++)
    if (fabs(mgc_pipeline_hop_s(s->pipe[k]) - mgc_pipeline_hop_s(s->pipe[0])) > 1e-9)
      return mgc_error_set(MGC_EINVAL, "%s: the window members' windows do not hop together", e->origin);
  if (s->det && (fabs(mgc_pipeline_hop_s(s->det) - mgc_pipeline_hop_s(s->pipe[0])) > 1e-9 ||
                 fabs(mgc_pipeline_window_s(s->det) - mgc_pipeline_window_s(s->pipe[0])) > 1e-9))
    return mgc_error_set(MGC_EINVAL, "%s: the detector's windows (%.3f s every %.3f s) are not the members' "
                         "(%.3f s every %.3f s)", e->origin, mgc_pipeline_window_s(s->det), mgc_pipeline_hop_s(s->det),
                         mgc_pipeline_window_s(s->pipe[0]), mgc_pipeline_hop_s(s->pipe[0]));
  return MGC_OK;
}

/* The combiners: the ensemble's for the decision, and for a window's
 * probabilities the same rule over the window members alone (weights
 * renormalised; stacking's mean); and the buffers they work in. */
static mgc_status open_combiners(mgc_ensemble_stream *s) {
  const mgc_ensemble *e = s->e;
  mgc_status st = mgc_ensemble_combiner(e, &s->full);
  if (st) return st;
  s->win_probs = calloc((size_t)s->n_win * s->C, sizeof(float));
  s->track_probs = calloc((size_t)s->n_win * s->C, sizeof(float));
  s->pm = calloc((size_t)s->M * s->C, sizeof(float));
  s->wcomb = calloc((size_t)s->C, sizeof(float));
  s->dec = calloc((size_t)s->C, sizeof(float));
  s->dyn_weights = calloc((size_t)s->M, sizeof(double));
  if (!s->win_probs || !s->track_probs || !s->pm || !s->wcomb || !s->dec || !s->dyn_weights)
    return mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
  s->win_comb = s->full;
  s->win_comb.temperature = 0; /* the temperature calibrates track decisions, fitted on them */
  if (s->n_ctx > 0) {
    double wsum = 0;
    for (int m = 0; m < s->M; m++)
      if (s->slot[m] >= 0) wsum += e->weights[m];
    s->sub_weights = calloc((size_t)s->n_win, sizeof(double));
    if (!s->sub_weights) return mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
    for (int m = 0; m < s->M; m++)
      if (s->slot[m] >= 0)
        s->sub_weights[s->slot[m]] = wsum > 0 ? e->weights[m] / wsum : 1.0 / s->n_win;
    s->win_comb.n_members = s->n_win;
    s->win_comb.weights = s->sub_weights;
    if (s->full.rule == MGC_COMB_STACK) {
      s->win_comb.rule = MGC_COMB_MEAN;
      s->win_comb.coef = s->win_comb.intercept = NULL;
    }
  }
  return mgc_combiner_check(&s->win_comb);
}

/* The context members, each fed at its rate by one resampler per rate. */
static mgc_status open_contexts(mgc_ensemble_stream *s) {
  const mgc_ensemble *e = s->e;
  for (int i = 0; i < s->n_ctx; i++) {
    const mgc_ensemble_member *mb = &e->members[s->ctx_member[i]];
    mgc_context_params cp;
    mgc_context_params_default(mb->loaded, &cp);
    if (mb->span_s > 0) cp.span_s = mb->span_s;
    if (mb->first_s > 0) cp.first_s = mb->first_s;
    if (mb->every_s > 0) cp.every_s = mb->every_s;
    mgc_status st = mgc_context_new(mb->loaded, &cp, &s->ctx[i]);
    if (st) return mgc_error_prefix(st, "%s: member '%s': ", e->origin, mb->name);
    int rate = mgc_predict_rate(mb->loaded), f = 0;
    s->ctx_feed[i] = -1;
    if (rate == s->rate) continue;
    while (f < s->n_feeds && s->feeds[f].rate != rate) f++;
    if (f == s->n_feeds) {
      rate_feed *rf = &s->feeds[s->n_feeds++];
      rf->rate = rate;
      if (!(rf->tmp = malloc(sizeof(float) * CHUNK))) return mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
      if ((st = mgc_resampler_new(s->rate, rate, &rf->rs))) return st;
    }
    s->ctx_feed[i] = f;
  }
  return MGC_OK;
}

mgc_status mgc_ensemble_stream_new(const mgc_ensemble *e, const mgc_pipeline_params *p,
                                   mgc_ensemble_stream **out) {
  *out = NULL;
  mgc_ensemble_stream *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
  s->e = e;
  s->M = e->n_members;
  mgc_status st;
  if ((st = mgc_music_params_validate(&p->music)) || (st = open_detector(s, p)) || (st = open_members(s, p)) ||
      (st = open_combiners(s)) || (st = open_contexts(s))) {
    mgc_ensemble_stream_free(s);
    return st;
  }
  mgc_music_state_init(&s->ms, &p->music);
  new_track(s, 1);
  for (int i = 0; s->det && i < s->n_ctx; i++) mgc_context_hold(s->ctx[i], 1); /* until there is music */
  *out = s;
  return MGC_OK;
}

void mgc_ensemble_stream_free(mgc_ensemble_stream *s) {
  if (!s) return;
  for (int i = 0; i < s->n_ctx; i++) mgc_context_free(s->ctx[i]);
  for (int f = 0; f < s->n_feeds; f++) {
    mgc_resampler_free(s->feeds[f].rs);
    free(s->feeds[f].tmp);
  }
  for (int k = s->n_win - 1; k >= 0; k--) mgc_pipeline_free(s->pipe[k]); /* followers first */
  mgc_pipeline_free(s->det);
  free(s->sub_weights);
  free(s->dyn_weights);
  free(s->win_probs);
  free(s->track_probs);
  free(s->pm);
  free(s->wcomb);
  free(s->dec);
  free(s);
}
