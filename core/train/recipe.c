#include "mgc/recipe.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ctx {
  const char *origin;
  const char *dir; /* resolves a relative architecture path */
  yaml_document_t *doc;
  mgc_recipe *r;
} ctx;

static mgc_status err_at(const ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mgc_status err_at(const ctx *c, const yaml_node_t *n, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", c->origin, n->start_mark.line + 1,
                       n->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static mgc_status get_num(const ctx *c, const yaml_node_t *n, const char *key, double lo,
                          double hi, double *out) {
  const char *s = scalar(n);
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || errno || end == s || *end || !isfinite(v))
    return err_at(c, n, "'%s' must be a number", key);
  if (v < lo || v > hi) return err_at(c, n, "'%s' must be in [%g, %g], got %g", key, lo, hi, v);
  *out = v;
  return MGC_OK;
}

static mgc_status get_int(const ctx *c, const yaml_node_t *n, const char *key, int lo, int hi,
                          int *out) {
  double v = 0;
  mgc_status st = get_num(c, n, key, lo, hi, &v);
  if (st) return st;
  if (v != floor(v)) return err_at(c, n, "'%s' must be an integer", key);
  *out = (int)v;
  return MGC_OK;
}

static mgc_status get_bool(const ctx *c, const yaml_node_t *n, const char *key, int *out) {
  const char *s = scalar(n);
  if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
    *out = 1;
  } else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
    *out = 0;
  } else {
    return err_at(c, n, "'%s' must be true or false", key);
  }
  return MGC_OK;
}

typedef mgc_status (*pair_fn)(ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v);

static mgc_status each_pair(ctx *c, yaml_node_t *map, const char *what, pair_fn fn) {
  if (map->type != YAML_MAPPING_NODE) return err_at(c, map, "'%s' must be a mapping", what);
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
    const char *key = scalar(k);
    if (!key) return err_at(c, k, "keys must be plain words");
    mgc_status st = fn(c, key, k, v);
    if (st) return st;
  }
  return MGC_OK;
}

static mgc_status optimizer_pair(ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v) {
  mgc_optim_params *o = &c->r->train.optim;
  if (!strcmp(key, "type")) {
    int kind = scalar(v) ? mgc_optim_kind_from_name(scalar(v)) : -1;
    if (kind < 0) return err_at(c, v, "'type' must be sgd, adam or adamw");
    o->kind = (mgc_optim_kind)kind;
    return MGC_OK;
  }
  if (!strcmp(key, "lr")) return get_num(c, v, key, 1e-9, 10, &o->lr);
  if (!strcmp(key, "momentum")) return get_num(c, v, key, 0, 0.999, &o->momentum);
  if (!strcmp(key, "nesterov")) return get_bool(c, v, key, &o->nesterov);
  if (!strcmp(key, "beta1")) return get_num(c, v, key, 0, 0.9999, &o->beta1);
  if (!strcmp(key, "beta2")) return get_num(c, v, key, 0, 0.99999, &o->beta2);
  if (!strcmp(key, "eps")) return get_num(c, v, key, 1e-12, 1, &o->eps);
  if (!strcmp(key, "weight_decay")) return get_num(c, v, key, 0, 1, &o->weight_decay);
  if (!strcmp(key, "clip_norm")) return get_num(c, v, key, 0, 1e6, &o->clip_norm);
  return err_at(c, k,
                "unknown optimizer key '%s' (type, lr, momentum, nesterov, beta1, beta2, eps, "
                "weight_decay, clip_norm)",
                key);
}

static mgc_status schedule_pair(ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v) {
  mgc_schedule *s = &c->r->train.schedule;
  if (!strcmp(key, "type")) {
    int kind = scalar(v) ? mgc_schedule_kind_from_name(scalar(v)) : -1;
    if (kind < 0) return err_at(c, v, "'type' must be constant, step, plateau or cosine");
    s->kind = (mgc_schedule_kind)kind;
    return MGC_OK;
  }
  if (!strcmp(key, "step_size")) return get_int(c, v, key, 1, 100000, &s->step_size);
  if (!strcmp(key, "gamma")) return get_num(c, v, key, 0, 1, &s->gamma);
  if (!strcmp(key, "patience")) return get_int(c, v, key, 0, 100000, &s->patience);
  if (!strcmp(key, "factor")) return get_num(c, v, key, 0, 1, &s->factor);
  if (!strcmp(key, "threshold")) return get_num(c, v, key, 0, 1, &s->threshold);
  if (!strcmp(key, "cooldown")) return get_int(c, v, key, 0, 100000, &s->cooldown);
  if (!strcmp(key, "min_lr")) return get_num(c, v, key, 0, 10, &s->min_lr);
  if (!strcmp(key, "epochs")) return get_int(c, v, key, 1, 100000, &s->total_epochs);
  return err_at(c, k,
                "unknown schedule key '%s' (type, step_size, gamma, patience, factor, threshold, "
                "cooldown, min_lr, epochs)",
                key);
}

static mgc_status augment_pair(ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v) {
  mgc_augment_params *a = &c->r->train.aug;
  if (!strcmp(key, "freq_masks")) return get_int(c, v, key, 0, 100, &a->freq_masks);
  if (!strcmp(key, "freq_mask_max")) return get_int(c, v, key, 0, 10000, &a->freq_mask_max);
  if (!strcmp(key, "time_masks")) return get_int(c, v, key, 0, 100, &a->time_masks);
  if (!strcmp(key, "time_mask_max")) return get_int(c, v, key, 0, 10000, &a->time_mask_max);
  if (!strcmp(key, "reverse_prob")) return get_num(c, v, key, 0, 1, &a->reverse_prob);
  if (!strcmp(key, "gain_db")) return get_num(c, v, key, 0, 60, &a->gain_db);
  if (!strcmp(key, "noise_std")) return get_num(c, v, key, 0, 100, &a->noise_std);
  if (!strcmp(key, "mixup_alpha")) return get_num(c, v, key, 0, 100, &a->mixup_alpha);
  if (!strcmp(key, "offset_max")) return get_int(c, v, key, 0, 100000, &a->offset_max);
  if (!strcmp(key, "audio")) {
    if (v->type != YAML_SEQUENCE_NODE)
      return err_at(c, v, "'audio' must be a list of variants such as [speed1.1, pitch-1]");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
      yaml_node_t *e = yaml_document_get_node(c->doc, *it);
      const char *s = scalar(e);
      if (!s || !*s || strlen(s) >= sizeof c->r->variants[0])
        return err_at(c, e, "an audio variant must be a short name such as speed1.1");
      if (c->r->n_variants == MGC_RECIPE_MAX_VARIANTS)
        return err_at(c, e, "at most %d audio variants", MGC_RECIPE_MAX_VARIANTS);
      if (mgc_audio_variant_check(s)) return err_at(c, e, "%s", mgc_error_message());
      strcpy(c->r->variants[c->r->n_variants++], s);
    }
    return MGC_OK;
  }
  return err_at(c, k,
                "unknown augment key '%s' (freq_masks, freq_mask_max, time_masks, time_mask_max, "
                "reverse_prob, gain_db, noise_std, mixup_alpha, offset_max, audio)",
                key);
}

static mgc_status top_pair(ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v) {
  mgc_train_config *t = &c->r->train;
  if (!strcmp(key, "architecture")) {
    const char *s = scalar(v);
    if (!s || !*s) return err_at(c, v, "'architecture' must be a path");
    if (s[0] == '/' || !c->dir || !*c->dir)
      snprintf(c->r->architecture, sizeof c->r->architecture, "%s", s);
    else
      snprintf(c->r->architecture, sizeof c->r->architecture, "%s/%s", c->dir, s);
    return MGC_OK;
  }
  if (!strcmp(key, "epochs")) return get_int(c, v, key, 1, 100000, &t->epochs);
  if (!strcmp(key, "batch_size")) return get_int(c, v, key, 2, 65536, &t->batch);
  if (!strcmp(key, "seed")) {
    double s = 0;
    mgc_status st = get_num(c, v, key, 0, 9007199254740992.0, &s);
    t->seed = (uint64_t)s;
    return st;
  }
  if (!strcmp(key, "early_stopping")) return get_int(c, v, key, 0, 100000, &t->patience);
  if (!strcmp(key, "label_smoothing")) {
    double s = 0;
    mgc_status st = get_num(c, v, key, 0, 0.99, &s);
    t->smoothing = (float)s;
    return st;
  }
  if (!strcmp(key, "class_weights")) {
    const char *s = scalar(v);
    if (s && !strcmp(s, "balanced")) t->balanced = 1;
    else if (s && !strcmp(s, "none")) t->balanced = 0;
    else return err_at(c, v, "'class_weights' must be balanced or none");
    return MGC_OK;
  }
  if (!strcmp(key, "validation")) return get_num(c, v, key, 0, 0.5, &c->r->validation);
  if (!strcmp(key, "window")) return get_int(c, v, key, 1, 100000, &t->win_len);
  if (!strcmp(key, "window_hop")) return get_int(c, v, key, 1, 100000, &t->win_hop);
  if (!strcmp(key, "optimizer")) return each_pair(c, v, key, optimizer_pair);
  if (!strcmp(key, "schedule")) return each_pair(c, v, key, schedule_pair);
  if (!strcmp(key, "augment")) return each_pair(c, v, key, augment_pair);
  if (!strcmp(key, "description")) return MGC_OK;
  return err_at(c, k,
                "unknown key '%s' (architecture, description, epochs, batch_size, seed, "
                "optimizer, schedule, early_stopping, class_weights, label_smoothing, "
                "validation, window, window_hop, augment)",
                key);
}

mgc_status mgc_recipe_parse(const char *text, const char *origin, const char *dir,
                            mgc_recipe **out) {
  *out = NULL;
  mgc_recipe *r = calloc(1, sizeof *r);
  if (!r || !(r->text = strdup(text))) {
    free(r);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  mgc_train_config_default(&r->train);
  r->validation = 0.2;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    mgc_recipe_free(r);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)r->text, strlen(r->text));
  mgc_status st;
  if (!yaml_parser_load(&parser, &doc)) {
    st = mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", origin, parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "malformed YAML");
  } else {
    ctx c = {origin, dir, &doc, r};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
      st = mgc_error_set(MGC_EINVAL, "%s: empty recipe", origin);
    else
      st = each_pair(&c, root, "recipe", top_pair);
    if (!st && !r->architecture[0])
      st = mgc_error_set(MGC_EINVAL, "%s: missing 'architecture' (path of a conf/models YAML)",
                         origin);
    if (!st && (st = mgc_augment_params_check(&r->train.aug)))
      mgc_error_prefix(st, "%s: augment: ", origin);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  r->train.schedule.base_lr = r->train.schedule.lr = r->train.optim.lr;
  if (r->train.schedule.kind == MGC_SCHED_COSINE && r->train.schedule.total_epochs == 50)
    r->train.schedule.total_epochs = r->train.epochs;
  if (st) {
    mgc_recipe_free(r);
    return st;
  }
  *out = r;
  return MGC_OK;
}

mgc_status mgc_recipe_load(const char *path, mgc_recipe **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  int bad = ferror(f) || (buf && !feof(f));
  fclose(f);
  if (!buf) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if (bad) {
    free(buf);
    return mgc_error_set(MGC_EIO, "%s: unreadable or larger than 1 MB", path);
  }
  buf[n] = '\0';
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else strcpy(dir, ".");
  mgc_status st = mgc_recipe_parse(buf, path, dir, out);
  free(buf);
  return st;
}

void mgc_recipe_free(mgc_recipe *r) {
  if (!r) return;
  free(r->text);
  free(r);
}
