/* mgcd's capture devices through PortAudio (input.h): opening by name or
 * index at the model's rate when the device takes it, the real-time
 * callback, loss detection and retries, and resampling on the consumer
 * side. */
#define _GNU_SOURCE /* RTLD_DEFAULT */

#include "input_impl.h"

#include <alsa/asoundlib.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ======================================================================
 * PortAudio devices
 * ====================================================================== */

/* PortAudio's ALSA and JACK back ends print a screenful on every
 * Pa_Initialize of a machine without a sound server or card 0 (unknown
 * cards, "jack server is not running"), and we initialise again on every
 * retry. What matters reaches the log through the loss reason instead.
 * libjack is a dependency of Debian's libportaudio2, not ours, so its
 * setters are looked up rather than linked. MGCD_AUDIO_DEBUG=1 keeps it. */
static void alsa_quiet(const char *file, int line, const char *fn, int err, const char *fmt, ...) {}
static void jack_quiet(const char *msg) {}

static void quiet_once(void) {
  const char *dbg = getenv("MGCD_AUDIO_DEBUG");
  if (dbg && *dbg && strcmp(dbg, "0")) return;
  snd_lib_error_set_handler(alsa_quiet);
  static const char *const setters[] = {"jack_set_error_function", "jack_set_info_function"};
  for (size_t i = 0; i < sizeof setters / sizeof setters[0]; i++) {
    void *sym = dlsym(RTLD_DEFAULT, setters[i]);
    void (*set)(void (*)(const char *));
    if (!sym) continue;
    memcpy(&set, &sym, sizeof set);
    set(jack_quiet);
  }
}

static pthread_once_t g_quiet = PTHREAD_ONCE_INIT;

/* The audio callback: the only code on PortAudio's real-time thread. */
static int pa_callback(const void *input, void *output, unsigned long frames,
                       const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user) {
  mgc_input *in = user;
  if (input) mgc_ring_write_mix(in->ring, input, frames, in->dev_channels);
  if (flags & paInputOverflow) atomic_fetch_add_explicit(&in->overflows, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&in->callbacks, 1, memory_order_release);
  return paContinue;
}

/* PortAudio's message, plus the host API's own when it has one. */
static void pa_reason(char *dst, size_t cap, const char *what, PaError e) {
  if (e == paUnanticipatedHostError) {
    const PaHostErrorInfo *h = Pa_GetLastHostErrorInfo();
    snprintf(dst, cap, "%s: %s (%s)", what, Pa_GetErrorText(e), h && h->errorText ? h->errorText : "?");
  } else {
    snprintf(dst, cap, "%s: %s", what, Pa_GetErrorText(e));
  }
}

static int is_index(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (!strncasecmp(hay, needle, n)) return 1;
  return n == 0;
}

/* Append "'name' (i)" to a list of device names in dst. */
static void list_add(char *dst, size_t cap, int i, const PaDeviceInfo *d) {
  size_t len = strlen(dst);
  if (len + 1 < cap) snprintf(dst + len, cap - len, "%s'%s' (%d)", len ? ", " : "", d->name, i);
}

/* The input device `name` names: "default", an index, an exact name, or a
 * unique case-insensitive substring of one. -1 with why set when none. */
static PaDeviceIndex find_device(const char *name, char *why, size_t cap) {
  int n = Pa_GetDeviceCount();
  if (n < 0) {
    pa_reason(why, cap, "listing devices", n);
    return -1;
  }
  if (!*name || !strcmp(name, "default")) {
    PaDeviceIndex d = Pa_GetDefaultInputDevice();
    if (d == paNoDevice) snprintf(why, cap, "no default input device (%d devices known)", n);
    return d == paNoDevice ? -1 : d;
  }
  if (is_index(name)) {
    long i = strtol(name, NULL, 10);
    const PaDeviceInfo *d = i < n ? Pa_GetDeviceInfo((PaDeviceIndex)i) : NULL;
    if (!d) {
      snprintf(why, cap, "no device with index %ld (%d devices)", i, n);
      return -1;
    }
    if (d->maxInputChannels < 1) {
      snprintf(why, cap, "device %ld ('%s') has no inputs", i, d->name);
      return -1;
    }
    return (PaDeviceIndex)i;
  }
  for (int i = 0; i < n; i++) {
    const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
    if (d && d->maxInputChannels > 0 && !strcmp(d->name, name)) return i;
  }
  char list[1024] = "";
  int found = -1, count = 0;
  for (int i = 0; i < n; i++) {
    const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
    if (!d || d->maxInputChannels < 1 || !contains_nocase(d->name, name)) continue;
    found = i;
    count++;
    list_add(list, sizeof list, i, d);
  }
  if (count == 1) return found;
  if (count > 1) {
    snprintf(why, cap, "input device name '%s' is ambiguous: %s", name, list);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
    if (d && d->maxInputChannels > 0) list_add(list, sizeof list, i, d);
  }
  snprintf(why, cap, "no input device matches '%s' (inputs: %s)", name, *list ? list : "none");
  return -1;
}

/* Close the stream and let go of PortAudio (the next Pa_Initialize then
 * enumerates afresh). Safe when nothing is open. */
void mgc_input_device_close(mgc_input *in) {
  if (in->stream) {
    Pa_AbortStream(in->stream);
    Pa_CloseStream(in->stream);
    in->stream = NULL;
  }
  if (in->pa_up) {
    Pa_Terminate();
    in->pa_up = 0;
  }
}

/* Make sure ring and resampler fit dev_rate; only while no stream runs. */
static mgc_status device_buffers(mgc_input *in) {
  size_t need = (size_t)in->dev_rate * RING_SECONDS;
  if (!in->ring || mgc_ring_capacity(in->ring) < need || (in->rs == NULL) != (in->dev_rate == in->rate) ||
      (in->rs && fabs(mgc_resampler_ratio(in->rs) - (double)in->rate / in->dev_rate) > 1e-12)) {
    /* A different rate: whatever is still queued belongs to the old one. */
    if (in->ring) {
      atomic_fetch_add(&in->overrun_base, mgc_ring_overruns(in->ring));
      mgc_ring_free(in->ring);
      in->ring = NULL;
    }
    mgc_resampler_free(in->rs);
    in->rs = NULL;
    in->pend_n = in->pend_pos = 0;
    mgc_status st = mgc_ring_new(need, &in->ring);
    if (st) return st;
    if (in->dev_rate != in->rate && (st = mgc_resampler_new(in->dev_rate, in->rate, &in->rs))) return st;
  }
  if (in->rs && !in->pend) {
    in->pend_cap = 4096;
    in->pend = malloc(sizeof(float) * in->pend_cap);
    if (!in->pend) return mgc_error_set(MGC_ENOMEM, "input: out of memory");
  }
  return MGC_OK;
}

/* Initialise PortAudio, find the device and start capturing. 0 on success;
 * MGC_INPUT_NOT_OPEN with the reason in last_error and everything closed again; or a
 * status < 0 for a failure of the program itself (out of memory). */
int mgc_input_device_open(mgc_input *in) {
  char why[sizeof in->last_error];
  pthread_once(&g_quiet, quiet_once);
  PaError e = Pa_Initialize();
  if (e != paNoError) {
    pa_reason(why, sizeof why, "initialising PortAudio", e);
    goto fail;
  }
  in->pa_up = 1;
  PaDeviceIndex dev = find_device(in->device, why, sizeof why);
  if (dev < 0) goto fail;
  const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
  const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
  int channels = in->want_channels > 0 ? in->want_channels : (info->maxInputChannels < 2 ? info->maxInputChannels : 2);
  if (channels > info->maxInputChannels) {
    snprintf(why, sizeof why, "device '%s' has %d input channels, %d asked for", info->name,
             info->maxInputChannels, channels);
    goto fail;
  }
  PaStreamParameters p = {.device = dev,
                          .channelCount = channels,
                          .sampleFormat = paFloat32,
                          .suggestedLatency = in->latency_s > 0 ? in->latency_s : info->defaultHighInputLatency};
  /* Only open what Pa_IsFormatSupported accepted (a device gone since the
   * scan fails there, cleanly). PortAudio 19.6's error paths pass the code
   * through a process-wide global (paUtilErr_): a Pa_OpenStream failing
   * while another stream runs can read 0 there and abort on an assert(). */
  double rate = in->want_rate > 0 ? in->want_rate : in->rate;
  PaError fe = Pa_IsFormatSupported(&p, NULL, rate);
  if (fe != paFormatIsSupported && in->want_rate == 0 && info->defaultSampleRate != rate) {
    rate = info->defaultSampleRate;
    fe = Pa_IsFormatSupported(&p, NULL, rate);
  }
  if (fe != paFormatIsSupported) {
    char what[400];
    snprintf(what, sizeof what, "device '%s' cannot capture %d channel(s) at %g Hz", info->name, channels, rate);
    pa_reason(why, sizeof why, what, fe);
    goto fail;
  }
  in->dev_rate = (int)lround(rate);
  in->dev_channels = channels;
  mgc_status st = device_buffers(in);
  if (st) {
    mgc_input_device_close(in);
    return st;
  }
  atomic_store(&in->callbacks, 0);
  in->seen_callbacks = 0;
  e = Pa_OpenStream(&in->stream, &p, NULL, rate, paFramesPerBufferUnspecified, paNoFlag, pa_callback, in);
  if (e != paNoError) {
    in->stream = NULL;
    char what[400];
    snprintf(what, sizeof what, "opening device '%s' at %d Hz", info->name, in->dev_rate);
    pa_reason(why, sizeof why, what, e);
    goto fail;
  }
  e = Pa_StartStream(in->stream);
  if (e != paNoError) {
    char what[400];
    snprintf(what, sizeof what, "starting device '%s'", info->name);
    pa_reason(why, sizeof why, what, e);
    goto fail;
  }
  const PaStreamInfo *si = Pa_GetStreamInfo(in->stream);
  double lat = si && si->inputLatency > 0 ? si->inputLatency : p.suggestedLatency;
  in->stall_s = 10 * lat > 1.0 ? 10 * lat : 1.0;
  in->last_progress = mgc_input_now_s();
  int n = snprintf(in->describe, sizeof in->describe, "device '%s' (%s) at %d Hz, %d channel%s", info->name,
                   api ? api->name : "?", in->dev_rate, channels, channels == 1 ? "" : "s");
  if (in->rs && n > 0 && (size_t)n < sizeof in->describe)
    snprintf(in->describe + n, sizeof in->describe - (size_t)n, ", resampled to %d Hz", in->rate);
  return 0;
fail:
  mgc_input_device_close(in);
  snprintf(in->last_error, sizeof in->last_error, "%s", why);
  snprintf(in->describe, sizeof in->describe, "device '%s' (not open)", in->device);
  return MGC_INPUT_NOT_OPEN;
}

static void device_lost(mgc_input *in, const char *why) {
  mgc_input_device_close(in);
  snprintf(in->last_error, sizeof in->last_error, "%s", why);
  snprintf(in->describe, sizeof in->describe, "device '%s' (lost)", in->device);
  in->retry_delay = in->retry_min_s;
  in->next_retry = mgc_input_now_s() + in->retry_delay;
  mgc_input_set_state(in, MGC_INPUT_LOST);
}

/* Is the running stream still delivering? Moves to LOST if not. */
void mgc_input_device_check(mgc_input *in) {
  char why[sizeof in->last_error];
  PaError a = Pa_IsStreamActive(in->stream);
  if (a < 0) {
    pa_reason(why, sizeof why, "device stream", a);
    device_lost(in, why);
    return;
  }
  if (a == 0) {
    device_lost(in, "the device stream stopped by itself (device unplugged or failed)");
    return;
  }
  uint64_t c = atomic_load_explicit(&in->callbacks, memory_order_acquire);
  double t = mgc_input_now_s();
  if (c != in->seen_callbacks) {
    in->seen_callbacks = c;
    in->last_progress = t;
  } else if (t - in->last_progress > in->stall_s) {
    snprintf(why, sizeof why, "no audio from the device for %.1f s (stalled)", t - in->last_progress);
    device_lost(in, why);
  }
}

mgc_status mgc_input_device_retry(mgc_input *in) {
  if (mgc_input_now_s() < in->next_retry) return MGC_OK;
  int r = mgc_input_device_open(in);
  if (r < 0) return (mgc_status)r;
  if (r == 0) {
    in->retry_delay = in->retry_min_s;
    atomic_fetch_add(&in->reconnects, 1);
    mgc_input_set_state(in, MGC_INPUT_RUNNING);
    return MGC_OK;
  }
  in->retry_delay = in->retry_delay * 2 < in->retry_max_s ? in->retry_delay * 2 : in->retry_max_s;
  in->next_retry = mgc_input_now_s() + in->retry_delay;
  return MGC_OK;
}

/* Ring (device rate) -> resampler -> buf (model rate). */
size_t mgc_input_device_resample(mgc_input *in, float *buf, size_t cap, mgc_status *st) {
  size_t n = 0;
  while (n < cap) {
    if (in->pend_pos == in->pend_n) {
      in->pend_n = mgc_ring_read(in->ring, in->pend, in->pend_cap);
      in->pend_pos = 0;
    }
    size_t used = 0, got = 0;
    /* Never NULL: a NULL input would tell soxr the stream has ended. */
    *st = mgc_resampler_process(in->rs, in->pend + in->pend_pos, in->pend_n - in->pend_pos, &used, buf + n,
                                cap - n, &got);
    if (*st) return n;
    in->pend_pos += used;
    n += got;
    if (used == 0 && got == 0) break;
  }
  return n;
}
