/* The training loop shared by mgc-train (and its cross-validation): windows
 * cut from cached per-track features, augmentation, mini-batches through
 * the engine, validation at track level, learning-rate schedule, early
 * stopping with the best weights kept, checkpoints and resume, a progress
 * line per epoch and learning curves as CSV. Deterministic from the seed. */
#ifndef MGC_TRAINER_H
#define MGC_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "mgc/train/augment.h"
#include "mgc/dsp/features.h"
#include "mgc/model/model.h"
#include "mgc/train/optim.h"
#include "mgc/nn/schedule.h"
#include "mgc/model/predict.h"
#include "mgc/model/session.h"

/* Tracks with their features (frame-major [n_frames][dim]) and labels. */
typedef struct mgc_train_set {
  int n_tracks;
  const int *labels;
  const mgc_feature_matrix *feats;
} mgc_train_set;

typedef void (*mgc_train_log_fn)(void *user, const char *line);

/* A learning-rate multiplier for the parameters whose names start with
 * prefix (fine-tuning: 0 freezes them). Later rules override earlier ones. */
#define MGC_TRAIN_MAX_LR_RULES 16
typedef struct mgc_lr_rule {
  char prefix[64];
  double scale;
} mgc_lr_rule;

typedef struct mgc_train_config {
  int epochs;
  int batch;
  uint64_t seed;
  mgc_optim_params optim;
  mgc_schedule schedule;   /* kind and its settings; base_lr is taken from optim.lr */
  int patience;            /* early stopping: epochs without a better val loss; 0 = off */
  int balanced;            /* class weights n / (k * count_k) from the training windows */
  float smoothing;         /* label smoothing */
  mgc_augment_params aug;  /* window-level augmentation, random window offsets included */
  int win_len, win_hop;    /* 130 / 65 */
  const char *curves_csv;  /* learning curves, NULL = none */
  const char *checkpoint;  /* prefix: <prefix>.last.safetensors, <prefix>.opt.safetensors */
  int resume;              /* continue from the checkpoint */
  int n_lr_rules;
  mgc_lr_rule lr_rules[MGC_TRAIN_MAX_LR_RULES];
  int frozen_bn_adapt;     /* frozen batchnorms adapt their statistics (AdaBN) */
  size_t body_cache_bytes; /* a frozen body's output is kept when it fits
                              (every window fixed); 0: it runs every epoch */
  int threads;             /* each batch split across this many threads (0 = one per
                              online core); results are identical for any count */
  mgc_train_log_fn log;    /* progress lines (NULL = silent) */
  void *log_user;
} mgc_train_config;

/* Defaults: 60 epochs, batch 32, Adam 1e-3, plateau schedule (patience 3),
 * early stopping after 8, windows 130/65, random window offsets of up to
 * 32 frames, no other augmentation, a frozen body's output kept up to 1 GiB.
 *
 * Frozen layers (learning-rate scale 0 on every tensor of the first layers,
 * up to the last such layer before one that learns) run as at inference:
 * batchnorm on its running statistics, as a frozen pretrained network is
 * used (unless frozen_bn_adapt: mgc_net_set_frozen), and nothing below them
 * is back-propagated. When nothing varies a window between epochs (no
 * augmentation, offsets, mixup or adapting statistics), their output for
 * every window is computed once and the epochs run only the layers above:
 * a head on a frozen pretrained body trains in seconds. */
void mgc_train_config_default(mgc_train_config *c);

typedef struct mgc_train_result {
  int epochs_run;
  int best_epoch;          /* 1-based; the weights left in the model */
  double best_val_loss;
  double best_val_acc;     /* window level */
  double best_val_track_acc;
  double final_train_loss;
  double seconds;
} mgc_train_result;

/* Train model->net in place. The model's standardisation statistics must
 * already be set (from the training tracks). valid may be NULL: then the
 * last epoch's weights are kept and no early stopping happens. */
mgc_status mgc_train_run(const mgc_train_config *cfg, mgc_model *model, const mgc_train_set *train,
                         const mgc_train_set *valid, mgc_train_result *res);

#endif
