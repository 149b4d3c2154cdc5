/* Learning-rate schedules, evaluated once per epoch: constant, step decay,
 * reduce-on-plateau (PyTorch's ReduceLROnPlateau in 'min' mode with a
 * relative threshold) and cosine annealing. */
#ifndef MGC_SCHEDULE_H
#define MGC_SCHEDULE_H

#include "mgc/util/error.h"

typedef enum {
  MGC_SCHED_CONSTANT = 0,
  MGC_SCHED_STEP = 1,
  MGC_SCHED_PLATEAU = 2,
  MGC_SCHED_COSINE = 3
} mgc_schedule_kind;

typedef struct mgc_schedule {
  mgc_schedule_kind kind;
  double base_lr;
  double min_lr;     /* floor for plateau and cosine */
  int step_size;     /* step: epochs between decays */
  double gamma;      /* step: factor */
  int patience;      /* plateau: epochs without improvement before a cut */
  double factor;     /* plateau: 0.1 = "reduce by 10x" */
  double threshold;  /* plateau: relative improvement that counts (1e-4) */
  int cooldown;      /* plateau: epochs to wait after a cut */
  int total_epochs;  /* cosine: period T_max */
  /* plateau state */
  double best;
  int bad_epochs, cooldown_left;
  double lr;
} mgc_schedule;

/* Defaults: constant; step 10 / 0.1; plateau patience 5, factor 0.1,
 * threshold 1e-4; cosine over total_epochs. */
void mgc_schedule_init(mgc_schedule *s, mgc_schedule_kind kind, double base_lr);
/* "constant", "step", "plateau", "cosine" -> kind; -1 if unknown. */
int mgc_schedule_kind_from_name(const char *name);
/* The learning rate for epoch `epoch` (0-based) given the validation loss of
 * the epoch before (ignored except by plateau; pass NAN for the first). */
double mgc_schedule_lr(mgc_schedule *s, int epoch, double last_val_loss);

#endif
