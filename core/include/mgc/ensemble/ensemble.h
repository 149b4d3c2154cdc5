/* Ensembles: several classifiers (members) whose class distributions are
 * combined by one rule of mgc/ensemble/combine.h, described by a YAML file, and
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
 *   detector: music_detector.safetensors  # optional: the music detector (mgc/stream/music_state.h)
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
 *   a cadence, off the real-time path (mgc/stream/context.h): the pretrained FCN
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

#include "mgc/ensemble/combine.h"
#include "mgc/util/error.h"
#include "mgc/model/model.h"

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

/* Measured side by side from the members' cross-validation, fitted and
 * calibrated: mgc/train/ensemble_eval.h. */

#endif
