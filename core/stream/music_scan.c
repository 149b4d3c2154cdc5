#include "mgc/stream/music_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/audio/audio.h"
#include "mgc/model/predict.h"

mgc_status mgc_music_class(const mgc_model *d, int *out) {
  if ((*out = mgc_model_class(d, "music")) >= 0) return MGC_OK;
  char names[256] = "";
  for (int k = 0; k < d->n_classes && strlen(names) < sizeof names - 40; k++) {
    strcat(names, k ? ", " : "");
    strncat(names, d->classes[k], 32);
  }
  return mgc_error_set(MGC_EINVAL, "music detector: no class named 'music' among its classes (%s)", names);
}

typedef struct scan {
  mgc_music_state state;
  int music;
  mgc_music_window *w;
  size_t n, cap;
} scan;

static int on_window(void *user, const mgc_window_event *e) {
  scan *s = user;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    mgc_music_window *w = realloc(s->w, cap * sizeof *w);
    if (!w) return (int)mgc_error_set(MGC_ENOMEM, "music detector: out of memory");
    s->w = w;
    s->cap = cap;
  }
  mgc_music_window *w = &s->w[s->n++];
  w->t = e->t;
  w->t_end = e->t_end;
  w->rms_db = e->rms_db;
  w->music = e->probs ? e->probs[s->music] : NAN;
  mgc_music_state_process(&s->state, e->probs == NULL, e->probs ? e->probs[s->music] : 0, &w->v);
  return 0;
}

mgc_status mgc_music_scan(const mgc_model *d, const mgc_pipeline_params *pp, const float *x, size_t n, mgc_music_window **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  scan s = {0};
  mgc_status st;
  if ((st = mgc_music_params_validate(&pp->music)) || (st = mgc_music_class(d, &s.music))) return st;
  mgc_music_state_init(&s.state, &pp->music);
  mgc_pipeline *p;
  if ((st = mgc_pipeline_new(d, pp, &p))) return mgc_error_prefix(st, "music detector: ");
  int rc = mgc_pipeline_process(p, x, n, on_window, &s);
  if (!rc) rc = mgc_pipeline_flush(p, on_window, &s);
  mgc_pipeline_free(p);
  if (rc) {
    free(s.w);
    return (mgc_status)rc;
  }
  *out = s.w;
  *n_out = s.n;
  return MGC_OK;
}

size_t mgc_music_votes(const mgc_music_window *w, size_t nw) {
  size_t k = 0;
  for (size_t i = 0; i < nw; i++) k += w[i].v.votes != 0;
  return k;
}

mgc_status mgc_music_audio(const mgc_music_window *w, size_t nw, const float *x, size_t n, int rate,
                           float **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  size_t total = 0, end = 0;
  /* Twice over the windows: first the length, then the copy. Windows come
   * in time order, so a span only ever grows at its end. */
  for (int pass = 0; pass < 2; pass++) {
    end = 0;
    size_t k = 0;
    for (size_t i = 0; i < nw; i++) {
      if (!w[i].v.votes) continue;
      size_t a = (size_t)llround(w[i].t * rate), b = (size_t)llround(w[i].t_end * rate);
      if (b > n) b = n;
      if (a < end) a = end;
      if (a >= b) continue;
      if (pass) memcpy(*out + k, x + a, sizeof(float) * (b - a));
      k += b - a;
      end = b;
    }
    if (!pass) {
      total = k;
      if (!total) return MGC_OK;
      if (!(*out = malloc(sizeof(float) * total))) return mgc_error_set(MGC_ENOMEM, "music detector: out of memory");
    }
  }
  *n_out = total;
  return MGC_OK;
}

mgc_status mgc_music_extract(const mgc_model *d, const mgc_pipeline_params *pp, const float *x, size_t n,
                             int rate, mgc_music_window **w, size_t *nw, float **music, size_t *n_music) {
  *w = NULL;
  *nw = 0;
  *music = NULL;
  *n_music = 0;
  int dr = mgc_predict_rate(d);
  float *y = (float *)x;
  size_t ny = n;
  mgc_status st = dr == rate ? MGC_OK : mgc_audio_resample(x, n, rate, dr, &y, &ny);
  if (!st) st = mgc_music_scan(d, pp, y, ny, w, nw);
  if (y != x) free(y);
  if (!st) st = mgc_music_audio(*w, *nw, x, n, rate, music, n_music);
  if (st) {
    free(*w);
    *w = NULL;
    *nw = 0;
  }
  return st;
}
