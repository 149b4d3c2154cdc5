/* memmem is a GNU extension. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "soak.h"

uint64_t soak_rand(soak_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double soak_uniform(soak_rng *r, double lo, double hi) {
  return lo + (hi - lo) * (double)(soak_rand(r) >> 11) / 9007199254740992.0;
}

static int unix_socket(const char *path, struct sockaddr_un *a, int flags) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path) return -1;
  memcpy(a->sun_path, path, strlen(path) + 1);
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
}

int soak_connect(const char *path) {
  struct sockaddr_un a;
  int fd = unix_socket(path, &a, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* ---- churn ---- */

typedef struct churner {
  int fd, kind;
  size_t sent;   /* SOAK_LONG_LINE: bytes of the long line so far */
  int got_line;  /* a whole line was read */
} churner;

static void send_some(churner *c, soak_rng *r, soak_burst_stats *st) {
  static const char *const cmds[] = {"status\n", "help\n", "version\n", "subscribe\n", "unsubscribe\n",
                                     "{\"command\":\"status\"}\n", "  version \r\n", "\n"};
  char buf[65536];
  size_t n = 0;
  switch (c->kind) {
    case SOAK_COMMANDS: {
      const char *s = cmds[soak_rand(r) % (sizeof cmds / sizeof cmds[0])];
      n = strlen(s);
      memcpy(buf, s, n);
      break;
    }
    case SOAK_GARBAGE:
      n = 1 + soak_rand(r) % 2048;
      for (size_t i = 0; i < n; i++) buf[i] = (char)soak_rand(r);
      break;
    case SOAK_LONG_LINE:
      if (c->sent < (1u << 20)) {
        n = sizeof buf;
        memset(buf, 'x', n);
      } else if (c->sent == (1u << 20)) {
        n = 8;
        memcpy(buf, "\nstatus\n", n);
      }
      break;
    case SOAK_HALF_LINE:
      if (!c->sent) memcpy(buf, "stat", n = 4);
      break;
    default:
      break;
  }
  if (!n) return;
  ssize_t w = send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (w > 0) {
    st->bytes_sent += w;
    c->sent += (size_t)w;
  }
}

/* Read what is there; 0 when the daemon hung up. */
static int read_some(churner *c, soak_burst_stats *st) {
  char buf[16384];
  ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 0;
  if (n > 0) {
    st->bytes_read += n;
    if (!c->got_line && memmem(buf, (size_t)n, "too many clients", 16)) st->refused++;
    if (memchr(buf, '\n', (size_t)n)) c->got_line = 1;
  }
  return 1;
}

static void close_churner(churner *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

void soak_burst(const char *sock, soak_rng *r, int n, double dur_s, soak_burst_stats *st) {
  churner *c = calloc((size_t)n, sizeof *c);
  struct pollfd *p = calloc((size_t)n, sizeof *p);
  if (!c || !p) bench_die("bench_soak", "out of memory");
  for (int i = 0; i < n; i++) {
    c[i].kind = (int)(soak_rand(r) % SOAK_KINDS);
    struct sockaddr_un a;
    c[i].fd = unix_socket(sock, &a, 0);
    if (c[i].kind == SOAK_NEVER_READS) { /* fills up after a few events */
      int small = 4096;
      setsockopt(c[i].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&a, sizeof a) != 0) {
      close_churner(&c[i]);
      st->refused++;
      continue;
    }
    st->clients++;
    st->kinds[c[i].kind]++;
    if (c[i].kind == SOAK_CONNECT_CLOSE) close_churner(&c[i]);
  }
  double t0 = bench_now(), next_send = t0;
  while (bench_now() - t0 < dur_s) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if (c[i].fd >= 0 && c[i].kind != SOAK_NEVER_READS) p[m++] = (struct pollfd){c[i].fd, POLLIN, 0};
    poll(p, (nfds_t)m, 20);
    int send_now = bench_now() >= next_send;
    if (send_now) next_send += 0.05;
    for (int i = 0; i < n; i++) {
      churner *k = &c[i];
      if (k->fd < 0 || k->kind == SOAK_NEVER_READS) continue;
      if (!read_some(k, st)) {
        close_churner(k);
        continue;
      }
      if (k->kind == SOAK_HELLO_AND_LEAVE && k->got_line) close_churner(k);
      else if (k->kind == SOAK_HALF_LINE && k->sent) close_churner(k);
      else if (send_now || k->kind == SOAK_LONG_LINE) send_some(k, r, st);
    }
  }
  for (int i = 0; i < n; i++) close_churner(&c[i]);
  free(c);
  free(p);
}

/* ---- hostile ---- */

void soak_flood(const char *sock, int n, soak_flood_result *out) {
  memset(out, 0, sizeof *out);
  int *fd = malloc((size_t)n * sizeof *fd);
  int *state = calloc((size_t)n, sizeof *state); /* 0 pending, 1 connected, 2 given up */
  char (*first)[64] = calloc((size_t)n, sizeof *first);
  if (!fd || !state || !first) bench_die("bench_soak", "out of memory");
  struct sockaddr_un a;
  for (int i = 0; i < n; i++) fd[i] = unix_socket(sock, &a, SOCK_NONBLOCK);
  out->attempted = n;
  double t0 = bench_now();
  for (int left = n; left > 0 && bench_now() - t0 < 5;) {
    left = 0;
    for (int i = 0; i < n; i++) {
      if (state[i]) continue;
      if (fd[i] >= 0 && connect(fd[i], (struct sockaddr *)&a, sizeof a) == 0) {
        state[i] = 1;
        out->connected++;
      } else if (fd[i] < 0 || errno != EAGAIN) {
        state[i] = 2;
        out->kernel_refused++;
      } else {
        left++;
      }
    }
    if (left) usleep(1000);
  }
  for (int i = 0; i < n; i++)
    if (!state[i]) state[i] = 2, out->kernel_refused++;
  /* Each connected one: its first line. */
  t0 = bench_now();
  for (int pending = out->connected; pending > 0 && bench_now() - t0 < 5;) {
    pending = 0;
    for (int i = 0; i < n; i++) {
      if (state[i] != 1) continue;
      size_t have = strlen(first[i]);
      ssize_t r = recv(fd[i], first[i] + have, sizeof first[i] - 1 - have, MSG_DONTWAIT);
      if (r > 0) first[i][have + (size_t)r] = 0;
      if (r == 0 || strchr(first[i], '\n') || have + (size_t)(r > 0 ? r : 0) >= sizeof first[i] - 1) {
        state[i] = 3;
        if (strstr(first[i], "\"hello\"")) out->hello++;
        else if (strstr(first[i], "too many clients")) out->turned_away++;
        else out->silent++;
      } else {
        pending++;
      }
    }
    if (pending) usleep(1000);
  }
  for (int i = 0; i < n; i++) {
    if (state[i] == 1) out->silent++;
    if (fd[i] >= 0) close(fd[i]);
  }
  free(fd);
  free(state);
  free(first);
}

long long soak_stream(const char *sock, size_t bytes, int random, soak_rng *r) {
  int fd = soak_connect(sock);
  if (fd < 0) return 0;
  struct timeval tv = {10, 0}; /* a daemon that stops reading ends the attack */
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  static char buf[65536];
  long long sent = 0;
  while ((size_t)sent < bytes) {
    size_t n = bytes - (size_t)sent < sizeof buf ? bytes - (size_t)sent : sizeof buf;
    if (random)
      for (size_t i = 0; i < n; i++) buf[i] = (char)soak_rand(r);
    else
      memset(buf, 'x', n);
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += w;
    char sink[4096]; /* read the error replies, so that only the bytes count */
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
  }
  close(fd);
  return sent;
}
