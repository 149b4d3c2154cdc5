/* Mel filterbank (librosa.filters.mel: Slaney or HTK scale, Slaney area
 * normalisation) applied to a power spectrum, and conversion to dB. */
#ifndef MGC_MEL_H
#define MGC_MEL_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/dsp/params.h"

typedef struct mgc_mel mgc_mel;

/* Hz <-> mel on the given scale (librosa.hz_to_mel / mel_to_hz). */
double mgc_hz_to_mel(double hz, mgc_mel_scale scale);
double mgc_mel_to_hz(double mel, mgc_mel_scale scale);

/* Build the filterbank for p (n_mels x (n_fft/2+1), stored sparse). */
mgc_status mgc_mel_new(const mgc_frontend_params *p, mgc_mel **out);

/* Dense copy of the weights, row-major [n_mels][n_bins] (for tests/tools). */
void mgc_mel_weights(const mgc_mel *m, float *dense);

/* mel[b] = sum_k W[b][k] * power[k]. Never allocates. */
void mgc_mel_process(const mgc_mel *m, const float *power, float *mel);

/* In place: x = 10 log10(max(x, amin)) - 10 log10(max(ref, amin)). */
void mgc_power_to_db(float *x, size_t n, double amin, double ref);

/* librosa's top_db: clip every value below max(x) - top_db (whole array). */
void mgc_db_clip_top(float *db, size_t n, double top_db);

void mgc_mel_free(mgc_mel *m);

#endif
