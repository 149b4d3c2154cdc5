#include "mgc/io/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[] = "\x93NUMPY";

mgc_status mgc_npy_write(const char *path, const float *data, int ndim, const size_t *shape) {
  if (ndim < 0 || ndim > MGC_NPY_MAX_DIMS) return mgc_error_set(MGC_EINVAL, "npy: bad ndim %d", ndim);
  char dict[512];
  int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%zu%s", shape[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    count *= shape[i];
  }
  len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
  /* Header (magic 6 + version 2 + length 2 + dict + '\n') padded to 64 bytes. */
  size_t total = 10 + (size_t)len + 1;
  size_t padded = (total + 63) / 64 * 64;
  FILE *f = fopen(path, "wb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: cannot create: %s", path, strerror(errno));
  uint16_t hlen = (uint16_t)(padded - 10);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
  for (size_t i = total - 1; ok && i < padded - 1; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  /* x86-64 and aarch64 are little-endian, as '<f4' requires. */
  ok = ok && (count == 0 || fwrite(data, sizeof(float), count, f) == count);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return mgc_error_set(MGC_EIO, "%s: write failed: %s", path, strerror(errno));
  return MGC_OK;
}

size_t mgc_npy_count(const mgc_npy *a) {
  size_t c = 1;
  for (int i = 0; i < a->ndim; i++) c *= a->shape[i];
  return c;
}

static mgc_status parse_header(const char *path, const char *h, mgc_npy *out, int *is_f8) {
  const char *d = strstr(h, "'descr':");
  if (!d) return mgc_error_set(MGC_EFORMAT, "%s: npy header has no 'descr'", path);
  d = strchr(d + 8, '\'');
  if (!d) return mgc_error_set(MGC_EFORMAT, "%s: npy header 'descr' malformed", path);
  if (!strncmp(d, "'<f4'", 5)) *is_f8 = 0;
  else if (!strncmp(d, "'<f8'", 5)) *is_f8 = 1;
  else return mgc_error_set(MGC_EFORMAT, "%s: npy dtype %.8s not supported (need float32 or float64)", path, d);
  const char *fo = strstr(h, "'fortran_order':");
  if (!fo) return mgc_error_set(MGC_EFORMAT, "%s: npy header has no 'fortran_order'", path);
  fo += 16;
  while (*fo == ' ') fo++;
  if (strncmp(fo, "False", 5)) return mgc_error_set(MGC_EFORMAT, "%s: Fortran-order npy not supported", path);
  const char *s = strstr(h, "'shape':");
  if (!s || !(s = strchr(s, '('))) return mgc_error_set(MGC_EFORMAT, "%s: npy header has no shape", path);
  s++;
  out->ndim = 0;
  for (;;) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    if (*s < '0' || *s > '9') return mgc_error_set(MGC_EFORMAT, "%s: npy shape malformed", path);
    if (out->ndim == MGC_NPY_MAX_DIMS) return mgc_error_set(MGC_EFORMAT, "%s: npy has too many dims", path);
    errno = 0;
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || v > ((size_t)1 << 40)) return mgc_error_set(MGC_EFORMAT, "%s: npy dimension too large", path);
    out->shape[out->ndim++] = (size_t)v;
    s = e;
  }
  return MGC_OK;
}

mgc_status mgc_npy_read(const char *path, mgc_npy *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char pre[12];
  mgc_status st = MGC_OK;
  char *h = NULL;
  size_t hlen = 0, pre_len = 10;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, MAGIC, 6)) {
    st = mgc_error_set(MGC_EFORMAT, "%s: not a .npy file", path);
    goto done;
  }
  if (pre[6] == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      st = mgc_error_set(MGC_EFORMAT, "%s: truncated npy header", path);
      goto done;
    }
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    pre_len = 12;
  } else {
    st = mgc_error_set(MGC_EFORMAT, "%s: npy version %d not supported", path, pre[6]);
    goto done;
  }
  if (hlen > 65536) {
    st = mgc_error_set(MGC_EFORMAT, "%s: npy header too long (%zu bytes)", path, hlen);
    goto done;
  }
  h = malloc(hlen + 1);
  if (!h) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  if (fread(h, 1, hlen, f) != hlen) {
    st = mgc_error_set(MGC_EFORMAT, "%s: truncated npy header", path);
    goto done;
  }
  h[hlen] = '\0';
  int is_f8 = 0;
  if ((st = parse_header(path, h, out, &is_f8))) goto done;
  size_t count = mgc_npy_count(out), esize = is_f8 ? 8 : 4;
  if (fseek(f, 0, SEEK_END) != 0) {
    st = mgc_error_set(MGC_EIO, "%s: cannot seek", path);
    goto done;
  }
  long fsize = ftell(f);
  size_t need = pre_len + hlen + count * esize;
  if (fsize < 0 || (size_t)fsize != need) {
    st = mgc_error_set(MGC_EFORMAT, "%s: npy data size mismatch: header says %zu values (%zu bytes), file has %ld bytes",
                       path, count, need, fsize);
    goto done;
  }
  fseek(f, (long)(pre_len + hlen), SEEK_SET);
  out->data = malloc(sizeof(float) * (count ? count : 1));
  if (!out->data) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  if (!is_f8) {
    if (fread(out->data, 4, count, f) != count) st = mgc_error_set(MGC_EIO, "%s: read failed", path);
  } else {
    for (size_t i = 0; i < count && !st; i++) {
      double v;
      if (fread(&v, 8, 1, f) != 1) st = mgc_error_set(MGC_EIO, "%s: read failed", path);
      out->data[i] = (float)v;
    }
  }
done:
  free(h);
  fclose(f);
  if (st) mgc_npy_free(out);
  return st;
}

void mgc_npy_free(mgc_npy *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}
