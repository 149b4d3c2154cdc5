/* sd_notify(3) by hand: the protocol is one datagram per message, so
 * libsystemd is not worth a dependency. */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int mgc_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  if (!state) {
    errno = EINVAL;
    return -1;
  }
  /* Only filesystem and abstract AF_UNIX addresses: systemd's "vsock:" form
   * is for VMs, which mgcd is never the init of. */
  if (path[0] != '/' && path[0] != '@') {
    errno = EAFNOSUPPORT;
    return -1;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(sa.sun_path, path, len);
  socklen_t salen;
  if (path[0] == '@') {
    /* Abstract namespace: a leading NUL, and the length says where the name
     * ends (no terminator is part of it). */
    sa.sun_path[0] = 0;
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* MSG_NOSIGNAL: a vanished systemd must not kill the daemon with SIGPIPE. */
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
  int err = errno;
  close(fd);
  if (n < 0) {
    errno = err;
    return -1;
  }
  return 1;
}

uint64_t mgc_notify_watchdog_usec(void) {
  const char *s = getenv("WATCHDOG_USEC");
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  /* strtoull would accept a sign and wrap "-1" around; systemd never sends
   * one, so anything but digits is refused. */
  if (*s < '0' || *s > '9') return 0;
  unsigned long long usec = strtoull(s, &end, 10);
  if (errno || *end || usec == 0) return 0;

  /* The variables are inherited by children; WATCHDOG_PID says whom systemd
   * meant, so a forked helper does not take the pings on itself. */
  const char *p = getenv("WATCHDOG_PID");
  if (p && *p) {
    if (*p < '0' || *p > '9') return 0;
    errno = 0;
    unsigned long long pid = strtoull(p, &end, 10);
    if (errno || *end || pid != (unsigned long long)getpid()) return 0;
  }
  return (uint64_t)usec;
}
