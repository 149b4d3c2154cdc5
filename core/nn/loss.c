#include "mgc/nn/loss.h"

#include <math.h>
#include <stddef.h>

/* Row-wise log-softmax into logp (double for an accurate loss). */
static void log_softmax(const float *z, int c, double *logp) {
  double m = z[0];
  for (int k = 1; k < c; k++) m = z[k] > m ? z[k] : m;
  double s = 0;
  for (int k = 0; k < c; k++) s += exp(z[k] - m);
  double lse = m + log(s);
  for (int k = 0; k < c; k++) logp[k] = z[k] - lse;
}

double mgc_softmax_ce(const float *logits, int batch, int classes, const int *labels,
                      const float *targets, const float *class_weights, float smoothing,
                      float *dlogits, float *probs) {
  double logp[classes];
  double total = 0, norm = 0;
  const double s = smoothing, u = s / classes;
  /* PyTorch's 'mean' divides by the summed weight of the target classes for
   * index targets, and by the batch size for probability targets. */
  for (int i = 0; i < batch; i++) {
    if (labels) norm += class_weights ? class_weights[labels[i]] : 1.0;
  }
  if (!labels) norm = batch;
  if (norm <= 0) norm = 1;
  for (int i = 0; i < batch; i++) {
    const float *z = logits + (size_t)i * classes;
    log_softmax(z, classes, logp);
    if (probs)
      for (int k = 0; k < classes; k++) probs[(size_t)i * classes + k] = (float)exp(logp[k]);
    /* Effective target distribution q and weights: loss_i = -sum_k a_k logp_k
     * with a_k = w_k * q_k, so dloss/dz = (sum_k a_k) p - a. */
    double a[classes], asum = 0;
    for (int k = 0; k < classes; k++) {
      double w = class_weights ? class_weights[k] : 1.0;
      double q;
      if (labels) {
        /* (1-s) * onehot weighted by w_y, plus s/C of every class weighted
         * by its own w: torch's nll term + smoothing term. */
        q = (k == labels[i] ? (1.0 - s) : 0.0) + u;
      } else {
        q = (1.0 - s) * targets[(size_t)i * classes + k] + u;
      }
      a[k] = w * q;
      asum += a[k];
      total -= a[k] * logp[k];
    }
    if (dlogits)
      for (int k = 0; k < classes; k++)
        dlogits[(size_t)i * classes + k] = (float)((asum * exp(logp[k]) - a[k]) / norm);
  }
  return total / norm;
}
