/* Track aggregator: turns a stream of window probabilities into the rolling
 * track-level decision mgcd serves.
 *
 * - Decision: the mean of the window probabilities of the current track over
 *   the last `horizon_s` seconds (MGC_AGG_MEAN), or an exponential moving
 *   average with half-life `halflife_s` (MGC_AGG_EMA).
 * - Silence gate: a window whose RMS is below `silence_db` dBFS is silence;
 *   it does not vote (its probabilities are not even needed).
 * - New track: after `gap_s` seconds of consecutive silence, or when the
 *   audio's spectral profile (mean dB per mel band over a window) moves
 *   away from the current track's running profile by more than `change_db`
 *   (RMS over bands) for `change_windows` windows in a row, once the track
 *   has at least `min_track_windows` windows.
 * Details a client sees:
 * - Track 1 exists from the start: the first window is not a new_track.
 * - A gap starts the new track on the silent window where the silence
 *   reaches gap_s (so the old genre is not shown through the pause), once
 *   per silence, and only if the track has heard something.
 * - Silent windows neither break nor extend a change streak; a window above
 *   change_db stays out of the track's profile while its streak is pending.
 * - The distance includes the overall level: G dB louder reads as G dB.
 * - The MEAN horizon counts the track's last voting windows.
 * Allocates only in _new; _process never allocates (real-time path). */
#ifndef MGC_AGGREGATOR_H
#define MGC_AGGREGATOR_H

#include <stdint.h>

#include "mgc/util/error.h"

typedef enum { MGC_AGG_MEAN = 0, MGC_AGG_EMA = 1 } mgc_agg_mode;

typedef enum {
  MGC_TRACK_NONE = 0,
  MGC_TRACK_GAP = 1,
  MGC_TRACK_CHANGE = 2,
  MGC_TRACK_RESET = 3,
  MGC_TRACK_NO_MUSIC = 4
} mgc_track_reason;

typedef struct mgc_aggregator_params {
  mgc_agg_mode mode;
  double hop_s;          /* seconds between window starts (segment_hop * hop_length / rate) */
  double horizon_s;      /* MEAN: windows of the last horizon_s seconds (30) */
  double halflife_s;     /* EMA: half-life in seconds (10) */
  double silence_db;     /* RMS threshold in dBFS (-50); -inf: no gate */
  double gap_s;          /* silence that ends a track (2.0); 0: never */
  double change_db;      /* profile distance that ends a track; 0: off */
  int change_windows;    /* consecutive windows above change_db (2) */
  int min_track_windows; /* no change detection on a younger track (4) */
} mgc_aggregator_params;

void mgc_aggregator_params_default(mgc_aggregator_params *p);
/* MGC_EINVAL naming the field when a value is out of range. */
mgc_status mgc_aggregator_params_validate(const mgc_aggregator_params *p);

typedef struct mgc_aggregator mgc_aggregator;

/* profile_dim: length of the spectral profile passed per window (n_mels). */
mgc_status mgc_aggregator_new(const mgc_aggregator_params *p, int n_classes, int profile_dim,
                              mgc_aggregator **out);

/* True when a window of this RMS is silence (the caller may then skip the
 * model and pass probs == NULL). */
int mgc_aggregator_is_silent(const mgc_aggregator *a, double rms_db);

typedef struct mgc_decision {
  int silent;                /* this window was silence and did not vote */
  int new_track;             /* a new track starts with this window */
  mgc_track_reason reason;   /* why, when new_track */
  uint64_t track;            /* track number, 1 for the first */
  int genre;                 /* argmax of probs; -1 while no window has voted */
  float confidence;          /* probs[genre] (0 when genre < 0) */
  const float *probs;        /* n_classes track probabilities; valid until the next call */
  int windows;               /* windows the decision rests on */
  double change;             /* this window's profile distance from the track's (dB) */
  double silence_s;          /* consecutive silence up to this window */
} mgc_decision;

/* One window: probs (n_classes, may be NULL when silent), RMS in dBFS and
 * spectral profile (profile_dim values; NULL disables change detection for
 * this window). Fills *out. Never allocates. */
void mgc_aggregator_process(mgc_aggregator *a, const float *probs, double rms_db,
                            const float *profile, mgc_decision *out);

/* A sound window that is not music (mgc/stream/music_state.h): it does not vote,
 * does not move the change detector, does not count as heard and breaks a
 * silence run. Never allocates. */
void mgc_aggregator_skip(mgc_aggregator *a, mgc_decision *out);

/* The music has stopped: a track that has votes ends on the next window,
 * silent or not (new_track, MGC_TRACK_NO_MUSIC), so that the music that
 * follows starts a track of its own. */
void mgc_aggregator_end_track(mgc_aggregator *a);

/* Start a new track now (client 'reset'); the next decision has
 * new_track = 1, reason MGC_TRACK_RESET. */
void mgc_aggregator_reset(mgc_aggregator *a);

/* The current decision without adding a window (for 'status'). */
void mgc_aggregator_current(const mgc_aggregator *a, mgc_decision *out);

void mgc_aggregator_free(mgc_aggregator *a);

#endif
