/* FFTW's planner is not thread-safe: every plan made or destroyed in
 * core/dsp (stft.c, hpss.c, tempo.c) holds this one lock. Private to core/dsp. */
#ifndef MGC_DSP_FFTW_LOCK_H
#define MGC_DSP_FFTW_LOCK_H

void mgc_fftw_planner_lock(void);
void mgc_fftw_planner_unlock(void);

#endif
