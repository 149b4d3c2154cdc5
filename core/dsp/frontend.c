#include "mgc/dsp/frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/chroma.h"
#include "mgc/dsp/mel.h"
#include "mgc/dsp/mfcc.h"
#include "mgc/dsp/stft.h"

struct mgc_frontend {
  mgc_frontend_params p;
  unsigned features;
  mgc_stft *stft;
  mgc_mel *mel;
  mgc_mfcc *mfcc;
  mgc_chroma *chroma;
  float *power, *mel_db, *mfcc_out, *chroma_out;
};

mgc_status mgc_frontend_new(const mgc_frontend_params *p, unsigned features, mgc_frontend **out) {
  *out = NULL;
  mgc_status st = mgc_frontend_params_validate(p);
  if (st) return st;
  if (features & MGC_FEAT_MFCC) features |= MGC_FEAT_LOGMEL;
  features |= MGC_FEAT_POWER;
  if ((features & MGC_FEAT_CHROMA) && isnan(p->tuning))
    return mgc_error_set(MGC_EINVAL,
                         "chroma needs a fixed tuning here; estimating it needs the whole file "
                         "(mgc_chroma_estimate_tuning)");
  mgc_frontend *fe = calloc(1, sizeof *fe);
  if (!fe) return mgc_error_set(MGC_ENOMEM, "frontend: out of memory");
  fe->p = *p;
  fe->features = features;
  if ((st = mgc_stft_new(p->n_fft, &fe->stft))) goto fail;
  fe->power = malloc(sizeof(float) * (size_t)(p->n_fft / 2 + 1));
  if (!fe->power) goto oom;
  if (features & MGC_FEAT_LOGMEL) {
    if ((st = mgc_mel_new(p, &fe->mel))) goto fail;
    if (!(fe->mel_db = malloc(sizeof(float) * (size_t)p->n_mels))) goto oom;
  }
  if (features & MGC_FEAT_MFCC) {
    if ((st = mgc_mfcc_new(p->n_mels, p->n_mfcc, &fe->mfcc))) goto fail;
    if (!(fe->mfcc_out = malloc(sizeof(float) * (size_t)p->n_mfcc))) goto oom;
  }
  if (features & MGC_FEAT_CHROMA) {
    if ((st = mgc_chroma_new(p->sample_rate, p->n_fft, p->n_chroma, p->tuning, &fe->chroma))) goto fail;
    if (!(fe->chroma_out = malloc(sizeof(float) * (size_t)p->n_chroma))) goto oom;
  }
  *out = fe;
  return MGC_OK;
oom:
  st = mgc_error_set(MGC_ENOMEM, "frontend: out of memory");
fail:
  mgc_frontend_free(fe);
  return st;
}

const mgc_frontend_params *mgc_frontend_params_of(const mgc_frontend *fe) { return &fe->p; }
unsigned mgc_frontend_features(const mgc_frontend *fe) { return fe->features; }

void mgc_frontend_frame(mgc_frontend *fe, const float *samples, uint64_t index, mgc_frame *out) {
  mgc_stft_process(fe->stft, samples, fe->power);
  out->index = index;
  out->power = fe->power;
  out->mel_db = out->mfcc = out->chroma = NULL;
  if (fe->mel) {
    mgc_mel_process(fe->mel, fe->power, fe->mel_db);
    mgc_power_to_db(fe->mel_db, (size_t)fe->p.n_mels, fe->p.amin, fe->p.ref);
    out->mel_db = fe->mel_db;
  }
  if (fe->mfcc) {
    mgc_mfcc_process(fe->mfcc, fe->mel_db, fe->mfcc_out);
    out->mfcc = fe->mfcc_out;
  }
  if (fe->chroma) {
    mgc_chroma_process(fe->chroma, fe->power, fe->chroma_out);
    out->chroma = fe->chroma_out;
  }
}

uint64_t mgc_frontend_frame_count(const mgc_frontend_params *p, uint64_t n) {
  if (p->center) return n == 0 ? 0 : 1 + n / (uint64_t)p->hop_length;
  if (n < (uint64_t)p->n_fft) return 0;
  return 1 + (n - (uint64_t)p->n_fft) / (uint64_t)p->hop_length;
}

int64_t mgc_pad_source_index(mgc_pad_mode mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  if (mode == MGC_PAD_CONSTANT || n <= 0) return -1;
  if (n == 1) return 0;
  /* numpy 'reflect' (edge not repeated) extends the signal periodically with
   * period 2(n-1): ... y2 y1 | y0 y1 ... y(n-1) | y(n-2) ... */
  const int64_t period = 2 * (n - 1);
  int64_t m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

mgc_status mgc_frontend_run(mgc_frontend *fe, const float *y, size_t n, mgc_frame_fn fn, void *user) {
  const mgc_frontend_params *p = &fe->p;
  const uint64_t frames = mgc_frontend_frame_count(p, n);
  if (frames == 0) return MGC_OK;
  const int64_t pad = p->center ? p->n_fft / 2 : 0;
  const size_t total = n + 2 * (size_t)pad;
  float *x = malloc(sizeof(float) * total);
  if (!x) return mgc_error_set(MGC_ENOMEM, "frontend: out of memory for %zu samples", n);
  for (size_t j = 0; j < total; j++) {
    int64_t src = mgc_pad_source_index(p->pad_mode, (int64_t)j - pad, (int64_t)n);
    x[j] = src < 0 ? 0.0f : y[src];
  }
  int rc = 0;
  mgc_frame fr;
  for (uint64_t t = 0; t < frames && rc == 0; t++) {
    mgc_frontend_frame(fe, x + t * (uint64_t)p->hop_length, t, &fr);
    rc = fn(user, &fr);
  }
  free(x);
  return (mgc_status)rc;
}

void mgc_frontend_free(mgc_frontend *fe) {
  if (!fe) return;
  mgc_stft_free(fe->stft);
  mgc_mel_free(fe->mel);
  mgc_mfcc_free(fe->mfcc);
  mgc_chroma_free(fe->chroma);
  free(fe->power);
  free(fe->mel_db);
  free(fe->mfcc_out);
  free(fe->chroma_out);
  free(fe);
}
