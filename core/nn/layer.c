#include "mgc/nn/layer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

size_t mgc_shape_size(const mgc_shape *s) {
  size_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= (size_t)s->d[i];
  return n;
}

mgc_shape mgc_shape_make(int ndim, int d0, int d1, int d2) {
  mgc_shape s = {ndim, {d0, d1, d2, 0}};
  for (int i = ndim; i < MGC_MAX_DIMS; i++) s.d[i] = 0;
  return s;
}

const char *mgc_shape_str(const mgc_shape *s, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < s->ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ", %d" : "%d", s->d[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

/* ---- option getters ---------------------------------------------------- */

static mgc_spec_opt *find_opt(mgc_layer_spec *s, const char *key) {
  for (int i = 0; i < s->n_opts; i++)
    if (strcmp(s->opt[i].key, key) == 0) {
      s->opt[i].used = 1;
      return &s->opt[i];
    }
  return NULL;
}

void mgc_spec_where(const mgc_layer_spec *s, const char *key, int *line, int *col) {
  *line = s->line;
  *col = s->col;
  for (int i = 0; key && i < s->n_opts; i++)
    if (strcmp(s->opt[i].key, key) == 0) {
      *line = s->opt[i].line;
      *col = s->opt[i].col;
    }
}

static mgc_status parse_int(const mgc_layer_spec *s, const mgc_spec_opt *o, const char *txt,
                            int lo, int hi, int *out) {
  if (strcmp(txt, "classes") == 0 && s->n_classes > 0) {
    *out = s->n_classes;
  } else {
    char *end;
    errno = 0;
    long v = strtol(txt, &end, 10);
    if (errno || end == txt || *end)
      return mgc_error_set(MGC_EINVAL, "'%s' must be an integer, got '%s'", o->key, txt);
    if (v < lo || v > hi)
      return mgc_error_set(MGC_EINVAL, "'%s' must be in [%d, %d], got %ld", o->key, lo, hi, v);
    *out = (int)v;
  }
  return MGC_OK;
}

mgc_status mgc_spec_int(mgc_layer_spec *s, const char *key, int def, int lo, int hi, int *out) {
  mgc_spec_opt *o = find_opt(s, key);
  *out = def;
  if (!o) return MGC_OK;
  if (o->is_list) return mgc_error_set(MGC_EINVAL, "'%s' must be a single integer", key);
  return parse_int(s, o, o->item[0], lo, hi, out);
}

mgc_status mgc_spec_int2(mgc_layer_spec *s, const char *key, int def, int lo, int hi,
                         int out[2]) {
  mgc_spec_opt *o = find_opt(s, key);
  out[0] = out[1] = def;
  if (!o) return MGC_OK;
  if (o->n_items != 1 && o->n_items != 2)
    return mgc_error_set(MGC_EINVAL, "'%s' must be an integer or a pair [a, b]", key);
  for (int i = 0; i < o->n_items; i++) {
    mgc_status st = parse_int(s, o, o->item[i], lo, hi, &out[i]);
    if (st) return st;
  }
  if (o->n_items == 1) out[1] = out[0];
  return MGC_OK;
}

mgc_status mgc_spec_float(mgc_layer_spec *s, const char *key, double def, double lo, double hi,
                          double *out) {
  mgc_spec_opt *o = find_opt(s, key);
  *out = def;
  if (!o) return MGC_OK;
  if (o->is_list) return mgc_error_set(MGC_EINVAL, "'%s' must be a single number", key);
  char *end;
  errno = 0;
  double v = strtod(o->item[0], &end);
  if (errno || end == o->item[0] || *end || !isfinite(v))
    return mgc_error_set(MGC_EINVAL, "'%s' must be a number, got '%s'", key, o->item[0]);
  if (v < lo || v > hi)
    return mgc_error_set(MGC_EINVAL, "'%s' must be in [%g, %g], got %g", key, lo, hi, v);
  *out = v;
  return MGC_OK;
}

mgc_status mgc_spec_bool(mgc_layer_spec *s, const char *key, int def, int *out) {
  mgc_spec_opt *o = find_opt(s, key);
  *out = def;
  if (!o) return MGC_OK;
  const char *t = o->item[0];
  if (!o->is_list && (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "on"))) {
    *out = 1;
  } else if (!o->is_list && (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "off"))) {
    *out = 0;
  } else {
    return mgc_error_set(MGC_EINVAL, "'%s' must be true or false, got '%s'", key, t);
  }
  return MGC_OK;
}

mgc_status mgc_spec_choice(mgc_layer_spec *s, const char *key, const char *choices, int def,
                           int *out) {
  mgc_spec_opt *o = find_opt(s, key);
  *out = def;
  if (!o) return MGC_OK;
  size_t n = strlen(o->item[0]);
  const char *p = choices;
  for (int i = 0; !o->is_list && *p; i++) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, o->item[0], n) == 0) {
      *out = i;
      return MGC_OK;
    }
    p += len + (bar ? 1 : 0);
  }
  return mgc_error_set(MGC_EINVAL, "'%s' must be one of %s, got '%s'", key, choices,
                       o->item[0]);
}

/* ---- registry ---------------------------------------------------------- */

static const struct {
  const char *type;
  mgc_layer_ctor ctor;
} k_registry[] = {
    {"dense", mgc_dense_create},         {"linear", mgc_dense_create},
    {"relu", mgc_activation_create},     {"leaky_relu", mgc_activation_create},
    {"elu", mgc_activation_create},      {"tanh", mgc_activation_create},
    {"sigmoid", mgc_activation_create},  {"softmax", mgc_softmax_create},
    {"dropout", mgc_dropout_create},     {"to_sequence", mgc_reshape_create},
    {"flatten", mgc_reshape_create},     {"temporal_pool", mgc_temporal_pool_create},
    {"conv1d", mgc_conv_create},         {"conv2d", mgc_conv_create},
    {"maxpool1d", mgc_pool_create},      {"maxpool2d", mgc_pool_create},
    {"avgpool1d", mgc_pool_create},      {"avgpool2d", mgc_pool_create},
    {"global_avgpool", mgc_pool_create}, {"global_maxpool", mgc_pool_create},
    {"batchnorm", mgc_batchnorm_create}, {"batchnorm1d", mgc_batchnorm_create},
    {"batchnorm2d", mgc_batchnorm_create}, {"gru", mgc_gru_create},
    {"lstm", mgc_lstm_create},
};

mgc_status mgc_layer_new(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                         mgc_layer **out) {
  *out = NULL;
  for (size_t i = 0; i < sizeof k_registry / sizeof k_registry[0]; i++) {
    if (strcmp(k_registry[i].type, spec->type) != 0) continue;
    mgc_status st = k_registry[i].ctor(spec, in, rng, out);
    if (st) return st;
    for (int k = 0; k < spec->n_opts; k++)
      if (!spec->opt[k].used) {
        mgc_layer_free(*out);
        *out = NULL;
        return mgc_error_set(MGC_EINVAL, "unknown option '%s' for %s", spec->opt[k].key,
                             spec->type);
      }
    return MGC_OK;
  }
  char known[600] = "";
  for (size_t i = 0; i < sizeof k_registry / sizeof k_registry[0]; i++) {
    if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
    strncat(known, k_registry[i].type, sizeof known - strlen(known) - 1);
  }
  return mgc_error_set(MGC_EINVAL, "unknown layer type '%s' (known: %s)", spec->type, known);
}

mgc_status mgc_layer_alloc(const mgc_layer_ops *ops, const mgc_layer_spec *spec,
                           const mgc_shape *in, int max_params, mgc_layer **out) {
  mgc_layer *l = calloc(1, sizeof *l);
  if (!l) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if (max_params > 0 && !(l->params = calloc((size_t)max_params, sizeof *l->params))) {
    free(l);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  l->ops = ops;
  snprintf(l->name, sizeof l->name, "%s", spec->name);
  l->in = *in;
  l->out = *in;
  *out = l;
  return MGC_OK;
}

mgc_status mgc_layer_add_param(mgc_layer *l, const char *suffix, int trainable, int ndim,
                               const int *shape, mgc_param **out) {
  mgc_param *p = &l->params[l->n_params];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
  p->ndim = ndim;
  p->size = 1;
  for (int i = 0; i < ndim; i++) {
    p->shape[i] = shape[i];
    p->size *= (size_t)shape[i];
  }
  p->value = calloc(p->size, sizeof(float));
  p->grad = trainable ? calloc(p->size, sizeof(float)) : NULL;
  if (!p->value || (trainable && !p->grad)) {
    free(p->value);
    free(p->grad);
    return mgc_error_set(MGC_ENOMEM, "out of memory for %s", p->name);
  }
  l->n_params++;
  if (out) *out = p;
  return MGC_OK;
}

void mgc_param_uniform(mgc_param *p, mgc_rng *rng, float bound) {
  for (size_t i = 0; i < p->size; i++)
    p->value[i] = (float)((2.0 * mgc_rng_uniform(rng) - 1.0) * bound);
}

void mgc_param_fill(mgc_param *p, float v) {
  for (size_t i = 0; i < p->size; i++) p->value[i] = v;
}

void mgc_layer_free(mgc_layer *l) {
  if (!l) return;
  if (l->ops && l->ops->destroy) l->ops->destroy(l);
  for (int i = 0; i < l->n_params; i++) {
    free(l->params[i].value);
    free(l->params[i].grad);
  }
  free(l->params);
  free(l);
}
