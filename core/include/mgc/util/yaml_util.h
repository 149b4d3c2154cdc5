/* Small helpers over libyaml's document API shared by every YAML reader in
 * mgc (architectures, training recipes, mgcd's configuration), so that all
 * of them refuse bad input the same way: "origin:line:col: reason", with
 * 1-based positions pointing at the offending key or value. */
#ifndef MGC_YAML_UTIL_H
#define MGC_YAML_UTIL_H

#include <stddef.h>
#include <yaml.h>

#include "mgc/util/error.h"

/* One document being read. */
typedef struct mgc_yaml {
  const char *origin;   /* file name used in messages */
  yaml_document_t *doc;
  int unique_keys;      /* mgc_yaml_each_pair refuses a key given twice in a mapping */
  void *user;           /* the caller's state, for mgc_yaml_each_pair callbacks */
} mgc_yaml;

/* Parse text (len bytes) into *doc. On a syntax error: MGC_EINVAL with
 * "origin:line:col: problem" from the parser's mark, and *doc is not to be
 * deleted. On success the caller owns *doc (yaml_document_delete); an empty
 * text gives a document without a root node. */
mgc_status mgc_yaml_load(const char *text, size_t len, const char *origin, yaml_document_t *doc);

/* MGC_EINVAL with "origin:line:col: <printf message>" at node n. */
mgc_status mgc_yaml_err_at(const char *origin, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The text of a scalar node, NULL for anything else (or n == NULL). */
const char *mgc_yaml_scalar(const yaml_node_t *n);

/* A finite number in [lo, hi]; errors name `key`. */
mgc_status mgc_yaml_get_num(const char *origin, const yaml_node_t *n, const char *key,
                            double lo, double hi, double *out);
/* An integer in [lo, hi]. */
mgc_status mgc_yaml_get_int(const char *origin, const yaml_node_t *n, const char *key, int lo,
                            int hi, int *out);
/* true/yes/on or false/no/off. */
mgc_status mgc_yaml_get_bool(const char *origin, const yaml_node_t *n, const char *key,
                             int *out);

/* Called for each key/value pair of a mapping; k is the key node. */
typedef mgc_status (*mgc_yaml_pair_fn)(mgc_yaml *y, const char *key, yaml_node_t *k,
                                       yaml_node_t *v);

/* Call fn for every pair of map in order, stopping at the first error.
 * Refuses a map that is not a mapping ("'what' must be a mapping"), keys
 * that are not scalars, and with y->unique_keys duplicate keys. */
mgc_status mgc_yaml_each_pair(mgc_yaml *y, yaml_node_t *map, const char *what,
                              mgc_yaml_pair_fn fn);

#endif
