/* The music detector over a whole recording, offline, exactly as mgcd runs
 * it live: the detector's own mgc_pipeline (same frames, windows and
 * silence gate) fed the recording, its P(music) per window through
 * mgc_music_state. mgc-classify and mgc-eval use it to decide a recording
 * from its music only, and to say "no music" when it has none, as mgcd
 * would. */
#ifndef MGC_MUSIC_SCAN_H
#define MGC_MUSIC_SCAN_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/model/model.h"
#include "mgc/stream/music_state.h"
#include "mgc/stream/pipeline.h"

/* The index of the class named "music" among the detector's classes;
 * MGC_EINVAL (naming the model's classes) when it has none. */
mgc_status mgc_music_class(const mgc_model *detector, int *out);

typedef struct mgc_music_window {
  double t, t_end;     /* seconds of audio the window spans */
  double rms_db;
  float music;         /* the detector's P(music); NAN when silent (not run) */
  mgc_music_verdict v;
} mgc_music_window;

/* Runs detector d on n samples at its rate (mgc_predict_rate) with
 * pipeline parameters pp (windows, silence_db, music states). *out is
 * malloc'd, one entry per window (a recording shorter than a window gets
 * one, padded); the caller frees it. */
mgc_status mgc_music_scan(const mgc_model *d, const mgc_pipeline_params *pp, const float *x, size_t n, mgc_music_window **out, size_t *n_out);

/* Windows that voted (mgc_music_verdict.votes). */
size_t mgc_music_votes(const mgc_music_window *w, size_t nw);

/* The music of a recording: its samples x (n, at `rate`) that lie in the
 * windows that voted, in order, each sample once (overlapping windows
 * join into one span). *out is malloc'd (NULL with *n_out 0 when no window
 * voted). */
mgc_status mgc_music_audio(const mgc_music_window *w, size_t nw, const float *x, size_t n, int rate,
                           float **out, size_t *n_out);

/* Both for a recording x of n samples at `rate`: the detector's windows
 * (x resampled to the detector's rate when it differs) and the music of x
 * at `rate` (malloc'd; NULL, 0 when there is none). What mgc-classify and
 * mgc-eval classify instead of the whole recording. */
mgc_status mgc_music_extract(const mgc_model *d, const mgc_pipeline_params *pp, const float *x, size_t n,
                             int rate, mgc_music_window **w, size_t *nw, float **music, size_t *n_music);

#endif
