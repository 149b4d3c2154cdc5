/* A training checkpoint's state file (<prefix>.opt.safetensors, read by
 * mgc_checkpoint_load): the safetensors container, the "state" metadata and
 * the moments and best weights it must hold for the model being resumed (a
 * small dense network with batch norm, Adam). Its weights file is a valid
 * one written once. */
#include <stdio.h>

#include "fuzz.h"
#include "mgc/model/arch.h"
#include "mgc/train/checkpoint.h"

static const char arch_yaml[] =
    "name: fuzz\ninput: [8]\nclasses: 3\nlayers:\n"
    "  - {type: dense, out: 6}\n  - {type: batchnorm}\n  - {type: relu}\n"
    "  - {type: dense, out: classes}\n  - {type: softmax}\n";

static mgc_model *model;
static mgc_optim *opt;
static float best[64 + 128];
static char prefix[300];

static int setup(void) {
  mgc_arch *a;
  if (!fuzz_dir() || mgc_arch_parse(arch_yaml, sizeof arch_yaml - 1, "fuzz.yaml", &a)) return 0;
  mgc_status st = mgc_model_new(a, 0, NULL, 1, &model);
  mgc_arch_free(a);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  if (st || mgc_net_plan(model->net, 4, 1) || mgc_optim_new(&p, model->net, &opt)) return 0;
  snprintf(prefix, sizeof prefix, "%s/ckpt", fuzz_dir());
  mgc_train_state s = {.best_val_loss = 0.5, .sched.lr = 1e-3};
  /* The weights file the state file goes with; the state file is the input. */
  fuzz_path("ckpt.last.safetensors");
  fuzz_path("ckpt.opt.safetensors");
  return mgc_checkpoint_save(prefix, model, opt, best, &s) == MGC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = -1;
  if (ready < 0) ready = setup();
  if (!ready || !fuzz_file(data, size, "ckpt.opt.safetensors")) return 0;
  mgc_train_state s = {0};
  mgc_checkpoint_load(prefix, model, opt, best, &s);
  return 0;
}
