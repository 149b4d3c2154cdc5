/* Predicting a track: the windows a recording is cut into, and the class
 * probabilities of each, as mgcd, mgc-classify, mgc-eval and the trainer's
 * validation all see them. Inference only: nothing here knows training. */
#ifndef MGC_PREDICT_H
#define MGC_PREDICT_H

#include "mgc/error.h"
#include "mgc/features.h"
#include "mgc/session.h"

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

#endif
