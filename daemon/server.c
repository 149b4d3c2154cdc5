/* accept4 and SOCK_NONBLOCK/SOCK_CLOEXEC are Linux extensions. */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define REPLY_CAP 65536

typedef struct client {
  int fd;
  unsigned id;
  int subscribed;
  char *out;               /* queued output, out[head..tail) */
  size_t head, tail, cap;
  char *in;                /* the line being read, max_line + 1 bytes */
  size_t in_len, in_cap;
  int discarding;          /* inside an over-long line: drop until its newline */
  unsigned long skipped;   /* events not queued because the buffer was full */
  double full_since;       /* when skipping began (0: not skipping) */
} client;

struct mgc_server {
  int fd;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  mgc_server_params p;
  mgc_server_command_fn fn;
  void *user;
  client *c;
  int n, cap;
  int spare;               /* a descriptor held back for refusing clients when none is left */
  unsigned next_id;
  unsigned long cut, skipped, refused;
  char reply[REPLY_CAP];
};

/* Refuse to take over a live socket; remove a stale one. */
static mgc_status check_path(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return MGC_OK;
  if (!S_ISSOCK(st.st_mode))
    return mgc_error_set(MGC_EIO, "socket path %s exists and is not a socket; not removing it", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int live = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  if (live) return mgc_error_set(MGC_ESTATE, "another mgcd is already listening on %s", path);
  if (unlink(path) != 0)
    return mgc_error_set(MGC_EIO, "cannot remove the stale socket %s: %s", path, strerror(errno));
  return MGC_OK;
}

mgc_status mgc_server_new(const mgc_server_params *p, mgc_server_command_fn fn, void *user,
                          mgc_server **out) {
  *out = NULL;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (!p->path || !*p->path || strlen(p->path) >= sizeof a.sun_path)
    return mgc_error_set(MGC_EINVAL, "socket path must be 1..%zu bytes", sizeof a.sun_path - 1);
  /* Create a missing parent (a manual run outside systemd's RuntimeDirectory). */
  char dir[sizeof a.sun_path];
  snprintf(dir, sizeof dir, "%s", p->path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
      return mgc_error_set(MGC_EIO, "cannot create the socket directory %s: %s", dir, strerror(errno));
  }
  mgc_status st = check_path(p->path);
  if (st) return st;
  mgc_server *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "server: out of memory");
  s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  snprintf(a.sun_path, sizeof a.sun_path, "%s", p->path);
  snprintf(s->path, sizeof s->path, "%s", p->path);
  /* Bind under a tight umask so the socket is never briefly open to all. */
  mode_t old = umask(0177);
  int rc = s->fd < 0 ? -1 : bind(s->fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (rc != 0 || listen(s->fd, 64) != 0) {
    st = mgc_error_set(MGC_EIO, "cannot listen on %s: %s", p->path, strerror(errno));
    if (s->fd >= 0) close(s->fd);
    free(s);
    return st;
  }
  if (p->group && *p->group) {
    struct group *g = getgrnam(p->group);
    if (!g || chown(p->path, (uid_t)-1, g->gr_gid) != 0) {
      st = mgc_error_set(MGC_EIO, "cannot give %s to group '%s': %s", p->path, p->group,
                         g ? strerror(errno) : "no such group");
      goto fail;
    }
  }
  if (chmod(p->path, (mode_t)(p->mode & 0777)) != 0) {
    st = mgc_error_set(MGC_EIO, "cannot set mode %04o on %s: %s", p->mode, p->path, strerror(errno));
    goto fail;
  }
  s->p = *p;
  s->p.path = s->path;
  s->p.group = NULL;
  s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  s->fn = fn;
  s->user = user;
  *out = s;
  return MGC_OK;
fail:
  close(s->fd);
  unlink(s->path);
  free(s);
  return st;
}

void mgc_server_set_limits(mgc_server *s, const mgc_server_params *p) {
  s->p.max_clients = p->max_clients;
  s->p.client_buffer = p->client_buffer;
  s->p.client_timeout_s = p->client_timeout_s;
  s->p.max_line = p->max_line;
}

static void drop(mgc_server *s, int i, const char *why) {
  client *c = &s->c[i];
  mgc_log(MGC_LOG_DEBUG, "client %u disconnected (%s)", c->id, why);
  close(c->fd);
  free(c->out);
  free(c->in);
  s->c[i] = s->c[--s->n];
}

/* Send what is queued without blocking; -1 when the peer is gone. */
static int flush_client(client *c) {
  while (c->head < c->tail) {
    ssize_t w = send(c->fd, c->out + c->head, c->tail - c->head, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    c->head += (size_t)w;
  }
  c->head = c->tail = 0;
  return 0;
}

/* Append line + '\n' if it fits (compacting first); 0 when it does not. */
static int queue(client *c, const char *line, size_t len) {
  if (c->tail + len + 1 > c->cap && c->head > 0) {
    memmove(c->out, c->out + c->head, c->tail - c->head);
    c->tail -= c->head;
    c->head = 0;
  }
  if (c->tail + len + 1 > c->cap) return 0;
  memcpy(c->out + c->tail, line, len);
  c->tail += len;
  c->out[c->tail++] = '\n';
  return 1;
}

/* A reply must arrive: a client that does not read its replies is cut. */
static int reply(mgc_server *s, int i, const char *line, size_t len) {
  if (!queue(&s->c[i], line, len)) {
    s->cut++;
    mgc_log(MGC_LOG_WARN, "client %u cut off: it does not read its replies", s->c[i].id);
    drop(s, i, "reply buffer full");
    return -1;
  }
  return 0;
}

static int reply_error(mgc_server *s, int i, const char *msg) {
  json_t *o = json_pack("{s:s,s:s}", "reply", "error", "error", msg);
  char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
  int rc = t ? reply(s, i, t, strlen(t)) : 0;
  free(t);
  json_decref(o);
  return rc;
}

static void refuse(mgc_server *s, int fd, const char *why) {
  char msg[128];
  int len = snprintf(msg, sizeof msg, "{\"reply\":\"error\",\"error\":\"%s\"}\n", why);
  (void)!send(fd, msg, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
  close(fd);
  s->refused++;
  /* One line per burst, not one per client: a flood must not flood the log. */
  if (s->refused == 1 || s->refused % 1000 == 0)
    mgc_log(MGC_LOG_WARN, "refused a client (%s; %lu so far)", why, s->refused);
}

/* Out of descriptors, a pending connection would keep the socket readable
 * and the loop spinning: let go of the spare to take it and close it (the
 * libuv/libev remedy), then hold a spare again. */
static void refuse_without_fd(mgc_server *s) {
  if (s->spare < 0) return;
  close(s->spare);
  int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) refuse(s, fd, "mgcd is out of file descriptors");
  s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_clients(mgc_server *s) {
  for (;;) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) refuse_without_fd(s);
      return;
    }
    if (s->n >= s->p.max_clients) {
      refuse(s, fd, "too many clients");
      continue;
    }
    if (s->n == s->cap) {
      int cap = s->cap ? 2 * s->cap : 16;
      client *nc = realloc(s->c, sizeof *nc * (size_t)cap);
      if (!nc) {
        close(fd);
        continue;
      }
      s->c = nc;
      s->cap = cap;
    }
    client *c = &s->c[s->n];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->id = ++s->next_id;
    c->subscribed = 1;
    c->cap = s->p.client_buffer;
    c->out = malloc(c->cap);
    c->in_cap = s->p.max_line;
    c->in = malloc(c->in_cap + 1);
    if (!c->out || !c->in) {
      free(c->out);
      free(c->in);
      refuse(s, fd, "mgcd is out of memory");
      continue;
    }
    s->n++;
    mgc_log(MGC_LOG_DEBUG, "client %u connected (%d now)", c->id, s->n);
    size_t len = s->fn(s->user, "hello", s->reply, sizeof s->reply);
    if (len && reply(s, s->n - 1, s->reply, len) == 0) flush_client(&s->c[s->n - 1]);
  }
}

/* One command line; returns -1 when the client was dropped. */
static int command(mgc_server *s, int i, char *line) {
  char *p = line, *e = line + strlen(line);
  while (*p == ' ' || *p == '\t') p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
  if (!*p) return 0;
  char word[32];
  if (*p == '{') {
    json_error_t err;
    json_t *o = json_loads(p, 0, &err);
    const char *cmd = o ? json_string_value(json_object_get(o, "command")) : NULL;
    if (!o || !cmd || json_object_size(o) != 1) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s", !o ? err.text : "a JSON command is {\"command\": \"name\"}");
      json_decref(o);
      return reply_error(s, i, msg);
    }
    snprintf(word, sizeof word, "%s", cmd);
    json_decref(o);
  } else {
    size_t n = strlen(p);
    if (n >= sizeof word) n = sizeof word - 1;
    memcpy(word, p, n);
    word[n] = 0;
  }
  for (const char *q = word; *q; q++)
    if (!(*q >= 'a' && *q <= 'z') && *q != '_') return reply_error(s, i, "malformed command (send 'help')");
  client *c = &s->c[i];
  if (!strcmp(word, "subscribe") || !strcmp(word, "unsubscribe")) {
    c->subscribed = word[0] == 's';
    int len = snprintf(s->reply, sizeof s->reply, "{\"reply\":\"%s\",\"subscribed\":%s}", word,
                       c->subscribed ? "true" : "false");
    return reply(s, i, s->reply, (size_t)len);
  }
  if (!strcmp(word, "help")) {
    static const char h[] = "{\"reply\":\"help\",\"commands\":[\"status\",\"reset\",\"subscribe\","
                            "\"unsubscribe\",\"version\",\"help\"]}";
    return reply(s, i, h, sizeof h - 1);
  }
  if (strcmp(word, "status") && strcmp(word, "reset") && strcmp(word, "version")) {
    char msg[96];
    snprintf(msg, sizeof msg, "unknown command '%s' (send 'help')", word);
    return reply_error(s, i, msg);
  }
  size_t len = s->fn(s->user, word, s->reply, sizeof s->reply);
  return len ? reply(s, i, s->reply, len) : 0;
}

/* Read what the client sent; -1 when it was dropped. */
static int read_client(mgc_server *s, int i) {
  char buf[4096];
  ssize_t r = recv(s->c[i].fd, buf, sizeof buf, MSG_DONTWAIT);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    drop(s, i, r == 0 ? "closed" : strerror(errno));
    return -1;
  }
  for (ssize_t k = 0; k < r; k++) {
    client *c = &s->c[i];
    char ch = buf[k];
    if (ch == '\n') {
      if (c->discarding) {
        c->discarding = 0;
        continue;
      }
      c->in[c->in_len] = 0;
      c->in_len = 0;
      if (command(s, i, c->in) < 0) return -1;
    } else if (c->discarding) {
      continue;
    } else if (ch == 0 || c->in_len == c->in_cap) {
      c->discarding = 1;
      c->in_len = 0;
      char msg[64];
      snprintf(msg, sizeof msg, "command line too long (max %zu bytes)", c->in_cap);
      if (reply_error(s, i, ch == 0 ? "NUL byte in command" : msg) < 0) return -1;
    } else {
      c->in[c->in_len++] = ch;
    }
  }
  return 0;
}

int mgc_server_pollfds(mgc_server *s, struct pollfd *fds, int cap) {
  int n = 0;
  if (cap < 1) return 0;
  fds[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
  for (int i = 0; i < s->n && n < cap; i++)
    fds[n++] = (struct pollfd){.fd = s->c[i].fd,
                               .events = (short)(POLLIN | (s->c[i].tail > s->c[i].head ? POLLOUT : 0))};
  return n;
}

static int find(const mgc_server *s, int fd) {
  for (int i = 0; i < s->n; i++)
    if (s->c[i].fd == fd) return i;
  return -1;
}

void mgc_server_service(mgc_server *s, const struct pollfd *fds, int n, double now) {
  for (int k = 1; k < n; k++) {
    if (!fds[k].revents) continue;
    int i = find(s, fds[k].fd); /* indices move as clients are dropped */
    if (i < 0) continue;
    if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (read_client(s, i) < 0) continue;
    }
    if (fds[k].revents & POLLOUT) {
      if (flush_client(&s->c[i]) < 0) drop(s, i, "write failed");
    }
  }
  if (n > 0 && (fds[0].revents & POLLIN)) accept_clients(s);
  for (int i = 0; i < s->n; i++) {
    client *c = &s->c[i];
    if (c->full_since > 0 && now - c->full_since > s->p.client_timeout_s) {
      s->cut++;
      mgc_log(MGC_LOG_WARN, "client %u cut off: it has not read for %.1f s (%lu events skipped)", c->id,
              now - c->full_since, c->skipped);
      drop(s, i--, "not reading");
    }
  }
}

void mgc_server_broadcast(mgc_server *s, const char *line, size_t len, double now) {
  for (int i = 0; i < s->n; i++) {
    client *c = &s->c[i];
    if (!c->subscribed) continue;
    if (c->skipped) {
      /* Tell it what it missed, but only together with the new event. */
      char note[96];
      int m = snprintf(note, sizeof note, "{\"event\":\"skipped\",\"count\":%lu}", c->skipped);
      if (c->cap - (c->tail - c->head) < (size_t)m + 1 + len + 1) {
        c->skipped++;
        s->skipped++;
        continue;
      }
      queue(c, note, (size_t)m);
      c->skipped = 0;
    }
    if (!queue(c, line, len)) {
      if (!c->skipped) c->full_since = now;
      c->skipped++;
      s->skipped++;
      continue;
    }
    c->full_since = 0;
    if (flush_client(c) < 0) drop(s, i--, "write failed");
  }
}

int mgc_server_clients(const mgc_server *s) { return s->n; }
unsigned long mgc_server_cut(const mgc_server *s) { return s->cut; }
unsigned long mgc_server_skipped(const mgc_server *s) { return s->skipped; }
unsigned long mgc_server_refused(const mgc_server *s) { return s->refused; }

void mgc_server_drain(mgc_server *s, double timeout_s) {
  for (int waited = 0; waited < (int)(timeout_s * 100); waited++) {
    int pending = 0;
    for (int i = 0; i < s->n; i++) {
      if (flush_client(&s->c[i]) < 0) drop(s, i--, "write failed");
      else pending += s->c[i].tail > s->c[i].head;
    }
    if (!pending) return;
    usleep(10000);
  }
}

void mgc_server_free(mgc_server *s) {
  if (!s) return;
  while (s->n) drop(s, s->n - 1, "shutdown");
  free(s->c);
  if (s->spare >= 0) close(s->spare);
  close(s->fd);
  unlink(s->path);
  free(s);
}
