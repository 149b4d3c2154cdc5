#include "mgc/model/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mgc_session {
  const mgc_model *model;
  mgc_net *net;        /* private copy of model->net's tensors, layers reordered below */
  int max_batch;
  size_t in_size;      /* floats per sample */
  float *xn;           /* standardised input, max_batch samples; NULL when not needed */
};

/* ---- inference order ------------------------------------------------------
 *
 * A session only runs inference, so its net may apply the layers in another
 * order when that gives the same numbers, bit for bit. A max pool commutes
 * with any per-element function that never decreases: relu, dropout (the
 * identity at inference) and an eval-mode batchnorm whose scales
 * gamma / sqrt(var + eps) are all >= 0 (each float operation of
 * (x - mean) * scale + beta is then monotone). Moving the pool in front of
 * them makes them run on the pooled map, 4 to 20 times smaller in
 * conv-batchnorm-relu-pool blocks, where they cost as much as the conv.
 *
 * A batchnorm channel with a negative gamma right after a conv is made
 * non-negative without changing any bit of its output: the conv's output
 * channel is negated (weights and bias: float rounding is symmetric, so the
 * conv yields exactly -y), and the batchnorm's gamma and running mean are
 * negated ((-y - (-mean)) * (-scale) is (y - mean) * scale, exactly).
 * Layers keep their names, so the model's tensors find their places. */

static int is_type(const mgc_layer_spec *sp, const char *a, const char *b, const char *c) {
  return !strcmp(sp->type, a) || (b && !strcmp(sp->type, b)) || (c && !strcmp(sp->type, c));
}

static int is_bn(const mgc_layer_spec *sp) {
  return is_type(sp, "batchnorm", "batchnorm2d", "batchnorm1d");
}

static mgc_param *param_of(mgc_net *net, const char *layer, const char *suffix) {
  char name[160];
  snprintf(name, sizeof name, "%s.%s", layer, suffix);
  return mgc_net_find_param(net, name);
}

/* Whether batchnorm `bn` (a layer of the model) has a channel that must be
 * flipped (*flip = 1), and whether its scales are >= 0 once flipped: never
 * for a variance that is not positive or a NaN. */
static int bn_orderable(mgc_net *net, const char *bn, int *flip) {
  mgc_param *g = param_of(net, bn, "weight"), *v = param_of(net, bn, "running_var");
  *flip = 0;
  if (!v) return 0;
  for (size_t c = 0; c < v->size; c++) {
    if (!(v->value[c] >= 0.0f)) return 0;
    if (g && g->value[c] < 0.0f) *flip = 1;
    if (g && g->value[c] != g->value[c]) return 0;
  }
  return 1;
}

/* A batchnorm whose negative channels are flipped with the conv feeding it. */
typedef struct {
  char conv[64], bn[64];
} flip_pair;

/* Reorder specs[0, n) (a copy of the model's layers); returns the number of
 * flips it relies on, written to flips. */
static int reorder(mgc_net *model_net, mgc_layer_spec *specs, int n, flip_pair *flips) {
  int n_flips = 0;
  for (int i = 1; i < n; i++) {
    if (!is_type(&specs[i], "maxpool2d", "maxpool1d", NULL)) continue;
    for (int j = i; j > 0; j--) {
      mgc_layer_spec *prev = &specs[j - 1];
      int flip = 0;
      if (is_bn(prev)) {
        if (!bn_orderable(model_net, prev->name, &flip)) break;
        if (flip && !(j >= 2 && is_type(&specs[j - 2], "conv2d", "conv1d", NULL))) break;
      } else if (!is_type(prev, "relu", "dropout", NULL)) {
        break;
      }
      if (flip) {
        memcpy(flips[n_flips].conv, specs[j - 2].name, sizeof flips->conv);
        memcpy(flips[n_flips++].bn, prev->name, sizeof flips->bn);
      }
      mgc_layer_spec t = *prev;
      *prev = specs[j];
      specs[j] = t;
    }
  }
  return n_flips;
}

/* Negate the channels of batchnorm `bn` with gamma < 0 and of the conv
 * `conv` that feeds it, in the session's net. */
static void flip_channels(mgc_net *net, const char *conv, const char *bn) {
  mgc_param *g = param_of(net, bn, "weight"), *m = param_of(net, bn, "running_mean");
  mgc_param *w = param_of(net, conv, "weight"), *b = param_of(net, conv, "bias");
  size_t k = w->size / (size_t)w->shape[0];
  for (size_t c = 0; c < g->size; c++) {
    if (!(g->value[c] < 0.0f)) continue;
    g->value[c] = -g->value[c];
    m->value[c] = -m->value[c];
    for (size_t j = 0; j < k; j++) w->value[c * k + j] = -w->value[c * k + j];
    if (b) b->value[c] = -b->value[c];
  }
}

/* The session's net: the model's layers reordered as above, its tensors
 * copied, the flips applied. */
static mgc_status build_net(const mgc_model *m, mgc_net **out) {
  *out = NULL;
  const mgc_arch *a = m->arch;
  mgc_arch copy = *a;
  mgc_layer_spec *specs = malloc((size_t)a->n_layers * sizeof *specs);
  flip_pair *flips = malloc((size_t)a->n_layers * sizeof *flips);
  mgc_net *net = NULL;
  mgc_status st = MGC_OK;
  if (!specs || !flips) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  memcpy(specs, a->layers, (size_t)a->n_layers * sizeof *specs);
  int n_flips = reorder(m->net, specs, a->n_layers, flips);
  copy.layers = specs;
  if ((st = mgc_net_new(&copy, m->n_classes, 0, &net))) goto done;
  for (int i = 0; i < mgc_net_n_params(m->net) && !st; i++) {
    const mgc_param *src = mgc_net_param(m->net, i);
    mgc_param *dst = mgc_net_find_param(net, src->name);
    if (!dst || dst->size != src->size)
      st = mgc_error_set(MGC_ESTATE, "model net and architecture disagree on '%s'", src->name);
    else
      memcpy(dst->value, src->value, src->size * sizeof(float));
  }
  for (int f = 0; f < n_flips && !st; f++) flip_channels(net, flips[f].conv, flips[f].bn);
done:
  if (st) mgc_net_free(net);
  else *out = net;
  free(specs);
  free(flips);
  return st;
}

mgc_status mgc_session_new(const mgc_model *m, int max_batch, mgc_session **out) {
  *out = NULL;
  if (max_batch < 1) return mgc_error_set(MGC_EINVAL, "session batch size must be >= 1");
  mgc_status st = mgc_model_check_norm(m);
  if (st) return st;
  mgc_session *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->model = m;
  s->max_batch = max_batch;
  s->in_size = mgc_shape_size(&m->arch->input);
  if ((st = build_net(m, &s->net))) goto fail;
  if ((st = mgc_net_plan(s->net, max_batch, 0))) goto fail;
  if (m->norm_dim > 0 && !(s->xn = malloc((size_t)max_batch * s->in_size * sizeof(float)))) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto fail;
  }
  *out = s;
  return MGC_OK;
fail:
  mgc_session_free(s);
  return st;
}

mgc_status mgc_session_run(mgc_session *s, const float *x, int batch, float *probs) {
  if (batch < 1 || batch > s->max_batch)
    return mgc_error_set(MGC_EINVAL, "batch of %d outside the session's 1..%d", batch,
                         s->max_batch);
  const float *in = x;
  if (s->xn) {
    mgc_model_standardize(s->model, x, s->xn, batch);
    in = s->xn;
  }
  const float *p = mgc_net_predict(s->net, in, batch);
  if (!p) return MGC_ESTATE;
  memcpy(probs, p, (size_t)batch * (size_t)s->model->n_classes * sizeof(float));
  return MGC_OK;
}

int mgc_session_max_batch(const mgc_session *s) { return s->max_batch; }
const mgc_model *mgc_session_model(const mgc_session *s) { return s->model; }

void mgc_session_free(mgc_session *s) {
  if (!s) return;
  mgc_net_free(s->net);
  free(s->xn);
  free(s);
}
