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
#include "input_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double mgc_input_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void mgc_input_set_state(mgc_input *in, mgc_input_state s) {
  atomic_store_explicit(&in->state, (int)s, memory_order_release);
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
  mgc_input_set_state(in, MGC_INPUT_RUNNING);
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
      int r = mgc_input_device_open(in);
      if (r == MGC_INPUT_NOT_OPEN) {
        /* Not an error: the microphone may be plugged in later. */
        in->retry_delay = in->retry_min_s;
        in->next_retry = mgc_input_now_s() + in->retry_delay;
        mgc_input_set_state(in, MGC_INPUT_LOST);
      } else if (r < 0) {
        st = (mgc_status)r;
      }
    }
  } else {
    st = mgc_input_file_open(in, c);
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
      mgc_input_set_state(in, MGC_INPUT_ENDED);
    }
    return MGC_OK;
  }
  mgc_status st = MGC_OK;
  if (mgc_input_get_state(in) == MGC_INPUT_RUNNING)
    mgc_input_device_check(in);
  else if ((st = mgc_input_device_retry(in)))
    return st;
  /* What is queued is good audio even if the device has just gone. */
  if (in->ring) *n = in->rs ? mgc_input_device_resample(in, buf, cap, &st) : mgc_ring_read(in->ring, buf, cap);
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
  double d = in->next_retry - mgc_input_now_s();
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
  mgc_input_device_close(in);
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
