/* A long-context member of a live ensemble: a model that answers about the
 * current track's most recent audio rather than one 3 s window (the
 * pretrained FCN reads 29 s; the table MLP the 57 features of 30 s).
 *
 * It keeps the track's last `span_s` seconds at the model's own rate (fed
 * at that rate: the live ensemble resamples the stream once per distinct
 * rate for all the members at it), and a worker thread runs
 * the model on them (mgc_predict_recording: its windows of the model's length,
 * a shorter track repeated or padded by the model's segment_pad) when the
 * track reaches `first_s` seconds and then every `every_s`, off the
 * real-time path; the latest answer about the current track joins the
 * ensemble's decision when it arrives.
 *
 * _feed and _collect never allocate and never wait (try-locks only); _finish
 * waits for an answer on all of the track's audio so far (end of a file). */
#ifndef MGC_CONTEXT_H
#define MGC_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"
#include "mgc/model/model.h"

typedef struct mgc_context_params {
  double span_s;   /* seconds of the track's most recent audio it reads */
  double first_s;  /* first run when the track has this much audio */
  double every_s;  /* then every this many seconds of the track */
} mgc_context_params;

/* Defaults for model m: a table model reads 30 s, first at 10 s, every 10 s
 * (its features describe 30 s clips); any other
 * model reads one of its windows (segment_frames), first after 3 s (so
 * that it joins early, on the first window's audio repeated), every 10 s. */
void mgc_context_params_default(const mgc_model *m, mgc_context_params *p);

typedef struct mgc_context mgc_context;

/* m must outlive the member. */
mgc_status mgc_context_new(const mgc_model *m, const mgc_context_params *p, mgc_context **out);
void mgc_context_free(mgc_context *c);

/* A new track starts (its audio so far forgotten, its answer dropped). */
void mgc_context_new_track(mgc_context *c, uint64_t track);
/* n samples of the current track at the model's rate
 * (mgc_predict_rate); hands the worker a job when
 * one is due and it is idle. */
void mgc_context_feed(mgc_context *c, const float *x, size_t n);
/* While held, audio is kept but no run starts (a live ensemble holds its
 * context members while what it hears is not music). */
void mgc_context_hold(mgc_context *c, int hold);
/* Forget all but the track's last `seconds` of audio, and the answer: the
 * track is now that audio (the music that began that long ago), its first
 * run due once it reaches first_s. */
void mgc_context_keep_last(mgc_context *c, double seconds);
/* Take the worker's latest answer, if any; returns 1 when an answer about
 * the current track is in use (probs: its class probabilities). */
int mgc_context_collect(mgc_context *c, const float **probs);
/* Wait until the answer in use rests on all the track's audio so far,
 * running the model once more if needed. Returns as _collect. */
int mgc_context_finish(mgc_context *c, const float **probs);

unsigned mgc_context_runs(const mgc_context *c);      /* runs finished */
double mgc_context_audio_s(const mgc_context *c);     /* audio the answer in use rests on */
/* The last failed run's status (MGC_OK when none has failed) and its
 * message (NULL when none); a failure leaves the answer in use, if any. */
mgc_status mgc_context_error(const mgc_context *c, const char **message);

#endif
