#include "mgc/train/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/nn/rng.h"
#include "mgc/util/strdup.h"

/* ---- small helpers ------------------------------------------------------ */

/* root + "/" + rel without doubling a trailing slash of root. */
static char *join_path(const char *root, const char *rel) {
  size_t a = strlen(root), b = strlen(rel);
  int slash = a > 0 && root[a - 1] != '/';
  char *p = malloc(a + (size_t)slash + b + 1);
  if (!p) return NULL;
  memcpy(p, root, a);
  if (slash) p[a] = '/';
  memcpy(p + a + (size_t)slash, rel, b + 1);
  return p;
}

/* Growable array of owned strings. */
typedef struct {
  char **v;
  int n, cap;
} strvec;

static int strvec_push_owned(strvec *s, char *str) {
  if (!str) return -1;
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 16;
    char **v = realloc(s->v, sizeof(char *) * (size_t)cap);
    if (!v) {
      free(str);
      return -1;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = str;
  return 0;
}

static void strvec_free(strvec *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Extension after the last '.', or NULL (none, or a leading-dot-only name). */
static const char *ext_of(const char *name) {
  const char *slash = strrchr(name, '/');
  const char *base = slash ? slash + 1 : name;
  const char *dot = strrchr(base, '.');
  return dot && dot != base ? dot + 1 : NULL;
}

static int is_audio_name(const char *name) {
  static const char *const exts[] = {"wav", "au", "aif", "aiff", "flac", "ogg", "oga", "opus", "mp3"};
  const char *e = ext_of(name);
  if (!e) return 0;
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (!strcasecmp(e, exts[i])) return 1;
  return 0;
}

/* GTZAN ships .au, its split lists say .wav, converted copies are .wav: the
 * two spellings name one track. Returns 1 for .wav, 2 for .au, 0 otherwise. */
static int wav_au_kind(const char *name) {
  const char *e = ext_of(name);
  if (!e) return 0;
  if (!strcasecmp(e, "wav")) return 1;
  if (!strcasecmp(e, "au")) return 2;
  return 0;
}

/* A key equal for the .wav and .au spellings of one name and different for
 * anything else ('\x01' cannot occur in a list line, which is text). */
static char *match_key(const char *name) {
  if (!wav_au_kind(name)) return mgc_strdup(name);
  const char *e = ext_of(name);
  size_t stem = (size_t)(e - 1 - name);
  char *k = malloc(stem + 2);
  if (!k) return NULL;
  memcpy(k, name, stem);
  k[stem] = '\x01';
  k[stem + 1] = '\0';
  return k;
}

/* The same name with the other of .wav/.au (lower case), or NULL. */
static char *other_spelling(const char *name) {
  int kind = wav_au_kind(name);
  if (!kind) return NULL;
  const char *e = ext_of(name);
  size_t stem = (size_t)(e - name); /* includes the dot */
  const char *ne = kind == 1 ? "au" : "wav";
  char *s = malloc(stem + strlen(ne) + 1);
  if (!s) return NULL;
  memcpy(s, name, stem);
  strcpy(s + stem, ne);
  return s;
}

static mgc_dataset *dataset_alloc(void) { return calloc(1, sizeof(mgc_dataset)); }

void mgc_dataset_free(mgc_dataset *d) {
  if (!d) return;
  for (int i = 0; i < d->n_tracks; i++) {
    free(d->tracks[i].path);
    free(d->tracks[i].name);
  }
  free(d->tracks);
  for (int i = 0; i < d->n_classes; i++) free(d->classes[i]);
  free(d->classes);
  for (int i = 0; i < d->n_skipped; i++) free(d->skipped[i]);
  free(d->skipped);
  free(d);
}

static mgc_status oom(void) { return mgc_error_set(MGC_ENOMEM, "dataset: out of memory"); }

/* Append a track (copies path and name). */
static mgc_status add_track(mgc_dataset *d, int *cap, const char *path, const char *name, int label) {
  if (d->n_tracks == *cap) {
    int nc = *cap ? *cap * 2 : 64;
    mgc_track *t = realloc(d->tracks, sizeof(mgc_track) * (size_t)nc);
    if (!t) return oom();
    d->tracks = t;
    *cap = nc;
  }
  mgc_track *t = &d->tracks[d->n_tracks];
  t->path = mgc_strdup(path);
  t->name = mgc_strdup(name);
  t->label = label;
  if (!t->path || !t->name) {
    free(t->path);
    free(t->name);
    return oom();
  }
  d->n_tracks++;
  return MGC_OK;
}

/* Move the strings of v into d->classes (v is left empty). */
static void take_classes(mgc_dataset *d, strvec *v) {
  d->classes = v->v;
  d->n_classes = v->n;
  memset(v, 0, sizeof *v);
}

/* ---- folder scan -------------------------------------------------------- */

/* Sorted non-hidden entries of dir: sub-directories (want_dirs) or audio files. */
static mgc_status list_dir(const char *dir, int want_dirs, strvec *out) {
  DIR *dh = opendir(dir);
  if (!dh) return mgc_error_set(MGC_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
  mgc_status st = MGC_OK;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(dh))) {
    /* Hidden entries include macOS "._x.wav" resource forks, which carry an
     * audio extension but are not audio. */
    if (e->d_name[0] == '.') continue;
    if (!want_dirs && !is_audio_name(e->d_name)) continue;
    char *full = join_path(dir, e->d_name);
    if (!full) {
      st = oom();
      break;
    }
    struct stat sb;
    /* stat, not d_type: follows symlinks (a tree of links into a shared
     * corpus is a normal way to make a dataset) and works on every fs. */
    int ok = stat(full, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
    free(full);
    if (ok && strvec_push_owned(out, mgc_strdup(e->d_name))) {
      st = oom();
      break;
    }
    errno = 0;
  }
  if (!st && errno) st = mgc_error_set(MGC_EIO, "%s: cannot read directory: %s", dir, strerror(errno));
  closedir(dh);
  if (st) {
    strvec_free(out);
    return st;
  }
  if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
  return MGC_OK;
}

mgc_status mgc_dataset_scan(const char *root, mgc_dataset **out) {
  *out = NULL;
  if (!root || !*root) return mgc_error_set(MGC_EINVAL, "dataset: no data folder given");
  strvec classes = {0};
  mgc_status st = list_dir(root, 1, &classes);
  if (st) return st;
  if (classes.n == 0) {
    strvec_free(&classes);
    return mgc_error_set(MGC_EINVAL, "%s: no class folders (expected <root>/<class>/<audio files>)", root);
  }
  mgc_dataset *d = dataset_alloc();
  if (!d) {
    strvec_free(&classes);
    return oom();
  }
  take_classes(d, &classes);
  int cap = 0;
  for (int c = 0; c < d->n_classes && !st; c++) {
    char *cdir = join_path(root, d->classes[c]);
    if (!cdir) {
      st = oom();
      break;
    }
    strvec files = {0};
    st = list_dir(cdir, 0, &files);
    if (!st && files.n == 0)
      st = mgc_error_set(MGC_EINVAL, "%s: class folder '%s' holds no audio files (wav au aif aiff flac ogg oga opus mp3)",
                         cdir, d->classes[c]);
    for (int i = 0; i < files.n && !st; i++) {
      char *path = join_path(cdir, files.v[i]);
      size_t nl = strlen(d->classes[c]) + 1 + strlen(files.v[i]) + 1;
      char *name = malloc(nl);
      if (!path || !name) st = oom();
      else {
        snprintf(name, nl, "%s/%s", d->classes[c], files.v[i]);
        st = add_track(d, &cap, path, name, c);
      }
      free(path);
      free(name);
    }
    strvec_free(&files);
    free(cdir);
  }
  if (st) {
    mgc_dataset_free(d);
    return st;
  }
  *out = d;
  return MGC_OK;
}

/* ---- list files --------------------------------------------------------- */

typedef struct {
  char *name;  /* the line, trimmed */
  int line;
  int label;
} list_entry;

typedef struct {
  list_entry *v;
  int n, cap;
} entry_vec;

static void entries_free(entry_vec *e) {
  for (int i = 0; i < e->n; i++) free(e->v[i].name);
  free(e->v);
  memset(e, 0, sizeof *e);
}

/* Read the entries of a list file: trimmed, non-blank, non-comment lines,
 * each checked to be "class/file". */
static mgc_status read_list(const char *list_path, entry_vec *out) {
  FILE *f = fopen(list_path, "r");
  if (!f) return mgc_error_set(MGC_EIO, "%s: cannot open list: %s", list_path, strerror(errno));
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  int line = 0;
  mgc_status st = MGC_OK;
  errno = 0;
  while ((len = getline(&buf, &cap, f)) >= 0) {
    line++;
    /* Trim both ends, which also drops the CR of lists written on Windows. */
    char *s = buf;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    if (n != (size_t)len - (size_t)(s - buf)) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: NUL byte in line (not a text list)", list_path, line);
      break;
    }
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    if (n == 0 || s[0] == '#') continue;
    const char *slash = strchr(s, '/');
    if (s[0] == '/' || !slash || slash[1] == '\0') {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s': expected a relative 'class/file' entry", list_path, line, s);
      break;
    }
    size_t cl = (size_t)(slash - s);
    if ((cl == 1 && s[0] == '.') || (cl == 2 && s[0] == '.' && s[1] == '.')) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s': '%.*s' is not a class name", list_path, line, s, (int)cl, s);
      break;
    }
    if (out->n == out->cap) {
      int nc = out->cap ? out->cap * 2 : 256;
      list_entry *v = realloc(out->v, sizeof(list_entry) * (size_t)nc);
      if (!v) {
        st = oom();
        break;
      }
      out->v = v;
      out->cap = nc;
    }
    list_entry *e = &out->v[out->n];
    e->name = mgc_strdup(s);
    e->line = line;
    e->label = -1;
    if (!e->name) {
      st = oom();
      break;
    }
    out->n++;
    errno = 0;
  }
  if (!st && ferror(f)) st = mgc_error_set(MGC_EIO, "%s: read error: %s", list_path, strerror(errno));
  free(buf);
  fclose(f);
  if (st) entries_free(out);
  return st;
}

/* Length of the class component (up to the first '/'). */
static size_t class_len(const char *name) { return (size_t)(strchr(name, '/') - name); }

typedef struct {
  char *key;
  int idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static void keyed_free(keyed *k, int n) {
  if (!k) return;
  for (int i = 0; i < n; i++) free(k[i].key);
  free(k);
}

/* Sorted match keys of entries (for duplicate detection and lookups). */
static mgc_status make_keys(const entry_vec *e, keyed **out) {
  keyed *k = calloc((size_t)(e->n ? e->n : 1), sizeof(keyed));
  if (!k) return oom();
  for (int i = 0; i < e->n; i++) {
    k[i].key = match_key(e->v[i].name);
    k[i].idx = i;
    if (!k[i].key) {
      keyed_free(k, e->n);
      return oom();
    }
  }
  if (e->n > 1) qsort(k, (size_t)e->n, sizeof(keyed), cmp_keyed);
  *out = k;
  return MGC_OK;
}

/* Whether path exists as a readable regular file; else errno-ish reason. */
static int file_ok(const char *path, const char **why) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    *why = errno == ENOENT ? "not found" : strerror(errno);
    return 0;
  }
  if (!S_ISREG(sb.st_mode)) {
    *why = "not a regular file";
    return 0;
  }
  if (access(path, R_OK) != 0) {
    *why = strerror(errno);
    return 0;
  }
  return 1;
}

/* Labels for entries: against fixed classes (error on another class), or the
 * sorted set of classes the list names. */
static mgc_status label_entries(const char *list_path, entry_vec *e, const char *const *fixed, int n_fixed,
                                strvec *classes) {
  if (fixed && n_fixed > 0) {
    for (int c = 0; c < n_fixed; c++) {
      if (!fixed[c] || !fixed[c][0]) return mgc_error_set(MGC_EINVAL, "dataset: class %d has no name", c);
      for (int j = 0; j < c; j++)
        if (!strcmp(fixed[c], fixed[j])) return mgc_error_set(MGC_EINVAL, "dataset: class '%s' given twice", fixed[c]);
      if (strvec_push_owned(classes, mgc_strdup(fixed[c]))) return oom();
    }
  } else {
    for (int i = 0; i < e->n; i++) {
      size_t cl = class_len(e->v[i].name);
      int seen = 0;
      for (int c = 0; c < classes->n && !seen; c++)
        seen = strlen(classes->v[c]) == cl && !strncmp(classes->v[c], e->v[i].name, cl);
      if (seen) continue;
      char *cname = malloc(cl + 1);
      if (!cname) return oom();
      memcpy(cname, e->v[i].name, cl);
      cname[cl] = '\0';
      if (strvec_push_owned(classes, cname)) return oom();
    }
    if (classes->n > 1) qsort(classes->v, (size_t)classes->n, sizeof(char *), cmp_str);
  }
  for (int i = 0; i < e->n; i++) {
    size_t cl = class_len(e->v[i].name);
    for (int c = 0; c < classes->n && e->v[i].label < 0; c++)
      if (strlen(classes->v[c]) == cl && !strncmp(classes->v[c], e->v[i].name, cl)) e->v[i].label = c;
    if (e->v[i].label < 0)
      return mgc_error_set(MGC_EINVAL, "%s:%d: class '%.*s' is not one of the %d given classes", list_path,
                           e->v[i].line, (int)cl, e->v[i].name, classes->n);
  }
  return MGC_OK;
}

/* A copy of the directory part of path ("." when it has none). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return mgc_strdup(".");
  if (slash == path) return mgc_strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = '\0';
  return d;
}

mgc_status mgc_dataset_from_list(const char *list_path, const char *root, const char *const *classes,
                                 int n_classes, mgc_dataset **out) {
  *out = NULL;
  if (!list_path) return mgc_error_set(MGC_EINVAL, "dataset: no list file given");
  if (n_classes < 0) return mgc_error_set(MGC_EINVAL, "dataset: negative class count");
  entry_vec e = {0};
  mgc_status st = read_list(list_path, &e);
  if (st) return st;
  strvec cls = {0};
  keyed *keys = NULL;
  mgc_dataset *d = NULL;
  char *rootdir = root ? mgc_strdup(root) : dir_of(list_path);
  if (!rootdir) {
    st = oom();
    goto done;
  }
  if (e.n == 0) {
    st = mgc_error_set(MGC_EFORMAT, "%s: no entries (expected 'class/file' lines)", list_path);
    goto done;
  }
  if ((st = label_entries(list_path, &e, classes, n_classes, &cls))) goto done;
  /* A track listed twice would sit on both sides of a split. */
  if ((st = make_keys(&e, &keys))) goto done;
  for (int i = 1; i < e.n; i++)
    if (!strcmp(keys[i].key, keys[i - 1].key)) {
      const list_entry *a = &e.v[keys[i - 1].idx], *b = &e.v[keys[i].idx];
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s' repeats line %d ('%s')", list_path, b->line, b->name, a->line,
                         a->name);
      goto done;
    }
  if (!(d = dataset_alloc())) {
    st = oom();
    goto done;
  }
  take_classes(d, &cls);
  int cap = 0, skip_cap = 0;
  const char *first_missing = NULL;
  for (int i = 0; i < e.n && !st; i++) {
    const list_entry *le = &e.v[i];
    char *path = join_path(rootdir, le->name);
    if (!path) {
      st = oom();
      break;
    }
    const char *why = NULL;
    int found = file_ok(path, &why);
    char *alt_path = NULL;
    if (!found) {
      char *alt = other_spelling(le->name);
      const char *why2 = NULL;
      if (alt && (alt_path = join_path(rootdir, alt)) && file_ok(alt_path, &why2)) {
        free(path);
        path = alt_path;
        alt_path = NULL;
        found = 1;
      } else if (alt && why2 && strcmp(why2, "not found")) {
        why = why2; /* the sibling exists but cannot be used: say why */
      }
      free(alt);
    }
    if (found) {
      st = add_track(d, &cap, path, le->name, le->label);
    } else {
      if (!first_missing) first_missing = le->name;
      const char *alt_ext = wav_au_kind(le->name) == 1 ? " (nor as .au)" : wav_au_kind(le->name) == 2 ? " (nor as .wav)" : "";
      int ml = snprintf(NULL, 0, "%s:%d: %s: %s under %s%s", list_path, le->line, le->name, why, rootdir, alt_ext);
      char *msg = ml >= 0 ? malloc((size_t)ml + 1) : NULL;
      if (!msg) st = oom();
      else {
        snprintf(msg, (size_t)ml + 1, "%s:%d: %s: %s under %s%s", list_path, le->line, le->name, why, rootdir, alt_ext);
        if (d->n_skipped == skip_cap) {
          int nc = skip_cap ? skip_cap * 2 : 64;
          char **v = realloc(d->skipped, sizeof(char *) * (size_t)nc);
          if (!v) {
            free(msg);
            st = oom();
          } else {
            d->skipped = v;
            skip_cap = nc;
          }
        }
        if (!st) d->skipped[d->n_skipped++] = msg;
      }
    }
    free(alt_path);
    free(path);
  }
  if (!st && d->n_tracks == 0)
    st = mgc_error_set(MGC_EIO, "%s: none of its %d entries found under %s (first: %s); wrong data root?", list_path,
                       e.n, rootdir, first_missing ? first_missing : "?");
done:
  keyed_free(keys, e.n);
  entries_free(&e);
  strvec_free(&cls);
  free(rootdir);
  if (st) {
    mgc_dataset_free(d);
    return st;
  }
  *out = d;
  return MGC_OK;
}

/* ---- subsets and folds -------------------------------------------------- */

/* A dataset with d's classes and no tracks. */
static mgc_status empty_like(const mgc_dataset *d, mgc_dataset **out) {
  mgc_dataset *r = dataset_alloc();
  if (!r) return oom();
  if (d->n_classes > 0) {
    r->classes = calloc((size_t)d->n_classes, sizeof(char *));
    if (!r->classes) {
      free(r);
      return oom();
    }
    for (int c = 0; c < d->n_classes; c++) {
      r->classes[c] = mgc_strdup(d->classes[c]);
      r->n_classes = c + 1;
      if (!r->classes[c]) {
        mgc_dataset_free(r);
        return oom();
      }
    }
  }
  *out = r;
  return MGC_OK;
}

mgc_status mgc_dataset_subset(const mgc_dataset *d, const int *idx, int n, mgc_dataset **out) {
  *out = NULL;
  if (n < 0 || (n > 0 && !idx)) return mgc_error_set(MGC_EINVAL, "dataset subset: bad index list");
  for (int i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= d->n_tracks)
      return mgc_error_set(MGC_EINVAL, "dataset subset: index %d out of range [0, %d)", idx[i], d->n_tracks);
  mgc_dataset *r = NULL;
  mgc_status st = empty_like(d, &r);
  if (st) return st;
  int cap = 0;
  for (int i = 0; i < n && !st; i++) {
    const mgc_track *t = &d->tracks[idx[i]];
    st = add_track(r, &cap, t->path, t->name, t->label);
  }
  if (st) {
    mgc_dataset_free(r);
    return st;
  }
  *out = r;
  return MGC_OK;
}

mgc_status mgc_dataset_filter_list(const mgc_dataset *d, const char *list_path, mgc_dataset **out) {
  *out = NULL;
  entry_vec e = {0};
  mgc_status st = read_list(list_path, &e);
  if (st) return st;
  keyed *keys = NULL;
  int *idx = malloc(sizeof(int) * (size_t)(d->n_tracks ? d->n_tracks : 1));
  int n = 0;
  if (!idx) st = oom();
  if (!st) st = make_keys(&e, &keys);
  for (int i = 0; i < d->n_tracks && !st; i++) {
    keyed probe = {match_key(d->tracks[i].name), -1};
    if (!probe.key) {
      st = oom();
      break;
    }
    /* Binary search on the key alone (idx only breaks ties in the sort). */
    int lo = 0, hi = e.n;
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      if (strcmp(keys[mid].key, probe.key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < e.n && !strcmp(keys[lo].key, probe.key)) idx[n++] = i;
    free(probe.key);
  }
  if (!st) st = mgc_dataset_subset(d, idx, n, out);
  keyed_free(keys, e.n);
  entries_free(&e);
  free(idx);
  return st;
}

mgc_status mgc_dataset_folds(const mgc_dataset *d, int k, uint64_t seed, int *fold) {
  if (k < 2 || k > d->n_tracks)
    return mgc_error_set(MGC_EINVAL, "dataset: %d folds need 2 <= k <= number of tracks (%d)", k, d->n_tracks);
  int *members = malloc(sizeof(int) * (size_t)d->n_tracks);
  if (!members) return oom();
  for (int i = 0; i < d->n_tracks; i++)
    if (d->tracks[i].label < 0 || d->tracks[i].label >= d->n_classes) {
      free(members);
      return mgc_error_set(MGC_EINVAL, "dataset: track '%s' has label %d outside [0, %d)", d->tracks[i].name,
                           d->tracks[i].label, d->n_classes);
    }
  mgc_rng rng;
  mgc_rng_seed(&rng, seed);
  /* The deal continues where the previous class stopped, so fold sizes stay
   * within 1 of each other too, not only the per-class counts. */
  int next = 0;
  for (int c = 0; c < d->n_classes; c++) {
    int m = 0;
    for (int i = 0; i < d->n_tracks; i++)
      if (d->tracks[i].label == c) members[m++] = i;
    for (int i = m - 1; i > 0; i--) { /* Fisher-Yates */
      int j = (int)mgc_rng_below(&rng, (uint64_t)i + 1);
      int t = members[i];
      members[i] = members[j];
      members[j] = t;
    }
    for (int i = 0; i < m; i++) {
      fold[members[i]] = next;
      next = (next + 1) % k;
    }
  }
  free(members);
  return MGC_OK;
}

/* ---- classes of a model ------------------------------------------------- */

mgc_status mgc_dataset_map_classes(mgc_dataset *d, const char *const *classes, int n_classes) {
  if (!d || n_classes < 1 || !classes)
    return mgc_error_set(MGC_EINVAL, "dataset: no classes to map onto");
  int *to = malloc(sizeof(int) * (size_t)(d->n_classes ? d->n_classes : 1));
  char **copy = calloc((size_t)n_classes, sizeof(char *));
  if (!to || !copy) {
    free(to);
    free(copy);
    return oom();
  }
  int unknown = 0;
  for (int c = 0; c < d->n_classes; c++) {
    to[c] = -1;
    for (int k = 0; k < n_classes && to[c] < 0; k++)
      if (classes[k] && !strcmp(classes[k], d->classes[c])) to[c] = k;
    unknown += to[c] < 0;
  }
  mgc_status st = MGC_OK;
  if (unknown) {
    /* Every unknown name and every known one in one message: a folder named
     * "hip-hop" beside a model's "hiphop" is then fixed in one go. */
    size_t cap = 128;
    for (int c = 0; c < d->n_classes; c++) cap += strlen(d->classes[c]) + 4;
    for (int k = 0; k < n_classes; k++) cap += (classes[k] ? strlen(classes[k]) : 0) + 2;
    char *msg = malloc(cap);
    if (!msg) st = oom();
    else {
      size_t o = (size_t)snprintf(msg, cap, "the data's class%s ", unknown > 1 ? "es" : "");
      int i = 0;
      for (int c = 0; c < d->n_classes; c++)
        if (to[c] < 0)
          o += (size_t)snprintf(msg + o, cap - o, "%s'%s'", i++ ? ", " : "", d->classes[c]);
      o += (size_t)snprintf(msg + o, cap - o, " %s not among the model's %d classes: ",
                            unknown > 1 ? "are" : "is", n_classes);
      for (int k = 0; k < n_classes; k++)
        o += (size_t)snprintf(msg + o, cap - o, "%s%s", k ? ", " : "", classes[k] ? classes[k] : "?");
      st = mgc_error_set(MGC_EINVAL, "%s", msg);
      free(msg);
    }
  }
  for (int k = 0; k < n_classes && !st; k++)
    if (!(copy[k] = mgc_strdup(classes[k] ? classes[k] : ""))) st = oom();
  if (st) {
    for (int k = 0; k < n_classes; k++) free(copy[k]);
    free(copy);
    free(to);
    return st;
  }
  for (int i = 0; i < d->n_tracks; i++) {
    int l = d->tracks[i].label;
    d->tracks[i].label = l >= 0 && l < d->n_classes ? to[l] : -1;
  }
  for (int c = 0; c < d->n_classes; c++) free(d->classes[c]);
  free(d->classes);
  d->classes = copy;
  d->n_classes = n_classes;
  free(to);
  return MGC_OK;
}
