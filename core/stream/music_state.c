#include "mgc/stream/music_state.h"

#include <math.h>

const char *mgc_sound_name(mgc_sound s) {
  switch (s) {
  case MGC_SOUND_MUSIC: return "music";
  case MGC_SOUND_NO_MUSIC: return "no_music";
  default: return "silence";
  }
}

void mgc_music_params_default(mgc_music_params *p) {
  p->threshold = 0.5;
  p->enter_windows = 1;
  p->leave_windows = 2;
}

mgc_status mgc_music_params_validate(const mgc_music_params *p) {
  if (!(p->threshold >= 0 && p->threshold <= 1))
    return mgc_error_set(MGC_EINVAL, "music: threshold (%g) must be in [0, 1]", p->threshold);
  if (p->enter_windows < 1 || p->enter_windows > 1000)
    return mgc_error_set(MGC_EINVAL, "music: enter_windows (%d) must be in 1..1000", p->enter_windows);
  if (p->leave_windows < 1 || p->leave_windows > 1000)
    return mgc_error_set(MGC_EINVAL, "music: leave_windows (%d) must be in 1..1000", p->leave_windows);
  return MGC_OK;
}

void mgc_music_state_init(mgc_music_state *s, const mgc_music_params *p) {
  s->p = *p;
  s->state = MGC_SOUND_SILENCE;
  s->run_class = MGC_SOUND_SILENCE;
  s->run = 0;
  s->away = 0;
  s->away_sound = 0;
}

void mgc_music_state_process(mgc_music_state *s, int silent, double p_music, mgc_music_verdict *out) {
  mgc_sound w = silent ? MGC_SOUND_SILENCE : p_music >= s->p.threshold ? MGC_SOUND_MUSIC : MGC_SOUND_NO_MUSIC;
  if (w == s->run_class) {
    if (s->run < 1000) s->run++;
  } else {
    s->run_class = w;
    s->run = 1;
  }
  if (w == MGC_SOUND_MUSIC) {
    s->away = s->away_sound = 0;
  } else {
    if (s->away < 1000) s->away++;
    s->away_sound |= w == MGC_SOUND_NO_MUSIC;
  }
  out->previous = s->state;
  if (s->state == MGC_SOUND_MUSIC && s->away >= s->p.leave_windows)
    s->state = s->away_sound ? MGC_SOUND_NO_MUSIC : MGC_SOUND_SILENCE;
  else if (w != s->state && s->run >= (w == MGC_SOUND_MUSIC ? s->p.enter_windows : s->p.leave_windows))
    s->state = w;
  out->window = w;
  out->state = s->state;
  out->changed = out->state != out->previous;
  out->votes = w == MGC_SOUND_MUSIC && s->state == MGC_SOUND_MUSIC;
}
