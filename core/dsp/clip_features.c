#include "mgc/dsp/clip_features.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/chroma.h"
#include "mgc/dsp/framer.h"
#include "mgc/dsp/frontend.h"
#include "mgc/dsp/hpss.h"
#include "mgc/dsp/mel.h"
#include "mgc/dsp/mfcc.h"
#include "mgc/dsp/tempo.h"

#define MFCC_NAMES(k) "mfcc" #k "_mean", "mfcc" #k "_var"

static const char *const g_names[MGC_CLIP_DIM] = {
    "chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var",
    "spectral_centroid_mean", "spectral_centroid_var", "spectral_bandwidth_mean", "spectral_bandwidth_var",
    "rolloff_mean", "rolloff_var", "zero_crossing_rate_mean", "zero_crossing_rate_var",
    "harmony_mean", "harmony_var", "perceptr_mean", "perceptr_var", "tempo",
    MFCC_NAMES(1), MFCC_NAMES(2), MFCC_NAMES(3), MFCC_NAMES(4), MFCC_NAMES(5),
    MFCC_NAMES(6), MFCC_NAMES(7), MFCC_NAMES(8), MFCC_NAMES(9), MFCC_NAMES(10),
    MFCC_NAMES(11), MFCC_NAMES(12), MFCC_NAMES(13), MFCC_NAMES(14), MFCC_NAMES(15),
    MFCC_NAMES(16), MFCC_NAMES(17), MFCC_NAMES(18), MFCC_NAMES(19), MFCC_NAMES(20)};

const char *mgc_clip_feature_name(int i) { return i >= 0 && i < MGC_CLIP_DIM ? g_names[i] : NULL; }

enum { N_FFT = 2048, HOP = 512, N_MELS = 128, N_MFCC = 20, N_CHROMA = 12 };

/* Mean and population variance (numpy's var, ddof 0) of x[i * stride],
 * i < n, in two passes of double. */
static void mean_var(const float *x, size_t n, size_t stride, float *mean, float *var) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i * stride];
  const double mu = s / (double)n;
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double d = x[i * stride] - mu;
    ss += d * d;
  }
  *mean = (float)mu;
  *var = (float)(ss / (double)n);
}

/* Per-frame spectral shape from the power frame (librosa uses the magnitude):
 * centroid, bandwidth (p = 2, norm = True) and rolloff (85 %). */
static void spectral_shape(const float *pw, int sr, float *mag, float *centroid, float *bandwidth, float *rolloff) {
  const int nb = N_FFT / 2 + 1;
  const double df = (double)sr / N_FFT;
  double s1 = 0.0, sf = 0.0;
  for (int k = 0; k < nb; k++) {
    mag[k] = sqrtf(pw[k]);
    s1 += mag[k];
    sf += (double)k * df * mag[k];
  }
  /* util.normalize(norm=1): a frame whose sum is below float32's tiny is
   * left unscaled, so silence gives centroid 0 and bandwidth 0. */
  const double norm = s1 < FLT_MIN ? 1.0 : s1;
  const double c = sf / norm;
  double bw = 0.0;
  for (int k = 0; k < nb; k++) {
    const double dev = (double)k * df - c;
    bw += mag[k] / norm * dev * dev;
  }
  *centroid = (float)c;
  *bandwidth = (float)sqrt(bw);
  /* The first bin whose float32 running sum reaches 0.85 of the total, as
   * np.cumsum on the float32 magnitude does. */
  float run = 0.0f, total = 0.0f;
  for (int k = 0; k < nb; k++) total += mag[k];
  const float thr = 0.85f * total;
  int r = nb - 1;
  for (int k = 0; k < nb; k++) {
    run += mag[k];
    if (run >= thr) {
      r = k;
      break;
    }
  }
  *rolloff = (float)(r * df);
}

/* First pass over the frames: everything but chroma, which needs the tuning
 * that this pass estimates. */
typedef struct {
  int sr;
  size_t T, t;
  float *cent, *bw, *roll, *mag;
  float *mel_db, *mel_db2;
  const mgc_mel *mel_onset;
  double amin, ref;
  mgc_tuning_acc tuning; /* librosa.estimate_tuning, frame by frame */
} pass1_ctx;

static int pass1_frame(void *user, const mgc_frame *fr) {
  pass1_ctx *c = user;
  const size_t t = c->t;
  if (t >= c->T) return (int)mgc_error_set(MGC_ESTATE, "feature table: more frames than expected");
  spectral_shape(fr->power, c->sr, c->mag, &c->cent[t], &c->bw[t], &c->roll[t]);
  memcpy(c->mel_db + t * N_MELS, fr->mel_db, sizeof(float) * N_MELS);
  if (c->mel_db2) {
    float *row = c->mel_db2 + t * N_MELS;
    mgc_mel_process(c->mel_onset, fr->power, row);
    mgc_power_to_db(row, N_MELS, c->amin, c->ref);
  }
  mgc_status st = mgc_tuning_acc_add(&c->tuning, fr->power);
  if (st) return (int)st;
  c->t++;
  return 0;
}

typedef struct {
  size_t T, t;
  float *chr;
} pass2_ctx;

static int pass2_frame(void *user, const mgc_frame *fr) {
  pass2_ctx *c = user;
  if (c->t >= c->T) return (int)mgc_error_set(MGC_ESTATE, "feature table: more frames than expected");
  memcpy(c->chr + c->t * N_CHROMA, fr->chroma, sizeof(float) * N_CHROMA);
  c->t++;
  return 0;
}

/* Every frame of y through a streaming framer (the frames mgc_features_compute
 * gives, bit for bit). */
static mgc_status run_frames(const mgc_frontend_params *p, unsigned feats, const float *y, size_t n, mgc_frame_fn fn,
                             void *user) {
  mgc_framer *fr = NULL;
  mgc_status st = mgc_framer_new(p, feats, &fr);
  if (!st) st = (mgc_status)mgc_framer_process(fr, y, n, fn, user);
  if (!st) st = (mgc_status)mgc_framer_flush(fr, fn, user);
  mgc_framer_free(fr);
  return st;
}

/* librosa's defaults as the table's features use them (the tuning
 * estimated per clip). */
static void table_params(int sr, mgc_frontend_params *p) {
  mgc_frontend_params_default(p);
  p->sample_rate = sr;
  p->n_fft = N_FFT;
  p->hop_length = HOP;
  p->center = 1;
  p->pad_mode = MGC_PAD_REFLECT;
  p->n_mels = N_MELS;
  p->fmin = 0.0;
  p->fmax = 0.0;
  p->mel_scale = MGC_MEL_SLANEY;
  p->mel_norm = MGC_MELNORM_SLANEY;
  p->amin = 1e-10;
  p->ref = 1.0;
  p->top_db = 0.0;
  p->n_mfcc = N_MFCC;
  p->n_chroma = N_CHROMA;
  p->tuning = NAN;
}

/* rms: reflect-padded frames; zero_crossing_rate: edge-padded frames, a
 * crossing where the sign bit changes (|x| <= 1e-10 counts as +0), over
 * the frame's 2047 neighbour pairs divided by 2048. */
static void rms_zcr(const float *y, size_t n, size_t T, float *rms, float *zcr) {
  for (size_t t = 0; t < T; t++) {
    double ss = 0.0;
    int crossings = 0, prev_neg = 0;
    for (int i = 0; i < N_FFT; i++) {
      const int64_t j = (int64_t)(t * HOP) + i - N_FFT / 2;
      const int64_t src = mgc_pad_source_index(MGC_PAD_REFLECT, j, (int64_t)n);
      ss += (double)y[src] * y[src];
      const float e = y[j < 0 ? 0 : j >= (int64_t)n ? (int64_t)n - 1 : j];
      const int neg = fabsf(e) <= 1e-10f ? 0 : signbit(e) != 0;
      if (i > 0 && neg != prev_neg) crossings++;
      prev_neg = neg;
    }
    rms[t] = (float)sqrt(ss / N_FFT);
    zcr[t] = (float)crossings / (float)N_FFT;
  }
}

/* tempo from the onset envelope; 0 for an envelope with no onset, as
 * beat_track gives. */
static mgc_status tempo_feature(const float *env, size_t T, int sr, float *out) {
  int any = 0;
  for (size_t t = 0; t < T && !any; t++) any = env[t] != 0.0f;
  if (!any) {
    out[MGC_CLIP_TEMPO] = 0.0f;
    return MGC_OK;
  }
  mgc_tempo_params tp;
  mgc_tempo_params_default(&tp);
  double bpm;
  mgc_status st = mgc_tempo_estimate(env, T, sr, HOP, &tp, &bpm);
  if (!st) out[MGC_CLIP_TEMPO] = (float)bpm;
  return st;
}

/* harmony / perceptr: the two signals of effects.hpss, streamed into their
 * means and variances. */
static mgc_status hpss_features(const float *y, size_t n, float *out) {
  mgc_hpss_params hp;
  mgc_hpss_params_default(&hp);
  mgc_hpss_moments hm;
  mgc_status st = mgc_hpss_compute_moments(y, n, &hp, &hm);
  if (st) return st;
  out[MGC_CLIP_HARMONY_MEAN] = (float)hm.harm_mean;
  out[MGC_CLIP_HARMONY_VAR] = (float)hm.harm_var;
  out[MGC_CLIP_PERCEPTR_MEAN] = (float)hm.perc_mean;
  out[MGC_CLIP_PERCEPTR_VAR] = (float)hm.perc_var;
  return MGC_OK;
}

mgc_status mgc_clip_features(const float *y, size_t n, int sr, float out[MGC_CLIP_DIM]) {
  for (int i = 0; i < MGC_CLIP_DIM; i++) out[i] = NAN;
  if (!y || n == 0) return mgc_error_set(MGC_EINVAL, "feature table: empty signal");
  for (size_t i = 0; i < n; i++)
    if (!isfinite(y[i])) return mgc_error_set(MGC_EINVAL, "feature table: sample %zu is not finite", i);
  mgc_frontend_params p;
  table_params(sr, &p);
  mgc_status st = mgc_frontend_params_validate(&p);
  if (st) return mgc_error_prefix(st, "feature table: ");

  /* Frames are streamed, never stored whole: what is kept is the per-frame
   * values (a few floats each; the variances are two-pass) and the dB mel
   * spectrogram (128 per frame: its top_db clip needs the clip's maximum).
   * HPSS streams too, so a clip costs what clip_features.h says, not its
   * whole spectrograms. */
  const size_t nb = N_FFT / 2 + 1;
  const size_t T = (size_t)mgc_frontend_frame_count(&p, n);
  mgc_mel *mel_onset = NULL;
  mgc_mfcc *dct = NULL;
  float *frame_feats = malloc(sizeof(float) * T * 5);
  float *chr = malloc(sizeof(float) * T * N_CHROMA);
  float *mel_db = malloc(sizeof(float) * T * N_MELS);
  float *mel_db2 = NULL;
  float *mfcc = malloc(sizeof(float) * T * N_MFCC);
  float *env = malloc(sizeof(float) * T);
  float *mag = malloc(sizeof(float) * nb);
  pass1_ctx c1 = {0};
  mgc_tuning_acc_init(&c1.tuning, sr, N_FFT);
  if (!frame_feats || !chr || !mel_db || !mfcc || !env || !mag) {
    st = mgc_error_set(MGC_ENOMEM, "feature table: out of memory (%zu frames)", T);
    goto done;
  }
  float *rms = frame_feats, *cent = rms + T, *bw = cent + T, *roll = bw + T, *zcr = roll + T;

  /* tempo: beat_track's onset envelope is the median over mel bands of the
   * rectified dB flux; its mel spectrogram stops at 11025 Hz, which is
   * Nyquist at the table's 22050 Hz (lower rates: Nyquist). */
  if (sr > 22050) {
    mgc_frontend_params p2 = p;
    p2.fmax = 11025.0;
    if ((st = mgc_mel_new(&p2, &mel_onset))) goto done;
    if (!(mel_db2 = malloc(sizeof(float) * T * N_MELS))) {
      st = mgc_error_set(MGC_ENOMEM, "feature table: out of memory");
      goto done;
    }
  }
  /* Pass 1: spectral shape, dB mel, the tuning's spectral peaks. */
  c1.sr = sr;
  c1.T = T;
  c1.cent = cent;
  c1.bw = bw;
  c1.roll = roll;
  c1.mag = mag;
  c1.mel_db = mel_db;
  c1.mel_db2 = mel_db2;
  c1.mel_onset = mel_onset;
  c1.amin = p.amin;
  c1.ref = p.ref;
  if ((st = run_frames(&p, MGC_FEAT_POWER | MGC_FEAT_LOGMEL, y, n, pass1_frame, &c1))) goto done;
  if (c1.t != T) {
    st = mgc_error_set(MGC_ESTATE, "feature table: framer gave %zu frames, expected %zu", c1.t, T);
    goto done;
  }

  /* chroma_stft: power spectrogram, tuning estimated over the clip; pass 2
   * takes the STFT again rather than keep it (an FFT per frame is cheap). */
  double tuning;
  if ((st = mgc_tuning_acc_finish(&c1.tuning, N_CHROMA, &tuning))) goto done;
  mgc_tuning_acc_free(&c1.tuning);
  p.tuning = tuning;
  pass2_ctx c2 = {T, 0, chr};
  if ((st = run_frames(&p, MGC_FEAT_CHROMA, y, n, pass2_frame, &c2))) goto done;
  if (c2.t != T) {
    st = mgc_error_set(MGC_ESTATE, "feature table: framer gave %zu frames, expected %zu", c2.t, T);
    goto done;
  }
  mean_var(chr, T * N_CHROMA, 1, &out[MGC_CLIP_CHROMA_MEAN], &out[MGC_CLIP_CHROMA_VAR]);

  rms_zcr(y, n, T, rms, zcr);
  mean_var(rms, T, 1, &out[MGC_CLIP_RMS_MEAN], &out[MGC_CLIP_RMS_VAR]);
  mean_var(cent, T, 1, &out[MGC_CLIP_CENTROID_MEAN], &out[MGC_CLIP_CENTROID_VAR]);
  mean_var(bw, T, 1, &out[MGC_CLIP_BANDWIDTH_MEAN], &out[MGC_CLIP_BANDWIDTH_VAR]);
  mean_var(roll, T, 1, &out[MGC_CLIP_ROLLOFF_MEAN], &out[MGC_CLIP_ROLLOFF_VAR]);
  mean_var(zcr, T, 1, &out[MGC_CLIP_ZCR_MEAN], &out[MGC_CLIP_ZCR_VAR]);

  /* mfcc: power_to_db of the mel spectrogram with top_db 80 over the whole
   * clip (librosa's default), then the DCT. */
  mgc_db_clip_top(mel_db, T * N_MELS, 80.0);
  if ((st = mgc_mfcc_new(N_MELS, N_MFCC, &dct))) goto done;
  for (size_t t = 0; t < T; t++) mgc_mfcc_process(dct, mel_db + t * N_MELS, mfcc + t * N_MFCC);
  for (int k = 0; k < N_MFCC; k++)
    mean_var(mfcc + k, T, N_MFCC, &out[MGC_CLIP_MFCC + 2 * k], &out[MGC_CLIP_MFCC + 2 * k + 1]);

  const float *onset_db = mel_db;
  if (mel_db2) {
    mgc_db_clip_top(mel_db2, T * N_MELS, 80.0);
    onset_db = mel_db2;
  }
  if ((st = mgc_onset_strength(onset_db, T, N_MELS, N_FFT, HOP, MGC_ONSET_MEDIAN, env))) goto done;
  if ((st = tempo_feature(env, T, sr, out))) goto done;

  if ((st = hpss_features(y, n, out))) goto done;

done:
  if (st)
    for (int i = 0; i < MGC_CLIP_DIM; i++) out[i] = NAN;
  mgc_mel_free(mel_onset);
  mgc_mfcc_free(dct);
  mgc_tuning_acc_free(&c1.tuning);
  free(frame_feats);
  free(chr);
  free(mel_db);
  free(mel_db2);
  free(mfcc);
  free(env);
  free(mag);
  return st;
}
