/* What input.c, input_device.c and input_file.c share behind input.h:
 * the input's state and the steps each kind of source implements. Not for
 * anything outside mgcd's input. */
#ifndef MGC_DAEMON_INPUT_IMPL_H
#define MGC_DAEMON_INPUT_IMPL_H

#include <portaudio.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdatomic.h>

#include "input.h"
#include "mgc/audio/resampler.h"
#include "mgc/stream/ring.h"

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

double mgc_input_now_s(void);
void mgc_input_set_state(mgc_input *in, mgc_input_state s);

/* A capture device (input_device.c). _open returns 0, MGC_INPUT_NOT_OPEN
 * (not there now: retry later) or a negative mgc_status. */
#define MGC_INPUT_NOT_OPEN 1
int mgc_input_device_open(mgc_input *in);
void mgc_input_device_close(mgc_input *in);
/* Consumer side: loss detection while running, retries while lost, and the
 * device's audio resampled to the delivered rate. */
void mgc_input_device_check(mgc_input *in);
mgc_status mgc_input_device_retry(mgc_input *in);
size_t mgc_input_device_resample(mgc_input *in, float *buf, size_t cap, mgc_status *st);

/* A file or stdin (input_file.c): opened, and its reader thread started. */
mgc_status mgc_input_file_open(mgc_input *in, const mgc_config *c);

#endif
