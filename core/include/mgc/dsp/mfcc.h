/* MFCC: orthonormal DCT-II of the dB mel bands (librosa.feature.mfcc with
 * dct_type=2, norm='ortho', lifter=0), first n_mfcc coefficients. */
#ifndef MGC_MFCC_H
#define MGC_MFCC_H

#include "mgc/util/error.h"

typedef struct mgc_mfcc mgc_mfcc;

mgc_status mgc_mfcc_new(int n_mels, int n_mfcc, mgc_mfcc **out);

/* out[k] = sum_b D[k][b] * mel_db[b], k < n_mfcc. Never allocates. */
void mgc_mfcc_process(const mgc_mfcc *m, const float *mel_db, float *out);

void mgc_mfcc_free(mgc_mfcc *m);

#endif
