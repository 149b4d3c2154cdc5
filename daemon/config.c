#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/util/yaml_util.h"
#include "server.h"

#define MAX_CONFIG_BYTES (1 << 20)

typedef struct ctx {
  const char *origin;
  const char *dir;     /* resolves relative paths; NULL or "" = leave them */
  mgc_config *c;       /* the copy being filled */
  yaml_node_t *source; /* input.device or input.file key, whichever came first */
  yaml_node_t *retry_min, *retry_max;
  yaml_node_t *aggregate, *horizon;
} ctx;

static const char *const g_level_names[] = {"error", "warn", "info", "debug"};

const char *mgc_log_level_name(mgc_log_level l) {
  return (unsigned)l < sizeof g_level_names / sizeof *g_level_names ? g_level_names[l] : "?";
}

void mgc_config_default(mgc_config *c, const char *default_model) {
  memset(c, 0, sizeof *c);
  c->input_kind = MGC_INPUT_DEVICE;
  strcpy(c->device, "default");
  c->raw_rate = 22050;
  c->raw_channels = 1;
  c->raw_format = MGC_SAMPLE_S16;
  c->latency_s = 0.1;
  c->retry_min_s = 0.5;
  c->retry_max_s = 30.0;
  snprintf(c->model, sizeof c->model, "%s", default_model ? default_model : "");
  mgc_aggregator_params_default(&c->agg);
  mgc_music_params_default(&c->music);
  snprintf(c->socket_path, sizeof c->socket_path, "%s", MGC_SOCKET_DEFAULT_PATH);
  c->socket_mode = 0660;
  c->max_clients = 64;
  c->client_buffer = 256 * 1024;
  c->max_line = 1024;
  c->client_timeout_s = 5.0;
  c->log_level = MGC_LOG_INFO;
}

/* ---- value readers (positions always point at the value node) ---- */

static mgc_status get_string(ctx *x, const yaml_node_t *v, const char *key, int allow_empty,
                             char *dst, size_t cap) {
  const char *s = mgc_yaml_scalar(v);
  if (!s)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be a string, not a %s", key,
                           v->type == YAML_MAPPING_NODE ? "mapping" : "list");
  if (!allow_empty && !*s) return mgc_yaml_err_at(x->origin, v, "'%s' must not be empty", key);
  if (strlen(s) >= cap)
    return mgc_yaml_err_at(x->origin, v, "'%s' is too long (at most %zu bytes)", key, cap - 1);
  memcpy(dst, s, strlen(s) + 1);
  return MGC_OK;
}

/* A path; a relative one is taken from the configuration file's directory,
 * so that the file means the same whatever the daemon's working directory. */
static mgc_status get_path(ctx *x, const yaml_node_t *v, const char *key, char *dst, size_t cap) {
  char tmp[4096];
  mgc_status st = get_string(x, v, key, 0, tmp, sizeof tmp);
  if (st) return st;
  int n;
  if (tmp[0] == '/' || !x->dir || !*x->dir || !strcmp(tmp, "-"))
    n = snprintf(dst, cap, "%s", tmp);
  else
    n = snprintf(dst, cap, "%s%s%s", x->dir, x->dir[strlen(x->dir) - 1] == '/' ? "" : "/", tmp);
  if (n < 0 || (size_t)n >= cap)
    return mgc_yaml_err_at(x->origin, v, "'%s' is too long (at most %zu bytes%s)", key, cap - 1,
                           tmp[0] == '/' ? "" : " once made absolute");
  return MGC_OK;
}

static mgc_status get_seconds(ctx *x, const yaml_node_t *v, const char *key, double lo, double hi,
                              double *out) {
  return mgc_yaml_get_num(x->origin, v, key, lo, hi, out);
}

/* One of names[0..n-1]; *out is its index. */
static mgc_status get_enum(ctx *x, const yaml_node_t *v, const char *key, const char *const *names,
                           int n, int *out) {
  const char *s = mgc_yaml_scalar(v);
  for (int i = 0; s && i < n; i++) {
    if (!strcmp(s, names[i])) {
      *out = i;
      return MGC_OK;
    }
  }
  char list[200] = "";
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
             i ? (i == n - 1 ? " or " : ", ") : "", names[i]);
  if (!s) return mgc_yaml_err_at(x->origin, v, "'%s' must be %s", key, list);
  return mgc_yaml_err_at(x->origin, v, "'%s' must be %s, got '%s'", key, list, s);
}

/* File mode in octal as chmod takes it: "0660", 0660 or 660 (YAML 1.1 reads
 * a leading 0 as octal; 1.2 writes 0o660, also accepted). */
static mgc_status get_mode(ctx *x, const yaml_node_t *v, const char *key, unsigned *out) {
  const char *s = mgc_yaml_scalar(v);
  const char *d = s && (!strncmp(s, "0o", 2) || !strncmp(s, "0O", 2)) ? s + 2 : s;
  unsigned m = 0;
  int ok = d && *d && strlen(d) <= 8; /* long enough for 01777, short of overflow */
  for (const char *p = d; ok && *p; p++) {
    ok = *p >= '0' && *p <= '7';
    m = m * 8 + (unsigned)(*p - '0');
  }
  if (!ok)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be an octal file mode such as \"0660\"", key);
  if (m > 0777)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be at most 0777 (permission bits), got 0%o",
                           key, m);
  *out = m;
  return MGC_OK;
}

/* Bytes, optionally with a binary suffix: 262144, 256K, 256KiB, 1M. */
static mgc_status get_bytes(ctx *x, const yaml_node_t *v, const char *key, size_t lo, size_t hi,
                            size_t *out) {
  const char *s = mgc_yaml_scalar(v);
  char *end = NULL;
  errno = 0;
  unsigned long long n = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
  unsigned long long mul = 0;
  if (end && end != s && !errno) {
    if (!*end)
      mul = 1;
    else if (!strcmp(end, "K") || !strcmp(end, "k") || !strcmp(end, "KiB"))
      mul = 1ull << 10;
    else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
      mul = 1ull << 20;
    else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
      mul = 1ull << 30;
  }
  if (!mul)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be a size in bytes such as 262144 or 256K",
                           key);
  if (n > hi / mul || n * mul < lo || n * mul > hi)
    return mgc_yaml_err_at(x->origin, v, "'%s' must be in [%zu, %zu] bytes, got %s", key, lo, hi,
                           s);
  *out = (size_t)(n * mul);
  return MGC_OK;
}

/* An empty value ("input:" followed only by comments) is an empty section. */
static int is_null(const yaml_node_t *v) {
  const char *s = mgc_yaml_scalar(v);
  return s && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
         (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

static mgc_status section(mgc_yaml *y, yaml_node_t *v, const char *key, mgc_yaml_pair_fn fn) {
  if (is_null(v)) return MGC_OK;
  return mgc_yaml_each_pair(y, v, key, fn);
}

/* ---- sections ---- */

static mgc_status raw_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_config *c = x->c;
  if (!strcmp(key, "rate")) return mgc_yaml_get_int(x->origin, v, key, 1000, 768000, &c->raw_rate);
  if (!strcmp(key, "channels")) return mgc_yaml_get_int(x->origin, v, key, 1, 32, &c->raw_channels);
  if (!strcmp(key, "format")) {
    static const char *const names[] = {"s16", "f32"};
    int f = 0;
    mgc_status st = get_enum(x, v, key, names, 2, &f);
    c->raw_format = (mgc_sample_format)f;
    return st;
  }
  return mgc_yaml_err_at(x->origin, k, "unknown key '%s' in 'input.raw' (rate, channels, format)",
                         key);
}

static mgc_status retry_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "min")) {
    x->retry_min = v;
    return get_seconds(x, v, key, 0.01, 3600, &x->c->retry_min_s);
  }
  if (!strcmp(key, "max")) {
    x->retry_max = v;
    return get_seconds(x, v, key, 0.01, 3600, &x->c->retry_max_s);
  }
  return mgc_yaml_err_at(x->origin, k, "unknown key '%s' in 'input.retry' (min, max)", key);
}

static mgc_status input_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_config *c = x->c;
  if (!strcmp(key, "device") || !strcmp(key, "file")) {
    if (x->source)
      return mgc_yaml_err_at(x->origin, k,
                             "'input.device' and 'input.file' are mutually exclusive (the other "
                             "one is at line %zu)",
                             x->source->start_mark.line + 1);
    x->source = k;
    if (key[0] == 'd') {
      c->input_kind = MGC_INPUT_DEVICE;
      return get_string(x, v, key, 0, c->device, sizeof c->device);
    }
    mgc_status st = get_path(x, v, key, c->file, sizeof c->file);
    c->input_kind = !strcmp(c->file, "-") ? MGC_INPUT_STDIN : MGC_INPUT_FILE;
    return st;
  }
  if (!strcmp(key, "fast")) return mgc_yaml_get_bool(x->origin, v, key, &c->fast);
  if (!strcmp(key, "raw")) {
    const char *s = mgc_yaml_scalar(v);
    if (s && !is_null(v)) {
      if (!mgc_yaml_get_bool(x->origin, v, key, &c->raw)) return MGC_OK;
      return mgc_yaml_err_at(x->origin, v,
                             "'raw' must be true, false or a mapping {rate, channels, format}");
    }
    c->raw = 1;
    return section(y, v, "input.raw", raw_pair);
  }
  if (!strcmp(key, "rate")) {
    mgc_status st = mgc_yaml_get_int(x->origin, v, key, 0, 768000, &c->device_rate);
    if (!st && c->device_rate > 0 && c->device_rate < 1000)
      return mgc_yaml_err_at(x->origin, v,
                             "'rate' must be 0 (the model's rate) or in [1000, 768000], got %d",
                             c->device_rate);
    return st;
  }
  if (!strcmp(key, "channels"))
    return mgc_yaml_get_int(x->origin, v, key, 0, 32, &c->device_channels);
  if (!strcmp(key, "latency")) return get_seconds(x, v, key, 0, 10, &c->latency_s);
  if (!strcmp(key, "retry")) return section(y, v, "input.retry", retry_pair);
  return mgc_yaml_err_at(x->origin, k,
                         "unknown key '%s' in 'input' (device, file, fast, raw, rate, channels, "
                         "latency, retry)",
                         key);
}

static mgc_status window_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "frames"))
    return mgc_yaml_get_int(x->origin, v, key, 0, 100000, &x->c->window_frames);
  if (!strcmp(key, "hop")) return mgc_yaml_get_int(x->origin, v, key, 0, 100000, &x->c->window_hop);
  return mgc_yaml_err_at(x->origin, k, "unknown key '%s' in 'window' (frames, hop)", key);
}

static mgc_status aggregate_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_aggregator_params *p = &x->c->agg;
  if (!strcmp(key, "mode")) {
    static const char *const names[] = {"mean", "ema"};
    int m = 0;
    mgc_status st = get_enum(x, v, key, names, 2, &m);
    p->mode = (mgc_agg_mode)m;
    return st;
  }
  if (!strcmp(key, "horizon")) {
    x->horizon = v;
    return get_seconds(x, v, key, 0.1, 86400, &p->horizon_s);
  }
  if (!strcmp(key, "halflife")) return get_seconds(x, v, key, 0.1, 86400, &p->halflife_s);
  if (!strcmp(key, "silence_db")) {
    const char *s = mgc_yaml_scalar(v);
    /* No gate at all: every window votes. */
    if (s && (!strcmp(s, "off") || !strcmp(s, "-inf") || !strcmp(s, "-.inf"))) {
      p->silence_db = -INFINITY;
      return MGC_OK;
    }
    return mgc_yaml_get_num(x->origin, v, key, -200, 0, &p->silence_db);
  }
  if (!strcmp(key, "gap")) return get_seconds(x, v, key, 0, 86400, &p->gap_s);
  if (!strcmp(key, "change_db")) return mgc_yaml_get_num(x->origin, v, key, 0, 200, &p->change_db);
  if (!strcmp(key, "change_windows"))
    return mgc_yaml_get_int(x->origin, v, key, 1, 1000, &p->change_windows);
  if (!strcmp(key, "min_confidence"))
    return mgc_yaml_get_num(x->origin, v, key, 0, 1, &x->c->min_confidence);
  return mgc_yaml_err_at(x->origin, k,
                         "unknown key '%s' in 'aggregate' (mode, horizon, halflife, silence_db, "
                         "gap, change_db, change_windows, min_confidence)",
                         key);
}

static mgc_status music_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_config *c = x->c;
  if (!strcmp(key, "detector")) {
    const char *s = mgc_yaml_scalar(v);
    if (s && (!strcmp(s, "off") || !strcmp(s, "ensemble"))) {
      snprintf(c->detector, sizeof c->detector, "%s", s[0] == 'o' ? "off" : "");
      c->detector_at[0] = 0;
      return MGC_OK;
    }
    snprintf(c->detector_at, sizeof c->detector_at, "%s:%zu:%zu: ", x->origin,
             v->start_mark.line + 1, v->start_mark.column + 1);
    return get_path(x, v, key, c->detector, sizeof c->detector);
  }
  if (!strcmp(key, "threshold")) return mgc_yaml_get_num(x->origin, v, key, 0, 1, &c->music.threshold);
  if (!strcmp(key, "enter")) return mgc_yaml_get_int(x->origin, v, key, 1, 1000, &c->music.enter_windows);
  if (!strcmp(key, "leave")) return mgc_yaml_get_int(x->origin, v, key, 1, 1000, &c->music.leave_windows);
  return mgc_yaml_err_at(x->origin, k, "unknown key '%s' in 'music' (detector, threshold, enter, leave)", key);
}

static mgc_status socket_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  mgc_config *c = x->c;
  if (!strcmp(key, "path")) return get_path(x, v, key, c->socket_path, sizeof c->socket_path);
  if (!strcmp(key, "mode")) return get_mode(x, v, key, &c->socket_mode);
  if (!strcmp(key, "group"))
    return get_string(x, v, key, 1, c->socket_group, sizeof c->socket_group);
  if (!strcmp(key, "max_clients"))
    return mgc_yaml_get_int(x->origin, v, key, 1, MGC_SERVER_MAX_CLIENTS, &c->max_clients);
  if (!strcmp(key, "max_line"))
    return get_bytes(x, v, key, MGC_SERVER_MIN_LINE, MGC_SERVER_MAX_LINE, &c->max_line);
  if (!strcmp(key, "client_buffer"))
    return get_bytes(x, v, key, 4096, (size_t)1 << 30, &c->client_buffer);
  if (!strcmp(key, "client_timeout"))
    return get_seconds(x, v, key, 0.1, 3600, &c->client_timeout_s);
  return mgc_yaml_err_at(x->origin, k,
                         "unknown key '%s' in 'socket' (path, mode, group, max_clients, "
                         "max_line, client_buffer, client_timeout)",
                         key);
}

static mgc_status log_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "level")) {
    int l = 0;
    mgc_status st = get_enum(x, v, key, g_level_names, 4, &l);
    x->c->log_level = (mgc_log_level)l;
    return st;
  }
  return mgc_yaml_err_at(x->origin, k, "unknown key '%s' in 'log' (level)", key);
}

static mgc_status top_pair(mgc_yaml *y, const char *key, yaml_node_t *k, yaml_node_t *v) {
  ctx *x = y->user;
  if (!strcmp(key, "input")) return section(y, v, key, input_pair);
  if (!strcmp(key, "model")) return get_path(x, v, key, x->c->model, sizeof x->c->model);
  if (!strcmp(key, "window")) return section(y, v, key, window_pair);
  if (!strcmp(key, "aggregate")) {
    x->aggregate = k;
    return section(y, v, key, aggregate_pair);
  }
  if (!strcmp(key, "music")) return section(y, v, key, music_pair);
  if (!strcmp(key, "socket")) return section(y, v, key, socket_pair);
  if (!strcmp(key, "log")) return section(y, v, key, log_pair);
  return mgc_yaml_err_at(x->origin, k,
                         "unknown key '%s' (input, model, window, aggregate, music, socket, log)", key);
}

static mgc_status parse_doc(ctx *x, yaml_document_t *doc) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root || is_null(root)) /* nothing, or only "---" */
    return mgc_error_set(MGC_EINVAL,
                         "%s:1:1: empty configuration (expected sections such as "
                         "input:, model:, socket:)",
                         x->origin);
  if (root->type != YAML_MAPPING_NODE)
    return mgc_yaml_err_at(x->origin, root,
                           "the configuration must be a mapping of sections "
                           "(input, model, window, aggregate, music, socket, log)");
  mgc_yaml y = {x->origin, doc, 1, x};
  mgc_status st = mgc_yaml_each_pair(&y, root, "configuration", top_pair);
  if (st) return st;
  mgc_config *c = x->c;
  if (c->retry_min_s > c->retry_max_s)
    return mgc_yaml_err_at(x->origin, x->retry_max ? x->retry_max : x->retry_min,
                           "'input.retry': min (%g s) must not exceed max (%g s)", c->retry_min_s,
                           c->retry_max_s);
  /* The aggregator's own check relates fields (horizon >= the window hop);
   * its message names the field, the position is the nearest we know. */
  if (mgc_aggregator_params_validate(&c->agg)) {
    const yaml_node_t *at =
        x->horizon && strstr(mgc_error_message(), "horizon_s") ? x->horizon : x->aggregate;
    if (at)
      return mgc_error_prefix(MGC_EINVAL, "%s:%zu:%zu: ", x->origin, at->start_mark.line + 1,
                              at->start_mark.column + 1);
    return mgc_error_prefix(MGC_EINVAL, "%s: ", x->origin);
  }
  return MGC_OK;
}

mgc_status mgc_config_parse(const char *text, const char *origin, const char *dir, mgc_config *c) {
  /* Parse into a copy: on any failure the caller's configuration (the one
   * running, on SIGHUP) stays exactly as it was. */
  mgc_config *tmp = malloc(sizeof *tmp);
  if (!tmp) return mgc_error_set(MGC_ENOMEM, "out of memory");
  memcpy(tmp, c, sizeof *tmp);
  ctx x = {.origin = origin, .dir = dir, .c = tmp};
  yaml_document_t doc;
  mgc_status st = mgc_yaml_load(text, strlen(text), origin, &doc);
  if (!st) {
    st = parse_doc(&x, &doc);
    yaml_document_delete(&doc);
  }
  if (!st) memcpy(c, tmp, sizeof *c);
  free(tmp);
  return st;
}

mgc_status mgc_config_load(const char *path, mgc_config *c) {
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  char *buf = malloc(MAX_CONFIG_BYTES + 1);
  size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
  int bad = ferror(f);
  fclose(f);
  if (!buf) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if (bad || n > MAX_CONFIG_BYTES) {
    free(buf);
    return mgc_error_set(MGC_EIO, "%s: %s", path,
                         bad ? "read error" : "larger than 1 MiB, not a configuration file");
  }
  buf[n] = '\0';
  if (strlen(buf) != n) {
    free(buf);
    return mgc_error_set(MGC_EFORMAT, "%s: contains NUL bytes, not a configuration file", path);
  }
  /* The file's directory, made absolute so that resolved paths survive a
   * change of working directory (the daemon reloads on SIGHUP). */
  char dir[4096], cwd[4096];
  const char *slash = strrchr(path, '/');
  int dlen = slash ? (int)(slash - path) : 0, len;
  if (path[0] == '/')
    len = snprintf(dir, sizeof dir, "%.*s", dlen ? dlen : 1, path);
  else if (getcwd(cwd, sizeof cwd))
    len = snprintf(dir, sizeof dir, "%s%s%.*s", cwd, dlen ? "/" : "", dlen, path);
  else
    len = snprintf(dir, sizeof dir, "%.*s", dlen ? dlen : 1, dlen ? path : ".");
  if (len < 0 || (size_t)len >= sizeof dir) {
    free(buf);
    return mgc_error_set(MGC_EINVAL, "%s: directory name too long", path);
  }
  mgc_status st = mgc_config_parse(buf, path, dir, c);
  free(buf);
  if (!st) snprintf(c->config_path, sizeof c->config_path, "%s", path);
  return st;
}

void mgc_config_set_input(mgc_config *c, const char *arg) {
  struct stat sb;
  if (!strcmp(arg, "-")) {
    c->input_kind = MGC_INPUT_STDIN;
    strcpy(c->file, "-");
  } else if (!strncmp(arg, "device:", 7)) {
    c->input_kind = MGC_INPUT_DEVICE;
    snprintf(c->device, sizeof c->device, "%s", arg[7] ? arg + 7 : "default");
  } else if ((stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) || strchr(arg, '/')) {
    /* Device names never contain '/': a path that does not exist is a
     * missing file (an error at start), not a device to wait for. */
    c->input_kind = MGC_INPUT_FILE;
    snprintf(c->file, sizeof c->file, "%s", arg);
  } else {
    c->input_kind = MGC_INPUT_DEVICE;
    snprintf(c->device, sizeof c->device, "%s", arg);
  }
}
