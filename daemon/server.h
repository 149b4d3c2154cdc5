/* mgcd's Unix socket server: newline-delimited JSON to many local clients
 * (daemon/PROTOCOL.md). Single-threaded and non-blocking: the daemon's main
 * loop polls the descriptors this server lists and calls _service.
 *
 * Every client has a bounded output buffer. Events for a client whose
 * buffer is full are skipped and counted (it is told how many once it reads
 * again); a client whose buffer stays full longer than client_timeout_s is
 * disconnected. A write never blocks, so no client delays the pipeline or
 * the others. */
#ifndef MGC_DAEMON_SERVER_H
#define MGC_DAEMON_SERVER_H

#include <poll.h>
#include <stddef.h>

#include "mgc/util/error.h"

/* The most clients socket.max_clients may allow: mgcd polls them all from
 * one fixed array, and each costs a descriptor of the process's ~1024. */
#define MGC_SERVER_MAX_CLIENTS 1000
/* Bounds of socket.max_line (a command line's bytes, its newline excluded). */
#define MGC_SERVER_MIN_LINE 64
#define MGC_SERVER_MAX_LINE 65536

typedef struct mgc_server_params {
  const char *path;       /* socket path */
  unsigned mode;          /* permission bits of the socket file (0660) */
  const char *group;      /* group owning it; NULL or "" keeps the default */
  int max_clients;        /* 1..MGC_SERVER_MAX_CLIENTS; the next one gets an error line */
  size_t client_buffer;   /* output bytes queued per client */
  size_t max_line;        /* a longer command line is refused whole, the client kept */
  double client_timeout_s;
} mgc_server_params;

/* Commands the server does not answer itself ("status", "reset",
 * "version", and "hello" when a client connects) go to this function,
 * which writes one JSON object (no newline) into reply and returns its
 * length (0: no reply). */
typedef size_t (*mgc_server_command_fn)(void *user, const char *command, char *reply, size_t cap);

typedef struct mgc_server mgc_server;

/* Create the socket. A stale socket file is replaced; a live one (another
 * mgcd answering) or a non-socket file at the path is refused. A missing
 * parent directory is created (0755). */
mgc_status mgc_server_new(const mgc_server_params *p, mgc_server_command_fn fn, void *user,
                          mgc_server **out);

/* Fill fds with the listening socket and the clients (POLLOUT for those with
 * queued output); returns how many (at most cap). */
int mgc_server_pollfds(mgc_server *s, struct pollfd *fds, int cap);

/* Handle what poll reported for fds[0..n) (as filled by _pollfds): accept,
 * read and answer commands, write queued output, drop dead clients and
 * clients past the timeout. now: monotonic seconds. */
void mgc_server_service(mgc_server *s, const struct pollfd *fds, int n, double now);

/* Queue one event line (JSON without the newline) for every subscribed
 * client and try to send it at once. */
void mgc_server_broadcast(mgc_server *s, const char *line, size_t len, double now);

/* Apply new buffer size, timeout, line and client limits (SIGHUP) to the
 * clients that connect from now on (the timeout to all); the socket path,
 * mode and group stay as created. */
void mgc_server_set_limits(mgc_server *s, const mgc_server_params *p);

int mgc_server_clients(const mgc_server *s);
/* Clients dropped for not reading, and events skipped, since start. */
unsigned long mgc_server_cut(const mgc_server *s);
unsigned long mgc_server_skipped(const mgc_server *s);
/* Clients refused at connect (too many, no descriptor left) since start. */
unsigned long mgc_server_refused(const mgc_server *s);

/* Try for up to timeout_s to deliver queued output (before exiting). */
void mgc_server_drain(mgc_server *s, double timeout_s);

/* Close every client, the socket, and remove the socket file. */
void mgc_server_free(mgc_server *s);

#endif
