#include "mgc/ensemble_stream.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/session.h"
#include "mgc/table.h"

#define TABLE_SPAN_S 30.0 /* the table's clips are 30 s */

/* When the table member runs, in seconds of the current track: every 10 s,
 * on the last 30 s. A run costs about 115 ms of CPU, so this is 1.2 % of a
 * core (mgcd's budget is 2 %), and the track decision follows a change of
 * style within 10 s. */
#define TABLE_EVERY_S 10.0
static double next_table_due(double last) { return (floor(last / TABLE_EVERY_S) + 1) * TABLE_EVERY_S; }

struct mgc_ensemble_stream {
  const mgc_ensemble *e;
  int M, C, n_win, table;          /* members, classes, window members, table member index or -1 */
  int slot[MGC_ENSEMBLE_MAX_MEMBERS];  /* member -> its pipeline (window members), else -1 */
  mgc_pipeline *pipe[MGC_ENSEMBLE_MAX_MEMBERS];
  mgc_combiner full, sub;          /* all members; the window members alone */
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
  /* Table member: the current track's audio, and the worker. */
  float *roll;                     /* circular, roll_cap samples */
  size_t roll_cap, roll_n, roll_pos;
  double track_s, due_s;           /* audio of the current track; next run at */
  float table_probs_[64];
  float *table_probs;              /* [C] the table member's latest answer for this track */
  int table_valid;
  pthread_t th;
  int th_started;
  pthread_mutex_t mu;
  pthread_cond_t cv, done;         /* a job is ready; the worker finished one */
  /* Shared with the worker, under mu. */
  int stop, job_ready, busy;
  float *job;
  size_t job_n;
  uint64_t job_track, res_track;
  double job_track_s, res_track_s; /* track audio (s) when the job was taken, for its answer */
  double table_track_s;            /* the same for the answer in use */
  size_t res_n;                    /* samples the answer in res was computed on */
  float *res;
  int res_new;
  atomic_uint runs;
  double table_audio_s;            /* audio the table answer in use rests on */
  mgc_session *tsession;
  float *tx;
  mgc_status table_error;
};

static void *table_worker(void *arg) {
  mgc_ensemble_stream *s = arg;
  float feats[MGC_TABLE_DIM];
  float *probs = s->tx + MGC_TABLE_DIM;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->stop && !s->job_ready) pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop) break;
    s->job_ready = 0;
    uint64_t track = s->job_track;
    pthread_mutex_unlock(&s->mu);
    /* Off the real-time path: this allocates and takes a quarter second. */
    mgc_status st = mgc_table_features(s->job, s->job_n, MGC_TABLE_RATE, feats);
    if (!st) {
      memcpy(s->tx, feats, sizeof feats);
      st = mgc_session_run(s->tsession, s->tx, 1, probs);
    }
    pthread_mutex_lock(&s->mu);
    if (!st) {
      memcpy(s->res, probs, sizeof(float) * (size_t)s->C);
      s->res_track = track;
      s->res_n = s->job_n;
      s->res_track_s = s->job_track_s;
      s->res_new = 1;
      atomic_fetch_add(&s->runs, 1);
    } else {
      s->table_error = st;
    }
    s->busy = 0;
    pthread_cond_broadcast(&s->done);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void decide(mgc_ensemble_stream *s, mgc_decision *d) {
  if (d->genre < 0) return; /* nothing has voted in this track yet */
  int use_table = s->table >= 0 && s->table_valid, k = 0;
  /* Member-major, in the ensemble's order; without the table's answer the
   * window members alone (the sub-combiner's order). */
  for (int m = 0; m < s->M; m++) {
    const float *src = s->slot[m] >= 0 ? s->track_probs + (size_t)s->slot[m] * s->C
                       : use_table     ? s->table_probs
                                       : NULL;
    if (src) memcpy(s->pm + (size_t)k++ * s->C, src, sizeof(float) * (size_t)s->C);
  }
  const mgc_combiner *c = s->table < 0 || use_table ? &s->full : &s->sub;
  d->genre = mgc_combine(c, s->pm, s->dec);
  d->confidence = s->dec[d->genre];
  d->probs = s->dec;
}

/* Take the worker's answer, if there is one, under mu. */
static void take_answer(mgc_ensemble_stream *s) {
  if (!s->res_new) return;
  s->res_new = 0;
  if (s->res_track == s->track) { /* not an answer about a track that has ended */
    memcpy(s->table_probs, s->res, sizeof(float) * (size_t)s->C);
    s->table_valid = 1;
    s->table_audio_s = (double)s->res_n / s->rate;
    s->table_track_s = s->res_track_s;
  }
}

/* Take the worker's answer if there is one (never waits). */
static void table_collect(mgc_ensemble_stream *s) {
  if (pthread_mutex_trylock(&s->mu) != 0) return;
  take_answer(s);
  pthread_mutex_unlock(&s->mu);
}

/* Hand the worker the track's last (up to) 30 s, oldest first; under mu,
 * with the worker idle. */
static void submit_job(mgc_ensemble_stream *s) {
  size_t start = (s->roll_pos + s->roll_cap - s->roll_n) % s->roll_cap, a = s->roll_cap - start;
  if (a > s->roll_n) a = s->roll_n;
  memcpy(s->job, s->roll + start, sizeof(float) * a);
  memcpy(s->job + a, s->roll, sizeof(float) * (s->roll_n - a));
  s->job_n = s->roll_n;
  s->job_track = s->track;
  s->job_track_s = s->track_s;
  s->job_ready = s->busy = 1;
  pthread_cond_signal(&s->cv);
}

/* After every chunk: keep the track's audio and hand the worker a job when
 * one is due and it is idle (never waits). */
static void table_feed(mgc_ensemble_stream *s, const float *x, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = s->roll_cap - s->roll_pos;
    if (k > n - i) k = n - i;
    memcpy(s->roll + s->roll_pos, x + i, sizeof(float) * k);
    s->roll_pos = (s->roll_pos + k) % s->roll_cap;
    s->roll_n = s->roll_n + k > s->roll_cap ? s->roll_cap : s->roll_n + k;
    i += k;
  }
  s->track_s += (double)n / s->rate;
  if (s->track_s < s->due_s || pthread_mutex_trylock(&s->mu) != 0) return;
  if (!s->busy && !s->job_ready) {
    submit_job(s);
    s->due_s = next_table_due(s->track_s);
  }
  pthread_mutex_unlock(&s->mu);
}

static void new_track(mgc_ensemble_stream *s, uint64_t track) {
  s->track = track;
  s->table_valid = 0;
  s->roll_n = s->roll_pos = 0;
  s->track_s = 0;
  s->due_s = next_table_due(0);
}

typedef struct member_ctx {
  mgc_ensemble_stream *s;
  int k;
} member_ctx;

static int on_member_window(void *user, const mgc_window_event *e) {
  member_ctx *mc = user;
  mgc_ensemble_stream *s = mc->s;
  const int C = s->C, k = mc->k;
  if (k == 0) {
    s->first = *e;
    s->got = 0;
  }
  s->got++;
  if (e->probs) memcpy(s->win_probs + (size_t)k * C, e->probs, sizeof(float) * (size_t)C);
  if (e->decision.genre >= 0 && e->decision.probs)
    memcpy(s->track_probs + (size_t)k * C, e->decision.probs, sizeof(float) * (size_t)C);
  if (k != s->n_win - 1) return 0;
  /* Every member has this window now (they are fed the same sub-chunk). */
  mgc_window_event ev = s->first;
  if (ev.decision.track != s->track) new_track(s, ev.decision.track);
  if (ev.probs) {
    mgc_combine(&s->sub, s->win_probs, s->wcomb);
    ev.probs = s->wcomb;
  }
  decide(s, &ev.decision);
  s->last = ev.decision;
  return s->fn ? s->fn(s->user, &ev) : 0;
}

static int feed(mgc_ensemble_stream *s, const float *x, size_t n, int flush) {
  member_ctx ctx[MGC_ENSEMBLE_MAX_MEMBERS];
  for (int k = 0; k < s->n_win; k++) ctx[k] = (member_ctx){s, k};
  if (flush) {
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
    if (s->table >= 0) table_collect(s);
    for (int k = 0; k < s->n_win; k++) {
      int rc = mgc_pipeline_process(s->pipe[k], x, c, on_member_window, &ctx[k]);
      if (rc) return rc;
    }
    if (s->table >= 0) table_feed(s, x, c);
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
  for (int k = 0; k < s->n_win; k++) mgc_pipeline_restart(s->pipe[k], gap_s);
}

void mgc_ensemble_stream_reset_track(mgc_ensemble_stream *s) {
  for (int k = 0; k < s->n_win; k++) mgc_pipeline_reset_track(s->pipe[k]);
}

void mgc_ensemble_stream_finish(mgc_ensemble_stream *s, mgc_decision *out) {
  if (s->table >= 0 && s->roll_n > 0) {
    pthread_mutex_lock(&s->mu);
    take_answer(s);
    /* An answer on all the track's audio so far is already final. */
    if (!(s->table_valid && s->table_track_s == s->track_s)) {
      while (s->busy || s->job_ready) pthread_cond_wait(&s->done, &s->mu);
      take_answer(s); /* the job that was running, if any */
      if (!(s->table_valid && s->table_track_s == s->track_s)) {
        submit_job(s);
        while (s->busy || s->job_ready) pthread_cond_wait(&s->done, &s->mu);
        take_answer(s); /* a failed run leaves the answer in use, if any */
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
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
double mgc_ensemble_stream_hop_s(const mgc_ensemble_stream *s) { return mgc_pipeline_hop_s(s->pipe[0]); }
int mgc_ensemble_stream_rate(const mgc_ensemble_stream *s) { return s->rate; }
unsigned mgc_ensemble_stream_table_runs(const mgc_ensemble_stream *s) {
  return atomic_load(&((mgc_ensemble_stream *)s)->runs);
}
int mgc_ensemble_stream_table_active(const mgc_ensemble_stream *s) { return s->table_valid; }
double mgc_ensemble_stream_table_audio_s(const mgc_ensemble_stream *s) {
  return s->table_valid ? s->table_audio_s : 0;
}

int mgc_ensemble_stream_classes(const mgc_ensemble_stream *s, const char *const **names) {
  *names = (const char *const *)mgc_pipeline_model(s->pipe[0])->classes;
  return s->C;
}

mgc_status mgc_ensemble_stream_new(const mgc_ensemble *e, const mgc_pipeline_params *p,
                                   mgc_ensemble_stream **out) {
  *out = NULL;
  mgc_ensemble_stream *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
  s->e = e;
  s->M = e->n_members;
  s->table = -1;
  s->table_probs = s->table_probs_;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_cond_init(&s->done, NULL);
  atomic_init(&s->runs, 0);
  mgc_status st = MGC_OK;
  const mgc_model *ref = NULL;
  for (int m = 0; m < s->M; m++) {
    const mgc_ensemble_member *mb = &e->members[m];
    s->slot[m] = -1;
    if (!mb->loaded) {
      st = mgc_error_set(MGC_ESTATE, "%s: member '%s': model not loaded", e->origin, mb->name);
      goto fail;
    }
    if (!ref) ref = mb->loaded;
    if (mb->loaded->n_classes != ref->n_classes || mb->loaded->n_classes > 64) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s' has %d classes, not %d", e->origin, mb->name,
                         mb->loaded->n_classes, ref->n_classes);
      goto fail;
    }
    if (mb->input == MGC_ENS_INPUT_TABLE) {
      if (s->table >= 0) {
        st = mgc_error_set(MGC_EINVAL, "%s: more than one table member ('%s', '%s'); the live stream takes one",
                           e->origin, e->members[s->table].name, mb->name);
        goto fail;
      }
      s->table = m;
      continue;
    }
    const mgc_frontend_params *a = &mb->loaded->frontend;
    if (s->n_win > 0 && (a->sample_rate != mgc_pipeline_model(s->pipe[0])->frontend.sample_rate ||
                         a->hop_length != mgc_pipeline_model(s->pipe[0])->frontend.hop_length)) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s' frames audio at %d Hz / hop %d, the others at %d Hz / hop %d",
                         e->origin, mb->name, a->sample_rate, a->hop_length,
                         mgc_pipeline_model(s->pipe[0])->frontend.sample_rate,
                         mgc_pipeline_model(s->pipe[0])->frontend.hop_length);
      goto fail;
    }
    if ((st = mgc_pipeline_new(mb->loaded, p, &s->pipe[s->n_win]))) {
      mgc_error_prefix(st, "%s: member '%s': ", e->origin, mb->name);
      goto fail;
    }
    s->slot[m] = s->n_win++;
  }
  if (s->n_win == 0) {
    st = mgc_error_set(MGC_EINVAL, "%s: no window member: the live stream needs at least one", e->origin);
    goto fail;
  }
  s->C = ref->n_classes;
  s->rate = mgc_pipeline_model(s->pipe[0])->frontend.sample_rate;
  s->hop_samples = (size_t)lround(mgc_pipeline_hop_s(s->pipe[0]) * s->rate);
  for (int k = 1; k < s->n_win; k++)
    if (fabs(mgc_pipeline_hop_s(s->pipe[k]) - mgc_pipeline_hop_s(s->pipe[0])) > 1e-9) {
      st = mgc_error_set(MGC_EINVAL, "%s: the window members' windows do not hop together", e->origin);
      goto fail;
    }
  if ((st = mgc_ensemble_combiner(e, &s->full))) goto fail;
  /* The window members alone: same rule over them, weights renormalised;
   * stacking needs every member, so their mean stands in. */
  s->sub_weights = calloc((size_t)s->n_win, sizeof(double));
  if (!s->sub_weights) goto oom;
  double wsum = 0;
  for (int m = 0; m < s->M; m++)
    if (s->slot[m] >= 0) wsum += e->weights[m];
  for (int m = 0; m < s->M; m++)
    if (s->slot[m] >= 0) s->sub_weights[s->slot[m]] = wsum > 0 ? e->weights[m] / wsum : 1.0 / s->n_win;
  s->sub = s->full;
  if (s->table >= 0) {
    s->sub.n_members = s->n_win;
    s->sub.weights = s->sub_weights;
    if (s->full.rule == MGC_COMB_STACK) {
      s->sub.rule = MGC_COMB_MEAN;
      s->sub.coef = s->sub.intercept = NULL;
    }
  }
  if ((st = mgc_combiner_check(&s->sub))) goto fail;
  s->win_probs = calloc((size_t)s->n_win * s->C, sizeof(float));
  s->track_probs = calloc((size_t)s->n_win * s->C, sizeof(float));
  s->pm = calloc((size_t)s->M * s->C, sizeof(float));
  s->wcomb = calloc((size_t)s->C, sizeof(float));
  s->dec = calloc((size_t)s->C, sizeof(float));
  if (!s->win_probs || !s->track_probs || !s->pm || !s->wcomb || !s->dec) goto oom;
  new_track(s, 1);
  if (s->table >= 0) {
    const mgc_model *tm = e->members[s->table].loaded;
    if (s->rate != MGC_TABLE_RATE || mgc_shape_size(&tm->arch->input) != MGC_TABLE_DIM) {
      st = mgc_error_set(MGC_EINVAL, "%s: table member '%s' needs %d Hz audio and a %d-feature input",
                         e->origin, e->members[s->table].name, MGC_TABLE_RATE, MGC_TABLE_DIM);
      goto fail;
    }
    if ((st = mgc_session_new(tm, 1, &s->tsession))) goto fail;
    s->roll_cap = (size_t)(TABLE_SPAN_S * MGC_TABLE_RATE);
    s->roll = malloc(sizeof(float) * s->roll_cap);
    s->job = malloc(sizeof(float) * s->roll_cap);
    s->res = calloc((size_t)s->C, sizeof(float));
    s->tx = calloc(MGC_TABLE_DIM + (size_t)s->C, sizeof(float));
    if (!s->roll || !s->job || !s->res || !s->tx) goto oom;
    if (pthread_create(&s->th, NULL, table_worker, s) != 0) {
      st = mgc_error_set(MGC_ENOMEM, "ensemble stream: cannot start the table worker");
      goto fail;
    }
    s->th_started = 1;
  }
  *out = s;
  return MGC_OK;
oom:
  st = mgc_error_set(MGC_ENOMEM, "ensemble stream: out of memory");
fail:
  mgc_ensemble_stream_free(s);
  return st;
}

void mgc_ensemble_stream_free(mgc_ensemble_stream *s) {
  if (!s) return;
  if (s->th_started) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
  }
  for (int k = 0; k < s->n_win; k++) mgc_pipeline_free(s->pipe[k]);
  mgc_session_free(s->tsession);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  pthread_cond_destroy(&s->done);
  free(s->sub_weights);
  free(s->win_probs);
  free(s->track_probs);
  free(s->pm);
  free(s->wcomb);
  free(s->dec);
  free(s->roll);
  free(s->job);
  free(s->res);
  free(s->tx);
  free(s);
}
