/* A dataset with its features: every track decoded (or read from the
 * feature cache), optionally through an audio-level variant (speed, pitch,
 * noise), and the evaluation of a model on it. Shared by mgc-train (training
 * sets, cross-validation folds) and mgc-eval, so both read audio, cut
 * windows and decide tracks in exactly the same way as each other and as
 * mgcd (the mean of the window probabilities). */
#ifndef MGC_CORPUS_H
#define MGC_CORPUS_H

#include "mgc/train/dataset.h"
#include "mgc/train/featcache.h"
#include "mgc/train/metrics.h"
#include "mgc/model/model.h"
#include "mgc/train/trainer.h"

typedef struct mgc_corpus {
  int n_tracks;                 /* tracks that could be read */
  int *labels;
  char **names;                 /* relative names (dataset ids) */
  int *src;                     /* index of each track in the dataset it was loaded from */
  mgc_feature_matrix *feats;    /* frame-major per track */
  int n_failed;                 /* unreadable tracks, skipped with a message */
  int n_classes;
  char **classes;
} mgc_corpus;

/* Features of every track of ds (variant NULL or "" for the plain audio;
 * otherwise a name understood by mgc_audio_variant, e.g. "speed1.25").
 * Unreadable tracks are reported through log and skipped, never fatal;
 * progress goes through log too (may be NULL). */
mgc_status mgc_corpus_load(const mgc_dataset *ds, mgc_featcache *cache, const char *variant,
                           uint64_t seed, mgc_train_log_fn log, void *user, mgc_corpus **out);
/* Tracks idx[0..n) of c (features shared, not copied: free the subset
 * before its parent). */
mgc_status mgc_corpus_subset(const mgc_corpus *c, const int *idx, int n, mgc_corpus **out);
/* The training view the trainer takes. */
mgc_train_set mgc_corpus_train_set(const mgc_corpus *c);
void mgc_corpus_free(mgc_corpus *c);

/* Window probabilities of every track: *probs [n_windows][classes] and
 * *offsets [n_tracks + 1] (track i owns rows offsets[i]..offsets[i+1]),
 * both malloc'd for the caller. */
mgc_status mgc_corpus_predict(const mgc_corpus *c, const mgc_model *m, int batch, int win_len,
                              int win_hop, float **probs, int **offsets);

/* Run the model on every window of every track (batches of `batch`) and
 * compute the metrics (window and track level). */
mgc_status mgc_corpus_evaluate(const mgc_corpus *c, const mgc_model *m, int batch, int win_len,
                               int win_hop, mgc_metrics **out);

#endif
