#include "mgc/util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Thread-local so the daemon's capture, worker and server threads never see
 * each other's messages. */
static _Thread_local char g_message[1024];

const char *mgc_error_message(void) { return g_message; }

void mgc_error_clear(void) { g_message[0] = '\0'; }

mgc_status mgc_error_set(mgc_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_message, sizeof g_message, fmt, ap);
  va_end(ap);
  return code;
}

mgc_status mgc_error_prefix(mgc_status code, const char *fmt, ...) {
  char old[sizeof g_message];
  memcpy(old, g_message, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(g_message, sizeof g_message, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof g_message)
    snprintf(g_message + n, sizeof g_message - (size_t)n, "%s", old);
  return code;
}
