#include "mgc/dsp/framer.h"

#include <stdlib.h>
#include <string.h>

/* The buffer holds a stretch of the *padded* stream: buf[off .. off+len) are
 * padded positions base .. base+len, with base = frames emitted * hop.
 * Until n_fft/2 + 1 samples have arrived the left padding cannot be built
 * (reflection reads y[1..n_fft/2]), so samples wait at their padded place. */
struct mgc_framer {
  mgc_frontend *fe;
  int n_fft, hop, pad;
  mgc_pad_mode pad_mode;
  float *buf;
  size_t cap, off, len;
  int started;        /* left padding written */
  uint64_t n_in;      /* original samples received */
  uint64_t emitted;   /* frames emitted */
};

mgc_status mgc_framer_new(const mgc_frontend_params *p, unsigned features, mgc_framer **out) {
  *out = NULL;
  mgc_framer *f = calloc(1, sizeof *f);
  if (!f) return mgc_error_set(MGC_ENOMEM, "framer: out of memory");
  mgc_status st = mgc_frontend_new(p, features, &f->fe);
  if (st) {
    free(f);
    return st;
  }
  f->n_fft = p->n_fft;
  f->hop = p->hop_length;
  f->pad = p->center ? p->n_fft / 2 : 0;
  f->pad_mode = p->pad_mode;
  /* Room for a frame, the waiting start (n_fft + 1) or the end padding, plus
   * slack so compaction (a memmove) happens once per ~2 n_fft samples. */
  f->cap = 4 * (size_t)p->n_fft;
  f->buf = malloc(sizeof(float) * f->cap);
  if (!f->buf) {
    mgc_framer_free(f);
    return mgc_error_set(MGC_ENOMEM, "framer: out of memory");
  }
  mgc_framer_reset(f);
  *out = f;
  return MGC_OK;
}

void mgc_framer_reset(mgc_framer *f) {
  f->off = f->len = 0;
  f->n_in = f->emitted = 0;
  f->started = f->pad == 0;
}

uint64_t mgc_framer_samples(const mgc_framer *f) { return f->n_in; }
uint64_t mgc_framer_frames(const mgc_framer *f) { return f->emitted; }
mgc_frontend *mgc_framer_frontend(mgc_framer *f) { return f->fe; }

static void compact(mgc_framer *f) {
  if (f->off == 0) return;
  memmove(f->buf, f->buf + f->off, sizeof(float) * f->len);
  f->off = 0;
}

/* Emit every complete frame, at most up to `limit` frames in total. While
 * streaming (no limit), a frame is taken only when the last pad + 1 samples
 * stay in the buffer after it: flush reflects the end from them, and with
 * hop = n_fft / 2 (the pretrained networks' 512 / 256) the frame that
 * would otherwise be taken leaves only pad. */
static int emit(mgc_framer *f, uint64_t limit, mgc_frame_fn fn, void *user) {
  mgc_frame fr;
  const int streaming = limit == UINT64_MAX;
  while (f->len >= (size_t)f->n_fft && f->emitted < limit &&
         (!streaming || f->len >= (size_t)f->hop + (size_t)f->pad + 1)) {
    mgc_frontend_frame(f->fe, f->buf + f->off, f->emitted, &fr);
    f->emitted++;
    f->off += (size_t)f->hop;
    f->len -= (size_t)f->hop;
    int rc = fn(user, &fr);
    if (rc) return rc;
  }
  return 0;
}

/* Write the left padding once y[0..pad] are in place at buf[pad..]. */
static void write_left_pad(mgc_framer *f) {
  float *y = f->buf + f->pad;
  for (int j = 0; j < f->pad; j++) {
    int64_t src = mgc_pad_source_index(f->pad_mode, (int64_t)j - f->pad, (int64_t)f->n_in);
    f->buf[j] = src < 0 ? 0.0f : y[src];
  }
  f->len = (size_t)f->pad + (size_t)f->n_in;
  f->started = 1;
}

int mgc_framer_process(mgc_framer *f, const float *x, size_t n, mgc_frame_fn fn, void *user) {
  while (n > 0) {
    if (!f->started) {
      /* At most pad+1 samples wait; they go to their padded position. */
      size_t want = (size_t)f->pad + 1 - (size_t)f->n_in;
      size_t take = n < want ? n : want;
      memcpy(f->buf + f->pad + f->n_in, x, sizeof(float) * take);
      f->n_in += take;
      x += take;
      n -= take;
      if (f->n_in < (uint64_t)f->pad + 1) return 0;
      write_left_pad(f);
    } else {
      if (f->off + f->len == f->cap) compact(f);
      size_t space = f->cap - f->off - f->len;
      size_t take = n < space ? n : space;
      memcpy(f->buf + f->off + f->len, x, sizeof(float) * take);
      f->len += take;
      f->n_in += take;
      x += take;
      n -= take;
    }
    int rc = emit(f, UINT64_MAX, fn, user);
    if (rc) return rc;
  }
  return 0;
}

int mgc_framer_flush(mgc_framer *f, mgc_frame_fn fn, void *user) {
  const mgc_frontend_params *p = mgc_frontend_params_of(f->fe);
  const uint64_t total = mgc_frontend_frame_count(p, f->n_in);
  int rc = 0;
  if (f->n_in > 0 && f->pad > 0) {
    if (!f->started) write_left_pad(f); /* short stream: reflection knows n now */
    compact(f);
    /* Padded position of buf[0] is base; original sample i sits at i+pad-base.
     * Reflected tail indices are >= n-1-pad, which the buffer still holds. */
    const int64_t base = (int64_t)(f->emitted * (uint64_t)f->hop);
    const int64_t n_in = (int64_t)f->n_in;
    float *end = f->buf + f->len;
    for (int k = 0; k < f->pad; k++) {
      int64_t src = mgc_pad_source_index(f->pad_mode, n_in + k, n_in);
      end[k] = src < 0 ? 0.0f : f->buf[src + f->pad - base];
    }
    f->len += (size_t)f->pad;
  }
  rc = emit(f, total, fn, user);
  mgc_framer_reset(f);
  return rc;
}

void mgc_framer_free(mgc_framer *f) {
  if (!f) return;
  mgc_frontend_free(f->fe);
  free(f->buf);
  free(f);
}
