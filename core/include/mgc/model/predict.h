/* Predicting a track: the windows a recording is cut into, and the class
 * probabilities of each, as mgcd, mgc-classify, mgc-eval and the trainer's
 * validation all see them. Inference only: nothing here knows training. */
#ifndef MGC_PREDICT_H
#define MGC_PREDICT_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/dsp/features.h"
#include "mgc/model/session.h"

/* Number of windows of win_len frames, hop win_hop, in a track of n_frames
 * frames (at least 1: a shorter track gives one window, filled by the
 * model's front-end rule segment_pad). */
int mgc_track_windows(int n_frames, int win_len, int win_hop);

/* Frames [start, start+len) of a track, frame-major, into out; frames past
 * the track's end are filled by m's segment_pad rule: the band means (0
 * once standardised; 0 for a waveform's single statistic), or the track's
 * frames repeated from its start. Never allocates. */
void mgc_window_cut(const mgc_model *m, const mgc_feature_matrix *feat, int start, int len,
                    float *out);

/* Class probabilities of every window of one track on the regular grid,
 * written to probs [mgc_track_windows(...)][classes]; uses the session's
 * planned batch to run several windows at once. `scratch` must hold
 * max_batch * input size floats plus one window (win_len * dim floats). */
mgc_status mgc_predict_track(mgc_session *s, const mgc_feature_matrix *feat, int win_len,
                             int win_hop, float *scratch, float *probs);

/* Whether the model reads the 57 clip features of a recording (feature:
 * table) rather than frames. */
int mgc_predict_is_table(const mgc_model *m);

/* One model on a whole recording y[0..n): the mean of its window
 * probabilities, the rule every mgc decision uses (a table model: its
 * answer on y's 57 features). y must be at mgc_predict_rate; s is a
 * session of the model (any max batch). probs gets [n_classes]; windows
 * (NULL if unwanted) the windows seen, 1 for a table model. Allocates. */
mgc_status mgc_predict_recording(mgc_session *s, const float *y, size_t n, float *probs, int *windows);
/* The two halves of mgc_predict_recording for a frame-based model, so that
 * members of one front-end compute a recording's features once: the
 * features of y (at the model's rate; out is freed with
 * mgc_feature_matrix_free), and the mean window probabilities on them. */
mgc_status mgc_predict_features(const mgc_model *m, const float *y, size_t n, mgc_feature_matrix *out);
mgc_status mgc_predict_recording_features(mgc_session *s, const mgc_feature_matrix *fm, float *probs,
                                       int *windows);
/* The model's front-end rate, or for a table model the table's 22050 Hz. */
int mgc_predict_rate(const mgc_model *m);

#endif
