#include "mgc/train/featcache.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/audio/audio.h"
#include "mgc/util/crc32.h"
#include "mgc/io/npy.h"
#include "mgc/util/mkdirs.h"

/* Values in the trailer of a cache file: tuning, CRC-32 of the frame bytes
 * (two exact 16-bit halves, as floats hold 24-bit integers exactly) and the
 * 64-bit key (four 16-bit quarters). The CRC catches damage that leaves the
 * npy header intact; the key catches a file renamed or copied under another
 * entry's name. */
enum { TRAILER_VALUES = 7 };

/* Bumped when the file layout or the meaning of the key changes. */
static const char KEY_VERSION[] = "mgc-featcache-v1";

struct mgc_featcache {
  char *dir;  /* NULL: no disk cache */
  mgc_frontend_params p;
  mgc_feature_kind kind;
  char *frontend_json;  /* the front-end part of every key */
  size_t dim;
  long hits, misses, replaced;
};

/* Temporary names must differ between threads and processes sharing a dir. */
static atomic_uint g_tmp_counter;

/* ---- key ---------------------------------------------------------------- */

/* 64-bit FNV-1a over length-prefixed fields (so "ab"+"c" != "a"+"bc"),
 * finished with murmur3's fmix64 so that near-identical keys spread over
 * all 16 hex digits. */
typedef struct {
  uint64_t h;
} keyhash;

static void kh_bytes(keyhash *k, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++) {
    k->h ^= b[i];
    k->h *= 0x100000001b3ULL;
  }
}

static void kh_u64(keyhash *k, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  kh_bytes(k, b, 8);
}

static void kh_str(keyhash *k, const char *s) {
  size_t n = strlen(s);
  kh_u64(k, n);
  kh_bytes(k, s, n);
}

static uint64_t kh_final(const keyhash *k) {
  uint64_t h = k->h;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/* ---- directory ---------------------------------------------------------- */

/* mkdir -p, and writable: found now, not after the first hour of decoding. */
static mgc_status make_dirs(const char *dir) {
  mgc_status st = mgc_mkdirs(dir);
  if (st) return mgc_error_prefix(st, "feature cache: ");
  if (access(dir, W_OK | X_OK) != 0)
    return mgc_error_set(MGC_EIO, "feature cache: %s is not writable: %s", dir, strerror(errno));
  return MGC_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

mgc_status mgc_featcache_new(const char *dir, const mgc_frontend_params *p, mgc_feature_kind kind,
                             mgc_featcache **out) {
  *out = NULL;
  if ((unsigned)kind > MGC_KIND_WAVEFORM) return mgc_error_set(MGC_EINVAL, "feature cache: unknown feature kind %d", (int)kind);
  mgc_status st = mgc_frontend_params_validate(p);
  if (st) return mgc_error_prefix(st, "feature cache: ");
  if (dir && !*dir) return mgc_error_set(MGC_EINVAL, "feature cache: empty directory name");
  if (dir && (st = make_dirs(dir))) return st;
  mgc_featcache *c = calloc(1, sizeof *c);
  if (!c) return mgc_error_set(MGC_ENOMEM, "feature cache: out of memory");
  c->p = *p;
  c->kind = kind;
  c->dim = mgc_feature_dim(p, kind);
  /* The window length and hop cut frames into windows later; the frames do
   * not depend on them, so trying another window length reuses the cache. */
  mgc_frontend_params keyp = *p, def;
  mgc_frontend_params_default(&def);
  keyp.segment_frames = def.segment_frames;
  keyp.segment_hop = def.segment_hop;
  keyp.segment_pad = def.segment_pad;
  if ((st = mgc_frontend_params_to_json(&keyp, &c->frontend_json))) goto fail;
  if (dir && !(c->dir = malloc(strlen(dir) + 1))) {
    st = mgc_error_set(MGC_ENOMEM, "feature cache: out of memory");
    goto fail;
  }
  if (dir) strcpy(c->dir, dir);
  *out = c;
  return MGC_OK;
fail:
  mgc_featcache_free(c);
  return st;
}

void mgc_featcache_free(mgc_featcache *c) {
  if (!c) return;
  free(c->dir);
  free(c->frontend_json);
  free(c);
}

void mgc_featcache_stats(const mgc_featcache *c, long *hits, long *misses, long *replaced) {
  if (hits) *hits = c->hits;
  if (misses) *misses = c->misses;
  if (replaced) *replaced = c->replaced;
}

/* ---- entries ------------------------------------------------------------ */

static size_t trailer_rows(size_t dim) { return (TRAILER_VALUES + dim - 1) / dim; }

static uint32_t frames_crc(const mgc_feature_matrix *m) {
  return mgc_crc32(0, m->data, sizeof(float) * m->n_frames * m->dim);
}

static void trailer_values(const mgc_feature_matrix *m, uint64_t key, float v[TRAILER_VALUES]) {
  uint32_t crc = frames_crc(m);
  v[0] = (float)m->tuning;
  v[1] = (float)(crc & 0xffff);
  v[2] = (float)(crc >> 16);
  for (int i = 0; i < 4; i++) v[3 + i] = (float)((key >> (16 * i)) & 0xffff);
}

/* Read an entry; 1 if it is a valid one for key (m filled), 0 if not. */
static int read_entry(const mgc_featcache *c, const char *path, uint64_t key, mgc_feature_matrix *m) {
  mgc_npy a;
  if (mgc_npy_read(path, &a) != MGC_OK) return 0;
  const size_t tr = trailer_rows(c->dim);
  int ok = a.ndim == 2 && a.shape[1] == c->dim && a.shape[0] >= tr;
  if (ok) {
    memset(m, 0, sizeof *m);
    m->data = a.data;
    m->n_frames = a.shape[0] - tr;
    m->dim = c->dim;
    const float *t = a.data + m->n_frames * m->dim;
    m->tuning = t[0];
    float want[TRAILER_VALUES];
    trailer_values(m, key, want);
    for (int i = 1; i < TRAILER_VALUES && ok; i++) ok = t[i] == want[i];
    for (size_t i = TRAILER_VALUES; i < tr * c->dim && ok; i++) ok = t[i] == 0.0f;
    /* Chroma always has a tuning; the other kinds never do. */
    if (ok) ok = (c->kind == MGC_KIND_CHROMA) == !isnan(m->tuning);
  }
  if (!ok) {
    mgc_npy_free(&a);
    memset(m, 0, sizeof *m);
    return 0;
  }
  /* Hand the frames over without copying; the trailer rows stay allocated
   * past the end, unseen. */
  return 1;
}

/* Write an entry atomically: readers (other threads, other runs) see the old
 * file, no file, or the whole new one. */
static mgc_status write_entry(const mgc_featcache *c, const char *path, uint64_t key, const mgc_feature_matrix *m) {
  const size_t tr = trailer_rows(c->dim);
  const size_t nvals = (m->n_frames + tr) * c->dim;
  float *buf = malloc(sizeof(float) * nvals);
  if (!buf) return mgc_error_set(MGC_ENOMEM, "feature cache: out of memory");
  memcpy(buf, m->data, sizeof(float) * m->n_frames * m->dim);
  float *t = buf + m->n_frames * m->dim;
  memset(t, 0, sizeof(float) * tr * c->dim);
  trailer_values(m, key, t);
  size_t shape[2] = {m->n_frames + tr, c->dim};
  size_t tl = strlen(path) + 64;
  char *tmp = malloc(tl);
  mgc_status st = MGC_OK;
  if (!tmp) st = mgc_error_set(MGC_ENOMEM, "feature cache: out of memory");
  if (!st) {
    snprintf(tmp, tl, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&g_tmp_counter, 1u));
    st = mgc_npy_write(tmp, buf, 2, shape);
    if (!st && rename(tmp, path) != 0)
      st = mgc_error_set(MGC_EIO, "feature cache: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st) {
      unlink(tmp);
      mgc_error_prefix(st, "feature cache: ");
    }
  }
  free(tmp);
  free(buf);
  return st;
}

/* Decode, transform, frame. */
static mgc_status compute(const mgc_featcache *c, const char *audio_path, mgc_audio_transform fn, void *user,
                          const char *variant, mgc_feature_matrix *out) {
  mgc_audio a;
  mgc_status st = mgc_audio_load(audio_path, c->p.sample_rate, &a);
  if (st) return st;
  const float *y = a.samples;
  size_t n = a.n;
  float *ty = NULL;
  if (fn) {
    size_t tn = 0;
    st = fn(user, a.samples, a.n, a.rate, &ty, &tn);
    if (st) {
      free(ty);
      mgc_audio_free(&a);
      return mgc_error_prefix(st, "%s: transform '%s': ", audio_path, variant);
    }
    if (!ty && tn > 0) {
      mgc_audio_free(&a);
      return mgc_error_set(MGC_ESTATE, "%s: transform '%s' returned no signal", audio_path, variant);
    }
    y = ty;
    n = tn;
  }
  st = mgc_features_compute(&c->p, c->kind, y, n, out);
  if (st) mgc_error_prefix(st, "%s: ", audio_path);
  /* A cache file keeps the tuning as a float: round it here, so that a hit,
   * a miss and a disabled cache all hand out the same value. */
  else if (!isnan(out->tuning)) out->tuning = (float)out->tuning;
  free(ty);
  mgc_audio_free(&a);
  return st;
}

mgc_status mgc_featcache_get(mgc_featcache *c, const char *audio_path, const char *variant, mgc_audio_transform fn,
                             void *user, mgc_feature_matrix *out) {
  memset(out, 0, sizeof *out);
  out->tuning = NAN;
  if (!variant) variant = "";
  if (fn && !*variant)
    return mgc_error_set(MGC_EINVAL, "feature cache: a transform needs a variant name (it is part of the key)");
  if (!c->dir) {
    mgc_status st = compute(c, audio_path, fn, user, variant, out);
    if (!st) c->misses++;
    return st;
  }
  struct stat sb;
  if (stat(audio_path, &sb) != 0) return mgc_error_set(MGC_EIO, "%s: %s", audio_path, strerror(errno));
  char *canon = realpath(audio_path, NULL);
  if (!canon) return mgc_error_set(MGC_EIO, "%s: cannot resolve path: %s", audio_path, strerror(errno));
  keyhash k = {0xcbf29ce484222325ULL};
  kh_str(&k, KEY_VERSION);
  kh_str(&k, c->frontend_json);
  kh_str(&k, mgc_feature_kind_name(c->kind));
  kh_str(&k, variant);
  kh_str(&k, canon);
  kh_u64(&k, (uint64_t)sb.st_size);
  kh_u64(&k, (uint64_t)sb.st_mtim.tv_sec);
  kh_u64(&k, (uint64_t)sb.st_mtim.tv_nsec);
  free(canon);
  const uint64_t key = kh_final(&k);

  size_t pl = strlen(c->dir) + 1 + 16 + 4 + 1;
  char *path = malloc(pl);
  if (!path) return mgc_error_set(MGC_ENOMEM, "feature cache: out of memory");
  snprintf(path, pl, "%s/%016llx.npy", c->dir, (unsigned long long)key);

  mgc_status st = MGC_OK;
  struct stat cs;
  int exists = stat(path, &cs) == 0;
  if (exists && read_entry(c, path, key, out)) {
    c->hits++;
  } else {
    /* Present but unusable: recompute and overwrite, never trust it. */
    st = compute(c, audio_path, fn, user, variant, out);
    if (!st) {
      c->misses++;
      /* A file rewritten while it was decoded would store new frames under
       * the old identity; keep them for this run only. */
      struct stat sb2;
      int same = stat(audio_path, &sb2) == 0 && sb2.st_size == sb.st_size &&
                 sb2.st_mtim.tv_sec == sb.st_mtim.tv_sec && sb2.st_mtim.tv_nsec == sb.st_mtim.tv_nsec;
      if (same) st = write_entry(c, path, key, out);
      if (st) mgc_feature_matrix_free(out);
      else if (same && exists) c->replaced++;
    }
  }
  free(path);
  return st;
}

void mgc_featcache_default_dir(char *buf, size_t cap) {
  const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (x && *x) snprintf(buf, cap, "%s/mgc", x);
  else if (home && *home) snprintf(buf, cap, "%s/.cache/mgc", home);
  else snprintf(buf, cap, ".mgc-cache");
}
