/* An ensemble listening to a live stream: what mgcd runs.
 *
 * Every window member (mgc/ensemble/ensemble.h, input: window) is an mgc_pipeline of
 * its own, fed the same audio (members of one front-end from one framer,
 * mgc_pipeline_new_shared): the same frame grid, windows and silence
 * decisions, and its own rolling track-level probabilities (the mean of its
 * windows, exactly what its cross-validation measured). Each window event
 * carries the window members' window probabilities combined by the
 * ensemble's rule, and the track decision is the rule applied to the
 * members' track probabilities, as `mgc-eval --ensemble` scores it.
 *
 * Context members (input: context, or table) are long-context members
 * (mgc/stream/context.h): each keeps the current track's most recent audio at its
 * own rate (the stream resampled once per distinct rate, shared by the
 * members at it) and answers about it from a worker thread on a cadence (the
 * pretrained FCN on 29 s at 16 kHz; the table MLP on the 57 features of
 * 30 s at 22050 Hz). Their latest answer about the current track joins the
 * decision; until a member has one, the decision rests on the members that
 * have (the same rule, weights renormalised; stacking, which needs every
 * member: their mean). So the first decision still comes after one window.
 *
 * With a music detector (the ensemble's `detector`), its own pipeline
 * runs on every window before the members': a window votes only when it
 * is music and the state (mgc/stream/music_state.h, parameters in
 * mgc_pipeline_params.music) is music; the members do not even run on the
 * others, and the track ends where the music does (MGC_TRACK_NO_MUSIC).
 * Context members then hear only the audio that arrives while the state
 * is music. Without a detector every sound window is music. Each event
 * carries P(music) and the state.
 *
 * _process never allocates, and never waits for a worker (try-locks
 * only). At the end of a file or stdin, _finish gives the final decision
 * with every context member's answer on the track's audio so far. */
#ifndef MGC_ENSEMBLE_STREAM_H
#define MGC_ENSEMBLE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/ensemble/ensemble.h"
#include "mgc/util/error.h"
#include "mgc/stream/pipeline.h"

typedef struct mgc_ensemble_stream mgc_ensemble_stream;

/* e must have been loaded with MGC_ENSEMBLE_LOAD_MODELS and outlive the
 * stream. Members must share the classes; window members (at least one)
 * the front-end's rate, hop and window grid, which is the stream's rate;
 * context members may run at any rate (resampled from the stream's). */
mgc_status mgc_ensemble_stream_new(const mgc_ensemble *e, const mgc_pipeline_params *p,
                                   mgc_ensemble_stream **out);

/* Feed n samples at the members' rate; fn gets one event per window: the
 * first window member's event with `probs` = the combined window
 * probabilities and `decision` = the ensemble's track decision. */
int mgc_ensemble_stream_process(mgc_ensemble_stream *s, const float *x, size_t n,
                                mgc_window_event_fn fn, void *user);
int mgc_ensemble_stream_flush(mgc_ensemble_stream *s, mgc_window_event_fn fn, void *user);
void mgc_ensemble_stream_restart(mgc_ensemble_stream *s, double gap_s);
void mgc_ensemble_stream_reset_track(mgc_ensemble_stream *s);

/* End of input (after _flush): the current track's final decision, with
 * every context member's answer on all of its audio so far (its span): if
 * the answer in use is older, runs the member once more and waits for it,
 * so never on the real-time path. Without context members, _current. */
void mgc_ensemble_stream_finish(mgc_ensemble_stream *s, mgc_decision *out);

/* The current decision (probs valid until the next call into s). */
void mgc_ensemble_stream_current(mgc_ensemble_stream *s, mgc_decision *out);
double mgc_ensemble_stream_audio_s(const mgc_ensemble_stream *s);
uint64_t mgc_ensemble_stream_windows(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_rms_db(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_window_s(const mgc_ensemble_stream *s);
/* Seconds of audio still to come before the next window (mgc_pipeline_until_window_s). */
double mgc_ensemble_stream_until_window_s(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_hop_s(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_rate(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_classes(const mgc_ensemble_stream *s, const char *const **names);
/* Context members: how many, and for status each one's member index,
 * runs finished, whether its answer is in the current decision, the
 * seconds of audio that answer rests on (0 when none is in use), and the
 * message of its last failed run (NULL when none has failed). */
typedef struct mgc_context_info {
  int member;
  unsigned runs;
  int in_decision;
  double audio_s;
  const char *error;
} mgc_context_info;
int mgc_ensemble_stream_contexts(const mgc_ensemble_stream *s);
/* The state after the last window, and (music, if not NULL) the detector's
 * P(music) for it (NAN without a detector, or when it was silent). */
mgc_sound mgc_ensemble_stream_sound(const mgc_ensemble_stream *s, float *music);
int mgc_ensemble_stream_has_detector(const mgc_ensemble_stream *s);
void mgc_ensemble_stream_context_info(const mgc_ensemble_stream *s, int i, mgc_context_info *out);
/* Resamplers the stream runs: one per distinct context member rate that
 * is not the stream's; framers: one per distinct front-end of the window
 * members (a waveform member keeps its own). */
int mgc_ensemble_stream_resamplers(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_framers(const mgc_ensemble_stream *s);
/* The same three for the first context member (0 without one). */
unsigned mgc_ensemble_stream_table_runs(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_table_active(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_table_audio_s(const mgc_ensemble_stream *s);
/* Stops and joins the context members' workers. */
void mgc_ensemble_stream_free(mgc_ensemble_stream *s);

#endif
