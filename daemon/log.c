#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

static mgc_log_level g_level = MGC_LOG_INFO;
static int g_syslog;

void mgc_log_set_level(mgc_log_level level) { g_level = level; }

void mgc_log_to_syslog(void) {
  openlog("mgcd", LOG_PID, LOG_DAEMON);
  g_syslog = 1;
}

void mgc_log(mgc_log_level level, const char *fmt, ...) {
  static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
  static const char *name[] = {"error", "warning", "info", "debug"};
  if (level > g_level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g_syslog) syslog(prio[level], "%s", msg);
  else if (getenv("JOURNAL_STREAM")) fprintf(stderr, "<%d>%s\n", prio[level], msg);
  else fprintf(stderr, "mgcd: %s: %s\n", name[level], msg);
}
