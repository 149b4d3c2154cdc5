#include "mgc/util/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

mgc_status mgc_parse_double(const char *name, const char *text, double lo, double hi,
                            double *out) {
  char *end;
  errno = 0;
  double v = text ? strtod(text, &end) : NAN;
  if (!text || errno || end == text || *end || !isfinite(v) || v < lo || v > hi)
    return mgc_error_set(MGC_EINVAL, "'%s' must be a number in [%g, %g], got '%s'", name, lo,
                         hi, text ? text : "");
  *out = v;
  return MGC_OK;
}

mgc_status mgc_parse_int(const char *name, const char *text, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = text ? strtol(text, &end, 10) : 0;
  if (!text || errno || end == text || *end || v < lo || v > hi)
    return mgc_error_set(MGC_EINVAL, "'%s' must be an integer in [%ld, %ld], got '%s'", name,
                         lo, hi, text ? text : "");
  *out = v;
  return MGC_OK;
}
