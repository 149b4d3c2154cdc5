/* mgc-classify: the genre of audio files, decided as mgcd decides it (the
 * mean of the window probabilities over the whole file). */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/parse.h"
#include "mgc/featcache.h"
#include "mgc/session.h"
#include "mgc/trainer.h"

#define MGC_DEFAULT_MODEL "models/crnn.safetensors"
#ifndef MGC_INSTALLED_MODEL
#define MGC_INSTALLED_MODEL MGC_DEFAULT_MODEL
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgc-classify [--model M] [--json] [--top K] FILE|DIR...\n"
          "  --model M   model file (default " MGC_DEFAULT_MODEL ", else\n"
          "              " MGC_INSTALLED_MODEL ")\n"
          "  --json      one JSON object per file (genre, confidence, top-K, all probabilities)\n"
          "  --top K     how many classes to list (default 3)\n"
          "Directories are searched recursively for audio files.\n");
}

static int is_audio(const char *name) {
  const char *dot = strrchr(name, '.');
  static const char *ext[] = {"wav", "au", "aif", "aiff", "flac", "ogg", "oga", "mp3"};
  if (!dot) return 0;
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (!strcasecmp(dot + 1, ext[i])) return 1;
  return 0;
}

typedef struct list {
  char **v;
  int n, cap;
} list;

static void push(list *l, const char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    if (!l->v) exit(1);
  }
  l->v[l->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(list *l, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    push(l, path); /* a missing file is reported when classified */
    return;
  }
  DIR *d = opendir(path);
  if (!d) {
    push(l, path);
    return;
  }
  list here = {0};
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[4096];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--; /* "dir/" gives "dir/x", not "dir//x" */
    snprintf(p, sizeof p, "%.*s/%s", (int)len, path, e->d_name);
    struct stat s2;
    if (stat(p, &s2) == 0 && (S_ISDIR(s2.st_mode) || is_audio(e->d_name))) push(&here, p);
  }
  closedir(d);
  qsort(here.v, (size_t)here.n, sizeof *here.v, cmp_str);
  for (int i = 0; i < here.n; i++) {
    walk(l, here.v[i]);
    free(here.v[i]);
  }
  free(here.v);
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* A bad option value is a usage error (exit 2) with the reason. */
static long int_opt(const char *name, const char *text, long lo, long hi) {
  long v;
  if (mgc_parse_int(name, text, lo, hi, &v)) {
    fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  const char *model_path = NULL;
  int json = 0, top = 3;
  static const struct option lo[] = {{"model", 1, 0, 'm'}, {"json", 0, 0, 'j'},
                                     {"top", 1, 0, 't'},   {"help", 0, 0, 'h'},
                                     {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'm': model_path = optarg; break;
    case 'j': json = 1; break;
    case 't': top = (int)int_opt("--top", optarg, 1, 100000); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind == argc || top < 1) {
    usage(stderr);
    return 2;
  }
  if (!model_path) model_path = access(MGC_DEFAULT_MODEL, R_OK) == 0 ? MGC_DEFAULT_MODEL
                                                                     : MGC_INSTALLED_MODEL;
  mgc_model *m;
  if (mgc_model_load(model_path, &m)) {
    fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
    return 1;
  }
  if (top > m->n_classes) top = m->n_classes;
  mgc_feature_kind kind;
  mgc_featcache *fc;
  mgc_session *s;
  const int batch = 8;
  if (mgc_feature_kind_parse(m->arch->feature, &kind) ||
      mgc_featcache_new(NULL, &m->frontend, kind, &fc) || mgc_session_new(m, batch, &s)) {
    fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
    return 1;
  }
  list files = {0};
  for (int i = optind; i < argc; i++) walk(&files, argv[i]);
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop, C = m->n_classes;
  mgc_shape si = m->arch->input;
  size_t d = mgc_shape_size(&si);
  int failures = 0, bar = files.n > 1 && isatty(2);
  for (int i = 0; i < files.n; i++) {
    if (bar) {
      int w = 30, k = (i * w) / files.n;
      fprintf(stderr, "\r[%.*s%*s] %d/%d", k, "##############################", w - k, "", i,
              files.n);
      fflush(stderr);
    }
    mgc_feature_matrix fm = {0};
    if (mgc_featcache_get(fc, files.v[i], NULL, NULL, NULL, &fm)) {
      if (bar) fprintf(stderr, "\r%*s\r", 45, "");
      fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
      failures++;
      continue;
    }
    int nw = mgc_track_windows((int)fm.n_frames, win, hop);
    float *probs = malloc((size_t)nw * C * sizeof(float));
    float *scratch = malloc(((size_t)batch * d + (size_t)win * fm.dim) * sizeof(float));
    double mean[C];
    if (!probs || !scratch || mgc_predict_track(s, &fm, win, hop, scratch, probs)) {
      fprintf(stderr, "mgc-classify: %s: %s\n", files.v[i], mgc_error_message());
      failures++;
      free(probs);
      free(scratch);
      mgc_feature_matrix_free(&fm);
      continue;
    }
    for (int k = 0; k < C; k++) mean[k] = 0;
    for (int w = 0; w < nw; w++)
      for (int k = 0; k < C; k++) mean[k] += probs[(size_t)w * C + k] / nw;
    int order[C];
    for (int k = 0; k < C; k++) order[k] = k;
    for (int a = 0; a < C; a++)
      for (int b = a + 1; b < C; b++)
        if (mean[order[b]] > mean[order[a]]) {
          int t = order[a];
          order[a] = order[b];
          order[b] = t;
        }
    if (bar) fprintf(stderr, "\r%*s\r", 45, "");
    if (json) {
      printf("{\"file\": ");
      json_string(stdout, files.v[i]);
      printf(", \"genre\": ");
      json_string(stdout, m->classes[order[0]]);
      printf(", \"confidence\": %.4f, \"windows\": %d, \"top\": [", mean[order[0]], nw);
      for (int k = 0; k < top; k++) {
        printf("%s[", k ? ", " : "");
        json_string(stdout, m->classes[order[k]]);
        printf(", %.4f]", mean[order[k]]);
      }
      printf("], \"probabilities\": {");
      for (int k = 0; k < C; k++) {
        printf("%s", k ? ", " : "");
        json_string(stdout, m->classes[k]);
        printf(": %.4f", mean[k]);
      }
      printf("}}\n");
    } else {
      printf("%s: %s (%.0f%%)", files.v[i], m->classes[order[0]], 100 * mean[order[0]]);
      for (int k = 1; k < top; k++) printf("%s %s %.0f%%", k == 1 ? "  then" : ",",
                                           m->classes[order[k]], 100 * mean[order[k]]);
      printf("  [%d windows]\n", nw);
    }
    fflush(stdout);
    free(probs);
    free(scratch);
    mgc_feature_matrix_free(&fm);
  }
  if (bar) fprintf(stderr, "\r%*s\r", 45, "");
  for (int i = 0; i < files.n; i++) free(files.v[i]);
  free(files.v);
  mgc_session_free(s);
  mgc_featcache_free(fc);
  mgc_model_free(m);
  return failures ? 1 : 0;
}
