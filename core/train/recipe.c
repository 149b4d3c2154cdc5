#include "mgc/train/recipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/util/yaml_util.h"

typedef struct ctx {
  const char *origin;
  const char *dir; /* resolves a relative architecture path */
  mgc_recipe *r;
} ctx;

static mgc_status optimizer_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *c = y->user;
  mgc_optim_params *o = &c->r->train.optim;
  if (!strcmp(key, "type")) {
    int kind = mgc_yaml_scalar(v) ? mgc_optim_kind_from_name(mgc_yaml_scalar(v)) : -1;
    if (kind < 0) return mgc_yaml_err_at(c->origin, v, "'type' must be sgd, adam or adamw");
    o->kind = (mgc_optim_kind)kind;
    return MGC_OK;
  }
  if (!strcmp(key, "lr")) return mgc_yaml_get_num(c->origin, v, key, 1e-9, 10, &o->lr);
  if (!strcmp(key, "momentum")) return mgc_yaml_get_num(c->origin, v, key, 0, 0.999, &o->momentum);
  if (!strcmp(key, "nesterov")) return mgc_yaml_get_bool(c->origin, v, key, &o->nesterov);
  if (!strcmp(key, "beta1")) return mgc_yaml_get_num(c->origin, v, key, 0, 0.9999, &o->beta1);
  if (!strcmp(key, "beta2")) return mgc_yaml_get_num(c->origin, v, key, 0, 0.99999, &o->beta2);
  if (!strcmp(key, "eps")) return mgc_yaml_get_num(c->origin, v, key, 1e-12, 1, &o->eps);
  if (!strcmp(key, "weight_decay"))
    return mgc_yaml_get_num(c->origin, v, key, 0, 1, &o->weight_decay);
  if (!strcmp(key, "clip_norm")) return mgc_yaml_get_num(c->origin, v, key, 0, 1e6, &o->clip_norm);
  return mgc_yaml_err_at(
      c->origin, k,
      "unknown optimizer key '%s' (type, lr, momentum, nesterov, beta1, beta2, eps, "
      "weight_decay, clip_norm)",
      key);
}

static mgc_status schedule_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *c = y->user;
  mgc_schedule *s = &c->r->train.schedule;
  if (!strcmp(key, "type")) {
    int kind = mgc_yaml_scalar(v) ? mgc_schedule_kind_from_name(mgc_yaml_scalar(v)) : -1;
    if (kind < 0)
      return mgc_yaml_err_at(c->origin, v, "'type' must be constant, step, plateau or cosine");
    s->kind = (mgc_schedule_kind)kind;
    return MGC_OK;
  }
  if (!strcmp(key, "step_size"))
    return mgc_yaml_get_int(c->origin, v, key, 1, 100000, &s->step_size);
  if (!strcmp(key, "gamma")) return mgc_yaml_get_num(c->origin, v, key, 0, 1, &s->gamma);
  if (!strcmp(key, "patience")) return mgc_yaml_get_int(c->origin, v, key, 0, 100000, &s->patience);
  if (!strcmp(key, "factor")) return mgc_yaml_get_num(c->origin, v, key, 0, 1, &s->factor);
  if (!strcmp(key, "threshold")) return mgc_yaml_get_num(c->origin, v, key, 0, 1, &s->threshold);
  if (!strcmp(key, "cooldown")) return mgc_yaml_get_int(c->origin, v, key, 0, 100000, &s->cooldown);
  if (!strcmp(key, "min_lr")) return mgc_yaml_get_num(c->origin, v, key, 0, 10, &s->min_lr);
  if (!strcmp(key, "epochs"))
    return mgc_yaml_get_int(c->origin, v, key, 1, 100000, &s->total_epochs);
  return mgc_yaml_err_at(
      c->origin, k,
      "unknown schedule key '%s' (type, step_size, gamma, patience, factor, threshold, "
      "cooldown, min_lr, epochs)",
      key);
}

static mgc_status augment_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *c = y->user;
  mgc_augment_params *a = &c->r->train.aug;
  if (!strcmp(key, "freq_masks"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 100, &a->freq_masks);
  if (!strcmp(key, "freq_mask_max"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 10000, &a->freq_mask_max);
  if (!strcmp(key, "time_masks"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 100, &a->time_masks);
  if (!strcmp(key, "time_mask_max"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 10000, &a->time_mask_max);
  if (!strcmp(key, "reverse_prob"))
    return mgc_yaml_get_num(c->origin, v, key, 0, 1, &a->reverse_prob);
  if (!strcmp(key, "band_roll")) return mgc_yaml_get_bool(c->origin, v, key, &a->band_roll);
  if (!strcmp(key, "gain_db")) return mgc_yaml_get_num(c->origin, v, key, 0, 60, &a->gain_db);
  if (!strcmp(key, "noise_std")) return mgc_yaml_get_num(c->origin, v, key, 0, 100, &a->noise_std);
  if (!strcmp(key, "mixup_alpha"))
    return mgc_yaml_get_num(c->origin, v, key, 0, 100, &a->mixup_alpha);
  if (!strcmp(key, "offset_max"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 100000, &a->offset_max);
  if (!strcmp(key, "audio")) {
    if (v->type != YAML_SEQUENCE_NODE)
      return mgc_yaml_err_at(c->origin, v,
                             "'audio' must be a list of variants such as [speed1.1, pitch-1]");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
      yaml_node_t *e = yaml_document_get_node(y->doc, *it);
      const char *s = mgc_yaml_scalar(e);
      if (!s || !*s || strlen(s) >= sizeof c->r->variants[0])
        return mgc_yaml_err_at(c->origin, e,
                               "an audio variant must be a short name such as speed1.1");
      if (c->r->n_variants == MGC_RECIPE_MAX_VARIANTS)
        return mgc_yaml_err_at(c->origin, e, "at most %d audio variants", MGC_RECIPE_MAX_VARIANTS);
      if (mgc_audio_variant_check(s))
        return mgc_yaml_err_at(c->origin, e, "%s", mgc_error_message());
      strcpy(c->r->variants[c->r->n_variants++], s);
    }
    return MGC_OK;
  }
  return mgc_yaml_err_at(
      c->origin, k,
      "unknown augment key '%s' (freq_masks, freq_mask_max, time_masks, time_mask_max, "
      "reverse_prob, band_roll, gain_db, noise_std, mixup_alpha, offset_max, audio)",
      key);
}

/* lr_scale: {prefix: multiplier, ...}: the parameters whose names start
 * with prefix learn at lr * multiplier (a pretrained body slower than a
 * new head). */
static mgc_status lr_scale_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *c = y->user;
  mgc_train_config *t = &c->r->train;
  if (strlen(key) >= sizeof t->lr_rules[0].prefix)
    return mgc_yaml_err_at(c->origin, k, "parameter prefix '%s' is too long", key);
  if (t->n_lr_rules == MGC_TRAIN_MAX_LR_RULES)
    return mgc_yaml_err_at(c->origin, k, "at most %d learning-rate rules", MGC_TRAIN_MAX_LR_RULES);
  mgc_lr_rule *r = &t->lr_rules[t->n_lr_rules];
  mgc_status st = mgc_yaml_get_num(c->origin, v, key, 0, 1000, &r->scale);
  if (st) return st;
  snprintf(r->prefix, sizeof r->prefix, "%s", key);
  t->n_lr_rules++;
  return MGC_OK;
}

/* freeze: [prefix, ...]: rules of multiplier 0. */
static mgc_status freeze_list(ctx *c, mgc_yaml *y, yaml_node_t *v) {
  mgc_train_config *t = &c->r->train;
  if (v->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(c->origin, v, "'freeze' must be a list of parameter-name prefixes");
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    yaml_node_t *e = yaml_document_get_node(y->doc, *it);
    const char *s = mgc_yaml_scalar(e);
    if (!s || !*s || strlen(s) >= sizeof t->lr_rules[0].prefix)
      return mgc_yaml_err_at(c->origin, e, "a frozen prefix must be a short name such as layer1");
    if (t->n_lr_rules == MGC_TRAIN_MAX_LR_RULES)
      return mgc_yaml_err_at(c->origin, e, "at most %d learning-rate rules",
                             MGC_TRAIN_MAX_LR_RULES);
    mgc_lr_rule *r = &t->lr_rules[t->n_lr_rules++];
    snprintf(r->prefix, sizeof r->prefix, "%s", s);
    r->scale = 0;
  }
  return MGC_OK;
}

static mgc_status resolve_path(ctx *c, yaml_node_t *v, const char *key, char *out, size_t cap) {
  const char *s = mgc_yaml_scalar(v);
  if (!s || !*s) return mgc_yaml_err_at(c->origin, v, "'%s' must be a path", key);
  if (s[0] == '/' || !c->dir || !*c->dir) snprintf(out, cap, "%s", s);
  else snprintf(out, cap, "%s/%s", c->dir, s);
  return MGC_OK;
}

static mgc_status top_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *c = y->user;
  mgc_train_config *t = &c->r->train;
  if (!strcmp(key, "architecture"))
    return resolve_path(c, v, key, c->r->architecture, sizeof c->r->architecture);
  if (!strcmp(key, "init")) return resolve_path(c, v, key, c->r->init, sizeof c->r->init);
  if (!strcmp(key, "then")) return resolve_path(c, v, key, c->r->then, sizeof c->r->then);
  if (!strcmp(key, "lr_scale")) return mgc_yaml_each_pair(y, v, key, lr_scale_pair);
  if (!strcmp(key, "freeze")) return freeze_list(c, y, v);
  if (!strcmp(key, "epochs")) return mgc_yaml_get_int(c->origin, v, key, 1, 100000, &t->epochs);
  if (!strcmp(key, "batch_size")) return mgc_yaml_get_int(c->origin, v, key, 2, 65536, &t->batch);
  if (!strcmp(key, "threads")) return mgc_yaml_get_int(c->origin, v, key, 0, 256, &t->threads);
  if (!strcmp(key, "seed")) {
    double s = 0;
    mgc_status st = mgc_yaml_get_num(c->origin, v, key, 0, 9007199254740992.0, &s);
    t->seed = (uint64_t)s;
    return st;
  }
  if (!strcmp(key, "early_stopping"))
    return mgc_yaml_get_int(c->origin, v, key, 0, 100000, &t->patience);
  if (!strcmp(key, "label_smoothing")) {
    double s = 0;
    mgc_status st = mgc_yaml_get_num(c->origin, v, key, 0, 0.99, &s);
    t->smoothing = (float)s;
    return st;
  }
  if (!strcmp(key, "class_weights")) {
    const char *s = mgc_yaml_scalar(v);
    if (s && !strcmp(s, "balanced")) t->balanced = 1;
    else if (s && !strcmp(s, "none")) t->balanced = 0;
    else return mgc_yaml_err_at(c->origin, v, "'class_weights' must be balanced or none");
    return MGC_OK;
  }
  if (!strcmp(key, "frozen_batchnorm")) {
    const char *s = mgc_yaml_scalar(v);
    if (s && !strcmp(s, "adapt")) t->frozen_bn_adapt = 1;
    else if (s && !strcmp(s, "keep")) t->frozen_bn_adapt = 0;
    else return mgc_yaml_err_at(c->origin, v, "'frozen_batchnorm' must be keep or adapt");
    return MGC_OK;
  }
  if (!strcmp(key, "validation"))
    return mgc_yaml_get_num(c->origin, v, key, 0, 0.5, &c->r->validation);
  if (!strcmp(key, "window")) return mgc_yaml_get_int(c->origin, v, key, 1, 100000, &t->win_len);
  if (!strcmp(key, "window_hop"))
    return mgc_yaml_get_int(c->origin, v, key, 1, 100000, &t->win_hop);
  if (!strcmp(key, "optimizer")) return mgc_yaml_each_pair(y, v, key, optimizer_pair);
  if (!strcmp(key, "schedule")) return mgc_yaml_each_pair(y, v, key, schedule_pair);
  if (!strcmp(key, "augment")) return mgc_yaml_each_pair(y, v, key, augment_pair);
  if (!strcmp(key, "description")) return MGC_OK;
  return mgc_yaml_err_at(c->origin, k,
                         "unknown key '%s' (architecture, init, then, description, epochs, batch_size, "
                         "seed, optimizer, lr_scale, freeze, frozen_batchnorm, schedule, early_stopping, "
                         "class_weights, label_smoothing, validation, window, window_hop, "
                         "augment, threads)",
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
  yaml_document_t doc;
  mgc_status st = mgc_yaml_load(r->text, strlen(r->text), origin, &doc);
  if (!st) {
    ctx c = {origin, dir, r};
    mgc_yaml y = {origin, &doc, 0, &c};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
      st = mgc_error_set(MGC_EINVAL, "%s: empty recipe", origin);
    else
      st = mgc_yaml_each_pair(&y, root, "recipe", top_pair);
    if (!st && !r->architecture[0])
      st = mgc_error_set(MGC_EINVAL, "%s: missing 'architecture' (path of a conf/models YAML)",
                         origin);
    if (!st && (st = mgc_augment_params_check(&r->train.aug)))
      mgc_error_prefix(st, "%s: augment: ", origin);
    yaml_document_delete(&doc);
  }
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
