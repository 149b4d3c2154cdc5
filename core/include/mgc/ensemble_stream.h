/* An ensemble listening to a live stream: what mgcd runs.
 *
 * Every window member (mgc/ensemble.h, input: window) is an mgc_pipeline of
 * its own, fed the same audio: the same frame grid, windows and silence
 * decisions, and its own rolling track-level probabilities (the mean of its
 * windows, exactly what its cross-validation measured). Each window event
 * carries the members' window probabilities combined by the ensemble's
 * rule, and the track decision is the rule applied to the members' track
 * probabilities, as `mgc-eval --ensemble` scores it.
 *
 * A table member (input: table) classifies the 57 handcrafted features
 * (mgc/table.h) of the current track's last 30 s. They take about 0.12 s
 * of CPU (HPSS, beat tracking), so a worker thread computes them off the
 * real-time path, every 10 s of the track (on its last 30 s); its latest
 * answer for the current track joins the decision. Until
 * it has one, the decision rests on the window members alone: the same rule
 * over them (weighted: their weights renormalised; stack, which needs every
 * member: their mean).
 *
 * _process never allocates, and never waits for the worker (try-locks
 * only). At the end of a file or stdin, _finish gives the final decision
 * with the table member run on the track's last 30 s, waiting for it. */
#ifndef MGC_ENSEMBLE_STREAM_H
#define MGC_ENSEMBLE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/ensemble.h"
#include "mgc/error.h"
#include "mgc/pipeline.h"

typedef struct mgc_ensemble_stream mgc_ensemble_stream;

/* e must have been loaded with MGC_ENSEMBLE_LOAD_MODELS and outlive the
 * stream. Members must share the classes and the front-end's rate, hop and
 * window grid; a table member needs 22050 Hz (the table's definition). */
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
 * the table member's answer on all of its audio so far (its last 30 s): if
 * the answer in use is older, runs the table member once more and waits
 * for it (a quarter second on a 30 s track), so never on the real-time
 * path. Without a table member, the same as _current. */
void mgc_ensemble_stream_finish(mgc_ensemble_stream *s, mgc_decision *out);

/* The current decision (probs valid until the next call into s). */
void mgc_ensemble_stream_current(mgc_ensemble_stream *s, mgc_decision *out);
double mgc_ensemble_stream_audio_s(const mgc_ensemble_stream *s);
uint64_t mgc_ensemble_stream_windows(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_rms_db(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_window_s(const mgc_ensemble_stream *s);
double mgc_ensemble_stream_hop_s(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_rate(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_classes(const mgc_ensemble_stream *s, const char *const **names);
/* Table member runs finished, and whether its answer is in the current
 * decision (for status). */
unsigned mgc_ensemble_stream_table_runs(const mgc_ensemble_stream *s);
int mgc_ensemble_stream_table_active(const mgc_ensemble_stream *s);
/* Seconds of the track's audio (its first ones, up to the last 30 s) the
 * table answer in use was computed on; 0 when none is in use. */
double mgc_ensemble_stream_table_audio_s(const mgc_ensemble_stream *s);

/* Stops and joins the worker. */
void mgc_ensemble_stream_free(mgc_ensemble_stream *s);

#endif
