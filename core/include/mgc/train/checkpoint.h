/* Training checkpoints: what a run needs to resume exactly where it stopped.
 *
 * Two files per prefix: <prefix>.last.safetensors, the last epoch's weights
 * as a model file, and <prefix>.opt.safetensors, the optimiser's moments
 * ("m.<param>", "v.<param>"), the best weights so far ("best.<param>") and
 * the loop's state as JSON in the metadata key "state". A resumed run draws
 * the same random numbers as an uninterrupted one. */
#ifndef MGC_CHECKPOINT_H
#define MGC_CHECKPOINT_H

#include <stdint.h>

#include "mgc/model/model.h"
#include "mgc/nn/rng.h"
#include "mgc/nn/schedule.h"
#include "mgc/train/optim.h"
#include "mgc/util/error.h"

typedef struct mgc_train_state {
  int epoch; /* epochs completed */
  int best_epoch, bad_epochs;
  double best_val_loss, best_val_acc, best_val_track_acc;
  mgc_schedule sched;  /* only lr, best, bad_epochs and cooldown_left are saved */
  mgc_rng rng;
  int64_t steps;
} mgc_train_state;

/* Write both files (the model atomically). best may be NULL (no validation
 * set). */
mgc_status mgc_checkpoint_save(const char *prefix, const mgc_model *model, mgc_optim *opt,
                               const float *best, const mgc_train_state *s);

/* Read both into model's weights, opt's moments, best (when not NULL and the
 * file has them) and s. A file that does not match the model's parameters,
 * or whose state is missing or out of range, is refused with its path and
 * the reason; what was already read may then be partly overwritten. */
mgc_status mgc_checkpoint_load(const char *prefix, mgc_model *model, mgc_optim *opt, float *best,
                               mgc_train_state *s);

#endif
