#include "mgc/dsp/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/chroma.h"
#include "mgc/dsp/framer.h"
#include "mgc/dsp/mel.h"
#include "mgc/dsp/mfcc.h"

/* Indexed by mgc_feature_kind. */
static const char *kind_names[] = {"stft", "logmel", "mfcc", "chroma", "waveform"};
enum { N_KINDS = (int)(sizeof kind_names / sizeof kind_names[0]) };

mgc_status mgc_feature_kind_parse(const char *name, mgc_feature_kind *kind) {
  for (int i = 0; i < N_KINDS; i++)
    if (!strcmp(name, kind_names[i])) {
      *kind = (mgc_feature_kind)i;
      return MGC_OK;
    }
  return mgc_error_set(MGC_EINVAL, "unknown feature kind '%s' (logmel, mfcc, chroma, stft, waveform)",
                       name);
}

const char *mgc_feature_kind_name(mgc_feature_kind kind) {
  return (unsigned)kind < N_KINDS ? kind_names[kind] : "?";
}

/* Waveform frames: the signal cut into hop_length-sample frames, no
 * centring, no padding, the partial frame at the end dropped. */
static mgc_status waveform_frames(const mgc_frontend_params *p, const float *y, size_t n,
                                  mgc_feature_matrix *out) {
  const size_t dim = (size_t)p->hop_length, frames = n / dim;
  float *d = malloc(sizeof(float) * (frames ? frames * dim : 1));
  if (!d) return mgc_error_set(MGC_ENOMEM, "features: out of memory (%zu frames)", frames);
  if (frames) memcpy(d, y, sizeof(float) * frames * dim);
  out->data = d;
  out->n_frames = frames;
  out->dim = dim;
  return MGC_OK;
}

typedef struct {
  mgc_feature_kind kind; /* what to copy out of each frame (chroma: power) */
  float *dst;
  size_t dim, n;
} collect_ctx;

static int collect(void *user, const mgc_frame *fr) {
  collect_ctx *c = user;
  const float *src = c->kind == MGC_KIND_LOGMEL ? fr->mel_db
                     : c->kind == MGC_KIND_MFCC ? fr->mfcc
                                                : fr->power;
  memcpy(c->dst + c->n * c->dim, src, sizeof(float) * c->dim);
  c->n++;
  return 0;
}

mgc_status mgc_features_compute(const mgc_frontend_params *p, mgc_feature_kind kind, const float *y,
                                size_t n, mgc_feature_matrix *out) {
  memset(out, 0, sizeof *out);
  out->tuning = NAN;
  mgc_status st = mgc_frontend_params_validate(p);
  if (st) return st;
  if (kind == MGC_KIND_WAVEFORM) return waveform_frames(p, y, n, out);
  if ((unsigned)kind >= N_KINDS) return mgc_error_set(MGC_EINVAL, "features: unknown feature kind %d", (int)kind);
  const size_t nb = (size_t)p->n_fft / 2 + 1;
  size_t dim = kind == MGC_KIND_LOGMEL ? (size_t)p->n_mels
               : kind == MGC_KIND_MFCC ? (size_t)p->n_mfcc
               : kind == MGC_KIND_CHROMA ? (size_t)p->n_chroma
                                         : nb;
  unsigned feats = kind == MGC_KIND_LOGMEL ? MGC_FEAT_LOGMEL : kind == MGC_KIND_MFCC ? MGC_FEAT_MFCC : MGC_FEAT_POWER;
  const size_t frames = (size_t)mgc_frontend_frame_count(p, n);
  /* Chroma is computed from the stored power frames, after the tuning is known. */
  const size_t cdim = kind == MGC_KIND_CHROMA ? nb : dim;
  collect_ctx c = {kind == MGC_KIND_CHROMA ? MGC_KIND_STFT : kind, NULL, cdim, 0};
  c.dst = malloc(sizeof(float) * (frames ? frames : 1) * cdim);
  if (!c.dst) return mgc_error_set(MGC_ENOMEM, "features: out of memory (%zu frames)", frames);
  mgc_framer *fr = NULL;
  if ((st = mgc_framer_new(p, feats, &fr))) goto fail;
  if ((st = (mgc_status)mgc_framer_process(fr, y, n, collect, &c))) goto fail;
  if ((st = (mgc_status)mgc_framer_flush(fr, collect, &c))) goto fail;
  mgc_framer_free(fr);
  fr = NULL;
  if (c.n != frames) {
    st = mgc_error_set(MGC_ESTATE, "features: framer gave %zu frames, expected %zu", c.n, frames);
    goto fail;
  }
  if (kind == MGC_KIND_CHROMA) {
    double tuning = p->tuning;
    if (isnan(tuning) &&
        (st = mgc_chroma_estimate_tuning(c.dst, frames, p->sample_rate, p->n_fft, p->n_chroma, &tuning)))
      goto fail;
    mgc_chroma *ch = NULL;
    if ((st = mgc_chroma_new(p->sample_rate, p->n_fft, p->n_chroma, tuning, &ch))) goto fail;
    float *chroma = malloc(sizeof(float) * (frames ? frames : 1) * dim);
    if (!chroma) {
      mgc_chroma_free(ch);
      st = mgc_error_set(MGC_ENOMEM, "features: out of memory");
      goto fail;
    }
    for (size_t t = 0; t < frames; t++) mgc_chroma_process(ch, c.dst + t * nb, chroma + t * dim);
    mgc_chroma_free(ch);
    free(c.dst);
    c.dst = chroma;
    out->tuning = tuning;
  }
  if ((kind == MGC_KIND_LOGMEL || kind == MGC_KIND_MFCC) && p->top_db > 0.0) {
    if (kind == MGC_KIND_LOGMEL) {
      mgc_db_clip_top(c.dst, frames * dim, p->top_db);
    } else {
      /* librosa's mfcc clips the dB mel spectrogram before the DCT, so redo
       * the DCT on clipped bands. */
      collect_ctx m = {MGC_KIND_LOGMEL, malloc(sizeof(float) * (frames ? frames : 1) * (size_t)p->n_mels),
                       (size_t)p->n_mels, 0};
      mgc_mfcc *dct = NULL;
      if (!m.dst) st = mgc_error_set(MGC_ENOMEM, "features: out of memory");
      if (!st) st = mgc_mfcc_new(p->n_mels, p->n_mfcc, &dct);
      if (!st) st = mgc_framer_new(p, MGC_FEAT_LOGMEL, &fr);
      if (!st) st = (mgc_status)mgc_framer_process(fr, y, n, collect, &m);
      if (!st) st = (mgc_status)mgc_framer_flush(fr, collect, &m);
      if (!st) {
        mgc_db_clip_top(m.dst, frames * (size_t)p->n_mels, p->top_db);
        for (size_t t = 0; t < frames; t++) mgc_mfcc_process(dct, m.dst + t * (size_t)p->n_mels, c.dst + t * dim);
      }
      mgc_mfcc_free(dct);
      free(m.dst);
      if (st) goto fail;
    }
  }
  mgc_framer_free(fr);
  out->data = c.dst;
  out->n_frames = frames;
  out->dim = dim;
  return MGC_OK;
fail:
  mgc_framer_free(fr);
  free(c.dst);
  return st;
}

void mgc_feature_matrix_free(mgc_feature_matrix *m) {
  if (!m) return;
  free(m->data);
  memset(m, 0, sizeof *m);
}

size_t mgc_feature_dim(const mgc_frontend_params *p, mgc_feature_kind kind) {
  switch (kind) {
  case MGC_KIND_STFT: return (size_t)p->n_fft / 2 + 1;
  case MGC_KIND_LOGMEL: return (size_t)p->n_mels;
  case MGC_KIND_MFCC: return (size_t)p->n_mfcc;
  case MGC_KIND_CHROMA: return (size_t)p->n_chroma;
  case MGC_KIND_WAVEFORM: return (size_t)p->hop_length;
  }
  return 0;
}
