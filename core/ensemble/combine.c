#include "mgc/ensemble/combine.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/util/argmax.h"

static const char *const RULE_NAMES[MGC_COMB_N_RULES] = {"mean", "weighted", "product",
                                                         "agree", "vote", "stack"};

const char *mgc_comb_rule_name(mgc_comb_rule r) {
  return (unsigned)r < MGC_COMB_N_RULES ? RULE_NAMES[r] : "?";
}

int mgc_comb_rule_parse(const char *name) {
  for (int r = 0; name && r < MGC_COMB_N_RULES; r++)
    if (!strcmp(name, RULE_NAMES[r])) return r;
  return -1;
}

mgc_status mgc_combiner_check(const mgc_combiner *c) {
  if (!c || (unsigned)c->rule >= MGC_COMB_N_RULES)
    return mgc_error_set(MGC_EINVAL, "unknown combination rule");
  if (c->n_members < 1) return mgc_error_set(MGC_EINVAL, "an ensemble needs a member");
  if (c->n_classes < 2) return mgc_error_set(MGC_EINVAL, "an ensemble needs 2 classes or more");
  if (!isfinite(c->temperature) || c->temperature < 0)
    return mgc_error_set(MGC_EINVAL, "temperature %g (must be > 0)", c->temperature);
  if (c->rule == MGC_COMB_WEIGHTED) {
    if (!c->weights) return mgc_error_set(MGC_EINVAL, "rule 'weighted' needs weights");
    double s = 0;
    for (int m = 0; m < c->n_members; m++) {
      if (!isfinite(c->weights[m]) || c->weights[m] < 0)
        return mgc_error_set(MGC_EINVAL, "weight %d is %g (must be >= 0)", m + 1, c->weights[m]);
      s += c->weights[m];
    }
    if (fabs(s - 1) > 1e-6)
      return mgc_error_set(MGC_EINVAL, "the weights sum to %.9g, not 1", s);
  }
  if (c->rule == MGC_COMB_STACK) {
    if (!c->coef || !c->intercept)
      return mgc_error_set(MGC_EINVAL, "rule 'stack' needs fitted coefficients");
    const int C = c->n_classes, F = c->n_members * c->n_classes;
    for (int k = 0; k < C; k++) {
      if (!isfinite(c->intercept[k]))
        return mgc_error_set(MGC_EINVAL, "stack intercept %d is not finite", k + 1);
      for (int j = 0; j < F; j++)
        if (!isfinite(c->coef[(size_t)k * F + j]))
          return mgc_error_set(MGC_EINVAL, "stack coefficient [%d][%d] is not finite", k + 1,
                               j + 1);
    }
  }
  return MGC_OK;
}

/* Logit of class k under the product rule: sum of the floored logs. */
static double product_logit(const mgc_combiner *c, const float *p, int k) {
  double s = 0;
  for (int m = 0; m < c->n_members; m++)
    s += log(fmax((double)p[(size_t)m * c->n_classes + k], MGC_COMB_FLOOR));
  return s;
}

static double stack_logit(const mgc_combiner *c, const float *p, int k) {
  const int F = c->n_members * c->n_classes;
  const double *w = c->coef + (size_t)k * F;
  double s = c->intercept[k];
  for (int j = 0; j < F; j++) s += w[j] * p[j];
  return s;
}

/* out = softmax of logit(k), in double, without a scratch buffer: the
 * logits are recomputed (M*C or fewer operations each, negligible). */
static void softmax_of(const mgc_combiner *c, const float *p, float *out,
                       double (*logit)(const mgc_combiner *, const float *, int)) {
  const int C = c->n_classes;
  double mx = -INFINITY, se = 0;
  for (int k = 0; k < C; k++) mx = fmax(mx, logit(c, p, k));
  for (int k = 0; k < C; k++) se += exp(logit(c, p, k) - mx);
  for (int k = 0; k < C; k++) out[k] = (float)(exp(logit(c, p, k) - mx) / se);
}

static double mean_of(const float *p, int M, int C, int k) {
  double s = 0;
  for (int m = 0; m < M; m++) s += p[(size_t)m * C + k];
  return s / M;
}

int mgc_combine(const mgc_combiner *c, const float *p, float *out) {
  const int M = c->n_members, C = c->n_classes;
  switch (c->rule) {
  case MGC_COMB_MEAN:
    for (int k = 0; k < C; k++) out[k] = (float)mean_of(p, M, C, k);
    break;
  case MGC_COMB_WEIGHTED:
    for (int k = 0; k < C; k++) {
      double s = 0;
      for (int m = 0; m < M; m++) s += c->weights[m] * p[(size_t)m * C + k];
      out[k] = (float)s;
    }
    break;
  case MGC_COMB_PRODUCT:
    softmax_of(c, p, out, product_logit);
    break;
  case MGC_COMB_AGREE: {
    int a = mgc_argmax(p, C), agree = 1;
    for (int m = 1; m < M && agree; m++) agree = mgc_argmax(p + (size_t)m * C, C) == a;
    if (agree) {
      for (int k = 0; k < C; k++) out[k] = (float)mean_of(p, M, C, k);
      break;
    }
    /* Classes outer, members inner, strict '>': the first maximum met is the
     * lowest class and, within it, the lowest member. */
    int bm = 0;
    float best = -1;
    for (int k = 0; k < C; k++)
      for (int m = 0; m < M; m++)
        if (p[(size_t)m * C + k] > best) best = p[(size_t)m * C + k], bm = m;
    memcpy(out, p + (size_t)bm * C, (size_t)C * sizeof *out);
    break;
  }
  case MGC_COMB_VOTE:
    /* out holds the vote counts first (small integers, exact in float). */
    for (int k = 0; k < C; k++) out[k] = 0;
    for (int m = 0; m < M; m++) out[mgc_argmax(p + (size_t)m * C, C)] += 1;
    for (int k = 0; k < C; k++) out[k] = (float)((out[k] + mean_of(p, M, C, k)) / (M + 1));
    break;
  case MGC_COMB_STACK:
    softmax_of(c, p, out, stack_logit);
    break;
  default:
    for (int k = 0; k < C; k++) out[k] = 1.0f / C;
    break;
  }
  if (c->temperature > 0 && c->temperature != 1) mgc_temperature_apply(out, C, c->temperature);
  return mgc_argmax(out, C);
}

/* ---- weighted mean: EM for the mixture weights ---- */

static double pfloor(const mgc_comb_data *d, int i, int m) {
  const int M = d->n_members, C = d->n_classes;
  return fmax((double)d->probs[((size_t)i * M + m) * C + d->labels[i]], MGC_COMB_FLOOR);
}

double mgc_comb_weights_objective(const mgc_comb_data *d, const double *w, double *grad) {
  const int M = d->n_members;
  if (grad)
    for (int m = 0; m < M; m++) grad[m] = 0;
  double nll = 0;
  for (int i = 0; i < d->n; i++) {
    double mix = 0;
    for (int m = 0; m < M; m++) mix += w[m] * pfloor(d, i, m);
    nll -= log(mix);
    if (grad)
      for (int m = 0; m < M; m++) grad[m] -= pfloor(d, i, m) / mix / d->n;
  }
  return nll / d->n;
}

static mgc_status check_data(const mgc_comb_data *d) {
  if (!d || d->n < 1 || d->n_members < 1 || d->n_classes < 2 || !d->probs || !d->labels)
    return mgc_error_set(MGC_EINVAL, "nothing to fit on");
  for (int i = 0; i < d->n; i++)
    if (d->labels[i] < 0 || d->labels[i] >= d->n_classes)
      return mgc_error_set(MGC_EINVAL, "track %d: label %d out of range", i + 1, d->labels[i]);
  return MGC_OK;
}

mgc_status mgc_comb_fit_weights(const mgc_comb_data *d, double *weights,
                                mgc_comb_fit_info *info) {
  mgc_status st = check_data(d);
  if (st) return st;
  const int M = d->n_members;
  double *nw = calloc((size_t)M * 2, sizeof *nw), *g = nw + M;
  if (!nw) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int m = 0; m < M; m++) weights[m] = 1.0 / M;
  int it = 0, conv = 0;
  while (it < 100000 && !conv) {
    it++;
    for (int m = 0; m < M; m++) nw[m] = 0;
    for (int i = 0; i < d->n; i++) {
      double mix = 0;
      for (int m = 0; m < M; m++) mix += weights[m] * pfloor(d, i, m);
      for (int m = 0; m < M; m++) nw[m] += weights[m] * pfloor(d, i, m) / mix;
    }
    double s = 0, delta = 0;
    for (int m = 0; m < M; m++) s += nw[m];
    for (int m = 0; m < M; m++) {
      nw[m] /= s;
      delta = fmax(delta, fabs(nw[m] - weights[m]));
      weights[m] = nw[m];
    }
    conv = delta <= 1e-12;
  }
  mgc_comb_fit_info fi = {it, conv, mgc_comb_weights_objective(d, weights, g), 0};
  for (int m = 0; m < M; m++) {
    double r = weights[m] > 0 ? weights[m] * fabs(1 + g[m]) : fmax(0, -g[m] - 1);
    fi.grad_norm = fmax(fi.grad_norm, r);
  }
  if (info) *info = fi;
  free(nw);
  return MGC_OK;
}

/* ---- stacking: L2-regularised multinomial logistic regression ---- */

/* Objective and gradient over the tracks idx[0..n_idx) (all tracks when idx
 * is NULL). z: [C] scratch. */
static double stack_obj(const mgc_comb_data *d, const int *idx, int n_idx, double l2,
                        const double *W, const double *b, double *gW, double *gb, double *z) {
  const int C = d->n_classes, F = d->n_members * d->n_classes;
  if (gW) {
    memset(gW, 0, (size_t)C * F * sizeof *gW);
    memset(gb, 0, (size_t)C * sizeof *gb);
  }
  double loss = 0;
  for (int t = 0; t < n_idx; t++) {
    const int i = idx ? idx[t] : t, y = d->labels[i];
    const float *x = d->probs + (size_t)i * F;
    double zmax = -INFINITY, se = 0;
    for (int k = 0; k < C; k++) {
      double s = b[k];
      const double *w = W + (size_t)k * F;
      for (int j = 0; j < F; j++) s += w[j] * x[j];
      z[k] = s;
      zmax = fmax(zmax, s);
    }
    for (int k = 0; k < C; k++) se += exp(z[k] - zmax);
    const double lse = zmax + log(se);
    loss += lse - z[y];
    if (!gW) continue;
    for (int k = 0; k < C; k++) {
      const double gk = exp(z[k] - lse) - (k == y);
      gb[k] += gk;
      double *gw = gW + (size_t)k * F;
      for (int j = 0; j < F; j++) gw[j] += gk * x[j];
    }
  }
  double reg = 0;
  for (size_t j = 0; j < (size_t)C * F; j++) reg += W[j] * W[j];
  if (gW) {
    for (size_t j = 0; j < (size_t)C * F; j++) gW[j] = gW[j] / n_idx + l2 * W[j];
    for (int k = 0; k < C; k++) gb[k] /= n_idx;
  }
  return loss / n_idx + 0.5 * l2 * reg;
}

double mgc_comb_stack_objective(const mgc_comb_data *d, double l2, const double *coef,
                                const double *intercept, double *grad_coef,
                                double *grad_intercept) {
  double z[256];
  double *zz = d->n_classes <= 256 ? z : malloc((size_t)d->n_classes * sizeof *zz);
  if (!zz) return NAN;
  double f = stack_obj(d, NULL, d->n, l2, coef, intercept, grad_coef,
                       grad_coef ? grad_intercept : NULL, zz);
  if (zz != z) free(zz);
  return f;
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static double inf_norm(const double *a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s = fmax(s, fabs(a[i]));
  return s;
}

#define LBFGS_PAIRS 10

/* theta = [W (C x F) | b (C)], zero on entry; the fit on tracks idx. */
static mgc_status lbfgs_stack(const mgc_comb_data *d, const int *idx, int n_idx, double l2,
                              double *theta, mgc_comb_fit_info *info) {
  const int C = d->n_classes, F = d->n_members * d->n_classes;
  const size_t P = (size_t)C * F + (size_t)C, CF = (size_t)C * F;
  double *buf = calloc(P * (5 + 2 * LBFGS_PAIRS) + (size_t)C + 2 * LBFGS_PAIRS, sizeof *buf);
  if (!buf) return mgc_error_set(MGC_ENOMEM, "out of memory");
  double *g = buf, *gn = g + P, *xn = gn + P, *dir = xn + P, *best = dir + P, *S = best + P,
         *Y = S + P * LBFGS_PAIRS, *rho = Y + P * LBFGS_PAIRS, *alpha = rho + LBFGS_PAIRS,
         *z = alpha + LBFGS_PAIRS;
  double f = stack_obj(d, idx, n_idx, l2, theta, theta + CF, g, g + CF, z);
  double best_g = inf_norm(g, P), best_f = f;
  memcpy(best, theta, P * sizeof *best);
  int n_pairs = 0, head = 0, it = 0, conv = 0, stalled = 0;
  for (; it < 2000; it++) {
    double gmax = inf_norm(g, P);
    if (gmax < 1e-9) {
      conv = 1;
      break;
    }
    /* Two-loop recursion: dir = -H g. */
    for (size_t j = 0; j < P; j++) dir[j] = -g[j];
    for (int q = 0; q < n_pairs; q++) {
      int s = (head - 1 - q + LBFGS_PAIRS) % LBFGS_PAIRS;
      alpha[s] = rho[s] * dot(S + s * P, dir, P);
      for (size_t j = 0; j < P; j++) dir[j] -= alpha[s] * Y[s * P + j];
    }
    double gamma = 1;
    if (n_pairs) {
      int s = (head - 1 + LBFGS_PAIRS) % LBFGS_PAIRS;
      gamma = dot(S + s * P, Y + s * P, P) / dot(Y + s * P, Y + s * P, P);
    }
    for (size_t j = 0; j < P; j++) dir[j] *= gamma;
    for (int q = n_pairs - 1; q >= 0; q--) {
      int s = (head - 1 - q + LBFGS_PAIRS) % LBFGS_PAIRS;
      double beta = rho[s] * dot(Y + s * P, dir, P);
      for (size_t j = 0; j < P; j++) dir[j] += (alpha[s] - beta) * S[s * P + j];
    }
    double gd = dot(g, dir, P);
    if (!(gd < 0)) { /* not a descent direction: forget the curvature pairs */
      n_pairs = head = 0;
      for (size_t j = 0; j < P; j++) dir[j] = -g[j];
      gd = dot(g, dir, P);
    }
    /* Armijo backtracking from the full step. When the decrease the step
     * promises is below what the objective's rounding resolves, f cannot
     * judge steps any more; the gradient (computed to full precision) can:
     * the step is then accepted once it shrinks the gradient. */
    const int noise = -gd <= 64 * DBL_EPSILON * fmax(1, fabs(f));
    double t = 1, fn = f;
    int ok = 0;
    for (int ls = 0; ls < 60 && !ok; ls++) {
      for (size_t j = 0; j < P; j++) xn[j] = theta[j] + t * dir[j];
      fn = stack_obj(d, idx, n_idx, l2, xn, xn + CF, gn, gn + CF, z);
      ok = noise ? inf_norm(gn, P) < gmax : fn <= f + 1e-4 * t * gd;
      if (!ok) t *= 0.5;
    }
    if (!ok) break; /* no representable decrease left */
    if (noise && ++stalled > 20) break;
    double *s = S + head * P, *y = Y + head * P;
    for (size_t j = 0; j < P; j++) {
      s[j] = xn[j] - theta[j];
      y[j] = gn[j] - g[j];
    }
    double sy = dot(s, y, P);
    if (sy > 1e-16 * sqrt(dot(s, s, P) * dot(y, y, P))) {
      rho[head] = 1 / sy;
      head = (head + 1) % LBFGS_PAIRS;
      if (n_pairs < LBFGS_PAIRS) n_pairs++;
    }
    memcpy(theta, xn, P * sizeof *theta);
    memcpy(g, gn, P * sizeof *g);
    f = fn;
    const double gnew = inf_norm(g, P);
    if (gnew < best_g) {
      best_g = gnew, best_f = f;
      memcpy(best, theta, P * sizeof *best);
      stalled = 0;
    }
  }
  if (best_g < inf_norm(g, P)) memcpy(theta, best, P * sizeof *theta);
  else best_g = inf_norm(g, P), best_f = f;
  if (!conv) conv = best_g < 1e-6;
  if (info) *info = (mgc_comb_fit_info){it, conv, best_f, best_g};
  free(buf);
  return MGC_OK;
}

mgc_status mgc_comb_fit_stack(const mgc_comb_data *d, double l2, double *coef,
                              double *intercept, mgc_comb_fit_info *info) {
  mgc_status st = check_data(d);
  if (st) return st;
  if (!(l2 > 0) || !isfinite(l2)) return mgc_error_set(MGC_EINVAL, "l2 must be > 0, got %g", l2);
  const size_t CF = (size_t)d->n_classes * d->n_members * d->n_classes;
  double *theta = calloc(CF + (size_t)d->n_classes, sizeof *theta);
  if (!theta) return mgc_error_set(MGC_ENOMEM, "out of memory");
  st = lbfgs_stack(d, NULL, d->n, l2, theta, info);
  if (!st) {
    memcpy(coef, theta, CF * sizeof *coef);
    memcpy(intercept, theta + CF, (size_t)d->n_classes * sizeof *intercept);
  }
  free(theta);
  return st;
}

mgc_status mgc_comb_fit_stack_cv(const mgc_comb_data *d, const int *group, int n_groups,
                                 double *l2, double *coef, double *intercept,
                                 mgc_comb_fit_info *info) {
  mgc_status st = check_data(d);
  if (st) return st;
  const int C = d->n_classes, n = d->n;
  const size_t CF = (size_t)C * d->n_members * C;
  int non_empty = 0;
  int *count = group && n_groups > 0 ? calloc((size_t)n_groups, sizeof *count) : NULL;
  for (int i = 0; count && i < n; i++) {
    if (group[i] < 0 || group[i] >= n_groups) {
      free(count);
      return mgc_error_set(MGC_EINVAL, "track %d: group %d out of range", i + 1, group[i]);
    }
    if (!count[group[i]]++) non_empty++;
  }
  free(count);
  double chosen = MGC_COMB_L2_DEFAULT;
  if (non_empty >= 2) {
    static const double grid[MGC_COMB_L2_GRID_N] = MGC_COMB_L2_GRID;
    int *tr = malloc((size_t)n * sizeof *tr), *te = malloc((size_t)n * sizeof *te);
    double *theta = malloc((CF + (size_t)C) * sizeof *theta);
    double *z = malloc((size_t)C * sizeof *z);
    if (!tr || !te || !theta || !z) st = mgc_error_set(MGC_ENOMEM, "out of memory");
    double best = INFINITY;
    for (int q = 0; !st && q < MGC_COMB_L2_GRID_N; q++) {
      double nll = 0;
      for (int g = 0; !st && g < n_groups; g++) {
        int ntr = 0, nte = 0;
        for (int i = 0; i < n; i++) {
          if (group[i] == g) te[nte++] = i;
          else tr[ntr++] = i;
        }
        if (!nte) continue;
        memset(theta, 0, (CF + (size_t)C) * sizeof *theta);
        if ((st = lbfgs_stack(d, tr, ntr, grid[q], theta, NULL))) break;
        /* Held-out NLL, probabilities floored as everywhere else. */
        for (int t = 0; t < nte; t++) {
          double v = stack_obj(d, te + t, 1, 0, theta, theta + CF, NULL, NULL, z);
          nll += fmin(v, -log(MGC_COMB_FLOOR));
        }
      }
      nll /= n;
      if (!st && nll <= best + 1e-12 * fabs(best)) best = nll, chosen = grid[q];
    }
    free(tr);
    free(te);
    free(theta);
    free(z);
    if (st) return st;
  }
  *l2 = chosen;
  return mgc_comb_fit_stack(d, chosen, coef, intercept, info);
}
