#include "audio_files.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_audio(const char *name) {
  const char *dot = strrchr(name, '.');
  static const char *ext[] = {"wav", "au", "aif", "aiff", "flac", "ogg", "oga", "mp3"};
  if (!dot) return 0;
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (!strcasecmp(dot + 1, ext[i])) return 1;
  return 0;
}

static int push(mgc_path_list *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s))) return -1;
  l->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int mgc_path_list_add(mgc_path_list *l, const char *path) {
  struct stat st;
  DIR *d;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || !(d = opendir(path))) return push(l, path);
  mgc_path_list here = {0};
  struct dirent *e;
  int rc = 0;
  while (!rc && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[4096];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--; /* "dir/" gives "dir/x", not "dir//x" */
    snprintf(p, sizeof p, "%.*s/%s", (int)len, path, e->d_name);
    struct stat s2;
    if (stat(p, &s2) == 0 && (S_ISDIR(s2.st_mode) || is_audio(e->d_name))) rc = push(&here, p);
  }
  closedir(d);
  if (here.n) qsort(here.v, (size_t)here.n, sizeof *here.v, cmp_str);
  for (int i = 0; !rc && i < here.n; i++) rc = mgc_path_list_add(l, here.v[i]);
  mgc_path_list_free(&here);
  return rc;
}

void mgc_path_list_free(mgc_path_list *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  *l = (mgc_path_list){0};
}
