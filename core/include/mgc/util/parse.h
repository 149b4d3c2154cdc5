/* Strict number parsing for command-line options and text settings: the
 * whole string must be a number within [lo, hi], so "3x" or "" is refused
 * instead of silently becoming 3 or 0 (as atoi would). */
#ifndef MGC_PARSE_H
#define MGC_PARSE_H

#include "mgc/util/error.h"

/* MGC_EINVAL with "'<name>' must be a number in [lo, hi], got '<text>'". */
mgc_status mgc_parse_double(const char *name, const char *text, double lo, double hi,
                            double *out);
/* The same, and the value must be an integer. */
mgc_status mgc_parse_int(const char *name, const char *text, long lo, long hi, long *out);

#endif
