/* Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
 * Networks"): the calibration of a classifier's or an ensemble's track
 * decision, one number fitted on out-of-fold predictions. */
#ifndef MGC_TEMPERATURE_H
#define MGC_TEMPERATURE_H

#include "mgc/util/error.h"

/* Probabilities are floored here before their logarithm. */
#define MGC_TEMPERATURE_FLOOR 1e-12

/* p_k becomes p_k^(1/T), renormalised, i.e. the softmax of the
 * log-probabilities divided by T (floored at MGC_TEMPERATURE_FLOOR). T > 1
 * softens an over-confident distribution, T < 1 sharpens an under-confident
 * one; the argmax never changes. In place; never allocates. */
void mgc_temperature_apply(float *p, int n_classes, double temperature);

/* The T in [0.05, 20] that minimises the mean NLL of the n distributions
 * p [n][n_classes] (after mgc_temperature_apply) against labels: the NLL is
 * convex in 1/T, so a golden-section search on 1/T finds it (to 1e-6). */
mgc_status mgc_temperature_fit(const float *p, const int *labels, int n, int n_classes,
                               double *temperature);

#endif
