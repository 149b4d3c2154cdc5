#include "mgc/model/arch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/model/model.h"
#include "mgc/dsp/clip_features.h"
#include "mgc/util/yaml_util.h"

static mgc_status copy_scalar(const mgc_arch *a, const yaml_node_t *n, const char *key,
                              char *dst, size_t cap) {
  const char *s = mgc_yaml_scalar(n);
  if (!s) return mgc_yaml_err_at(a->origin, n, "'%s' must be a plain value", key);
  if (strlen(s) >= cap) return mgc_yaml_err_at(a->origin, n, "'%s' is too long", key);
  memcpy(dst, s, strlen(s) + 1);
  return MGC_OK;
}

static mgc_status parse_input(mgc_arch *a, yaml_document_t *doc, yaml_node_t *n) {
  a->input_line = (int)n->start_mark.line + 1;
  a->input_col = (int)n->start_mark.column + 1;
  if (n->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(a->origin, n,
                           "'input' must be a list of 1 to 3 sizes, e.g. [1, 128, 130]");
  int k = 0;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
       it++, k++) {
    yaml_node_t *v = yaml_document_get_node(doc, *it);
    const char *s = mgc_yaml_scalar(v);
    char *end;
    errno = 0;
    long d = s ? strtol(s, &end, 10) : 0;
    if (k >= 3) return mgc_yaml_err_at(a->origin, v, "'input' has more than 3 dimensions");
    if (!s || errno || end == s || *end || d < 1 || d > 100000000)
      return mgc_yaml_err_at(a->origin, v, "'input' sizes must be positive integers, got '%s'",
                             s ? s : "?");
    a->input.d[k] = (int)d;
  }
  if (k == 0) return mgc_yaml_err_at(a->origin, n, "'input' is empty");
  a->input.ndim = k;
  return MGC_OK;
}

static mgc_status parse_layer(mgc_arch *a, yaml_document_t *doc, yaml_node_t *n, int index,
                              mgc_layer_spec *sp) {
  memset(sp, 0, sizeof *sp);
  sp->index = index;
  sp->line = (int)n->start_mark.line + 1;
  sp->col = (int)n->start_mark.column + 1;
  snprintf(sp->name, sizeof sp->name, "%d", index);
  if (n->type != YAML_MAPPING_NODE)
    return mgc_yaml_err_at(a->origin, n, "a layer must be a mapping such as {type: relu}");
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *v = yaml_document_get_node(doc, p->value);
    const char *key = mgc_yaml_scalar(k);
    if (!key) return mgc_yaml_err_at(a->origin, k, "layer keys must be plain words");
    if (strcmp(key, "type") == 0) {
      mgc_status st = copy_scalar(a, v, key, sp->type, sizeof sp->type);
      if (st) return st;
      continue;
    }
    if (strcmp(key, "name") == 0) {
      mgc_status st = copy_scalar(a, v, key, sp->name, sizeof sp->name);
      if (st) return st;
      if (!sp->name[0] || strchr(sp->name, ' '))
        return mgc_yaml_err_at(a->origin, v, "'name' must be a non-empty word");
      continue;
    }
    for (int i = 0; i < sp->n_opts; i++)
      if (strcmp(sp->opt[i].key, key) == 0)
        return mgc_yaml_err_at(a->origin, k, "duplicate key '%s'", key);
    if (sp->n_opts == MGC_SPEC_MAX_OPTS) return mgc_yaml_err_at(a->origin, k, "too many options");
    mgc_spec_opt *o = &sp->opt[sp->n_opts++];
    if (strlen(key) >= sizeof o->key)
      return mgc_yaml_err_at(a->origin, k, "unknown option '%s'", key);
    strcpy(o->key, key);
    o->line = (int)v->start_mark.line + 1;
    o->col = (int)v->start_mark.column + 1;
    if (v->type == YAML_SCALAR_NODE) {
      mgc_status st = copy_scalar(a, v, key, o->item[0], sizeof o->item[0]);
      if (st) return st;
      o->n_items = 1;
    } else if (v->type == YAML_SEQUENCE_NODE) {
      o->is_list = 1;
      for (yaml_node_item_t *it = v->data.sequence.items.start;
           it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        if (o->n_items == MGC_SPEC_MAX_ITEMS)
          return mgc_yaml_err_at(a->origin, e, "'%s' has too many items", key);
        mgc_status st = copy_scalar(a, e, key, o->item[o->n_items], sizeof o->item[0]);
        if (st) return st;
        o->n_items++;
      }
      if (o->n_items == 0) return mgc_yaml_err_at(a->origin, v, "'%s' is an empty list", key);
    } else {
      return mgc_yaml_err_at(a->origin, v, "'%s' must be a value or a list of values", key);
    }
  }
  if (!sp->type[0]) return mgc_yaml_err_at(a->origin, n, "layer has no 'type'");
  return MGC_OK;
}

static int cmp_int(const void *x, const void *y) {
  int a = *(const int *)x, b = *(const int *)y;
  return (a > b) - (a < b);
}

/* input_log: a list of band indices, or of column names for table input.
 * Checked against the band count, which needs the layers (the band axis of
 * a 2-D input depends on the first layer), so it is parsed last. */
static mgc_status parse_input_log(mgc_arch *a, yaml_document_t *doc, yaml_node_t *n) {
  if (n->type != YAML_SEQUENCE_NODE)
    return mgc_yaml_err_at(a->origin, n, "'input_log' must be a list of band indices%s",
                           strcmp(a->feature, "table") == 0 ? " or column names" : "");
  int bands = a->input.d[mgc_model_band_axis(a)];
  size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (cnt == 0) return mgc_yaml_err_at(a->origin, n, "'input_log' is empty");
  if (cnt > (size_t)bands)
    return mgc_yaml_err_at(a->origin, n, "'input_log' lists %zu bands, the input has %d", cnt,
                           bands);
  if (!(a->input_log = malloc(cnt * sizeof *a->input_log)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (size_t i = 0; i < cnt; i++) {
    yaml_node_t *v = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
    const char *s = mgc_yaml_scalar(v);
    if (!s) return mgc_yaml_err_at(a->origin, v, "'input_log' items must be plain values");
    char *end;
    errno = 0;
    long b = strtol(s, &end, 10);
    if (end == s || *end) {
      b = -1;
      if (strcmp(a->feature, "table") == 0)
        for (int c = 0; c < MGC_CLIP_DIM; c++)
          if (strcmp(mgc_clip_feature_name(c), s) == 0) b = c;
      if (b < 0)
        return mgc_yaml_err_at(a->origin, v, "'input_log': '%s' is not a band index%s", s,
                               strcmp(a->feature, "table") == 0 ? " or a table column name" : "");
    }
    if (errno || b < 0 || b >= bands)
      return mgc_yaml_err_at(a->origin, v, "'input_log': band %s is outside 0..%d", s, bands - 1);
    for (int j = 0; j < a->n_input_log; j++)
      if (a->input_log[j] == (int)b)
        return mgc_yaml_err_at(a->origin, v, "'input_log': band %s is listed twice", s);
    a->input_log[a->n_input_log++] = (int)b;
  }
  qsort(a->input_log, (size_t)a->n_input_log, sizeof *a->input_log, cmp_int);
  return MGC_OK;
}

void mgc_arch_log_frames(const mgc_arch *a, float *x, size_t n, size_t dim) {
  for (size_t f = 0; f < n; f++)
    for (int j = 0; j < a->n_input_log; j++) {
      float *v = &x[f * dim + (size_t)a->input_log[j]];
      *v = logf(fmaxf(*v, MGC_INPUT_LOG_FLOOR));
    }
}

static mgc_status parse_doc(mgc_arch *a, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root) return mgc_error_set(MGC_EINVAL, "%s: empty architecture", a->origin);
  if (root->type != YAML_MAPPING_NODE)
    return mgc_yaml_err_at(a->origin, root,
                           "the architecture must be a mapping (name, input, layers)");
  yaml_node_t *layers = NULL, *input_log = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *v = yaml_document_get_node(doc, p->value);
    const char *key = mgc_yaml_scalar(k);
    mgc_status st = MGC_OK;
    if (!key) return mgc_yaml_err_at(a->origin, k, "keys must be plain words");
    if (strcmp(key, "name") == 0) {
      st = copy_scalar(a, v, key, a->name, sizeof a->name);
    } else if (strcmp(key, "feature") == 0) {
      st = copy_scalar(a, v, key, a->feature, sizeof a->feature);
    } else if (strcmp(key, "description") == 0) {
      st = copy_scalar(a, v, key, a->description, sizeof a->description);
    } else if (strcmp(key, "input") == 0) {
      st = parse_input(a, doc, v);
    } else if (strcmp(key, "classes") == 0) {
      const char *s = mgc_yaml_scalar(v);
      char *end;
      long c = s ? strtol(s, &end, 10) : 0;
      if (!s || *end || c < 2 || c > 100000)
        return mgc_yaml_err_at(a->origin, v, "'classes' must be an integer >= 2, got '%s'",
                               s ? s : "?");
      a->n_classes = (int)c;
    } else if (strcmp(key, "layers") == 0) {
      if (v->type != YAML_SEQUENCE_NODE)
        return mgc_yaml_err_at(a->origin, v, "'layers' must be a list");
      layers = v;
    } else if (strcmp(key, "input_log") == 0) {
      input_log = v;
    } else {
      return mgc_yaml_err_at(a->origin, k,
                             "unknown key '%s' (expected name, description, feature, input, "
                             "classes, layers, input_log)",
                             key);
    }
    if (st) return st;
  }
  if (!a->input.ndim) return mgc_yaml_err_at(a->origin, root, "missing 'input' (per-sample shape)");
  if (!layers) return mgc_yaml_err_at(a->origin, root, "missing 'layers'");
  size_t n = (size_t)(layers->data.sequence.items.top - layers->data.sequence.items.start);
  if (n == 0) return mgc_yaml_err_at(a->origin, layers, "'layers' is empty");
  if (!(a->layers = calloc(n, sizeof *a->layers)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *ln = yaml_document_get_node(doc, layers->data.sequence.items.start[i]);
    mgc_status st = parse_layer(a, doc, ln, (int)i, &a->layers[i]);
    if (st) return st;
    a->n_layers++;
    for (size_t j = 0; j < i; j++)
      if (strcmp(a->layers[j].name, a->layers[i].name) == 0)
        return mgc_yaml_err_at(a->origin, ln, "layer name '%s' is used twice", a->layers[i].name);
  }
  return input_log ? parse_input_log(a, doc, input_log) : MGC_OK;
}

mgc_status mgc_arch_parse(const char *text, size_t len, const char *origin, mgc_arch **out) {
  *out = NULL;
  mgc_arch *a = calloc(1, sizeof *a);
  if (!a || !(a->text = malloc(len + 1))) {
    free(a);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  memcpy(a->text, text, len);
  a->text[len] = '\0';
  snprintf(a->origin, sizeof a->origin, "%s", origin);
  yaml_document_t doc;
  mgc_status st = mgc_yaml_load(a->text, len, a->origin, &doc);
  if (!st) {
    st = parse_doc(a, &doc);
    yaml_document_delete(&doc);
  }
  if (st) {
    mgc_arch_free(a);
    return st;
  }
  *out = a;
  return MGC_OK;
}

mgc_status mgc_arch_load(const char *path, mgc_arch **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 24)) {
        free(buf);
        fclose(f);
        return mgc_error_set(MGC_EFORMAT, "%s: too large for an architecture", path);
      }
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return mgc_error_set(MGC_ENOMEM, "out of memory");
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return mgc_error_set(MGC_EIO, "%s: read error", path);
  }
  mgc_status st = mgc_arch_parse(buf ? buf : "", len, path, out);
  free(buf);
  return st;
}

void mgc_arch_free(mgc_arch *a) {
  if (!a) return;
  free(a->layers);
  free(a->input_log);
  free(a->text);
  free(a);
}
