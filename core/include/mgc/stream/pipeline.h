/* The daemon's worker, as one object: mono audio at the model's rate in,
 * one event per classification window out. Streaming framer -> window
 * scheduler -> silence gate -> model session -> track aggregator.
 *
 * Kept in core (not in daemon/) so that tests and benchmarks drive exactly
 * what mgcd runs, without a socket. Allocates only in _new; _process,
 * _flush and the resets never allocate or block. */
#ifndef MGC_PIPELINE_H
#define MGC_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/stream/aggregator.h"
#include "mgc/util/error.h"
#include "mgc/model/model.h"
#include "mgc/stream/music_state.h"

typedef struct mgc_pipeline_params {
  int window_frames;         /* 0: the model's segment_frames */
  int window_hop;            /* 0: the model's segment_hop */
  mgc_aggregator_params agg; /* hop_s is filled in from the window hop */
  mgc_music_params music;    /* a live ensemble's music states (mgc/stream/ensemble_stream.h) */
} mgc_pipeline_params;

void mgc_pipeline_params_default(mgc_pipeline_params *p);

typedef struct mgc_window_event {
  uint64_t index;        /* window number since the pipeline started */
  double t, t_end;       /* seconds of audio: window start, and its last sample */
  double rms_db;         /* Hann-weighted RMS of the window's audio, dBFS */
  const float *probs;    /* the window's class probabilities; NULL when silent */
  int padded;            /* 1: a stream shorter than a window, padded at flush */
  mgc_decision decision; /* the track decision after this window */
  /* Set by a live ensemble (mgc/stream/ensemble_stream.h); a lone pipeline gives
   * NAN, silence or music, 0. */
  float music;           /* the music detector's P(music); NAN without one, or when silent */
  mgc_sound sound;       /* the state after this window (mgc/stream/music_state.h) */
  int sound_changed;     /* the state changed with this window */
} mgc_window_event;

typedef int (*mgc_window_event_fn)(void *user, const mgc_window_event *e);

/* Whether a window is music, asked before its model runs (a live
 * ensemble's music detector): VOTE runs the model on a sound window and
 * lets it vote; on SKIP and END a sound window does neither (the event has
 * no probs; mgc_aggregator_skip); END also ends a track that has votes,
 * on this window (mgc_aggregator_end_track). A silent window is silence
 * whatever the answer. */
typedef enum { MGC_GATE_VOTE = 0, MGC_GATE_SKIP = 1, MGC_GATE_END = 2 } mgc_gate;
typedef mgc_gate (*mgc_window_gate_fn)(void *user, uint64_t index);

typedef struct mgc_pipeline mgc_pipeline;

/* A pipeline for model m (which must outlive it). Refuses models whose
 * input is not a per-frame feature (a table) and windows that do not fit the
 * model's input, naming the reason. A waveform model's frames are
 * hop_length raw samples each (mgc_features_compute); its windows are
 * emitted with the spectral frames of the same indices, as every other
 * model's, and span their own samples (times, mgc_pipeline_window_s). */
mgc_status mgc_pipeline_new(const mgc_model *m, const mgc_pipeline_params *p, mgc_pipeline **out);

/* A pipeline that shares `leader`'s framer (a spectral model of the same
 * front-end: the same frames, computed once, for every member of an
 * ensemble that reads them; its windows may differ). The group is driven
 * through the leader: _process, _flush and _restart on the leader feed,
 * flush and restart its followers too (on a follower they only set where
 * its events go); a follower's events go to the sink given to
 * mgc_pipeline_set_sink (or to its last _process call). Made before any
 * audio; followers are freed before or with their leader. */
#define MGC_PIPELINE_MAX_FOLLOWERS 15
mgc_status mgc_pipeline_new_shared(const mgc_model *m, const mgc_pipeline_params *p,
                                   mgc_pipeline *leader, mgc_pipeline **out);
/* Whether a pipeline of m could share leader's framer. */
int mgc_pipeline_can_share(const mgc_pipeline *leader, const mgc_model *m);
void mgc_pipeline_set_sink(mgc_pipeline *p, mgc_window_event_fn fn, void *user);
/* Ask fn about every window (index: mgc_window_event.index) before its
 * model runs; NULL: every sound window votes. */
void mgc_pipeline_set_gate(mgc_pipeline *p, mgc_window_gate_fn fn, void *user);

/* Feed n samples; fn is called for each completed window. A non-zero return
 * from fn (or a model failure, MGC_ESTATE) stops and is returned. */
int mgc_pipeline_process(mgc_pipeline *p, const float *x, size_t n, mgc_window_event_fn fn, void *user);

/* End of stream: emit what the padded end completes (and, for a stream that
 * never filled a window, one window padded as mgc-classify pads it), then
 * start a new stream. Audio time keeps counting. */
int mgc_pipeline_flush(mgc_pipeline *p, mgc_window_event_fn fn, void *user);

/* The audio is discontinuous (input lost and regained): drop buffered
 * frames, keep the track, keep counting time (plus `gap_s` of missing audio). */
void mgc_pipeline_restart(mgc_pipeline *p, double gap_s);

/* Start a new track now (a client's 'reset'). */
void mgc_pipeline_reset_track(mgc_pipeline *p);

/* Current decision, seconds of audio consumed, windows emitted, last window RMS. */
void mgc_pipeline_current(const mgc_pipeline *p, mgc_decision *out);
double mgc_pipeline_audio_s(const mgc_pipeline *p);
uint64_t mgc_pipeline_windows(const mgc_pipeline *p);
double mgc_pipeline_rms_db(const mgc_pipeline *p);
/* Seconds of audio still to come before the next window completes (0 when
 * the audio fed completes it): how long a live caller may sleep. */
double mgc_pipeline_until_window_s(const mgc_pipeline *p);
/* Seconds per window and between windows. */
double mgc_pipeline_window_s(const mgc_pipeline *p);
double mgc_pipeline_hop_s(const mgc_pipeline *p);
const mgc_model *mgc_pipeline_model(const mgc_pipeline *p);

void mgc_pipeline_free(mgc_pipeline *p);

#endif
