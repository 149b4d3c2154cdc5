#include "mgc/util/json_quote.h"

#include <stdio.h>

size_t mgc_json_quote(char *out, size_t cap, const char *s) {
  size_t k = 0;
  if (cap < 3) {
    if (cap) out[0] = 0;
    return 0;
  }
  out[k++] = '"';
  /* k + 8 < cap leaves room for the longest escape (\u00XX), the closing
   * quote and the NUL. */
  for (; *s && k + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') k += (size_t)snprintf(out + k, cap - k, "\\%c", c);
    else if (c < 0x20) k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
    else out[k++] = (char)c;
  }
  out[k++] = '"';
  out[k] = 0;
  return k;
}
