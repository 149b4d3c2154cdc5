/* Cross-validation, and its file (mgc-train --folds K --cv-json).
 *
 * K folds of a corpus: for each fold, one model (one per group of tracks
 * with groups, e.g. GTZAN's artist-filtered lists) trained by the caller's
 * function on the other folds' tracks (minus a stratified share held out for
 * early stopping, when asked), and the fold's tracks predicted window by
 * window by the model that never saw them. Per fold the metrics
 * (mgc/train/metrics.h); over all folds their mean and spread, and the
 * out-of-fold predictions: every track once, by a model that never saw it.
 *
 * The --cv-json file is written by mgc_cv_write and read by mgc_cv_load,
 * both through jansson:
 *   {"folds": K, "results": [{"fold": k, "best_epoch": e, "seconds": s,
 *     "metrics": <mgc_metrics_to_json: classes, tracks with their true class
 *     and probabilities>}, ...], "out_of_fold": <metrics>,
 *    "track_acc_mean": .., "track_acc_std": .., "track_acc_vote_mean": ..,
 *    "window_acc_mean": .., "window_acc_std": .., "macro_f1_mean": ..,
 *    "macro_f1_std": ..}
 * and, for --dry-run (the folds only, for another implementation to run the
 * same split), {"folds": K, "dry_run": true, "results": [{"fold": k,
 * "metrics": {"tracks": [{"name": ..}, ..]}}, ..]}. */
#ifndef MGC_CROSSVAL_H
#define MGC_CROSSVAL_H

#include <stdint.h>

#include "mgc/train/corpus.h"
#include "mgc/train/dataset.h"
#include "mgc/util/error.h"
#include "mgc/train/metrics.h"
#include "mgc/model/model.h"
#include "mgc/train/trainer.h"

/* Stratified split of corpus tracks idx[0..n) (rows of ds through c->src)
 * into training and validation: fold 0 of round(1 / fraction) folds (2 at
 * least, n at most) validates. */
mgc_status mgc_cv_holdout(const mgc_dataset *ds, const mgc_corpus *c, const int *idx, int n,
                          double fraction, uint64_t seed, int *tr, int *n_tr, int *va, int *n_va);

typedef struct mgc_cv_setup {
  const mgc_dataset *ds;   /* the rows folds and groups are given for */
  const mgc_corpus *clean; /* the readable tracks; clean->src[i] is track i's row */
  int folds;
  const int *fold;         /* [rows] the fold of each row, -1: never tested */
  const int *order;        /* the tracks in the order a fold lists them (corpus indices; */
  int n_order;             /* NULL: corpus order) */
  const int *group;        /* [rows] its group, n_groups when in none; NULL: no groups */
  int n_groups;
  double validation;       /* share of the training tracks held out; <= 0: none, the
                              fold trains on all of them as a final model does */
  uint64_t seed;           /* the holdout's (fold f uses seed + f + 1) */
  int win_len, win_hop;    /* the windows the test tracks are predicted on */
} mgc_cv_setup;

/* Train one model on corpus tracks tr[0..n_tr), validating on vc (NULL:
 * none), for fold `fold` and group `group` (-1 without groups; n_groups:
 * the tracks in no group). */
typedef mgc_status (*mgc_cv_train_fn)(void *user, int fold, int group, const int *tr, int n_tr,
                                      const mgc_corpus *vc, mgc_model **out, mgc_train_result *res);

typedef struct mgc_cv_fold {
  int n_test;
  int best_epoch;          /* of the model that decided most of the fold's tracks */
  double seconds;          /* training, all the fold's models */
  mgc_metrics *metrics;
} mgc_cv_fold;

typedef struct mgc_cv_result {
  int folds;
  mgc_cv_fold *fold;       /* [folds] */
  mgc_metrics *oof;        /* the out-of-fold predictions */
  double acc_mean, acc_std, vote_mean, vote_std, wacc_mean, wacc_std, f1_mean, f1_std;
} mgc_cv_result;

/* Run the folds. log gets a line per model trained (may be NULL); on_fold,
 * if not NULL, each fold's result as it completes (a non-zero return
 * stops). */
mgc_status mgc_cv_run(const mgc_cv_setup *s, mgc_cv_train_fn train, mgc_train_log_fn log,
                      int (*on_fold)(void *user, int fold, const mgc_cv_fold *r), void *user,
                      mgc_cv_result **out);
void mgc_cv_result_free(mgc_cv_result *r);

/* Corpus tracks of fold f (in s->order, else corpus order) into out;
 * returns how many. */
int mgc_cv_fold_members(const mgc_cv_setup *s, int f, int *out);

/* The file above; path "-" writes to standard output. */
mgc_status mgc_cv_write(const mgc_cv_result *r, const char *path);
/* The --dry-run file: the folds' track names only. */
mgc_status mgc_cv_write_folds(const mgc_cv_setup *s, const char *path);

/* One member's --cv-json file, read back: refuses a --dry-run file,
 * unnamed or repeated tracks, unknown labels, and probability rows that
 * are not finite, negative or do not sum to 1 within 1e-3. */
typedef struct mgc_cv_set {
  int n_folds, n_classes, n_tracks;
  char **classes;
  char **names;          /* [n_tracks] */
  int *labels, *fold;    /* [n_tracks]; fold in [0, n_folds) */
  float *probs;          /* [n_tracks][n_classes], rows renormalised to sum 1 */
} mgc_cv_set;

mgc_status mgc_cv_load(const char *path, mgc_cv_set **out);
void mgc_cv_free(mgc_cv_set *s);

#endif
