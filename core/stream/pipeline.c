#include "mgc/stream/pipeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/features.h"
#include "mgc/dsp/framer.h"
#include "mgc/model/session.h"
#include "mgc/stream/windower.h"
#include "mgc/dsp/hann.h"

struct mgc_pipeline {
  const mgc_model *m;
  mgc_frontend_params fp;
  mgc_feature_kind kind;
  int len, hop, dim, n_mels, C;
  mgc_framer *framer;    /* a follower's is its leader's */
  unsigned feats;        /* the features this pipeline reads from a frame */
  /* Members of one front-end share a framer: the leader owns it and hands
   * every frame to its followers (mgc_pipeline_new_shared). */
  struct mgc_pipeline *leader;
  struct mgc_pipeline *followers[MGC_PIPELINE_MAX_FOLLOWERS];
  int n_followers;
  mgc_windower *windower;
  mgc_session *session;
  mgc_aggregator *agg;
  double w2sum;          /* sum of the squared Hann window: RMS from the power spectrum */
  /* The last `len` frames, indexed by frame number mod len: the model's
   * features (for the padded short-stream window), the dB mel bands (the
   * spectral profile) and each frame's mean square. */
  float *feat_ring, *mel_ring, *ms_ring;
  float *x, *probs, *profile, *padwin;
  /* Waveform models: the samples cut into hop_length-sample frames (as
   * mgc_features_compute's "waveform"), each kept in a small ring until the
   * spectral frame of the same index, which completes a little later,
   * pushes it to the windower: windows keep the spectral members' schedule
   * and every window still has its spectral frames (level, profile). */
  float *raw_ring;           /* raw_slots frames of dim (= hop_length) samples */
  int raw_slots, raw_fill;   /* ring size in frames; samples of the frame being filled */
  uint64_t raw_frames;       /* complete raw frames of the current stream */
  uint64_t stream_frames;    /* frames of the current stream */
  uint64_t stream_windows;   /* windows of the current stream */
  double offset_s;           /* audio time at which the current stream began */
  uint64_t windows;
  double last_rms_db;
  double flush_n;            /* samples of the stream being flushed (the framer forgets them) */
  mgc_status model_error;
  mgc_window_event_fn fn;
  void *user;
  mgc_window_gate_fn gate;
  void *gate_user;
};

void mgc_pipeline_params_default(mgc_pipeline_params *p) {
  memset(p, 0, sizeof *p);
  mgc_aggregator_params_default(&p->agg);
  mgc_music_params_default(&p->music);
}

static const float *frame_feature(const mgc_pipeline *p, const mgc_frame *f) {
  switch (p->kind) {
  case MGC_KIND_LOGMEL: return f->mel_db;
  case MGC_KIND_MFCC: return f->mfcc;
  case MGC_KIND_CHROMA: return f->chroma;
  default: return f->power;
  }
}

/* Samples before frame 0's start, and samples per frame: a waveform frame
 * is its own hop_length samples, a spectral one n_fft centred on its hop. */
static double frame_half(const mgc_pipeline *p) {
  return p->kind == MGC_KIND_WAVEFORM || !p->fp.center ? 0 : p->fp.n_fft / 2;
}
static double frame_span(const mgc_pipeline *p) {
  return p->kind == MGC_KIND_WAVEFORM ? p->fp.hop_length : p->fp.n_fft;
}

static void window_times(const mgc_pipeline *p, uint64_t first, double *t, double *t_end) {
  const mgc_frontend_params *fp = &p->fp;
  double sr = fp->sample_rate, half = frame_half(p);
  double a = (double)first * fp->hop_length - half;
  double b = (double)(first + (uint64_t)p->len - 1) * fp->hop_length - half + frame_span(p);
  double n = p->flush_n > 0 ? p->flush_n : (double)mgc_framer_samples(p->framer);
  if (a < 0) a = 0;
  if (b > n) b = n; /* the padded end at flush */
  *t = p->offset_s + a / sr;
  *t_end = p->offset_s + b / sr;
}

/* Classify one window (frame-major [len][dim]) whose frames are the last
 * `len` frames in the rings, or fewer at a padded flush (`have`). */
static int emit(mgc_pipeline *p, const float *win, uint64_t first, int have, int padded) {
  mgc_window_event e;
  memset(&e, 0, sizeof e);
  double ms = 0;
  for (int k = 0; k < p->n_mels; k++) p->profile[k] = 0;
  for (int i = 0; i < have; i++) {
    size_t slot = (size_t)((first + (uint64_t)i) % (uint64_t)p->len);
    ms += p->ms_ring[slot];
    const float *mel = p->mel_ring + slot * (size_t)p->n_mels;
    for (int k = 0; k < p->n_mels; k++) p->profile[k] += mel[k];
  }
  for (int k = 0; k < p->n_mels; k++) p->profile[k] /= (float)have;
  ms /= have;
  e.rms_db = ms > 1e-20 ? 10.0 * log10(ms) : -200.0;
  p->last_rms_db = e.rms_db;
  int silent = mgc_aggregator_is_silent(p->agg, e.rms_db);
  mgc_gate g = p->gate ? p->gate(p->gate_user, p->windows) : MGC_GATE_VOTE;
  if (g == MGC_GATE_END) mgc_aggregator_end_track(p->agg);
  if (!silent && g == MGC_GATE_VOTE) {
    mgc_status st = mgc_model_window_layout(p->m, win, p->len, p->dim, p->x);
    if (!st) st = mgc_session_run(p->session, p->x, 1, p->probs);
    if (st) {
      p->model_error = st;
      return (int)st;
    }
    e.probs = p->probs;
  }
  if (silent || g == MGC_GATE_VOTE) mgc_aggregator_process(p->agg, e.probs, e.rms_db, p->profile, &e.decision);
  else mgc_aggregator_skip(p->agg, &e.decision);
  e.music = NAN;
  e.sound = silent ? MGC_SOUND_SILENCE : MGC_SOUND_MUSIC;
  e.index = p->windows++;
  e.padded = padded;
  window_times(p, first, &e.t, &e.t_end);
  p->stream_windows++;
  return p->fn ? p->fn(p->user, &e) : 0;
}

static int on_window(void *user, const mgc_window *w) {
  mgc_pipeline *p = user;
  return emit(p, w->data, w->first_frame, p->len, 0);
}

static int frame_in(mgc_pipeline *p, const mgc_frame *f);

/* A frame of the framer: the leader's, then each follower's. */
static int on_frame(void *user, const mgc_frame *f) {
  mgc_pipeline *p = user;
  int rc = frame_in(p, f);
  for (int i = 0; !rc && i < p->n_followers; i++) rc = frame_in(p->followers[i], f);
  return rc;
}

static int frame_in(mgc_pipeline *p, const mgc_frame *f) {
  size_t slot = (size_t)(f->index % (uint64_t)p->len);
  const int nb = p->fp.n_fft / 2 + 1;
  /* Parseval on the one-sided power spectrum: the frame's Hann-weighted
   * mean square, so a full-scale sine reads -3 dBFS as on any meter. */
  double e = f->power[0] + f->power[nb - 1];
  for (int k = 1; k < nb - 1; k++) e += 2.0 * f->power[k];
  p->ms_ring[slot] = (float)(e / ((double)p->fp.n_fft * p->w2sum));
  memcpy(p->mel_ring + slot * (size_t)p->n_mels, f->mel_db, sizeof(float) * (size_t)p->n_mels);
  const float *v = frame_feature(p, f);
  if (p->kind == MGC_KIND_WAVEFORM) {
    /* The padded end of a stream has spectral frames past the last whole
     * raw frame; the offline cut drops that partial frame too. */
    if (f->index >= p->raw_frames) return 0;
    if (f->index + (uint64_t)p->raw_slots <= p->raw_frames) /* cannot happen: see raw_slots */
      return (int)(p->model_error = mgc_error_set(MGC_ESTATE, "pipeline: raw frame %llu overwritten",
                                                  (unsigned long long)f->index));
    v = p->raw_ring + (size_t)(f->index % (uint64_t)p->raw_slots) * (size_t)p->dim;
  }
  memcpy(p->feat_ring + slot * (size_t)p->dim, v, sizeof(float) * (size_t)p->dim);
  p->stream_frames = f->index + 1;
  return mgc_windower_push(p->windower, v, on_window, p);
}

mgc_status mgc_pipeline_new(const mgc_model *m, const mgc_pipeline_params *pp, mgc_pipeline **out) {
  *out = NULL;
  mgc_feature_kind kind;
  if (mgc_feature_kind_parse(m->arch->feature, &kind))
    return mgc_error_set(MGC_EINVAL,
                         "pipeline: the model's input '%s' is not a per-frame feature the live "
                         "pipeline computes (logmel, mfcc, chroma, stft, waveform)",
                         m->arch->feature);
  mgc_pipeline *p = calloc(1, sizeof *p);
  if (!p) return mgc_error_set(MGC_ENOMEM, "pipeline: out of memory");
  p->m = m;
  p->fp = m->frontend;
  /* Live chroma cannot estimate the tuning over the whole file first; a
   * model trained with per-file estimates is fed A440 tuning. */
  if (isnan(p->fp.tuning)) p->fp.tuning = 0.0;
  p->kind = kind;
  p->len = pp->window_frames > 0 ? pp->window_frames : p->fp.segment_frames;
  p->hop = pp->window_hop > 0 ? pp->window_hop : p->fp.segment_hop;
  p->n_mels = p->fp.n_mels;
  p->C = m->n_classes;
  p->dim = (int)mgc_feature_dim(&p->fp, kind);
  p->feats = MGC_FEAT_LOGMEL | (kind == MGC_KIND_MFCC ? MGC_FEAT_MFCC : 0) |
             (kind == MGC_KIND_CHROMA ? MGC_FEAT_CHROMA : 0);
  for (int i = 0; i < p->fp.n_fft; i++) {
    double w = mgc_hann((size_t)i, (size_t)p->fp.n_fft);
    p->w2sum += w * w;
  }
  mgc_aggregator_params ap = pp->agg;
  ap.hop_s = (double)p->hop * p->fp.hop_length / p->fp.sample_rate;
  size_t d = mgc_shape_size(&m->arch->input);
  mgc_status st;
  if ((st = mgc_framer_new(&p->fp, p->feats, &p->framer)) ||
      (st = mgc_windower_new(p->dim, p->len, p->hop, &p->windower)) ||
      (st = mgc_session_new(m, 1, &p->session)) ||
      (st = mgc_aggregator_new(&ap, p->C, p->n_mels, &p->agg)))
    goto fail;
  p->feat_ring = malloc(sizeof(float) * (size_t)p->len * (size_t)p->dim);
  p->mel_ring = malloc(sizeof(float) * (size_t)p->len * (size_t)p->n_mels);
  p->ms_ring = malloc(sizeof(float) * (size_t)p->len);
  p->padwin = malloc(sizeof(float) * (size_t)p->len * (size_t)p->dim);
  p->x = malloc(sizeof(float) * d);
  p->probs = malloc(sizeof(float) * (size_t)p->C);
  p->profile = malloc(sizeof(float) * (size_t)p->n_mels);
  /* Raw frames run ahead of the spectral ones by at most n_fft / hop + 1
   * frames when fed at most one raw frame at a time (mgc_pipeline_process). */
  p->raw_slots = kind == MGC_KIND_WAVEFORM ? p->fp.n_fft / p->fp.hop_length + 3 : 0;
  if (p->raw_slots) p->raw_ring = malloc(sizeof(float) * (size_t)p->raw_slots * (size_t)p->dim);
  if (!p->feat_ring || !p->mel_ring || !p->ms_ring || !p->padwin || !p->x || !p->probs || !p->profile ||
      (p->raw_slots && !p->raw_ring)) {
    st = mgc_error_set(MGC_ENOMEM, "pipeline: out of memory");
    goto fail;
  }
  /* Check once that a window of this size fits the model's input, so the
   * real-time path never meets the error. */
  memset(p->padwin, 0, sizeof(float) * (size_t)p->len * (size_t)p->dim);
  if (mgc_model_window_layout(m, p->padwin, p->len, p->dim, p->x)) {
    char shape[64];
    mgc_shape_str(&m->arch->input, shape, sizeof shape);
    st = mgc_error_set(MGC_EINVAL, "pipeline: windows of %d frames x %d %s values do not fit the model's input %s",
                       p->len, p->dim, m->arch->feature, shape);
    goto fail;
  }
  p->last_rms_db = -200.0;
  *out = p;
  return MGC_OK;
fail:
  mgc_pipeline_free(p);
  return st;
}

int mgc_pipeline_process(mgc_pipeline *p, const float *x, size_t n, mgc_window_event_fn fn, void *user) {
  p->fn = fn;
  p->user = user;
  if (p->leader) return 0; /* its frames come through the leader */
  if (p->kind != MGC_KIND_WAVEFORM) return mgc_framer_process(p->framer, x, n, on_frame, p);
  /* Waveform: the samples go into the raw frames and then to the framer, at
   * most up to the end of one raw frame at a time, so the ring stays a few
   * frames ahead of the framer whatever the chunk size. */
  while (n > 0) {
    size_t k = (size_t)(p->dim - p->raw_fill);
    if (k > n) k = n;
    float *fr = p->raw_ring + (size_t)(p->raw_frames % (uint64_t)p->raw_slots) * (size_t)p->dim;
    memcpy(fr + p->raw_fill, x, sizeof(float) * k);
    p->raw_fill += (int)k;
    if (p->raw_fill == p->dim) {
      p->raw_fill = 0;
      p->raw_frames++;
    }
    int rc = mgc_framer_process(p->framer, x, k, on_frame, p);
    if (rc) return rc;
    x += k;
    n -= k;
  }
  return 0;
}

/* A new stream: the partial raw frame is dropped. */
static void raw_reset(mgc_pipeline *p) {
  p->raw_fill = 0;
  p->raw_frames = 0;
}

/* After the framer's flush: a stream shorter than one window still gets a
 * window, as mgc_predict_track gives it (its missing frames filled with
 * the band means, 0 once standardised); then a new stream begins. */
static int flush_tail(mgc_pipeline *p, int rc) {
  if (!rc && p->stream_windows == 0 && p->stream_frames > 0 && p->stream_frames < (uint64_t)p->len) {
    int have = (int)p->stream_frames;
    const float *fill = p->m->norm_dim == p->dim ? p->m->norm_mean : NULL;
    for (int i = 0; i < p->len; i++)
      for (int k = 0; k < p->dim; k++)
        p->padwin[(size_t)i * p->dim + k] = i < have ? p->feat_ring[(size_t)i * p->dim + k] : fill ? fill[k] : 0.0f;
    rc = emit(p, p->padwin, 0, have, 1);
  }
  mgc_windower_reset(p->windower);
  raw_reset(p);
  p->offset_s += p->flush_n / p->fp.sample_rate;
  p->flush_n = 0;
  p->stream_frames = p->stream_windows = 0;
  return rc;
}

int mgc_pipeline_flush(mgc_pipeline *p, mgc_window_event_fn fn, void *user) {
  p->fn = fn;
  p->user = user;
  if (p->leader) return 0; /* flushed with its leader */
  double n = (double)mgc_framer_samples(p->framer);
  p->flush_n = n;
  for (int i = 0; i < p->n_followers; i++) p->followers[i]->flush_n = n;
  int rc = mgc_framer_flush(p->framer, on_frame, p);
  rc = flush_tail(p, rc);
  for (int i = 0; i < p->n_followers; i++) rc = flush_tail(p->followers[i], rc);
  return rc;
}

static void restart_one(mgc_pipeline *p, double seen_s, double gap_s) {
  p->offset_s += seen_s + (gap_s > 0 ? gap_s : 0);
  mgc_windower_reset(p->windower);
  raw_reset(p);
  p->stream_frames = p->stream_windows = 0;
}

void mgc_pipeline_restart(mgc_pipeline *p, double gap_s) {
  if (p->leader) return; /* restarted with its leader */
  double seen = (double)mgc_framer_samples(p->framer) / p->fp.sample_rate;
  restart_one(p, seen, gap_s);
  for (int i = 0; i < p->n_followers; i++) restart_one(p->followers[i], seen, gap_s);
  mgc_framer_reset(p->framer);
}

void mgc_pipeline_set_sink(mgc_pipeline *p, mgc_window_event_fn fn, void *user) {
  p->fn = fn;
  p->user = user;
}

void mgc_pipeline_set_gate(mgc_pipeline *p, mgc_window_gate_fn fn, void *user) {
  p->gate = fn;
  p->gate_user = user;
}

int mgc_pipeline_can_share(const mgc_pipeline *leader, const mgc_model *m) {
  mgc_feature_kind kind;
  if (leader->leader || leader->kind == MGC_KIND_WAVEFORM ||
      leader->n_followers == MGC_PIPELINE_MAX_FOLLOWERS ||
      mgc_feature_kind_parse(m->arch->feature, &kind) || kind == MGC_KIND_WAVEFORM)
    return 0;
  mgc_frontend_params fp = m->frontend;
  if (isnan(fp.tuning)) fp.tuning = 0.0; /* as mgc_pipeline_new */
  return mgc_frontend_params_same_frames(&fp, &leader->fp);
}

mgc_status mgc_pipeline_new_shared(const mgc_model *m, const mgc_pipeline_params *pp,
                                   mgc_pipeline *leader, mgc_pipeline **out) {
  *out = NULL;
  if (leader->leader || leader->n_followers == MGC_PIPELINE_MAX_FOLLOWERS ||
      mgc_framer_samples(leader->framer) > 0)
    return mgc_error_set(MGC_EINVAL, "pipeline: a framer is shared by a leader with room for "
                         "followers, before any audio");
  mgc_pipeline *p;
  mgc_status st = mgc_pipeline_new(m, pp, &p);
  if (st) return st;
  if (p->kind == MGC_KIND_WAVEFORM || leader->kind == MGC_KIND_WAVEFORM ||
      !mgc_frontend_params_same_frames(&p->fp, &leader->fp)) {
    mgc_pipeline_free(p);
    return mgc_error_set(MGC_EINVAL, "pipeline: the framer is shared only by spectral models of "
                         "the same front-end");
  }
  unsigned want = leader->feats | p->feats;
  if (want != leader->feats) { /* the leader's framer computes what the follower reads too */
    mgc_framer *f;
    if ((st = mgc_framer_new(&leader->fp, want, &f))) {
      mgc_pipeline_free(p);
      return st;
    }
    mgc_framer_free(leader->framer);
    leader->framer = f;
    leader->feats = want;
    for (int i = 0; i < leader->n_followers; i++) leader->followers[i]->framer = f;
  }
  mgc_framer_free(p->framer);
  p->framer = leader->framer;
  p->leader = leader;
  leader->followers[leader->n_followers++] = p;
  *out = p;
  return MGC_OK;
}

void mgc_pipeline_reset_track(mgc_pipeline *p) { mgc_aggregator_reset(p->agg); }

void mgc_pipeline_current(const mgc_pipeline *p, mgc_decision *out) { mgc_aggregator_current(p->agg, out); }

double mgc_pipeline_audio_s(const mgc_pipeline *p) {
  return p->offset_s + (double)mgc_framer_samples(p->framer) / p->fp.sample_rate;
}

uint64_t mgc_pipeline_windows(const mgc_pipeline *p) { return p->windows; }

double mgc_pipeline_until_window_s(const mgc_pipeline *p) {
  uint64_t last = p->stream_windows * (uint64_t)p->hop + (uint64_t)p->len - 1;
  double end = (double)last * p->fp.hop_length - frame_half(p) + frame_span(p);
  double have = (double)mgc_framer_samples(p->framer);
  return end > have ? (end - have) / p->fp.sample_rate : 0;
}
double mgc_pipeline_rms_db(const mgc_pipeline *p) { return p->last_rms_db; }
double mgc_pipeline_window_s(const mgc_pipeline *p) {
  return ((double)(p->len - 1) * p->fp.hop_length + frame_span(p)) / p->fp.sample_rate;
}
double mgc_pipeline_hop_s(const mgc_pipeline *p) { return (double)p->hop * p->fp.hop_length / p->fp.sample_rate; }
const mgc_model *mgc_pipeline_model(const mgc_pipeline *p) { return p->m; }

void mgc_pipeline_free(mgc_pipeline *p) {
  if (!p) return;
  if (!p->leader) mgc_framer_free(p->framer);
  mgc_windower_free(p->windower);
  mgc_session_free(p->session);
  mgc_aggregator_free(p->agg);
  free(p->feat_ring);
  free(p->mel_ring);
  free(p->ms_ring);
  free(p->padwin);
  free(p->raw_ring);
  free(p->x);
  free(p->probs);
  free(p->profile);
  free(p);
}
