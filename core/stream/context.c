#include "mgc/stream/context.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/model/predict.h"
#include "mgc/model/session.h"

struct mgc_context {
  const mgc_model *m;
  mgc_context_params p;
  int rate, C;
  float *roll;                     /* the track's last roll_cap samples, circular */
  size_t roll_cap, roll_n, roll_pos;
  double track_s, due_s;
  int hold;
  uint64_t track;
  float *probs;                    /* [C] the answer in use */
  int valid;
  double audio_s, answer_track_s;  /* what the answer in use rests on */
  pthread_t th;
  int th_started;
  pthread_mutex_t mu;
  pthread_cond_t cv, done;
  /* Shared with the worker, under mu. */
  int stop, job_ready, busy, res_new;
  float *job, *res;
  size_t job_n, res_n;
  uint64_t job_track, res_track;
  double job_track_s, res_track_s;
  mgc_status error;
  char error_msg[256];             /* the last failed run's message */
  atomic_uint runs;
  mgc_session *session;
};

void mgc_context_params_default(const mgc_model *m, mgc_context_params *p) {
  if (mgc_predict_is_table(m)) {
    *p = (mgc_context_params){30.0, 10.0, 10.0};
    return;
  }
  const mgc_frontend_params *f = &m->frontend;
  double win_s = (double)(f->segment_frames - 1) * f->hop_length / f->sample_rate;
  *p = (mgc_context_params){win_s, 3.0, 10.0};
}

static void *worker(void *arg) {
  mgc_context *c = arg;
  float *probs = c->res + c->C;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->stop && !c->job_ready) pthread_cond_wait(&c->cv, &c->mu);
    if (c->stop) break;
    c->job_ready = 0;
    uint64_t track = c->job_track;
    pthread_mutex_unlock(&c->mu);
    /* Off the real-time path: features of the whole span (allocates). */
    mgc_status st = mgc_predict_recording(c->session, c->job, c->job_n, probs, NULL);
    pthread_mutex_lock(&c->mu);
    if (!st) {
      memcpy(c->res, probs, sizeof(float) * (size_t)c->C);
      c->res_track = track;
      c->res_n = c->job_n;
      c->res_track_s = c->job_track_s;
      c->res_new = 1;
      atomic_fetch_add(&c->runs, 1);
    } else { /* kept for status: the answer in use, if any, stays */
      c->error = st;
      snprintf(c->error_msg, sizeof c->error_msg, "%s", mgc_error_message());
    }
    c->busy = 0;
    pthread_cond_broadcast(&c->done);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Under mu: the worker's answer, unless it is about a track that ended. */
static void take_answer(mgc_context *c) {
  if (!c->res_new) return;
  c->res_new = 0;
  if (c->res_track != c->track) return;
  memcpy(c->probs, c->res, sizeof(float) * (size_t)c->C);
  c->valid = 1;
  c->audio_s = (double)c->res_n / c->rate;
  c->answer_track_s = c->res_track_s;
}

/* Under mu, worker idle: hand it the track's last span, oldest first. */
static void submit(mgc_context *c) {
  size_t start = (c->roll_pos + c->roll_cap - c->roll_n) % c->roll_cap, a = c->roll_cap - start;
  if (a > c->roll_n) a = c->roll_n;
  memcpy(c->job, c->roll + start, sizeof(float) * a);
  memcpy(c->job + a, c->roll, sizeof(float) * (c->roll_n - a));
  c->job_n = c->roll_n;
  c->job_track = c->track;
  c->job_track_s = c->track_s;
  c->job_ready = c->busy = 1;
  pthread_cond_signal(&c->cv);
}

static double next_due(const mgc_context *c, double now) {
  if (now < c->p.first_s) return c->p.first_s;
  return c->p.first_s + (floor((now - c->p.first_s) / c->p.every_s) + 1) * c->p.every_s;
}

void mgc_context_new_track(mgc_context *c, uint64_t track) {
  c->track = track;
  c->valid = 0;
  c->roll_n = c->roll_pos = 0;
  c->track_s = 0;
  c->due_s = next_due(c, 0);
}

static void keep(mgc_context *c, const float *x, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = c->roll_cap - c->roll_pos;
    if (k > n - i) k = n - i;
    memcpy(c->roll + c->roll_pos, x + i, sizeof(float) * k);
    c->roll_pos = (c->roll_pos + k) % c->roll_cap;
    c->roll_n = c->roll_n + k > c->roll_cap ? c->roll_cap : c->roll_n + k;
    i += k;
  }
  c->track_s += (double)n / c->rate;
}

void mgc_context_hold(mgc_context *c, int hold) { c->hold = hold; }

void mgc_context_keep_last(mgc_context *c, double seconds) {
  double k = seconds > 0 ? floor(seconds * c->rate + 0.5) : 0;
  if (k < (double)c->roll_n) c->roll_n = (size_t)k;
  c->track_s = (double)c->roll_n / c->rate;
  c->valid = 0;
  c->due_s = c->p.first_s;
}

void mgc_context_feed(mgc_context *c, const float *x, size_t n) {
  keep(c, x, n);
  if (c->hold || c->track_s < c->due_s || c->roll_n == 0 || pthread_mutex_trylock(&c->mu) != 0) return;
  if (!c->busy && !c->job_ready) {
    submit(c);
    c->due_s = next_due(c, c->track_s);
  }
  pthread_mutex_unlock(&c->mu);
}

int mgc_context_collect(mgc_context *c, const float **probs) {
  if (pthread_mutex_trylock(&c->mu) == 0) {
    take_answer(c);
    pthread_mutex_unlock(&c->mu);
  }
  *probs = c->probs;
  return c->valid;
}

int mgc_context_finish(mgc_context *c, const float **probs) {
  pthread_mutex_lock(&c->mu);
  take_answer(c);
  if (c->roll_n > 0 && !(c->valid && c->answer_track_s == c->track_s)) {
    while (c->busy || c->job_ready) pthread_cond_wait(&c->done, &c->mu);
    take_answer(c); /* the job that was running, if any */
    if (!(c->valid && c->answer_track_s == c->track_s)) {
      submit(c);
      while (c->busy || c->job_ready) pthread_cond_wait(&c->done, &c->mu);
      take_answer(c); /* a failed run leaves the answer in use, if any */
    }
  }
  pthread_mutex_unlock(&c->mu);
  *probs = c->probs;
  return c->valid;
}

unsigned mgc_context_runs(const mgc_context *c) {
  return atomic_load(&((mgc_context *)c)->runs);
}
double mgc_context_audio_s(const mgc_context *c) { return c->valid ? c->audio_s : 0; }
mgc_status mgc_context_error(const mgc_context *c, const char **message) {
  mgc_context *w = (mgc_context *)c; /* the worker writes it under mu */
  pthread_mutex_lock(&w->mu);
  mgc_status st = w->error;
  pthread_mutex_unlock(&w->mu);
  if (message) *message = st ? c->error_msg : NULL;
  return st;
}

mgc_status mgc_context_new(const mgc_model *m, const mgc_context_params *p, mgc_context **out) {
  *out = NULL;
  if (!(p->span_s > 0) || !(p->first_s >= 0) || !(p->every_s > 0))
    return mgc_error_set(MGC_EINVAL, "context member: span and every must be > 0, first >= 0");
  mgc_context *c = calloc(1, sizeof *c);
  if (!c) return mgc_error_set(MGC_ENOMEM, "context member: out of memory");
  c->m = m;
  c->p = *p;
  c->rate = mgc_predict_rate(m);
  c->C = m->n_classes;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  pthread_cond_init(&c->done, NULL);
  atomic_init(&c->runs, 0);
  mgc_status st = MGC_OK;
  c->roll_cap = (size_t)ceil(p->span_s * c->rate);
  c->roll = malloc(sizeof(float) * c->roll_cap);
  c->job = malloc(sizeof(float) * c->roll_cap);
  c->res = calloc(2 * (size_t)c->C, sizeof(float));
  c->probs = calloc((size_t)c->C, sizeof(float));
  if (!c->roll || !c->job || !c->res || !c->probs) {
    st = mgc_error_set(MGC_ENOMEM, "context member: out of memory");
    goto fail;
  }
  if ((st = mgc_session_new(m, 1, &c->session))) goto fail;
  mgc_context_new_track(c, 1);
  if (pthread_create(&c->th, NULL, worker, c) != 0) {
    st = mgc_error_set(MGC_ENOMEM, "context member: cannot start its worker thread");
    goto fail;
  }
  c->th_started = 1;
  *out = c;
  return MGC_OK;
fail:
  mgc_context_free(c);
  return st;
}

void mgc_context_free(mgc_context *c) {
  if (!c) return;
  if (c->th_started) {
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
  }
  mgc_session_free(c->session);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  pthread_cond_destroy(&c->done);
  free(c->roll);
  free(c->job);
  free(c->res);
  free(c->probs);
  free(c);
}
