/* mgcd end to end, through its socket, as a client sees it.
 *
 *   bench_daemon --mgcd PATH --model M --clip AUDIO [--seconds S] [--fast-minutes N]
 *                [--wav PATH] [--json]
 *
 * Real time: the clip (decoded at the model's rate, mono, looped to S
 * seconds, default 60) goes to `mgcd --input - --raw RATE:1:s16 --fast` on a
 * pipe, in 10 ms chunks at exact real-time pace (clock_nanosleep, absolute,
 * CLOCK_MONOTONIC). With --fast, mgcd consumes stdin as it arrives, so this
 * pacing is the capture clock. A window's latency is the time its `window`
 * event was received minus the time write() returned for the chunk holding
 * the window's last sample. Also: the first window with a decision (audio
 * and wall time), mgcd's CPU over the stream (/proc/PID/stat, between the
 * hello and the last real-time window) as % of one core, its VmHWM/VmRSS,
 * and the window count against the expected one.
 *
 * Fast: the clip looped to N minutes (default 5) as a 16-bit WAV, classified
 * by `mgcd --input WAV --fast --wait-clients 1`; wall time from connect to
 * the `end` event, and CPU (wait4) -> x real time. --wav keeps that WAV (for
 * bench/torch_stream.py, which classifies the same file).
 *
 * Prints a table; with --json, one flat JSON object as the last line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgc/audio/audio.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/dsp/frontend.h"
#include "mgc/model/model.h"
#include "mgc/stream/windower.h"

#define CHUNKS_PER_S 100 /* 10 ms writes */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_daemon: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p) {
  if (!n) return NAN;
  size_t k = (size_t)ceil(p / 100.0 * (double)n);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static double median(const double *v, size_t n) {
  if (!n) return NAN;
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the child ---- */

static pid_t spawn(char *const argv[], int stdin_fd) {
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    if (stdin_fd >= 0) {
      dup2(stdin_fd, 0);
      if (stdin_fd != 0) close(stdin_fd);
    } else {
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
    }
    execv(argv[0], argv);
    fprintf(stderr, "bench_daemon: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

/* CPU seconds (user + system) of pid from /proc/PID/stat; NAN if gone. */
static double proc_cpu_s(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return NAN;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return NAN;
  /* After ") ": field 3 (state) ... utime is field 14, stime 15. */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
    field++;
    if (field == 14) ut = strtoull(tok, NULL, 10);
    if (field == 15) {
      st = strtoull(tok, NULL, 10);
      break;
    }
  }
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:  N kB" line of /proc/PID/status, in MB; NAN if absent. */
static double proc_status_mb(pid_t pid, const char *key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return NAN;
  double v = NAN;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, kl) && line[kl] == ':') {
      v = strtod(line + kl + 1, NULL) / 1024.0;
      break;
    }
  fclose(f);
  return v;
}

/* Wait up to `timeout` s for pid to exit (then SIGTERM, then SIGKILL). */
static int reap(pid_t pid, double timeout, struct rusage *ru) {
  int status = 0;
  double t_end = now_s() + timeout;
  int sig = 0;
  for (;;) {
    pid_t r = wait4(pid, &status, WNOHANG, ru);
    if (r == pid) break;
    if (r < 0) return -1;
    if (now_s() > t_end) {
      fprintf(stderr, "bench_daemon: mgcd (pid %d) did not exit; sending %s\n", (int)pid,
              sig ? "SIGKILL" : "SIGTERM");
      kill(pid, sig ? SIGKILL : SIGTERM);
      sig = 1;
      t_end = now_s() + 2.0;
    }
    struct timespec ts = {0, 5000000L};
    nanosleep(&ts, NULL);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- the socket client ---- */

typedef struct {
  int fd;
  char *buf;
  size_t len, cap;
} lines;

static int connect_retry(const char *path, pid_t pid, double timeout) {
  double t_end = now_s() + timeout;
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    close(fd);
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) die("mgcd exited (status %d) before its socket opened", st);
    if (now_s() > t_end) die("no socket at %s after %.0f s", path, timeout);
    struct timespec ts = {0, 2000000L};
    nanosleep(&ts, NULL);
  }
}

/* Next line (NUL-terminated, valid until the next call): 1; timeout: 0;
 * EOF or error: -1. *t_recv: when the bytes holding it were read. */
static int next_line(lines *L, double timeout, char **out, double *t_recv) {
  static double t_last_read;
  double t_end = now_s() + timeout;
  for (;;) {
    char *nl = L->len ? memchr(L->buf, '\n', L->len) : NULL;
    if (nl) {
      /* Hand out the line; line_done() drops it. */
      *nl = 0;
      *out = L->buf;
      *t_recv = t_last_read;
      return 1;
    }
    double left = t_end - now_s();
    if (left <= 0) return 0;
    struct pollfd p = {L->fd, POLLIN, 0};
    int pr = poll(&p, 1, (int)ceil(left * 1000.0));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return pr == 0 ? 0 : -1;
    if (L->len == L->cap) {
      L->cap = L->cap ? 2 * L->cap : 1 << 16;
      L->buf = realloc(L->buf, L->cap);
      if (!L->buf) die("out of memory");
    }
    ssize_t r = read(L->fd, L->buf + L->len, L->cap - L->len);
    t_last_read = now_s();
    if (r <= 0) return -1;
    L->len += (size_t)r;
  }
}

/* Drop the line handed out by next_line. */
static void line_done(lines *L) {
  char *z = memchr(L->buf, 0, L->len);
  size_t n = (size_t)(z - L->buf) + 1;
  memmove(L->buf, L->buf + n, L->len - n);
  L->len -= n;
}

/* ---- the real-time writer ---- */

typedef struct {
  int fd;
  const int16_t *x;
  uint64_t n;
  int rate;
  struct timespec t0;
  uint64_t n_chunks;
  _Atomic uint64_t *done_ns; /* per chunk: CLOCK_MONOTONIC ns when write() returned (0: not yet) */
  double late_max;           /* worst (write returned - due), s */
  atomic_int finished;
  int error;
} writer;

static uint64_t chunk_start(uint64_t k, int rate) { return k * (uint64_t)rate / CHUNKS_PER_S; }

/* The chunk holding sample i. */
static uint64_t chunk_of(uint64_t i, int rate) {
  return ((i + 1) * CHUNKS_PER_S + (uint64_t)rate - 1) / (uint64_t)rate - 1;
}

static uint64_t ts_ns(const struct timespec *t) { return (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec; }

static void *writer_main(void *arg) {
  writer *w = arg;
  const uint64_t t0 = ts_ns(&w->t0);
  for (uint64_t k = 0; k < w->n_chunks; k++) {
    uint64_t a = chunk_start(k, w->rate), b = chunk_start(k + 1, w->rate);
    if (b > w->n) b = w->n;
    /* A chunk is due when its last sample has been "captured". */
    uint64_t due = t0 + b * 1000000000ull / (uint64_t)w->rate;
    struct timespec ts = {(time_t)(due / 1000000000ull), (long)(due % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    const char *p = (const char *)(w->x + a);
    size_t left = (size_t)(b - a) * sizeof(int16_t);
    while (left > 0) {
      ssize_t r = write(w->fd, p, left);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        w->error = errno;
        atomic_store(&w->finished, 1);
        return NULL;
      }
      p += r;
      left -= (size_t)r;
    }
    struct timespec tn;
    clock_gettime(CLOCK_MONOTONIC, &tn);
    uint64_t done = ts_ns(&tn);
    atomic_store(&w->done_ns[k], done);
    double late = ((double)done - (double)due) * 1e-9;
    if (late > w->late_max) w->late_max = late;
  }
  atomic_store(&w->finished, 1);
  return NULL;
}

/* ---- results ---- */

typedef struct {
  /* real time */
  double seconds;
  uint64_t rt_expected, rt_expected_live, rt_windows, rt_end_windows, rt_latency_n;
  double lat_med_ms, lat_p95_ms, lat_max_ms;
  double first_t_end, first_wall;
  double cpu_pct, cpu_s, cpu_wall_s, hwm_mb, rss_mb, rt_total_cpu_s, rt_maxrss_mb;
  double writer_late_max_ms;
  int overruns, skipped, rt_exit;
  /* fast */
  double fast_audio_s, fast_wall_s, fast_cpu_s, fast_cpu_total_s, fast_maxrss_mb;
  uint64_t fast_windows, fast_expected;
  char fast_genre[64];
  int fast_exit;
} results;

typedef struct {
  mgc_frontend_params fp;     /* the model's front-end */
  int rate, hop, n_fft, center;
  int win_frames, hop_frames; /* from hello */
} geometry;

/* Windows of a stream of n samples (as mgc_pipeline_flush ends it). */
static uint64_t windows_for(const geometry *g, uint64_t n) {
  uint64_t w = mgc_windower_count(g->win_frames, g->hop_frames, mgc_frontend_frame_count(&g->fp, n));
  return w ? w : 1; /* a stream shorter than a window gets one padded window */
}

/* Exclusive end sample of window `index`, before clamping to the stream. */
static uint64_t window_end(const geometry *g, uint64_t index) {
  uint64_t last = index * (uint64_t)g->hop_frames + (uint64_t)g->win_frames - 1;
  return last * (uint64_t)g->hop + (uint64_t)(g->center ? g->n_fft / 2 : g->n_fft);
}

static void read_hello(lines *L, geometry *g, int rate) {
  char *line;
  double t;
  int r = next_line(L, 30.0, &line, &t);
  if (r != 1) die("no hello line from mgcd");
  json_error_t err;
  json_t *j = json_loads(line, 0, &err);
  const char *ev = j ? json_string_value(json_object_get(j, "event")) : NULL;
  if (!ev || strcmp(ev, "hello"))
    die("expected a hello line, got: %.200s", line);
  double ws = json_number_value(json_object_get(j, "window_s"));
  double hs = json_number_value(json_object_get(j, "hop_s"));
  int hr = (int)json_integer_value(json_object_get(j, "rate"));
  if (hr != rate) die("mgcd runs at %d Hz, the model file says %d", hr, rate);
  /* window_s is the audio a window spans: ((frames - 1) * hop + n_fft) / rate. */
  g->win_frames = (int)lround((ws * rate - g->n_fft) / g->hop) + 1;
  g->hop_frames = (int)lround(hs * rate / g->hop);
  if (g->win_frames < 1 || g->hop_frames < 1) die("bad hello: window_s %g hop_s %g", ws, hs);
  json_decref(j);
  line_done(L);
}

/* A window event at real time: its latency from the write() that carried
 * its last sample, and the first decision's time. */
static void rt_window(json_t *j, const geometry *g, uint64_t n, writer *w, double *lat, results *R, double t_recv,
                      double t0) {
  const int rate = g->rate;
  uint64_t idx = (uint64_t)json_integer_value(json_object_get(j, "index"));
  double te = json_number_value(json_object_get(j, "t_end"));
  uint64_t b = window_end(g, idx);
  if (b <= n && fabs((double)b / rate - te) > 0.002)
    fprintf(stderr, "bench_daemon: window %llu: t_end %.3f, expected %.3f\n", (unsigned long long)idx, te,
            (double)b / rate);
  R->rt_windows++;
  if (b <= n) {
    /* Complete before the end of the stream: a real-time window. */
    uint64_t k = chunk_of(b - 1, rate);
    uint64_t d;
    /* The event can beat the writer thread back from write(). */
    while (!(d = atomic_load(&w->done_ns[k])) && !atomic_load(&w->finished)) sched_yield();
    if (!d) d = atomic_load(&w->done_ns[k]);
    if (d && R->rt_latency_n < R->rt_expected + 16) lat[R->rt_latency_n++] = t_recv - (double)d * 1e-9;
  }
  json_t *dec = json_object_get(j, "decision");
  json_t *genre = dec ? json_object_get(dec, "genre") : NULL;
  if (isnan(R->first_t_end) && genre && json_is_string(genre)) {
    R->first_t_end = te;
    R->first_wall = t_recv - t0;
  }
}

/* mgcd's CPU since cpu0 (at tcpu0) and its memory, from /proc. */
static void sample_proc(pid_t pid, double cpu0, double tcpu0, double now, results *R) {
  double cpu1 = proc_cpu_s(pid);
  R->cpu_s = cpu1 - cpu0;
  R->cpu_wall_s = now - tcpu0;
  R->cpu_pct = 100.0 * R->cpu_s / R->cpu_wall_s;
  R->hwm_mb = proc_status_mb(pid, "VmHWM");
  R->rss_mb = proc_status_mb(pid, "VmRSS");
}

static void run_realtime(const char *mgcd, const char *model, const char *dir, const float *clip, size_t clip_n,
                         geometry *g, results *R) {
  const int rate = g->rate;
  const uint64_t n = (uint64_t)llround(R->seconds * rate);
  int16_t *x = malloc(sizeof(int16_t) * n);
  if (!x) die("out of memory");
  for (uint64_t i = 0; i < n; i++) {
    float v = clip[i % clip_n] * 32768.0f;
    x[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
  }
  char sock[512], raw[64];
  snprintf(sock, sizeof sock, "%s/rt.sock", dir);
  snprintf(raw, sizeof raw, "%d:1:s16", rate);
  int pfd[2];
  if (pipe(pfd)) die("pipe: %s", strerror(errno));
  fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
  char *argv[] = {(char *)mgcd, "--foreground", "--socket", sock, "--model", (char *)model, "--input", "-",
                  "--raw", raw, "--fast", "--log-level", "warn", NULL};
  pid_t pid = spawn(argv, pfd[0]);
  close(pfd[0]);
  lines L = {connect_retry(sock, pid, 60.0), NULL, 0, 0};
  read_hello(&L, g, rate);

  R->rt_expected = windows_for(g, n);
  /* Windows complete before the end of the stream (the rest come at flush). */
  uint64_t live = 0;
  while (window_end(g, live) <= n) live++;
  R->rt_expected_live = live;

  writer w;
  memset(&w, 0, sizeof w);
  w.fd = pfd[1];
  w.x = x;
  w.n = n;
  w.rate = rate;
  w.n_chunks = (n * CHUNKS_PER_S + (uint64_t)rate - 1) / (uint64_t)rate;
  w.done_ns = calloc(w.n_chunks, sizeof *w.done_ns);
  double *lat = malloc(sizeof(double) * (R->rt_expected + 16));
  if (!w.done_ns || !lat) die("out of memory");
  double cpu0 = proc_cpu_s(pid), tcpu0 = now_s();
  clock_gettime(CLOCK_MONOTONIC, &w.t0);
  w.t0.tv_nsec += 20000000L; /* start 20 ms from now */
  if (w.t0.tv_nsec >= 1000000000L) {
    w.t0.tv_sec++;
    w.t0.tv_nsec -= 1000000000L;
  }
  const double t0 = (double)w.t0.tv_sec + w.t0.tv_nsec * 1e-9;
  pthread_t th;
  if (pthread_create(&th, NULL, writer_main, &w)) die("pthread_create failed");

  R->first_t_end = R->first_wall = NAN;
  int closed = 0, got_end = 0;
  double sampled_at = 0, wait_last_until = 0;
  for (;;) {
    char *line;
    double t_recv;
    int r = next_line(&L, 0.02, &line, &t_recv);
    if (r < 0) break;
    if (r == 1) {
      json_error_t err;
      json_t *j = json_loads(line, 0, &err);
      const char *ev = j ? json_string_value(json_object_get(j, "event")) : NULL;
      if (!ev) {
        fprintf(stderr, "bench_daemon: unparsed line: %.200s\n", line);
      } else if (!strcmp(ev, "window")) {
        rt_window(j, g, n, &w, lat, R, t_recv, t0);
      } else if (!strcmp(ev, "overrun")) {
        R->overruns++;
      } else if (!strcmp(ev, "skipped")) {
        R->skipped++;
      } else if (!strcmp(ev, "end")) {
        R->rt_end_windows = (uint64_t)json_integer_value(json_object_get(j, "windows"));
        got_end = 1;
      }
      json_decref(j);
      line_done(&L);
      if (got_end) break;
      continue;
    }
    /* Timeout: once the writer is done and the real-time windows are in (or
     * 1 s passed), sample /proc, then close stdin for the flush and `end`. */
    if (!closed && atomic_load(&w.finished)) {
      if (!wait_last_until) wait_last_until = now_s() + 1.0;
      if (R->rt_latency_n >= R->rt_expected_live || now_s() > wait_last_until) {
        sampled_at = now_s();
        sample_proc(pid, cpu0, tcpu0, sampled_at, R);
        pthread_join(th, NULL);
        close(pfd[1]);
        closed = 1;
      }
    }
    if (closed && now_s() > sampled_at + 15.0) {
      fprintf(stderr, "bench_daemon: no end event 15 s after closing mgcd's stdin\n");
      break;
    }
  }
  if (!closed) {
    fprintf(stderr, "bench_daemon: the socket closed before the stream ended\n");
    pthread_join(th, NULL);
    close(pfd[1]);
  }
  if (w.error) fprintf(stderr, "bench_daemon: writing to mgcd: %s\n", strerror(w.error));
  close(L.fd);
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  R->rt_exit = reap(pid, 10.0, &ru);
  R->rt_total_cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                      ru.ru_stime.tv_usec * 1e-6;
  R->rt_maxrss_mb = (double)ru.ru_maxrss / 1024.0;
  R->writer_late_max_ms = w.late_max * 1e3;
  qsort(lat, R->rt_latency_n, sizeof *lat, cmp_double);
  R->lat_med_ms = median(lat, R->rt_latency_n) * 1e3;
  R->lat_p95_ms = pct(lat, R->rt_latency_n, 95) * 1e3;
  R->lat_max_ms = R->rt_latency_n ? lat[R->rt_latency_n - 1] * 1e3 : NAN;
  free(lat);
  free((void *)w.done_ns);
  free(L.buf);
  free(x);
}

static void write_wav(const char *path, const float *clip, size_t clip_n, int rate, uint64_t n) {
  SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  if (!sf) die("%s: %s", path, sf_strerror(NULL));
  uint64_t done = 0;
  while (done < n) {
    size_t off = (size_t)(done % clip_n), m = clip_n - off;
    if (m > n - done) m = (size_t)(n - done);
    if (sf_writef_float(sf, clip + off, (sf_count_t)m) != (sf_count_t)m) die("%s: %s", path, sf_strerror(sf));
    done += m;
  }
  if (sf_close(sf)) die("%s: closing failed", path);
}

static void run_fast(const char *mgcd, const char *model, const char *dir, const char *wav, geometry *g,
                     uint64_t n, results *R) {
  char sock[512];
  snprintf(sock, sizeof sock, "%s/fast.sock", dir);
  char *argv[] = {(char *)mgcd, "--foreground", "--socket", sock, "--model", (char *)model, "--input", (char *)wav,
                  "--fast", "--wait-clients", "1", "--log-level", "warn", NULL};
  pid_t pid = spawn(argv, -1);
  lines L = {connect_retry(sock, pid, 60.0), NULL, 0, 0};
  const double t_connect = now_s();
  read_hello(&L, g, g->rate);
  const double cpu_hello = proc_cpu_s(pid);
  R->fast_expected = windows_for(g, n);
  double t_end = NAN;
  snprintf(R->fast_genre, sizeof R->fast_genre, "-");
  for (;;) {
    char *line;
    double t_recv;
    int r = next_line(&L, 120.0, &line, &t_recv);
    if (r != 1) {
      fprintf(stderr, "bench_daemon: fast: %s before the end event\n", r ? "socket closed" : "120 s timeout");
      break;
    }
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    const char *ev = j ? json_string_value(json_object_get(j, "event")) : NULL;
    int end = 0;
    if (ev && !strcmp(ev, "window")) {
      R->fast_windows++;
      json_t *dec = json_object_get(j, "decision");
      const char *genre = dec ? json_string_value(json_object_get(dec, "genre")) : NULL;
      if (genre) snprintf(R->fast_genre, sizeof R->fast_genre, "%s", genre);
    } else if (ev && !strcmp(ev, "end")) {
      t_end = t_recv;
      R->fast_audio_s = json_number_value(json_object_get(j, "t"));
      end = 1;
    }
    json_decref(j);
    line_done(&L);
    if (end) break;
  }
  R->fast_wall_s = t_end - t_connect;
  close(L.fd);
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  R->fast_exit = reap(pid, 10.0, &ru);
  R->fast_cpu_total_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                        ru.ru_stime.tv_usec * 1e-6;
  R->fast_cpu_s = R->fast_cpu_total_s - cpu_hello;
  R->fast_maxrss_mb = (double)ru.ru_maxrss / 1024.0;
  free(L.buf);
}

static const char *met(int ok) { return ok ? "met" : "MISSED"; }

static void usage(FILE *f) {
  fprintf(f, "usage: bench_daemon --mgcd PATH --model M --clip AUDIO [--seconds S (60)] [--fast-minutes N (5)] "
             "[--wav PATH] [--json]\n");
}

/* The front-end geometry: the model's, or an ensemble's first window
 * member's (mgcd requires the window members to share it). */
static geometry load_geometry(const char *model) {
  mgc_model *m;
  mgc_ensemble *ens = NULL;
  if (mgc_ensemble_is_path(model)) {
    if (mgc_ensemble_load(model, MGC_ENSEMBLE_LOAD_MODELS, &ens)) die("%s", mgc_error_message());
    m = NULL;
    for (int i = 0; i < ens->n_members && !m; i++)
      if (ens->members[i].input == MGC_ENS_INPUT_WINDOW) m = ens->members[i].loaded;
    if (!m) die("%s: no window member", model);
  } else if (mgc_model_load(model, &m)) {
    die("%s", mgc_error_message());
  }
  geometry g = {m->frontend, m->frontend.sample_rate, m->frontend.hop_length, m->frontend.n_fft, m->frontend.center,
                0, 0};
  if (ens) mgc_ensemble_free(ens);
  else mgc_model_free(m);
  return g;
}

/* The table for people. */
static void print_results(const char *mgcd, const char *model, const char *clip_path, const mgc_audio *a,
                          const geometry *gp, const results *Rp, double seconds, uint64_t nf) {
  const geometry g = *gp;
  const results R = *Rp;
  const double fast_x_wall = R.fast_audio_s / R.fast_wall_s, fast_x_cpu = R.fast_audio_s / R.fast_cpu_s;
  printf("mgcd %s, model %s, clip %s (%.1f s at %d Hz)\n", mgcd, model, clip_path, (double)a->n / g.rate, g.rate);
  printf("real time: %.0f s of audio in 10 ms writes (writer late by at most %.2f ms), window %d frames every %d\n",
         seconds, R.writer_late_max_ms, g.win_frames, g.hop_frames);
  printf("  %-34s %12s  %s\n", "measure", "value", "target");
  printf("  %-34s %12.2f  <= 2 %%: %s\n", "CPU, % of one core", R.cpu_pct, met(R.cpu_pct <= 2.0));
  printf("  %-34s %12.1f  <= 64 MB: %s\n", "VmHWM, MB", R.hwm_mb, met(R.hwm_mb <= 64.0));
  printf("  %-34s %12.1f\n", "VmRSS at the end, MB", R.rss_mb);
  printf("  %-34s %12.3f  <= 3.1 s: %s\n", "first decision, s of audio", R.first_t_end, met(R.first_t_end <= 3.1));
  printf("  %-34s %12.3f\n", "first decision, s of wall time", R.first_wall);
  printf("  %-34s %12.2f  <= 50 ms: %s\n", "window latency median, ms", R.lat_med_ms, met(R.lat_med_ms <= 50));
  printf("  %-34s %12.2f  <= 50 ms: %s\n", "window latency p95, ms", R.lat_p95_ms, met(R.lat_p95_ms <= 50));
  printf("  %-34s %12.2f  <= 50 ms: %s\n", "window latency max, ms", R.lat_max_ms, met(R.lat_max_ms <= 50));
  printf("  %-34s %5llu / %-5llu\n", "latency windows / expected", (unsigned long long)R.rt_latency_n,
         (unsigned long long)R.rt_expected_live);
  int rt_ok = R.rt_windows == R.rt_expected && R.rt_end_windows == R.rt_expected;
  printf("  %-34s %5llu / %-5llu  end says %llu: %s\n", "windows received / expected",
         (unsigned long long)R.rt_windows, (unsigned long long)R.rt_expected, (unsigned long long)R.rt_end_windows,
         rt_ok ? "none lost" : "MISMATCH");
  printf("  %-34s %12d\n", "overrun / skipped events", R.overruns + R.skipped);
  printf("  %-34s %12d\n", "mgcd exit status", R.rt_exit);
  if (nf > 0) {
    printf("fast: %.1f min WAV, mgcd --input FILE --fast\n", R.fast_audio_s / 60.0);
    printf("  %-34s %12.3f\n", "wall, connect to end event, s", R.fast_wall_s);
    printf("  %-34s %12.1f  >= 200x: %s\n", "x real time (wall)", fast_x_wall, met(fast_x_wall >= 200));
    printf("  %-34s %12.1f\n", "x real time (CPU, after hello)", fast_x_cpu);
    printf("  %-34s %12.3f  (%.3f with start-up)\n", "CPU s", R.fast_cpu_s, R.fast_cpu_total_s);
    printf("  %-34s %12.3f\n", "CPU ms per window", 1e3 * R.fast_cpu_s / (double)R.fast_windows);
    printf("  %-34s %12.1f\n", "peak RSS (ru_maxrss), MB", R.fast_maxrss_mb);
    printf("  %-34s %5llu / %-5llu  genre %s\n", "windows / expected", (unsigned long long)R.fast_windows,
           (unsigned long long)R.fast_expected, R.fast_genre);
    printf("  %-34s %12d\n", "mgcd exit status", R.fast_exit);
  }
}

/* One JSON line, for bench/daemon's table. */
static void print_json(const results *Rp, double seconds, uint64_t nf) {
  const results R = *Rp;
  const double fast_x_wall = R.fast_audio_s / R.fast_wall_s, fast_x_cpu = R.fast_audio_s / R.fast_cpu_s;
  json_t *o = json_object();
#define NUM(k, v) json_object_set_new(o, k, isfinite((double)(v)) ? json_real((double)(v)) : json_null())
#define INT(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
  json_object_set_new(o, "impl", json_string("mgcd"));
  NUM("rt_seconds", seconds);
  NUM("rt_cpu_pct", R.cpu_pct);
  NUM("rt_cpu_s", R.cpu_s);
  NUM("rt_cpu_wall_s", R.cpu_wall_s);
  NUM("rt_hwm_mb", R.hwm_mb);
  NUM("rt_rss_mb", R.rss_mb);
  NUM("rt_maxrss_mb", R.rt_maxrss_mb);
  NUM("rt_total_cpu_s", R.rt_total_cpu_s);
  NUM("first_decision_audio_s", R.first_t_end);
  NUM("first_decision_wall_s", R.first_wall);
  NUM("latency_median_ms", R.lat_med_ms);
  NUM("latency_p95_ms", R.lat_p95_ms);
  NUM("latency_max_ms", R.lat_max_ms);
  INT("latency_windows", R.rt_latency_n);
  INT("rt_windows", R.rt_windows);
  INT("rt_expected_windows", R.rt_expected);
  INT("rt_end_windows", R.rt_end_windows);
  INT("latency_expected_windows", R.rt_expected_live);
  INT("rt_overruns", R.overruns);
  INT("rt_skipped", R.skipped);
  INT("rt_exit", R.rt_exit);
  NUM("writer_late_max_ms", R.writer_late_max_ms);
  if (nf > 0) {
    NUM("fast_audio_s", R.fast_audio_s);
    NUM("fast_wall_s", R.fast_wall_s);
    NUM("fast_cpu_s", R.fast_cpu_s);
    NUM("fast_cpu_total_s", R.fast_cpu_total_s);
    NUM("fast_x_wall", fast_x_wall);
    NUM("fast_x_cpu", fast_x_cpu);
    NUM("fast_cpu_ms_per_window", 1e3 * R.fast_cpu_s / (double)R.fast_windows);
    NUM("fast_maxrss_mb", R.fast_maxrss_mb);
    INT("fast_windows", R.fast_windows);
    INT("fast_expected_windows", R.fast_expected);
    json_object_set_new(o, "fast_genre", json_string(R.fast_genre));
    INT("fast_exit", R.fast_exit);
  }
#undef NUM
#undef INT
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
  printf("%s\n", s);
  free(s);
  json_decref(o);
}

int main(int argc, char **argv) {
  const char *mgcd = NULL, *model = NULL, *clip_path = NULL, *keep_wav = NULL;
  double seconds = 60, minutes = 5;
  int json = 0;
  static const struct option lo[] = {{"mgcd", 1, 0, 'd'},    {"model", 1, 0, 'm'},        {"clip", 1, 0, 'c'},
                                     {"seconds", 1, 0, 's'}, {"fast-minutes", 1, 0, 'f'}, {"json", 0, 0, 'j'},
                                     {"wav", 1, 0, 'w'},
                                     {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'd': mgcd = optarg; break;
    case 'm': model = optarg; break;
    case 'c': clip_path = optarg; break;
    case 's': seconds = atof(optarg); break;
    case 'f': minutes = atof(optarg); break;
    case 'j': json = 1; break;
    case 'w': keep_wav = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!mgcd || !model || !clip_path || optind != argc || !(seconds > 0) || !(minutes >= 0)) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  geometry g = load_geometry(model);
  mgc_audio a;
  if (mgc_audio_load(clip_path, g.rate, &a)) die("%s", mgc_error_message());

  const char *tmpdir = getenv("TMPDIR");
  char dir[256];
  snprintf(dir, sizeof dir, "%s/mgc-bench-daemon.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (!mkdtemp(dir)) die("mkdtemp %s: %s", dir, strerror(errno));

  results R;
  memset(&R, 0, sizeof R);
  R.seconds = seconds;
  run_realtime(mgcd, model, dir, a.samples, a.n, &g, &R);

  char wav[512];
  snprintf(wav, sizeof wav, "%s", keep_wav ? keep_wav : "");
  if (!keep_wav) snprintf(wav, sizeof wav, "%s/fast.wav", dir);
  const uint64_t nf = (uint64_t)llround(minutes * 60.0 * g.rate);
  if (nf > 0) {
    write_wav(wav, a.samples, a.n, g.rate, nf);
    run_fast(mgcd, model, dir, wav, &g, nf, &R);
  }

  print_results(mgcd, model, clip_path, &a, &g, &R, seconds, nf);
  if (json) print_json(&R, seconds, nf);
  if (!keep_wav) unlink(wav);
  char sock[512];
  snprintf(sock, sizeof sock, "%s/rt.sock", dir);
  unlink(sock);
  snprintf(sock, sizeof sock, "%s/fast.sock", dir);
  unlink(sock);
  rmdir(dir);
  mgc_audio_free(&a);
  return 0;
}
