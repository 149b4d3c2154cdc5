/* Data augmentation for training, in two families.
 *
 * Window level: cheap, random per window and per epoch, applied to a
 * frame-major window [t][f] of feature values (e.g. 130 x 128 dB log-mel)
 * BEFORE standardisation: SpecAugment masks, time reversal, gain, noise,
 * mixup, random window offset. Every draw comes from the caller's mgc_rng, so
 * a run repeats from its seed; a disabled transform draws nothing.
 *
 * Audio level: expensive, made once per track and cached by the feature
 * cache under a variant name ("speed1.25", "pitch+2", "noise10"); the same
 * names select mgc-eval's --robustness test sets. */
#ifndef MGC_AUGMENT_H
#define MGC_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"
#include "mgc/nn/rng.h"

typedef struct mgc_augment_params {
  /* SpecAugment: freq_masks times, a run of w consecutive bands with w
   * uniform in [0, freq_mask_max] (clamped to f) is set to the fill value;
   * likewise time_masks runs of up to time_mask_max frames. 0 disables. */
  int freq_masks;
  int freq_mask_max;
  int time_masks;
  int time_mask_max;
  /* Probability of reversing the window's time order. */
  double reverse_prob;
  /* Roll every frame's bands circularly by one uniform k in [0, f), the
   * same k for the whole window: a transposition by k semitones for chroma,
   * whose 12 bands are the pitch classes (genre does not depend on the
   * key). Meaningless for other features. 0 = off. */
  int band_roll;
  /* A value uniform in [-gain_db, +gain_db] added to every value of the
   * window: a change of level by that many dB. Only meaningful for dB
   * features (log-mel, log-spectrogram); on MFCC it would move every
   * coefficient instead of only c0, on chroma it is meaningless. */
  double gain_db;
  /* Std of the Gaussian noise added to every value, in feature units (dB for
   * log-mel). */
  double noise_std;
  /* Beta(alpha, alpha) mixup over a batch (mgc_augment_mixup); 0 = off. */
  double mixup_alpha;
  /* Random window offset: the dataset shifts each training window's first
   * frame by a uniform integer in [-offset_max, +offset_max] frames, kept
   * inside the track (mgc_augment_offset). 0 = windows on the fixed grid. */
  int offset_max;
} mgc_augment_params;

/* Everything off: a window comes out bit-identical, no random draw made. */
void mgc_augment_params_default(mgc_augment_params *p);

/* Refuse negative counts/widths/strengths and probabilities outside [0, 1],
 * naming the field (for recipe files and command-line flags). */
mgc_status mgc_augment_params_check(const mgc_augment_params *p);

/* Augment one frame-major window win[t][f] in place, in this order: time
 * reversal, band roll, gain, noise, then the masks (last, so that a masked value is
 * exactly its fill value). Masked values are set to fill[band]: pass the
 * training mean of each band so that they become 0 after standardisation;
 * fill == NULL uses the mean of the window. offset_max and mixup_alpha are
 * not applied here. Never allocates. */
void mgc_augment_window(const mgc_augment_params *p, mgc_rng *rng, float *win, int t, int f,
                        const float *fill);

/* Mixup over a batch x[n][d] with integer labels: each sample i is paired
 * with partner perm[i] of a random permutation (perm is written, so the
 * caller can see the pairs; a sample may draw itself), lambda_i ~ Beta(a, a)
 * folded to max(l, 1 - l) so the sample keeps the larger share, and
 *   x[i] = lambda_i x[i] + (1 - lambda_i) x[perm[i]]   (original values)
 *   targets[i] = lambda_i onehot(labels[i]) + (1 - lambda_i) onehot(labels[perm[i]]).
 * With mixup_alpha == 0 (or n < 2) x is left alone, perm is the identity and
 * targets are one-hot. scratch holds n*d floats, perm n ints; never allocates.
 * Labels outside [0, classes) give an all-zero target row for that share. */
void mgc_augment_mixup(const mgc_augment_params *p, mgc_rng *rng, float *x, int n, size_t d,
                       const int *labels, int classes, float *targets, float *scratch, int *perm);

/* First frame of a training window whose grid position is `start`, moved by
 * a uniform integer in [-offset_max, +offset_max] and clamped so that the
 * window [start, start + t) stays inside [0, n_frames). Returns `start`
 * unchanged (no draw) when offset_max is 0 or the track has no room. */
int mgc_augment_offset(const mgc_augment_params *p, mgc_rng *rng, int start, int t, int n_frames);

/* Beta(a, b) draw from two Gamma draws (Marsaglia-Tsang, with the
 * u^(1/a) boost in the log domain for a < 1 so that small alphas neither
 * underflow nor divide 0 by 0). a, b > 0; otherwise returns NaN. */
double mgc_rng_beta(mgc_rng *r, double a, double b);

/* ---- audio level (offline; each allocates *out, free() it) -------------- */

/* Speed change by factor s (1.25 = 25 % faster, pitch up by the same
 * factor, like playing a record fast or the sped-up songs of Kulkarni et al.'s "Harmonizing Genres"):
 * the samples are resampled (soxr HQ) from rate*s to rate. Output length
 * ceil(n / s). s in [0.25, 4]. */
mgc_status mgc_audio_speed(const float *in, size_t n, int rate, double s, float **out,
                           size_t *n_out);

/* Pitch shift by `semitones` (in [-12, 12]) keeping the duration: WSOLA
 * time-stretch by p = 2^(semitones/12) (50 ms Hann frames, 50 % overlap,
 * +-10 ms search for the best normalised cross-correlation with the natural
 * continuation of the previous frame), then resampling from rate*p to rate.
 * The output has exactly n samples. */
mgc_status mgc_audio_pitch_shift(const float *in, size_t n, int rate, double semitones,
                                 float **out, size_t *n_out);

/* Add white Gaussian noise at snr_db relative to the whole signal's mean
 * power. The drawn noise is rescaled so that its realised power is exactly
 * signal power / 10^(snr_db/10): the SNR is what was asked, not only its
 * expectation. Deterministic from rng. A silent signal gets no noise (the
 * SNR of silence is undefined). Output is not clipped. */
mgc_status mgc_audio_add_noise(const float *in, size_t n, double snr_db, mgc_rng *rng,
                               float **out, size_t *n_out);

/* The variants mgc-eval --robustness reports beside the clean figures. */
#define MGC_ROBUSTNESS_VARIANTS "speed1.25,pitch+2,pitch-2,noise10"

/* Apply a variant by name: "clean" (a copy), "speed<s>" (mgc_audio_speed),
 * "pitch<+-st>" (mgc_audio_pitch_shift; the sign may be left out for up),
 * "noise<snr_db>" (mgc_audio_add_noise with an mgc_rng seeded with `seed`;
 * seed is unused by the others). Unknown or malformed names and values out
 * of range fail with MGC_EINVAL and a message listing the known forms. */
mgc_status mgc_audio_variant(const char *name, uint64_t seed, const float *in, size_t n, int rate,
                             float **out, size_t *n_out);

/* Validate a variant name without processing audio (to refuse a bad
 * --robustness or recipe entry before any work starts). */
mgc_status mgc_audio_variant_check(const char *name);

#endif
