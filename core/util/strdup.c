#include "mgc/util/strdup.h"

#include <stdlib.h>
#include <string.h>

#include "mgc/util/error.h"

char *mgc_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (!d) {
    mgc_error_set(MGC_ENOMEM, "out of memory");
    return NULL;
  }
  return memcpy(d, s, n);
}
