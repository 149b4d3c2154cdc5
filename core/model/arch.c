#include "mgc/arch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Error with the position of a YAML node (libyaml marks are 0-based). */
static mgc_status node_err(const mgc_arch *a, const yaml_node_t *n, const char *fmt,
                           const char *arg) {
  char msg[400];
  snprintf(msg, sizeof msg, fmt, arg);
  return mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", a->origin, n->start_mark.line + 1,
                       n->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static mgc_status copy_scalar(const mgc_arch *a, const yaml_node_t *n, const char *key,
                              char *dst, size_t cap) {
  const char *s = scalar(n);
  if (!s) return node_err(a, n, "'%s' must be a plain value", key);
  if (strlen(s) >= cap) return node_err(a, n, "'%s' is too long", key);
  memcpy(dst, s, strlen(s) + 1);
  return MGC_OK;
}

static mgc_status parse_input(mgc_arch *a, yaml_document_t *doc, yaml_node_t *n) {
  a->input_line = (int)n->start_mark.line + 1;
  a->input_col = (int)n->start_mark.column + 1;
  if (n->type != YAML_SEQUENCE_NODE)
    return node_err(a, n, "%s", "'input' must be a list of 1 to 3 sizes, e.g. [1, 128, 130]");
  int k = 0;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
       it++, k++) {
    yaml_node_t *v = yaml_document_get_node(doc, *it);
    const char *s = scalar(v);
    char *end;
    errno = 0;
    long d = s ? strtol(s, &end, 10) : 0;
    if (k >= 3) return node_err(a, v, "%s", "'input' has more than 3 dimensions");
    if (!s || errno || end == s || *end || d < 1 || d > 100000000)
      return node_err(a, v, "'input' sizes must be positive integers, got '%s'", s ? s : "?");
    a->input.d[k] = (int)d;
  }
  if (k == 0) return node_err(a, n, "%s", "'input' is empty");
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
    return node_err(a, n, "%s", "a layer must be a mapping such as {type: relu}");
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *v = yaml_document_get_node(doc, p->value);
    const char *key = scalar(k);
    if (!key) return node_err(a, k, "%s", "layer keys must be plain words");
    if (strcmp(key, "type") == 0) {
      mgc_status st = copy_scalar(a, v, key, sp->type, sizeof sp->type);
      if (st) return st;
      continue;
    }
    if (strcmp(key, "name") == 0) {
      mgc_status st = copy_scalar(a, v, key, sp->name, sizeof sp->name);
      if (st) return st;
      if (!sp->name[0] || strchr(sp->name, ' '))
        return node_err(a, v, "%s", "'name' must be a non-empty word");
      continue;
    }
    for (int i = 0; i < sp->n_opts; i++)
      if (strcmp(sp->opt[i].key, key) == 0) return node_err(a, k, "duplicate key '%s'", key);
    if (sp->n_opts == MGC_SPEC_MAX_OPTS) return node_err(a, k, "%s", "too many options");
    mgc_spec_opt *o = &sp->opt[sp->n_opts++];
    if (strlen(key) >= sizeof o->key) return node_err(a, k, "unknown option '%s'", key);
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
          return node_err(a, e, "'%s' has too many items", key);
        mgc_status st = copy_scalar(a, e, key, o->item[o->n_items], sizeof o->item[0]);
        if (st) return st;
        o->n_items++;
      }
      if (o->n_items == 0) return node_err(a, v, "'%s' is an empty list", key);
    } else {
      return node_err(a, v, "'%s' must be a value or a list of values", key);
    }
  }
  if (!sp->type[0]) return node_err(a, n, "%s", "layer has no 'type'");
  return MGC_OK;
}

static mgc_status parse_doc(mgc_arch *a, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root) return mgc_error_set(MGC_EINVAL, "%s: empty architecture", a->origin);
  if (root->type != YAML_MAPPING_NODE)
    return node_err(a, root, "%s", "the architecture must be a mapping (name, input, layers)");
  yaml_node_t *layers = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *v = yaml_document_get_node(doc, p->value);
    const char *key = scalar(k);
    mgc_status st = MGC_OK;
    if (!key) return node_err(a, k, "%s", "keys must be plain words");
    if (strcmp(key, "name") == 0) {
      st = copy_scalar(a, v, key, a->name, sizeof a->name);
    } else if (strcmp(key, "feature") == 0) {
      st = copy_scalar(a, v, key, a->feature, sizeof a->feature);
    } else if (strcmp(key, "description") == 0) {
      st = copy_scalar(a, v, key, a->description, sizeof a->description);
    } else if (strcmp(key, "input") == 0) {
      st = parse_input(a, doc, v);
    } else if (strcmp(key, "classes") == 0) {
      const char *s = scalar(v);
      char *end;
      long c = s ? strtol(s, &end, 10) : 0;
      if (!s || *end || c < 2 || c > 100000)
        return node_err(a, v, "'classes' must be an integer >= 2, got '%s'", s ? s : "?");
      a->n_classes = (int)c;
    } else if (strcmp(key, "layers") == 0) {
      if (v->type != YAML_SEQUENCE_NODE) return node_err(a, v, "%s", "'layers' must be a list");
      layers = v;
    } else {
      return node_err(a, k,
                      "unknown key '%s' (expected name, description, feature, input, "
                      "classes, layers)",
                      key);
    }
    if (st) return st;
  }
  if (!a->input.ndim) return node_err(a, root, "%s", "missing 'input' (per-sample shape)");
  if (!layers) return node_err(a, root, "%s", "missing 'layers'");
  size_t n = (size_t)(layers->data.sequence.items.top - layers->data.sequence.items.start);
  if (n == 0) return node_err(a, layers, "%s", "'layers' is empty");
  if (!(a->layers = calloc(n, sizeof *a->layers)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *ln = yaml_document_get_node(doc, layers->data.sequence.items.start[i]);
    mgc_status st = parse_layer(a, doc, ln, (int)i, &a->layers[i]);
    if (st) return st;
    a->n_layers++;
    for (size_t j = 0; j < i; j++)
      if (strcmp(a->layers[j].name, a->layers[i].name) == 0)
        return node_err(a, ln, "layer name '%s' is used twice", a->layers[i].name);
  }
  return MGC_OK;
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
  yaml_parser_t parser;
  yaml_document_t doc;
  mgc_status st = MGC_OK;
  if (!yaml_parser_initialize(&parser)) {
    mgc_arch_free(a);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)a->text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    st = mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", a->origin, parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "malformed YAML");
  } else {
    st = parse_doc(a, &doc);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
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
  free(a->text);
  free(a);
}
