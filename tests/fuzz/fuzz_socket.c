/* mgcd's socket (daemon/server.c) as a client sees it: the input is what
 * one client sends, cut into writes whose size the first byte picks (so
 * lines arrive split anywhere), through a real server on a real Unix
 * socket. Covers the line framing (partial, over-long, NUL), the command
 * parser (words and JSON) and the replies; the client then hangs up and
 * must be dropped. A small line limit makes over-long lines reachable. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "server.h"

static size_t answer(void *user, const char *command, char *reply, size_t cap) {
  (void)user;
  int n = snprintf(reply, cap, "{\"reply\":\"%s\"}", command);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static mgc_server *srv;
static struct sockaddr_un addr = {.sun_family = AF_UNIX};

/* What the daemon's loop does: poll without waiting, service. */
static void pump(int rounds) {
  for (int r = 0; r < rounds; r++) {
    struct pollfd fds[8];
    int n = mgc_server_pollfds(srv, fds, 8);
    if (poll(fds, (nfds_t)n, 0) < 0) return;
    mgc_server_service(srv, fds, n, 0);
  }
}

static void drain(int fd) {
  char buf[4096];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

static int setup(void) {
  mgc_log_set_level(MGC_LOG_ERROR);
  const char *path = fuzz_path("mgcd.sock");
  if (!path || strlen(path) >= sizeof addr.sun_path) return 0;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  mgc_server_params p = {.path = path, .mode = 0600, .max_clients = 4, .client_buffer = 8192,
                         .max_line = 64, .client_timeout_s = 5};
  return mgc_server_new(&p, answer, NULL, &srv) == MGC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = -1;
  if (ready < 0) ready = setup();
  if (!ready || size == 0) return 0;
  size_t chunk = 1 + data[0] % 97;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
    pump(2);
    for (size_t off = 1; off < size; off += chunk) {
      size_t n = size - off < chunk ? size - off : chunk;
      if (send(fd, data + off, n, MSG_NOSIGNAL) < 0) break; /* dropped: its replies went unread */
      pump(2);
      drain(fd);
    }
  }
  close(fd);
  /* A client that hung up is dropped; one left behind would be a leak. */
  for (int r = 0; r < 100 && mgc_server_clients(srv) > 0; r++) pump(1);
  if (mgc_server_clients(srv) > 0) __builtin_trap();
  return 0;
}
