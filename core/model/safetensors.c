#include "mgc/model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/util/strdup.h"

/* Tensor bytes are used in place and written as they lie in memory: the
 * format is little-endian, and so is every machine mgc targets. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mgc's safetensors code assumes a little-endian host"
#endif

static const struct {
  const char *name;
  size_t size;
} k_dtypes[MGC_ST_N_DTYPES] = {
    [MGC_ST_BOOL] = {"BOOL", 1},       [MGC_ST_U8] = {"U8", 1},
    [MGC_ST_I8] = {"I8", 1},           [MGC_ST_F8_E5M2] = {"F8_E5M2", 1},
    [MGC_ST_F8_E4M3] = {"F8_E4M3", 1}, [MGC_ST_I16] = {"I16", 2},
    [MGC_ST_U16] = {"U16", 2},         [MGC_ST_F16] = {"F16", 2},
    [MGC_ST_BF16] = {"BF16", 2},       [MGC_ST_I32] = {"I32", 4},
    [MGC_ST_U32] = {"U32", 4},         [MGC_ST_F32] = {"F32", 4},
    [MGC_ST_F64] = {"F64", 8},         [MGC_ST_I64] = {"I64", 8},
    [MGC_ST_U64] = {"U64", 8},
};

const char *mgc_st_dtype_name(mgc_st_dtype t) {
  return (unsigned)t < MGC_ST_N_DTYPES ? k_dtypes[t].name : "?";
}

size_t mgc_st_dtype_size(mgc_st_dtype t) {
  return (unsigned)t < MGC_ST_N_DTYPES ? k_dtypes[t].size : 0;
}

int mgc_st_dtype_is_float(mgc_st_dtype t) {
  return t == MGC_ST_F32 || t == MGC_ST_F64 || t == MGC_ST_F16 || t == MGC_ST_BF16;
}

struct mgc_st_file {
  char *origin;
  unsigned char *bytes;        /* the whole file */
  size_t len;
  const unsigned char *data;   /* start of the data buffer */
  size_t data_len;
  int n_tensors;
  mgc_st_tensor *tensors;
  int n_meta;
  char **meta_keys, **meta_values;
};

void mgc_st_free(mgc_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
  for (int i = 0; i < f->n_meta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->tensors);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->bytes);
  free(f->origin);
  free(f);
}

const char *mgc_st_origin(const mgc_st_file *f) { return f->origin; }
int mgc_st_n_tensors(const mgc_st_file *f) { return f->n_tensors; }
const mgc_st_tensor *mgc_st_tensor_at(const mgc_st_file *f, int i) { return &f->tensors[i]; }
int mgc_st_n_meta(const mgc_st_file *f) { return f->n_meta; }
const char *mgc_st_meta_key(const mgc_st_file *f, int i) { return f->meta_keys[i]; }
const char *mgc_st_meta_value(const mgc_st_file *f, int i) { return f->meta_values[i]; }

const mgc_st_tensor *mgc_st_find(const mgc_st_file *f, const char *name) {
  for (int i = 0; i < f->n_tensors; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

const char *mgc_st_meta(const mgc_st_file *f, const char *key) {
  for (int i = 0; i < f->n_meta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}

static void shape_str(const size_t *shape, int ndim, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ", %zu" : "%zu", shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* ---- reading ------------------------------------------------------------ */

/* A JSON integer in [0, max]; reals ("3.0") and negatives are refused. */
static int get_uint(const json_t *v, uint64_t max, uint64_t *out) {
  if (!json_is_integer(v)) return 0;
  json_int_t x = json_integer_value(v);
  if (x < 0 || (uint64_t)x > max) return 0;
  *out = (uint64_t)x;
  return 1;
}

static mgc_status parse_tensor(mgc_st_file *f, const char *name, json_t *e, mgc_st_tensor *t) {
  const char *o = f->origin;
  if (!json_is_object(e))
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': entry must be an object with dtype, "
                         "shape and data_offsets", o, name);
  const char *key;
  json_t *v;
  json_object_foreach(e, key, v) {
    if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
      return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': unexpected key '%s'", o, name, key);
  }
  json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"),
         *off = json_object_get(e, "data_offsets");
  if (!dt || !sh || !off)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': missing '%s'", o, name,
                         !dt ? "dtype" : !sh ? "shape" : "data_offsets");
  if (!json_is_string(dt))
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': dtype must be a string", o, name);
  int found = 0;
  for (int k = 0; k < MGC_ST_N_DTYPES; k++)
    if (strcmp(json_string_value(dt), k_dtypes[k].name) == 0) {
      t->dtype = (mgc_st_dtype)k;
      found = 1;
    }
  if (!found)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", o, name,
                         json_string_value(dt));
  if (!json_is_array(sh))
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': shape must be a list of non-negative "
                         "integers", o, name);
  if (json_array_size(sh) > MGC_ST_MAX_DIMS)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)",
                         o, name, json_array_size(sh), MGC_ST_MAX_DIMS);
  t->ndim = (int)json_array_size(sh);
  /* Overflow-checked product: a corrupt dimension must not wrap into a
   * size that happens to match. */
  uint64_t count = 1;
  int overflow = 0;
  for (int i = 0; i < t->ndim; i++) {
    uint64_t d;
    if (!get_uint(json_array_get(sh, (size_t)i), SIZE_MAX, &d))
      return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': shape must be a list of non-negative "
                           "integers", o, name);
    t->shape[i] = (size_t)d;
    if (d && count > UINT64_MAX / d) overflow = 1;
    count *= d;
  }
  size_t esz = k_dtypes[t->dtype].size;
  if (overflow || count > SIZE_MAX / esz)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': shape is too large", o, name);
  t->count = (size_t)count;
  uint64_t b, en;
  if (!json_is_array(off) || json_array_size(off) != 2 ||
      !get_uint(json_array_get(off, 0), UINT64_MAX, &b) ||
      !get_uint(json_array_get(off, 1), UINT64_MAX, &en))
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end], two "
                         "non-negative integers", o, name);
  if (b > en)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before "
                         "they begin", o, name, (unsigned long long)b, (unsigned long long)en);
  if (en > f->data_len)
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] go beyond the "
                         "data buffer (%zu bytes): truncated or corrupt file", o, name,
                         (unsigned long long)b, (unsigned long long)en, f->data_len);
  if (en - b != count * esz) {
    char s[160];
    shape_str(t->shape, t->ndim, s, sizeof s);
    return mgc_error_set(MGC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu "
                         "bytes but shape %s of %s needs %llu", o, name, (unsigned long long)b,
                         (unsigned long long)en, (unsigned long long)(en - b), s,
                         k_dtypes[t->dtype].name, (unsigned long long)(count * esz));
  }
  t->begin = (size_t)b;
  t->end = (size_t)en;
  t->data = f->data + b;
  return MGC_OK;
}

static mgc_status parse_meta(mgc_st_file *f, json_t *m) {
  if (json_is_null(m)) return MGC_OK; /* the reference writes no metadata as null or nothing */
  if (!json_is_object(m))
    return mgc_error_set(MGC_EFORMAT, "%s: __metadata__ must be an object of strings",
                         f->origin);
  size_t n = json_object_size(m);
  f->meta_keys = calloc(n + 1, sizeof *f->meta_keys);
  f->meta_values = calloc(n + 1, sizeof *f->meta_values);
  if (!f->meta_keys || !f->meta_values) return mgc_error_set(MGC_ENOMEM, "out of memory");
  const char *key;
  json_t *v;
  json_object_foreach(m, key, v) {
    if (!json_is_string(v))
      return mgc_error_set(MGC_EFORMAT, "%s: metadata '%s' is not a string (safetensors "
                           "metadata values must be strings)", f->origin, key);
    char *k = mgc_strdup(key), *s = mgc_strdup(json_string_value(v));
    if (!k || !s) {
      free(k);
      free(s);
      return mgc_error_set(MGC_ENOMEM, "out of memory");
    }
    f->meta_keys[f->n_meta] = k;
    f->meta_values[f->n_meta++] = s;
  }
  return MGC_OK;
}

static int cmp_offsets(const void *pa, const void *pb) {
  const mgc_st_tensor *a = pa, *b = pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  if (a->end != b->end) return a->end < b->end ? -1 : 1;
  return strcmp(a->name, b->name);
}

static mgc_status parse_header(mgc_st_file *f) {
  const char *o = f->origin;
  if (f->len < 8)
    return mgc_error_set(MGC_EFORMAT, "%s: %zu bytes, shorter than the 8-byte header length of "
                         "a safetensors file", o, f->len);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | f->bytes[i];
  if (n > MGC_ST_MAX_HEADER)
    return mgc_error_set(MGC_EFORMAT, "%s: header length %llu is absurd (over %u bytes): not a "
                         "safetensors file, or corrupt", o, (unsigned long long)n,
                         MGC_ST_MAX_HEADER);
  if (n > f->len - 8)
    return mgc_error_set(MGC_EFORMAT, "%s: header length %llu goes beyond the end of the file "
                         "(%zu bytes after the length): truncated or corrupt", o,
                         (unsigned long long)n, f->len - 8);
  f->data = f->bytes + 8 + n;
  f->data_len = f->len - 8 - (size_t)n;
  json_error_t jerr;
  json_t *root = json_loadb((const char *)f->bytes + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return mgc_error_set(MGC_EFORMAT, "%s: header JSON does not parse (line %d, column %d, "
                         "byte %d of the header): %s", o, jerr.line, jerr.column, jerr.position,
                         jerr.text);
  mgc_status st = MGC_OK;
  if (!json_is_object(root)) {
    st = mgc_error_set(MGC_EFORMAT, "%s: the header must be a JSON object", o);
    goto done;
  }
  size_t nt = json_object_size(root);
  if (json_object_get(root, "__metadata__")) nt--;
  if (nt > (size_t)(1 << 30)) {
    st = mgc_error_set(MGC_EFORMAT, "%s: too many tensors", o);
    goto done;
  }
  if (!(f->tensors = calloc(nt + 1, sizeof *f->tensors))) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "__metadata__") == 0) {
      if ((st = parse_meta(f, v))) goto done;
      continue;
    }
    mgc_st_tensor *t = &f->tensors[f->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = mgc_strdup(key))) {
      st = mgc_error_set(MGC_ENOMEM, "out of memory");
      goto done;
    }
    f->n_tensors++;
    if ((st = parse_tensor(f, key, v, t))) goto done;
  }
  /* The tensors must tile the buffer: an overlap or a hole means the header
   * and the data disagree, which no writer produces on purpose. */
  qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_offsets);
  size_t at = 0;
  for (int i = 0; i < f->n_tensors; i++) {
    const mgc_st_tensor *t = &f->tensors[i];
    if (t->begin < at) {
      st = mgc_error_set(MGC_EFORMAT, "%s: tensors '%s' and '%s' overlap (bytes %zu..%zu and "
                         "%zu..%zu)", o, f->tensors[i - 1].name, t->name,
                         f->tensors[i - 1].begin, f->tensors[i - 1].end, t->begin, t->end);
      goto done;
    }
    if (t->begin > at) {
      st = mgc_error_set(MGC_EFORMAT, "%s: %zu bytes of the data buffer (%zu..%zu) belong to no "
                         "tensor, before '%s'", o, t->begin - at, at, t->begin, t->name);
      goto done;
    }
    at = t->end;
  }
  if (at != f->data_len)
    st = mgc_error_set(MGC_EFORMAT, "%s: %zu trailing bytes after the last tensor (data buffer "
                       "is %zu bytes, tensors cover %zu)", o, f->data_len - at, f->data_len, at);
done:
  json_decref(root);
  return st;
}

static mgc_status finish(mgc_st_file *f, mgc_st_file **out) {
  mgc_status st = parse_header(f);
  if (st) {
    mgc_st_free(f);
    return st;
  }
  *out = f;
  return MGC_OK;
}

static mgc_st_file *new_file(const char *origin) {
  mgc_st_file *f = calloc(1, sizeof *f);
  if (f && !(f->origin = mgc_strdup(origin))) {
    free(f);
    f = NULL;
  }
  return f;
}

mgc_status mgc_st_parse(const void *bytes, size_t len, const char *origin, mgc_st_file **out) {
  *out = NULL;
  mgc_st_file *f = new_file(origin);
  if (!f || !(f->bytes = malloc(len ? len : 1))) {
    mgc_st_free(f);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  if (len) memcpy(f->bytes, bytes, len);
  f->len = len;
  return finish(f, out);
}

mgc_status mgc_st_read(const char *path, mgc_st_file **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    mgc_status st = mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return st;
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return mgc_error_set(MGC_EIO, "%s: %s", path,
                         S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
  }
  mgc_st_file *f = new_file(path);
  size_t len = (size_t)sb.st_size;
  if (!f || !(f->bytes = malloc(len ? len : 1))) {
    close(fd);
    mgc_st_free(f);
    return mgc_error_set(MGC_ENOMEM, "%s: out of memory reading %zu bytes", path, len);
  }
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, f->bytes + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      mgc_status st = mgc_error_set(MGC_EIO, "%s: read error: %s", path, strerror(errno));
      close(fd);
      mgc_st_free(f);
      return st;
    }
    if (r == 0) break; /* shrank while we read: judge what we got */
    got += (size_t)r;
  }
  close(fd);
  f->len = got;
  return finish(f, out);
}

/* ---- conversion --------------------------------------------------------- */

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24 is exact in float */
    float v = (float)man * 0x1p-24f;
    memcpy(&bits, &v, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  }
  float out;
  memcpy(&out, &bits, 4);
  return out;
}

mgc_status mgc_st_to_f32(const mgc_st_tensor *t, float *dst) {
  const unsigned char *p = t->data;
  switch (t->dtype) {
    case MGC_ST_F32:
      if (t->count) memcpy(dst, p, t->count * 4);
      return MGC_OK;
    case MGC_ST_F64:
      for (size_t i = 0; i < t->count; i++) {
        double d;
        memcpy(&d, p + 8 * i, 8);
        dst[i] = (float)d;
      }
      return MGC_OK;
    case MGC_ST_F16:
      for (size_t i = 0; i < t->count; i++)
        dst[i] = f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
      return MGC_OK;
    case MGC_ST_BF16:
      /* bfloat16 is the top half of a float32 */
      for (size_t i = 0; i < t->count; i++) {
        uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
        memcpy(&dst[i], &bits, 4);
      }
      return MGC_OK;
    default:
      return mgc_error_set(MGC_EINVAL, "tensor '%s' is %s, not a floating-point type", t->name,
                           mgc_st_dtype_name(t->dtype));
  }
}

/* ---- writing ------------------------------------------------------------ */

static mgc_status build_header(const mgc_st_meta_entry *meta, int n_meta,
                               const mgc_st_entry *tensors, int n_tensors, char **text) {
  json_t *root = json_object(), *m = NULL;
  mgc_status st = MGC_OK;
  if (!root) return mgc_error_set(MGC_ENOMEM, "out of memory");
  if (n_meta > 0) {
    if (!(m = json_object()) || json_object_set_new(root, "__metadata__", m)) {
      st = mgc_error_set(MGC_ENOMEM, "out of memory");
      goto done;
    }
    for (int i = 0; i < n_meta; i++) {
      if (!meta[i].key || !meta[i].value) {
        st = mgc_error_set(MGC_EINVAL, "metadata entry %d has no key or value", i);
        goto done;
      }
      if (json_object_get(m, meta[i].key)) {
        st = mgc_error_set(MGC_EINVAL, "metadata key '%s' given twice", meta[i].key);
        goto done;
      }
      json_t *s = json_string(meta[i].value);
      if (!s || json_object_set_new(m, meta[i].key, s)) {
        st = mgc_error_set(MGC_EINVAL, "metadata '%s': key or value is not valid UTF-8",
                           meta[i].key);
        goto done;
      }
    }
  }
  uint64_t at = 0;
  for (int i = 0; i < n_tensors; i++) {
    const mgc_st_entry *t = &tensors[i];
    if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0) {
      st = mgc_error_set(MGC_EINVAL, "tensor %d has no usable name", i);
      goto done;
    }
    if (json_object_get(root, t->name)) {
      st = mgc_error_set(MGC_EINVAL, "tensor '%s' given twice", t->name);
      goto done;
    }
    if ((unsigned)t->dtype >= MGC_ST_N_DTYPES || t->ndim < 0 || t->ndim > MGC_ST_MAX_DIMS) {
      st = mgc_error_set(MGC_EINVAL, "tensor '%s': bad dtype or number of dimensions", t->name);
      goto done;
    }
    json_t *shape = json_array();
    uint64_t count = 1;
    for (int d = 0; shape && d < t->ndim; d++) {
      json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
      count *= t->shape[d];
    }
    uint64_t bytes = count * k_dtypes[t->dtype].size;
    json_t *e = shape ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", k_dtypes[t->dtype].name,
                                  "shape", shape, "data_offsets", (json_int_t)at,
                                  (json_int_t)(at + bytes))
                      : NULL;
    if (!e || json_object_set_new(root, t->name, e)) {
      st = mgc_error_set(MGC_EINVAL, "tensor '%s': cannot describe it in JSON (name not UTF-8?)",
                         t->name);
      goto done;
    }
    if (bytes && !t->data) {
      st = mgc_error_set(MGC_EINVAL, "tensor '%s' has no data", t->name);
      goto done;
    }
    at += bytes;
  }
  /* jansson keeps insertion order, so keys come out in the order given. */
  if (!(*text = json_dumps(root, JSON_COMPACT)))
    st = mgc_error_set(MGC_ENOMEM, "cannot serialise the safetensors header");
done:
  json_decref(root);
  return st;
}

static void sync_parent_dir(const char *path) {
  /* The rename is durable only once the directory entry is on disk. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) dir[1] = '\0';
  else if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

mgc_status mgc_st_write(const char *path, const mgc_st_meta_entry *meta, int n_meta,
                        const mgc_st_entry *tensors, int n_tensors) {
  char *header = NULL;
  mgc_status st = build_header(meta, n_meta, tensors, n_tensors, &header);
  if (st) return mgc_error_prefix(st, "%s: ", path);
  size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
  size_t plen = strlen(path) + 5;
  char *tmp = malloc(plen);
  if (!tmp) {
    free(header);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  snprintf(tmp, plen, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    st = mgc_error_set(MGC_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    free(tmp);
    free(header);
    return st;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
  for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
  for (int i = 0; ok && i < n_tensors; i++) {
    size_t count = 1;
    for (int d = 0; d < tensors[i].ndim; d++) count *= tensors[i].shape[d];
    size_t bytes = count * k_dtypes[tensors[i].dtype].size;
    ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, f) == bytes;
  }
  int err = ok ? 0 : errno;
  if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0)) ok = 0, err = errno;
  if (fclose(f) != 0 && ok) ok = 0, err = errno;
  if (ok && rename(tmp, path) != 0) {
    st = mgc_error_set(MGC_EIO, "%s: cannot rename %s into place: %s", path, tmp,
                       strerror(errno));
    unlink(tmp);
  } else if (!ok) {
    st = mgc_error_set(MGC_EIO, "%s: write failed: %s", tmp, strerror(err ? err : EIO));
    unlink(tmp);
  } else {
    sync_parent_dir(path);
  }
  free(tmp);
  free(header);
  return st;
}
