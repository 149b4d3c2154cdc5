#include "mgc/model/predict.h"

#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/clip_features.h"

int mgc_track_windows(int n_frames, int win_len, int win_hop) {
  if (n_frames < win_len) return 1;
  return 1 + (n_frames - win_len) / win_hop;
}

/* What a window's missing frames are filled with under the mean rule: the
 * band means when there is one per feature value (0 once standardised);
 * otherwise (no standardisation, or one statistic for all the values of a
 * frame, as for a waveform's single channel) 0, i.e. silence for a
 * waveform. mgc_pipeline pads its short-stream window by the same rule. */
static const float *window_fill(const mgc_model *m, int dim) {
  return m->norm_dim == dim ? m->norm_mean : NULL;
}

void mgc_window_cut(const mgc_model *m, const mgc_feature_matrix *feat, int start, int len,
                    float *out) {
  int dim = (int)feat->dim, n = (int)feat->n_frames;
  int repeat = m->frontend.segment_pad == MGC_SEGPAD_REPEAT && n > 0;
  const float *fill = window_fill(m, dim);
  for (int k = 0; k < len; k++) {
    float *row = out + (size_t)k * dim;
    int src = start + k;
    if (src >= n && repeat) src %= n;
    if (src < n) {
      memcpy(row, feat->data + (size_t)src * dim, (size_t)dim * sizeof(float));
    } else {
      for (int j = 0; j < dim; j++) row[j] = fill ? fill[j] : 0.0f;
    }
  }
}

mgc_status mgc_predict_track(mgc_session *s, const mgc_feature_matrix *feat, int win_len,
                             int win_hop, float *scratch, float *probs) {
  const mgc_model *m = mgc_session_model(s);
  mgc_shape si = m->arch->input;
  size_t d = mgc_shape_size(&si);
  int nw = mgc_track_windows((int)feat->n_frames, win_len, win_hop);
  int cap = mgc_session_max_batch(s);
  float *win = scratch + (size_t)cap * d; /* one frame-major window after the inputs */
  for (int w0 = 0; w0 < nw; w0 += cap) {
    int b = nw - w0 < cap ? nw - w0 : cap;
    for (int i = 0; i < b; i++) {
      mgc_window_cut(m, feat, (w0 + i) * win_hop, win_len, win);
      mgc_status st = mgc_model_window_layout(m, win, win_len, (int)feat->dim, scratch + i * d);
      if (st) return st;
    }
    mgc_status st = mgc_session_run(s, scratch, b, probs + (size_t)w0 * m->n_classes);
    if (st) return st;
  }
  return MGC_OK;
}

int mgc_predict_is_table(const mgc_model *m) { return !strcmp(m->arch->feature, "table"); }

int mgc_predict_rate(const mgc_model *m) {
  return mgc_predict_is_table(m) ? MGC_CLIP_RATE : m->frontend.sample_rate;
}

mgc_status mgc_predict_features(const mgc_model *m, const float *y, size_t n, mgc_feature_matrix *out) {
  mgc_feature_kind kind;
  *out = (mgc_feature_matrix){0};
  mgc_status st = mgc_feature_kind_parse(m->arch->feature, &kind);
  return st ? st : mgc_features_compute(&m->frontend, kind, y, n, out);
}

mgc_status mgc_predict_recording_features(mgc_session *s, const mgc_feature_matrix *fm, float *probs,
                                       int *windows) {
  const mgc_model *model = mgc_session_model(s);
  const int C = model->n_classes;
  int win = model->frontend.segment_frames, hop = model->frontend.segment_hop;
  int nw = mgc_track_windows((int)fm->n_frames, win, hop);
  size_t d = mgc_shape_size(&model->arch->input);
  float *wp = malloc((size_t)nw * (size_t)C * sizeof *wp);
  float *scratch =
      malloc(((size_t)mgc_session_max_batch(s) * d + (size_t)win * fm->dim) * sizeof *scratch);
  mgc_status st = MGC_OK;
  if (!wp || !scratch) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) st = mgc_predict_track(s, fm, win, hop, scratch, wp);
  if (!st) {
    for (int k = 0; k < C; k++) {
      double sum = 0;
      for (int w = 0; w < nw; w++) sum += wp[(size_t)w * (size_t)C + (size_t)k];
      probs[k] = (float)(sum / nw);
    }
    if (windows) *windows = nw;
  }
  free(wp);
  free(scratch);
  return st;
}

mgc_status mgc_predict_recording(mgc_session *s, const float *y, size_t n, float *probs, int *windows) {
  const mgc_model *model = mgc_session_model(s);
  if (mgc_predict_is_table(model)) {
    if (mgc_shape_size(&model->arch->input) != MGC_CLIP_DIM)
      return mgc_error_set(MGC_EINVAL, "a table model must take the %d table features", MGC_CLIP_DIM);
    float x[MGC_CLIP_DIM];
    mgc_status st = mgc_clip_features(y, n, MGC_CLIP_RATE, x);
    if (!st) st = mgc_session_run(s, x, 1, probs);
    if (!st && windows) *windows = 1;
    return st;
  }
  mgc_feature_matrix fm;
  mgc_status st = mgc_predict_features(model, y, n, &fm);
  if (!st) st = mgc_predict_recording_features(s, &fm, probs, windows);
  mgc_feature_matrix_free(&fm);
  return st;
}
