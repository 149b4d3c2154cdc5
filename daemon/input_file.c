/* mgcd's file and stdin input (input.h): libsndfile (or headerless PCM)
 * decoded, downmixed and resampled in a reader thread, paced at real time
 * unless fast; stdin through a pump thread. */
#define _GNU_SOURCE /* pipe2 */

#include "input_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
      double due = floor((mgc_input_now_s() - pc->t0) * in->rate);
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
  pacer pc = {mgc_input_now_s(), 0};
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

mgc_status mgc_input_file_open(mgc_input *in, const mgc_config *c) {
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
