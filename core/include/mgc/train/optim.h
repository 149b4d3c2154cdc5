/* Optimisers over the trainable parameters of a net, with PyTorch's update
 * rules so that a step here and a step there agree: SGD (momentum,
 * Nesterov), Adam and AdamW; L2 weight decay (SGD, Adam: added to the
 * gradient; AdamW: decoupled); clipping of the global gradient norm. */
#ifndef MGC_OPTIM_H
#define MGC_OPTIM_H

#include <stdint.h>

#include "mgc/util/error.h"
#include "mgc/model/net.h"

typedef enum { MGC_OPTIM_SGD = 0, MGC_OPTIM_ADAM = 1, MGC_OPTIM_ADAMW = 2 } mgc_optim_kind;

typedef struct mgc_optim_params {
  mgc_optim_kind kind;
  double lr;
  double momentum;     /* SGD */
  int nesterov;        /* SGD */
  double beta1, beta2; /* Adam */
  double eps;          /* Adam */
  double weight_decay;
  double clip_norm;    /* max global gradient norm; 0 = no clipping */
} mgc_optim_params;

/* Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay, no clipping. */
void mgc_optim_params_default(mgc_optim_params *p);
/* "sgd", "adam", "adamw" -> kind; -1 if unknown. */
int mgc_optim_kind_from_name(const char *name);

typedef struct mgc_optim mgc_optim;

/* Allocates the moment buffers (zero) for every trainable parameter. */
mgc_status mgc_optim_new(const mgc_optim_params *p, mgc_net *net, mgc_optim **out);
/* Clip (if asked) and apply one update from the grads left by backward.
 * Returns the global gradient norm before clipping. Never allocates. */
double mgc_optim_step(mgc_optim *o);
void mgc_optim_set_lr(mgc_optim *o, double lr);
/* Per-parameter learning-rate multiplier (1 by default) for every trainable
 * parameter whose name starts with `prefix` ("" matches all): fine-tuning
 * gives a pretrained body a smaller rate than a new head; 0 freezes the
 * parameter (no update, no weight decay; its moments stay zero). Returns
 * the number of parameters matched. */
int mgc_optim_set_lr_scale(mgc_optim *o, const char *prefix, double scale);
double mgc_optim_lr_scale(const mgc_optim *o, int param);
double mgc_optim_lr(const mgc_optim *o);
/* Updates taken so far. */
int64_t mgc_optim_steps(const mgc_optim *o);

/* Internal state for checkpoints: per trainable parameter i (in net order,
 * buffers skipped) up to two moment tensors of the parameter's size. */
int mgc_optim_n_slots(const mgc_optim *o);           /* moments per parameter */
float *mgc_optim_slot(mgc_optim *o, int param, int slot); /* NULL if absent */
void mgc_optim_set_steps(mgc_optim *o, int64_t steps);

void mgc_optim_free(mgc_optim *o);

#endif
