/* mgcd's audio input; see input.h for the contract.
 *
 * Threads: the producer is PortAudio's callback thread (devices) or our
 * reader thread (files, stdin; plus a pump thread for stdin, see
 * pump_main); the public functions belong to the consumer's thread, except
 * get_state, reconnects and overflows, which read atomics and may be called
 * from anywhere. The callback only mixes into the ring and bumps two
 * counters: it never locks, allocates or makes a system call.
 *
 * Where resampling happens: for devices on the consumer side (the callback
 * must stay cheap and bounded); for files and stdin in the reader thread,
 * which may block and allocate anyway, keeps the consumer's work the same
 * as at the model rate, lets --fast decode and resample in parallel with
 * classification, and knows the total frame count at the end, so that the
 * output has exactly mgc_audio_load's length (ceil(frames * rate / src)). */
#define _GNU_SOURCE /* RTLD_DEFAULT, pipe2 */

#include "input.h"

#include <alsa/asoundlib.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <portaudio.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mgc/resampler.h"
#include "mgc/ring.h"

#define RING_SECONDS 4
#define RT_STEP_S 0.010 /* real-time pacing granularity of the file reader */
#define FULL_WAIT_NS 2000000L /* --fast: wait this long when the ring is full */

struct mgc_input {
  mgc_input_kind kind;
  int rate; /* delivered rate (the model's) */
  mgc_ring *ring;
  _Atomic int state;
  _Atomic unsigned reconnects;
  _Atomic uint64_t overrun_base; /* overruns of rings already replaced */
  char describe[512];
  char last_error[512];

  /* ---- device ---- */
  char device[256];
  int want_rate, want_channels;
  double latency_s, retry_min_s, retry_max_s;
  int pa_up; /* we hold a Pa_Initialize */
  PaStream *stream;
  int dev_rate, dev_channels;
  mgc_resampler *rs; /* device rate -> rate, consumer side */
  float *pend;       /* samples taken from the ring, not yet taken by rs */
  size_t pend_cap, pend_n, pend_pos;
  _Atomic uint64_t callbacks; /* bumped by every callback: stall detection */
  _Atomic uint64_t overflows; /* callbacks flagged paInputOverflow */
  uint64_t seen_callbacks;
  double last_progress; /* when `callbacks` last moved, or the stream opened */
  double stall_s;
  double retry_delay, next_retry;

  /* ---- file / stdin ---- */
  SNDFILE *sf;
  int src_rate, src_channels;
  int fast;
  pthread_t thread;
  int thread_started;
  /* stdin: the pump thread copies fd 0 into a pipe that libsndfile reads */
  pthread_t pump;
  int pump_started;
  int pipe_r, pipe_w, stop_r, stop_w; /* -1 when closed */
  _Atomic int pump_failed;
  char pump_error[256];
  _Atomic int stop;
  _Atomic int eof;    /* the reader wrote its last sample */
  _Atomic int failed; /* ... because of an error: reader_error says which */
  char reader_error[512];
  char label[4096]; /* the file name, or "stdin" */
  mgc_resampler *frs; /* file rate -> rate, reader side */
  float *inter, *mono, *rsout;
  size_t block, rsout_cap;
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void set_state(mgc_input *in, mgc_input_state s) {
  atomic_store_explicit(&in->state, (int)s, memory_order_release);
}

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
static void device_close(mgc_input *in) {
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
 * NOT_OPEN with the reason in last_error and everything closed again; or a
 * status < 0 for a failure of the program itself (out of memory). */
#define NOT_OPEN 1
static int device_open(mgc_input *in) {
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
    device_close(in);
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
  in->last_progress = now_s();
  int n = snprintf(in->describe, sizeof in->describe, "device '%s' (%s) at %d Hz, %d channel%s", info->name,
                   api ? api->name : "?", in->dev_rate, channels, channels == 1 ? "" : "s");
  if (in->rs && n > 0 && (size_t)n < sizeof in->describe)
    snprintf(in->describe + n, sizeof in->describe - (size_t)n, ", resampled to %d Hz", in->rate);
  return 0;
fail:
  device_close(in);
  snprintf(in->last_error, sizeof in->last_error, "%s", why);
  snprintf(in->describe, sizeof in->describe, "device '%s' (not open)", in->device);
  return NOT_OPEN;
}

static void device_lost(mgc_input *in, const char *why) {
  device_close(in);
  snprintf(in->last_error, sizeof in->last_error, "%s", why);
  snprintf(in->describe, sizeof in->describe, "device '%s' (lost)", in->device);
  in->retry_delay = in->retry_min_s;
  in->next_retry = now_s() + in->retry_delay;
  set_state(in, MGC_INPUT_LOST);
}

/* Is the running stream still delivering? Moves to LOST if not. */
static void device_check(mgc_input *in) {
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
  double t = now_s();
  if (c != in->seen_callbacks) {
    in->seen_callbacks = c;
    in->last_progress = t;
  } else if (t - in->last_progress > in->stall_s) {
    snprintf(why, sizeof why, "no audio from the device for %.1f s (stalled)", t - in->last_progress);
    device_lost(in, why);
  }
}

static mgc_status device_retry(mgc_input *in) {
  if (now_s() < in->next_retry) return MGC_OK;
  int r = device_open(in);
  if (r < 0) return (mgc_status)r;
  if (r == 0) {
    in->retry_delay = in->retry_min_s;
    atomic_fetch_add(&in->reconnects, 1);
    set_state(in, MGC_INPUT_RUNNING);
    return MGC_OK;
  }
  in->retry_delay = in->retry_delay * 2 < in->retry_max_s ? in->retry_delay * 2 : in->retry_max_s;
  in->next_retry = now_s() + in->retry_delay;
  return MGC_OK;
}

/* Ring (device rate) -> resampler -> buf (model rate). */
static size_t device_resample(mgc_input *in, float *buf, size_t cap, mgc_status *st) {
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

/* ======================================================================
 * Files and stdin
 * ====================================================================== */

static void sleep_until(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

typedef struct {
  double t0;
  uint64_t out; /* samples handed to the ring (or dropped there) */
} pacer;

/* Hand n samples to the ring: as the wall clock allows (real time, where a
 * full ring drops like a device would), or as space frees up (fast). -1 if
 * told to stop. */
static int emit(mgc_input *in, pacer *pc, const float *x, size_t n) {
  const size_t step = (size_t)(in->rate * RT_STEP_S) + 1;
  while (n > 0) {
    if (atomic_load_explicit(&in->stop, memory_order_acquire)) return -1;
    size_t m;
    if (in->fast) {
      size_t space = mgc_ring_capacity(in->ring) - mgc_ring_available(in->ring);
      if (space == 0) {
        struct timespec ts = {0, FULL_WAIT_NS};
        nanosleep(&ts, NULL);
        continue;
      }
      m = n < space ? n : space;
      mgc_ring_write(in->ring, x, m);
    } else {
      double due = floor((now_s() - pc->t0) * in->rate);
      if (due <= (double)pc->out) {
        sleep_until(pc->t0 + (double)(pc->out + (n < step ? n : step)) / in->rate);
        continue;
      }
      m = due - (double)pc->out < (double)n ? (size_t)(due - (double)pc->out) : n;
      mgc_ring_write(in->ring, x, m);
    }
    pc->out += m;
    x += m;
    n -= m;
  }
  return 0;
}

/* Push n mono source samples through the reader's resampler (NULL: flush),
 * emitting no more than `limit` samples in all. */
static int emit_resampled(mgc_input *in, pacer *pc, const float *x, size_t n, uint64_t limit,
                          mgc_status *st) {
  size_t done = 0;
  for (;;) {
    size_t used = 0, got = 0;
    *st = mgc_resampler_process(in->frs, x ? x + done : NULL, n - done, &used, in->rsout, in->rsout_cap, &got);
    if (*st) return -1;
    done += used;
    if (pc->out + got > limit) got = pc->out < limit ? (size_t)(limit - pc->out) : 0;
    if (got && emit(in, pc, in->rsout, got)) return -1;
    if (x ? done >= n && got < in->rsout_cap : got == 0) return 0;
  }
}

static void reader_fail(mgc_input *in, const char *msg) {
  snprintf(in->reader_error, sizeof in->reader_error, "%s", msg);
  atomic_store_explicit(&in->failed, 1, memory_order_release);
}

static void *reader_main(void *arg) {
  mgc_input *in = arg;
  pacer pc = {now_s(), 0};
  uint64_t frames = 0;
  const int ch = in->src_channels;
  mgc_status st = MGC_OK;
  for (;;) {
    if (atomic_load_explicit(&in->stop, memory_order_acquire)) break;
    sf_count_t got = sf_readf_float(in->sf, in->inter, (sf_count_t)in->block);
    if (got < 0 || sf_error(in->sf) != SF_ERR_NO_ERROR) {
      char msg[sizeof in->reader_error];
      snprintf(msg, sizeof msg, "%.256s: decoding failed after %llu frames: %.200s", in->label,
               (unsigned long long)frames, sf_strerror(in->sf));
      reader_fail(in, msg);
      break;
    }
    if (got == 0) {
      if (in->frs) {
        /* mgc_audio_load's length: ceil(frames * rate / src), zero-padded. */
        uint64_t total = (uint64_t)ceil((double)frames * in->rate / in->src_rate);
        if (emit_resampled(in, &pc, NULL, 0, total, &st)) break;
        memset(in->rsout, 0, sizeof(float) * in->rsout_cap);
        while (pc.out < total) {
          size_t m = total - pc.out < in->rsout_cap ? (size_t)(total - pc.out) : in->rsout_cap;
          if (emit(in, &pc, in->rsout, m)) break;
        }
      }
      break;
    }
    const float *mono = in->inter;
    if (ch > 1) {
      /* Sum then divide, exactly as mgc_audio_load downmixes. */
      for (sf_count_t i = 0; i < got; i++) {
        float s = 0.0f;
        for (int c = 0; c < ch; c++) s += in->inter[(size_t)i * (size_t)ch + (size_t)c];
        in->mono[i] = s / (float)ch;
      }
      mono = in->mono;
    }
    frames += (uint64_t)got;
    if (in->frs ? emit_resampled(in, &pc, mono, (size_t)got, UINT64_MAX, &st) : emit(in, &pc, mono, (size_t)got))
      break;
  }
  if (st) reader_fail(in, mgc_error_message());
  if (!atomic_load_explicit(&in->failed, memory_order_relaxed) &&
      atomic_load_explicit(&in->pump_failed, memory_order_acquire))
    reader_fail(in, in->pump_error);
  atomic_store_explicit(&in->eof, 1, memory_order_release);
  return NULL;
}

/* stdin goes through a pipe of ours because a thread blocked in read(0)
 * inside libsndfile could only be stopped by cancellation, and unwinding
 * through libsndfile/libFLAC frames is not something to rely on. The pump
 * waits in poll() on fd 0 and on stop_r, which mgc_input_free closes; it then
 * closes pipe_w, and libsndfile, reading pipe_r, sees the end of the stream. */
static int pump_wait(mgc_input *in, int fd, short ev) {
  for (;;) {
    struct pollfd p[2] = {{.fd = fd, .events = ev}, {.fd = in->stop_r, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (p[1].revents) return -1; /* told to stop */
    if (p[0].revents) return 0;  /* ready, hung up or failed: read/write says which */
  }
}

static void *pump_main(void *arg) {
  mgc_input *in = arg;
  char buf[16384];
  for (;;) {
    if (pump_wait(in, 0, POLLIN)) break;
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      snprintf(in->pump_error, sizeof in->pump_error, "stdin: read failed: %s", strerror(errno));
      atomic_store_explicit(&in->pump_failed, 1, memory_order_release);
    }
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      if (pump_wait(in, in->pipe_w, POLLOUT)) goto out;
      ssize_t w = write(in->pipe_w, buf + off, (size_t)(n - off)); /* pipe_w is non-blocking */
      if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (w < 0) goto out;
      off += w;
    }
  }
out:
  close(in->pipe_w);
  in->pipe_w = -1;
  return NULL;
}

static mgc_status pump_start(mgc_input *in) {
  int p[2], q[2];
  if (pipe2(p, O_CLOEXEC)) return mgc_error_set(MGC_EIO, "input: pipe: %s", strerror(errno));
  in->pipe_r = p[0];
  in->pipe_w = p[1];
  if (pipe2(q, O_CLOEXEC)) return mgc_error_set(MGC_EIO, "input: pipe: %s", strerror(errno));
  in->stop_r = q[0];
  in->stop_w = q[1];
  if (fcntl(in->pipe_w, F_SETFL, O_NONBLOCK))
    return mgc_error_set(MGC_EIO, "input: fcntl: %s", strerror(errno));
  int e = pthread_create(&in->pump, NULL, pump_main, in);
  if (e) return mgc_error_set(MGC_ENOMEM, "input: cannot start the stdin thread: %s", strerror(e));
  in->pump_started = 1;
  return MGC_OK;
}

static const char *major_name(int format, char *buf, size_t cap) {
  SF_FORMAT_INFO fi = {.format = format & SF_FORMAT_TYPEMASK};
  if (sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, sizeof fi) || !fi.name) return "audio";
  size_t n = strcspn(fi.name, " (");
  snprintf(buf, cap, "%.*s", (int)n, fi.name);
  return buf;
}

static mgc_status file_open(mgc_input *in, const mgc_config *c) {
  const int use_stdin = in->kind == MGC_INPUT_STDIN || !strcmp(c->file, "-");
  snprintf(in->label, sizeof in->label, "%s", use_stdin ? "stdin" : c->file);
  const char *label = in->label;
  if (!use_stdin && !*c->file) return mgc_error_set(MGC_EINVAL, "input: no file given");
  SF_INFO info;
  memset(&info, 0, sizeof info);
  if (c->raw) {
    if (c->raw_rate < 1 || c->raw_channels < 1)
      return mgc_error_set(MGC_EINVAL, "input: raw PCM needs a rate and channel count (%d Hz, %d channels)",
                           c->raw_rate, c->raw_channels);
    if (c->raw_format != MGC_SAMPLE_S16 && c->raw_format != MGC_SAMPLE_F32)
      return mgc_error_set(MGC_EINVAL, "input: unknown raw sample format %d", (int)c->raw_format);
    info.samplerate = c->raw_rate;
    info.channels = c->raw_channels;
    info.format = SF_FORMAT_RAW | SF_ENDIAN_LITTLE |
                  (c->raw_format == MGC_SAMPLE_S16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT);
  }
  /* On stdin this waits for the header: an undecodable stream is refused
   * here, like a file, rather than after the daemon reported itself ready. */
  mgc_status st;
  if (use_stdin && (st = pump_start(in))) return st;
  in->sf = use_stdin ? sf_open_fd(in->pipe_r, SFM_READ, &info, SF_FALSE) : sf_open(c->file, SFM_READ, &info);
  if (!in->sf)
    return mgc_error_set(MGC_EIO, "input %s: cannot read it as audio: %s", label, sf_strerror(NULL));
  if (info.channels < 1 || info.samplerate < 1)
    return mgc_error_set(MGC_EFORMAT, "input %s: invalid header (%d channels, %d Hz)", label, info.channels,
                         info.samplerate);
  in->src_rate = info.samplerate;
  in->src_channels = info.channels;
  in->fast = c->fast;
  /* ~10 ms per read keeps real-time pacing and a live pipe's latency fine. */
  in->block = (size_t)in->src_rate / 100;
  if (in->block < 64) in->block = 64;
  if (in->block > 4096) in->block = 4096;
  in->inter = malloc(sizeof(float) * in->block * (size_t)in->src_channels);
  in->mono = malloc(sizeof(float) * in->block);
  if (!in->inter || !in->mono) return mgc_error_set(MGC_ENOMEM, "input: out of memory");
  if (in->src_rate != in->rate) {
    if ((st = mgc_resampler_new(in->src_rate, in->rate, &in->frs))) return st;
    in->rsout_cap = (size_t)ceil((double)in->block * in->rate / in->src_rate) + 1024;
    in->rsout = malloc(sizeof(float) * in->rsout_cap);
    if (!in->rsout) return mgc_error_set(MGC_ENOMEM, "input: out of memory");
  }
  if ((st = mgc_ring_new((size_t)in->rate * RING_SECONDS, &in->ring))) return st;

  char fmt[64];
  const char *kind = c->raw ? (c->raw_format == MGC_SAMPLE_S16 ? "raw s16le" : "raw f32le")
                            : major_name(info.format, fmt, sizeof fmt);
  int n = use_stdin ? snprintf(in->describe, sizeof in->describe, "stdin (%s, %d Hz, %d channel%s)", kind,
                               in->src_rate, in->src_channels, in->src_channels == 1 ? "" : "s")
                    : snprintf(in->describe, sizeof in->describe, "file %s (%s, %d Hz, %d channel%s)", c->file,
                               kind, in->src_rate, in->src_channels, in->src_channels == 1 ? "" : "s");
  if (in->frs && n > 0 && (size_t)n < sizeof in->describe)
    snprintf(in->describe + n, sizeof in->describe - (size_t)n, ", resampled to %d Hz", in->rate);
  if (in->fast && strlen(in->describe) + 8 < sizeof in->describe) strcat(in->describe, ", fast");

  int e = pthread_create(&in->thread, NULL, reader_main, in);
  if (e) return mgc_error_set(MGC_ENOMEM, "input: cannot start the reader thread: %s", strerror(e));
  in->thread_started = 1;
  return MGC_OK;
}

/* ======================================================================
 * Public
 * ====================================================================== */

mgc_status mgc_input_new(const mgc_config *c, int rate, mgc_input **out) {
  if (!out) return mgc_error_set(MGC_EINVAL, "input: no output pointer");
  *out = NULL;
  if (!c) return mgc_error_set(MGC_EINVAL, "input: no configuration");
  if (rate < 1000 || rate > 768000) return mgc_error_set(MGC_EINVAL, "input: bad delivery rate %d Hz", rate);
  if (c->input_kind != MGC_INPUT_DEVICE && c->input_kind != MGC_INPUT_FILE && c->input_kind != MGC_INPUT_STDIN)
    return mgc_error_set(MGC_EINVAL, "input: unknown input kind %d", (int)c->input_kind);
  mgc_input *in = calloc(1, sizeof *in);
  if (!in) return mgc_error_set(MGC_ENOMEM, "input: out of memory");
  in->kind = c->input_kind;
  in->rate = rate;
  in->pipe_r = in->pipe_w = in->stop_r = in->stop_w = -1;
  set_state(in, MGC_INPUT_RUNNING);
  mgc_status st = MGC_OK;
  if (in->kind == MGC_INPUT_DEVICE) {
    if (!(c->latency_s >= 0) || !(c->retry_min_s > 0) || !(c->retry_max_s >= c->retry_min_s) ||
        c->device_rate < 0 || c->device_channels < 0)
      st = mgc_error_set(MGC_EINVAL,
                         "input: bad device parameters (latency %g s, retry %g..%g s, rate %d, channels %d)",
                         c->latency_s, c->retry_min_s, c->retry_max_s, c->device_rate, c->device_channels);
    if (!st) {
      snprintf(in->device, sizeof in->device, "%s", c->device);
      in->want_rate = c->device_rate;
      in->want_channels = c->device_channels;
      in->latency_s = c->latency_s;
      in->retry_min_s = c->retry_min_s;
      in->retry_max_s = c->retry_max_s;
      int r = device_open(in);
      if (r == NOT_OPEN) {
        /* Not an error: the microphone may be plugged in later. */
        in->retry_delay = in->retry_min_s;
        in->next_retry = now_s() + in->retry_delay;
        set_state(in, MGC_INPUT_LOST);
      } else if (r < 0) {
        st = (mgc_status)r;
      }
    }
  } else {
    st = file_open(in, c);
  }
  if (st) {
    mgc_input_free(in);
    return st;
  }
  *out = in;
  return MGC_OK;
}

mgc_status mgc_input_read(mgc_input *in, float *buf, size_t cap, size_t *n) {
  if (!n) return mgc_error_set(MGC_EINVAL, "input_read: no count pointer");
  *n = 0;
  if (!in || (!buf && cap)) return mgc_error_set(MGC_EINVAL, "input_read: no input or buffer");
  if (in->kind != MGC_INPUT_DEVICE) {
    int eof = atomic_load_explicit(&in->eof, memory_order_acquire);
    *n = mgc_ring_read(in->ring, buf, cap);
    if (eof && mgc_ring_available(in->ring) == 0 && mgc_input_get_state(in) != MGC_INPUT_ENDED) {
      if (atomic_load_explicit(&in->failed, memory_order_acquire))
        snprintf(in->last_error, sizeof in->last_error, "%s", in->reader_error);
      set_state(in, MGC_INPUT_ENDED);
    }
    return MGC_OK;
  }
  mgc_status st = MGC_OK;
  if (mgc_input_get_state(in) == MGC_INPUT_RUNNING)
    device_check(in);
  else if ((st = device_retry(in)))
    return st;
  /* What is queued is good audio even if the device has just gone. */
  if (in->ring) *n = in->rs ? device_resample(in, buf, cap, &st) : mgc_ring_read(in->ring, buf, cap);
  return st;
}

mgc_input_state mgc_input_get_state(const mgc_input *in) {
  return in ? (mgc_input_state)atomic_load_explicit(&((mgc_input *)in)->state, memory_order_acquire)
            : MGC_INPUT_ENDED;
}

const char *mgc_input_describe(const mgc_input *in) { return in ? in->describe : ""; }

const char *mgc_input_last_error(const mgc_input *in) { return in ? in->last_error : ""; }

double mgc_input_retry_in(const mgc_input *in) {
  if (!in || in->kind != MGC_INPUT_DEVICE || mgc_input_get_state(in) != MGC_INPUT_LOST) return 0;
  double d = in->next_retry - now_s();
  return d > 0 ? d : 0;
}

uint64_t mgc_input_overruns(const mgc_input *in) {
  if (!in) return 0;
  mgc_input *m = (mgc_input *)in;
  return atomic_load(&m->overrun_base) + (in->ring ? mgc_ring_overruns(in->ring) : 0);
}

uint64_t mgc_input_overflows(const mgc_input *in) {
  return in ? atomic_load_explicit(&((mgc_input *)in)->overflows, memory_order_relaxed) : 0;
}

unsigned mgc_input_reconnects(const mgc_input *in) {
  return in ? atomic_load(&((mgc_input *)in)->reconnects) : 0;
}

void mgc_input_free(mgc_input *in) {
  if (!in) return;
  device_close(in);
  /* The reader stops at its next step (<= 10 ms of sleep); on stdin it may
   * sit in a read of pipe_r, which returns once the pump, woken by closing
   * stop_w, has closed pipe_w. */
  atomic_store_explicit(&in->stop, 1, memory_order_release);
  if (in->stop_w >= 0) close(in->stop_w);
  if (in->pump_started) pthread_join(in->pump, NULL);
  if (in->thread_started) pthread_join(in->thread, NULL);
  if (in->sf) sf_close(in->sf);
  if (in->pipe_w >= 0) close(in->pipe_w);
  if (in->pipe_r >= 0) close(in->pipe_r);
  if (in->stop_r >= 0) close(in->stop_r);
  mgc_resampler_free(in->rs);
  mgc_resampler_free(in->frs);
  mgc_ring_free(in->ring);
  free(in->pend);
  free(in->inter);
  free(in->mono);
  free(in->rsout);
  free(in);
}
