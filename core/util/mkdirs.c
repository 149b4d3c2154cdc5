#include "mgc/util/mkdirs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mgc_status mgc_mkdirs(const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return mgc_error_set(MGC_ENOMEM, "out of memory");
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char c = p[i];
    p[i] = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      mgc_status st = mgc_error_set(MGC_EIO, "cannot create directory %s: %s", p, strerror(errno));
      free(p);
      return st;
    }
    p[i] = c;
  }
  free(p);
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return mgc_error_set(MGC_EIO, "%s is not a directory", dir);
  return MGC_OK;
}
