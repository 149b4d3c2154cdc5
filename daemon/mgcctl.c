/* mgcctl: talk to mgcd over its socket (daemon/PROTOCOL.md).
 *
 *   mgcctl [--socket PATH] [--json] [--timeout S] watch|events|status|reset|version
 *
 * Exit status: 0 ok, 1 the daemon replied with an error or could not be
 * reached / understood, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mgc/util/parse.h"

#ifndef MGC_VERSION
#define MGC_VERSION "unknown"
#endif

#define PROTOCOL 1
/* PROTOCOL.md caps lines at 64 KiB; a little slack before calling it garbage. */
#define MAX_LINE (1u << 20)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static volatile sig_atomic_t g_stop, g_winch;

static void on_stop(int sig) {
  (void)sig;
  g_stop = 1;
}
static void on_winch(int sig) {
  (void)sig;
  g_winch = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgcctl [--socket PATH] [--json] [--timeout S] COMMAND\n"
          "commands:\n"
          "  watch     live view of the current track's genre (one line a window when\n"
          "            stdout is not a terminal); ends when the daemon's input ends\n"
          "  events    the raw event stream, one JSON object a line (= watch --json)\n"
          "  status    what the daemon is doing\n"
          "  reset     start a new track now (forget the current decision)\n"
          "  version   daemon and protocol version, model in use\n"
          "options:\n"
          "  --socket PATH  mgcd's socket (default $MGCD_SOCKET, else " MGC_SOCKET_DEFAULT_PATH ")\n"
          "  --json         print the daemon's lines verbatim instead of text\n"
          "  --timeout S    give up after S seconds without a reply (default 5; 0 = wait\n"
          "                 forever); watch and events only wait this long for the hello\n");
}

/* ---- connection ---------------------------------------------------------- */

typedef struct conn {
  int fd;
  const char *path;
  char *buf;
  size_t len, cap, used; /* buf[0..len) read, the first `used` bytes already returned */
} conn;

typedef enum { LINE_OK, LINE_EOF, LINE_TIMEOUT, LINE_INTR, LINE_ERR, LINE_TOOLONG } line_status;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Why connect() failed, in words a user can act on. */
static void explain_connect_error(const char *path, int err) {
  fprintf(stderr, "mgcctl: cannot connect to %s: ", path);
  struct stat st;
  int st_ok = stat(path, &st) == 0;
  if (err == ENOENT || (!st_ok && errno == ENOENT)) {
    fprintf(stderr,
            "it does not exist.\n"
            "Is mgcd running (systemctl status mgcd)? Another socket: --socket PATH or "
            "$MGCD_SOCKET.\n");
  } else if (err == EACCES || err == EPERM) {
    fprintf(stderr, "permission denied.\n");
    if (st_ok) {
      struct group *g = getgrgid(st.st_gid);
      char gname[64];
      if (g)
        snprintf(gname, sizeof gname, "%s", g->gr_name);
      else
        snprintf(gname, sizeof gname, "%lu", (unsigned long)st.st_gid);
      fprintf(stderr,
              "The socket is mode %04o, group '%s': add yourself to that group "
              "(sudo usermod -aG %s $USER, then log in again),\n"
              "or choose another group with socket.group in " MGC_CONFIG_DEFAULT_PATH ".\n",
              (unsigned)(st.st_mode & 07777), gname, gname);
    } else {
      fprintf(stderr,
              "Its directory is not accessible to you; mgcd's socket is meant for the "
              "'audio' group\n(socket.group in " MGC_CONFIG_DEFAULT_PATH ").\n");
    }
  } else if (st_ok && !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "it exists but is not a socket.\n");
  } else if (err == ECONNREFUSED) {
    fprintf(stderr,
            "it exists but nobody is listening (left behind by an mgcd that is no longer "
            "running?).\n");
  } else {
    fprintf(stderr, "%s.\n", strerror(err));
  }
}

static int conn_open(conn *c, const char *path) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->path = path;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "mgcctl: socket path too long (%zu bytes, at most %zu): %s\n", strlen(path),
            sizeof sa.sun_path - 1, path);
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path));
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    fprintf(stderr, "mgcctl: socket: %s\n", strerror(errno));
    return -1;
  }
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    explain_connect_error(path, errno);
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

static void conn_close(conn *c) {
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static int conn_send(conn *c, const char *line) {
  size_t n = strlen(line), off = 0;
  while (off < n) {
    /* MSG_NOSIGNAL: a daemon that went away is an error message, not SIGPIPE. */
    ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET)
        fprintf(stderr, "mgcctl: mgcd at %s closed the connection\n", c->path);
      else
        fprintf(stderr, "mgcctl: sending to %s: %s\n", c->path, strerror(errno));
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}

/* The next line (without its newline, NUL-terminated, valid until the next
 * call). deadline is on the now_s() clock; <= 0 waits forever. A signal
 * returns LINE_INTR so that the caller can look at its flags. */
static line_status conn_read_line(conn *c, double deadline, char **line) {
  if (c->used) {
    memmove(c->buf, c->buf + c->used, c->len - c->used);
    c->len -= c->used;
    c->used = 0;
  }
  size_t scanned = 0;
  for (;;) {
    char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
    if (nl) {
      *nl = 0;
      c->used = (size_t)(nl - c->buf) + 1;
      if (nl > c->buf && nl[-1] == '\r') nl[-1] = 0;
      *line = c->buf;
      return LINE_OK;
    }
    scanned = c->len;
    if (c->len >= MAX_LINE) return LINE_TOOLONG;
    int wait_ms = -1;
    if (deadline > 0) {
      double left = deadline - now_s();
      if (left <= 0) return LINE_TIMEOUT;
      wait_ms = (int)ceil(left * 1000.0);
    }
    /* Short slices: a signal that lands just before poll() is still seen. */
    if (wait_ms < 0 || wait_ms > 250) wait_ms = 250;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, wait_ms);
    if (r < 0) {
      if (errno == EINTR) return LINE_INTR;
      return LINE_ERR;
    }
    if (r == 0) {
      if (g_stop) return LINE_INTR;
      continue; /* the deadline check above decides */
    }
    if (c->cap - c->len < 4096) {
      size_t cap = c->cap ? 2 * c->cap : 16384;
      char *b = realloc(c->buf, cap + 1);
      if (!b) return LINE_ERR;
      c->buf = b;
      c->cap = cap;
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n < 0) {
      if (errno == EINTR) return LINE_INTR;
      if (errno == ECONNRESET) return LINE_EOF;
      return LINE_ERR;
    }
    if (n == 0) return LINE_EOF; /* a partial last line is dropped with the connection */
    c->len += (size_t)n;
  }
}

/* Report a read failure other than a line; returns the exit status. */
static int report_line_status(const conn *c, line_status s, double timeout) {
  switch (s) {
  case LINE_EOF:
    fprintf(stderr, "mgcctl: mgcd at %s closed the connection\n", c->path);
    break;
  case LINE_TIMEOUT:
    fprintf(stderr, "mgcctl: no reply from mgcd at %s within %g s (--timeout)\n", c->path,
            timeout);
    break;
  case LINE_TOOLONG:
    fprintf(stderr, "mgcctl: malformed reply from mgcd at %s: a line longer than %u bytes\n",
            c->path, MAX_LINE);
    break;
  case LINE_INTR:
    break;
  default:
    fprintf(stderr, "mgcctl: reading from %s: %s\n", c->path, strerror(errno));
    break;
  }
  return EXIT_FAIL;
}

/* Parse one line as a JSON object; NULL (and a message) when it is not. */
static json_t *parse_line(const conn *c, const char *line) {
  json_error_t err;
  json_t *j = json_loads(line, 0, &err);
  if (!j || !json_is_object(j)) {
    fprintf(stderr, "mgcctl: malformed line from mgcd at %s (%s): %.200s\n", c->path,
            j ? "not a JSON object" : err.text, line);
    json_decref(j);
    return NULL;
  }
  return j;
}

/* ---- JSON helpers -------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int jnum(const json_t *o, const char *k, double *v) {
  json_t *x = json_object_get(o, k);
  if (!json_is_number(x)) return 0;
  *v = json_number_value(x);
  return 1;
}

static long jint(const json_t *o, const char *k, long dflt) {
  double v;
  return jnum(o, k, &v) ? (long)v : dflt;
}

static int has_event(const json_t *o, const char *name) {
  const char *e = jstr(o, "event");
  return e && !strcmp(e, name);
}

static void check_protocol(const json_t *hello) {
  long p = jint(hello, "protocol", PROTOCOL);
  if (p != PROTOCOL)
    fprintf(stderr, "mgcctl: warning: mgcd speaks protocol %ld, this mgcctl knows %d\n", p,
            PROTOCOL);
}

typedef struct {
  const char *name;
  double p;
} prob;

static int cmp_prob_desc(const void *a, const void *b) {
  double x = ((const prob *)a)->p, y = ((const prob *)b)->p;
  return (x < y) - (x > y);
}

/* The (name, p) pairs of a probs object, highest first; *n of them (caller frees). */
static prob *sorted_probs(const json_t *probs, size_t *n) {
  *n = 0;
  if (!json_is_object(probs) || json_object_size(probs) == 0) return NULL;
  prob *v = calloc(json_object_size(probs), sizeof *v);
  if (!v) return NULL;
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)probs, k, x) {
    if (!json_is_number(x)) continue;
    v[*n].name = k;
    v[*n].p = json_number_value(x);
    (*n)++;
  }
  qsort(v, *n, sizeof *v, cmp_prob_desc);
  return v;
}

/* "rock 61% (12 windows, track 3)", "not sure: rock 41%, metal 30%, blues
 * 12% (...)" below the daemon's min_confidence, or "no decision yet (track 3)". */
static void decision_text(const json_t *d, char *buf, size_t cap) {
  long track = jint(d, "track", -1);
  const char *genre = jstr(d, "genre");
  char tr[32] = "";
  if (track >= 0) snprintf(tr, sizeof tr, "track %ld", track);
  json_t *cand = json_object_get(d, "candidates");
  if (!genre && json_is_true(json_object_get(d, "uncertain")) && json_array_size(cand) > 0) {
    size_t o = (size_t)snprintf(buf, cap, "not sure:");
    for (size_t i = 0; i < json_array_size(cand) && o < cap; i++) {
      json_t *c = json_array_get(cand, i);
      const char *name = json_string_value(json_array_get(c, 0));
      o += (size_t)snprintf(buf + o, cap - o, "%s %s %.0f%%", i ? "," : "", name ? name : "?",
                            100.0 * json_number_value(json_array_get(c, 1)));
    }
    if (o < cap && *tr) snprintf(buf + o, cap - o, " (%s)", tr);
    return;
  }
  if (!genre) {
    snprintf(buf, cap, "no decision yet%s%s%s", *tr ? " (" : "", tr, *tr ? ")" : "");
    return;
  }
  double conf = 0;
  jnum(d, "confidence", &conf);
  long w = jint(d, "windows", 0);
  snprintf(buf, cap, "%s %.0f%% (%ld window%s%s%s)", genre, 100.0 * conf, w, w == 1 ? "" : "s",
           *tr ? ", " : "", tr);
}

/* ---- status / reset / version ------------------------------------------- */

static void print_duration(double s) {
  long t = (long)(s + 0.5);
  if (t >= 86400)
    printf("%ldd %02ldh %02ldm %02lds\n", t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
  else if (t >= 3600)
    printf("%ldh %02ldm %02lds\n", t / 3600, t / 60 % 60, t % 60);
  else if (t >= 60)
    printf("%ldm %02lds\n", t / 60, t % 60);
  else
    printf("%lds\n", t);
}

static void print_status(const json_t *r, const char *path) {
  double v;
  const char *s;
  printf("mgcd at %s\n", path);
  if ((s = jstr(r, "state"))) printf("  state       %s\n", s);
  if ((s = jstr(r, "input"))) printf("  input       %s\n", s);
  if ((s = jstr(r, "model"))) printf("  model       %s\n", s);
  if (jnum(r, "uptime", &v)) {
    printf("  uptime      ");
    print_duration(v);
  }
  if (jnum(r, "audio_s", &v)) {
    printf("  audio       %.1f s", v);
    if (json_is_number(json_object_get(r, "windows")))
      printf(" in %ld windows", jint(r, "windows", 0));
    printf("\n");
  }
  if (json_is_number(json_object_get(r, "track"))) printf("  track       %ld\n", jint(r, "track", 0));
  json_t *d = json_object_get(r, "decision");
  if (json_is_object(d)) {
    char buf[256];
    decision_text(d, buf, sizeof buf);
    printf("  decision    %s\n", buf);
    size_t n;
    prob *p = sorted_probs(json_object_get(d, "probs"), &n);
    if (p && jstr(d, "genre")) {
      printf("             ");
      for (size_t i = 0; i < n && i < 5; i++) printf(" %s %.0f%%", p[i].name, 100.0 * p[i].p);
      printf("\n");
    }
    free(p);
  }
  if (jnum(r, "rms_db", &v)) printf("  level       %.1f dB\n", v);
  if (json_is_number(json_object_get(r, "overruns")))
    printf("  overruns    %ld\n", jint(r, "overruns", 0));
  if (json_is_number(json_object_get(r, "clients")))
    printf("  clients     %ld\n", jint(r, "clients", 0));
  if (json_is_number(json_object_get(r, "reconnects")))
    printf("  reconnects  %ld\n", jint(r, "reconnects", 0));
}

/* Send one command and wait for its reply, skipping the hello and the
 * events that arrive first. */
static int cmd_request(conn *c, const char *cmd, int json_out, double timeout) {
  char line_out[64];
  snprintf(line_out, sizeof line_out, "%s\n", cmd);
  if (conn_send(c, line_out) != 0) return EXIT_FAIL;
  double deadline = timeout > 0 ? now_s() + timeout : 0;
  for (;;) {
    char *line;
    line_status s = conn_read_line(c, deadline, &line);
    if (s == LINE_INTR) continue;
    if (s != LINE_OK) return report_line_status(c, s, timeout);
    json_t *j = parse_line(c, line);
    if (!j) return EXIT_FAIL;
    if (has_event(j, "hello")) check_protocol(j);
    const char *reply = jstr(j, "reply");
    if (!reply || (strcmp(reply, cmd) && strcmp(reply, "error"))) {
      json_decref(j);
      continue;
    }
    int is_error = !strcmp(reply, "error");
    if (json_out) {
      printf("%s\n", line);
    } else if (is_error) {
      const char *e = jstr(j, "error");
      fprintf(stderr, "mgcctl: mgcd refused '%s': %s\n", cmd, e ? e : "(no reason given)");
    } else if (!strcmp(cmd, "status")) {
      print_status(j, c->path);
    } else if (!strcmp(cmd, "reset")) {
      long t = jint(j, "track", -1);
      if (t >= 0)
        printf("new track %ld\n", t);
      else
        printf("reset\n");
    } else if (!strcmp(cmd, "version")) {
      const char *v = jstr(j, "version"), *m = jstr(j, "model");
      printf("mgcctl %s\n", MGC_VERSION);
      printf("mgcd %s (protocol %ld)\n", v ? v : "?", jint(j, "protocol", 0));
      if (m) printf("model %s\n", m);
    }
    json_decref(j);
    return is_error ? EXIT_FAIL : EXIT_OK;
  }
}

/* ---- watch / events ------------------------------------------------------ */

typedef struct view {
  int tty, utf8;
  json_t *classes; /* array of names from hello / reloaded */
  json_t *win;     /* last window event */
  char header[512];
  char state[640]; /* running / silence / input lost */
  char last[640];  /* the last status event in words */
  int drawn;       /* lines on screen from the last redraw */
} view;

/* Write s as one screen line of at most cols-1 columns (so that it never
 * wraps and the cursor arithmetic of the redraw stays right). */
static void put_screen_line(const char *s, int cols) {
  int col = 0;
  fputs("\r\x1b[2K", stdout);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    if (*p == 0x1b) { /* CSI sequence: no width */
      const unsigned char *q = p + 1;
      if (*q == '[') {
        q++;
        while (*q && !(*q >= 0x40 && *q <= 0x7e)) q++;
        if (*q) q++;
      }
      fwrite(p, 1, (size_t)(q - p), stdout);
      p = q;
      continue;
    }
    size_t len = 1;
    if (*p >= 0xc0) /* a UTF-8 lead byte and its continuation bytes: one column */
      while ((p[len] & 0xc0) == 0x80) len++;
    if (col >= cols - 1) {
      p += len;
      continue;
    }
    fwrite(p, 1, len, stdout);
    col++;
    p += len;
  }
  fputs("\x1b[0m\n", stdout);
}

static void bar(char *out, size_t cap, double frac, int width, int utf8) {
  if (!(frac > 0)) frac = 0; /* NaN too */
  if (frac > 1) frac = 1;
  int full = (int)lround(frac * width);
  size_t o = 0;
  for (int i = 0; i < width && o + 4 < cap; i++) {
    const char *cell = i < full ? (utf8 ? "\xe2\x96\x88" : "#") : (utf8 ? "\xe2\x96\x91" : ".");
    size_t l = strlen(cell);
    memcpy(out + o, cell, l);
    o += l;
  }
  out[o] = 0;
}

static void screen_size(int *cols, int *rows) {
  struct winsize ws;
  *cols = 80;
  *rows = 24;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    *cols = ws.ws_col;
    *rows = ws.ws_row;
  }
}

static void view_redraw(view *v) {
  int cols, rows;
  screen_size(&cols, &rows);
  enum { MAXL = 300 };
  static char lines[MAXL][1024];
  int n = 0;
#define LINE(...) snprintf(lines[n < MAXL ? n++ : n - 1], sizeof lines[0], __VA_ARGS__)
  LINE("%s", v->header);
  json_t *d = v->win ? json_object_get(v->win, "decision") : NULL;
  char dec[256];
  if (d) {
    decision_text(d, dec, sizeof dec);
    LINE("\x1b[1m%s\x1b[0m", dec);
  } else {
    LINE("waiting for the first window...");
  }
  LINE("%s", "");

  /* Fixed order (the model's class list) so that bars do not jump around. */
  json_t *probs = d ? json_object_get(d, "probs") : NULL;
  const char *winner = d ? jstr(d, "genre") : NULL;
  size_t nc = json_array_size(v->classes);
  int namew = 6; /* "window" */
  for (size_t i = 0; i < nc; i++) {
    const char *name = json_string_value(json_array_get(v->classes, i));
    if (name && (int)strlen(name) > namew) namew = (int)strlen(name);
  }
  if (namew > 20) namew = 20;
  int barw = cols - namew - 12;
  if (barw > 50) barw = 50;
  if (barw < 5) barw = 5;
  /* Leave room for the lines below the bars on small terminals. */
  int room = rows - 9;
  for (size_t i = 0; i < nc && (int)i < room && n < MAXL - 8; i++) {
    const char *name = json_string_value(json_array_get(v->classes, i));
    if (!name) continue;
    double p = 0;
    json_t *x = json_object_get(probs, name);
    if (json_is_number(x)) p = json_number_value(x);
    char b[256];
    bar(b, sizeof b, p, barw, v->utf8);
    int win = winner && !strcmp(winner, name);
    LINE("%s  %-*.*s %s %3.0f%%%s", win ? "\x1b[1m" : "", namew, namew, name, b, 100.0 * p,
         win ? "\x1b[0m" : "");
  }
  LINE("%s", "");

  double rms;
  if (v->win && jnum(v->win, "rms_db", &rms)) {
    char b[256];
    /* -60 dB (quiet room) .. 0 dB (full scale). */
    bar(b, sizeof b, (rms + 60.0) / 60.0, barw, v->utf8);
    LINE("  %-*s %s %5.1f dB", namew, "level", b, rms);
  } else {
    LINE("  %-*s", namew, "level");
  }
  if (v->win) {
    double t = 0, te = 0;
    jnum(v->win, "t", &t);
    jnum(v->win, "t_end", &te);
    char what[128] = "silent";
    json_t *wp = json_object_get(v->win, "probs");
    if (!json_is_true(json_object_get(v->win, "silent"))) {
      size_t np;
      prob *p = sorted_probs(wp, &np);
      if (np) snprintf(what, sizeof what, "%s %.0f%%", p[0].name, 100.0 * p[0].p);
      free(p);
    }
    LINE("  %-*s #%ld at %.1f-%.1f s: %s", namew, "window", jint(v->win, "index", 0), t, te, what);
  }
  LINE("  %-*s %s", namew, "state", v->state);
  if (*v->last) LINE("  %-*s %s", namew, "last", v->last);
#undef LINE

  if (v->drawn > 0) printf("\x1b[%dA", v->drawn);
  for (int i = 0; i < n; i++) put_screen_line(lines[i], cols);
  fputs("\x1b[J", stdout);
  fflush(stdout);
  v->drawn = n;
}

/* One event in words (for the plain output and the tty's "last" line);
 * 0 when it is not a status event. */
static int event_text(const json_t *e, char *buf, size_t cap) {
  const char *ev = jstr(e, "event");
  double t = 0, x = 0;
  jnum(e, "t", &t);
  if (!ev) return 0;
  if (!strcmp(ev, "silence")) {
    jnum(e, "rms_db", &x);
    snprintf(buf, cap, "silence at %.1f s (%.1f dB)", t, x);
  } else if (!strcmp(ev, "sound")) {
    const char *sd = jstr(e, "sound");
    size_t o = (size_t)snprintf(buf, cap, "%s at %.1f s", sd && !strcmp(sd, "no_music") ? "no music" : sd ? sd : "?", t);
    if (jnum(e, "music", &x) && o < cap) snprintf(buf + o, cap - o, " (music %.0f%%)", 100.0 * x);
  } else if (!strcmp(ev, "new_track")) {
    const char *r = jstr(e, "reason");
    snprintf(buf, cap, "new track %ld (%s) at %.1f s", jint(e, "track", 0), r ? r : "?", t);
  } else if (!strcmp(ev, "input_lost")) {
    const char *r = jstr(e, "reason");
    jnum(e, "retry_in", &x);
    snprintf(buf, cap, "input lost: %s (retrying in %.1f s)", r ? r : "?", x);
  } else if (!strcmp(ev, "input_regained")) {
    const char *r = jstr(e, "input");
    snprintf(buf, cap, "input regained: %s", r ? r : "?");
  } else if (!strcmp(ev, "overrun")) {
    snprintf(buf, cap, "overrun: %ld samples dropped (mgcd fell behind)", jint(e, "samples", 0));
  } else if (!strcmp(ev, "skipped")) {
    snprintf(buf, cap, "skipped %ld events (this client read too slowly)", jint(e, "count", 0));
  } else if (!strcmp(ev, "reloaded")) {
    const char *m = jstr(e, "model");
    snprintf(buf, cap, "reloaded (model %s)", m ? m : "?");
  } else if (!strcmp(ev, "reload_failed")) {
    const char *r = jstr(e, "error");
    snprintf(buf, cap, "reload failed, the old configuration keeps running: %s", r ? r : "?");
  } else if (!strcmp(ev, "end")) {
    char dec[256] = "";
    json_t *d = json_object_get(e, "decision");
    if (json_is_object(d)) decision_text(d, dec, sizeof dec);
    snprintf(buf, cap, "input ended at %.1f s after %ld windows%s%s", t, jint(e, "windows", 0),
             *dec ? "; final decision: " : "", dec);
  } else {
    return 0;
  }
  return 1;
}

static void clock_text(char *buf, size_t cap) {
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(buf, cap, "%H:%M:%S", &tm);
}

/* Plain mode: one line a window, and one for each status event. */
static void plain_event(const json_t *e) {
  char buf[1024];
  if (has_event(e, "window")) {
    double t = 0, te = 0, rms = 0;
    jnum(e, "t", &t);
    jnum(e, "t_end", &te);
    int have_rms = jnum(e, "rms_db", &rms);
    char dec[256] = "no decision";
    json_t *d = json_object_get(e, "decision");
    if (json_is_object(d)) decision_text(d, dec, sizeof dec);
    char what[128] = "silent";
    const char *sd = jstr(e, "sound");
    double pm = 0;
    if (sd && !strcmp(sd, "no_music") && !json_object_get(d, "probs")) snprintf(dec, sizeof dec, "no music");
    if (!json_is_true(json_object_get(e, "silent")) && !json_object_get(e, "probs")) {
      if (jnum(e, "music", &pm)) snprintf(what, sizeof what, "not music (music %.0f%%)", 100.0 * pm);
      else snprintf(what, sizeof what, "not music");
    } else if (!json_is_true(json_object_get(e, "silent"))) {
      size_t np;
      prob *p = sorted_probs(json_object_get(e, "probs"), &np);
      snprintf(what, sizeof what, "%s %.0f%%", np ? p[0].name : "?", np ? 100.0 * p[0].p : 0.0);
      free(p);
    }
    printf("%7.1f-%-7.1f %s | window: %s", t, te, dec, what);
    if (have_rms) printf(" | level %.1f dB", rms);
    printf("\n");
  } else if (has_event(e, "hello")) {
    const char *v = jstr(e, "version"), *in = jstr(e, "input"), *m = jstr(e, "model");
    printf("mgcd %s: %s; model %s\n", v ? v : "?", in ? in : "?", m ? m : "?");
  } else if (event_text(e, buf, sizeof buf)) {
    printf("%s\n", buf);
  }
  fflush(stdout);
}

static void view_event(view *v, json_t *e) {
  char buf[512], clk[16];
  if (has_event(e, "hello")) {
    const char *ver = jstr(e, "version"), *in = jstr(e, "input");
    snprintf(v->header, sizeof v->header, "mgcd %s  %s", ver ? ver : "?", in ? in : "");
    const char *st = jstr(e, "state");
    snprintf(v->state, sizeof v->state, "%s", st ? st : "running");
  } else if (has_event(e, "window")) {
    json_decref(v->win);
    v->win = json_incref(e);
    const char *sd = jstr(e, "sound");
    if (json_is_true(json_object_get(e, "silent")) || (sd && !strcmp(sd, "silence")))
      snprintf(v->state, sizeof v->state, "silence");
    else if (sd && !strcmp(sd, "no_music"))
      snprintf(v->state, sizeof v->state, "no music");
    else
      snprintf(v->state, sizeof v->state, "running");
  } else if (event_text(e, buf, sizeof buf)) {
    clock_text(clk, sizeof clk);
    snprintf(v->last, sizeof v->last, "%s  %s", clk, buf);
    if (has_event(e, "input_lost"))
      snprintf(v->state, sizeof v->state, "\x1b[1mINPUT LOST\x1b[0m: %s",
               buf + strlen("input lost: "));
    else if (has_event(e, "input_regained"))
      snprintf(v->state, sizeof v->state, "running");
    else if (has_event(e, "silence"))
      snprintf(v->state, sizeof v->state, "silence");
    else if (has_event(e, "end"))
      snprintf(v->state, sizeof v->state, "ended");
  }
  if ((has_event(e, "hello") || has_event(e, "reloaded")) &&
      json_is_array(json_object_get(e, "classes"))) {
    json_decref(v->classes);
    v->classes = json_incref(json_object_get(e, "classes"));
  }
  /* Classes from the decision when the hello did not name them. */
  if (!json_array_size(v->classes) && v->win) {
    json_t *probs = json_object_get(json_object_get(v->win, "decision"), "probs");
    if (json_is_object(probs)) {
      json_decref(v->classes);
      v->classes = json_array();
      const char *k;
      json_t *x;
      json_object_foreach(probs, k, x) json_array_append_new(v->classes, json_string(k));
    }
  }
  view_redraw(v);
}

static int cmd_watch(conn *c, int json_out, double timeout) {
  view v;
  memset(&v, 0, sizeof v);
  const char *term = getenv("TERM");
  v.tty = !json_out && isatty(STDOUT_FILENO) && !(term && !strcmp(term, "dumb"));
  if (v.tty) {
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    v.utf8 = cs && !strcmp(cs, "UTF-8");
    snprintf(v.header, sizeof v.header, "mgcd at %s", c->path);
    snprintf(v.state, sizeof v.state, "connecting");
    fputs("\x1b[?25l", stdout); /* hide the cursor while redrawing */
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: poll must return to notice */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_winch;
  sigaction(SIGWINCH, &sa, NULL);

  int rc = EXIT_OK, got_hello = 0;
  double deadline = timeout > 0 ? now_s() + timeout : 0;
  while (!g_stop) {
    char *line;
    line_status s = conn_read_line(c, got_hello ? 0 : deadline, &line);
    if (s == LINE_INTR) {
      if (g_winch && v.tty && !g_stop) view_redraw(&v);
      g_winch = 0;
      continue;
    }
    if (s == LINE_EOF && got_hello) {
      if (v.tty) {
        snprintf(v.state, sizeof v.state, "mgcd closed the connection");
        view_redraw(&v);
      } else if (!json_out) {
        fprintf(stderr, "mgcctl: mgcd at %s closed the connection\n", c->path);
      }
      break;
    }
    if (s != LINE_OK) {
      rc = report_line_status(c, s, timeout);
      break;
    }
    json_t *e = parse_line(c, line);
    if (!e) {
      rc = EXIT_FAIL;
      break;
    }
    if (has_event(e, "hello")) {
      got_hello = 1;
      check_protocol(e);
    }
    if (json_out) {
      printf("%s\n", line);
      fflush(stdout);
    } else if (v.tty) {
      view_event(&v, e);
    } else {
      plain_event(e);
    }
    int end = has_event(e, "end");
    json_decref(e);
    if (end) break;
  }
  if (v.tty) {
    fputs("\x1b[0m\x1b[?25h", stdout); /* whatever happened, give the cursor back */
    fflush(stdout);
  }
  json_decref(v.win);
  json_decref(v.classes);
  return rc;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  const char *sock = getenv("MGCD_SOCKET");
  if (!sock || !*sock) sock = MGC_SOCKET_DEFAULT_PATH;
  int json_out = 0;
  double timeout = 5.0;
  static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                       {"json", no_argument, 0, 'j'},
                                       {"timeout", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "s:jt:h", opts, NULL)) != -1) {
    switch (o) {
    case 's':
      sock = optarg;
      break;
    case 'j':
      json_out = 1;
      break;
    case 't':
      if (mgc_parse_double("--timeout", optarg, 0, 1e6, &timeout) != MGC_OK) {
        fprintf(stderr, "mgcctl: %s\n", mgc_error_message());
        return EXIT_USAGE;
      }
      break;
    case 'h':
      usage(stdout);
      return EXIT_OK;
    case 'V':
      printf("mgcctl %s\n", MGC_VERSION);
      return EXIT_OK;
    default:
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, optind >= argc ? "mgcctl: no command given\n" : "mgcctl: one command only\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[optind];
  int watch = !strcmp(cmd, "watch"), events = !strcmp(cmd, "events");
  if (!watch && !events && strcmp(cmd, "status") && strcmp(cmd, "reset") &&
      strcmp(cmd, "version")) {
    fprintf(stderr, "mgcctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
  }
  if (!*sock) {
    fprintf(stderr, "mgcctl: empty socket path\n");
    return EXIT_USAGE;
  }

  conn c;
  if (conn_open(&c, sock) != 0) return EXIT_FAIL;
  int rc = watch || events ? cmd_watch(&c, json_out || events, timeout)
                           : cmd_request(&c, cmd, json_out, timeout);
  conn_close(&c);
  if (fflush(stdout) != 0 && rc == EXIT_OK) rc = EXIT_FAIL;
  return rc;
}
