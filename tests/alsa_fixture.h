/* A capture device without a sound card, for tests that go through the real
 * PortAudio -> ALSA path (test_daemon_input, the daemon's end-to-end test).
 *
 * The ALSA configuration (ALSA_CONFIG_PATH, set before the process's first
 * Pa_Initialize, or in a child's environment) defines one PCM of the `file`
 * plugin on a `null` slave: capture returns the infile's bytes. It is
 * self-contained (no alsa.conf include), so the host's /etc/asound.conf,
 * ~/.asoundrc or a PulseAudio/PipeWire default cannot get in the way.
 *
 * What we found by experiment (alsa-lib 1.2.8, PortAudio 19.6):
 *  - The infile is raw bytes in the format the client opens, and PortAudio
 *    opens the PCM directly (the null slave accepts any rate, format and up
 *    to 128 channels). mgc_input asks for float32 with min(2, 128) = 2
 *    channels (or input.channels) at the model's rate (or input.rate), so
 *    the infile must be float32 LE, interleaved, with those channels, at
 *    that rate: alsa_fixture_infile writes one. Then the samples arrive bit
 *    for bit.
 *  - Do NOT put a `plug` in front to convert an S16 infile: the file
 *    plugin reads the infile in mmap_begin for every frame the slave area
 *    offers, but the plug's conversion commits fewer, so frames get skipped
 *    (a discontinuity every period).
 *  - The null slave is not paced: capture runs as fast as PortAudio's
 *    thread can loop (millions of frames a second, one core busy), so the
 *    whole infile is read within milliseconds of Pa_StartStream. An
 *    mgc_input's ring therefore holds the infile's first ring-capacity
 *    samples (4 s at the device rate, rounded up to a power of two) and
 *    drops the rest as overruns while nobody reads. Keep the infile within
 *    that, or read continuously.
 *  - At the end of the infile nothing fails: the stream keeps running and
 *    returns the mmap buffer's stale content again and again (the last
 *    buffer of the infile, repeating every buffer_size frames).
 *  - Debian's PortAudio is built with assertions, and its ALSA device scan
 *    aborts the process (pa_linux_alsa.c BuildDeviceList: `devIdx <
 *    numDeviceNames') when every PCM it counted opened fine and none is
 *    named "default" or "dmix" -- e.g. no PCM at all, or just "mgcmic".
 *    The configuration therefore always carries mgc_placeholder, a PCM on a
 *    card that does not exist: counted, fails to open, never listed.
 *  - A PCM name defined here is listed by PortAudio as a device of that name
 *    (Pa_GetDeviceInfo(i)->name), found by input.device, and (re)writing
 *    the file is picked up at the next Pa_Initialize: that is how a device
 *    "appears" (re-plugged) while an input retries. */
#ifndef MGC_TEST_ALSA_FIXTURE_H
#define MGC_TEST_ALSA_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write (atomically, by rename) the ALSA configuration dir/asoundrc in
 * which capture PCM `pcm` ("default", "mgcmic", ...) replays `infile`; with
 * infile NULL the file defines no PCM at all (the device is "unplugged").
 * Returns path (dir/asoundrc), or NULL if it could not be written. */
static inline const char *alsa_fixture_config(char *path, size_t cap, const char *dir, const char *pcm,
                                              const char *infile) {
  char tmp[4200];
  snprintf(path, cap, "%s/asoundrc", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return NULL;
  fprintf(f, "# mgc test fixture: no sound card; see tests/alsa_fixture.h\n"
             "pcm.mgc_placeholder { type hw; card 99 }\n");
  if (infile)
    fprintf(f,
            "pcm.!%s {\n"
            "  type file\n"
            "  slave.pcm { type null }\n"
            "  file \"/dev/null\"\n"
            "  infile \"%s\"\n"
            "  format \"raw\"\n"
            "}\n",
            pcm, infile);
  if (fclose(f) != 0 || rename(tmp, path) != 0) return NULL;
  return path;
}

/* Write n mono samples x as the raw infile: float32 LE with `channels`
 * interleaved channels, channel c scaled by gains[c] (NULL: all 1). 0 on
 * success. */
static inline int alsa_fixture_infile(const char *path, const float *x, size_t n, int channels,
                                      const float *gains) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++)
    for (int c = 0; c < channels && ok; c++) {
      float v = gains ? x[i] * gains[c] : x[i];
      ok = fwrite(&v, sizeof v, 1, f) == 1;
    }
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* Point ALSA (in this process) at the configuration; before Pa_Initialize. */
static inline void alsa_fixture_use(const char *config_path) { setenv("ALSA_CONFIG_PATH", config_path, 1); }

#endif
