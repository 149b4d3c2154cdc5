/* mgcd end to end: the real binary, its socket and its signals. Audio comes
 * from a file, from stdin (written by the test, so the test sets the pace),
 * and through real PortAudio from an ALSA `file` PCM standing in for a
 * microphone. Every check reads the daemon's events off the socket. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "alsa_fixture.h"
#include "mgc/model/arch.h"
#include "mgc/audio/audio.h"
#include "mgc/ensemble/classify.h"
#include "mgc/dsp/features.h"
#include "mgc/dsp/frontend.h"
#include "mgc/stream/music_scan.h"
#include "mgc/stream/windower.h"
#include "mgc/model/session.h"
#include "mgc/train/trainer.h"
#include "test_util.h"

#define MODEL MGC_SOURCE_DIR "/models/crnn.safetensors"
#define CLIP MGC_FIXTURES "/cc/jazz_macleod_vibe_ace_30s.ogg"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the daemon process ---- */

typedef struct daemon_proc {
  pid_t pid;
  char sock[300], err[300];
  int stdin_w; /* write end of its stdin, or -1 */
} daemon_proc;

static int connect_to(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) fail_msg("socket path too long: %s", path);
  memcpy(a.sun_path, path, strlen(path) + 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Start mgcd --foreground with the given extra arguments (NULL-terminated);
 * with_stdin gives it a pipe as stdin. Waits until the socket answers
 * unless wait is 0. */
static void start(daemon_proc *d, const char *name, int with_stdin, int wait, ...) {
  snprintf(d->sock, sizeof d->sock, "%s/%s.sock", g_dir, name);
  snprintf(d->err, sizeof d->err, "%s/%s.stderr", g_dir, name);
  const char *argv[40] = {MGCD_BIN, "--foreground", "--socket", d->sock};
  int argc = 4;
  va_list ap;
  va_start(ap, wait);
  const char *a;
  while ((a = va_arg(ap, const char *)) && argc < 38) argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  int pfd[2] = {-1, -1};
  if (with_stdin) assert_int_equal(pipe(pfd), 0);
  d->pid = fork();
  assert_true(d->pid >= 0);
  if (d->pid == 0) {
    int e = open(d->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(e, 2);
    if (with_stdin) {
      dup2(pfd[0], 0);
      close(pfd[0]);
      close(pfd[1]);
    }
    execv(MGCD_BIN, (char *const *)argv);
    _exit(127);
  }
  d->stdin_w = -1;
  if (with_stdin) {
    close(pfd[0]);
    d->stdin_w = pfd[1];
  }
  if (!wait) return;
  for (int i = 0; i < 500; i++) {
    /* Connectable, not just present: bind() makes the file before listen(). */
    int fd = connect_to(d->sock);
    if (fd >= 0) {
      close(fd);
      return;
    }
    int status;
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      size_t len;
      unsigned char *t = read_file(d->err, &len);
      fail_msg("mgcd exited early: %s", t);
    }
    usleep(10000);
  }
  fail_msg("mgcd did not create %s", d->sock);
}

/* Wait for exit; returns the exit status, or -1 after timeout_s (then kills). */
static int finish(daemon_proc *d, double timeout_s, double *took) {
  if (d->stdin_w >= 0) close(d->stdin_w);
  d->stdin_w = -1;
  double t0 = now_s();
  int status;
  while (waitpid(d->pid, &status, WNOHANG) != d->pid) {
    if (now_s() - t0 > timeout_s) {
      kill(d->pid, SIGKILL);
      waitpid(d->pid, &status, 0);
      return -1;
    }
    usleep(2000);
  }
  if (took) *took = now_s() - t0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- clients ---- */

typedef struct client {
  int fd;
  char buf[1 << 16];
  size_t len;
} client;

static client *client_new(const char *path) {
  client *c = calloc(1, sizeof *c);
  c->fd = connect_to(path);
  if (c->fd < 0) fail_msg("cannot connect to %s: %s", path, strerror(errno));
  return c;
}

static void client_free(client *c) {
  if (!c) return;
  close(c->fd);
  free(c);
}

/* Next line as JSON, or NULL after timeout_s / at EOF. */
static json_t *next_line(client *c, double timeout_s) {
  double t0 = now_s();
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
      *nl = 0;
      json_error_t e;
      json_t *o = json_loads(c->buf, 0, &e);
      if (!o) fail_msg("not JSON: '%s' (%s)", c->buf, e.text);
      size_t used = (size_t)(nl + 1 - c->buf);
      memmove(c->buf, nl + 1, c->len - used);
      c->len -= used;
      return o;
    }
    double left = timeout_s - (now_s() - t0);
    if (left <= 0 || c->len == sizeof c->buf) return NULL;
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) continue;
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0) return NULL;
    c->len += (size_t)r;
  }
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int is(json_t *o, const char *kind, const char *name) {
  const char *v = str(o, kind);
  return v && !strcmp(v, name);
}

/* Skip lines until one whose `kind` ("event"/"reply") is `name`. */
static json_t *wait_for(client *c, const char *kind, const char *name, double timeout_s) {
  double t0 = now_s();
  for (;;) {
    double left = timeout_s - (now_s() - t0);
    json_t *o = left > 0 ? next_line(c, left) : NULL;
    if (!o) return NULL;
    if (is(o, kind, name)) return o;
    json_decref(o);
  }
}

static void send_line(client *c, const char *s) {
  assert_int_equal(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* ---- audio ---- */

static mgc_audio g_clip;
static int g_offline_genre = -1;
static int g_offline_windows;
static double g_window_probs[2][16];
static char g_classes[16][32];

/* The genre mgc-classify gives the clip (the mean of all windows). */
static void offline_reference(void) {
  mgc_model *m;
  assert_int_equal(mgc_model_load(MODEL, &m), MGC_OK);
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &g_clip), MGC_OK);
  mgc_feature_matrix fm;
  assert_int_equal(mgc_features_compute(&m->frontend, MGC_KIND_LOGMEL, g_clip.samples, g_clip.n, &fm), MGC_OK);
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop, C = m->n_classes;
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 1, &s), MGC_OK);
  float *scratch = malloc((mgc_shape_size(&m->arch->input) + (size_t)win * fm.dim) * sizeof(float));
  float *probs = malloc(sizeof(float) * (size_t)nw * C);
  assert_int_equal(mgc_predict_track(s, &fm, win, hop, scratch, probs), MGC_OK);
  double mean[16] = {0};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < C; k++) g_window_probs[w][k] = probs[(size_t)w * C + k];
  for (int w = 0; w < nw; w++)
    for (int k = 0; k < C; k++) mean[k] += probs[(size_t)w * C + k];
  g_offline_genre = 0;
  for (int k = 0; k < C; k++) {
    if (mean[k] > mean[g_offline_genre]) g_offline_genre = k;
    snprintf(g_classes[k], sizeof g_classes[k], "%s", m->classes[k]);
  }
  g_offline_windows = nw;
  free(scratch);
  free(probs);
  mgc_session_free(s);
  mgc_feature_matrix_free(&fm);
  mgc_model_free(m);
}

static void write_wav(const char *path, const float *x, size_t n, int rate) {
  SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *f = sf_open(path, SFM_WRITE, &info);
  assert_non_null(f);
  assert_int_equal(sf_writef_float(f, x, (sf_count_t)n), (sf_count_t)n);
  sf_close(f);
}

/* Write s16 samples into fd at `speed` x real time (0: as fast as possible). */
typedef struct feeder {
  int fd;
  const float *x;
  size_t n;
  int rate;
  double speed;
  int close_after;
} feeder;

static void *feed_thread(void *arg) {
  feeder *f = arg;
  int16_t chunk[1024];
  double t0 = now_s();
  for (size_t i = 0; i < f->n; i += 1024) {
    size_t m = f->n - i < 1024 ? f->n - i : 1024;
    for (size_t k = 0; k < m; k++) chunk[k] = (int16_t)lrintf(f->x[i + k] * 32000.0f);
    if (f->speed > 0) {
      double due = t0 + (double)i / f->rate / f->speed;
      double wait = due - now_s();
      if (wait > 0) usleep((useconds_t)(wait * 1e6));
    }
    if (write(f->fd, chunk, m * 2) != (ssize_t)(m * 2)) break;
  }
  if (f->close_after) close(f->fd);
  return NULL;
}

static int genre_index(const char *name) {
  for (int k = 0; k < 16; k++)
    if (!strcmp(g_classes[k], name)) return k;
  return -1;
}

/* ---- tests ---- */

/* A file, as fast as possible: every window arrives, then `end`, then a
 * clean exit; the final decision is mgc-classify's. */
static void test_file_fast(void **st) {
  (void)st;
  daemon_proc d;
  start(&d, "file", 0, 1, "--model", MODEL, "--input", CLIP, "--fast", "--wait-clients", "1", NULL);
  client *c = client_new(d.sock);
  json_t *hello = next_line(c, 5);
  assert_non_null(hello);
  assert_true(is(hello, "event", "hello"));
  assert_int_equal(json_array_size(json_object_get(hello, "classes")), 10);
  json_decref(hello);
  int windows = 0;
  json_t *last = NULL, *o;
  while ((o = next_line(c, 30))) {
    if (is(o, "event", "window")) {
      assert_int_equal(json_integer_value(json_object_get(o, "index")), windows);
      windows++;
      json_decref(last);
      last = o;
      continue;
    }
    if (is(o, "event", "end")) {
      assert_int_equal(json_integer_value(json_object_get(o, "windows")), windows);
      json_decref(o);
      break;
    }
    json_decref(o);
  }
  assert_int_equal(windows, g_offline_windows);
  json_t *dec = json_object_get(last, "decision");
  assert_int_equal(genre_index(str(dec, "genre")), g_offline_genre);
  assert_int_equal(json_integer_value(json_object_get(dec, "windows")), windows);
  json_decref(last);
  client_free(c);
  double took;
  assert_int_equal(finish(&d, 10, &took), 0);
}

/* --min-confidence 1: no decision is ever sure, so none names a genre; each
 * says "uncertain" with its three most probable candidates, in order. */
static void test_min_confidence(void **st) {
  (void)st;
  daemon_proc d;
  start(&d, "unsure", 0, 1, "--model", MODEL, "--input", CLIP, "--fast", "--wait-clients", "1",
        "--min-confidence", "1", NULL);
  client *c = client_new(d.sock);
  int decisions = 0;
  json_t *o;
  while ((o = next_line(c, 30))) {
    int end = is(o, "event", "end");
    json_t *dec = json_object_get(o, "decision");
    json_t *probs = json_object_get(dec, "probs");
    if (dec && probs) {
      assert_true(json_is_null(json_object_get(dec, "genre")));
      assert_true(json_is_true(json_object_get(dec, "uncertain")));
      json_t *cand = json_object_get(dec, "candidates");
      assert_int_equal(json_array_size(cand), 3);
      double prev = 2;
      for (size_t r = 0; r < 3; r++) {
        json_t *e = json_array_get(cand, r);
        double p = json_real_value(json_array_get(e, 1));
        assert_true(p <= prev);
        prev = p;
        double want = json_real_value(json_object_get(probs, json_string_value(json_array_get(e, 0))));
        assert_true(fabs(p - want) < 1e-4);
      }
      /* the first candidate is the most probable class of all */
      const char *k;
      json_t *v;
      double first = json_real_value(json_array_get(json_array_get(cand, 0), 1));
      json_object_foreach(probs, k, v) assert_true(json_real_value(v) <= first + 1e-9);
      decisions++;
    }
    json_decref(o);
    if (end) break;
  }
  assert_true(decisions > 10);
  client_free(c);
  assert_int_equal(finish(&d, 10, NULL), 0);
  /* out of range: a usage error */
  start(&d, "unsure2", 0, 0, "--model", MODEL, "--input", CLIP, "--min-confidence", "2", NULL);
  double took;
  assert_int_equal(finish(&d, 10, &took), 2);
}

/* A missing file is an error at start, naming it. */
static void test_bad_file(void **st) {
  (void)st;
  char out[4096], cmd[1024];
  snprintf(cmd, sizeof cmd, "%s --foreground --socket %s/bad.sock --model %s --input %s/nope.wav --fast",
           MGCD_BIN, g_dir, MODEL, g_dir);
  assert_int_not_equal(run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "nope.wav"));
}

/* stdin carrying WAV, 20 clients at once: every client gets every window,
 * the same lines in the same order. */
static void test_stdin_wav_20_clients(void **st) {
  (void)st;
  char wav[300];
  snprintf(wav, sizeof wav, "%s/clip.wav", g_dir);
  write_wav(wav, g_clip.samples, g_clip.n, g_clip.rate);
  daemon_proc d;
  start(&d, "stdin", 1, 1, "--model", MODEL, "--input", "-", "--fast", "--wait-clients", "20", NULL);
  client *c[20];
  for (int i = 0; i < 20; i++) c[i] = client_new(d.sock);
  size_t len;
  unsigned char *bytes = read_file(wav, &len);
  assert_int_equal(write(d.stdin_w, bytes, len), (ssize_t)len);
  free(bytes);
  close(d.stdin_w);
  d.stdin_w = -1;
  int counts[20] = {0};
  double probs0[64] = {0};
  for (int i = 0; i < 20; i++) {
    json_t *o;
    while ((o = next_line(c[i], 30))) {
      int end = is(o, "event", "end");
      if (is(o, "event", "window")) {
        int w = counts[i]++;
        json_t *pr = json_object_get(json_object_get(o, "probs"), g_classes[g_offline_genre]);
        assert_non_null(pr);
        if (i == 0 && w < 64) probs0[w] = json_real_value(pr);
        else if (w < 64) assert_true(fabs(probs0[w] - json_real_value(pr)) < 1e-9);
      }
      json_decref(o);
      if (end) break;
    }
  }
  for (int i = 0; i < 20; i++) assert_int_equal(counts[i], g_offline_windows);
  for (int i = 0; i < 20; i++) client_free(c[i]);
  assert_int_equal(finish(&d, 10, NULL), 0);
}

/* A client that never reads neither stalls the daemon nor delays the
 * others: 15 minutes of audio at 300x real time give far more events than
 * its socket and queue hold; the reader still gets every window in order,
 * without gaps, and the non-reader is skipped and then cut off. */
static void test_slow_client(void **st) {
  (void)st;
  char cfg[300];
  snprintf(cfg, sizeof cfg, "%s/slow.yaml", g_dir);
  FILE *f = fopen(cfg, "w");
  fprintf(f, "socket:\n  client_buffer: 4096\n  client_timeout: 0.5\n");
  fclose(f);
  daemon_proc d;
  start(&d, "slow", 1, 1, "--config", cfg, "--model", MODEL, "--input", "-", "--raw", "22050:1:s16", "--fast",
        "--wait-clients", "2", NULL);
  client *lazy = client_new(d.sock); /* never reads */
  int small = 4096;
  setsockopt(lazy->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  client *reader = client_new(d.sock);
  size_t n = 900 * 22050;
  float *x = malloc(n * sizeof *x);
  uint64_t seed = 42;
  for (size_t i = 0; i < n; i++) /* loud noise: never silence */
    x[i] = 0.2f * ((float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f);
  feeder fd = {d.stdin_w, x, n, 22050, 300.0, 1};
  d.stdin_w = -1;
  pthread_t th;
  pthread_create(&th, NULL, feed_thread, &fd);
  int windows = 0, skipped = 0;
  json_t *o;
  double last = now_s(), max_gap = 0;
  while ((o = next_line(reader, 60))) {
    int end = is(o, "event", "end");
    if (is(o, "event", "window")) {
      assert_int_equal(json_integer_value(json_object_get(o, "index")), windows);
      windows++;
      double t = now_s();
      if (windows > 1 && t - last > max_gap) max_gap = t - last;
      last = t;
    }
    if (is(o, "event", "skipped")) skipped++;
    json_decref(o);
    if (end) break;
  }
  pthread_join(th, NULL);
  free(x);
  assert_int_equal(skipped, 0);
  mgc_frontend_params fp;
  mgc_frontend_params_default(&fp);
  assert_int_equal(windows, (int)mgc_windower_count(fp.segment_frames, fp.segment_hop,
                                                     mgc_frontend_frame_count(&fp, n)));
  /* Windows come every 5 ms of wall time; the lazy client's 0.5 s timeout
   * must never show up as a pause in the reader's stream. */
  if (max_gap > 0.4) fail_msg("the reader waited %.3f s between two windows", max_gap);
  /* The lazy client was cut: after what it was sent, EOF. */
  int got_eof = 0;
  double t0 = now_s();
  while (!got_eof && now_s() - t0 < 10) {
    struct pollfd p = {lazy->fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char b[65536];
    ssize_t r = recv(lazy->fd, b, sizeof b, 0);
    if (r <= 0) got_eof = 1;
  }
  assert_true(got_eof);
  assert_int_equal(finish(&d, 10, NULL), 0);
  size_t len;
  unsigned char *log = read_file(d.err, &len);
  if (!strstr((char *)log, "cut off")) fail_msg("no 'cut off' in the daemon's log: %s", log);
  free(log);
  client_free(lazy);
  client_free(reader);
}

/* Bad lines get an error reply and the connection stays usable. */
static void test_malformed_commands(void **st) {
  (void)st;
  daemon_proc d;
  start(&d, "cmds", 1, 1, "--model", MODEL, "--input", "-", "--raw", "22050", NULL);
  client *c = client_new(d.sock);
  json_decref(wait_for(c, "event", "hello", 5));
  static const char *bad[] = {"bogus\n", "{\"command\": 5}\n", "{not json\n", "status now please\n",
                              "STATUS\n", "{\"command\":\"status\",\"x\":1}\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    send_line(c, bad[i]);
    json_t *r = wait_for(c, "reply", "error", 5);
    assert_non_null(r);
    assert_non_null(str(r, "error"));
    json_decref(r);
  }
  /* A 100 kB line and a NUL byte. */
  char *big = malloc(100001);
  memset(big, 'a', 100000);
  big[100000] = '\n';
  assert_int_equal(write(c->fd, big, 100001), 100001);
  free(big);
  json_t *r = wait_for(c, "reply", "error", 5);
  assert_non_null(strstr(str(r, "error"), "too long"));
  json_decref(r);
  assert_int_equal(write(c->fd, "sta\0tus\n", 8), 8);
  r = wait_for(c, "reply", "error", 5);
  assert_non_null(r);
  json_decref(r);
  /* Still connected; plain and JSON commands work. */
  send_line(c, "status\n");
  r = wait_for(c, "reply", "status", 5);
  assert_non_null(r);
  assert_string_equal(str(r, "state"), "running");
  json_decref(r);
  send_line(c, "{\"command\":\"version\"}\n");
  r = wait_for(c, "reply", "version", 5);
  assert_non_null(str(r, "version"));
  json_decref(r);
  send_line(c, "unsubscribe\n");
  r = wait_for(c, "reply", "unsubscribe", 5);
  assert_false(json_is_true(json_object_get(r, "subscribed")));
  json_decref(r);
  client_free(c);
  kill(d.pid, SIGTERM);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* socket.max_clients: the next client gets an error line and is closed,
 * the others keep being served; socket.max_line bounds a command line. */
static void test_client_and_line_limits(void **st) {
  (void)st;
  char cfg[300];
  snprintf(cfg, sizeof cfg, "%s/limits.yaml", g_dir);
  FILE *f = fopen(cfg, "w");
  fprintf(f, "socket:\n  max_clients: 2\n  max_line: 64\n");
  fclose(f);
  daemon_proc d;
  start(&d, "limits", 1, 1, "--config", cfg, "--model", MODEL, "--input", "-", "--raw", "22050", NULL);
  client *a = client_new(d.sock);
  json_decref(wait_for(a, "event", "hello", 5));
  /* start() probed the socket: wait until that probe has been let go. */
  for (int clients = 0; clients != 1;) {
    send_line(a, "status\n");
    json_t *r = wait_for(a, "reply", "status", 5);
    assert_non_null(r);
    clients = (int)json_integer_value(json_object_get(r, "clients"));
    json_decref(r);
  }
  client *b = client_new(d.sock);
  json_t *hello = wait_for(b, "event", "hello", 5);
  assert_non_null(hello);
  json_decref(hello);
  client *third = client_new(d.sock);
  json_t *r = next_line(third, 5);
  assert_non_null(r);
  assert_string_equal(str(r, "error"), "too many clients");
  json_decref(r);
  assert_null(next_line(third, 5)); /* then EOF */
  client_free(third);
  /* 64 bytes are a line; 65 are too long, and say the limit. */
  char line[80];
  memset(line, ' ', 64);
  memcpy(line + 58, "status", 6);
  line[64] = '\n';
  assert_int_equal(write(a->fd, line, 65), 65);
  r = wait_for(a, "reply", "status", 5);
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(r, "clients")), 2);
  assert_int_equal(json_integer_value(json_object_get(r, "clients_refused")), 1);
  json_decref(r);
  line[64] = ' ';
  line[65] = '\n';
  assert_int_equal(write(a->fd, line, 66), 66);
  r = wait_for(a, "reply", "error", 5);
  assert_string_equal(str(r, "error"), "command line too long (max 64 bytes)");
  json_decref(r);
  send_line(b, "version\n");
  r = wait_for(b, "reply", "version", 5);
  assert_non_null(r);
  json_decref(r);
  client_free(a);
  client_free(b);
  kill(d.pid, SIGTERM);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* CPU seconds a process has used (user + system). */
static double cpu_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  unsigned long ut = 0, st = 0;
  if (f) {
    if (fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
      ut = st = 0;
    fclose(f);
  }
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Out of file descriptors: a client beyond them is told so and closed, the
 * daemon neither spins on the pending connections nor stops serving, and
 * takes clients again once descriptors are free. */
static void test_out_of_descriptors(void **st) {
  (void)st;
  struct rlimit keep, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &keep), 0);
  low = keep;
  low.rlim_cur = 32; /* mgcd needs about 16 of its own */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  daemon_proc d;
  start(&d, "nofile", 1, 1, "--model", MODEL, "--input", "-", "--raw", "22050", NULL);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &keep), 0);
  client *first = client_new(d.sock);
  json_t *r = wait_for(first, "event", "hello", 5);
  assert_non_null(r);
  json_decref(r);
  enum { N = 40 };
  client *c[N];
  int served = 0, refused = 0;
  for (int i = 0; i < N; i++) {
    c[i] = client_new(d.sock);
    json_t *o = next_line(c[i], 5);
    assert_non_null(o);
    if (is(o, "event", "hello")) served++;
    else if (str(o, "error") && !strcmp(str(o, "error"), "mgcd is out of file descriptors")) refused++;
    else fail_msg("unexpected first line for client %d", i);
    json_decref(o);
  }
  assert_true(served > 0);
  assert_true(refused > 0);
  assert_int_equal(served + refused, N);
  /* Not spinning, and still answering. */
  double cpu0 = cpu_of(d.pid);
  usleep(1000000);
  assert_true(cpu_of(d.pid) - cpu0 < 0.3);
  send_line(first, "status\n");
  r = wait_for(first, "reply", "status", 5);
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(r, "clients_refused")), refused);
  json_decref(r);
  for (int i = 0; i < N; i++) client_free(c[i]);
  usleep(200000);
  client *again = client_new(d.sock);
  r = wait_for(again, "event", "hello", 5);
  assert_non_null(r);
  json_decref(r);
  client_free(again);
  client_free(first);
  kill(d.pid, SIGTERM);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* Bad configuration: exit non-zero, file:line:col on stderr. */
static void test_bad_config(void **st) {
  (void)st;
  char cfg[300], out[4096], cmd[1024];
  snprintf(cfg, sizeof cfg, "%s/bad.yaml", g_dir);
  FILE *f = fopen(cfg, "w");
  fprintf(f, "socket:\n  mode: \"0660\"\n  pth: /tmp/x.sock\n");
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s --foreground --config %s --model %s", MGCD_BIN, cfg, MODEL);
  assert_int_not_equal(run(cmd, out, sizeof out), 0);
  char want[400];
  snprintf(want, sizeof want, "%s:3:3", cfg);
  if (!strstr(out, want)) fail_msg("expected '%s' in: %s", want, out);
  f = fopen(cfg, "w");
  fprintf(f, "aggregate:\n  horizon: -5\n");
  fclose(f);
  assert_int_not_equal(run(cmd, out, sizeof out), 0);
  snprintf(want, sizeof want, "%s:2:", cfg);
  if (!strstr(out, want)) fail_msg("expected '%s' in: %s", want, out);
}

/* SIGTERM (and SIGINT) while audio flows: exit 0 within a second. */
static void test_sigterm(void **st) {
  (void)st;
  for (int sig = 0; sig < 2; sig++) {
    daemon_proc d;
    start(&d, "term", 1, 1, "--model", MODEL, "--input", "-", "--raw", "22050", "--fast", NULL);
    client *c = client_new(d.sock);
    json_decref(wait_for(c, "event", "hello", 5));
    feeder fd = {d.stdin_w, g_clip.samples, g_clip.n, g_clip.rate, 1.0, 0};
    pthread_t th;
    pthread_create(&th, NULL, feed_thread, &fd);
    json_t *w = wait_for(c, "event", "window", 10);
    assert_non_null(w);
    json_decref(w);
    double t0 = now_s();
    kill(d.pid, sig ? SIGINT : SIGTERM);
    int status;
    while (waitpid(d.pid, &status, WNOHANG) != d.pid && now_s() - t0 < 5) usleep(1000);
    double took = now_s() - t0;
    pthread_join(th, NULL); /* its next write fails: the reader is gone */
    close(d.stdin_w);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(took < 1.0);
    struct stat sb;
    assert_int_not_equal(stat(d.sock, &sb), 0); /* the socket file is removed */
    client_free(c);
  }
}

/* SIGHUP: clients stay connected; a model replaced by garbage is refused
 * and the old model keeps classifying. */
static void test_sighup(void **st) {
  (void)st;
  char model[300], cfg[300];
  snprintf(model, sizeof model, "%s/model.safetensors", g_dir);
  snprintf(cfg, sizeof cfg, "%s/hup.yaml", g_dir);
  size_t len;
  unsigned char *bytes = read_file(MODEL, &len);
  FILE *f = fopen(model, "wb");
  fwrite(bytes, 1, len, f);
  fclose(f);
  free(bytes);
  f = fopen(cfg, "w");
  fprintf(f, "model: model.safetensors\naggregate:\n  horizon: 30\n");
  fclose(f);
  daemon_proc d;
  start(&d, "hup", 1, 1, "--config", cfg, "--input", "-", "--raw", "22050", "--fast", NULL);
  client *c = client_new(d.sock);
  json_decref(wait_for(c, "event", "hello", 5));
  feeder fd = {d.stdin_w, g_clip.samples, g_clip.n, g_clip.rate, 4.0, 0};
  pthread_t th;
  pthread_create(&th, NULL, feed_thread, &fd);
  json_t *w = wait_for(c, "event", "window", 10);
  assert_non_null(w);
  json_decref(w);
  /* A good reload: new horizon; the client stays and hears about it. */
  f = fopen(cfg, "w");
  fprintf(f, "model: model.safetensors\naggregate:\n  horizon: 12\n");
  fclose(f);
  kill(d.pid, SIGHUP);
  json_t *r = wait_for(c, "event", "reloaded", 5);
  assert_non_null(r);
  json_decref(r);
  w = wait_for(c, "event", "window", 10);
  assert_non_null(w);
  json_decref(w);
  /* Garbage in place of the model: refused, the old one keeps serving. */
  f = fopen(model, "wb");
  fprintf(f, "this is not a model\n");
  fclose(f);
  kill(d.pid, SIGHUP);
  r = wait_for(c, "event", "reload_failed", 5);
  assert_non_null(r);
  assert_non_null(strstr(str(r, "error"), "model.safetensors"));
  json_decref(r);
  for (int i = 0; i < 2; i++) {
    w = wait_for(c, "event", "window", 10);
    assert_non_null(w);
    assert_non_null(json_object_get(w, "probs"));
    json_decref(w);
  }
  /* A bad configuration: refused the same way. */
  f = fopen(cfg, "w");
  fprintf(f, "model: model.safetensors\naggregate:\n  horizon: lots\n");
  fclose(f);
  kill(d.pid, SIGHUP);
  r = wait_for(c, "event", "reload_failed", 5);
  assert_non_null(r);
  assert_non_null(strstr(str(r, "error"), "hup.yaml:3:"));
  json_decref(r);
  send_line(c, "status\n");
  r = wait_for(c, "reply", "status", 5);
  assert_non_null(r);
  assert_string_equal(str(r, "state"), "running");
  json_decref(r);
  kill(d.pid, SIGTERM);
  pthread_join(th, NULL);
  client_free(c);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* Real PortAudio: ALSA's default capture device is a `file` PCM replaying
 * the clip (tests/alsa_fixture.h), so mgcd hears music through the same
 * code path as a microphone. That PCM is not paced: it delivers its whole
 * infile at once and then repeats its last buffer, so only the first ring's
 * worth of audio (about 5.9 s) is the clip, intact, and the rest overruns.
 * The first two windows lie inside it and must carry exactly the offline
 * probabilities of the clip's first two windows; the flood that follows
 * must be reported as overruns without stalling the daemon. */
static void test_portaudio_capture(void **st) {
  (void)st;
  char infile[300], conf[300];
  snprintf(infile, sizeof infile, "%s/capture.f32", g_dir);
  size_t n = (size_t)(5.5 * g_clip.rate);
  assert_int_equal(alsa_fixture_infile(infile, g_clip.samples, n, 2, NULL), 0);
  assert_non_null(alsa_fixture_config(conf, sizeof conf, g_dir, "default", infile));
  setenv("ALSA_CONFIG_PATH", conf, 1);
  daemon_proc d;
  start(&d, "pa", 0, 0, "--model", MODEL, "--input", "default", "--wait-clients", "1", NULL);
  unsetenv("ALSA_CONFIG_PATH");
  for (int i = 0; i < 500 && access(d.sock, F_OK) != 0; i++) usleep(10000);
  client *c = client_new(d.sock);
  json_t *hello = wait_for(c, "event", "hello", 5);
  assert_non_null(hello);
  json_decref(hello);
  int overrun = 0;
  for (int w = 0; w < 2; w++) {
    json_t *o = wait_for(c, "event", "window", 10);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "index")), w);
    json_t *probs = json_object_get(o, "probs");
    for (int k = 0; k < 10; k++) {
      double p = json_real_value(json_object_get(probs, g_classes[k]));
      if (fabs(p - g_window_probs[w][k]) > 2e-4)
        fail_msg("window %d, %s: %.5f through PortAudio, %.5f offline", w, g_classes[k], p, g_window_probs[w][k]);
    }
    json_decref(o);
  }
  /* The daemon keeps answering while the device floods it. */
  send_line(c, "status\n");
  json_t *r;
  while ((r = next_line(c, 5)) && !is(r, "reply", "status")) {
    if (is(r, "event", "overrun")) overrun = 1;
    json_decref(r);
  }
  assert_non_null(r);
  assert_string_equal(str(r, "state"), "running");
  assert_non_null(strstr(str(r, "input"), "default"));
  overrun = overrun || json_integer_value(json_object_get(r, "overruns")) > 0;
  json_decref(r);
  assert_true(overrun);
  client_free(c);
  kill(d.pid, SIGTERM);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* A device that is not there at start (the USB microphone not yet
 * plugged): mgcd starts anyway, says the input is lost, retries with
 * back-off, and when the device appears it resumes without a restart. */
static void test_input_lost_regained(void **st) {
  (void)st;
  char dir[300], conf[400], infile[400], cfg[400];
  snprintf(dir, sizeof dir, "%s/replug", g_dir);
  mkdir(dir, 0755);
  assert_non_null(alsa_fixture_config(conf, sizeof conf, dir, "mgcmic", NULL)); /* unplugged */
  snprintf(infile, sizeof infile, "%s/mic.f32", dir);
  assert_int_equal(alsa_fixture_infile(infile, g_clip.samples, (size_t)(5.5 * g_clip.rate), 2, NULL), 0);
  snprintf(cfg, sizeof cfg, "%s/replug.yaml", dir);
  FILE *f = fopen(cfg, "w");
  fprintf(f, "input:\n  device: mgcmic\n  retry: {min: 0.2, max: 0.4}\n");
  fclose(f);
  setenv("ALSA_CONFIG_PATH", conf, 1);
  daemon_proc d;
  start(&d, "replug", 0, 1, "--config", cfg, "--model", MODEL, NULL);
  unsetenv("ALSA_CONFIG_PATH");
  client *c = client_new(d.sock);
  json_t *hello = wait_for(c, "event", "hello", 5);
  assert_non_null(hello);
  assert_string_equal(str(hello, "state"), "lost");
  json_decref(hello);
  send_line(c, "status\n");
  json_t *r = wait_for(c, "reply", "status", 5);
  assert_string_equal(str(r, "state"), "lost");
  assert_non_null(strstr(str(r, "error"), "mgcmic"));
  assert_true(json_real_value(json_object_get(r, "retry_in")) <= 0.4);
  json_decref(r);
  /* Plug it in. */
  assert_non_null(alsa_fixture_config(conf, sizeof conf, dir, "mgcmic", infile));
  json_t *e = wait_for(c, "event", "input_regained", 5);
  assert_non_null(e);
  assert_non_null(strstr(str(e, "input"), "mgcmic"));
  json_decref(e);
  json_t *w = wait_for(c, "event", "window", 10);
  assert_non_null(w);
  assert_non_null(json_object_get(w, "probs"));
  json_decref(w);
  send_line(c, "status\n");
  r = wait_for(c, "reply", "status", 5);
  assert_string_equal(str(r, "state"), "running");
  assert_int_equal(json_integer_value(json_object_get(r, "reconnects")), 1);
  json_decref(r);
  client_free(c);
  kill(d.pid, SIGTERM);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* An ensemble file as the model: two window members and a table member.
 * The hello lists them; windows flow; the table member's worker answers
 * off the real-time path and its answer joins the decision. */
static void make_member(const char *arch_name, const char *out, uint64_t seed) {
  char path[512];
  snprintf(path, sizeof path, "%s/conf/models/%s.yaml", MGC_SOURCE_DIR, arch_name);
  mgc_arch *a;
  assert_int_equal(mgc_arch_load(path, &a), MGC_OK);
  mgc_model *crnn, *m;
  assert_int_equal(mgc_model_load(MODEL, &crnn), MGC_OK);
  assert_int_equal(mgc_model_new(a, crnn->n_classes, (const char *const *)crnn->classes, seed, &m), MGC_OK);
  assert_int_equal(mgc_model_save(m, out), MGC_OK);
  mgc_model_free(m);
  mgc_model_free(crnn);
  mgc_arch_free(a);
}

static void test_ensemble(void **st) {
  (void)st;
  char chroma[400], mlp[400], ens[400];
  snprintf(chroma, sizeof chroma, "%s/ens-chroma.safetensors", g_dir);
  snprintf(mlp, sizeof mlp, "%s/ens-mlp.safetensors", g_dir);
  snprintf(ens, sizeof ens, "%s/ens.yaml", g_dir);
  make_member("chroma_rnn", chroma, 3);
  make_member("mlp", mlp, 4);
  FILE *f = fopen(ens, "w");
  fprintf(f, "rule: mean\nmembers:\n  - {name: crnn, model: %s, input: window}\n"
             "  - {name: chroma, model: ens-chroma.safetensors, input: window}\n"
             "  - {name: table, model: ens-mlp.safetensors, input: table}\n", MODEL);
  fclose(f);
  daemon_proc d;
  start(&d, "ens", 1, 1, "--model", ens, "--input", "-", "--raw", "22050", "--fast", NULL);
  client *c = client_new(d.sock);
  json_t *hello = wait_for(c, "event", "hello", 5);
  assert_non_null(hello);
  json_t *members = json_object_get(json_object_get(hello, "ensemble"), "members");
  assert_int_equal(json_array_size(members), 3);
  assert_string_equal(str(json_array_get(members, 2), "input"), "context");
  json_decref(hello);
  feeder fd = {d.stdin_w, g_clip.samples, g_clip.n, g_clip.rate, 8.0, 0};
  pthread_t th;
  pthread_create(&th, NULL, feed_thread, &fd);
  int in_decision = 0, windows = 0;
  double t0 = now_s();
  while (!in_decision && now_s() - t0 < 20) {
    send_line(c, "status\n");
    json_t *r;
    while ((r = next_line(c, 5)) && !is(r, "reply", "status")) {
      if (is(r, "event", "window")) windows++;
      json_decref(r);
    }
    assert_non_null(r);
    json_t *e = json_object_get(r, "ensemble");
    in_decision = json_is_true(json_object_get(e, "table_in_decision"));
    if (in_decision) {
      assert_true(json_integer_value(json_object_get(e, "table_runs")) >= 1);
      assert_true(json_real_value(json_object_get(e, "table_audio_s")) >= 10.0);
      /* The same member in the list of context members. */
      json_t *ctx0 = json_array_get(json_object_get(e, "context"), 0);
      assert_string_equal(str(ctx0, "name"), "table");
      assert_true(json_is_true(json_object_get(ctx0, "in_decision")));
      assert_true(json_integer_value(json_object_get(ctx0, "runs")) >= 1);
    }
    json_decref(r);
    usleep(200000);
  }
  assert_true(in_decision);
  assert_true(windows >= 5);
  kill(d.pid, SIGTERM);
  pthread_join(th, NULL);
  client_free(c);
  assert_int_equal(finish(&d, 5, NULL), 0);
}

/* The shipped default ensemble on a file with --fast: the `end` event's
 * decision includes its context member (the FCN, at 16 kHz, run on the
 * whole 30 s clip at the end of input, even though --fast outran its
 * worker) and equals the offline ensemble's decision on the same file as
 * mgc-classify makes it: on the music its detector finds there (every
 * window of this clip). */
static void test_default_ensemble_end(void **st) {
  (void)st;
  const char *ens = MGC_SOURCE_DIR "/models/ensemble.yaml";
  mgc_ensemble *e;
  if (mgc_ensemble_load(ens, MGC_ENSEMBLE_LOAD_MODELS, &e)) fail_msg("%s", mgc_error_message());
  int has_table = 0;
  for (int m = 0; m < e->n_members; m++) has_table |= e->members[m].input == MGC_ENS_INPUT_TABLE;
  assert_true(has_table);
  assert_non_null(e->detector_loaded);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  mgc_music_window *mw;
  size_t nw, nm;
  float *music;
  assert_int_equal(mgc_music_extract(e->detector_loaded, &pp, g_clip.samples, g_clip.n, g_clip.rate, &mw, &nw,
                                     &music, &nm), MGC_OK);
  assert_int_equal(mgc_music_votes(mw, nw), nw);
  mgc_ensemble_classifier *ec;
  assert_int_equal(mgc_ensemble_classifier_new(e, &ec), MGC_OK);
  float want[16];
  assert_int_equal(mgc_ensemble_classifier_process(ec, music, nm, want, NULL, NULL), MGC_OK);
  free(music);
  free(mw);
  daemon_proc d;
  start(&d, "dens", 0, 1, "--model", ens, "--input", CLIP, "--fast", "--wait-clients", "1", NULL);
  client *c = client_new(d.sock);
  json_t *end = wait_for(c, "event", "end", 30);
  assert_non_null(end);
  json_t *probs = json_object_get(json_object_get(end, "decision"), "probs");
  assert_int_equal((int)json_object_size(probs), e->n_classes);
  for (int k = 0; k < e->n_classes; k++) {
    double got = json_real_value(json_object_get(probs, e->classes[k]));
    if (fabs(got - want[k]) > 2e-4)
      fail_msg("%s: mgcd's final %.4f, offline %.4f", e->classes[k], got, want[k]);
  }
  json_decref(end);
  client_free(c);
  assert_int_equal(finish(&d, 10, NULL), 0);
  mgc_ensemble_classifier_free(ec);
  mgc_ensemble_free(e);
}

/* ---- music, no music, silence ---- */

#define SPEECH MGC_FIXTURES "/speech/librispeech_1841-150351-0000_10s.ogg"
#define ROCK MGC_FIXTURES "/cc/rock_schmiedberger_rock_n_roll_30s.ogg"

/* Pink noise (Voss-McCartney: 12 rows of white noise, row k redrawn every
 * 2^k samples), at RMS `rms`, from a fixed seed. */
static void pink_noise(float *x, size_t n, double rms) {
  uint64_t r = 0x9e3779b97f4a7c15ull;
  double rows[12] = {0}, sum = 0, ss = 0;
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < 12; k++) {
      if (i % ((size_t)1 << k)) continue;
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      double v = (double)(r >> 11) / 9007199254740992.0 - 0.5;
      sum += v - rows[k];
      rows[k] = v;
    }
    x[i] = (float)sum;
    ss += sum * sum;
  }
  double g = rms / sqrt(ss / (double)n);
  for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] * g);
}

typedef struct heard {
  double t, t_end;
  char sound[16];
  int has_probs, has_music, genre, track, windows;
} heard;

/* The default ensemble with its music detector, through the real daemon, on
 * speech -> music -> noise -> other music -> silence: each part gets its
 * state by its second whole window; speech and noise get no genre (no
 * window probabilities, no decision); each stretch of music is decided on a
 * track of its own; and the state does not flap. */
static void test_music_states(void **st) {
  (void)st;
  const int rate = g_clip.rate;
  mgc_audio speech, rock;
  assert_int_equal(mgc_audio_load(SPEECH, rate, &speech), MGC_OK);
  assert_int_equal(mgc_audio_load(ROCK, rate, &rock), MGC_OK);
  struct {
    const char *want;
    double s;
  } parts[] = {{"no_music", 10}, {"music", 12}, {"no_music", 10}, {"music", 12}, {"silence", 8}};
  size_t n = 0, len[5];
  for (int p = 0; p < 5; p++) n += len[p] = (size_t)(parts[p].s * rate);
  assert_true(speech.n >= len[0] && rock.n >= len[1] && g_clip.n >= len[3]);
  float *x = calloc(n, sizeof(float));
  memcpy(x, speech.samples, len[0] * sizeof(float));
  memcpy(x + len[0], rock.samples, len[1] * sizeof(float));
  pink_noise(x + len[0] + len[1], len[2], 0.05);
  memcpy(x + len[0] + len[1] + len[2], g_clip.samples, len[3] * sizeof(float));
  char wav[512];
  snprintf(wav, sizeof wav, "%s/sequence.wav", g_dir);
  write_wav(wav, x, n, rate);
  free(x);
  free(speech.samples);
  free(rock.samples);

  daemon_proc d;
  start(&d, "music", 0, 1, "--model", MGC_SOURCE_DIR "/models/ensemble.yaml", "--input", wav, "--fast",
        "--wait-clients", "1", NULL);
  client *c = client_new(d.sock);
  heard w[64];
  int nw = 0, ns = 0, no_music_tracks = 0;
  char sounds[16][16];
  json_t *o;
  while ((o = next_line(c, 60))) {
    if (is(o, "event", "end")) {
      json_decref(o);
      break;
    }
    if (is(o, "event", "sound") && ns < 16) snprintf(sounds[ns++], 16, "%s", str(o, "sound"));
    if (is(o, "event", "new_track")) no_music_tracks += !strcmp(str(o, "reason"), "no_music");
    if (is(o, "event", "window") && nw < 64) {
      heard *h = &w[nw++];
      json_t *dec = json_object_get(o, "decision"), *music = json_object_get(o, "music");
      h->t = json_real_value(json_object_get(o, "t"));
      h->t_end = json_real_value(json_object_get(o, "t_end"));
      snprintf(h->sound, sizeof h->sound, "%s", str(o, "sound"));
      h->has_probs = json_object_get(o, "probs") != NULL;
      h->has_music = music != NULL;
      h->genre = str(dec, "genre") ? genre_index(str(dec, "genre")) : -1;
      h->track = (int)json_integer_value(json_object_get(dec, "track"));
      h->windows = (int)json_integer_value(json_object_get(dec, "windows"));
      if (!json_is_true(json_object_get(o, "silent"))) {
        assert_true(h->has_music);
        double pm = json_real_value(music);
        assert_true(pm >= 0 && pm <= 1);
      }
    }
    json_decref(o);
  }
  client_free(c);
  assert_int_equal(finish(&d, 10, NULL), 0);
  assert_true(nw >= 30);

  double a = 0;
  int music_track[5] = {0};
  for (int p = 0; p < 5; p++) {
    double b = a + parts[p].s;
    int whole = 0;
    for (int i = 0; i < nw; i++) {
      if (w[i].t < a - 1e-6 || w[i].t_end > b + 1e-6) continue;
      if (++whole < 2) continue; /* the state may still be on its way */
      if (strcmp(w[i].sound, parts[p].want))
        fail_msg("part %d (%.0f-%.0f s, %s): window %.2f-%.2f s is '%s'", p, a, b, parts[p].want, w[i].t,
                 w[i].t_end, w[i].sound);
      if (!strcmp(parts[p].want, "music")) {
        assert_true(w[i].has_probs && w[i].genre >= 0);
        if (!music_track[p]) music_track[p] = w[i].track;
        assert_int_equal(w[i].track, music_track[p]);
      } else {
        if (w[i].has_probs || w[i].genre >= 0)
          fail_msg("part %d (%s): window %.2f-%.2f s has a genre", p, parts[p].want, w[i].t, w[i].t_end);
      }
    }
    if (whole < 3) fail_msg("part %d: only %d whole windows", p, whole);
    a = b;
  }
  /* A track of its own for each stretch of music, from its first vote. */
  assert_true(music_track[1] != music_track[3]);
  for (int i = 0; i < nw; i++)
    if (w[i].track == music_track[3] && w[i].has_probs) {
      assert_int_equal(w[i].windows, 1);
      break;
    }
  assert_true(w[nw - 1].track != music_track[3]);
  assert_true(no_music_tracks >= 1);
  /* The states in order, with at most one detour (the last music window is
   * mostly silence and may read as no music first). */
  const char *want[] = {"no_music", "music", "no_music", "music", "silence"};
  int k = 0;
  for (int i = 0; i < ns && k < 5; i++) k += !strcmp(sounds[i], want[k]);
  if (k < 5 || ns > 6) {
    char all[16 * 17 + 1] = "";
    for (int i = 0; i < ns; i++) {
      strcat(all, " ");
      strcat(all, sounds[i]);
    }
    fail_msg("sound events:%s", all);
  }
}

static int setup(void **st) {
  tmpdir_setup(st);
  offline_reference();
  return 0;
}

static int teardown(void **st) {
  mgc_audio_free(&g_clip);
  return tmpdir_teardown(st);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_fast),          cmocka_unit_test(test_bad_file),
      cmocka_unit_test(test_stdin_wav_20_clients), cmocka_unit_test(test_slow_client),
      cmocka_unit_test(test_malformed_commands), cmocka_unit_test(test_client_and_line_limits),
      cmocka_unit_test(test_out_of_descriptors),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_sigterm),            cmocka_unit_test(test_sighup),
      cmocka_unit_test(test_portaudio_capture),  cmocka_unit_test(test_input_lost_regained),
      cmocka_unit_test(test_ensemble),           cmocka_unit_test(test_default_ensemble_end),
      cmocka_unit_test(test_min_confidence),     cmocka_unit_test(test_music_states),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
