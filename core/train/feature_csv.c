#include "mgc/train/feature_csv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgc/util/strdup.h"

static mgc_status oom(void) { return mgc_error_set(MGC_ENOMEM, "table: out of memory"); }

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) {
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  return s;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* s without leading and trailing blanks, in place. */
static char *trim(char *s) {
  while (is_space(*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && is_space(s[n - 1])) s[--n] = '\0';
  return s;
}

/* The whole file, NUL-terminated. */
static mgc_status slurp(const char *path, char **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  while (b) {
    n += fread(b + n, 1, cap - 1 - n, f);
    if (ferror(f)) {
      free(b);
      fclose(f);
      return mgc_error_set(MGC_EIO, "%s: read error", path);
    }
    if (feof(f)) break;
    if (cap >= ((size_t)1 << 31)) {
      free(b);
      fclose(f);
      return mgc_error_set(MGC_EFORMAT, "%s: larger than 2 GB", path);
    }
    char *nb = realloc(b, cap * 2);
    if (!nb) free(b);
    b = nb;
    cap *= 2;
  }
  fclose(f);
  if (!b) return oom();
  b[n] = '\0';
  if (strlen(b) != n) {
    free(b);
    return mgc_error_set(MGC_EFORMAT, "%s: not a text file (NUL byte)", path);
  }
  *out = b;
  return MGC_OK;
}

/* Split one CSV line in place into fields (quotes removed, "" unescaped,
 * unquoted fields trimmed). *fields grows as needed. */
static mgc_status split_fields(char *line, const char *path, int lineno, char ***fields, int *n,
                               int *cap) {
  *n = 0;
  char *p = line;
  for (;;) {
    if (*n == *cap) {
      int nc = *cap ? *cap * 2 : 64;
      char **v = realloc(*fields, sizeof(char *) * (size_t)nc);
      if (!v) return oom();
      *fields = v;
      *cap = nc;
    }
    while (is_space(*p)) p++;
    if (*p == '"') {
      char *w = ++p, *start = p;
      for (;;) {
        if (*p == '\0')
          return mgc_error_set(MGC_EFORMAT, "%s:%d: field %d: unterminated quote", path, lineno,
                               *n + 1);
        if (*p == '"') {
          if (p[1] == '"') {
            *w++ = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        *w++ = *p++;
      }
      *w = '\0';
      while (is_space(*p)) p++;
      if (*p != ',' && *p != '\0')
        return mgc_error_set(MGC_EFORMAT, "%s:%d: field %d: text after the closing quote", path,
                             lineno, *n + 1);
      (*fields)[(*n)++] = start;
      if (*p == '\0') return MGC_OK;
      p++;
    } else {
      char *start = p, *comma = strchr(p, ',');
      if (comma) *comma = '\0';
      if (strchr(start, '"'))
        return mgc_error_set(MGC_EFORMAT, "%s:%d: field %d: stray quote in an unquoted field",
                             path, lineno, *n + 1);
      (*fields)[(*n)++] = trim(start);
      if (!comma) return MGC_OK;
      p = comma + 1;
    }
  }
}

typedef struct keyed {
  const char *key;
  int idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void mgc_feature_csv_free(mgc_feature_csv *t) {
  if (!t) return;
  for (int i = 0; t->ids && i < t->n_rows; i++) free(t->ids[i]);
  for (int i = 0; t->classes && i < t->n_classes; i++) free(t->classes[i]);
  free(t->ids);
  free(t->classes);
  free(t->labels);
  free(t->lines);
  free(t->x);
  free(t->path);
  free(t);
}

/* Class list: fixed (copied) or the sorted set of labels; then label indices. */
static mgc_status assign_classes(mgc_feature_csv *t, char **label_txt, const char *const *classes,
                                 int n_classes) {
  if (classes && n_classes > 0) {
    t->classes = calloc((size_t)n_classes, sizeof(char *));
    if (!t->classes) return oom();
    for (int k = 0; k < n_classes; k++) {
      if (!(t->classes[k] = mgc_strdup(classes[k]))) return oom();
      t->n_classes = k + 1;
    }
  } else {
    char **s = malloc(sizeof(char *) * ((size_t)t->n_rows + 1));
    if (!s) return oom();
    memcpy(s, label_txt, sizeof(char *) * (size_t)t->n_rows);
    qsort(s, (size_t)t->n_rows, sizeof(char *), cmp_str);
    int u = 0;
    for (int i = 0; i < t->n_rows; i++)
      if (i == 0 || strcmp(s[i], s[i - 1])) s[u++] = s[i];
    t->classes = calloc((size_t)u + 1, sizeof(char *));
    for (int k = 0; t->classes && k < u; k++) {
      if (!(t->classes[k] = mgc_strdup(s[k]))) break;
      t->n_classes = k + 1;
    }
    free(s);
    if (t->n_classes != u) return oom();
  }
  for (int i = 0; i < t->n_rows; i++) {
    int lab = -1;
    for (int k = 0; k < t->n_classes && lab < 0; k++)
      if (!strcmp(t->classes[k], label_txt[i])) lab = k;
    if (lab < 0)
      return mgc_error_set(MGC_EFORMAT, "%s:%d: label '%s' is not one of the %d classes (%s, ...)",
                           t->path, t->lines[i], label_txt[i], t->n_classes, t->classes[0]);
    t->labels[i] = lab;
  }
  return MGC_OK;
}

/* The header: every column named once, filename, label and the features
 * all present; their positions into col, *col_id, *col_label. */
static mgc_status read_header(char **fields, int nf, const char *path, int lineno, int *col, int *col_id,
                              int *col_label) {
  for (int i = 0; i < nf; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(fields[i], fields[j]))
        return mgc_error_set(MGC_EFORMAT, "%s:%d: column '%s' appears twice (columns %d and %d)", path, lineno,
                             fields[i], j + 1, i + 1);
  *col_id = *col_label = -1;
  for (int k = 0; k < MGC_CLIP_DIM; k++) col[k] = -1;
  for (int i = 0; i < nf; i++) {
    if (!strcmp(fields[i], "filename")) *col_id = i;
    else if (!strcmp(fields[i], "label")) *col_label = i;
    for (int k = 0; k < MGC_CLIP_DIM; k++)
      if (!strcmp(fields[i], mgc_clip_feature_name(k))) col[k] = i;
  }
  const char *missing = *col_id < 0 ? "filename" : *col_label < 0 ? "label" : NULL;
  int n_missing = (*col_id < 0) + (*col_label < 0);
  for (int k = 0; k < MGC_CLIP_DIM; k++)
    if (col[k] < 0) {
      if (!missing) missing = mgc_clip_feature_name(k);
      n_missing++;
    }
  if (missing)
    return mgc_error_set(MGC_EFORMAT,
                         "%s:%d: missing column '%s'%s (the header needs filename, label and "
                         "the %d features chroma_stft_mean ... mfcc20_var)",
                         path, lineno, missing, n_missing > 1 ? " and others" : "", MGC_CLIP_DIM);
  return MGC_OK;
}

/* Room for one more row in t (and its label text). */
static mgc_status grow_rows(mgc_feature_csv *t, char ***label_txt, int *cap) {
  if (t->n_rows < *cap) return MGC_OK;
  int nc = *cap ? *cap * 2 : 256;
  float *x = realloc(t->x, sizeof(float) * MGC_CLIP_DIM * (size_t)nc);
  if (x) t->x = x;
  char **ids = realloc(t->ids, sizeof(char *) * (size_t)nc);
  if (ids) t->ids = ids;
  char **lt = realloc(*label_txt, sizeof(char *) * (size_t)nc);
  if (lt) *label_txt = lt;
  int *lines = realloc(t->lines, sizeof(int) * (size_t)nc);
  if (lines) t->lines = lines;
  if (!x || !ids || !lt || !lines) return oom();
  *cap = nc;
  return MGC_OK;
}

/* One data line: its id, label and features, appended to t. */
static mgc_status read_row(mgc_feature_csv *t, char **fields, const int *col, int col_id, int col_label, const char *path,
                           int lineno, char **label_txt) {
  const char *id = fields[col_id], *label = fields[col_label];
  if (!*id || !*label) return mgc_error_set(MGC_EFORMAT, "%s:%d: empty %s", path, lineno, !*id ? "filename" : "label");
  float *row = t->x + (size_t)t->n_rows * MGC_CLIP_DIM;
  for (int k = 0; k < MGC_CLIP_DIM; k++) {
    const char *f = fields[col[k]];
    char *end = NULL;
    errno = 0;
    double v = *f ? strtod(f, &end) : NAN;
    if (!*f || *end || !isfinite(v) || !isfinite((float)v))
      return mgc_error_set(MGC_EFORMAT, "%s:%d: column '%s' (field %d): '%s' is not a finite number", path, lineno,
                           mgc_clip_feature_name(k), col[k] + 1, f);
    row[k] = (float)v;
  }
  int r = t->n_rows;
  t->lines[r] = lineno;
  t->ids[r] = mgc_strdup(id);
  label_txt[r] = mgc_strdup(label);
  if (!t->ids[r] || !label_txt[r]) {
    free(t->ids[r]);
    free(label_txt[r]);
    return oom();
  }
  t->n_rows++;
  return MGC_OK;
}

/* A clip listed twice would sit on both sides of a split. */
static mgc_status check_unique(const mgc_feature_csv *t, const char *path) {
  keyed *keys = malloc(sizeof *keys * (size_t)t->n_rows);
  if (!keys) return oom();
  for (int i = 0; i < t->n_rows; i++) keys[i] = (keyed){t->ids[i], i};
  qsort(keys, (size_t)t->n_rows, sizeof *keys, cmp_keyed);
  mgc_status st = MGC_OK;
  for (int i = 1; i < t->n_rows && !st; i++)
    if (!strcmp(keys[i].key, keys[i - 1].key))
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s' repeats line %d", path, t->lines[keys[i].idx], keys[i].key,
                         t->lines[keys[i - 1].idx]);
  free(keys);
  return st;
}

mgc_status mgc_feature_csv_load(const char *path, const char *const *classes, int n_classes,
                          mgc_feature_csv **out) {
  *out = NULL;
  if (n_classes < 0) return mgc_error_set(MGC_EINVAL, "table: negative class count");
  char *text;
  mgc_status st = slurp(path, &text);
  if (st) return st;
  mgc_feature_csv *t = calloc(1, sizeof *t);
  char **fields = NULL, **label_txt = NULL;
  int nf = 0, fcap = 0, cap = 0, n_header = 0;
  int col[MGC_CLIP_DIM], col_id = -1, col_label = -1;
  if (!t || !(t->path = mgc_strdup(path))) {
    st = oom();
    goto done;
  }
  t->n_features = MGC_CLIP_DIM;
  char *p = text;
  if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
    p += 3;
  int header_line = 0;
  for (int lineno = 1; *p; lineno++) {
    char *line = p, *nl = strchr(p, '\n');
    if (nl) {
      *nl = '\0';
      p = nl + 1;
    } else {
      p += strlen(p);
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
    char *probe = line;
    while (is_space(*probe)) probe++;
    if (!*probe) continue; /* blank line */
    if ((st = split_fields(line, path, lineno, &fields, &nf, &fcap))) goto done;
    if (!header_line) {
      header_line = lineno;
      n_header = nf;
      if ((st = read_header(fields, nf, path, lineno, col, &col_id, &col_label))) goto done;
      continue;
    }
    if (nf != n_header) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: %d fields, the header has %d", path, lineno, nf,
                         n_header);
      goto done;
    }
    if ((st = grow_rows(t, &label_txt, &cap)) ||
        (st = read_row(t, fields, col, col_id, col_label, path, lineno, label_txt)))
      goto done;
  }
  if (!header_line) {
    st = mgc_error_set(MGC_EFORMAT, "%s: empty file (expected a header line)", path);
    goto done;
  }
  if (t->n_rows == 0) {
    st = mgc_error_set(MGC_EFORMAT, "%s: a header but no rows", path);
    goto done;
  }
  if ((st = check_unique(t, path))) goto done;
  if (!(t->labels = calloc((size_t)t->n_rows, sizeof(int)))) {
    st = oom();
    goto done;
  }
  st = assign_classes(t, label_txt, classes, n_classes);
done:
  for (int i = 0; label_txt && i < t->n_rows; i++) free(label_txt[i]);
  free(label_txt);
  free(fields);
  free(text);
  if (st) {
    mgc_feature_csv_free(t);
    return st;
  }
  *out = t;
  return MGC_OK;
}

/* ---- names ---------------------------------------------------------------- */

static const char *base_of(const char *s) {
  const char *slash = strrchr(s, '/');
  return slash ? slash + 1 : s;
}

/* Length of a basename without a .wav/.au extension; *had says whether it had one. */
static size_t stem_len(const char *b, int *had) {
  size_t n = strlen(b);
  *had = 1;
  if (n > 4 && !strcasecmp(b + n - 4, ".wav")) return n - 4;
  if (n > 3 && !strcasecmp(b + n - 3, ".au")) return n - 3;
  *had = 0;
  return n;
}

static int same_track(const char *a, const char *b) {
  const char *x = base_of(a), *y = base_of(b);
  if (!strcmp(x, y)) return 1;
  int hx, hy;
  size_t lx = stem_len(x, &hx), ly = stem_len(y, &hy);
  return hx && hy && lx == ly && !memcmp(x, y, lx);
}

int mgc_feature_csv_find(const mgc_feature_csv *t, const char *name) {
  if (!t || !name) return -1;
  for (int i = 0; i < t->n_rows; i++)
    if (same_track(t->ids[i], name)) return i;
  return -1;
}

/* ---- selections ------------------------------------------------------------ */

void mgc_feature_csv_selection_free(mgc_feature_csv_selection *s) {
  if (!s) return;
  for (int i = 0; i < s->n_missing; i++) free(s->missing[i]);
  free(s->missing);
  free(s->rows);
  free(s);
}

mgc_status mgc_feature_csv_select_list(const mgc_feature_csv *t, const char *list_path,
                                 mgc_feature_csv_selection **out) {
  *out = NULL;
  char *text;
  mgc_status st = slurp(list_path, &text);
  if (st) return st;
  mgc_feature_csv_selection *s = calloc(1, sizeof *s);
  int *seen = calloc((size_t)t->n_rows + 1, sizeof(int)); /* line that took each row */
  int n_entries = 0;
  if (!s || !seen || !(s->rows = malloc(sizeof(int) * ((size_t)t->n_rows + 1)))) {
    st = oom();
    goto done;
  }
  char *p = text;
  for (int lineno = 1; *p; lineno++) {
    char *line = p, *nl = strchr(p, '\n');
    if (nl) {
      *nl = '\0';
      p = nl + 1;
    } else {
      p += strlen(p);
    }
    char *name = trim(line);
    if (!*name || *name == '#') continue;
    n_entries++;
    int r = mgc_feature_csv_find(t, name);
    if (r < 0) {
      char **v = realloc(s->missing, sizeof(char *) * ((size_t)s->n_missing + 1));
      if (!v) {
        st = oom();
        goto done;
      }
      s->missing = v;
      if (!(v[s->n_missing] =
                dup_printf("%s:%d: %s: no row in %s", list_path, lineno, name, t->path))) {
        st = oom();
        goto done;
      }
      s->n_missing++;
      continue;
    }
    const char *slash = strchr(name, '/');
    if (slash) {
      size_t cl = (size_t)(slash - name);
      const char *label = t->classes[t->labels[r]];
      if (strlen(label) != cl || memcmp(label, name, cl)) {
        st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s' is labelled '%s' in %s:%d", list_path,
                           lineno, name, label, t->path, t->lines[r]);
        goto done;
      }
    }
    if (seen[r]) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: '%s' repeats line %d", list_path, lineno, name,
                         seen[r]);
      goto done;
    }
    seen[r] = lineno;
    s->rows[s->n++] = r;
  }
  if (n_entries == 0)
    st = mgc_error_set(MGC_EFORMAT, "%s: no entries (expected 'class/file' lines)", list_path);
  else if (s->n == 0)
    st = mgc_error_set(MGC_EFORMAT, "%s: none of its %d entries has a row in %s (another table?)",
                       list_path, n_entries, t->path);
done:
  free(seen);
  free(text);
  if (st) {
    mgc_feature_csv_selection_free(s);
    return st;
  }
  *out = s;
  return MGC_OK;
}

mgc_status mgc_feature_csv_match_dataset(const mgc_feature_csv *t, const mgc_dataset *ds, int *rows) {
  for (int i = 0; i < ds->n_tracks; i++) {
    const mgc_track *tr = &ds->tracks[i];
    int r = mgc_feature_csv_find(t, tr->name);
    if (r < 0)
      return mgc_error_set(MGC_EINVAL, "track '%s' has no row in %s", tr->name, t->path);
    const char *a = ds->classes[tr->label], *b = t->classes[t->labels[r]];
    if (strcmp(a, b))
      return mgc_error_set(MGC_EINVAL, "track '%s' is '%s' in the dataset but '%s' in %s:%d",
                           tr->name, a, b, t->path, t->lines[r]);
    rows[i] = r;
  }
  return MGC_OK;
}

/* ---- views ------------------------------------------------------------------ */

static mgc_status check_rows(const mgc_feature_csv *t, const int *rows, int n) {
  for (int i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= t->n_rows)
      return mgc_error_set(MGC_EINVAL, "table: row %d out of range [0, %d)", rows[i], t->n_rows);
  return MGC_OK;
}

mgc_status mgc_feature_csv_dataset(const mgc_feature_csv *t, const int *rows, int n, mgc_dataset **out) {
  *out = NULL;
  mgc_status st = check_rows(t, rows, n);
  if (st) return st;
  mgc_dataset *d = calloc(1, sizeof *d);
  if (!d) return oom();
  d->tracks = calloc((size_t)n + 1, sizeof *d->tracks);
  d->classes = calloc((size_t)t->n_classes + 1, sizeof(char *));
  if (!d->tracks || !d->classes) {
    mgc_dataset_free(d);
    return oom();
  }
  for (int k = 0; k < t->n_classes; k++) {
    if (!(d->classes[k] = mgc_strdup(t->classes[k]))) {
      mgc_dataset_free(d);
      return oom();
    }
    d->n_classes = k + 1;
  }
  for (int i = 0; i < n; i++) {
    mgc_track *tr = &d->tracks[i];
    int r = rows[i];
    tr->name = mgc_strdup(t->ids[r]);
    tr->path = dup_printf("%s:%d", t->path, t->lines[r]);
    tr->label = t->labels[r];
    d->n_tracks = i + 1;
    if (!tr->name || !tr->path) {
      mgc_dataset_free(d);
      return oom();
    }
  }
  *out = d;
  return MGC_OK;
}

mgc_status mgc_feature_csv_corpus(const mgc_feature_csv *t, const int *rows, int n, mgc_corpus **out) {
  *out = NULL;
  mgc_status st = check_rows(t, rows, n);
  if (st) return st;
  mgc_corpus *c = calloc(1, sizeof *c);
  if (!c) return oom();
  c->labels = calloc((size_t)n + 1, sizeof *c->labels);
  c->names = calloc((size_t)n + 1, sizeof *c->names);
  c->feats = calloc((size_t)n + 1, sizeof *c->feats);
  c->src = calloc((size_t)n + 1, sizeof *c->src);
  c->classes = calloc((size_t)t->n_classes + 1, sizeof(char *));
  if (!c->labels || !c->names || !c->feats || !c->src || !c->classes) {
    mgc_corpus_free(c);
    return oom();
  }
  for (int k = 0; k < t->n_classes; k++) {
    if (!(c->classes[k] = mgc_strdup(t->classes[k]))) {
      mgc_corpus_free(c);
      return oom();
    }
    c->n_classes = k + 1;
  }
  size_t F = (size_t)t->n_features;
  for (int i = 0; i < n; i++) {
    float *v = malloc(F * sizeof(float));
    char *name = mgc_strdup(t->ids[rows[i]]);
    if (!v || !name) {
      free(v);
      free(name);
      mgc_corpus_free(c);
      return oom();
    }
    memcpy(v, t->x + (size_t)rows[i] * F, F * sizeof(float));
    c->feats[i] = (mgc_feature_matrix){v, 1, F, NAN};
    c->names[i] = name;
    c->labels[i] = t->labels[rows[i]];
    c->src[i] = i;
    c->n_tracks = i + 1;
  }
  *out = c;
  return MGC_OK;
}
