/* An ensemble measured, fitted and calibrated from its members'
 * cross-validation files (mgc-train --folds K --cv-json, mgc/train/crossval.h):
 * training-side work, kept out of the ensemble's runtime (mgc/ensemble/). */
#ifndef MGC_ENSEMBLE_EVAL_H
#define MGC_ENSEMBLE_EVAL_H

#include <stdio.h>

#include "mgc/ensemble/combine.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/util/error.h"

/* ---- measured side by side, from the members' cross-validation ----
 *
 * Every member's cv file (mgc-train --folds K --cv-json) holds, per fold,
 * the fold's test tracks with the track probabilities the fold's model gave
 * (the mean of its window probabilities): out-of-fold predictions. The
 * members must cover the same tracks with the same folds, labels and
 * classes; a mismatch is refused, naming it. Then, for each fold k, on fold
 * k's tracks: every member alone, every rule (weighted's weights and
 * stack's coefficients fitted on the other folds' tracks only, stack's l2
 * by cross-validation over those other folds), and the oracle (a track
 * counts as right when any member's argmax is right: an upper bound for
 * rules that pick one member's answer). Figures per fold: track accuracy,
 * macro-F1 (mgc/train/metrics.h), mean NLL (probabilities floored at
 * MGC_COMB_FLOOR); then mean and sample std over the folds. Each member
 * and rule is also calibrated by temperature, fitted on the other folds
 * (mgc_ens_row). */

typedef enum mgc_ens_row_kind {
  MGC_ENS_ROW_MEMBER,
  MGC_ENS_ROW_RULE,
  MGC_ENS_ROW_ORACLE
} mgc_ens_row_kind;

typedef struct mgc_ens_row {
  char name[80];
  mgc_ens_row_kind kind;
  int index;             /* member index, or the rule */
  double *acc, *f1, *nll; /* [n_folds]; f1 and nll are NAN for the oracle */
  double acc_mean, acc_std, f1_mean, f1_std, nll_mean, nll_std;
  /* Calibration (not for the oracle): a temperature fitted per fold on the
   * other folds' tracks only (mgc_temperature_fit), applied to the fold's;
   * ECE (15 bins, mgc/train/metrics.h) over all out-of-fold tracks, before and
   * after; the out-of-fold distributions themselves [n_tracks][n_classes]
   * in the table's track order, for reliability diagrams. */
  double *temp, *nll_cal; /* [n_folds] */
  double temp_mean, nll_cal_mean, nll_cal_std, ece, ece_cal;
  float *oof, *oof_cal;
} mgc_ens_row;

/* The ensemble's score table: every member, rule and the oracle, per fold
 * and overall. */
typedef struct mgc_ens_scores {
  char *origin;
  int n_folds, n_tracks, n_members, n_classes;
  char **classes;
  int *fold_tracks;      /* [n_folds] */
  int *labels;           /* [n_tracks], the order of the rows' oof */
  int n_rows;            /* n_members + MGC_COMB_N_RULES + 1 (the oracle, last) */
  mgc_ens_row *rows;
  double *fold_weights;  /* [n_folds][n_members] weighted's weights per fold */
  double *fold_l2;       /* [n_folds] stack's l2 per fold */
  int best_rule;         /* highest mean accuracy, then macro-F1, then the earlier
                            (simpler) rule in mgc_comb_rule's order */
  int best_member;       /* likewise among the members */
} mgc_ens_scores;

/* Each member's cv file is read with mgc_cv_load (mgc/train/crossval.h). */

mgc_status mgc_ensemble_evaluate(const mgc_ensemble *e, mgc_ens_scores **out);
void mgc_ens_scores_free(mgc_ens_scores *t);
/* The table for people: one row per member, rule and the oracle. */
void mgc_ens_scores_print(const mgc_ens_scores *t, FILE *f);
/* Everything, per fold included, as JSON (malloc'd; NULL when out of memory). */
char *mgc_ens_scores_to_json(const mgc_ens_scores *t);

/* Fit weighted's weights and stack's coefficients (l2 by cross-validation
 * over the folds) on every out-of-fold prediction of the members' cv files,
 * store them in e, with e's classes taken from the cv files, set
 * e->rule = rule, and fit e->temperature on the rule's distributions of
 * every out-of-fold prediction. */
mgc_status mgc_ensemble_fit(mgc_ensemble *e, mgc_comb_rule rule);

/* Fit e->temperature alone, for e's own rule and parameters (not refitted),
 * on every out-of-fold prediction of the members' cv files. The ECE of
 * those predictions before, and after a temperature fitted per fold on the
 * other folds only (out of fold, as the table's calibrated columns). */
mgc_status mgc_ensemble_calibrate(mgc_ensemble *e, double *ece_before, double *ece_after);

#endif
