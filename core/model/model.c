#include "mgc/model/model.h"

#include "mgc/util/crc32.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/model/safetensors.h"
#include "mgc/util/strdup.h"

static void free_classes(char **c, int n) {
  for (int i = 0; c && i < n; i++) free(c[i]);
  free(c);
}

void mgc_model_free(mgc_model *m) {
  if (!m) return;
  mgc_net_free(m->net);
  mgc_arch_free(m->arch);
  free_classes(m->classes, m->n_classes);
  free(m->norm_mean);
  free(m->norm_std);
  free(m->recipe);
  free(m->metrics);
  free(m->curves);
  free(m);
}

/* ---- classes ------------------------------------------------------------ */

static mgc_status check_classes(int n, const char *const *classes) {
  for (int i = 0; i < n; i++) {
    if (!classes[i] || !classes[i][0])
      return mgc_error_set(MGC_EINVAL, "class %d has an empty name", i);
    for (int j = 0; j < i; j++)
      if (strcmp(classes[i], classes[j]) == 0)
        return mgc_error_set(MGC_EINVAL, "class name '%s' is used twice", classes[i]);
  }
  return MGC_OK;
}

static mgc_status copy_classes(int n, const char *const *src, char ***out) {
  char **c = calloc((size_t)n + 1, sizeof *c);
  if (!c) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    if (!(c[i] = mgc_strdup(src ? src[i] : num))) {
      free_classes(c, i);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
  }
  *out = c;
  return MGC_OK;
}

int mgc_model_class(const mgc_model *m, const char *name) {
  for (int k = 0; k < m->n_classes; k++)
    if (!strcmp(m->classes[k], name)) return k;
  return -1;
}

mgc_status mgc_model_set_classes(mgc_model *m, int n, const char *const *classes) {
  if (n != mgc_net_n_classes(m->net))
    return mgc_error_set(MGC_EINVAL, "%d class names for a net with %d outputs", n,
                         mgc_net_n_classes(m->net));
  mgc_status st = check_classes(n, classes);
  char **c;
  if (st || (st = copy_classes(n, classes, &c))) return st;
  free_classes(m->classes, m->n_classes);
  m->classes = c;
  m->n_classes = n;
  return MGC_OK;
}

/* ---- standardisation ---------------------------------------------------- */

int mgc_model_band_axis(const mgc_arch *arch) {
  const mgc_shape *s = &arch->input;
  if (s->ndim == 3) return 1;
  if (s->ndim == 1) return 0;
  /* A 2-D input is a conv1d map [C, L] (bands = channels) when the first
   * layer treats it as one, a sequence [T, F] (bands = features) otherwise. */
  static const char *map_readers[] = {"conv1d",         "maxpool1d",      "avgpool1d",
                                      "global_avgpool", "global_maxpool", "batchnorm",
                                      "batchnorm1d"};
  const char *first = arch->n_layers ? arch->layers[0].type : "";
  for (size_t i = 0; i < sizeof map_readers / sizeof map_readers[0]; i++)
    if (strcmp(first, map_readers[i]) == 0) return 0;
  return 1;
}

mgc_status mgc_model_check_norm(const mgc_model *m) {
  if (m->norm_dim == 0) return MGC_OK;
  int axis = mgc_model_band_axis(m->arch);
  const mgc_shape *s = &m->arch->input;
  if (m->norm_dim < 0 || !m->norm_mean || !m->norm_std || m->norm_dim != s->d[axis]) {
    char buf[64];
    return mgc_error_set(MGC_EINVAL,
                         "standardisation statistics have %d values, but input %s has %d bands "
                         "(axis %d)",
                         m->norm_dim, mgc_shape_str(s, buf, sizeof buf), s->d[axis], axis);
  }
  return MGC_OK;
}

mgc_status mgc_model_set_norm(mgc_model *m, int dim, const float *mean, const float *std) {
  if (dim == 0) {
    free(m->norm_mean);
    free(m->norm_std);
    m->norm_mean = m->norm_std = NULL;
    m->norm_dim = 0;
    return MGC_OK;
  }
  if (dim < 0 || !mean || !std) return mgc_error_set(MGC_EINVAL, "bad standardisation statistics");
  for (int i = 0; i < dim; i++) {
    if (!isfinite(mean[i]))
      return mgc_error_set(MGC_EINVAL, "standardisation mean[%d] is not finite", i);
    if (!isfinite(std[i]) || !(std[i] > 0))
      return mgc_error_set(MGC_EINVAL, "standardisation std[%d] = %g must be finite and > 0", i,
                           (double)std[i]);
  }
  mgc_model probe = *m;
  probe.norm_dim = dim;
  probe.norm_mean = (float *)mean;
  probe.norm_std = (float *)std;
  mgc_status st = mgc_model_check_norm(&probe);
  if (st) return st;
  float *a = malloc(sizeof(float) * (size_t)dim), *b = malloc(sizeof(float) * (size_t)dim);
  if (!a || !b) {
    free(a);
    free(b);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  memcpy(a, mean, sizeof(float) * (size_t)dim);
  memcpy(b, std, sizeof(float) * (size_t)dim);
  free(m->norm_mean);
  free(m->norm_std);
  m->norm_mean = a;
  m->norm_std = b;
  m->norm_dim = dim;
  return MGC_OK;
}

void mgc_model_standardize(const mgc_model *m, const float *x, float *y, int batch) {
  const mgc_shape *s = &m->arch->input;
  size_t n = mgc_shape_size(s) * (size_t)batch;
  if (m->norm_dim == 0) {
    if (x != y) memmove(y, x, n * sizeof(float));
    return;
  }
  /* View each batch as [outer, bands, inner] around the band axis. */
  int axis = mgc_model_band_axis(m->arch);
  size_t inner = 1, bands = (size_t)s->d[axis];
  for (int i = axis + 1; i < s->ndim; i++) inner *= (size_t)s->d[i];
  size_t outer = n / (bands * inner);
  const float *mu = m->norm_mean, *sd = m->norm_std;
  /* Division, not a reciprocal product: the same float ops as PyTorch's
   * (x - mean) / std, so numbers can be compared bit for bit. */
  const int *lg = m->arch->input_log, n_lg = m->arch->n_input_log;
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0, j = 0; k < bands; k++) {
      const float *xr = x + (o * bands + k) * inner;
      float *yr = y + (o * bands + k) * inner;
      if ((int)j < n_lg && (size_t)lg[j] == k) { /* input_log: sorted band indices */
        j++;
        for (size_t i = 0; i < inner; i++)
          yr[i] = (logf(fmaxf(xr[i], MGC_INPUT_LOG_FLOOR)) - mu[k]) / sd[k];
      } else {
        for (size_t i = 0; i < inner; i++) yr[i] = (xr[i] - mu[k]) / sd[k];
      }
    }
}

static mgc_status set_text(char **dst, const char *text) {
  char *c = NULL;
  if (text && !(c = mgc_strdup(text))) return mgc_error_set(MGC_ENOMEM, "out of memory");
  free(*dst);
  *dst = c;
  return MGC_OK;
}

mgc_status mgc_model_set_recipe(mgc_model *m, const char *text) {
  return set_text(&m->recipe, text);
}
mgc_status mgc_model_set_metrics(mgc_model *m, const char *text) {
  return set_text(&m->metrics, text);
}

mgc_status mgc_model_set_curves(mgc_model *m, const char *csv) { return set_text(&m->curves, csv); }

static int same_shape(const mgc_param *a, const mgc_param *b) {
  if (a->ndim != b->ndim || a->size != b->size) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

mgc_status mgc_model_init_from(mgc_model *m, const mgc_model *src, int *copied, char *fresh,
                               size_t cap) {
  int n = 0;
  size_t used = 0;
  if (fresh && cap) fresh[0] = '\0';
  for (int i = 0; i < mgc_net_n_params(m->net); i++) {
    mgc_param *p = mgc_net_param(m->net, i);
    const mgc_param *q = mgc_net_find_param(src->net, p->name);
    if (q && same_shape(p, q)) {
      memcpy(p->value, q->value, p->size * sizeof(float));
      n++;
    } else if (fresh && used + 1 < cap) {
      int w = snprintf(fresh + used, cap - used, "%s%s", used ? ", " : "", p->name);
      used = w > 0 && (size_t)w < cap - used ? used + (size_t)w : cap - 1;
    }
  }
  if (copied) *copied = n;
  if (n == 0)
    return mgc_error_set(MGC_EINVAL, "no tensor of the initial model matches the architecture "
                         "by name and shape");
  m->frontend = src->frontend;
  return mgc_model_set_norm(m, src->norm_dim, src->norm_mean, src->norm_std);
}

/* ---- construction ------------------------------------------------------- */

/* Take ownership of arch (always, also on failure), build the net and the
 * class list. */
static mgc_status assemble(mgc_arch *arch, int n_classes, const char *const *classes,
                           uint64_t seed, mgc_model **out) {
  *out = NULL;
  mgc_model *m = calloc(1, sizeof *m);
  if (!m) {
    mgc_arch_free(arch);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  m->arch = arch;
  m->temperature = 1;
  mgc_frontend_params_default(&m->frontend);
  mgc_status st;
  if (classes && n_classes <= 0) {
    st = mgc_error_set(MGC_EINVAL, "class names given without their number");
    goto fail;
  }
  if ((st = mgc_net_new(arch, n_classes, seed, &m->net))) goto fail;
  int nc = mgc_net_n_classes(m->net);
  if (n_classes > 0 && nc != n_classes) {
    st = mgc_error_set(MGC_EINVAL, "%s: the architecture gives %d outputs, not one per class (%d)",
                       arch->origin, nc, n_classes);
    goto fail;
  }
  if (classes && (st = check_classes(nc, classes))) goto fail;
  if ((st = copy_classes(nc, classes, &m->classes))) goto fail;
  m->n_classes = nc;
  *out = m;
  return MGC_OK;
fail:
  mgc_model_free(m);
  return st;
}

mgc_status mgc_model_new(const mgc_arch *arch, int n_classes, const char *const *classes,
                         uint64_t seed, mgc_model **out) {
  *out = NULL;
  /* The model keeps its own parsed copy so the caller's arch can go. */
  mgc_arch *copy;
  mgc_status st = mgc_arch_parse(arch->text, strlen(arch->text), arch->origin, &copy);
  if (st) return st;
  return assemble(copy, n_classes, classes, seed, out);
}

/* ---- saving ------------------------------------------------------------- */

/* %.9g identifies a float uniquely; -0 is spelled -0.0 so the sign survives
 * a JSON parser that would read "-0" as the integer 0. */
static char *float_list(const float *v, int n) {
  size_t cap = (size_t)n * 20 + 3, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[len++] = '[';
  for (int i = 0; i < n; i++) {
    if (v[i] == 0 && signbit(v[i]))
      len += (size_t)snprintf(s + len, cap - len, "%s-0.0", i ? ", " : "");
    else
      len += (size_t)snprintf(s + len, cap - len, "%s%.9g", i ? ", " : "", (double)v[i]);
  }
  snprintf(s + len, cap - len, "]");
  return s;
}

mgc_status mgc_model_window_layout(const mgc_model *m, const float *win, int t, int f, float *x) {
  const mgc_shape *s = &m->arch->input;
  if (s->ndim == 3 && s->d[0] == 1 && s->d[1] == f && s->d[2] == t) {
    for (int k = 0; k < t; k++)
      for (int j = 0; j < f; j++) x[(size_t)j * t + k] = win[(size_t)k * f + j];
  } else if (s->ndim == 2 && s->d[0] == t && s->d[1] == f) {
    memcpy(x, win, (size_t)t * f * sizeof(float));
  } else if (s->ndim == 1 && t == 1 && s->d[0] == f) { /* one frame: a feature-table row */
    memcpy(x, win, (size_t)f * sizeof(float));
  } else if (s->ndim == 2 && s->d[0] == 1 && (size_t)s->d[1] == (size_t)t * (size_t)f &&
             !strcmp(m->arch->feature, "waveform")) {
    /* t frames of f consecutive samples: the window's samples in order, one channel. */
    memcpy(x, win, (size_t)t * f * sizeof(float));
  } else {
    char buf[64];
    return mgc_error_set(MGC_EINVAL, "a window of %d frames x %d features does not fit input %s",
                         t, f, mgc_shape_str(s, buf, sizeof buf));
  }
  return MGC_OK;
}

/* ---- checksum ------------------------------------------------------------ */

/* The seal of a model file: CRC-32 over the metadata (sorted by key, the
 * checksum itself excluded) and over every tensor's name and bytes in the
 * net's order, so neither key order nor tensor order in the file matter
 * but any changed bit does. */
typedef struct kv {
  const char *key, *value;
} kv;

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

static uint32_t seal(kv *meta, int n_meta, const mgc_net *net, const mgc_st_file *f) {
  qsort(meta, (size_t)n_meta, sizeof *meta, kv_cmp);
  uint32_t crc = 0;
  for (int i = 0; i < n_meta; i++) {
    if (!strcmp(meta[i].key, "checksum")) continue;
    crc = mgc_crc32(crc, meta[i].key, strlen(meta[i].key) + 1);
    crc = mgc_crc32(crc, meta[i].value, strlen(meta[i].value) + 1);
  }
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    const mgc_param *p = mgc_net_param(net, i);
    crc = mgc_crc32(crc, p->name, strlen(p->name) + 1);
    if (f) {
      const mgc_st_tensor *t = mgc_st_find(f, p->name);
      if (t) crc = mgc_crc32(crc, t->data, t->end - t->begin);
    } else {
      crc = mgc_crc32(crc, p->value, p->size * sizeof(float));
    }
  }
  return crc;
}

mgc_status mgc_model_save(const mgc_model *m, const char *path) {
  mgc_status st;
  if (m->n_classes != mgc_net_n_classes(m->net) || !m->classes)
    return mgc_error_set(MGC_EINVAL, "%s: %d class names for a net with %d outputs", path,
                         m->n_classes, mgc_net_n_classes(m->net));
  if ((st = check_classes(m->n_classes, (const char *const *)m->classes)) ||
      (st = mgc_model_check_norm(m)))
    return mgc_error_prefix(st, "%s: ", path);
  for (int i = 0; i < m->norm_dim; i++)
    if (!isfinite(m->norm_mean[i]) || !isfinite(m->norm_std[i]) || !(m->norm_std[i] > 0))
      return mgc_error_set(MGC_EINVAL, "%s: standardisation statistic %d is not usable (mean "
                           "%g, std %g)", path, i, (double)m->norm_mean[i],
                           (double)m->norm_std[i]);
  char *frontend = NULL, *classes = NULL, *mean = NULL, *std = NULL;
  mgc_st_entry *t = NULL;
  if ((st = mgc_frontend_params_to_json(&m->frontend, &frontend))) goto done;
  json_t *arr = json_array();
  for (int i = 0; arr && i < m->n_classes; i++)
    if (json_array_append_new(arr, json_string(m->classes[i]))) {
      json_decref(arr);
      arr = NULL;
    }
  classes = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  if (!classes) {
    st = mgc_error_set(MGC_EINVAL, "%s: class names must be valid UTF-8", path);
    goto done;
  }
  mean = float_list(m->norm_mean, m->norm_dim);
  std = float_list(m->norm_std, m->norm_dim);
  int np = mgc_net_n_params(m->net);
  t = calloc((size_t)np + 1, sizeof *t);
  if (!mean || !std || !t) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  char checksum[32];
  mgc_st_meta_entry meta[12] = {
      {"format", MGC_MODEL_FORMAT}, {"mgc_version", MGC_MODEL_VERSION},
      {"architecture", m->arch->text}, {"frontend", frontend}, {"classes", classes},
      {"norm_mean", mean}, {"norm_std", std}};
  int n_meta = 7;
  if (m->recipe) meta[n_meta++] = (mgc_st_meta_entry){"recipe", m->recipe};
  if (m->metrics) meta[n_meta++] = (mgc_st_meta_entry){"metrics", m->metrics};
  if (m->curves) meta[n_meta++] = (mgc_st_meta_entry){"curves", m->curves};
  char temp[32];
  if (m->temperature != 1) { /* absent when uncalibrated: such files keep every byte */
    snprintf(temp, sizeof temp, "%.9g", m->temperature);
    meta[n_meta++] = (mgc_st_meta_entry){"temperature", temp};
  }
  for (int i = 0; i < np; i++) {
    const mgc_param *p = mgc_net_param(m->net, i);
    t[i].name = p->name;
    t[i].dtype = MGC_ST_F32;
    t[i].ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) t[i].shape[d] = (size_t)p->shape[d];
    t[i].data = p->value;
  }
  {
    kv sorted[11];
    for (int i = 0; i < n_meta; i++) sorted[i] = (kv){meta[i].key, meta[i].value};
    snprintf(checksum, sizeof checksum, "crc32:%08x", seal(sorted, n_meta, m->net, NULL));
    meta[n_meta++] = (mgc_st_meta_entry){"checksum", checksum};
  }
  st = mgc_st_write(path, meta, n_meta, t, np);
done:
  free(frontend);
  free(classes);
  free(mean);
  free(std);
  free(t);
  return st;
}

/* ---- loading ------------------------------------------------------------ */

static void param_shape(const mgc_param *p, char *buf, size_t cap) {
  mgc_shape s = {p->ndim, {0}};
  for (int d = 0; d < p->ndim; d++) s.d[d] = p->shape[d];
  mgc_shape_str(&s, buf, cap);
}

static void tensor_shape(const mgc_st_tensor *t, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < t->ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ", %zu" : "%zu", t->shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The file's tensors must be exactly the net's (by name, dtype and shape);
 * only then are values copied. `import` accepts every float dtype and skips
 * PyTorch's batchnorm step counters. */
static mgc_status fill_net(mgc_net *net, const mgc_st_file *f, int import) {
  const char *o = mgc_st_origin(f);
  char want[96], got[96];
  int np = mgc_net_n_params(net);
  for (int i = 0; i < np; i++) {
    const mgc_param *p = mgc_net_param(net, i);
    const mgc_st_tensor *t = mgc_st_find(f, p->name);
    param_shape(p, want, sizeof want);
    if (!t)
      return mgc_error_set(MGC_EFORMAT, "%s: missing tensor '%s' (F32 %s), which the "
                           "architecture needs", o, p->name, want);
    if (import ? !mgc_st_dtype_is_float(t->dtype) : t->dtype != MGC_ST_F32)
      return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s' is %s, expected %s", o, p->name,
                           mgc_st_dtype_name(t->dtype),
                           import ? "a float type (F32, F64, F16 or BF16)" : "F32");
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == (size_t)p->shape[d];
    if (!same) {
      tensor_shape(t, got, sizeof got);
      return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s' has shape %s, the architecture "
                           "expects %s (built for %d classes)", o, p->name, got, want,
                           mgc_net_n_classes(net));
    }
  }
  for (int i = 0; i < mgc_st_n_tensors(f); i++) {
    const mgc_st_tensor *t = mgc_st_tensor_at(f, i);
    if (mgc_net_find_param(net, t->name)) continue;
    if (import && ends_with(t->name, ".num_batches_tracked")) continue;
    tensor_shape(t, got, sizeof got);
    return mgc_error_set(MGC_EFORMAT, "%s: unexpected tensor '%s' (%s %s): the architecture "
                         "has no such tensor", o, t->name, mgc_st_dtype_name(t->dtype), got);
  }
  for (int i = 0; i < np; i++) {
    mgc_param *p = mgc_net_param(net, i);
    mgc_status st = mgc_st_to_f32(mgc_st_find(f, p->name), p->value);
    if (st) return mgc_error_prefix(st, "%s: ", o);
    for (size_t k = 0; k < p->size; k++)
      if (!isfinite(p->value[k]))
        return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s' holds a non-finite value (%g) at "
                             "index %zu", o, p->name, (double)p->value[k], k);
  }
  return MGC_OK;
}

static mgc_status parse_classes(const char *o, const char *text, int *n, char ***out) {
  json_error_t jerr;
  json_t *a = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  mgc_status st = MGC_OK;
  if (!a) return mgc_error_set(MGC_EFORMAT, "%s: metadata 'classes' is not JSON (column %d): %s",
                               o, jerr.column, jerr.text);
  size_t k = json_array_size(a);
  const char **names = calloc(k + 1, sizeof *names);
  if (!json_is_array(a) || k == 0) {
    st = mgc_error_set(MGC_EFORMAT, "%s: metadata 'classes' must be a non-empty JSON array of "
                       "names", o);
  } else if (k > 1000000 || !names) {
    st = mgc_error_set(MGC_ENOMEM, "%s: out of memory for %zu classes", o, k);
  } else {
    for (size_t i = 0; i < k && !st; i++) {
      names[i] = json_string_value(json_array_get(a, i));
      if (!names[i])
        st = mgc_error_set(MGC_EFORMAT, "%s: metadata 'classes': item %zu is not a string", o, i);
    }
    if (!st && (st = check_classes((int)k, names))) mgc_error_prefix(st, "%s: metadata 'classes': ", o);
    if (!st && !(st = copy_classes((int)k, names, out))) *n = (int)k;
  }
  free(names);
  json_decref(a);
  return st;
}

static mgc_status parse_floats(const char *o, const char *key, const char *text, int *n,
                               float **out) {
  json_error_t jerr;
  json_t *a = json_loads(text, 0, &jerr);
  if (!a) return mgc_error_set(MGC_EFORMAT, "%s: metadata '%s' is not JSON (column %d): %s", o,
                               key, jerr.column, jerr.text);
  mgc_status st = MGC_OK;
  size_t k = json_array_size(a);
  float *v = malloc(sizeof(float) * (k + 1));
  if (!json_is_array(a) || k > 1000000) {
    st = mgc_error_set(MGC_EFORMAT, "%s: metadata '%s' must be a JSON array of numbers", o, key);
  } else if (!v) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
  } else {
    for (size_t i = 0; i < k && !st; i++) {
      json_t *x = json_array_get(a, i);
      if (!json_is_number(x))
        st = mgc_error_set(MGC_EFORMAT, "%s: metadata '%s': item %zu is not a number", o, key, i);
      else
        v[i] = (float)json_number_value(x);
    }
  }
  json_decref(a);
  if (st) {
    free(v);
    return st;
  }
  *n = (int)k;
  *out = v;
  return MGC_OK;
}

static mgc_status read_norm(mgc_model *m, const mgc_st_file *f) {
  const char *o = mgc_st_origin(f), *tm = mgc_st_meta(f, "norm_mean"),
             *ts = mgc_st_meta(f, "norm_std");
  if (!tm && !ts) return MGC_OK;
  if (!tm || !ts)
    return mgc_error_set(MGC_EFORMAT, "%s: metadata has '%s' without '%s'", o,
                         tm ? "norm_mean" : "norm_std", tm ? "norm_std" : "norm_mean");
  int nm = 0, ns = 0;
  float *mean = NULL, *std = NULL;
  mgc_status st = parse_floats(o, "norm_mean", tm, &nm, &mean);
  if (!st) st = parse_floats(o, "norm_std", ts, &ns, &std);
  if (!st && nm != ns)
    st = mgc_error_set(MGC_EFORMAT, "%s: metadata 'norm_mean' has %d values, 'norm_std' %d", o,
                       nm, ns);
  if (!st && (st = mgc_model_set_norm(m, nm, mean, std))) mgc_error_prefix(st, "%s: ", o);
  free(mean);
  free(std);
  return st;
}

/* Refuse a file whose content no longer matches its checksum. Runs after
 * the structural checks so that those give the more specific message. */
static mgc_status check_seal(const char *path, const mgc_st_file *f, const mgc_net *net) {
  const char *want = mgc_st_meta(f, "checksum");
  if (!want)
    return mgc_error_set(MGC_EFORMAT, "%s: metadata 'checksum' is missing (mgc writes one in "
                         "every model file)", path);
  int n = mgc_st_n_meta(f);
  kv *meta = calloc((size_t)n + 1, sizeof *meta);
  if (!meta) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) meta[i] = (kv){mgc_st_meta_key(f, i), mgc_st_meta_value(f, i)};
  char got[32];
  snprintf(got, sizeof got, "crc32:%08x", seal(meta, n, net, f));
  free(meta);
  if (strcmp(got, want) != 0)
    return mgc_error_set(MGC_EFORMAT, "%s: checksum mismatch (the file says %s, its content "
                         "gives %s): the file is damaged", path, want, got);
  return MGC_OK;
}

static mgc_status load_file(const char *path, mgc_st_file *f, mgc_model **out) {
  const char *fmt = mgc_st_meta(f, "format"), *ver = mgc_st_meta(f, "mgc_version"),
             *text = mgc_st_meta(f, "architecture"), *cls = mgc_st_meta(f, "classes"),
             *fe = mgc_st_meta(f, "frontend");
  if (!fmt || strcmp(fmt, MGC_MODEL_FORMAT) != 0)
    return mgc_error_set(MGC_EFORMAT, "%s: not an mgc model (its metadata has %s%s%s, not "
                         "format = \"" MGC_MODEL_FORMAT "\"); a PyTorch state dict is read with "
                         "'mgc-model import'", path, fmt ? "format = \"" : "no 'format'",
                         fmt ? fmt : "", fmt ? "\"" : "");
  if (!ver || strcmp(ver, MGC_MODEL_VERSION) != 0)
    return mgc_error_set(MGC_EFORMAT, "%s: model format version '%s' is not supported (this "
                         "build reads version " MGC_MODEL_VERSION ")", path, ver ? ver : "(none)");
  const char *missing = !text ? "architecture" : !cls ? "classes" : !fe ? "frontend" : NULL;
  if (missing) return mgc_error_set(MGC_EFORMAT, "%s: metadata '%s' is missing", path, missing);
  char origin[300];
  snprintf(origin, sizeof origin, "%s: architecture", path);
  mgc_arch *arch;
  mgc_status st = mgc_arch_parse(text, strlen(text), origin, &arch);
  if (st) return st;
  int n = 0;
  char **classes = NULL;
  if ((st = parse_classes(path, cls, &n, &classes))) {
    mgc_arch_free(arch);
    return st;
  }
  mgc_model *m;
  st = assemble(arch, n, (const char *const *)classes, 0, &m);
  free_classes(classes, n);
  if (st) return st;
  if ((st = mgc_frontend_params_from_json(fe, &m->frontend))) {
    mgc_error_prefix(st, "%s: metadata 'frontend': ", path);
    goto fail;
  }
  if ((st = read_norm(m, f)) || (st = fill_net(m->net, f, 0))) goto fail;
  if ((st = check_seal(path, f, m->net))) goto fail;
  const char *tv = mgc_st_meta(f, "temperature");
  if (tv) {
    char *end;
    m->temperature = strtod(tv, &end);
    if (end == tv || *end || !(m->temperature >= 0.05 && m->temperature <= 20)) {
      st = mgc_error_set(MGC_EFORMAT, "%s: metadata 'temperature' is '%s', not a number in "
                         "[0.05, 20]", path, tv);
      goto fail;
    }
  }
  if ((st = mgc_model_set_recipe(m, mgc_st_meta(f, "recipe"))) ||
      (st = mgc_model_set_metrics(m, mgc_st_meta(f, "metrics"))) ||
      (st = mgc_model_set_curves(m, mgc_st_meta(f, "curves"))))
    goto fail;
  *out = m;
  return MGC_OK;
fail:
  mgc_model_free(m);
  return st;
}

mgc_status mgc_model_load(const char *path, mgc_model **out) {
  *out = NULL;
  mgc_st_file *f;
  mgc_status st = mgc_st_read(path, &f);
  if (st) return st;
  st = load_file(path, f, out);
  mgc_st_free(f);
  return st;
}

mgc_status mgc_model_parse(const void *bytes, size_t len, const char *origin, mgc_model **out) {
  *out = NULL;
  mgc_st_file *f;
  mgc_status st = mgc_st_parse(bytes, len, origin, &f);
  if (st) return st;
  st = load_file(origin, f, out);
  mgc_st_free(f);
  return st;
}

mgc_status mgc_model_import(const char *arch_path, const char *state_path,
                            const char *const *classes, int n_classes, mgc_model **out) {
  *out = NULL;
  mgc_arch *arch;
  mgc_status st = mgc_arch_load(arch_path, &arch);
  if (st) return st;
  mgc_model *m;
  if ((st = assemble(arch, n_classes, classes, 0, &m))) return st;
  mgc_st_file *f;
  if ((st = mgc_st_read(state_path, &f))) {
    mgc_model_free(m);
    return st;
  }
  st = fill_net(m->net, f, 1);
  mgc_st_free(f);
  if (st) {
    mgc_model_free(m);
    return st;
  }
  *out = m;
  return MGC_OK;
}
