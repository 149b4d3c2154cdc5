/* The ensemble file: parsing (with the shared YAML helpers, so errors read
 * file:line:col like every other mgc YAML), member models, writing back. */
#include "mgc/ensemble/ensemble.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mgc/util/yaml_util.h"
#include "mgc/util/strdup.h"

#define MAX_ENSEMBLE_BYTES (4 << 20)

typedef struct ctx {
  const char *origin, *dir;
  mgc_ensemble *e;
  mgc_ensemble_member *m; /* the member being read */
  yaml_node_t *rule, *members, *stack, *classes, *detector;
  yaml_node_t *intercept, *coef;
  int seen_features;
} ctx;

static char *join_path(const char *dir, const char *p) {
  if (p[0] == '/' || !dir || !*dir) return mgc_strdup(p);
  size_t n = strlen(dir) + strlen(p) + 2;
  char *s = malloc(n);
  if (!s) {
    mgc_error_set(MGC_ENOMEM, "out of memory");
    return NULL;
  }
  snprintf(s, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", p);
  return s;
}

static mgc_status get_text(ctx *x, yaml_node_t *v, const char *key, char **dst) {
  const char *s = mgc_yaml_scalar(v);
  if (!s || !*s) return mgc_yaml_err_at(x->origin, v, "'%s' must be a non-empty string", key);
  free(*dst);
  return (*dst = mgc_strdup(s)) ? MGC_OK : MGC_ENOMEM;
}

static mgc_status member_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_ensemble_member *m = x->m;
  if (!strcmp(key, "name")) return get_text(x, v, key, &m->name);
  if (!strcmp(key, "model") || !strcmp(key, "cv")) {
    char **rel = key[0] == 'm' ? &m->model : &m->cv, **res = key[0] == 'm' ? &m->model_path
                                                                             : &m->cv_path;
    mgc_status st = get_text(x, v, key, rel);
    if (st) return st;
    free(*res);
    return (*res = join_path(x->dir, *rel)) ? MGC_OK : MGC_ENOMEM;
  }
  if (!strcmp(key, "input")) {
    const char *s = mgc_yaml_scalar(v);
    if (s && !strcmp(s, "window")) m->input = MGC_ENS_INPUT_WINDOW;
    else if (s && (!strcmp(s, "context") || !strcmp(s, "table"))) m->input = MGC_ENS_INPUT_CONTEXT;
    else return mgc_yaml_err_at(x->origin, v, "'input' must be window, context or table");
    return MGC_OK;
  }
  if (!strcmp(key, "span")) return mgc_yaml_get_num(x->origin, v, key, 0.1, 3600, &m->span_s);
  if (!strcmp(key, "first")) return mgc_yaml_get_num(x->origin, v, key, 0.5, 3600, &m->first_s);
  if (!strcmp(key, "every")) return mgc_yaml_get_num(x->origin, v, key, 0.1, 3600, &m->every_s);
  if (!strcmp(key, "weight")) return mgc_yaml_get_num(x->origin, v, key, 0, 1e6, &m->weight);
  return mgc_yaml_err_at(x->origin, k, "unknown member key '%s' (name, model, input, span, first, every, "
                         "weight, cv)",
                         key);
}

static mgc_status read_members(mgc_yaml *y, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_ensemble *e = x->e;
  if (v->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(x->origin, v, "'members' must be a list of members");
  int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
  if (n < 1) return mgc_yaml_err_at(x->origin, v, "'members' is empty");
  if (n > MGC_ENSEMBLE_MAX_MEMBERS)
    return mgc_yaml_err_at(x->origin, v, "at most %d members", MGC_ENSEMBLE_MAX_MEMBERS);
  e->members = calloc((size_t)n, sizeof *e->members);
  e->weights = calloc((size_t)n, sizeof *e->weights);
  if (!e->members || !e->weights) return mgc_error_set(MGC_ENOMEM, "out of memory");
  double sum = 0;
  for (int i = 0; i < n; i++) {
    yaml_node_t *it = yaml_document_get_node(y->doc, v->data.sequence.items.start[i]);
    mgc_ensemble_member *m = &e->members[i];
    e->n_members = i + 1;
    m->weight = 1;
    m->line = (int)it->start_mark.line + 1;
    m->col = (int)it->start_mark.column + 1;
    x->m = m;
    mgc_status st = mgc_yaml_each_pair(y, it, "member", member_pair);
    if (st) return st;
    if (!m->name) return mgc_yaml_err_at(x->origin, it, "member %d has no 'name'", i + 1);
    if (!m->model)
      return mgc_yaml_err_at(x->origin, it, "member '%s' has no 'model' (its model file)",
                             m->name);
    for (int j = 0; j < i; j++)
      if (!strcmp(e->members[j].name, m->name))
        return mgc_yaml_err_at(x->origin, it, "two members are named '%s'", m->name);
    sum += m->weight;
  }
  if (!(sum > 0)) return mgc_yaml_err_at(x->origin, v, "the members' weights sum to 0");
  for (int i = 0; i < n; i++) e->weights[i] = e->members[i].weight /= sum;
  return MGC_OK;
}

static mgc_status read_classes(ctx *x, yaml_document_t *doc, yaml_node_t *v) {
  mgc_ensemble *e = x->e;
  if (v->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(x->origin, v, "'classes' must be a list of class names");
  int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
  if (n < 2) return mgc_yaml_err_at(x->origin, v, "'classes' needs 2 names or more");
  e->classes = calloc((size_t)n, sizeof *e->classes);
  if (!e->classes) return mgc_error_set(MGC_ENOMEM, "out of memory");
  e->n_classes = n;
  for (int i = 0; i < n; i++) {
    yaml_node_t *it = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
    const char *s = mgc_yaml_scalar(it);
    if (!s || !*s) return mgc_yaml_err_at(x->origin, it, "a class name must be a non-empty string");
    for (int j = 0; j < i; j++)
      if (!strcmp(e->classes[j], s)) return mgc_yaml_err_at(x->origin, it, "class '%s' twice", s);
    if (!(e->classes[i] = mgc_strdup(s))) return MGC_ENOMEM;
  }
  return MGC_OK;
}

static mgc_status stack_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "features")) {
    const char *s = mgc_yaml_scalar(v);
    if (!s || strcmp(s, "probabilities"))
      return mgc_yaml_err_at(x->origin, v, "'features' must be probabilities");
    return MGC_OK;
  }
  if (!strcmp(key, "l2")) return mgc_yaml_get_num(x->origin, v, key, 0, 1e6, &x->e->stack_l2);
  if (!strcmp(key, "intercept")) return x->intercept = v, MGC_OK;
  if (!strcmp(key, "coef")) return x->coef = v, MGC_OK;
  return mgc_yaml_err_at(x->origin, k, "unknown stack key '%s' (features, l2, intercept, coef)",
                         key);
}

/* A list of exactly n numbers into dst. */
static mgc_status number_list(ctx *x, yaml_document_t *doc, yaml_node_t *v, const char *what,
                              int n, double *dst) {
  if (v->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be a list of %d numbers", what, n);
  int got = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
  if (got != n)
    return mgc_yaml_err_at(x->origin, v, "'%s' has %d numbers, expected %d", what, got, n);
  for (int i = 0; i < n; i++) {
    yaml_node_t *it = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
    mgc_status st = mgc_yaml_get_num(x->origin, it, what, -1e9, 1e9, &dst[i]);
    if (st) return st;
  }
  return MGC_OK;
}

static mgc_status read_stack(mgc_yaml *y) {
  ctx *x = y->user;
  mgc_ensemble *e = x->e;
  mgc_status st = mgc_yaml_each_pair(y, x->stack, "stack", stack_pair);
  if (st) return st;
  if (!x->intercept || !x->coef)
    return mgc_yaml_err_at(x->origin, x->stack, "'stack' needs 'intercept' and 'coef'");
  int C = e->n_classes;
  if (!C) {
    if (x->intercept->type != YAML_SEQUENCE_NODE)
      return mgc_yaml_err_at(x->origin, x->intercept, "'intercept' must be a list of numbers");
    C = (int)(x->intercept->data.sequence.items.top - x->intercept->data.sequence.items.start);
    if (C < 2)
      return mgc_yaml_err_at(x->origin, x->intercept, "'intercept' needs 2 classes or more");
  }
  const int F = e->n_members * C;
  e->intercept = calloc((size_t)C, sizeof *e->intercept);
  e->coef = calloc((size_t)C * F, sizeof *e->coef);
  if (!e->intercept || !e->coef) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if ((st = number_list(x, y->doc, x->intercept, "intercept", C, e->intercept))) return st;
  if (x->coef->type != YAML_SEQUENCE_NODE ||
      x->coef->data.sequence.items.top - x->coef->data.sequence.items.start != C)
    return mgc_yaml_err_at(x->origin, x->coef,
                           "'coef' must be a list of %d rows (one per class) of %d numbers "
                           "(%d members x %d classes)",
                           C, F, e->n_members, C);
  for (int k = 0; k < C; k++) {
    yaml_node_t *row = yaml_document_get_node(y->doc, x->coef->data.sequence.items.start[k]);
    if ((st = number_list(x, y->doc, row, "coef", F, e->coef + (size_t)k * F))) return st;
  }
  e->has_stack = 1;
  if (!e->n_classes) e->n_classes = C; /* classes named later by the models, if loaded */
  return MGC_OK;
}

static mgc_status top_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "name")) return get_text(x, v, key, &x->e->name);
  if (!strcmp(key, "description")) {
    const char *s = mgc_yaml_scalar(v);
    if (!s) return mgc_yaml_err_at(x->origin, v, "'description' must be text");
    free(x->e->description);
    return (x->e->description = mgc_strdup(s)) ? MGC_OK : MGC_ENOMEM;
  }
  if (!strcmp(key, "rule")) {
    int r = mgc_comb_rule_parse(mgc_yaml_scalar(v));
    if (r < 0)
      return mgc_yaml_err_at(x->origin, v,
                             "'rule' must be mean, weighted, product, agree, vote or stack");
    x->e->rule = (mgc_comb_rule)r;
    x->rule = v;
    return MGC_OK;
  }
  if (!strcmp(key, "temperature"))
    return mgc_yaml_get_num(x->origin, v, key, 0.05, 20, &x->e->temperature);
  if (!strcmp(key, "detector")) {
    mgc_status st = get_text(x, v, key, &x->e->detector);
    if (st) return st;
    x->detector = v;
    free(x->e->detector_path);
    return (x->e->detector_path = join_path(x->dir, x->e->detector)) ? MGC_OK : MGC_ENOMEM;
  }
  if (!strcmp(key, "members")) return x->members = v, MGC_OK;
  if (!strcmp(key, "classes")) return x->classes = v, MGC_OK;
  if (!strcmp(key, "stack")) return x->stack = v, MGC_OK;
  return mgc_yaml_err_at(x->origin, k,
                         "unknown key '%s' (name, description, rule, temperature, classes, "
                         "members, detector, stack)",
                         key);
}

static int same_classes(int n, char *const *a, const mgc_model *m) {
  if (n != m->n_classes) return 0;
  for (int c = 0; c < n; c++)
    if (strcmp(a[c], m->classes[c])) return 0;
  return 1;
}

static mgc_status load_models(ctx *x) {
  mgc_ensemble *e = x->e;
  for (int i = 0; i < e->n_members; i++) {
    mgc_ensemble_member *m = &e->members[i];
    mgc_status st = mgc_model_load(m->model_path, &m->loaded);
    if (st)
      return mgc_error_prefix(st, "%s:%d:%d: member '%s': ", x->origin, m->line, m->col, m->name);
    const mgc_model *ref = e->members[0].loaded;
    if (i > 0 && !same_classes(ref->n_classes, ref->classes, m->loaded))
      return mgc_error_set(MGC_EINVAL,
                           "%s:%d:%d: member '%s' (%s) has other classes than member '%s' (%s)",
                           x->origin, m->line, m->col, m->name, m->model_path,
                           e->members[0].name, e->members[0].model_path);
  }
  const mgc_model *ref = e->members[0].loaded;
  if (e->classes && !same_classes(e->n_classes, e->classes, ref))
    return mgc_yaml_err_at(x->origin, x->classes,
                           "'classes' differ from the classes of member '%s' (%s)",
                           e->members[0].name, e->members[0].model_path);
  if (e->has_stack && e->n_classes != ref->n_classes)
    return mgc_yaml_err_at(x->origin, x->stack,
                           "'stack' is fitted for %d classes, the members have %d",
                           e->n_classes, ref->n_classes);
  if (!e->classes) {
    e->classes = calloc((size_t)ref->n_classes, sizeof *e->classes);
    if (!e->classes) return mgc_error_set(MGC_ENOMEM, "out of memory");
    e->n_classes = ref->n_classes;
    for (int c = 0; c < ref->n_classes; c++)
      if (!(e->classes[c] = mgc_strdup(ref->classes[c]))) return MGC_ENOMEM;
  }
  if (e->detector_path) {
    mgc_status st = mgc_model_load(e->detector_path, &e->detector_loaded);
    if (st) return mgc_error_prefix(st, "%s:%d:%d: detector: ", x->origin, (int)x->detector->start_mark.line + 1,
                                    (int)x->detector->start_mark.column + 1);
    if (mgc_model_class(e->detector_loaded, "music") < 0)
      return mgc_yaml_err_at(x->origin, x->detector, "the detector %s has no class named 'music'",
                             e->detector_path);
  }
  if (e->rule == MGC_COMB_STACK && !e->has_stack)
    return mgc_yaml_err_at(x->origin, x->rule,
                           "rule 'stack' needs a fitted 'stack' section (mgc-eval --ensemble "
                           "FILE --fit OUT.yaml writes one)");
  mgc_combiner c;
  return mgc_ensemble_combiner(e, &c);
}

mgc_status mgc_ensemble_parse(const char *text, size_t len, const char *origin,
                              const char *dir, unsigned flags, mgc_ensemble **out) {
  *out = NULL;
  mgc_ensemble *e = calloc(1, sizeof *e);
  if (!e || !(e->origin = strdup(origin)) || !(e->dir = strdup(dir ? dir : ""))) {
    mgc_ensemble_free(e);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  e->temperature = 1;
  yaml_document_t doc;
  mgc_status st = mgc_yaml_load(text, len, origin, &doc);
  if (st) {
    mgc_ensemble_free(e);
    return st;
  }
  ctx x = {0};
  x.origin = origin;
  x.dir = dir;
  x.e = e;
  mgc_yaml y = {origin, &doc, 1, &x};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) st = mgc_error_set(MGC_EINVAL, "%s: empty ensemble file", origin);
  if (!st) st = mgc_yaml_each_pair(&y, root, "ensemble", top_pair);
  if (!st && !x.members)
    st = mgc_error_set(MGC_EINVAL, "%s: missing 'members' (the list of member models)", origin);
  if (!st && !x.rule)
    st = mgc_error_set(MGC_EINVAL,
                       "%s: missing 'rule' (mean, weighted, product, agree, vote or stack)",
                       origin);
  if (!st && x.classes) st = read_classes(&x, &doc, x.classes);
  if (!st) st = read_members(&y, x.members);
  if (!st && x.stack) st = read_stack(&y);
  if (!st && !e->name && !(e->name = mgc_strdup("ensemble"))) st = MGC_ENOMEM;
  if (!st && (flags & MGC_ENSEMBLE_LOAD_MODELS)) st = load_models(&x);
  yaml_document_delete(&doc);
  if (st) {
    mgc_ensemble_free(e);
    return st;
  }
  *out = e;
  return MGC_OK;
}

int mgc_ensemble_is_path(const char *path) {
  const char *dot = strrchr(path, '.');
  return dot && (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml"));
}

mgc_status mgc_ensemble_load(const char *path, unsigned flags, mgc_ensemble **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  char *text = malloc(MAX_ENSEMBLE_BYTES + 1);
  size_t n = text ? fread(text, 1, MAX_ENSEMBLE_BYTES + 1, f) : 0;
  int bad = ferror(f);
  fclose(f);
  if (!text) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if (bad || n > MAX_ENSEMBLE_BYTES) {
    free(text);
    return mgc_error_set(MGC_EIO, "%s: %s", path, bad ? "read error" : "file too large");
  }
  text[n] = 0;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) slash[slash == dir ? 1 : 0] = 0;
  else dir[0] = 0;
  mgc_status st = mgc_ensemble_parse(text, n, path, dir, flags, out);
  free(text);
  return st;
}

mgc_status mgc_ensemble_single(const char *model_path, const char *cv_path, unsigned flags,
                               mgc_ensemble **out) {
  *out = NULL;
  mgc_ensemble *e = calloc(1, sizeof *e);
  mgc_ensemble_member *m = e ? calloc(1, sizeof *m) : NULL;
  if (e) e->members = m;
  if (!e || !m || !(e->origin = mgc_strdup(model_path)) || !(e->dir = mgc_strdup("")) ||
      !(e->weights = calloc(1, sizeof *e->weights)) || !(m->name = mgc_strdup("model")) ||
      !(m->model = mgc_strdup(model_path)) || !(m->model_path = mgc_strdup(model_path)) ||
      (cv_path && (!(m->cv = mgc_strdup(cv_path)) || !(m->cv_path = mgc_strdup(cv_path))))) {
    mgc_ensemble_free(e);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  e->n_members = 1;
  e->rule = MGC_COMB_MEAN;
  e->temperature = 1;
  e->weights[0] = m->weight = 1;
  m->input = MGC_ENS_INPUT_WINDOW;
  if (flags & MGC_ENSEMBLE_LOAD_MODELS) {
    mgc_status st = mgc_model_load(model_path, &m->loaded);
    if (st) {
      mgc_ensemble_free(e);
      return st;
    }
    e->temperature = m->loaded->temperature; /* deciding alone: its own calibration */
    const mgc_model *ml = m->loaded;
    if (!(e->classes = calloc((size_t)ml->n_classes, sizeof *e->classes))) {
      mgc_ensemble_free(e);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
    for (int c = 0; c < ml->n_classes; c++)
      if (!(e->classes[e->n_classes++] = mgc_strdup(ml->classes[c]))) {
        mgc_ensemble_free(e);
        return mgc_error_set(MGC_ENOMEM, "out of memory");
      }
  }
  *out = e;
  return MGC_OK;
}

void mgc_ensemble_free(mgc_ensemble *e) {
  if (!e) return;
  for (int i = 0; e->members && i < e->n_members; i++) {
    mgc_ensemble_member *m = &e->members[i];
    free(m->name);
    free(m->model);
    free(m->model_path);
    free(m->cv);
    free(m->cv_path);
    mgc_model_free(m->loaded);
  }
  for (int c = 0; e->classes && c < e->n_classes; c++) free(e->classes[c]);
  free(e->classes);
  free(e->members);
  free(e->weights);
  free(e->coef);
  free(e->intercept);
  free(e->origin);
  free(e->dir);
  free(e->name);
  free(e->description);
  free(e->detector);
  free(e->detector_path);
  mgc_model_free(e->detector_loaded);
  free(e);
}

mgc_status mgc_ensemble_set_detector(mgc_ensemble *e, const char *path) {
  mgc_model *m = NULL;
  char *a = NULL, *b = NULL;
  if (path) {
    mgc_status st = mgc_model_load(path, &m);
    if (st) return mgc_error_prefix(st, "detector: ");
    if (mgc_model_class(m, "music") < 0) {
      mgc_model_free(m);
      return mgc_error_set(MGC_EINVAL, "detector %s: it has no class named 'music'", path);
    }
    if (!(a = mgc_strdup(path)) || !(b = mgc_strdup(path))) {
      free(a);
      mgc_model_free(m);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
  }
  free(e->detector);
  free(e->detector_path);
  mgc_model_free(e->detector_loaded);
  e->detector = a;
  e->detector_path = b;
  e->detector_loaded = m;
  return MGC_OK;
}

mgc_status mgc_ensemble_combiner(const mgc_ensemble *e, mgc_combiner *c) {
  *c = (mgc_combiner){e->rule,
                      e->n_members,
                      e->n_classes,
                      e->weights,
                      e->has_stack ? e->coef : NULL,
                      e->has_stack ? e->intercept : NULL,
                      e->temperature};
  mgc_status st = mgc_combiner_check(c);
  return st ? mgc_error_prefix(st, "%s: ", e->origin) : MGC_OK;
}

/* ---- writing ---- */

/* A scalar as YAML: plain when it is made of harmless characters, else
 * double-quoted with escapes. */
static void put_scalar(FILE *f, const char *s) {
  int plain = *s && (isalnum((unsigned char)*s) || strchr("_./", *s));
  for (const char *p = s; plain && *p; p++)
    plain = isalnum((unsigned char)*p) || strchr("_./+-", *p);
  if (plain) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

/* Lexically normalised absolute form of p (relative to the current
 * directory): no '.', '..' or repeated '/'. */
static char *absolute(const char *p) {
  char cwd[4096];
  if (p[0] != '/' && !getcwd(cwd, sizeof cwd)) return NULL;
  size_t n = strlen(p) + (p[0] == '/' ? 0 : strlen(cwd)) + 3;
  char *in = malloc(n), *outp = malloc(n);
  if (!in || !outp) {
    free(in);
    free(outp);
    return NULL;
  }
  snprintf(in, n, "%s/%s", p[0] == '/' ? "" : cwd, p);
  size_t o = 0;
  for (char *save = NULL, *tok = strtok_r(in, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
    if (!strcmp(tok, ".")) continue;
    if (!strcmp(tok, "..")) {
      while (o > 0 && outp[o - 1] != '/') o--;
      if (o > 0) o--;
      continue;
    }
    outp[o++] = '/';
    memcpy(outp + o, tok, strlen(tok));
    o += strlen(tok);
  }
  if (!o) outp[o++] = '/';
  outp[o] = 0;
  free(in);
  return outp;
}

/* target (usable from the current directory) relative to folder dir. */
static char *relative_to(const char *target, const char *dir) {
  char *t = absolute(target), *d = absolute(dir && *dir ? dir : ".");
  char *r = NULL;
  if (t && d) {
    /* Common leading components. */
    size_t i = 0, common = 0;
    size_t dl = strlen(d) == 1 ? 0 : strlen(d); /* "/" counts as no component */
    while (i < dl && t[i] == d[i]) i++;
    if (i == dl && (t[i] == '/' || t[i] == 0)) common = dl;
    else {
      while (i > 0 && d[i] != '/') i--;
      common = i;
    }
    int ups = 0;
    for (size_t j = common; j < dl; j++)
      if (d[j] == '/') ups++;
    const char *rest = t + common + (t[common] == '/');
    size_t n = (size_t)ups * 3 + strlen(rest) + 2;
    r = malloc(n);
    if (r) {
      r[0] = 0;
      for (int u = 0; u < ups; u++) strcat(r, "../");
      strcat(r, rest);
      if (!*r) strcpy(r, ".");
    }
  }
  free(t);
  free(d);
  if (!r) mgc_error_set(MGC_ENOMEM, "out of memory");
  return r;
}

static void put_numbers(FILE *f, const double *v, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", v[i]);
  fputc(']', f);
}

mgc_status mgc_ensemble_write(const mgc_ensemble *e, const char *path, const char *header) {
  char dir[4096], tmp[4200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) slash[slash == dir ? 1 : 0] = 0;
  else strcpy(dir, ".");
  snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", tmp, strerror(errno));
  mgc_status st = MGC_OK;
  for (const char *h = header; h && *h;) {
    const char *nl = strchr(h, '\n');
    int len = nl ? (int)(nl - h) : (int)strlen(h);
    fprintf(f, "#%s%.*s\n", len ? " " : "", len, h);
    h = nl ? nl + 1 : h + len;
  }
  fputs("name: ", f);
  put_scalar(f, e->name ? e->name : "ensemble");
  if (e->description) {
    fputs("\ndescription: ", f);
    put_scalar(f, e->description);
  }
  fprintf(f, "\nrule: %s\n", mgc_comb_rule_name(e->rule));
  if (e->temperature != 1) fprintf(f, "temperature: %.9g\n", e->temperature);
  if (e->classes) {
    fputs("classes: [", f);
    for (int c = 0; c < e->n_classes; c++) {
      if (c) fputs(", ", f);
      put_scalar(f, e->classes[c]);
    }
    fputs("]\n", f);
  }
  if (e->detector) {
    char *dp = e->detector[0] == '/' ? mgc_strdup(e->detector) : relative_to(e->detector_path, dir);
    if (!dp) st = MGC_ENOMEM;
    else {
      fputs("detector: ", f);
      put_scalar(f, dp);
      fputc('\n', f);
    }
    free(dp);
  }
  fputs("members:\n", f);
  for (int i = 0; !st && i < e->n_members; i++) {
    const mgc_ensemble_member *m = &e->members[i];
    fputs("  - name: ", f);
    put_scalar(f, m->name);
    /* A path written absolute stays so; a relative one follows the file. */
    char *mp = m->model[0] == '/' ? mgc_strdup(m->model) : relative_to(m->model_path, dir);
    char *cp = !m->cv_path ? NULL : m->cv[0] == '/' ? mgc_strdup(m->cv) : relative_to(m->cv_path, dir);
    if (!mp || (m->cv_path && !cp)) st = MGC_ENOMEM;
    if (!st) {
      fputs("\n    model: ", f);
      put_scalar(f, mp);
      fprintf(f, "\n    input: %s\n", m->input == MGC_ENS_INPUT_CONTEXT ? "context" : "window");
      if (m->span_s > 0) fprintf(f, "    span: %.9g\n", m->span_s);
      if (m->first_s > 0) fprintf(f, "    first: %.9g\n", m->first_s);
      if (m->every_s > 0) fprintf(f, "    every: %.9g\n", m->every_s);
      fprintf(f, "    weight: %.9g\n", e->weights[i]);
      if (cp) {
        fputs("    cv: ", f);
        put_scalar(f, cp);
        fputc('\n', f);
      }
    }
    free(mp);
    free(cp);
  }
  if (!st && e->has_stack) {
    const int F = e->n_members * e->n_classes;
    fputs("stack:\n  features: probabilities\n", f);
    if (e->stack_l2 > 0) fprintf(f, "  l2: %.9g\n", e->stack_l2);
    fputs("  intercept: ", f);
    put_numbers(f, e->intercept, e->n_classes);
    fputs("\n  coef:\n", f);
    for (int k = 0; k < e->n_classes; k++) {
      fputs("    - ", f);
      put_numbers(f, e->coef + (size_t)k * F, F);
      fputc('\n', f);
    }
  }
  if (ferror(f) && !st) st = mgc_error_set(MGC_EIO, "%s: write error", tmp);
  if (fclose(f) != 0 && !st) st = mgc_error_set(MGC_EIO, "%s: %s", tmp, strerror(errno));
  if (!st && rename(tmp, path) != 0) st = mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  if (st) remove(tmp);
  return st;
}
