#include "mgc/train/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/train/augment.h"
#include "mgc/model/session.h"

typedef struct variant_ctx {
  const char *name;
  uint64_t seed;
} variant_ctx;

static mgc_status apply_variant(void *user, const float *in, size_t n, int rate, float **out,
                                size_t *n_out) {
  const variant_ctx *v = user;
  return mgc_audio_variant(v->name, v->seed, in, n, rate, out, n_out);
}

/* FNV-1a of the track name: a per-track seed for noise variants that does
 * not depend on the order tracks are loaded in. */
static uint64_t name_seed(const char *s, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static char **copy_strings(char *const *src, int n) {
  char **d = calloc((size_t)n + 1, sizeof *d);
  for (int i = 0; d && i < n; i++)
    if (!(d[i] = strdup(src[i]))) {
      for (int k = 0; k < i; k++) free(d[k]);
      free(d);
      return NULL;
    }
  return d;
}

mgc_status mgc_corpus_load(const mgc_dataset *ds, mgc_featcache *cache, const char *variant,
                           uint64_t seed, mgc_train_log_fn log, void *user, mgc_corpus **out) {
  *out = NULL;
  mgc_corpus *c = calloc(1, sizeof *c);
  if (!c) return mgc_error_set(MGC_ENOMEM, "out of memory");
  c->n_classes = ds->n_classes;
  c->classes = copy_strings(ds->classes, ds->n_classes);
  c->labels = calloc((size_t)ds->n_tracks + 1, sizeof *c->labels);
  c->names = calloc((size_t)ds->n_tracks + 1, sizeof *c->names);
  c->feats = calloc((size_t)ds->n_tracks + 1, sizeof *c->feats);
  c->src = calloc((size_t)ds->n_tracks + 1, sizeof *c->src);
  if (!c->classes || !c->labels || !c->names || !c->feats || !c->src) {
    mgc_corpus_free(c);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  int has_variant = variant && *variant;
  for (int i = 0; i < ds->n_tracks; i++) {
    const mgc_track *t = &ds->tracks[i];
    variant_ctx v = {variant, name_seed(t->name, seed)};
    mgc_feature_matrix m = {0};
    mgc_status st = mgc_featcache_get(cache, t->path, has_variant ? variant : NULL,
                                      has_variant ? apply_variant : NULL, &v, &m);
    if (st == MGC_ENOMEM) {
      mgc_corpus_free(c);
      return st;
    }
    if (st) {
      c->n_failed++;
      if (log) {
        char line[1200];
        snprintf(line, sizeof line, "warning: skipping %s: %s", t->name, mgc_error_message());
        log(user, line);
      }
      continue;
    }
    int k = c->n_tracks++;
    c->feats[k] = m;
    c->labels[k] = t->label;
    c->src[k] = i;
    if (!(c->names[k] = strdup(t->name))) {
      mgc_corpus_free(c);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
    if (log && ((i + 1) % 10 == 0 || i + 1 == ds->n_tracks)) {
      char line[200];
      snprintf(line, sizeof line, "features%s%s: %d/%d tracks", has_variant ? " " : "",
               has_variant ? variant : "", i + 1, ds->n_tracks);
      log(user, line);
    }
  }
  *out = c;
  return MGC_OK;
}

mgc_status mgc_corpus_subset(const mgc_corpus *c, const int *idx, int n, mgc_corpus **out) {
  *out = NULL;
  mgc_corpus *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->n_classes = c->n_classes;
  s->classes = copy_strings(c->classes, c->n_classes);
  s->labels = calloc((size_t)n + 1, sizeof *s->labels);
  s->names = calloc((size_t)n + 1, sizeof *s->names);
  s->feats = calloc((size_t)n + 1, sizeof *s->feats);
  s->src = calloc((size_t)n + 1, sizeof *s->src);
  if (!s->classes || !s->labels || !s->names || !s->feats || !s->src) {
    mgc_corpus_free(s);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    if (idx[i] < 0 || idx[i] >= c->n_tracks) {
      mgc_corpus_free(s);
      return mgc_error_set(MGC_EINVAL, "track index %d out of range", idx[i]);
    }
    s->labels[i] = c->labels[idx[i]];
    s->feats[i] = c->feats[idx[i]]; /* borrowed: n_failed = -1 below */
    s->src[i] = c->src[idx[i]];
    if (!(s->names[i] = strdup(c->names[idx[i]]))) {
      mgc_corpus_free(s);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
    s->n_tracks++;
  }
  s->n_failed = -1; /* a subset borrows its parent's features */
  *out = s;
  return MGC_OK;
}

mgc_train_set mgc_corpus_train_set(const mgc_corpus *c) {
  mgc_train_set t = {c->n_tracks, c->labels, c->feats};
  return t;
}

void mgc_corpus_free(mgc_corpus *c) {
  if (!c) return;
  int owns = c->n_failed >= 0;
  for (int i = 0; i < c->n_tracks; i++) {
    if (owns && c->feats) mgc_feature_matrix_free(&c->feats[i]);
    if (c->names) free(c->names[i]);
  }
  for (int i = 0; c->classes && i < c->n_classes; i++) free(c->classes[i]);
  free(c->classes);
  free(c->labels);
  free(c->names);
  free(c->feats);
  free(c->src);
  free(c);
}

static mgc_status check_classes(const mgc_corpus *c, const mgc_model *m) {
  if (m->n_classes != c->n_classes)
    return mgc_error_set(MGC_EINVAL, "the model has %d classes, the data %d", m->n_classes,
                         c->n_classes);
  for (int k = 0; k < c->n_classes; k++)
    if (strcmp(m->classes[k], c->classes[k]) != 0)
      return mgc_error_set(MGC_EINVAL, "class %d is '%s' in the model but '%s' in the data", k,
                           m->classes[k], c->classes[k]);
  return MGC_OK;
}

mgc_status mgc_corpus_predict(const mgc_corpus *c, const mgc_model *m, int batch, int win_len,
                              int win_hop, float **probs_out, int **offsets_out) {
  *probs_out = NULL;
  *offsets_out = NULL;
  mgc_status st = check_classes(c, m);
  if (st) return st;
  int *off = calloc((size_t)c->n_tracks + 1, sizeof *off);
  if (!off) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int i = 0; i < c->n_tracks; i++)
    off[i + 1] = off[i] + mgc_track_windows((int)c->feats[i].n_frames, win_len, win_hop);
  mgc_shape si = m->arch->input;
  size_t d = mgc_shape_size(&si);
  float *probs = malloc((size_t)(off[c->n_tracks] + 1) * m->n_classes * sizeof(float));
  size_t dim = c->n_tracks ? c->feats[0].dim : 0;
  float *scratch = malloc(((size_t)batch * d + (size_t)win_len * dim + 1) * sizeof(float));
  mgc_session *s = NULL;
  if (!probs || !scratch) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  if ((st = mgc_session_new(m, batch, &s))) goto done;
  for (int i = 0; i < c->n_tracks; i++)
    if ((st = mgc_predict_track(s, &c->feats[i], win_len, win_hop, scratch,
                                probs + (size_t)off[i] * m->n_classes))) {
      mgc_error_prefix(st, "%s: ", c->names[i]);
      goto done;
    }
  *probs_out = probs;
  *offsets_out = off;
  probs = NULL;
  off = NULL;
done:
  mgc_session_free(s);
  free(off);
  free(probs);
  free(scratch);
  return st;
}

mgc_status mgc_corpus_evaluate(const mgc_corpus *c, const mgc_model *m, int batch, int win_len,
                               int win_hop, mgc_metrics **out) {
  *out = NULL;
  float *probs;
  int *off;
  mgc_status st = mgc_corpus_predict(c, m, batch, win_len, win_hop, &probs, &off);
  if (st) return st;
  mgc_eval_input in = {c->n_classes, (const char *const *)c->classes, c->n_tracks, c->labels,
                       (const char *const *)c->names, off, probs};
  st = mgc_metrics_compute(&in, out);
  free(off);
  free(probs);
  return st;
}
