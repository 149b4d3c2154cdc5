/* A training recipe (a YAML file under conf/train/): the architecture, optimiser,
 * schedule, batch size, epochs, early stopping, class weighting, seed and
 * augmentation of one training run. mgc-train's flags override it. Unknown
 * keys and bad values are refused with file:line:column. */
#ifndef MGC_RECIPE_H
#define MGC_RECIPE_H

#include "mgc/util/error.h"
#include "mgc/train/trainer.h"

#define MGC_RECIPE_MAX_VARIANTS 8

typedef struct mgc_recipe {
  char architecture[1024];   /* resolved against the recipe's directory */
  char then[1024];           /* a second stage ("" = none): the recipe whose training
                                continues from the model this one produced (its own
                                init ignored), resolved likewise; mgc-train runs both,
                                also in each fold of --folds */
  char init[1024];           /* fine-tuning: a model file to start from ("" = none),
                                resolved likewise; its tensors of the same name and
                                shape are copied, its front-end and statistics kept */
  mgc_train_config train;    /* everything the training loop takes */
  double validation;         /* fraction of training tracks held out (stratified) */
  int n_variants;            /* audio-level variants added to the training tracks */
  char variants[MGC_RECIPE_MAX_VARIANTS][32];
  char *text;                /* the recipe as written, stored in the model */
} mgc_recipe;

/* Defaults of mgc_train_config_default, validation 0.2, no variants. */
mgc_status mgc_recipe_load(const char *path, mgc_recipe **out);
/* Parse text; `origin` names it in messages and `dir` resolves a relative
 * architecture path. */
mgc_status mgc_recipe_parse(const char *text, const char *origin, const char *dir,
                            mgc_recipe **out);
void mgc_recipe_free(mgc_recipe *r);

#endif
