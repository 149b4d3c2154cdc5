/* mgcd's log: stderr with the sd-daemon(3) "<N>" level prefixes when
 * journald reads it ($JOURNAL_STREAM), plain "mgcd: level: " otherwise, or
 * syslog once the daemon has detached from its terminal. */
#ifndef MGC_DAEMON_LOG_H
#define MGC_DAEMON_LOG_H

#include "config.h"

void mgc_log_set_level(mgc_log_level level);
void mgc_log_to_syslog(void);
void mgc_log(mgc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
