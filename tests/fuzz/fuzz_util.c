#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

char *fuzz_text(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return NULL;
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}

#define MAX_FILES 8
static char dir[256];
static char made[MAX_FILES][320];
static int n_made;

static void remove_files(void) {
  for (int i = n_made - 1; i >= 0; i--) {
    unlink(made[i]);
    char *slash = strrchr(made[i], '/');
    while (slash && slash > made[i] + strlen(dir)) { /* the sub-folders a name made */
      *slash = 0;
      rmdir(made[i]);
      slash = strrchr(made[i], '/');
    }
  }
  if (*dir) rmdir(dir);
}

const char *fuzz_dir(void) {
  if (*dir) return dir;
  /* Memory-backed when there is one: a target writes a file per input. */
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/mgc-fuzz-%ld", base && *base ? base : "/tmp", (long)getpid());
  if (mkdir(dir, 0700) != 0) {
    *dir = 0;
    return NULL;
  }
  atexit(remove_files);
  return dir;
}

const char *fuzz_path(const char *name) {
  if (!fuzz_dir()) return NULL;
  char path[sizeof made[0]];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int i = 0;
  while (i < n_made && strcmp(made[i], path)) i++;
  if (i == n_made) {
    if (n_made == MAX_FILES) return NULL;
    for (char *p = strchr(path + strlen(dir) + 1, '/'); p; p = strchr(p + 1, '/')) {
      *p = 0;
      mkdir(path, 0700);
      *p = '/';
    }
    memcpy(made[n_made++], path, sizeof path);
  }
  return made[i];
}

const char *fuzz_file(const uint8_t *data, size_t size, const char *name) {
  const char *path = fuzz_path(name);
  FILE *f = path ? fopen(path, "wb") : NULL;
  if (!f) return NULL;
  int ok = fwrite(data, 1, size, f) == size;
  ok &= fclose(f) == 0;
  return ok ? path : NULL;
}
