#include "mgc/dsp/params.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void mgc_frontend_params_default(mgc_frontend_params *p) {
  memset(p, 0, sizeof *p);
  p->sample_rate = 22050;
  p->n_fft = 2048;
  p->hop_length = 512;
  p->center = 1;
  p->pad_mode = MGC_PAD_REFLECT;
  p->n_mels = 128;
  p->fmin = 0.0;
  p->fmax = 0.0;
  p->mel_scale = MGC_MEL_SLANEY;
  p->mel_norm = MGC_MELNORM_SLANEY;
  p->amin = 1e-10;
  p->ref = 1.0;
  p->top_db = 0.0;
  p->n_mfcc = 20;
  p->n_chroma = 12;
  p->tuning = 0.0;
  p->segment_frames = 130;
  p->segment_hop = 65;
}

double mgc_frontend_params_fmax(const mgc_frontend_params *p) {
  return p->fmax > 0.0 ? p->fmax : p->sample_rate / 2.0;
}

mgc_status mgc_frontend_params_validate(const mgc_frontend_params *p) {
  if (p->sample_rate < 1000 || p->sample_rate > 384000)
    return mgc_error_set(MGC_EINVAL, "sample_rate %d out of range [1000, 384000]", p->sample_rate);
  if (p->n_fft < 16 || p->n_fft > 65536 || (p->n_fft & 1))
    return mgc_error_set(MGC_EINVAL, "n_fft %d must be even and in [16, 65536]", p->n_fft);
  if (p->hop_length < 1 || p->hop_length > p->n_fft)
    return mgc_error_set(MGC_EINVAL, "hop_length %d must be in [1, n_fft=%d]", p->hop_length,
                         p->n_fft);
  if (p->center != 0 && p->center != 1)
    return mgc_error_set(MGC_EINVAL, "center must be 0 or 1");
  if (p->pad_mode != MGC_PAD_REFLECT && p->pad_mode != MGC_PAD_CONSTANT)
    return mgc_error_set(MGC_EINVAL, "unknown pad_mode");
  if (p->n_mels < 1 || p->n_mels > 1024)
    return mgc_error_set(MGC_EINVAL, "n_mels %d out of range [1, 1024]", p->n_mels);
  double fmax = mgc_frontend_params_fmax(p);
  if (!(p->fmin >= 0.0) || !(fmax > p->fmin) || fmax > p->sample_rate / 2.0)
    return mgc_error_set(MGC_EINVAL, "need 0 <= fmin (%g) < fmax (%g) <= sample_rate/2", p->fmin,
                         fmax);
  if (p->mel_scale != MGC_MEL_SLANEY && p->mel_scale != MGC_MEL_HTK)
    return mgc_error_set(MGC_EINVAL, "unknown mel_scale");
  if (p->mel_norm != MGC_MELNORM_SLANEY && p->mel_norm != MGC_MELNORM_NONE)
    return mgc_error_set(MGC_EINVAL, "unknown mel_norm");
  if (!(p->amin > 0.0) || !isfinite(p->amin))
    return mgc_error_set(MGC_EINVAL, "amin must be > 0");
  if (!(p->ref > 0.0) || !isfinite(p->ref))
    return mgc_error_set(MGC_EINVAL, "ref must be > 0");
  if (!(p->top_db >= 0.0) || !isfinite(p->top_db))
    return mgc_error_set(MGC_EINVAL, "top_db must be >= 0 (0 = off)");
  if (p->n_mfcc < 1 || p->n_mfcc > p->n_mels)
    return mgc_error_set(MGC_EINVAL, "n_mfcc %d must be in [1, n_mels=%d]", p->n_mfcc, p->n_mels);
  if (p->n_chroma < 1 || p->n_chroma > 120)
    return mgc_error_set(MGC_EINVAL, "n_chroma %d out of range [1, 120]", p->n_chroma);
  if (!isnan(p->tuning) && !(p->tuning >= -0.5 && p->tuning <= 0.5))
    return mgc_error_set(MGC_EINVAL, "tuning %g must be in [-0.5, 0.5] bins (or NaN = estimate)",
                         p->tuning);
  if (p->segment_pad != MGC_SEGPAD_MEAN && p->segment_pad != MGC_SEGPAD_REPEAT)
    return mgc_error_set(MGC_EINVAL, "segment_pad must be mean or repeat");
  if (p->segment_frames < 1 || p->segment_hop < 1)
    return mgc_error_set(MGC_EINVAL, "segment_frames and segment_hop must be >= 1");
  return MGC_OK;
}

static const char *pad_names[] = {"reflect", "constant"};
static const char *scale_names[] = {"slaney", "htk"};
static const char *norm_names[] = {"slaney", "none"};
static const char *segpad_names[] = {"mean", "repeat"};

mgc_status mgc_frontend_params_to_json(const mgc_frontend_params *p, char **json) {
  json_t *o = json_pack(
      "{s:i, s:i, s:i, s:s, s:b, s:s, s:f, s:i, s:f, s:f, s:s, s:s, s:f, s:f, s:f, s:i, s:i, "
      "s:i, s:i}",
      "sample_rate", p->sample_rate, "n_fft", p->n_fft, "hop_length", p->hop_length, "window",
      "hann", "center", p->center, "pad_mode", pad_names[p->pad_mode], "power", 2.0, "n_mels",
      p->n_mels, "fmin", p->fmin, "fmax", mgc_frontend_params_fmax(p), "mel_scale",
      scale_names[p->mel_scale], "mel_norm", norm_names[p->mel_norm], "amin", p->amin, "ref",
      p->ref, "top_db", p->top_db, "n_mfcc", p->n_mfcc, "n_chroma", p->n_chroma,
      "segment_frames", p->segment_frames, "segment_hop", p->segment_hop);
  if (!o) return mgc_error_set(MGC_ENOMEM, "cannot build front-end JSON");
  /* JSON has no NaN: "estimate" is spelled as null. */
  json_object_set_new(o, "tuning", isnan(p->tuning) ? json_null() : json_real(p->tuning));
  /* Only when not the default, so that older readers and files agree. */
  if (p->segment_pad != MGC_SEGPAD_MEAN)
    json_object_set_new(o, "segment_pad", json_string(segpad_names[p->segment_pad]));
  *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
  json_decref(o);
  return *json ? MGC_OK : mgc_error_set(MGC_ENOMEM, "cannot serialise front-end JSON");
}

static mgc_status get_int(json_t *v, const char *key, int *out) {
  if (!json_is_integer(v)) return mgc_error_set(MGC_EINVAL, "front-end key '%s' must be an integer", key);
  json_int_t x = json_integer_value(v);
  if (x < -1000000000 || x > 1000000000)
    return mgc_error_set(MGC_EINVAL, "front-end key '%s' out of range", key);
  *out = (int)x;
  return MGC_OK;
}

static mgc_status get_real(json_t *v, const char *key, double *out) {
  if (!json_is_number(v)) return mgc_error_set(MGC_EINVAL, "front-end key '%s' must be a number", key);
  *out = json_number_value(v);
  return MGC_OK;
}

static mgc_status get_enum(json_t *v, const char *key, const char **names, int n, int *out) {
  if (!json_is_string(v)) return mgc_error_set(MGC_EINVAL, "front-end key '%s' must be a string", key);
  for (int i = 0; i < n; i++)
    if (strcmp(json_string_value(v), names[i]) == 0) {
      *out = i;
      return MGC_OK;
    }
  return mgc_error_set(MGC_EINVAL, "front-end key '%s': unknown value '%s'", key, json_string_value(v));
}

mgc_status mgc_frontend_params_from_json(const char *text, mgc_frontend_params *p) {
  json_error_t jerr;
  json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!o) return mgc_error_set(MGC_EFORMAT, "front-end JSON: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
  mgc_frontend_params q;
  mgc_frontend_params_default(&q);
  mgc_status st = MGC_OK;
  if (!json_is_object(o)) st = mgc_error_set(MGC_EFORMAT, "front-end JSON must be an object");
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    if (st != MGC_OK) break;
    int e = 0;
    if (!strcmp(key, "sample_rate")) st = get_int(v, key, &q.sample_rate);
    else if (!strcmp(key, "n_fft")) st = get_int(v, key, &q.n_fft);
    else if (!strcmp(key, "hop_length")) st = get_int(v, key, &q.hop_length);
    else if (!strcmp(key, "center")) {
      if (!json_is_boolean(v)) st = mgc_error_set(MGC_EINVAL, "front-end key 'center' must be a boolean");
      else q.center = json_is_true(v);
    } else if (!strcmp(key, "window")) {
      if (!json_is_string(v) || strcmp(json_string_value(v), "hann"))
        st = mgc_error_set(MGC_EINVAL, "front-end key 'window': only \"hann\" is supported");
    } else if (!strcmp(key, "power")) {
      if (!json_is_number(v) || json_number_value(v) != 2.0)
        st = mgc_error_set(MGC_EINVAL, "front-end key 'power': only 2.0 is supported");
    } else if (!strcmp(key, "pad_mode")) {
      if ((st = get_enum(v, key, pad_names, 2, &e)) == MGC_OK) q.pad_mode = (mgc_pad_mode)e;
    } else if (!strcmp(key, "n_mels")) st = get_int(v, key, &q.n_mels);
    else if (!strcmp(key, "fmin")) st = get_real(v, key, &q.fmin);
    else if (!strcmp(key, "fmax")) st = get_real(v, key, &q.fmax);
    else if (!strcmp(key, "mel_scale")) {
      if ((st = get_enum(v, key, scale_names, 2, &e)) == MGC_OK) q.mel_scale = (mgc_mel_scale)e;
    } else if (!strcmp(key, "mel_norm")) {
      if ((st = get_enum(v, key, norm_names, 2, &e)) == MGC_OK) q.mel_norm = (mgc_mel_norm)e;
    } else if (!strcmp(key, "amin")) st = get_real(v, key, &q.amin);
    else if (!strcmp(key, "ref")) st = get_real(v, key, &q.ref);
    else if (!strcmp(key, "top_db")) st = get_real(v, key, &q.top_db);
    else if (!strcmp(key, "n_mfcc")) st = get_int(v, key, &q.n_mfcc);
    else if (!strcmp(key, "n_chroma")) st = get_int(v, key, &q.n_chroma);
    else if (!strcmp(key, "tuning")) {
      if (json_is_null(v)) q.tuning = NAN;
      else st = get_real(v, key, &q.tuning);
    } else if (!strcmp(key, "segment_frames")) st = get_int(v, key, &q.segment_frames);
    else if (!strcmp(key, "segment_hop")) st = get_int(v, key, &q.segment_hop);
    else if (!strcmp(key, "segment_pad")) {
      if ((st = get_enum(v, key, segpad_names, 2, &e)) == MGC_OK) q.segment_pad = (mgc_segment_pad)e;
    } else st = mgc_error_set(MGC_EINVAL, "front-end JSON: unknown key '%s'", key);
  }
  json_decref(o);
  if (st == MGC_OK) st = mgc_frontend_params_validate(&q);
  if (st == MGC_OK) *p = q;
  return st;
}

int mgc_frontend_params_same_frames(const mgc_frontend_params *a, const mgc_frontend_params *b) {
  /* field by field: a struct's padding bytes are not part of its value */
  int same_tuning = a->tuning == b->tuning || (isnan(a->tuning) && isnan(b->tuning));
  return a->sample_rate == b->sample_rate && a->n_fft == b->n_fft &&
         a->hop_length == b->hop_length && a->center == b->center &&
         a->pad_mode == b->pad_mode && a->n_mels == b->n_mels && a->fmin == b->fmin &&
         a->fmax == b->fmax && a->mel_scale == b->mel_scale && a->mel_norm == b->mel_norm &&
         a->amin == b->amin && a->ref == b->ref && a->top_db == b->top_db &&
         a->n_mfcc == b->n_mfcc && a->n_chroma == b->n_chroma && same_tuning;
}
