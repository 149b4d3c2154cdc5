/* An ensemble measured from its members' cross-validation results: every
 * member alone and every rule on the same tracks and folds (ensemble.h). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/train/crossval.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/train/ensemble_eval.h"
#include "mgc/train/metrics.h"

/* ---- looking tracks up by name ---- */

typedef struct named {
  const char *name;
  int idx;
} named;

static int cmp_named(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* The tracks of s sorted by name (for lookups); NULL when out of memory. */
static named *sorted_names(const mgc_cv_set *s) {
  named *v = malloc((size_t)s->n_tracks * sizeof *v);
  if (!v) return NULL;
  for (int t = 0; t < s->n_tracks; t++) v[t] = (named){s->names[t], t};
  qsort(v, (size_t)s->n_tracks, sizeof *v, cmp_named);
  return v;
}

static int find_name(const named *v, int n, const char *name) {
  named key = {name, -1};
  const named *hit = bsearch(&key, v, (size_t)n, sizeof *v, cmp_named);
  return hit ? hit->idx : -1;
}

/* ---- the members' predictions, aligned on the same tracks ---- */

typedef struct aligned {
  int n, M, C, K;
  float *probs;       /* [n][M][C] in member 0's track order */
  int *labels, *fold; /* member 0's */
  mgc_cv_set **sets;  /* [M] */
} aligned;

static void aligned_free(aligned *a) {
  for (int m = 0; a->sets && m < a->M; m++) mgc_cv_free(a->sets[m]);
  free(a->sets);
  free(a->probs);
}

/* "member 'crnn' (models/results/cv5.json)" */
static const char *who(const mgc_ensemble *e, int m, char *buf, size_t cap) {
  snprintf(buf, cap, "member '%s' (%s)", e->members[m].name, e->members[m].cv_path);
  return buf;
}

static mgc_status check_against(const mgc_ensemble *e, const aligned *a, int m,
                                const named *idx0, const named *idxm) {
  const mgc_cv_set *s0 = a->sets[0], *s = a->sets[m];
  char w0[600], wm[600];
  who(e, 0, w0, sizeof w0);
  who(e, m, wm, sizeof wm);
  if (s->n_folds != s0->n_folds)
    return mgc_error_set(MGC_EINVAL, "%s has %d folds, %s has %d: the members must be "
                         "cross-validated on the same folds", wm, s->n_folds, w0, s0->n_folds);
  if (s->n_classes != s0->n_classes)
    return mgc_error_set(MGC_EINVAL, "%s has %d classes, %s has %d", wm, s->n_classes, w0,
                         s0->n_classes);
  for (int c = 0; c < s->n_classes; c++)
    if (strcmp(s->classes[c], s0->classes[c]))
      return mgc_error_set(MGC_EINVAL, "class %d is '%s' for %s but '%s' for %s", c + 1,
                           s->classes[c], wm, s0->classes[c], w0);
  for (int t = 0; t < s0->n_tracks; t++)
    if (find_name(idxm, s->n_tracks, s0->names[t]) < 0)
      return mgc_error_set(MGC_EINVAL, "track '%s' of %s is missing from %s", s0->names[t], w0,
                           wm);
  for (int t = 0; t < s->n_tracks; t++)
    if (find_name(idx0, s0->n_tracks, s->names[t]) < 0)
      return mgc_error_set(MGC_EINVAL, "track '%s' of %s is missing from %s", s->names[t], wm,
                           w0);
  for (int t = 0; t < s0->n_tracks; t++) {
    int u = find_name(idxm, s->n_tracks, s0->names[t]);
    if (s->fold[u] != s0->fold[t])
      return mgc_error_set(MGC_EINVAL,
                           "track '%s' is in fold %d for %s but in fold %d for %s: the members "
                           "must be cross-validated on the same folds (same --folds K and "
                           "recipe seed)",
                           s0->names[t], s0->fold[t] + 1, w0, s->fold[u] + 1, wm);
    if (s->labels[u] != s0->labels[t])
      return mgc_error_set(MGC_EINVAL, "track '%s' is labelled '%s' by %s but '%s' by %s",
                           s0->names[t], s0->classes[s0->labels[t]], w0,
                           s->classes[s->labels[u]], wm);
  }
  return MGC_OK;
}

static mgc_status gather(const mgc_ensemble *e, aligned *a) {
  memset(a, 0, sizeof *a);
  const int M = e->n_members;
  if (M < 1) return mgc_error_set(MGC_EINVAL, "%s: no members", e->origin);
  for (int m = 0; m < M; m++)
    if (!e->members[m].cv_path)
      return mgc_error_set(MGC_EINVAL,
                           "%s:%d:%d: member '%s' has no 'cv' file (its mgc-train --folds K "
                           "--cv-json output)",
                           e->origin, e->members[m].line, e->members[m].col, e->members[m].name);
  if (!(a->sets = calloc((size_t)M, sizeof *a->sets)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  a->M = M;
  for (int m = 0; m < M; m++) {
    mgc_status st = mgc_cv_load(e->members[m].cv_path, &a->sets[m]);
    if (st) {
      aligned_free(a);
      return mgc_error_prefix(st, "member '%s': ", e->members[m].name);
    }
  }
  const mgc_cv_set *s0 = a->sets[0];
  a->n = s0->n_tracks;
  a->C = s0->n_classes;
  a->K = s0->n_folds;
  a->labels = s0->labels;
  a->fold = s0->fold;
  mgc_status st = MGC_OK;
  if (e->classes) {
    int same = e->n_classes == a->C;
    for (int c = 0; same && c < a->C; c++) same = !strcmp(e->classes[c], s0->classes[c]);
    if (!same)
      st = mgc_error_set(MGC_EINVAL, "%s: 'classes' differ from the classes of %s's cv file",
                         e->origin, e->members[0].name);
  }
  named *idx0 = sorted_names(s0);
  a->probs = malloc((size_t)a->n * M * a->C * sizeof *a->probs);
  if (!st && (!idx0 || !a->probs)) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int m = 0; !st && m < M; m++) {
    named *idxm = m ? sorted_names(a->sets[m]) : idx0;
    if (!idxm) st = mgc_error_set(MGC_ENOMEM, "out of memory");
    if (!st && m) st = check_against(e, a, m, idx0, idxm);
    for (int t = 0; !st && t < a->n; t++) {
      int u = find_name(idxm, a->sets[m]->n_tracks, s0->names[t]);
      memcpy(a->probs + ((size_t)t * M + m) * a->C, a->sets[m]->probs + (size_t)u * a->C,
             (size_t)a->C * sizeof *a->probs);
    }
    if (m) free(idxm);
  }
  free(idx0);
  if (st) aligned_free(a);
  return st;
}

/* ---- the table ---- */

void mgc_ens_scores_free(mgc_ens_scores *t) {
  if (!t) return;
  for (int r = 0; t->rows && r < t->n_rows; r++) {
    free(t->rows[r].acc);
    free(t->rows[r].f1);
    free(t->rows[r].nll);
    free(t->rows[r].temp);
    free(t->rows[r].nll_cal);
    free(t->rows[r].oof);
    free(t->rows[r].oof_cal);
  }
  free(t->labels);
  for (int c = 0; t->classes && c < t->n_classes; c++) free(t->classes[c]);
  free(t->classes);
  free(t->rows);
  free(t->fold_tracks);
  free(t->fold_weights);
  free(t->fold_l2);
  free(t->origin);
  free(t);
}

/* Accuracy and macro-F1 (metrics.h's definitions) and mean NLL of nt
 * track distributions. */
static mgc_status score(const aligned *a, const float *probs, const int *labels, int nt,
                        int *off, double *acc, double *f1, double *nll, double *ece) {
  for (int i = 0; i <= nt; i++) off[i] = i;
  mgc_eval_input in = {a->C, (const char *const *)a->sets[0]->classes, nt, labels, NULL, off,
                       probs};
  mgc_metrics *mt;
  mgc_status st = mgc_metrics_compute(&in, &mt);
  if (st) return st;
  *acc = mt->track_acc;
  *f1 = mt->macro_f1;
  if (ece) *ece = mt->ece;
  mgc_metrics_free(mt);
  double s = 0;
  for (int i = 0; i < nt; i++)
    s -= log(fmax((double)probs[(size_t)i * a->C + labels[i]], MGC_COMB_FLOOR));
  *nll = s / nt;
  return MGC_OK;
}

/* Row a better than row b: higher mean accuracy, then higher mean macro-F1
 * (not NLL: agree's and vote's distributions are constructions, and vote's
 * sharpening would win every tie); the caller keeps the earlier row on a
 * full tie (the simpler rule). */
static int better(const mgc_ens_row *a, const mgc_ens_row *b) {
  if (fabs(a->acc_mean - b->acc_mean) > 1e-12) return a->acc_mean > b->acc_mean;
  return a->f1_mean > b->f1_mean + 1e-12;
}

/* A row's distributions on fold k's tracks (out, tracks te), into its
 * out-of-fold rows. */
static void keep_oof(mgc_ens_row *row, const float *out, const int *te, int nt, int C) {
  for (int i = 0; i < nt; i++)
    memcpy(row->oof + (size_t)te[i] * C, out + (size_t)i * C, (size_t)C * sizeof *row->oof);
}

/* Out-of-fold calibration: each fold's distributions p [n][C] scaled by the
 * temperature fitted on the other folds' (temps[k], NULL if unwanted) into
 * cal. */
static mgc_status oof_temperature(const float *p, const int *labels, const int *fold, int n,
                                  int K, int C, float *cal, double *temps) {
  float *rest = malloc((size_t)n * C * sizeof *rest);
  int *rl = malloc((size_t)n * sizeof *rl);
  mgc_status st = rest && rl ? MGC_OK : mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int k = 0; !st && k < K; k++) {
    int nr = 0;
    for (int i = 0; i < n; i++)
      if (fold[i] != k) {
        memcpy(rest + (size_t)nr * C, p + (size_t)i * C, (size_t)C * sizeof *rest);
        rl[nr++] = labels[i];
      }
    double T = 1;
    if (nr && (st = mgc_temperature_fit(rest, rl, nr, C, &T))) break;
    if (temps) temps[k] = T;
    for (int i = 0; i < n; i++)
      if (fold[i] == k) {
        memcpy(cal + (size_t)i * C, p + (size_t)i * C, (size_t)C * sizeof *cal);
        mgc_temperature_apply(cal + (size_t)i * C, C, T);
      }
  }
  free(rest);
  free(rl);
  return st;
}

static mgc_status evaluate_folds(const aligned *a, mgc_ens_scores *t) {
  const int n = a->n, M = a->M, C = a->C, K = a->K;
  const size_t MC = (size_t)M * C;
  int *te = malloc((size_t)n * sizeof *te), *tl = malloc((size_t)n * sizeof *tl);
  int *rl = malloc((size_t)n * sizeof *rl), *rg = malloc((size_t)n * sizeof *rg);
  int *off = malloc(((size_t)n + 1) * sizeof *off);
  float *rp = malloc((size_t)n * MC * sizeof *rp), *out = malloc((size_t)n * C * sizeof *out);
  double *coef = malloc((size_t)C * MC * sizeof *coef), *icpt = malloc((size_t)C * sizeof *icpt);
  mgc_status st = MGC_OK;
  if (!te || !tl || !rl || !rg || !off || !rp || !out || !coef || !icpt)
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int k = 0; !st && k < K; k++) {
    int nt = 0, nr = 0;
    for (int i = 0; i < n; i++) {
      if (a->fold[i] == k) {
        te[nt] = i;
        tl[nt++] = a->labels[i];
      } else {
        memcpy(rp + (size_t)nr * MC, a->probs + (size_t)i * MC, MC * sizeof *rp);
        rl[nr] = a->labels[i];
        rg[nr++] = a->fold[i];
      }
    }
    t->fold_tracks[k] = nt;
    if (!nt) {
      st = mgc_error_set(MGC_EINVAL, "fold %d has no tracks", k + 1);
      break;
    }
    /* Members alone. */
    int r = 0;
    for (int m = 0; !st && m < M; m++, r++) {
      for (int i = 0; i < nt; i++)
        memcpy(out + (size_t)i * C, a->probs + (size_t)te[i] * MC + (size_t)m * C,
               (size_t)C * sizeof *out);
      st = score(a, out, tl, nt, off, &t->rows[r].acc[k], &t->rows[r].f1[k], &t->rows[r].nll[k],
                 NULL);
      keep_oof(&t->rows[r], out, te, nt, C);
    }
    /* The parameters of weighted and stack, from the other folds only. */
    double *w = t->fold_weights + (size_t)k * M;
    mgc_comb_data rd = {nr, M, C, rp, rl};
    if (!st) st = mgc_comb_fit_weights(&rd, w, NULL);
    if (!st) st = mgc_comb_fit_stack_cv(&rd, rg, K, &t->fold_l2[k], coef, icpt, NULL);
    for (int rule = 0; !st && rule < MGC_COMB_N_RULES; rule++, r++) {
      mgc_combiner c = {(mgc_comb_rule)rule, M, C, w, coef, icpt, 0};
      if ((st = mgc_combiner_check(&c))) break;
      for (int i = 0; i < nt; i++)
        mgc_combine(&c, a->probs + (size_t)te[i] * MC, out + (size_t)i * C);
      st = score(a, out, tl, nt, off, &t->rows[r].acc[k], &t->rows[r].f1[k], &t->rows[r].nll[k],
                 NULL);
      keep_oof(&t->rows[r], out, te, nt, C);
    }
    if (st) break;
    /* Oracle: any member right. */
    int right = 0;
    for (int i = 0; i < nt; i++) {
      int any = 0;
      for (int m = 0; m < M && !any; m++)
        any = mgc_argmax(a->probs + (size_t)te[i] * MC + (size_t)m * C, C) == tl[i];
      right += any;
    }
    t->rows[r].acc[k] = (double)right / nt;
    t->rows[r].f1[k] = t->rows[r].nll[k] = NAN;
  }
  free(te);
  free(tl);
  free(rl);
  free(rg);
  free(off);
  free(rp);
  free(out);
  free(coef);
  free(icpt);
  return st;
}

/* Every row's out-of-fold distributions calibrated (each fold by the
 * temperature fitted on the other folds' tracks), the folds' calibrated NLL,
 * and ECE over every out-of-fold track before and after. */
static mgc_status calibrate_rows(const aligned *a, mgc_ens_scores *t) {
  const int n = a->n, C = a->C, K = t->n_folds;
  int *off = malloc(((size_t)n + 1) * sizeof *off);
  if (!off) return mgc_error_set(MGC_ENOMEM, "out of memory");
  mgc_status st = MGC_OK;
  for (int r = 0; !st && r < t->n_rows; r++) {
    mgc_ens_row *row = &t->rows[r];
    double acc, f1, nll;
    if (row->kind == MGC_ENS_ROW_ORACLE) {
      row->ece = row->ece_cal = row->temp_mean = NAN;
      for (int k = 0; k < K; k++) row->temp[k] = row->nll_cal[k] = NAN;
      continue;
    }
    st = oof_temperature(row->oof, t->labels, a->fold, n, K, C, row->oof_cal, row->temp);
    for (int k = 0; !st && k < K; k++) {
      double sum = 0;
      int nk = 0;
      for (int i = 0; i < n; i++)
        if (a->fold[i] == k) {
          sum -= log(fmax((double)row->oof_cal[(size_t)i * C + t->labels[i]], MGC_COMB_FLOOR));
          nk++;
        }
      row->nll_cal[k] = nk ? sum / nk : NAN;
    }
    if (!st) st = score(a, row->oof, t->labels, n, off, &acc, &f1, &nll, &row->ece);
    if (!st) st = score(a, row->oof_cal, t->labels, n, off, &acc, &f1, &nll, &row->ece_cal);
  }
  free(off);
  return st;
}

mgc_status mgc_ensemble_evaluate(const mgc_ensemble *e, mgc_ens_scores **out) {
  *out = NULL;
  aligned a;
  mgc_status st = gather(e, &a);
  if (st) return st;
  const int M = a.M, K = a.K;
  mgc_ens_scores *t = calloc(1, sizeof *t);
  if (!t) {
    aligned_free(&a);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  t->n_folds = K;
  t->n_tracks = a.n;
  t->n_members = M;
  t->n_rows = M + MGC_COMB_N_RULES + 1;
  t->origin = strdup(e->origin);
  t->classes = calloc((size_t)a.C, sizeof *t->classes);
  t->rows = calloc((size_t)t->n_rows, sizeof *t->rows);
  t->fold_tracks = calloc((size_t)K, sizeof *t->fold_tracks);
  t->fold_weights = calloc((size_t)K * M, sizeof *t->fold_weights);
  t->fold_l2 = calloc((size_t)K, sizeof *t->fold_l2);
  t->labels = malloc((size_t)a.n * sizeof *t->labels);
  int ok = t->origin && t->classes && t->rows && t->fold_tracks && t->fold_weights && t->fold_l2 &&
           t->labels;
  if (ok) memcpy(t->labels, a.labels, (size_t)a.n * sizeof *t->labels);
  if (ok) t->n_classes = a.C;
  for (int c = 0; ok && c < a.C; c++) ok = (t->classes[c] = strdup(a.sets[0]->classes[c])) != NULL;
  for (int r = 0; ok && r < t->n_rows; r++) {
    mgc_ens_row *row = &t->rows[r];
    row->acc = calloc((size_t)K, sizeof *row->acc);
    row->f1 = calloc((size_t)K, sizeof *row->f1);
    row->nll = calloc((size_t)K, sizeof *row->nll);
    row->temp = calloc((size_t)K, sizeof *row->temp);
    row->nll_cal = calloc((size_t)K, sizeof *row->nll_cal);
    row->oof = calloc((size_t)a.n * a.C, sizeof *row->oof);
    row->oof_cal = calloc((size_t)a.n * a.C, sizeof *row->oof_cal);
    ok = row->acc && row->f1 && row->nll && row->temp && row->nll_cal && row->oof && row->oof_cal;
    if (r < M) {
      row->kind = MGC_ENS_ROW_MEMBER;
      row->index = r;
      snprintf(row->name, sizeof row->name, "%s", e->members[r].name);
    } else if (r < M + MGC_COMB_N_RULES) {
      row->kind = MGC_ENS_ROW_RULE;
      row->index = r - M;
      snprintf(row->name, sizeof row->name, "%s", mgc_comb_rule_name((mgc_comb_rule)(r - M)));
    } else {
      row->kind = MGC_ENS_ROW_ORACLE;
      row->index = -1;
      snprintf(row->name, sizeof row->name, "oracle: any member right");
    }
  }
  st = ok ? evaluate_folds(&a, t) : mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) st = calibrate_rows(&a, t);
  aligned_free(&a);
  if (st) {
    mgc_ens_scores_free(t);
    return st;
  }
  for (int r = 0; r < t->n_rows; r++) {
    mgc_ens_row *row = &t->rows[r];
    mgc_metrics_mean_std(row->acc, K, &row->acc_mean, &row->acc_std);
    mgc_metrics_mean_std(row->f1, K, &row->f1_mean, &row->f1_std);
    mgc_metrics_mean_std(row->nll, K, &row->nll_mean, &row->nll_std);
    mgc_metrics_mean_std(row->nll_cal, K, &row->nll_cal_mean, &row->nll_cal_std);
    double sd;
    mgc_metrics_mean_std(row->temp, K, &row->temp_mean, &sd);
  }
  t->best_member = 0;
  for (int m = 1; m < M; m++)
    if (better(&t->rows[m], &t->rows[t->best_member])) t->best_member = m;
  t->best_rule = 0;
  for (int r = 1; r < MGC_COMB_N_RULES; r++)
    if (better(&t->rows[M + r], &t->rows[M + t->best_rule])) t->best_rule = r;
  *out = t;
  return MGC_OK;
}

void mgc_ens_scores_print(const mgc_ens_scores *t, FILE *f) {
  const int K = t->n_folds, M = t->n_members;
  fprintf(f, "ensemble %s: %d member%s, %d-fold cross-validation, %d tracks, %d classes\n",
          t->origin, M, M == 1 ? "" : "s", K, t->n_tracks, t->n_classes);
  fprintf(f,
          "protocol: track level, out of fold (each track decided by the fold models that never "
          "saw it;\n  a member's track probabilities are the mean of its window probabilities); "
          "weighted and\n  stack fitted on the other folds' tracks only; mean +- sample std over "
          "the %d folds;\n  calibrated: each row's temperature fitted on the other folds' "
          "tracks (T: mean over\n  folds), ECE (15 bins) over all out-of-fold tracks\n\n",
          K);
  fprintf(f, "%-30s %17s %9s %8s   %s\n", "", "track accuracy", "macro F1", "NLL",
          "calibrated: T     NLL    ECE before -> after");
  for (int r = 0; r < t->n_rows; r++) {
    const mgc_ens_row *row = &t->rows[r];
    char label[120];
    if (row->kind == MGC_ENS_ROW_MEMBER) snprintf(label, sizeof label, "member %s", row->name);
    else if (row->kind == MGC_ENS_ROW_RULE) snprintf(label, sizeof label, "rule %s", row->name);
    else snprintf(label, sizeof label, "%s", row->name);
    if (row->kind == MGC_ENS_ROW_ORACLE || r == M) fputc('\n', f);
    fprintf(f, "%-30s %7.1f %% +- %4.1f", label, 100 * row->acc_mean, 100 * row->acc_std);
    if (row->kind == MGC_ENS_ROW_ORACLE) fprintf(f, " %9s %8s\n", "-", "-");
    else
      fprintf(f, " %9.3f %8.3f   %13.2f %7.3f %9.3f -> %.3f\n", row->f1_mean, row->nll_mean,
              row->temp_mean, row->nll_cal_mean, row->ece, row->ece_cal);
  }
  const mgc_ens_row *br = &t->rows[M + t->best_rule], *bm = &t->rows[t->best_member];
  fprintf(f, "\nbest rule: %s (%.1f %%); best member alone: %s (%.1f %%)\n", br->name,
          100 * br->acc_mean, bm->name, 100 * bm->acc_mean);
  fprintf(f, "weighted's weights per fold (%s", t->rows[0].name);
  for (int m = 1; m < M; m++) fprintf(f, ", %s", t->rows[m].name);
  fprintf(f, "):");
  for (int k = 0; k < K; k++) {
    fprintf(f, "%s", k ? "; " : " ");
    for (int m = 0; m < M; m++) fprintf(f, "%s%.2f", m ? " " : "", t->fold_weights[k * M + m]);
  }
  fprintf(f, "\nstack's l2 per fold (cross-validated on the other folds):");
  for (int k = 0; k < K; k++) fprintf(f, " %g", t->fold_l2[k]);
  fprintf(f, "\n");
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jarr(const double *v, int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++) json_array_append_new(a, jnum(v[i]));
  return a;
}

char *mgc_ens_scores_to_json(const mgc_ens_scores *t) {
  static const char *const kinds[] = {"member", "rule", "oracle"};
  const int K = t->n_folds, M = t->n_members;
  json_t *o = json_object(), *rows = json_array(), *cls = json_array(), *ft = json_array(),
         *w = json_array();
  if (!o || !rows || !cls || !ft || !w) {
    json_decref(o);
    json_decref(rows);
    json_decref(cls);
    json_decref(ft);
    json_decref(w);
    return NULL;
  }
  for (int c = 0; c < t->n_classes; c++) json_array_append_new(cls, json_string(t->classes[c]));
  for (int k = 0; k < K; k++) {
    json_array_append_new(ft, json_integer(t->fold_tracks[k]));
    json_array_append_new(w, jarr(t->fold_weights + (size_t)k * M, M));
  }
  for (int r = 0; r < t->n_rows; r++) {
    const mgc_ens_row *row = &t->rows[r];
    json_array_append_new(
        rows, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name",
                        row->name, "kind", kinds[row->kind], "track_accuracy", jarr(row->acc, K),
                        "track_accuracy_mean", jnum(row->acc_mean), "track_accuracy_std",
                        jnum(row->acc_std), "macro_f1", jarr(row->f1, K), "macro_f1_mean",
                        jnum(row->f1_mean), "macro_f1_std", jnum(row->f1_std), "nll",
                        jarr(row->nll, K), "nll_mean", jnum(row->nll_mean), "nll_std",
                        jnum(row->nll_std)));
    json_t *jr = json_array_get(rows, json_array_size(rows) - 1);
    if (jr && row->kind != MGC_ENS_ROW_ORACLE) {
      json_object_set_new(jr, "temperature", jarr(row->temp, K));
      json_object_set_new(jr, "nll_calibrated", jarr(row->nll_cal, K));
      json_object_set_new(jr, "ece", jnum(row->ece));
      json_object_set_new(jr, "ece_calibrated", jnum(row->ece_cal));
    }
  }
  json_object_set_new(o, "ensemble", json_string(t->origin));
  json_object_set_new(o, "folds", json_integer(K));
  json_object_set_new(o, "tracks", json_integer(t->n_tracks));
  json_object_set_new(o, "fold_tracks", ft);
  json_object_set_new(o, "classes", cls);
  json_object_set_new(o, "rows", rows);
  json_object_set_new(o, "best_rule", json_string(t->rows[M + t->best_rule].name));
  json_object_set_new(o, "best_member", json_string(t->rows[t->best_member].name));
  json_object_set_new(o, "weights_per_fold", w);
  json_object_set_new(o, "stack_l2_per_fold", jarr(t->fold_l2, K));
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
  json_decref(o);
  return s;
}

/* ---- fitting on everything ---- */

mgc_status mgc_ensemble_fit(mgc_ensemble *e, mgc_comb_rule rule) {
  if ((unsigned)rule >= MGC_COMB_N_RULES) return mgc_error_set(MGC_EINVAL, "unknown rule");
  aligned a;
  mgc_status st = gather(e, &a);
  if (st) return st;
  const int M = a.M, C = a.C;
  double *w = malloc((size_t)M * sizeof *w), *coef = malloc((size_t)C * M * C * sizeof *coef);
  double *icpt = malloc((size_t)C * sizeof *icpt);
  char **cls = calloc((size_t)C, sizeof *cls);
  double l2 = 0;
  if (!w || !coef || !icpt || !cls) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int c = 0; !st && c < C; c++)
    if (!(cls[c] = strdup(a.sets[0]->classes[c]))) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  mgc_comb_data d = {a.n, M, C, a.probs, a.labels};
  if (!st) st = mgc_comb_fit_weights(&d, w, NULL);
  if (!st) st = mgc_comb_fit_stack_cv(&d, a.fold, a.K, &l2, coef, icpt, NULL);
  double T = 1;
  float *out = st ? NULL : malloc((size_t)a.n * C * sizeof *out);
  if (!st && !out) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) { /* the rule's distributions on every out-of-fold track, uncalibrated */
    mgc_combiner c = {rule, M, C, w, coef, icpt, 0};
    st = mgc_combiner_check(&c);
    for (int i = 0; !st && i < a.n; i++)
      mgc_combine(&c, a.probs + (size_t)i * M * C, out + (size_t)i * C);
    if (!st) st = mgc_temperature_fit(out, a.labels, a.n, C, &T);
  }
  free(out);
  if (!st) {
    for (int m = 0; m < M; m++) e->members[m].weight = w[m];
    free(e->weights);
    e->weights = w;
    free(e->coef);
    e->coef = coef;
    free(e->intercept);
    e->intercept = icpt;
    for (int c = 0; e->classes && c < e->n_classes; c++) free(e->classes[c]);
    free(e->classes);
    e->classes = cls;
    e->n_classes = C;
    e->has_stack = 1;
    e->stack_l2 = l2;
    e->rule = rule;
    e->temperature = T;
    w = coef = icpt = NULL;
    cls = NULL;
  }
  free(w);
  free(coef);
  free(icpt);
  for (int c = 0; cls && c < C; c++) free(cls[c]);
  free(cls);
  aligned_free(&a);
  return st;
}

mgc_status mgc_ensemble_calibrate(mgc_ensemble *e, double *ece_before, double *ece_after) {
  aligned a;
  mgc_status st = gather(e, &a);
  if (st) return st;
  const int M = a.M, C = a.C, n = a.n;
  mgc_combiner c;
  float *out = malloc((size_t)n * C * sizeof *out), *cal = malloc((size_t)n * C * sizeof *cal);
  int *off = malloc(((size_t)n + 1) * sizeof *off);
  double T = 1, acc, f1, nll;
  if (!out || !cal || !off) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) { /* the file's rule as it is, uncalibrated, on the cv files' classes */
    c = (mgc_combiner){e->rule, M, C, e->weights, e->has_stack ? e->coef : NULL,
                       e->has_stack ? e->intercept : NULL, 0};
    if (e->has_stack && e->n_classes != C)
      st = mgc_error_set(MGC_EINVAL, "%s: the stack has %d classes, the cv files %d", e->origin,
                         e->n_classes, C);
    if (!st) st = mgc_combiner_check(&c);
    for (int i = 0; !st && i < n; i++)
      mgc_combine(&c, a.probs + (size_t)i * M * C, out + (size_t)i * C);
  }
  if (!st) st = oof_temperature(out, a.labels, a.fold, n, a.K, C, cal, NULL);
  if (!st) st = mgc_temperature_fit(out, a.labels, n, C, &T);
  if (!st) st = score(&a, out, a.labels, n, off, &acc, &f1, &nll, ece_before);
  if (!st) st = score(&a, cal, a.labels, n, off, &acc, &f1, &nll, ece_after);
  if (!st) e->temperature = T;
  free(out);
  free(cal);
  free(off);
  aligned_free(&a);
  return st;
}
