/* systemd's notify protocol (sd_notify(3)) without linking libsystemd: a
 * datagram to $NOTIFY_SOCKET. Everything is a no-op when the variable is
 * unset (not started by systemd with Type=notify). */
#ifndef MGC_DAEMON_NOTIFY_H
#define MGC_DAEMON_NOTIFY_H

#include <stdint.h>

/* Send "READY=1", "STOPPING=1", "RELOADING=1", "WATCHDOG=1",
 * "STATUS=..." etc.; returns 1 when sent, 0 when there is no socket, -1 on
 * error (errno set). */
int mgc_notify(const char *state);

/* The watchdog interval systemd asks for ($WATCHDOG_USEC, checked against
 * $WATCHDOG_PID), in microseconds; 0 when there is none. */
uint64_t mgc_notify_watchdog_usec(void);

#endif
