/* Combining the class distributions of several classifiers (the members of
 * an ensemble, mgc/ensemble/ensemble.h) into one, and fitting the combiners that
 * have parameters on validation predictions.
 *
 * Input of a combine call: M members' distributions over the same C
 * classes, one row each, member-major: p[m*C + c]. Output: one distribution
 * over C classes (non-negative, sums to 1) whose argmax (lower class index
 * on ties, as everywhere in mgc) is the rule's decision. The rules:
 *
 * - mean      (Ghilotti et al., "Music Genre Classification using CNNs and RNNs", rule 3.1): (1/M) sum_m p_m.
 * - weighted  sum_m w_m p_m, weights w >= 0 summing to 1, fitted by
 *             mgc_comb_fit_weights.
 * - product   (rule 3.3): prod_m max(p_m, MGC_COMB_FLOOR), renormalised
 *             (computed as a softmax of summed logs; the floor keeps one
 *             member's exact 0 from vetoing a class on its own).
 * - agree     (rule 3.2, "the class both models predict or, if they
 *             disagree, the most probable one out of both distributions"),
 *             generalised to M members: if every member's argmax is the same
 *             class, that class, and the output is the mean distribution
 *             (whose argmax is then that class); otherwise the class c that
 *             maximises max_m p_m[c] (the single highest probability in any
 *             member's distribution; lower class on ties), and the output is
 *             the distribution of the lowest-indexed member holding that
 *             probability (whose argmax is c). For M = 2 this is rule 3.2.
 * - vote      each member votes for its argmax; the class with most votes
 *             wins, ties broken by the higher mean probability (then the
 *             lower index). Output (votes_c + mean_c) / (M + 1): a
 *             distribution whose argmax is exactly that decision (a class
 *             one vote behind can never catch up: a member voting for the
 *             leader gives the other class no more than the leader), and whose
 *             likelihood is finite, so the NLL column means something.
 * - stack     multinomial logistic regression on the concatenated member
 *             probabilities x = (p_1, ..., p_M) (M*C features):
 *             out = softmax(W x + b), W [C][M*C], b [C]. Probabilities
 *             rather than log-probabilities: bounded features, so a member
 *             that is confidently wrong on one track (log p -> -inf) cannot
 *             dominate a fit made on ~100 tracks; it is the classic stacking
 *             of Wolpert (1992) and scikit-learn's StackingClassifier
 *             (predict_proba into LogisticRegression); and the (weighted)
 *             mean lies in its model class up to the softmax's monotone
 *             recalibration. Fitted by mgc_comb_fit_stack(_cv).
 *
 * mgc_combine never allocates (mgcd calls it for every window). */
#ifndef MGC_COMBINE_H
#define MGC_COMBINE_H

#include "mgc/util/error.h"
#include "mgc/util/temperature.h"

/* Probabilities are floored here in the product rule and in every NLL. */
#define MGC_COMB_FLOOR 1e-12

typedef enum mgc_comb_rule {
  MGC_COMB_MEAN = 0,
  MGC_COMB_WEIGHTED,
  MGC_COMB_PRODUCT,
  MGC_COMB_AGREE,
  MGC_COMB_VOTE,
  MGC_COMB_STACK,
  MGC_COMB_N_RULES
} mgc_comb_rule;

/* "mean" | "weighted" | "product" | "agree" | "vote" | "stack". */
const char *mgc_comb_rule_name(mgc_comb_rule r);
/* The rule with that name, or -1. */
int mgc_comb_rule_parse(const char *name);

/* A combiner: a rule and, borrowed, the parameters it needs. */
typedef struct mgc_combiner {
  mgc_comb_rule rule;
  int n_members, n_classes;
  const double *weights;   /* weighted: [n_members], >= 0, summing to 1 */
  const double *coef;      /* stack: [n_classes][n_members * n_classes], row-major */
  const double *intercept; /* stack: [n_classes] */
  double temperature;      /* calibration of the result (mgc_temperature_apply);
                              0 or 1: none */
} mgc_combiner;

/* MGC_EINVAL (with the reason) for a rule out of range, n_members < 1,
 * n_classes < 2, missing parameters, weights that are negative, not finite
 * or do not sum to 1 within 1e-6, stacking coefficients not finite, or a
 * temperature that is negative or not finite. */
mgc_status mgc_combiner_check(const mgc_combiner *c);

/* p: [n_members][n_classes] (each row a distribution); out: [n_classes].
 * With a temperature, out is calibrated by it (mgc_temperature_apply).
 * Returns the decided class (argmax of out). Assumes mgc_combiner_check
 * passed. Never allocates; out must not alias p. */
int mgc_combine(const mgc_combiner *c, const float *p, float *out);

/* Validation predictions to fit on: n tracks, each with the members'
 * distributions, tracks-major: probs[(i*M + m)*C + c]; labels[i] in [0, C). */
typedef struct mgc_comb_data {
  int n, n_members, n_classes;
  const float *probs;
  const int *labels;
} mgc_comb_data;

/* How a fit went. */
typedef struct mgc_comb_fit_info {
  int iterations;
  int converged;        /* the stopping rule below was met */
  double objective;     /* at the returned parameters */
  double grad_norm;     /* infinity norm of the objective's gradient there
                           (weighted: of the KKT residual, see below) */
} mgc_comb_fit_info;

/* Mean negative log-likelihood of the mixture sum_m w_m p_m over the data
 * (each p floored at MGC_COMB_FLOOR); grad (may be NULL): its gradient in w,
 * grad_m = -(1/n) sum_i p_m[y_i] / mix_i. */
double mgc_comb_weights_objective(const mgc_comb_data *d, const double *w, double *grad);

/* Weights of the weighted mean: minimise the mean NLL above over the
 * simplex (w >= 0, sum 1), a convex problem. Method: the EM fixed point for
 * mixture weights, w_m <- (1/n) sum_i w_m p_m[y_i] / mix_i, from equal
 * weights; every step lowers the NLL and stays on the simplex, so no step
 * size is needed. Stops when no weight moves by more than 1e-12 (converged)
 * or after 100000 steps. At the optimum (KKT): -grad_m = 1 where w_m > 0
 * and <= 1 where w_m = 0; info->grad_norm is max_m w_m |1 + grad_m| plus
 * max over w_m = 0 of max(0, -grad_m - 1). */
mgc_status mgc_comb_fit_weights(const mgc_comb_data *d, double *weights,
                                mgc_comb_fit_info *info);

/* Stacking objective: mean over the data of -log softmax(W x_i + b)[y_i]
 * plus (l2/2) ||W||^2 (the intercept is not penalised), with x_i the
 * track's concatenated member probabilities. grad_coef / grad_intercept
 * (both or neither NULL) receive the gradient. */
double mgc_comb_stack_objective(const mgc_comb_data *d, double l2, const double *coef,
                                const double *intercept, double *grad_coef,
                                double *grad_intercept);

/* Fit W, b for a given l2 > 0: L-BFGS (10 pairs, Armijo backtracking) from
 * W = 0, b = 0, until the gradient's infinity norm is below 1e-9, for at
 * most 2000 iterations. Where the decrease a step promises is below what
 * the objective's rounding resolves (|g.d| <= 64 eps max(1, |f|)), f cannot
 * judge steps; the gradient, computed to full precision, can: a step is
 * then accepted once it shrinks the gradient (halving up to 60 times), and
 * the fit stops when none does or after 20 such steps without a new
 * smallest gradient. The iterate with the smallest gradient is returned.
 * info->converged: gradient below 1e-9, or below 1e-6 where the fit had to
 * stop earlier. Deterministic. The solution is unique: the objective is
 * strictly convex in W, and starting from 0 every iterate keeps
 * sum_c b_c = 0 and sum_c W[c][:] = 0 (the softmax ignores a constant shift
 * of every class's logit). Writes coef [C][M*C], intercept [C]. */
mgc_status mgc_comb_fit_stack(const mgc_comb_data *d, double l2, double *coef,
                              double *intercept, mgc_comb_fit_info *info);

/* The l2 grid mgc_comb_fit_stack_cv picks from. */
#define MGC_COMB_L2_GRID {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0}
#define MGC_COMB_L2_GRID_N 6
/* The l2 used when there are fewer than 2 groups to cross-validate with. */
#define MGC_COMB_L2_DEFAULT 1e-2

/* mgc_comb_fit_stack with l2 chosen by cross-validation over groups
 * (group[i] in [0, n_groups): the tracks' folds): for each l2 of the grid,
 * fit on all groups but g and score the NLL on g, for every g; the l2 with
 * the lowest pooled held-out NLL wins (ties: the larger l2). group NULL or
 * fewer than 2 non-empty groups: MGC_COMB_L2_DEFAULT. *l2 receives it. */
mgc_status mgc_comb_fit_stack_cv(const mgc_comb_data *d, const int *group, int n_groups,
                                 double *l2, double *coef, double *intercept,
                                 mgc_comb_fit_info *info);

#endif
