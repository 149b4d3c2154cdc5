/* A string as a JSON string literal, into a caller's buffer: no allocation,
 * so mgcd can build events with it on its loop. */
#ifndef MGC_JSON_QUOTE_H
#define MGC_JSON_QUOTE_H

#include <stddef.h>

/* Writes "s" with '"', '\' and control characters escaped, NUL-terminated,
 * into out[cap] (cap >= 3); a string too long for out is cut short, still
 * quoted and valid (never mid-escape). Returns the length written. */
size_t mgc_json_quote(char *out, size_t cap, const char *s);

#endif
