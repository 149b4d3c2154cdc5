/* mgcd's input: files (fast: the same samples as mgc_audio_load, exact at
 * the file's rate and within soxr's chunking noise when resampled; real
 * time: paced by the clock), stdin (WAV through a pipe, headerless s16),
 * unreadable files, and real PortAudio capture through ALSA without a sound
 * card (tests/alsa_fixture.h): the samples of the infile arrive, resampled
 * on the consumer side when the device runs at another rate, a device that
 * is missing at start is found once it appears, and a stalled device is
 * declared lost and reopened. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <portaudio.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alsa_fixture.h"
#include "config.h"
#include "input.h"
#include "mgc/audio/audio.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_s(double s) {
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&t, NULL);
}

/* A signal that catches misplaced samples: two tones plus noise. */
static float *make_signal(size_t n, int rate, uint64_t seed) {
  float *y = malloc(sizeof(float) * n);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) {
    double t = (double)i / rate;
    double noise = (double)(test_rand(&seed) % 2001) / 1000.0 - 1.0;
    y[i] = (float)(0.4 * sin(2 * M_PI * 440 * t) + 0.2 * sin(2 * M_PI * 1234.5 * t) + 0.05 * noise);
  }
  return y;
}

/* WAV (16-bit) of n frames; stereo gets the signal and a scaled copy. */
static void write_wav(const char *path, int rate, int channels, size_t n, uint64_t seed) {
  float *y = make_signal(n, rate, seed);
  float *inter = malloc(sizeof(float) * n * (size_t)channels);
  assert_non_null(inter);
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < channels; c++) inter[i * (size_t)channels + (size_t)c] = y[i] * (c ? 0.5f : 1.0f);
  SF_INFO info = {.samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  assert_non_null(sf);
  assert_int_equal(sf_writef_float(sf, inter, (sf_count_t)n), (sf_count_t)n);
  sf_close(sf);
  free(inter);
  free(y);
}

static void base_config(mgc_config *c) {
  mgc_config_default(c, "");
  c->retry_min_s = 0.2;
  c->retry_max_s = 0.4;
}

/* The input under test, freed by the teardown when a test fails half-way:
 * a stream left running would disturb the next tests. */
static mgc_input *g_open;

static void open_input(const mgc_config *c, int rate, mgc_input **in) {
  if (mgc_input_new(c, rate, in) != MGC_OK) fail_msg("mgc_input_new: %s", mgc_error_message());
  g_open = *in;
}

static void done_input(mgc_input *in) {
  mgc_input_free(in);
  g_open = NULL;
}

static int teardown(void **st) {
  (void)st;
  done_input(g_open);
  return 0;
}

/* Read until ENDED, `want` samples, or the timeout; uneven read sizes and
 * the odd pause, so that the ring fills and wraps. Returns the count. */
static size_t drain(mgc_input *in, float **out, size_t want, double timeout_s) {
  size_t cap = want ? want : 1 << 16, n = 0;
  *out = malloc(sizeof(float) * cap);
  assert_non_null(*out);
  const size_t sizes[] = {1, 37, 512, 4096, 20000};
  double t0 = now_s();
  for (unsigned k = 0; now_s() - t0 < timeout_s; k++) {
    if (want && n >= want) break;
    if (!want && n + 20000 > cap) {
      cap *= 2;
      *out = realloc(*out, sizeof(float) * cap);
      assert_non_null(*out);
    }
    size_t ask = sizes[k % 5] < cap - n ? sizes[k % 5] : cap - n, got = 0;
    assert_int_equal(mgc_input_read(in, *out + n, ask, &got), MGC_OK);
    assert_true(got <= ask);
    n += got;
    if (mgc_input_get_state(in) == MGC_INPUT_ENDED) break;
    if (!got || k % 97 == 0) sleep_s(0.002);
  }
  return n;
}

/* ---- files ---- */

static void check_file(const char *path, int rate, int fast, double tol) {
  mgc_audio ref;
  if (mgc_audio_load(path, rate, &ref)) fail_msg("%s", mgc_error_message());
  mgc_config c;
  base_config(&c);
  mgc_config_set_input(&c, path);
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  c.fast = fast;
  mgc_input *in;
  open_input(&c, rate, &in);
  assert_non_null(strstr(mgc_input_describe(in), path));
  float *got;
  size_t n = drain(in, &got, 0, 30);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  assert_string_equal(mgc_input_last_error(in), "");
  assert_int_equal(n, ref.n); /* the same length as librosa.load's */
  double maxerr = 0;
  for (size_t i = 0; i < n; i++) maxerr = fmax(maxerr, fabs((double)got[i] - ref.samples[i]));
  if (maxerr > tol) fail_msg("%s: max |input - mgc_audio_load| = %g > %g", path, maxerr, tol);
  assert_int_equal(mgc_input_overruns(in), 0);
  /* Further reads: nothing more, still ended. */
  size_t more = 1;
  assert_int_equal(mgc_input_read(in, got, 16, &more), MGC_OK);
  assert_int_equal(more, 0);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  done_input(in);
  free(got);
  mgc_audio_free(&ref);
}

static void test_file_fast_same_rate(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/mono22050.wav", g_dir);
  write_wav(p, 22050, 1, 22050 * 7 + 123, 1); /* longer than the 4 s ring */
  check_file(p, 22050, 1, 0.0);               /* bit for bit */
}

static void test_file_fast_resampled_stereo(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/stereo44100.wav", g_dir);
  write_wav(p, 44100, 2, 44100 * 5 + 77, 2);
  check_file(p, 22050, 1, 1e-5);
}

static void test_file_real_time(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/one_second.wav", g_dir);
  write_wav(p, 22050, 1, 22050, 3);
  mgc_audio ref;
  if (mgc_audio_load(p, 22050, &ref)) fail_msg("%s", mgc_error_message());
  mgc_config c;
  base_config(&c);
  mgc_config_set_input(&c, p);
  mgc_input *in;
  double t0 = now_s();
  open_input(&c, 22050, &in);
  float *got = malloc(sizeof(float) * 22050);
  size_t n = 0, at_half = 0;
  while (mgc_input_get_state(in) != MGC_INPUT_ENDED && now_s() - t0 < 5) {
    size_t k;
    assert_int_equal(mgc_input_read(in, got + n, 22050 - n, &k), MGC_OK);
    n += k;
    if (!at_half && now_s() - t0 >= 0.5) at_half = n ? n : 1;
    sleep_s(0.003);
  }
  double took = now_s() - t0;
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  assert_int_equal(n, 22050);
  assert_memory_equal(got, ref.samples, sizeof(float) * n);
  if (took < 0.9 || took > 2.0) fail_msg("1 s of audio took %.3f s in real time", took);
  /* Paced all along, not in a burst: about half of it at half time. */
  if (at_half < 22050 * 0.35 || at_half > 22050 * 0.65) fail_msg("%zu samples after 0.5 s", at_half);
  done_input(in);
  free(got);
  mgc_audio_free(&ref);
}

static void test_file_errors(void **st) {
  (void)st;
  mgc_config c;
  base_config(&c);
  mgc_input *in = (mgc_input *)(uintptr_t)1; /* must come back NULL */
  char p[400];
  snprintf(p, sizeof p, "%s/does-not-exist.wav", g_dir);
  c.input_kind = MGC_INPUT_FILE;
  snprintf(c.file, sizeof c.file, "%s", p);
  assert_int_not_equal(mgc_input_new(&c, 22050, &in), MGC_OK);
  assert_null(in);
  assert_non_null(strstr(mgc_error_message(), p));
  assert_non_null(strstr(mgc_error_message(), "No such file"));

  snprintf(p, sizeof p, "%s/not-audio.wav", g_dir);
  FILE *f = fopen(p, "w");
  fputs("this is not audio at all, just some text in a file", f);
  fclose(f);
  snprintf(c.file, sizeof c.file, "%s", p);
  assert_int_not_equal(mgc_input_new(&c, 22050, &in), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), p));

  /* Bad parameters are refused; free is safe on NULL. */
  snprintf(c.file, sizeof c.file, "%s/mono22050.wav", g_dir);
  assert_int_equal(mgc_input_new(&c, 0, &in), MGC_EINVAL);
  assert_int_equal(mgc_input_new(NULL, 22050, &in), MGC_EINVAL);
  mgc_input_free(NULL);
  assert_int_equal(mgc_input_get_state(NULL), MGC_INPUT_ENDED);
}

/* A FLAC file damaged in the middle: what decodes is delivered, then ENDED
 * with the reason, naming the file. */
static void test_file_decode_error(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/damaged.flac", g_dir);
  enum { N = 22050 * 3 };
  float *y = make_signal(N, 22050, 11);
  SF_INFO info = {.samplerate = 22050, .channels = 1, .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
  assert_non_null(sf);
  assert_int_equal(sf_writef_float(sf, y, N), N);
  sf_close(sf);
  mgc_audio ref;
  if (mgc_audio_load(p, 22050, &ref)) fail_msg("%s", mgc_error_message());
  FILE *f = fopen(p, "r+b");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size / 2, SEEK_SET);
  for (int i = 0; i < 4000; i++) fputc(0xA5, f);
  fclose(f);

  mgc_config c;
  base_config(&c);
  mgc_config_set_input(&c, p);
  c.fast = 1;
  mgc_input *in;
  open_input(&c, 22050, &in);
  float *got;
  size_t n = drain(in, &got, 0, 30);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  assert_non_null(strstr(mgc_input_last_error(in), p));
  assert_non_null(strstr(mgc_input_last_error(in), "decoding failed"));
  assert_true(n > 4096 && n < N);
  assert_memory_equal(got, ref.samples, sizeof(float) * n); /* what came is right */
  done_input(in);
  free(got);
  free(y);
  mgc_audio_free(&ref);
}

/* ---- stdin ---- */

typedef struct {
  int fd;
  const unsigned char *data;
  size_t len;
  int keep_open; /* leave the pipe open after writing (a silent writer) */
} feeder;

static void *feed(void *arg) {
  feeder *f = arg;
  for (size_t off = 0; off < f->len;) {
    size_t m = f->len - off < 3000 ? f->len - off : 3000; /* uneven pieces */
    ssize_t w = write(f->fd, f->data + off, m);
    if (w <= 0) break;
    off += (size_t)w;
  }
  if (!f->keep_open) close(f->fd);
  return NULL;
}

/* Run the input on stdin = a pipe fed with `data` by a thread. */
static mgc_input *stdin_input(mgc_config *c, const unsigned char *data, size_t len, int keep_open,
                              pthread_t *th, feeder *fd_, int *saved) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  *saved = dup(0);
  assert_true(*saved >= 0);
  assert_int_equal(dup2(p[0], 0), 0);
  close(p[0]);
  *fd_ = (feeder){p[1], data, len, keep_open};
  assert_int_equal(pthread_create(th, NULL, feed, fd_), 0);
  mgc_config_set_input(c, "-");
  assert_int_equal(c->input_kind, MGC_INPUT_STDIN);
  mgc_input *in;
  open_input(c, 22050, &in);
  return in;
}

static void restore_stdin(int saved) {
  assert_int_equal(dup2(saved, 0), 0);
  close(saved);
}

static void test_stdin_wav(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/stdin44100.wav", g_dir);
  write_wav(p, 44100, 2, 44100 * 2 + 5, 4);
  mgc_audio ref;
  if (mgc_audio_load(p, 22050, &ref)) fail_msg("%s", mgc_error_message());
  size_t len;
  unsigned char *bytes = read_file(p, &len);
  mgc_config c;
  base_config(&c);
  c.fast = 1;
  pthread_t th;
  feeder fe;
  int saved;
  mgc_input *in = stdin_input(&c, bytes, len, 0, &th, &fe, &saved);
  assert_non_null(strstr(mgc_input_describe(in), "stdin (WAV"));
  float *got;
  size_t n = drain(in, &got, 0, 30);
  pthread_join(th, NULL);
  restore_stdin(saved);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  assert_string_equal(mgc_input_last_error(in), "");
  assert_int_equal(n, ref.n);
  double maxerr = 0;
  for (size_t i = 0; i < n; i++) maxerr = fmax(maxerr, fabs((double)got[i] - ref.samples[i]));
  if (maxerr > 1e-5) fail_msg("stdin WAV: max error %g", maxerr);
  done_input(in);
  free(got);
  free(bytes);
  mgc_audio_free(&ref);
}

static void test_stdin_raw_s16(void **st) {
  (void)st;
  enum { N = 30000 };
  int16_t *pcm = malloc(sizeof(int16_t) * N * 2);
  uint64_t s = 9;
  for (size_t i = 0; i < 2 * N; i++) pcm[i] = (int16_t)((int)(test_rand(&s) % 65536) - 32768);
  mgc_config c;
  base_config(&c);
  c.fast = 1;
  c.raw = 1;
  c.raw_rate = 22050;
  c.raw_channels = 2;
  c.raw_format = MGC_SAMPLE_S16;
  pthread_t th;
  feeder fe;
  int saved;
  mgc_input *in = stdin_input(&c, (const unsigned char *)pcm, sizeof(int16_t) * N * 2, 0, &th, &fe, &saved);
  assert_non_null(strstr(mgc_input_describe(in), "raw s16le"));
  float *got;
  size_t n = drain(in, &got, 0, 30);
  pthread_join(th, NULL);
  restore_stdin(saved);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_ENDED);
  assert_int_equal(n, N);
  for (size_t i = 0; i < N; i++) {
    float want = ((float)pcm[2 * i] / 32768.0f + (float)pcm[2 * i + 1] / 32768.0f) / 2.0f;
    if (got[i] != want) fail_msg("sample %zu: %g, want %g", i, got[i], want);
  }
  done_input(in);
  free(got);
  free(pcm);
}

/* A writer that goes quiet with the pipe open: the reader blocks in read();
 * free must still return at once. */
static void test_stdin_free_while_blocked(void **st) {
  (void)st;
  char p[400];
  snprintf(p, sizeof p, "%s/stdin22050.wav", g_dir);
  write_wav(p, 22050, 1, 22050, 5);
  size_t len;
  unsigned char *bytes = read_file(p, &len);
  mgc_config c;
  base_config(&c);
  pthread_t th;
  feeder fe;
  int saved;
  mgc_input *in = stdin_input(&c, bytes, len / 2, 1, &th, &fe, &saved);
  pthread_join(th, NULL);
  float *got;
  size_t n = drain(in, &got, 2000, 2); /* real time: some audio arrives */
  assert_int_equal(n, 2000);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  double t0 = now_s();
  done_input(in);
  double took = now_s() - t0;
  if (took > 0.1) fail_msg("mgc_input_free took %.3f s", took);
  close(fe.fd);
  restore_stdin(saved);
  free(got);
  free(bytes);
}

/* ---- PortAudio through ALSA, no sound card ---- */

static char g_alsa[300];

static float *sine(size_t n, int rate, double f, double amp) {
  float *y = malloc(sizeof(float) * n);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) y[i] = (float)(amp * sin(2 * M_PI * f * (double)i / rate));
  return y;
}

/* Frequency from the rising zero crossings (interpolated). */
static double zc_freq(const float *y, size_t n, int rate) {
  double first = -1, last = -1;
  int count = 0;
  for (size_t i = 1; i < n; i++)
    if (y[i - 1] < 0 && y[i] >= 0) {
      double t = (double)(i - 1) + y[i - 1] / (y[i - 1] - y[i]);
      if (first < 0) first = t;
      last = t;
      count++;
    }
  return count > 1 ? (count - 1) * rate / (last - first) : 0;
}

static void test_alsa_capture(void **st) {
  (void)st;
  enum { RATE = 22050, N = RATE * 3 };
  char inf[400];
  snprintf(inf, sizeof inf, "%s/capture.f32", g_dir);
  float *y = sine(N, RATE, 440, 1.0);
  const float gains[2] = {0.6f, 0.2f};
  assert_int_equal(alsa_fixture_infile(inf, y, N, 2, gains), 0);
  assert_non_null(alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "default", inf));
  mgc_config c;
  base_config(&c);
  mgc_input *in;
  open_input(&c, RATE, &in);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  assert_string_equal(mgc_input_describe(in), "device 'default' (ALSA) at 22050 Hz, 2 channels");
  float *got;
  size_t n = drain(in, &got, RATE * 3 / 2, 10);
  assert_int_equal(n, RATE * 3 / 2);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  /* The stereo infile, downmixed, sample for sample. */
  for (size_t i = 0; i < n; i++) {
    float want = (y[i] * gains[0] + y[i] * gains[1]) / 2.0f;
    if (got[i] != want) fail_msg("captured sample %zu: %g, want %g", i, got[i], want);
  }
  assert_float_equal(zc_freq(got, n, RATE), 440.0, 0.05);
  float peak = 0;
  for (size_t i = 0; i < n; i++) peak = fmaxf(peak, fabsf(got[i]));
  assert_float_equal(peak, 0.4, 1e-3);
  done_input(in);
  free(got);
  free(y);
}

/* The device runs at 44100 (input.rate) and the consumer resamples. */
static void test_alsa_capture_resampled(void **st) {
  (void)st;
  enum { RATE = 44100, N = RATE * 3 };
  char inf[400];
  snprintf(inf, sizeof inf, "%s/capture44100.f32", g_dir);
  float *y = make_signal(N, RATE, 7);
  assert_int_equal(alsa_fixture_infile(inf, y, N, 1, NULL), 0);
  assert_non_null(alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "default", inf));
  mgc_config c;
  base_config(&c);
  c.device_rate = RATE;
  c.device_channels = 1;
  mgc_input *in;
  open_input(&c, 22050, &in);
  assert_string_equal(mgc_input_describe(in),
                      "device 'default' (ALSA) at 44100 Hz, 1 channel, resampled to 22050 Hz");
  float *got;
  size_t n = drain(in, &got, 22050, 10);
  assert_int_equal(n, 22050);
  float *ref;
  size_t nref;
  assert_int_equal(mgc_audio_resample(y, N, RATE, 22050, &ref, &nref), MGC_OK);
  double maxerr = 0;
  for (size_t i = 0; i < n; i++) maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
  if (maxerr > 1e-5) fail_msg("resampled capture: max error %g", maxerr);
  done_input(in);
  free(got);
  free(ref);
  free(y);
}

/* Device missing at start: LOST, retrying with back-off; it appears
 * (written into the ALSA configuration) and the same input picks it up. */
static void test_alsa_replug(void **st) {
  (void)st;
  enum { RATE = 22050, N = RATE * 2 };
  assert_non_null(alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "mgcmic", NULL));
  mgc_config c;
  base_config(&c);
  mgc_config_set_input(&c, "mgcmic");
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "mgcmic");
  mgc_input *in;
  double t0 = now_s();
  open_input(&c, RATE, &in); /* not an error */
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_LOST);
  assert_non_null(strstr(mgc_input_last_error(in), "'mgcmic'"));
  double r = mgc_input_retry_in(in);
  assert_true(r > 0 && r <= 0.2);
  size_t k = 1;
  float buf[256];
  assert_int_equal(mgc_input_read(in, buf, 256, &k), MGC_OK);
  assert_int_equal(k, 0);
  /* After the first failed retry the delay doubles (0.2 -> 0.4 s). */
  sleep_s(0.25 - (now_s() - t0));
  assert_int_equal(mgc_input_read(in, buf, 256, &k), MGC_OK);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_LOST);
  r = mgc_input_retry_in(in);
  assert_true(r > 0.3 && r <= 0.4);
  assert_int_equal(mgc_input_reconnects(in), 0);

  /* Plug it in. */
  char inf[400];
  snprintf(inf, sizeof inf, "%s/mic.f32", g_dir);
  float *y = sine(N, RATE, 1000, 0.5);
  assert_int_equal(alsa_fixture_infile(inf, y, N, 2, NULL), 0);
  assert_non_null(alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "mgcmic", inf));
  /* PortAudio lists a configuration PCM under its name. */
  assert_int_equal(Pa_Initialize(), paNoError);
  int listed = 0;
  for (int i = 0; i < Pa_GetDeviceCount(); i++) listed |= !strcmp(Pa_GetDeviceInfo(i)->name, "mgcmic");
  Pa_Terminate();
  assert_true(listed);

  t0 = now_s();
  double due = mgc_input_retry_in(in), found = -1;
  while (mgc_input_get_state(in) != MGC_INPUT_RUNNING && now_s() - t0 < 3) {
    double t = now_s() - t0;
    assert_int_equal(mgc_input_read(in, buf, 256, &k), MGC_OK);
    if (mgc_input_get_state(in) == MGC_INPUT_RUNNING) found = t;
    sleep_s(0.01);
  }
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  /* By the first retry after it appeared: the read that reopened it began
   * when that retry was due (the reopening itself is slow under ASan). */
  if (found < due || found > due + 0.05)
    fail_msg("reopened by a read at %.3f s, the retry was due at %.3f s", found, due);
  assert_int_equal(mgc_input_reconnects(in), 1);
  assert_float_equal(mgc_input_retry_in(in), 0, 0);
  assert_non_null(strstr(mgc_input_describe(in), "device 'mgcmic' (ALSA)"));
  float *got;
  size_t n = drain(in, &got, RATE, 10);
  assert_int_equal(n, RATE);
  /* The reads above may have consumed the first few samples: align. */
  size_t off = 0;
  while (off < 4096 && fabsf(got[0] - y[off]) > 1e-7f) off++;
  assert_true(off < 4096);
  for (size_t i = 0; i < n - off; i++) assert_float_equal(got[i], y[i + off], 1e-7);
  assert_float_equal(zc_freq(got, n, RATE), 1000.0, 0.1);
  done_input(in);
  free(got);
  free(y);
}

/* The "hardware" behind a FIFO infile: some audio, then nothing for
 * `gap_s` (ALSA's read, and so PortAudio's thread, blocks: no callbacks),
 * then audio again until told to stop. */
typedef struct {
  int fd;
  const float *y;
  size_t n;
  double gap_s;
  _Atomic int seen; /* the consumer has had audio: start the gap */
  _Atomic int stop;
} fifo_device;

static void fifo_put(fifo_device *d, const float *x, size_t n) {
  const unsigned char *b = (const unsigned char *)x;
  size_t len = n * sizeof(float), off = 0;
  while (off < len && !atomic_load(&d->stop)) {
    ssize_t w = write(d->fd, b + off, len - off);
    if (w > 0)
      off += (size_t)w;
    else
      sleep_s(0.002); /* full (O_NONBLOCK) */
  }
}

static void *fifo_main(void *arg) {
  fifo_device *d = arg;
  fifo_put(d, d->y, d->n / 5);
  while (!atomic_load(&d->seen) && !atomic_load(&d->stop)) sleep_s(0.005);
  sleep_s(d->gap_s);
  while (!atomic_load(&d->stop)) fifo_put(d, d->y, d->n);
  return NULL;
}

/* A device that stops delivering is declared lost after max(1 s, 10 x
 * latency) without callbacks, closed, and reopened by the retries once it
 * works again, without a new mgc_input. Closing waits for PortAudio's
 * thread, which here sits in the blocked read until the data resumes. */
static void test_alsa_stall_and_recover(void **st) {
  (void)st;
  enum { RATE = 22050 };
  char fifo[400];
  snprintf(fifo, sizeof fifo, "%s/stall.fifo", g_dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  /* O_RDWR: ALSA's opening of the reading end then never waits for us. */
  static fifo_device d; /* static: outlives a failed assertion's longjmp */
  d.fd = open(fifo, O_RDWR | O_NONBLOCK);
  d.y = sine(RATE, RATE, 440, 0.5);
  d.n = RATE;
  d.gap_s = 1.6;
  atomic_store(&d.seen, 0);
  atomic_store(&d.stop, 0);
  assert_true(d.fd >= 0);
  assert_non_null(alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "default", fifo));
  mgc_config c;
  base_config(&c);
  c.device_channels = 1;
  c.latency_s = 0.02;
  pthread_t th;
  double t0 = now_s();
  assert_int_equal(pthread_create(&th, NULL, fifo_main, &d), 0);
  mgc_input *in;
  open_input(&c, RATE, &in);
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  float buf[1024];
  size_t k, total = 0;
  while (mgc_input_get_state(in) == MGC_INPUT_RUNNING && now_s() - t0 < 10) {
    assert_int_equal(mgc_input_read(in, buf, 1024, &k), MGC_OK);
    total += k;
    if (total) atomic_store(&d.seen, 1);
    sleep_s(0.01);
  }
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_LOST);
  assert_true(total > 0);
  double stalled;
  const char *e = strstr(mgc_input_last_error(in), "no audio from the device for ");
  assert_non_null(e);
  assert_int_equal(sscanf(e, "no audio from the device for %lf s (stalled)", &stalled), 1);
  if (stalled < 1.0 || stalled > 2.0) fail_msg("stall declared after %.2f s", stalled);
  assert_true(mgc_input_retry_in(in) > 0);
  /* The device delivers again: the retry reopens it. */
  double t1 = now_s();
  while (mgc_input_get_state(in) != MGC_INPUT_RUNNING && now_s() - t1 < 3) {
    assert_int_equal(mgc_input_read(in, buf, 1024, &k), MGC_OK);
    sleep_s(0.01);
  }
  assert_int_equal(mgc_input_get_state(in), MGC_INPUT_RUNNING);
  assert_int_equal(mgc_input_reconnects(in), 1);
  assert_non_null(strstr(mgc_input_last_error(in), "stalled")); /* why it was lost last */
  total = 0;
  for (double t2 = now_s(); now_s() - t2 < 0.3;) {
    assert_int_equal(mgc_input_read(in, buf, 1024, &k), MGC_OK);
    total += k;
    sleep_s(0.01);
  }
  assert_true(total > 0);
  t1 = now_s();
  done_input(in);
  if (now_s() - t1 > 0.1) fail_msg("mgc_input_free took %.3f s", now_s() - t1);
  atomic_store(&d.stop, 1);
  pthread_join(th, NULL);
  close(d.fd);
  free((float *)d.y);
}

static int setup(void **st) {
  tmpdir_setup(st);
  /* ALSA reads this at PortAudio's first initialisation in this process. */
  snprintf(g_alsa, sizeof g_alsa, "%s/asoundrc", g_dir);
  if (!alsa_fixture_config(g_alsa, sizeof g_alsa, g_dir, "default", NULL)) return -1;
  alsa_fixture_use(g_alsa);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_file_fast_same_rate, teardown),
      cmocka_unit_test_teardown(test_file_fast_resampled_stereo, teardown),
      cmocka_unit_test_teardown(test_file_real_time, teardown),
      cmocka_unit_test_teardown(test_file_errors, teardown),
      cmocka_unit_test_teardown(test_file_decode_error, teardown),
      cmocka_unit_test_teardown(test_stdin_wav, teardown),
      cmocka_unit_test_teardown(test_stdin_raw_s16, teardown),
      cmocka_unit_test_teardown(test_stdin_free_while_blocked, teardown),
      cmocka_unit_test_teardown(test_alsa_capture, teardown),
      cmocka_unit_test_teardown(test_alsa_capture_resampled, teardown),
      cmocka_unit_test_teardown(test_alsa_replug, teardown),
      cmocka_unit_test_teardown(test_alsa_stall_and_recover, teardown),
  };
  return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
