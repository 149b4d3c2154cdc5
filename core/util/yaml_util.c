#include "mgc/util/yaml_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mgc_status mgc_yaml_load(const char *text, size_t len, const char *origin, yaml_document_t *doc) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return mgc_error_set(MGC_ENOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  mgc_status st = MGC_OK;
  /* The document owns copies of every scalar, so the parser can go now. */
  if (!yaml_parser_load(&parser, doc))
    st = mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", origin, parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "malformed YAML");
  yaml_parser_delete(&parser);
  return st;
}

mgc_status mgc_yaml_err_at(const char *origin, const yaml_node_t *n, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* libyaml marks are 0-based. */
  return mgc_error_set(MGC_EINVAL, "%s:%zu:%zu: %s", origin, n->start_mark.line + 1,
                       n->start_mark.column + 1, msg);
}

const char *mgc_yaml_scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

mgc_status mgc_yaml_get_num(const char *origin, const yaml_node_t *n, const char *key,
                            double lo, double hi, double *out) {
  const char *s = mgc_yaml_scalar(n);
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || errno || end == s || *end || !isfinite(v))
    return mgc_yaml_err_at(origin, n, "'%s' must be a number", key);
  if (v < lo || v > hi)
    return mgc_yaml_err_at(origin, n, "'%s' must be in [%g, %g], got %g", key, lo, hi, v);
  *out = v;
  return MGC_OK;
}

mgc_status mgc_yaml_get_int(const char *origin, const yaml_node_t *n, const char *key, int lo,
                            int hi, int *out) {
  double v = 0;
  mgc_status st = mgc_yaml_get_num(origin, n, key, lo, hi, &v);
  if (st) return st;
  if (v != floor(v)) return mgc_yaml_err_at(origin, n, "'%s' must be an integer", key);
  *out = (int)v;
  return MGC_OK;
}

mgc_status mgc_yaml_get_bool(const char *origin, const yaml_node_t *n, const char *key,
                             int *out) {
  const char *s = mgc_yaml_scalar(n);
  if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
    *out = 1;
  } else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
    *out = 0;
  } else {
    return mgc_yaml_err_at(origin, n, "'%s' must be true or false", key);
  }
  return MGC_OK;
}

mgc_status mgc_yaml_each_pair(mgc_yaml *y, yaml_node_t *map, const char *what,
                              mgc_yaml_pair_fn fn) {
  if (map->type != YAML_MAPPING_NODE)
    return mgc_yaml_err_at(y->origin, map, "'%s' must be a mapping", what);
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
    yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
    const char *key = mgc_yaml_scalar(k);
    if (!key) return mgc_yaml_err_at(y->origin, k, "keys must be plain words");
    /* libyaml keeps duplicates; silently taking the last one hides typos. */
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; y->unique_keys && q < p; q++) {
      const char *prev = mgc_yaml_scalar(yaml_document_get_node(y->doc, q->key));
      if (prev && !strcmp(prev, key))
        return mgc_yaml_err_at(y->origin, k, "duplicate key '%s' in '%s'", key, what);
    }
    mgc_status st = fn(y, key, k, v);
    if (st) return st;
  }
  return MGC_OK;
}
