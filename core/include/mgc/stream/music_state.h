/* What the room sounds like, window by window: music, something that is not
 * music (speech, noise), or silence, with hysteresis so that one odd window
 * (a cough in a quiet passage, a word over the intro) does not flip it.
 *
 * Each window is first classed on its own: silent (quieter than the
 * aggregator's silence_db), music (the music detector's P(music) at or
 * above `threshold`) or not music. The state then moves to a class only
 * after that class has held for a run of windows: `enter_windows` for
 * music, `leave_windows` for no_music and silence. Music is left after
 * `leave_windows` windows in a row that are not music, silent or not (so
 * that speech with pauses between its words cannot hold it): to silence
 * when they were all silent, else to no_music. Entering music fast and
 * leaving it slowly is deliberate: the first window of a song should be
 * heard (mgcd's first decision comes after one window), while a DJ talking
 * over an intro or a loud drill in a quiet passage should not end the track.
 *
 * A window votes for the genre (mgc_music_verdict.votes) only when it
 * sounds like music itself and the state after it is music.
 *
 * No allocation anywhere: the real-time path runs it on every window. */
#ifndef MGC_MUSIC_STATE_H
#define MGC_MUSIC_STATE_H

#include "mgc/util/error.h"

typedef enum { MGC_SOUND_SILENCE = 0, MGC_SOUND_NO_MUSIC = 1, MGC_SOUND_MUSIC = 2 } mgc_sound;

/* "silence", "no_music", "music" (the words of PROTOCOL.md). */
const char *mgc_sound_name(mgc_sound s);

typedef struct mgc_music_params {
  double threshold;  /* P(music) at or above which a window is music (0.5) */
  int enter_windows; /* music windows in a row that make the state music (1) */
  int leave_windows; /* windows of another class in a row that make it that class (2) */
} mgc_music_params;

void mgc_music_params_default(mgc_music_params *p);
/* MGC_EINVAL naming the field when a value is out of range. */
mgc_status mgc_music_params_validate(const mgc_music_params *p);

typedef struct mgc_music_state {
  mgc_music_params p;
  mgc_sound state;   /* MGC_SOUND_SILENCE before any window */
  mgc_sound run_class;
  int run;           /* windows in a row of run_class */
  int away;          /* windows in a row that are not music */
  int away_sound;    /* one of them was sound */
} mgc_music_state;

typedef struct mgc_music_verdict {
  mgc_sound window;   /* this window alone */
  mgc_sound state;    /* the state after it */
  mgc_sound previous; /* the state before it */
  int changed;        /* state != previous */
  int votes;          /* window and state are both music */
} mgc_music_verdict;

/* p must be valid (mgc_music_params_validate). */
void mgc_music_state_init(mgc_music_state *s, const mgc_music_params *p);

/* One window: silent, or its P(music) (any value >= threshold when there is
 * no detector: every sound window is then music). */
void mgc_music_state_process(mgc_music_state *s, int silent, double p_music, mgc_music_verdict *out);

#endif
