/* Evaluation figures of a classifier on a labelled test set, at window and
 * at track level, as mgc-eval, mgc-train's cross-validation and the model
 * card report them.
 *
 * Definitions (tracks are what a listener judges, so everything except
 * window_acc and window_confusion is computed on tracks):
 * - A track's probabilities are the mean of its windows' probabilities (the
 *   daemon's decision rule, as in Chen's "Application of Deep Learning in Music Genre
 *   Classification"); its prediction is their argmax.
 * - Vote rule: the class most of its windows predict; a tie goes to the tied
 *   class with the higher mean probability.
 * - Every argmax tie goes to the lower class index (NumPy's argmax).
 * - top-k: the true class's mean probability is among the k largest (ties
 *   counted in the track's favour); 1 when k >= n_classes.
 * - Precision of a class never predicted, recall of a class with no
 *   support, and F1 when both are 0, are 0 (sklearn's zero_division=0).
 *   Macro averages run over the classes that occur in the truth or in the
 *   predictions (sklearn's default labels); a class absent from both is
 *   listed with support 0 but not averaged (it would count 0 for nothing).
 * - ECE: 15 equal-width bins of confidence (the track's largest mean
 *   probability), bin b holding (b/15, (b+1)/15]; sum over bins of
 *   |accuracy - mean confidence| * n_bin / n_tracks (Guo et al. 2017). */
#ifndef MGC_METRICS_H
#define MGC_METRICS_H

#include <stdio.h>

#include "mgc/util/argmax.h"
#include "mgc/util/error.h"

#define MGC_ECE_BINS 15

/* What the classifier said about a test set. All arrays are borrowed. */
typedef struct mgc_eval_input {
  int n_classes;
  const char *const *classes;   /* n_classes names */
  int n_tracks;
  const int *track_label;       /* true class per track */
  const char *const *track_name; /* may be NULL (tracks are then "track N") */
  const int *track_windows;     /* n_tracks+1 offsets into the window rows: track t
                                   owns rows [track_windows[t], track_windows[t+1]);
                                   starts at 0, strictly increasing */
  const float *window_probs;    /* [n_windows][n_classes], each row sums to 1 */
} mgc_eval_input;

typedef struct mgc_class_metrics {
  double precision, recall, f1; /* track level */
  int support;                  /* tracks whose true class this is */
  int predicted;                /* tracks predicted as this class (mean rule) */
} mgc_class_metrics;

typedef struct mgc_track_result {
  char *name;                   /* copy of the input name, or NULL */
  int label;                    /* true class */
  int pred;                     /* mean rule */
  int pred_vote;                /* majority of window argmaxes */
  int n_windows;
  double confidence;            /* mean probability of `pred` */
} mgc_track_result;

typedef struct mgc_ece_bin {
  double lo, hi;                /* confidence range (lo, hi] */
  int count;                    /* tracks in the bin */
  double confidence, accuracy;  /* their mean confidence and accuracy (0 if empty) */
} mgc_ece_bin;

/* Abstention (a decision below a confidence threshold reported as "not
 * sure"): of the tracks whose confidence is >= threshold, the fraction
 * (coverage) and their accuracy (NAN when none). Thresholds 0, 0.1 ... 0.9. */
#define MGC_COVERAGE_POINTS 10
typedef struct mgc_coverage_point {
  double threshold, coverage, accuracy;
} mgc_coverage_point;

/* Owned by the caller after mgc_metrics_compute; free with mgc_metrics_free. */
typedef struct mgc_metrics {
  int n_classes;
  char **classes;               /* copies of the class names */
  int n_tracks, n_windows;

  double window_acc;            /* windows whose argmax is their track's class */
  double track_acc;             /* mean rule */
  double track_acc_vote;        /* majority-vote rule */
  double top2, top3;            /* track level, mean rule */
  double macro_precision, macro_recall, macro_f1;
  int n_macro_classes;          /* classes the macro averages run over */
  double ece;                   /* expected calibration error, track level */
  double mean_confidence;       /* mean of the tracks' confidences */

  mgc_class_metrics *per_class; /* [n_classes] */
  int *confusion;               /* [n_classes][n_classes] tracks, rows true, cols predicted */
  int *window_confusion;        /* same for windows (row: the window's track's class) */
  mgc_track_result *tracks;     /* [n_tracks] */
  float *track_probs;           /* [n_tracks][n_classes] mean window probabilities */
  mgc_ece_bin ece_bins[MGC_ECE_BINS];
  mgc_coverage_point coverage[MGC_COVERAGE_POINTS]; /* the accuracy/coverage curve */

  /* Set by mgc_metrics_over_present: the test set holds only n_present of
   * the classes (those with support), and the per-class figures, confusion
   * rows and macro averages are about those only. */
  int present_only, n_present;
} mgc_metrics;

/* Compute every figure. Refuses (MGC_EINVAL, message naming the track or
 * window) fewer than 2 classes, no tracks, offsets that do not start at 0 or
 * do not increase, a label out of range, and a probability row that is not
 * finite, has a negative entry or does not sum to 1 within 1e-3. */
mgc_status mgc_metrics_compute(const mgc_eval_input *in, mgc_metrics **out);

/* Calibrate the track decisions by a temperature (mgc/util/temperature.h), as
 * a model that carries one decides: the track probabilities and
 * confidences, ECE, mean confidence and the accuracy/coverage curve change;
 * predictions, accuracies and top-k do not (the order is kept). */
void mgc_metrics_set_temperature(mgc_metrics *m, double temperature);

/* For a test set with some of the model's classes only (a folder of 3
 * genres before a 10-class model): the macro averages run over the classes
 * with support, so an answer of a class absent from the data counts as the
 * error it is (a recall lost) without adding a class whose F1 is 0 by
 * construction; print and JSON then show the per-class figures and the
 * confusion rows of those classes (the columns keep every class predicted).
 * Predictions, accuracies, top-k and ECE are unchanged. Does nothing when
 * every class has support. Returns the number of classes with support. */
int mgc_metrics_over_present(mgc_metrics *m);

/* Free the figures (NULL is fine). */
void mgc_metrics_free(mgc_metrics *m);

/* Human-readable report: headline figures, per-class table, confusion
 * matrix with class names. */
void mgc_metrics_print(const mgc_metrics *m, FILE *f);

/* The same without the window-level figures, for decisions made on whole
 * tracks (one probability row per track, e.g. an ensemble's): track
 * accuracy, top-2/top-3, macro figures, ECE, per-class table, track
 * confusion matrix. */
void mgc_metrics_print_tracks(const mgc_metrics *m, FILE *f);

/* Every figure as a JSON object (keys listed in metrics.c); malloc'd text
 * the caller frees, NULL when out of memory. */
char *mgc_metrics_to_json(const mgc_metrics *m);

/* The same without the window-level keys (n_windows, window_accuracy,
 * track_accuracy_vote, window_confusion, and per track predicted_vote and
 * windows), for decisions made on whole tracks. */
char *mgc_metrics_tracks_to_json(const mgc_metrics *m);

/* Mean and sample standard deviation (n-1 denominator) of one figure over
 * folds. n == 0 gives NAN for both; n == 1 gives the value and NAN, since
 * one fold says nothing about the spread. */
void mgc_metrics_mean_std(const double *v, int n, double *mean, double *std);

#endif
