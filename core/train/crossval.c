/* Cross-validation (mgc/train/crossval.h): the folds, the models trained on the
 * other folds, the out-of-fold predictions, and the --cv-json file written
 * and read back. */
#include "mgc/train/crossval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

mgc_status mgc_cv_holdout(const mgc_dataset *ds, const mgc_corpus *c, const int *idx, int n,
                          double fraction, uint64_t seed, int *tr, int *n_tr, int *va, int *n_va) {
  *n_tr = *n_va = 0;
  int k = (int)lround(1.0 / fraction);
  if (k < 2) k = 2;
  if (k > n) k = n;
  mgc_dataset *sub = NULL;
  int *src = calloc((size_t)n + 1, sizeof *src), *fold = calloc((size_t)n + 1, sizeof *fold);
  if (!src || !fold) {
    free(src);
    free(fold);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  for (int i = 0; i < n; i++) src[i] = c->src[idx[i]];
  mgc_status st = mgc_dataset_subset(ds, src, n, &sub);
  if (!st) st = mgc_dataset_folds(sub, k, seed, fold);
  mgc_dataset_free(sub);
  for (int i = 0; !st && i < n; i++) {
    if (fold[i] == 0) va[(*n_va)++] = idx[i];
    else tr[(*n_tr)++] = idx[i];
  }
  free(src);
  free(fold);
  return st;
}

int mgc_cv_fold_members(const mgc_cv_setup *s, int f, int *out) {
  int n = 0;
  if (s->order) {
    for (int a = 0; a < s->n_order; a++)
      if (s->fold[s->clean->src[s->order[a]]] == f) out[n++] = s->order[a];
  } else {
    for (int i = 0; i < s->clean->n_tracks; i++)
      if (s->fold[s->clean->src[i]] == f) out[n++] = i;
  }
  return n;
}

void mgc_cv_result_free(mgc_cv_result *r) {
  if (!r) return;
  for (int f = 0; r->fold && f < r->folds; f++) mgc_metrics_free(r->fold[f].metrics);
  free(r->fold);
  mgc_metrics_free(r->oof);
  free(r);
}

/* The out-of-fold predictions as they accumulate: window rows per track. */
typedef struct oof_acc {
  float *probs;
  int n, *off, *label;
  const char **name;
} oof_acc;

/* Buffers of one fold. */
typedef struct fold_buf {
  int *test, *rest, *sub, *wins, *tr, *va;
  float **block;
} fold_buf;

static void fold_buf_free(fold_buf *b, int n_test) {
  for (int i = 0; b->block && i < n_test; i++) free(b->block[i]);
  free(b->block);
  free(b->test);
  free(b->rest);
  free(b->sub);
  free(b->wins);
  free(b->tr);
  free(b->va);
}

/* The training tracks of fold f's model for group g: every track of the
 * other folds (of that group, and not in any, with groups). */
static int rest_of(const mgc_cv_setup *s, int f, int g, int *rest) {
  int n_rest = 0;
  for (int i = 0; i < s->clean->n_tracks; i++) {
    int row = s->clean->src[i];
    if (s->fold[row] == f) continue;
    if (s->group && (s->group[row] == s->n_groups || (g < s->n_groups && s->group[row] == g))) continue;
    rest[n_rest++] = i;
  }
  return n_rest;
}

/* Fold f's model for group g (every model's tracks without groups): trained
 * on the rest, its test tracks' windows predicted into b->block. Returns
 * the number of test tracks it decided (0: none in this group). */
static mgc_status group_model(const mgc_cv_setup *s, int f, int g, fold_buf *b, int n_test,
                              mgc_cv_train_fn train, mgc_train_log_fn log, void *user, int *decided,
                              mgc_train_result *res) {
  const int C = s->clean->n_classes;
  int n_sub = 0, n_tr = 0, n_va = 0;
  *decided = 0;
  for (int i = 0; i < n_test; i++)
    if (!s->group || s->group[s->clean->src[b->test[i]]] == g) b->sub[n_sub++] = i;
  if (!n_sub) return MGC_OK;
  int n_rest = rest_of(s, f, g, b->rest);
  mgc_status st = MGC_OK;
  if (s->validation <= 0) {
    memcpy(b->tr, b->rest, (size_t)n_rest * sizeof *b->tr);
    n_tr = n_rest;
  } else if ((st = mgc_cv_holdout(s->ds, s->clean, b->rest, n_rest, s->validation, s->seed + (uint64_t)f + 1, b->tr,
                                  &n_tr, b->va, &n_va))) {
    return mgc_error_prefix(st, "validation split: ");
  }
  if (log) {
    char line[200];
    if (s->group)
      snprintf(line, sizeof line, "fold %d/%d, group %d%s: train %d, validate %d, test %d tracks", f + 1, s->folds,
               g + 1, g == s->n_groups ? " (in no list)" : "", n_tr, n_va, n_sub);
    else
      snprintf(line, sizeof line, "fold %d/%d: train %d, validate %d, test %d tracks", f + 1, s->folds, n_tr, n_va,
               n_test);
    log(user, line);
  }
  for (int i = 0; i < n_sub; i++) b->sub[i] = b->test[b->sub[i]];
  mgc_corpus *vc = NULL, *gc = NULL;
  mgc_model *m = NULL;
  float *gp = NULL;
  int *goff = NULL;
  if (n_va && (st = mgc_corpus_subset(s->clean, b->va, n_va, &vc))) return mgc_error_prefix(st, "validation split: ");
  st = train(user, f, s->group ? g : -1, b->tr, n_tr, vc, &m, res);
  mgc_corpus_free(vc);
  if (st) return mgc_error_prefix(st, "training: ");
  if ((st = mgc_corpus_subset(s->clean, b->sub, n_sub, &gc)) ||
      (st = mgc_corpus_predict(gc, m, 16, s->win_len, s->win_hop, &gp, &goff))) {
    st = mgc_error_prefix(st, "evaluating: ");
  } else {
    for (int i = 0, j = 0; i < n_test && j < n_sub; i++)
      if (b->test[i] == b->sub[j]) {
        b->wins[i] = goff[j + 1] - goff[j];
        b->block[i] = malloc(((size_t)b->wins[i] * C + 1) * sizeof(float));
        if (!b->block[i]) {
          st = mgc_error_set(MGC_ENOMEM, "out of memory");
          break;
        }
        memcpy(b->block[i], gp + (size_t)goff[j] * C, (size_t)b->wins[i] * C * sizeof(float));
        j++;
      }
  }
  *decided = n_sub;
  free(gp);
  free(goff);
  mgc_corpus_free(gc);
  mgc_model_free(m);
  return st;
}

/* Fold f's test tracks, each decided by its group's model, into metrics and
 * the out-of-fold predictions. */
static mgc_status run_fold(const mgc_cv_setup *s, int f, mgc_cv_train_fn train, mgc_train_log_fn log, void *user,
                           oof_acc *oof, mgc_cv_fold *out) {
  const int n = s->clean->n_tracks, C = s->clean->n_classes;
  fold_buf b = {0};
  b.test = malloc((size_t)n * sizeof *b.test);
  b.rest = malloc((size_t)n * sizeof *b.rest);
  b.sub = malloc((size_t)n * sizeof *b.sub);
  b.tr = malloc((size_t)n * sizeof *b.tr);
  b.va = malloc((size_t)n * sizeof *b.va);
  b.wins = calloc((size_t)n + 1, sizeof *b.wins);
  b.block = calloc((size_t)n + 1, sizeof *b.block);
  int n_test = 0;
  mgc_status st = MGC_OK;
  if (!b.test || !b.rest || !b.sub || !b.tr || !b.va || !b.wins || !b.block) {
    fold_buf_free(&b, 0);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  n_test = mgc_cv_fold_members(s, f, b.test);
  int most = 0;
  double seconds = 0;
  for (int g = 0; !st && g <= s->n_groups; g++) {
    int decided;
    mgc_train_result gres = {0};
    st = group_model(s, f, g, &b, n_test, train, log, user, &decided, &gres);
    if (decided > most) most = decided, out->best_epoch = gres.best_epoch;
    seconds += gres.seconds;
    if (!s->group) break;
  }
  out->seconds = seconds;
  out->n_test = n_test;
  int *off = st ? NULL : malloc(((size_t)n_test + 1) * sizeof *off);
  float *probs = NULL;
  mgc_corpus *tc = NULL;
  if (!st && !off) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) {
    off[0] = 0;
    for (int i = 0; i < n_test; i++) off[i + 1] = off[i] + b.wins[i];
    probs = malloc(((size_t)off[n_test] * C + 1) * sizeof *probs);
    if (!probs) st = mgc_error_set(MGC_ENOMEM, "out of memory");
    for (int i = 0; !st && i < n_test; i++)
      memcpy(probs + (size_t)off[i] * C, b.block[i], (size_t)b.wins[i] * C * sizeof(float));
  }
  if (!st && (st = mgc_corpus_subset(s->clean, b.test, n_test, &tc))) st = mgc_error_prefix(st, "evaluating: ");
  if (!st) {
    mgc_eval_input in = {tc->n_classes, (const char *const *)tc->classes, tc->n_tracks, tc->labels,
                         (const char *const *)tc->names, off, probs};
    if ((st = mgc_metrics_compute(&in, &out->metrics))) st = mgc_error_prefix(st, "evaluating: ");
  }
  if (!st) {
    float *grown = realloc(oof->probs, ((size_t)(oof->off[oof->n] + off[n_test]) * C + 1) * sizeof(float));
    if (!grown) st = mgc_error_set(MGC_ENOMEM, "out of memory");
    else {
      oof->probs = grown;
      memcpy(oof->probs + (size_t)oof->off[oof->n] * C, probs, (size_t)off[n_test] * C * sizeof(float));
      for (int i = 0; i < n_test; i++) {
        oof->label[oof->n] = tc->labels[i];
        oof->name[oof->n] = s->clean->names[b.test[i]];
        oof->off[oof->n + 1] = oof->off[oof->n] + off[i + 1] - off[i];
        oof->n++;
      }
    }
  }
  mgc_corpus_free(tc);
  free(probs);
  free(off);
  fold_buf_free(&b, n_test);
  return st;
}

mgc_status mgc_cv_run(const mgc_cv_setup *s, mgc_cv_train_fn train, mgc_train_log_fn log,
                      int (*on_fold)(void *user, int fold, const mgc_cv_fold *r), void *user,
                      mgc_cv_result **out) {
  *out = NULL;
  const int K = s->folds, n = s->clean->n_tracks;
  if (K < 2 || K > n)
    return mgc_error_set(MGC_EINVAL, "%d folds for %d tracks", K, n);
  mgc_cv_result *r = calloc(1, sizeof *r);
  oof_acc oof = {0};
  oof.off = calloc((size_t)n + 1, sizeof *oof.off);
  oof.label = calloc((size_t)n + 1, sizeof *oof.label);
  oof.name = calloc((size_t)n + 1, sizeof *oof.name);
  double *acc = calloc((size_t)K, sizeof *acc), *vote = calloc((size_t)K, sizeof *vote);
  double *wacc = calloc((size_t)K, sizeof *wacc), *f1 = calloc((size_t)K, sizeof *f1);
  mgc_status st = MGC_OK;
  if (!r || !(r->fold = calloc((size_t)K, sizeof *r->fold)) || !oof.off || !oof.label || !oof.name || !acc ||
      !vote || !wacc || !f1)
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (r) r->folds = K;
  for (int f = 0; !st && f < K; f++) {
    if ((st = run_fold(s, f, train, log, user, &oof, &r->fold[f]))) break;
    const mgc_metrics *mt = r->fold[f].metrics;
    acc[f] = mt->track_acc, vote[f] = mt->track_acc_vote, wacc[f] = mt->window_acc, f1[f] = mt->macro_f1;
    if (on_fold && on_fold(user, f, &r->fold[f])) st = mgc_error_set(MGC_ESTATE, "cross-validation stopped");
  }
  if (!st) {
    mgc_metrics_mean_std(acc, K, &r->acc_mean, &r->acc_std);
    mgc_metrics_mean_std(vote, K, &r->vote_mean, &r->vote_std);
    mgc_metrics_mean_std(wacc, K, &r->wacc_mean, &r->wacc_std);
    mgc_metrics_mean_std(f1, K, &r->f1_mean, &r->f1_std);
    mgc_eval_input in = {s->clean->n_classes, (const char *const *)s->clean->classes, oof.n, oof.label, oof.name,
                         oof.off, oof.probs};
    if ((st = mgc_metrics_compute(&in, &r->oof))) st = mgc_error_prefix(st, "out-of-fold metrics: ");
  }
  free(oof.probs);
  free(oof.off);
  free(oof.label);
  free(oof.name);
  free(acc);
  free(vote);
  free(wacc);
  free(f1);
  if (st) {
    mgc_cv_result_free(r);
    return st;
  }
  *out = r;
  return MGC_OK;
}

/* ---- writing the file ---- */

/* A metrics object as JSON (mgc_metrics_to_json's text, parsed). */
static json_t *metrics_json(const mgc_metrics *m) {
  char *text = mgc_metrics_to_json(m);
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  return j;
}

static mgc_status dump(json_t *root, const char *path) {
  if (!root) return mgc_error_set(MGC_ENOMEM, "out of memory");
  int rc = !strcmp(path, "-") ? json_dumpf(root, stdout, JSON_REAL_PRECISION(9))
                              : json_dump_file(root, path, JSON_REAL_PRECISION(9));
  if (!strcmp(path, "-")) fputc('\n', stdout);
  json_decref(root);
  return rc ? mgc_error_set(MGC_EIO, "%s: cannot write", path) : MGC_OK;
}

/* json_object_set_new that turns a failed value into a failed object. */
static int put(json_t *o, const char *key, json_t *v) { return !v || json_object_set_new(o, key, v); }

mgc_status mgc_cv_write(const mgc_cv_result *r, const char *path) {
  json_t *root = json_object(), *results = json_array();
  int bad = !root || !results;
  for (int f = 0; !bad && f < r->folds; f++) {
    json_t *o = json_object();
    bad = !o || put(o, "fold", json_integer(f + 1)) || put(o, "best_epoch", json_integer(r->fold[f].best_epoch)) ||
          put(o, "seconds", json_real(round(r->fold[f].seconds * 10) / 10)) ||
          put(o, "metrics", metrics_json(r->fold[f].metrics)) || json_array_append_new(results, o);
  }
  bad = bad || put(root, "folds", json_integer(r->folds)) || put(root, "results", json_incref(results)) ||
        put(root, "out_of_fold", metrics_json(r->oof)) || put(root, "track_acc_mean", json_real(r->acc_mean)) ||
        put(root, "track_acc_std", json_real(r->acc_std)) || put(root, "track_acc_vote_mean", json_real(r->vote_mean)) ||
        put(root, "window_acc_mean", json_real(r->wacc_mean)) || put(root, "window_acc_std", json_real(r->wacc_std)) ||
        put(root, "macro_f1_mean", json_real(r->f1_mean)) || put(root, "macro_f1_std", json_real(r->f1_std));
  json_decref(results);
  if (bad) {
    json_decref(root);
    return mgc_error_set(MGC_ENOMEM, "%s: out of memory", path);
  }
  return dump(root, path);
}

mgc_status mgc_cv_write_folds(const mgc_cv_setup *s, const char *path) {
  json_t *root = json_object(), *results = json_array();
  int *members = malloc(((size_t)s->clean->n_tracks + 1) * sizeof *members);
  int bad = !root || !results || !members;
  for (int f = 0; !bad && f < s->folds; f++) {
    json_t *o = json_object(), *m = json_object(), *tracks = json_array();
    bad = !o || !m || !tracks;
    int nk = bad ? 0 : mgc_cv_fold_members(s, f, members);
    for (int i = 0; !bad && i < nk; i++) {
      json_t *t = json_object();
      bad = !t || put(t, "name", json_string(s->clean->names[members[i]])) || json_array_append_new(tracks, t);
    }
    bad = bad || put(m, "tracks", json_incref(tracks)) || put(o, "fold", json_integer(f + 1)) ||
          put(o, "metrics", json_incref(m)) || json_array_append(results, o);
    json_decref(tracks);
    json_decref(m);
    json_decref(o);
  }
  free(members);
  bad = bad || put(root, "folds", json_integer(s->folds)) || put(root, "dry_run", json_true()) ||
        put(root, "results", json_incref(results));
  json_decref(results);
  if (bad) {
    json_decref(root);
    return mgc_error_set(MGC_ENOMEM, "%s: out of memory", path);
  }
  return dump(root, path);
}

/* ---- reading the file ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }


void mgc_cv_free(mgc_cv_set *s) {
  if (!s) return;
  for (int c = 0; s->classes && c < s->n_classes; c++) free(s->classes[c]);
  for (int t = 0; s->names && t < s->n_tracks; t++) free(s->names[t]);
  free(s->classes);
  free(s->names);
  free(s->labels);
  free(s->fold);
  free(s->probs);
  free(s);
}

static json_t *fold_metrics(json_t *res, size_t k) {
  return json_object_get(json_array_get(res, k), "metrics");
}

static mgc_status read_classes(const char *path, json_t *res, mgc_cv_set *s) {
  json_t *cl = json_object_get(fold_metrics(res, 0), "classes");
  if (!json_is_array(cl) || json_array_size(cl) < 2)
    return mgc_error_set(MGC_EFORMAT, "%s: fold 1 lists no classes", path);
  s->n_classes = (int)json_array_size(cl);
  if (!(s->classes = calloc((size_t)s->n_classes, sizeof *s->classes)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int c = 0; c < s->n_classes; c++) {
    const char *name = json_string_value(json_array_get(cl, (size_t)c));
    if (!name) return mgc_error_set(MGC_EFORMAT, "%s: class %d is not a name", path, c + 1);
    if (!(s->classes[c] = strdup(name))) return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  for (size_t k = 1; k < json_array_size(res); k++)
    if (!json_equal(cl, json_object_get(fold_metrics(res, k), "classes")))
      return mgc_error_set(MGC_EFORMAT, "%s: fold %zu lists other classes than fold 1", path,
                           k + 1);
  return MGC_OK;
}

static mgc_status read_track(const char *path, json_t *tr, int kfold, mgc_cv_set *s, int t) {
  const int C = s->n_classes;
  const char *name = json_string_value(json_object_get(tr, "name"));
  if (!name || !*name)
    return mgc_error_set(MGC_EFORMAT, "%s: fold %d: a track has no name", path, kfold + 1);
  if (!(s->names[t] = strdup(name))) return mgc_error_set(MGC_ENOMEM, "out of memory");
  const char *label = json_string_value(json_object_get(tr, "true"));
  s->labels[t] = -1;
  for (int c = 0; label && c < C; c++)
    if (!strcmp(label, s->classes[c])) s->labels[t] = c;
  if (s->labels[t] < 0)
    return mgc_error_set(MGC_EFORMAT, "%s: track '%s': its true class '%s' is not a class", path,
                         name, label ? label : "(none)");
  json_t *p = json_object_get(tr, "probabilities");
  if (!json_is_array(p) || json_array_size(p) != (size_t)C)
    return mgc_error_set(MGC_EFORMAT, "%s: track '%s' has no list of %d probabilities", path,
                         name, C);
  double sum = 0, v[1024];
  if (C > 1024) return mgc_error_set(MGC_EFORMAT, "%s: too many classes", path);
  for (int c = 0; c < C; c++) {
    json_t *x = json_array_get(p, (size_t)c);
    v[c] = json_is_number(x) ? json_number_value(x) : NAN;
    if (!isfinite(v[c]) || v[c] < 0)
      return mgc_error_set(MGC_EFORMAT, "%s: track '%s': probability %d is not a number >= 0",
                           path, name, c + 1);
    sum += v[c];
  }
  if (fabs(sum - 1) > 1e-3)
    return mgc_error_set(MGC_EFORMAT, "%s: track '%s': probabilities sum to %g, not 1", path,
                         name, sum);
  for (int c = 0; c < C; c++) s->probs[(size_t)t * C + c] = (float)(v[c] / sum);
  s->fold[t] = kfold;
  return MGC_OK;
}

static mgc_status cv_parse(const char *path, json_t *root, mgc_cv_set *s) {
  if (json_is_true(json_object_get(root, "dry_run")))
    return mgc_error_set(MGC_EFORMAT,
                         "%s: a --dry-run file (the folds only, no predictions to combine)", path);
  json_t *folds = json_object_get(root, "folds"), *res = json_object_get(root, "results");
  if (!json_is_integer(folds) || json_integer_value(folds) < 2 ||
      json_integer_value(folds) > 1000)
    return mgc_error_set(MGC_EFORMAT,
                         "%s: not a cross-validation file of mgc-train --folds K --cv-json (no "
                         "'folds')",
                         path);
  const int K = (int)json_integer_value(folds);
  if (!json_is_array(res) || json_array_size(res) != (size_t)K)
    return mgc_error_set(MGC_EFORMAT, "%s: 'results' must hold the %d folds", path, K);
  s->n_folds = K;
  mgc_status st = read_classes(path, res, s);
  if (st) return st;
  size_t total = 0;
  for (int k = 0; k < K; k++) {
    json_t *tr = json_object_get(fold_metrics(res, (size_t)k), "tracks");
    if (!json_is_array(tr) || !json_array_size(tr))
      return mgc_error_set(MGC_EFORMAT, "%s: result %d lists no tracks", path, k + 1);
    total += json_array_size(tr);
  }
  s->names = calloc(total, sizeof *s->names);
  s->labels = calloc(total, sizeof *s->labels);
  s->fold = calloc(total, sizeof *s->fold);
  s->probs = calloc(total * (size_t)s->n_classes, sizeof *s->probs);
  if (!s->names || !s->labels || !s->fold || !s->probs)
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  int seen[1001] = {0}, t = 0;
  for (int k = 0; k < K; k++) {
    json_t *r = json_array_get(res, (size_t)k), *fno = json_object_get(r, "fold");
    int f = json_is_integer(fno) ? (int)json_integer_value(fno) - 1 : k;
    if (f < 0 || f >= K || seen[f]++)
      return mgc_error_set(MGC_EFORMAT, "%s: result %d: fold number %d is out of range or repeated",
                           path, k + 1, f + 1);
    json_t *tr = json_object_get(fold_metrics(res, (size_t)k), "tracks");
    for (size_t i = 0; i < json_array_size(tr); i++, t++) {
      s->n_tracks = t + 1; /* names[0..t] are freed by mgc_cv_free */
      if ((st = read_track(path, json_array_get(tr, i), f, s, t))) return st;
    }
  }
  const char **v = malloc((size_t)s->n_tracks * sizeof *v);
  if (!v) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int i = 0; i < s->n_tracks; i++) v[i] = s->names[i];
  qsort(v, (size_t)s->n_tracks, sizeof *v, cmp_str);
  for (int i = 1; i < s->n_tracks && !st; i++)
    if (!strcmp(v[i], v[i - 1])) st = mgc_error_set(MGC_EFORMAT, "%s: track '%s' appears twice", path, v[i]);
  free(v);
  return st;
}

mgc_status mgc_cv_load(const char *path, mgc_cv_set **out) {
  *out = NULL;
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) {
    if (err.line < 1) return mgc_error_set(MGC_EIO, "%s", err.text);
    return mgc_error_set(MGC_EFORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
  }
  mgc_cv_set *s = calloc(1, sizeof *s);
  mgc_status st = s ? cv_parse(path, root, s) : mgc_error_set(MGC_ENOMEM, "out of memory");
  json_decref(root);
  if (st) {
    mgc_cv_free(s);
    return st;
  }
  *out = s;
  return MGC_OK;
}

