#include "mgc/predict.h"

#include <string.h>

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
