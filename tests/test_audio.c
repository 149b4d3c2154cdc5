/* Decoding, downmix and resampling; and every kind of bad file gets a clear
 * error naming the file, never a crash. */
#include <math.h>
#include <sndfile.h>
#include <unistd.h>

#include "mgc/audio/audio.h"
#include "mgc/dsp/stft.h"
#include "test_util.h"

static const char *tmp(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", g_dir, name);
  return buf;
}

/* Write `frames` of a stereo tone (L = freq at amp, R = freq at amp/2) in
 * the given libsndfile format. Returns 0, or -1 if this libsndfile cannot
 * write that format. */
static int write_tone(const char *path, int format, int sr, int channels, double freq, sf_count_t frames) {
  SF_INFO info = {.samplerate = sr, .channels = channels, .format = format};
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  if (!sf) return -1;
  float *buf = malloc(sizeof(float) * (size_t)frames * (size_t)channels);
  for (sf_count_t i = 0; i < frames; i++) {
    double v = 0.5 * sin(2 * M_PI * freq * (double)i / sr);
    buf[i * channels] = (float)v;
    if (channels == 2) buf[i * channels + 1] = (float)(v / 2);
  }
  sf_count_t w = sf_writef_float(sf, buf, frames);
  free(buf);
  sf_close(sf);
  return w == frames ? 0 : -1;
}

/* Frequency of the strongest FFT bin in the middle of the signal. */
static double peak_hz(const float *y, size_t n, int sr) {
  mgc_stft *s;
  assert_int_equal(mgc_stft_new(4096, &s), MGC_OK);
  assert_true(n > 4096);
  float pw[2049];
  mgc_stft_process(s, y + (n - 4096) / 2, pw);
  int best = 0;
  for (int k = 1; k < 2049; k++)
    if (pw[k] > pw[best]) best = k;
  mgc_stft_free(s);
  return best * (double)sr / 4096;
}

static void test_wav_fixture(void **st) {
  (void)st;
  char path[512];
  mgc_audio a;
  assert_int_equal(mgc_audio_load(fixture(path, sizeof path, "blues.00000_10s-14s.wav"), 22050, &a), MGC_OK);
  assert_int_equal(a.n, 88200);
  assert_int_equal(a.rate, 22050);
  assert_int_equal(a.source_channels, 1);
  /* 16-bit PCM scaled by 1/32768 as soundfile/librosa do: values on that grid */
  for (size_t i = 0; i < a.n; i += 997) {
    double q = a.samples[i] * 32768.0;
    assert_float_equal(q, round(q), 1e-3);
    assert_true(fabs(a.samples[i]) <= 1.0);
  }
  mgc_audio_free(&a);
}

static void test_resample_keeps_frequency(void **st) {
  (void)st;
  char path[512];
  /* 44.1 kHz stereo 16-bit WAV, 3 s of 1 kHz: resampled to 22050 Hz */
  assert_int_equal(write_tone(tmp(path, sizeof path, "tone44k.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2,
                              1000.0, 132300), 0);
  mgc_audio a;
  assert_int_equal(mgc_audio_load(path, 22050, &a), MGC_OK);
  assert_int_equal(a.source_rate, 44100);
  assert_int_equal(a.source_channels, 2);
  assert_int_equal(a.n, 66150); /* ceil(132300 * 22050 / 44100) */
  assert_float_equal(peak_hz(a.samples, a.n, 22050), 1000.0, 22050.0 / 4096);
  /* downmix = channel mean: (0.5 + 0.25) / 2 = 0.375 peak amplitude */
  float mx = 0;
  for (size_t i = a.n / 4; i < 3 * a.n / 4; i++) mx = fmaxf(mx, fabsf(a.samples[i]));
  assert_float_equal(mx, 0.375, 0.005);
  mgc_audio_free(&a);
  /* keep the native rate with rate <= 0 */
  assert_int_equal(mgc_audio_load(path, 0, &a), MGC_OK);
  assert_int_equal(a.rate, 44100);
  assert_int_equal(a.n, 132300);
  mgc_audio_free(&a);
  /* odd ratio: 11025 -> 22050 -> length ceil(n * 2); and 48000 -> 22050 */
  assert_int_equal(write_tone(tmp(path, sizeof path, "tone48k.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1,
                              3000.0, 48001), 0);
  assert_int_equal(mgc_audio_load(path, 22050, &a), MGC_OK);
  assert_int_equal(a.n, (size_t)ceil(48001.0 * 22050 / 48000));
  assert_float_equal(peak_hz(a.samples, a.n, 22050), 3000.0, 22050.0 / 4096);
  mgc_audio_free(&a);
}

static void test_compressed_formats(void **st) {
  (void)st;
  struct {
    const char *name;
    int format;
  } fmts[] = {
      {"t.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
      {"t.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
      {"t.au", SF_FORMAT_AU | SF_FORMAT_PCM_16},
      {"t.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24},
      {"t.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
  };
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    char path[512];
    if (write_tone(tmp(path, sizeof path, fmts[i].name), fmts[i].format, 44100, 2, 440.0, 88200)) {
      printf("  (this libsndfile cannot write %s; not checked)\n", fmts[i].name);
      continue;
    }
    mgc_audio a;
    if (mgc_audio_load(path, 22050, &a)) fail_msg("%s", mgc_error_message());
    /* codecs add a little delay/padding; the length is close to 1 s */
    assert_true(a.n >= 44100 - 2048 && a.n <= 44100 + 2048);
    assert_float_equal(peak_hz(a.samples, a.n, 22050), 440.0, 22050.0 / 4096);
    printf("  %s: %zu samples, peak %.1f Hz\n", fmts[i].name, a.n, peak_hz(a.samples, a.n, 22050));
    mgc_audio_free(&a);
  }
}

static void expect_error(const char *path, mgc_status code, const char *needle) {
  mgc_audio a;
  a.samples = (float *)&a; /* must be reset by the loader */
  mgc_status st = mgc_audio_load(path, 22050, &a);
  printf("  %s -> %s\n", strrchr(path, '/') + 1, mgc_error_message());
  assert_int_equal(st, code);
  assert_null(a.samples);
  assert_int_equal(a.n, 0);
  assert_non_null(strstr(mgc_error_message(), path));   /* names the file */
  assert_non_null(strstr(mgc_error_message(), needle)); /* and the reason */
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void test_bad_files(void **st) {
  (void)st;
  char path[512], src[512];
  expect_error(tmp(path, sizeof path, "missing.wav"), MGC_EIO, "No such file");
  write_bytes(tmp(path, sizeof path, "empty.wav"), "", 0);
  expect_error(path, MGC_EFORMAT, "empty");
  const char *text = "this is not audio, just a text file with a .wav name\n";
  write_bytes(tmp(path, sizeof path, "text.wav"), text, strlen(text));
  expect_error(path, MGC_EFORMAT, "not a readable audio file");
  expect_error(g_dir, MGC_EIO, "directory");
  /* truncated WAV: the first 10000 bytes of the fixture */
  FILE *f = fopen(fixture(src, sizeof src, "blues.00000_10s-14s.wav"), "rb");
  assert_non_null(f);
  char *buf = malloc(10000);
  assert_int_equal(fread(buf, 1, 10000, f), 10000);
  fclose(f);
  write_bytes(tmp(path, sizeof path, "truncated.wav"), buf, 10000);
  expect_error(path, MGC_EFORMAT, "truncated");
  /* just the 44-byte header of it */
  write_bytes(tmp(path, sizeof path, "header-only.wav"), buf, 44);
  expect_error(path, MGC_EFORMAT, "truncated");
  free(buf);
  /* truncated AIFF: write one, keep its first 20000 bytes */
  assert_int_equal(write_tone(tmp(src, sizeof src, "whole.aiff"), SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 22050, 1, 440.0,
                              88200), 0);
  f = fopen(src, "rb");
  buf = malloc(20000);
  assert_int_equal(fread(buf, 1, 20000, f), 20000);
  fclose(f);
  write_bytes(tmp(path, sizeof path, "truncated.aiff"), buf, 20000);
  free(buf);
  expect_error(path, MGC_EFORMAT, "truncated");
  /* AU (Sun .snd), 8-bit mu-law, 8000 Hz: its header declares 1000 bytes, 100 are there */
  unsigned char au[24 + 1000];
  static const unsigned char au_head[24] = {'.', 's', 'n', 'd', 0, 0, 0, 24, 0, 0, 0x03, 0xe8,
                                            0, 0, 0, 1, 0, 0, 0x1f, 0x40, 0, 0, 0, 1};
  memcpy(au, au_head, 24);
  for (int i = 0; i < 1000; i++) au[24 + i] = (unsigned char)(i * 37);
  write_bytes(tmp(path, sizeof path, "whole.au"), au, sizeof au);
  mgc_audio a;
  assert_int_equal(mgc_audio_load(path, 0, &a), MGC_OK); /* the control: whole, it loads */
  assert_int_equal(a.n, 1000);
  mgc_audio_free(&a);
  write_bytes(tmp(path, sizeof path, "truncated.au"), au, 24 + 100);
  expect_error(path, MGC_EFORMAT, "truncated");
  /* the same at 64 Hz, and at 1 MHz: no audio has such a rate */
  au[18] = 0, au[19] = 64;
  write_bytes(tmp(path, sizeof path, "64hz.au"), au, sizeof au);
  expect_error(path, MGC_EFORMAT, "64 Hz");
  au[17] = 0x0f, au[18] = 0x42, au[19] = 0x40;
  write_bytes(tmp(path, sizeof path, "1mhz.au"), au, sizeof au);
  expect_error(path, MGC_EFORMAT, "1000000 Hz");
  /* a valid WAV with zero frames */
  SF_INFO info = {.samplerate = 22050, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(tmp(path, sizeof path, "zero.wav"), SFM_WRITE, &info);
  assert_non_null(sf);
  sf_close(sf);
  expect_error(path, MGC_EFORMAT, "no audio");
  /* truncated Ogg: cut a valid one in half */
  if (write_tone(tmp(src, sizeof src, "whole.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1, 440.0, 441000) == 0) {
    f = fopen(src, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    write_bytes(tmp(path, sizeof path, "half.ogg"), buf, (size_t)size / 2);
    free(buf);
    expect_error(path, MGC_EFORMAT, "truncated");
  }
}

static void test_trailing_bytes_are_not_damage(void **st) {
  (void)st;
  /* Bytes after the data chunk (tags, junk) leave the audio intact: it loads. */
  char src[512], path[512];
  FILE *f = fopen(fixture(src, sizeof src, "blues.00000_10s-14s.wav"), "rb");
  assert_non_null(f);
  char *buf = malloc(176444 + 100);
  size_t n = fread(buf, 1, 176444, f);
  fclose(f);
  assert_int_equal(n, 176444);
  memset(buf + n, 0x5a, 100);
  write_bytes(tmp(path, sizeof path, "trailing.wav"), buf, n + 100);
  free(buf);
  mgc_audio a;
  if (mgc_audio_load(path, 22050, &a)) fail_msg("%s", mgc_error_message());
  assert_int_equal(a.n, 88200);
  mgc_audio_free(&a);
}

static void test_resample_buffer(void **st) {
  (void)st;
  float x[10000];
  for (int i = 0; i < 10000; i++) x[i] = (float)sin(2 * M_PI * 100.0 * i / 16000);
  float *y;
  size_t n;
  assert_int_equal(mgc_audio_resample(x, 10000, 16000, 22050, &y, &n), MGC_OK);
  assert_int_equal(n, (size_t)ceil(10000.0 * 22050 / 16000));
  /* a 100 Hz sine survives: compare the middle against the analytic value */
  for (size_t i = n / 4; i < 3 * n / 4; i += 101) assert_float_equal(y[i], sin(2 * M_PI * 100.0 * i / 22050), 2e-3);
  free(y);
  assert_int_equal(mgc_audio_resample(x, 10, 0, 22050, &y, &n), MGC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wav_fixture),     cmocka_unit_test(test_resample_keeps_frequency),
      cmocka_unit_test(test_compressed_formats), cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_trailing_bytes_are_not_damage), cmocka_unit_test(test_resample_buffer),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
