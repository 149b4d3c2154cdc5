/* An ensemble's decision on a whole recording, offline: the protocol that
 * mgc-eval --ensemble scores. Each window member's track probabilities are
 * the mean of its window probabilities over the recording (as mgc-classify
 * decides with one model); the table member sees the 57 features of the
 * whole recording (as the feature table was made, over whole clips); the
 * ensemble's rule combines them, member by member in the file's order.
 *
 *   mgc_ensemble_classifier *c;
 *   mgc_ensemble_classifier_new(e, &c);       e loaded with MGC_ENSEMBLE_LOAD_MODELS
 *   mgc_ensemble_classifier_process(c, y, n, probs, member_probs, &windows);
 *   mgc_ensemble_classifier_free(c);
 *
 * mgcd differs only in time: it keeps rolling track probabilities and runs
 * the table member on the track's last 30 s as the audio arrives. */
#ifndef MGC_ENSEMBLE_CLASSIFY_H
#define MGC_ENSEMBLE_CLASSIFY_H

#include <stddef.h>

#include "mgc/ensemble/ensemble.h"
#include "mgc/model/predict.h"
#include "mgc/model/session.h"

typedef struct mgc_ensemble_classifier mgc_ensemble_classifier;

/* e must outlive the classifier. Members may run at different sample rates
 * (the pretrained FCN at 16 kHz beside 22050 Hz members): the recording is
 * given at the first window member's rate (mgcd's stream rate; the first
 * member's when there is no window member) and resampled once per other
 * rate. */
mgc_status mgc_ensemble_classifier_new(const mgc_ensemble *e, mgc_ensemble_classifier **out);

/* Distinct feature matrices a recording gets: members of one front-end
 * and feature (the CRNN and the CNN: 128-band log-mel at 22050 Hz) share
 * one; a table member computes its own. */
int mgc_ensemble_classifier_feature_sets(const mgc_ensemble_classifier *c);

/* The sample rate y must have. */
int mgc_ensemble_classifier_rate(const mgc_ensemble_classifier *c);

/* Classify y[0..n) (mono, at the classifier's rate). probs gets the
 * combined class probabilities [n_classes]; member_probs (NULL if unwanted)
 * each member's [n_members][n_classes]; windows (NULL if unwanted) the number
 * of windows the window members saw. Returns the winning class via probs'
 * argmax; allocates per call (features of the whole recording). */
mgc_status mgc_ensemble_classifier_process(mgc_ensemble_classifier *c, const float *y, size_t n,
                                           float *probs, float *member_probs, int *windows);

void mgc_ensemble_classifier_free(mgc_ensemble_classifier *c);

#endif
