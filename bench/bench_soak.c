/* mgcd for hours, as clients come and go: the soak (bench/soak) and the
 * hostile-client run (bench/soak --hostile), and their short versions in
 * ctest.
 *
 *   bench_soak --mgcd BIN --model M --clip AUDIO [--hours H] [--speed X]
 *              [--hup-every S] [--burst-every S] [--rss-after-hours A]
 *              [--csv FILE] [--seed N]
 *   bench_soak --hostile --mgcd BIN --model M --clip AUDIO [--flood N]
 *              [--line-mb MB] [--random-mb MB]
 *
 * Soak: `mgcd --input - --raw 22050:1:s16 --fast` classifies the clip,
 * looped to H hours (10) of audio, fed at X times real time (0, the default:
 * as fast as mgcd reads). Meanwhile one client reads every event and checks
 * that windows arrive in order with none skipped; bursts of 1-40 clients
 * (bench/soak_clients.c: commands, garbage, 1 MB lines, never reading, half
 * lines, hang-ups) come every S seconds (10) and leave, after which the
 * daemon's open descriptors must be back to where they were before the
 * first burst; every S seconds (60) the configuration is rewritten and the
 * daemon sent SIGHUP, one time in three with a bad model or a bad
 * configuration, and the matching `reloaded` or `reload_failed` must come.
 * RSS and descriptors are sampled every second (--csv keeps them). RSS may
 * grow by at most 1 MB from the end of the first A hours of audio (1) to
 * the end. At the end SIGTERM must stop mgcd, exit status 0, within 1 s.
 *
 * Hostile: the clip at real time while one client reads the events and
 * another sends `status` every 0.25 s, through three attacks 8 s apart:
 * N connection attempts at once (1000), a line of MB megabytes with no
 * newline (100), MB megabytes of random bytes (100). Per phase, the longest
 * wait between two windows beyond the hop, and the slowest status reply,
 * must stay under 0.5 s.
 *
 * Prints progress on stderr and a JSON summary as the last stdout line;
 * exit 1 when a criterion failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "mgc/audio/audio.h"
#include "soak.h"

#define RATE 22050

static struct rlimit g_files; /* the descriptor limit mgcd gets: this program's own, before raising it */

typedef struct opts {
  const char *mgcd, *model, *clip, *csv;
  double hours, speed, hup_every, burst_every, rss_after_h;
  int hostile, flood;
  double line_mb, random_mb;
  uint64_t seed;
} opts;

/* ---- the daemon ---- */

typedef struct daemon_proc {
  pid_t pid;
  int stdin_w;
  char dir[64], cfg[96], sock[96], bad_model[96], err[96];
} daemon_proc;

enum { CFG_GOOD, CFG_BAD_MODEL, CFG_BAD_YAML };

static void write_config(const daemon_proc *d, const char *model, int kind) {
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s.new", d->cfg);
  FILE *f = fopen(tmp, "w");
  if (!f) bench_die("bench_soak", "cannot write the configuration");
  fprintf(f, "model: %s\nsocket:\n  path: %s\n  max_clients: 64\n  client_buffer: 64K\n"
             "  client_timeout: 1\nlog:\n  level: warn\n",
          kind == CFG_BAD_MODEL ? d->bad_model : model, d->sock);
  if (kind == CFG_BAD_YAML) fprintf(f, "aggregate: {horizon: [\n");
  fclose(f);
  rename(tmp, d->cfg); /* whole, never half-written when SIGHUP comes */
}

static void start_daemon(daemon_proc *d, const opts *o) {
  snprintf(d->dir, sizeof d->dir, "%s/mgc-soak-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(d->dir)) bench_die("bench_soak", "mkdtemp");
  snprintf(d->cfg, sizeof d->cfg, "%s/mgcd.yaml", d->dir);
  snprintf(d->sock, sizeof d->sock, "%s/mgcd.sock", d->dir);
  snprintf(d->err, sizeof d->err, "%s/mgcd.log", d->dir);
  snprintf(d->bad_model, sizeof d->bad_model, "%s/truncated.safetensors", d->dir);
  FILE *f = fopen(d->bad_model, "w"); /* a model file cut short */
  fwrite("\x40\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"format\"", 1, 33, f);
  fclose(f);
  write_config(d, o->model, CFG_GOOD);
  int p[2];
  if (pipe(p)) bench_die("bench_soak", "pipe");
  d->pid = fork();
  if (d->pid == 0) {
    int e = open(d->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(e, 2);
    dup2(p[0], 0);
    setrlimit(RLIMIT_NOFILE, &g_files);
    close(p[1]);
    execl(o->mgcd, o->mgcd, "--foreground", "--config", d->cfg, "--input", "-", "--raw", "22050:1:s16",
          "--fast", (char *)NULL);
    _exit(127);
  }
  close(p[0]);
  d->stdin_w = p[1];
  fcntl(d->stdin_w, F_SETFD, FD_CLOEXEC);
  for (int i = 0; i < 3000; i++) {
    int fd = soak_connect(d->sock);
    if (fd >= 0) {
      close(fd);
      return;
    }
    if (waitpid(d->pid, NULL, WNOHANG) == d->pid) break;
    usleep(10000);
  }
  fprintf(stderr, "bench_soak: mgcd did not start; its log: %s\n", d->err);
  exit(1);
}

static void remove_dir(const daemon_proc *d) {
  const char *files[] = {d->cfg, d->bad_model, d->err};
  for (int i = 0; i < 3; i++) unlink(files[i]);
  rmdir(d->dir);
}

/* ---- /proc ---- */

static long rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

static int open_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  int n = -1;
  struct dirent **names;
  int k = scandir(path, &names, NULL, NULL);
  if (k >= 0) {
    n = 0;
    for (int i = 0; i < k; i++) {
      n += names[i]->d_name[0] != '.';
      free(names[i]);
    }
    free(names);
  }
  return n;
}

/* ---- the feeder: the clip, looped, as s16 on mgcd's stdin ---- */

typedef struct feeder {
  int fd;
  const int16_t *pcm;
  size_t n;
  size_t total;      /* samples to write */
  double speed;      /* x real time; 0: as fast as the pipe takes them */
  atomic_size_t written;
  atomic_int done;
} feeder;

static void *feed(void *arg) {
  feeder *f = arg;
  size_t pos = 0, chunk = RATE / 10;
  double t0 = bench_now();
  while (atomic_load(&f->written) < f->total) {
    size_t w = atomic_load(&f->written);
    if (f->speed > 0) {
      double ahead = (double)w / RATE / f->speed - (bench_now() - t0);
      if (ahead > 0) usleep((useconds_t)(ahead * 1e6));
    }
    size_t m = chunk;
    if (m > f->n - pos) m = f->n - pos;
    if (m > f->total - w) m = f->total - w;
    ssize_t r = write(f->fd, f->pcm + pos, m * sizeof(int16_t));
    if (r <= 0) break;
    size_t got = (size_t)r / sizeof(int16_t); /* pipe writes of whole samples: PIPE_BUF multiples */
    atomic_fetch_add(&f->written, got);
    pos = (pos + got) % f->n;
  }
  atomic_store(&f->done, 1);
  return NULL;
}

static int16_t *load_clip(const char *path, size_t *n) {
  mgc_audio a;
  if (mgc_audio_load(path, RATE, &a)) bench_die("bench_soak", path);
  int16_t *pcm = malloc(a.n * sizeof *pcm);
  for (size_t i = 0; i < a.n; i++) {
    float v = a.samples[i] * 32767.0f;
    pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
  }
  *n = a.n;
  mgc_audio_free(&a);
  return pcm;
}

/* ---- the reading client ---- */

typedef struct reader {
  int fd;
  char buf[1 << 20];
  size_t len;
  long long windows, out_of_order, skipped;
  long long last_index;
  int reloaded_since; /* a `reloaded` came after the last window: the index restarts */
  double last_t_end, hop_s;
  int n_reloaded, n_reload_failed;
} reader;

/* One event line; returns its "event" name in kind (or "" for a reply). */
static void on_event(reader *r, json_t *o, char *kind, size_t cap) {
  const char *ev = json_string_value(json_object_get(o, "event"));
  snprintf(kind, cap, "%s", ev ? ev : "");
  if (!ev) return;
  if (!strcmp(ev, "hello")) {
    r->hop_s = json_real_value(json_object_get(o, "hop_s"));
  } else if (!strcmp(ev, "window")) {
    long long idx = json_integer_value(json_object_get(o, "index"));
    int ok = r->windows == 0 ? idx == 0 : idx == r->last_index + 1 || (r->reloaded_since && idx == 0);
    if (!ok) {
      r->out_of_order++;
      fprintf(stderr, "bench_soak: window %lld after %lld\n", idx, r->last_index);
    }
    r->last_index = idx;
    r->reloaded_since = 0;
    r->windows++;
    r->last_t_end = json_real_value(json_object_get(o, "t_end"));
  } else if (!strcmp(ev, "skipped")) {
    r->skipped += json_integer_value(json_object_get(o, "count"));
  } else if (!strcmp(ev, "reloaded")) {
    r->reloaded_since = 1;
    r->n_reloaded++;
  } else if (!strcmp(ev, "reload_failed")) {
    r->n_reload_failed++;
  }
}

/* Read what is there and handle each whole line; calls back with each
 * event's name. Returns 0 when the daemon hung up. */
static int reader_poll(reader *r, int timeout_ms, void (*seen)(void *, const char *, double), void *user) {
  struct pollfd p = {r->fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return 1;
  ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len, 0);
  if (n <= 0) return 0;
  r->len += (size_t)n;
  double now = bench_now();
  char *start = r->buf, *nl;
  while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->buf)))) {
    *nl = 0;
    json_t *o = json_loads(start, 0, NULL);
    char kind[32];
    if (o) {
      on_event(r, o, kind, sizeof kind);
      if (seen) seen(user, kind, now);
      json_decref(o);
    }
    start = nl + 1;
  }
  r->len -= (size_t)(start - r->buf);
  memmove(r->buf, start, r->len);
  return 1;
}

/* ---- soak ---- */

typedef struct churn {
  const char *sock;
  pid_t pid;
  double every;
  uint64_t seed;
  atomic_int stop;
  int baseline;
  /* results */
  int bursts, not_back, fd_max;
  double back_max_s;
  soak_burst_stats st;
} churn;

static void *churn_thread(void *arg) {
  churn *c = arg;
  soak_rng r = {c->seed};
  while (!atomic_load(&c->stop)) {
    double wait = soak_uniform(&r, 0.5, 1.5) * c->every;
    for (double t0 = bench_now(); bench_now() - t0 < wait && !atomic_load(&c->stop);) usleep(20000);
    if (atomic_load(&c->stop)) break;
    int n = 1 + (int)(soak_rand(&r) % 40);
    soak_burst(c->sock, &r, n, soak_uniform(&r, 0.2, 2.0), &c->st);
    c->bursts++;
    /* Every client closed: the daemon's descriptors must come back. */
    double t0 = bench_now();
    int fds;
    while ((fds = open_fds(c->pid)) > c->baseline && bench_now() - t0 < 5) usleep(10000);
    if (fds > c->fd_max) c->fd_max = fds;
    if (fds > c->baseline) {
      c->not_back++;
      fprintf(stderr, "bench_soak: %d descriptors 5 s after burst %d (baseline %d)\n", fds, c->bursts,
              c->baseline);
    }
    if (bench_now() - t0 > c->back_max_s) c->back_max_s = bench_now() - t0;
  }
  return NULL;
}

typedef struct sample {
  double wall, audio_s;
  long rss_kb;
  int fds;
} sample;

typedef struct soak_run {
  const opts *o;
  daemon_proc d;
  reader *rd;
  feeder fe;
  churn ch;
  sample *s;
  size_t n_s, cap_s;
  FILE *csv;
  int hups, expect_ok, expect_failed;
} soak_run;

static void take_sample(soak_run *x, double t0) {
  if (x->n_s == x->cap_s) {
    x->cap_s = x->cap_s ? 2 * x->cap_s : 4096;
    x->s = realloc(x->s, x->cap_s * sizeof *x->s);
  }
  sample v = {bench_now() - t0, x->rd->last_t_end, rss_kb(x->d.pid), open_fds(x->d.pid)};
  x->s[x->n_s++] = v;
  if (x->csv) fprintf(x->csv, "%.1f,%.1f,%ld,%d\n", v.wall, v.audio_s, v.rss_kb, v.fds);
}

/* SIGHUP with a good configuration, or one time in three a bad one. */
static void reload(soak_run *x) {
  int kind = x->hups % 3 == 2 ? (x->hups % 6 == 2 ? CFG_BAD_MODEL : CFG_BAD_YAML) : CFG_GOOD;
  write_config(&x->d, x->o->model, kind);
  kill(x->d.pid, SIGHUP);
  x->hups++;
  if (kind == CFG_GOOD) x->expect_ok++;
  else x->expect_failed++;
  usleep(200000);
  if (kind != CFG_GOOD) write_config(&x->d, x->o->model, CFG_GOOD); /* ready for the next */
}

static double stop_daemon(daemon_proc *d, int *status) {
  double t0 = bench_now();
  kill(d->pid, SIGTERM);
  while (waitpid(d->pid, status, WNOHANG) != d->pid) {
    if (bench_now() - t0 > 10) {
      kill(d->pid, SIGKILL);
      waitpid(d->pid, status, 0);
      break;
    }
    usleep(1000);
  }
  return bench_now() - t0;
}

/* RSS at the first sample at or after `audio_s` of audio, in kB (-1: none). */
static long rss_at(const soak_run *x, double audio_s) {
  for (size_t i = 0; i < x->n_s; i++)
    if (x->s[i].audio_s >= audio_s) return x->s[i].rss_kb;
  return -1;
}

static void soak_loop(soak_run *x, double total_s) {
  double t0 = bench_now(), next_sample = t0, next_hup = t0 + x->o->hup_every, next_note = t0 + 30;
  double last_windows_at = t0;
  long long last_windows = 0;
  for (;;) {
    if (!reader_poll(x->rd, 50, NULL, NULL)) {
      fprintf(stderr, "bench_soak: mgcd closed the reader's connection\n");
      break;
    }
    double now = bench_now();
    if (x->rd->windows != last_windows) last_windows = x->rd->windows, last_windows_at = now;
    if (now - last_windows_at > 120) {
      fprintf(stderr, "bench_soak: no window for 120 s\n");
      break;
    }
    if (now >= next_sample) take_sample(x, t0), next_sample += 1;
    if (now >= next_hup) reload(x), next_hup += x->o->hup_every;
    if (now >= next_note) {
      next_note += 30;
      fprintf(stderr, "bench_soak: %.2f / %.2f h of audio, %.0f s, RSS %.1f MB, %d fds, %d reloads, %d bursts\n",
              x->rd->last_t_end / 3600, total_s / 3600, now - t0, x->s[x->n_s - 1].rss_kb / 1024.0,
              x->s[x->n_s - 1].fds, x->hups, x->ch.bursts);
    }
    /* Done when the last whole window of the audio is in. */
    if (atomic_load(&x->fe.done) && x->rd->last_t_end >= total_s - 2 * x->rd->hop_s - 3.1) break;
  }
  take_sample(x, t0);
}

static int soak(const opts *o) {
  soak_run x = {.o = o};
  if (o->csv && !(x.csv = fopen(o->csv, "w"))) bench_die("bench_soak", o->csv);
  if (x.csv) fprintf(x.csv, "wall_s,audio_s,rss_kb,fds\n");
  size_t n;
  int16_t *pcm = load_clip(o->clip, &n);
  start_daemon(&x.d, o);
  x.rd = calloc(1, sizeof *x.rd);
  if ((x.rd->fd = soak_connect(x.d.sock)) < 0) bench_die("bench_soak", "connect");
  while (x.rd->hop_s <= 0 && reader_poll(x.rd, 1000, NULL, NULL)) {
  }
  double total_s = o->hours * 3600;
  x.fe = (feeder){.fd = x.d.stdin_w, .pcm = pcm, .n = n, .total = (size_t)(total_s * RATE), .speed = o->speed};
  x.ch = (churn){.sock = x.d.sock, .pid = x.d.pid, .every = o->burst_every, .seed = o->seed,
                 .baseline = open_fds(x.d.pid)};
  pthread_t ft, ct;
  pthread_create(&ft, NULL, feed, &x.fe);
  pthread_create(&ct, NULL, churn_thread, &x.ch);
  double t0 = bench_now();
  soak_loop(&x, total_s);
  double wall = bench_now() - t0;
  atomic_store(&x.ch.stop, 1);
  pthread_join(ct, NULL);
  /* The reader takes what is left (replies to the last reload). */
  for (double t1 = bench_now(); bench_now() - t1 < 1;) reader_poll(x.rd, 50, NULL, NULL);
  int status = -1;
  double term_s = stop_daemon(&x.d, &status);
  close(x.d.stdin_w);
  pthread_join(ft, NULL);
  long rss_a = rss_at(&x, o->rss_after_h * 3600), rss_end = x.s[x.n_s - 1].rss_kb;
  double growth_mb = rss_a < 0 ? NAN : (rss_end - rss_a) / 1024.0;
  char after[32] = "null", growth[32] = "null"; /* null: the run never reached A hours */
  if (rss_a >= 0) {
    snprintf(after, sizeof after, "%.1f", rss_a / 1024.0);
    snprintf(growth, sizeof growth, "%.2f", growth_mb);
  }
  int exit_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && term_s <= 1.0;
  int done = x.rd->last_t_end >= total_s - 2 * x.rd->hop_s - 3.1;
  int pass = done && x.rd->out_of_order == 0 && x.rd->skipped == 0 && x.ch.not_back == 0 &&
             x.rd->n_reloaded == x.expect_ok && x.rd->n_reload_failed == x.expect_failed && exit_ok &&
             (rss_a < 0 || growth_mb <= 1.0);
  printf("{\"audio_h\":%.3f,\"wall_s\":%.1f,\"speed\":%.1f,\"windows\":%lld,\"out_of_order\":%lld,"
         "\"skipped\":%lld,\"reloads\":%d,\"reloaded\":%d,\"reload_failed\":%d,\"expected_ok\":%d,"
         "\"expected_failed\":%d,\"bursts\":%d,\"burst_clients\":%d,\"burst_refused\":%d,"
         "\"fd_baseline\":%d,\"fd_max\":%d,\"fd_not_back\":%d,\"fd_back_max_s\":%.3f,"
         "\"rss_first_mb\":%.1f,\"rss_after_mb\":%s,\"rss_end_mb\":%.1f,\"rss_growth_mb\":%s,"
         "\"sigterm_s\":%.3f,\"exit_status\":%d,\"pass\":%s}\n",
         x.rd->last_t_end / 3600, wall, total_s / wall, x.rd->windows, x.rd->out_of_order, x.rd->skipped,
         x.hups, x.rd->n_reloaded, x.rd->n_reload_failed, x.expect_ok, x.expect_failed, x.ch.bursts,
         x.ch.st.clients, x.ch.st.refused, x.ch.baseline, x.ch.fd_max, x.ch.not_back, x.ch.back_max_s,
         x.s[0].rss_kb / 1024.0, after, rss_end / 1024.0, growth, term_s,
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, pass ? "true" : "false");
  if (!pass) fprintf(stderr, "bench_soak: FAILED; mgcd's log: %s\n", x.d.err);
  else remove_dir(&x.d);
  if (x.csv) fclose(x.csv);
  free(x.s);
  free(x.rd);
  free(pcm);
  return pass ? 0 : 1;
}

/* ---- hostile ---- */

enum { PH_BASE, PH_FLOOD, PH_LINE, PH_RANDOM, PH_AFTER, N_PHASES };
static const char *const phase_name[N_PHASES] = {"baseline", "flood", "long_line", "random", "after"};

typedef struct attack {
  const opts *o;
  const char *sock;
  atomic_int phase;
  soak_flood_result flood;
  long long line_sent, random_sent;
  double line_s, random_s;
} attack;

static void *attack_thread(void *arg) {
  attack *a = arg;
  soak_rng r = {a->o->seed};
  sleep(8);
  atomic_store(&a->phase, PH_FLOOD);
  soak_flood(a->sock, a->o->flood, &a->flood);
  sleep(8);
  atomic_store(&a->phase, PH_LINE);
  double t0 = bench_now();
  a->line_sent = soak_stream(a->sock, (size_t)(a->o->line_mb * 1e6), 0, &r);
  a->line_s = bench_now() - t0;
  sleep(8);
  atomic_store(&a->phase, PH_RANDOM);
  t0 = bench_now();
  a->random_sent = soak_stream(a->sock, (size_t)(a->o->random_mb * 1e6), 1, &r);
  a->random_s = bench_now() - t0;
  sleep(8);
  atomic_store(&a->phase, PH_AFTER);
  return NULL;
}

typedef struct watch {
  attack *a;
  double last_window, hop;
  double gap[N_PHASES], reply[N_PHASES];
  int windows[N_PHASES], replies[N_PHASES];
  double asked_at; /* the pinger's pending status, 0 when none */
} watch;

static void on_seen(void *user, const char *kind, double now) {
  watch *w = user;
  int ph = atomic_load(&w->a->phase);
  if (!strcmp(kind, "window")) {
    if (w->last_window > 0 && now - w->last_window - w->hop > w->gap[ph]) w->gap[ph] = now - w->last_window - w->hop;
    w->last_window = now;
    w->windows[ph]++;
  } else if (!*kind && w->asked_at > 0) { /* a reply: the pinger's status */
    if (now - w->asked_at > w->reply[ph]) w->reply[ph] = now - w->asked_at;
    w->replies[ph]++;
    w->asked_at = 0;
  }
}

static int hostile(const opts *o) {
  size_t n;
  int16_t *pcm = load_clip(o->clip, &n);
  daemon_proc d;
  start_daemon(&d, o);
  reader *rd = calloc(1, sizeof *rd), *pinger = calloc(1, sizeof *pinger);
  rd->fd = soak_connect(d.sock);
  pinger->fd = soak_connect(d.sock);
  while (rd->hop_s <= 0 && reader_poll(rd, 1000, NULL, NULL)) {
  }
  send(pinger->fd, "unsubscribe\n", 12, MSG_NOSIGNAL); /* replies only */
  feeder fe = {.fd = d.stdin_w, .pcm = pcm, .n = n, .total = (size_t)RATE * 3600, .speed = 1};
  attack a = {.o = o, .sock = d.sock};
  watch w = {.a = &a, .hop = rd->hop_s};
  pthread_t ft, at;
  pthread_create(&ft, NULL, feed, &fe);
  pthread_create(&at, NULL, attack_thread, &a);
  double next_ping = bench_now() + 1, t0 = bench_now();
  int alive = 1;
  while (alive && atomic_load(&a.phase) != PH_AFTER) {
    alive = reader_poll(rd, 10, on_seen, &w) && reader_poll(pinger, 0, on_seen, &w);
    if (bench_now() >= next_ping && w.asked_at == 0) {
      w.asked_at = bench_now();
      send(pinger->fd, "status\n", 7, MSG_NOSIGNAL);
      next_ping = w.asked_at + 0.25;
    }
    if (bench_now() - t0 > 600) break;
  }
  pthread_join(at, NULL);
  int status = -1;
  double term_s = stop_daemon(&d, &status);
  close(d.stdin_w);
  pthread_join(ft, NULL);
  int pass = alive && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  printf("{\"flood\":{\"attempted\":%d,\"connected\":%d,\"kernel_refused\":%d,\"hello\":%d,"
         "\"turned_away\":%d,\"silent\":%d},\"line_mb\":%.1f,\"line_s\":%.2f,\"random_mb\":%.1f,"
         "\"random_s\":%.2f,\"sigterm_s\":%.3f,\"phases\":{",
         a.flood.attempted, a.flood.connected, a.flood.kernel_refused, a.flood.hello, a.flood.turned_away,
         a.flood.silent, a.line_sent / 1e6, a.line_s, a.random_sent / 1e6, a.random_s, term_s);
  for (int p = 0; p < PH_AFTER; p++) {
    pass &= w.gap[p] <= 0.5 && w.reply[p] <= 0.5 && w.windows[p] > 0 && w.replies[p] > 0;
    printf("%s\"%s\":{\"windows\":%d,\"max_gap_over_hop_s\":%.3f,\"replies\":%d,\"max_reply_s\":%.3f}",
           p ? "," : "", phase_name[p], w.windows[p], w.gap[p], w.replies[p], w.reply[p]);
  }
  pass &= a.line_sent >= (long long)(o->line_mb * 1e6) && a.random_sent >= (long long)(o->random_mb * 1e6);
  printf("},\"pass\":%s}\n", pass ? "true" : "false");
  if (!pass) fprintf(stderr, "bench_soak: FAILED; mgcd's log: %s\n", d.err);
  else remove_dir(&d);
  free(rd);
  free(pinger);
  free(pcm);
  return pass ? 0 : 1;
}

static void parse(int argc, char **argv, opts *o) {
  *o = (opts){.hours = 10, .hup_every = 60, .burst_every = 10, .rss_after_h = 1, .flood = 1000,
              .line_mb = 100, .random_mb = 100, .seed = 1};
  static const struct option lo[] = {
      {"mgcd", 1, 0, 'm'},        {"model", 1, 0, 'M'},      {"clip", 1, 0, 'c'},
      {"hours", 1, 0, 'h'},       {"speed", 1, 0, 's'},      {"hup-every", 1, 0, 'H'},
      {"burst-every", 1, 0, 'b'}, {"rss-after-hours", 1, 0, 'r'}, {"csv", 1, 0, 'C'},
      {"seed", 1, 0, 'S'},        {"hostile", 0, 0, 'x'},    {"flood", 1, 0, 'f'},
      {"line-mb", 1, 0, 'l'},     {"random-mb", 1, 0, 'R'},  {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case 'm': o->mgcd = optarg; break;
      case 'M': o->model = optarg; break;
      case 'c': o->clip = optarg; break;
      case 'h': o->hours = atof(optarg); break;
      case 's': o->speed = atof(optarg); break;
      case 'H': o->hup_every = atof(optarg); break;
      case 'b': o->burst_every = atof(optarg); break;
      case 'r': o->rss_after_h = atof(optarg); break;
      case 'C': o->csv = optarg; break;
      case 'S': o->seed = strtoull(optarg, NULL, 10); break;
      case 'x': o->hostile = 1; break;
      case 'f': o->flood = atoi(optarg); break;
      case 'l': o->line_mb = atof(optarg); break;
      case 'R': o->random_mb = atof(optarg); break;
      default: exit(2);
    }
  }
  if (!o->mgcd || !o->model || !o->clip || o->hours <= 0 || o->hup_every <= 0 || o->burst_every <= 0 ||
      o->flood < 1) {
    fprintf(stderr, "usage: bench_soak [--hostile] --mgcd BIN --model M --clip AUDIO [options]\n");
    exit(2);
  }
}

int main(int argc, char **argv) {
  opts o;
  parse(argc, argv, &o);
  /* The configuration lives in a temporary folder: its paths must be absolute. */
  static char model[4096];
  if (!realpath(o.model, model)) {
    fprintf(stderr, "bench_soak: %s: %s\n", o.model, strerror(errno));
    return 2;
  }
  o.model = model;
  signal(SIGPIPE, SIG_IGN);
  /* The flood holds a descriptor per attempt. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) g_files = rl;
  if (rl.rlim_cur < 4096) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return o.hostile ? hostile(&o) : soak(&o);
}
