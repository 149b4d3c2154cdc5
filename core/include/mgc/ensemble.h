/* Ensembles: several classifiers (members) whose class distributions are
 * combined by one rule of mgc/combine.h, described by a YAML file, and
 * measured side by side from the members' cross-validation results.
 *
 *   # models/ensemble.yaml
 *   name: crnn+table
 *   rule: weighted              # mean | weighted | product | agree | vote | stack
 *   temperature: 1.3            # calibration of the decision (mgc_temperature_apply;
 *                               # written by mgc-eval --fit; default 1: none)
 *   classes: [blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock]
 *   members:
 *     - name: crnn
 *       model: crnn.safetensors # paths are relative to this file's folder
 *       input: window           # window | table (below)
 *       weight: 0.7             # used by rule 'weighted' (default 1; normalised to sum 1)
 *       cv: results/cv5.json    # its mgc-train --folds K --cv-json output
 *     - name: table
 *       model: table.safetensors
 *       input: table
 *       weight: 0.3
 *       cv: results/table/cv5.json
 *   detector: music_detector.safetensors  # optional: the music detector (mgc/music_state.h)
 *                               # that decides which windows are music, for mgcd,
 *                               # mgc-classify and mgc-eval alike
 *   stack:                      # rule 'stack' (written by mgc-eval --fit)
 *     features: probabilities
 *     l2: 0.001
 *     intercept: [C numbers]
 *     coef:                     # C rows of M*C numbers (member-major columns)
 *       - [...]
 *
 * input: window - the member classifies each 3 s window of the audio stream
 *   (the front-end's segments) and feeds each window's probabilities;
 *   context (or table, its older name) - a long-context member: it answers
 *   about the current track's most recent audio, at its own sample rate, on
 *   a cadence, off the real-time path (mgc/context.h): the pretrained FCN
 *   on 29 s, the table MLP on the 57 features of 30 s. Optional keys
 *   span: S, first: S, every: S (seconds) set how much audio it reads, when
 *   it first runs and how often (defaults: mgc_context_params_default).
 * 'classes' is optional (the class order of the stacking coefficients;
 * checked against the models when they are loaded); 'description' is free
 * text. Unknown or duplicate keys, a bad value, member names that repeat, a
 * 'stack' section of the wrong shape are refused with file:line:col. */
#ifndef MGC_ENSEMBLE_H
#define MGC_ENSEMBLE_H

#include <stdio.h>

#include "mgc/combine.h"
#include "mgc/error.h"
#include "mgc/model.h"

#define MGC_ENSEMBLE_MAX_MEMBERS 16

typedef enum mgc_ensemble_input {
  MGC_ENS_INPUT_WINDOW = 0,
  MGC_ENS_INPUT_CONTEXT,
  MGC_ENS_INPUT_TABLE = MGC_ENS_INPUT_CONTEXT /* a table model is a context member */
} mgc_ensemble_input;

typedef struct mgc_ensemble_member {
  char *name;
  char *model;           /* as written in the file */
  char *model_path;      /* resolved against the file's folder */
  char *cv, *cv_path;    /* likewise; NULL when absent */
  mgc_ensemble_input input;
  double span_s, first_s, every_s; /* context members' timing (0: the model's default,
                                      mgc_context_params_default) */
  double weight;         /* normalised: the members' weights sum to 1 */
  int line, col;         /* where the member starts in the file (1-based) */
  mgc_model *loaded;     /* with MGC_ENSEMBLE_LOAD_MODELS, else NULL */
} mgc_ensemble_member;

typedef struct mgc_ensemble {
  char *origin;          /* the file name, for messages */
  char *dir;             /* its folder ("" for the current one) */
  char *name, *description;
  mgc_comb_rule rule;
  double temperature;    /* of the combined track decision; 1 when not calibrated */
  int n_members;
  mgc_ensemble_member *members;
  int n_classes;         /* 0 when neither 'classes' nor loaded models say */
  char **classes;
  double *weights;       /* [n_members], the members' weights */
  int has_stack;
  double stack_l2;
  double *coef, *intercept; /* [n_classes][n_members*n_classes], [n_classes] */
  char *detector;        /* the music detector as written in the file; NULL: none */
  char *detector_path;   /* resolved against the file's folder */
  mgc_model *detector_loaded; /* with MGC_ENSEMBLE_LOAD_MODELS (it has a class "music") */
} mgc_ensemble;

/* Load also every member's model (mgc_model_load), check that they share
 * the classes (and 'classes', if given), and that the rule has what it needs
 * to run (rule 'stack': a 'stack' section). Without it the file is enough
 * for evaluation from the members' cv files. */
#define MGC_ENSEMBLE_LOAD_MODELS 1u

/* Parse YAML text; origin names it in messages, dir resolves the relative
 * paths (NULL or "": as given). */
mgc_status mgc_ensemble_parse(const char *text, size_t len, const char *origin,
                              const char *dir, unsigned flags, mgc_ensemble **out);
mgc_status mgc_ensemble_load(const char *path, unsigned flags, mgc_ensemble **out);
/* Whether a path names an ensemble file (.yaml or .yml, any case) rather
 * than a model file: how every program tells the two apart. */
int mgc_ensemble_is_path(const char *path);
void mgc_ensemble_free(mgc_ensemble *e);

/* One model as an ensemble of one member named "model" (input window,
 * rule mean), with its cv file when cv_path is
 * not NULL; with MGC_ENSEMBLE_LOAD_MODELS the model is loaded and its own
 * temperature is the ensemble's (it decides alone). What mgcd runs for a
 * plain model file. */
mgc_status mgc_ensemble_single(const char *model_path, const char *cv_path, unsigned flags,
                               mgc_ensemble **out);

/* Replace e's music detector with the model file at path (loaded, and
 * refused without a class "music"), or with none (path NULL). */
mgc_status mgc_ensemble_set_detector(mgc_ensemble *e, const char *path);

/* The combiner the file describes (borrowing e's parameters), with its
 * temperature: the calibrated track decision. */
mgc_status mgc_ensemble_combiner(const mgc_ensemble *e, mgc_combiner *c);

/* Write e as YAML to path (atomically), the member paths rewritten relative
 * to path's folder; header: comment lines to put first (may be NULL). */
mgc_status mgc_ensemble_write(const mgc_ensemble *e, const char *path, const char *header);

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
 * macro-F1 (mgc/metrics.h), mean NLL (probabilities floored at
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
   * ECE (15 bins, mgc/metrics.h) over all out-of-fold tracks, before and
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

/* Each member's cv file is read with mgc_cv_load (mgc/crossval.h). */

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
