/* Training checkpoints (mgc/train/checkpoint.h): a round trip restores
 * weights, moments, best weights and state exactly; a state file that is
 * damaged is refused with its path and reason, never half-read silently.
 * (test_train checks that a resumed run equals an uninterrupted one.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mgc/model/arch.h"
#include "mgc/model/safetensors.h"
#include "mgc/train/checkpoint.h"

static const char arch_yaml[] =
    "name: t\ninput: [4]\nclasses: 2\nlayers:\n  - {type: dense, out: 3}\n  - {type: batchnorm}\n"
    "  - {type: dense, out: classes}\n";

typedef struct fixture {
  char dir[64], prefix[96], opt_path[128];
  mgc_model *m;
  mgc_optim *o;
  float best[64];
  mgc_train_state s;
} fixture;

static void open_model(fixture *f, uint64_t seed) {
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(arch_yaml, sizeof arch_yaml - 1, "t.yaml", &a), MGC_OK);
  assert_int_equal(mgc_model_new(a, 0, NULL, seed, &f->m), MGC_OK);
  mgc_arch_free(a);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  assert_int_equal(mgc_net_plan(f->m->net, 2, 1), MGC_OK);
  assert_int_equal(mgc_optim_new(&p, f->m->net, &f->o), MGC_OK);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/mgc-ckpt-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->prefix, sizeof f->prefix, "%s/run", f->dir);
  snprintf(f->opt_path, sizeof f->opt_path, "%s.opt.safetensors", f->prefix);
  open_model(f, 1);
  for (int i = 0; i < 64; i++) f->best[i] = 0.25f * (float)i;
  float *m0 = mgc_optim_slot(f->o, 0, 0), *v0 = mgc_optim_slot(f->o, 0, 1);
  for (int i = 0; i < 12; i++) m0[i] = (float)i, v0[i] = (float)(2 * i);
  f->s = (mgc_train_state){.epoch = 5, .best_epoch = 4, .bad_epochs = 1, .best_val_loss = 0.75,
                           .best_val_acc = 0.5, .best_val_track_acc = 0.625, .steps = 123,
                           .sched = {.lr = 3e-4, .best = INFINITY, .bad_epochs = 2, .cooldown_left = 1},
                           .rng.s = {1, 2, 3, UINT64_MAX}};
  assert_int_equal(mgc_checkpoint_save(f->prefix, f->m, f->o, f->best, &f->s), MGC_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  char path[160];
  snprintf(path, sizeof path, "%s.last.safetensors", f->prefix);
  unlink(path);
  unlink(f->opt_path);
  rmdir(f->dir);
  mgc_optim_free(f->o);
  mgc_model_free(f->m);
  free(f);
  return 0;
}

static void test_round_trip_restores_everything(void **state) {
  fixture *f = *state, g = {0};
  open_model(&g, 99); /* other initial weights */
  assert_int_equal(mgc_checkpoint_load(f->prefix, g.m, g.o, g.best, &g.s), MGC_OK);
  for (int i = 0; i < mgc_net_n_params(f->m->net); i++) {
    mgc_param *p = mgc_net_param(f->m->net, i), *q = mgc_net_param(g.m->net, i);
    assert_memory_equal(p->value, q->value, p->size * sizeof(float));
  }
  assert_memory_equal(mgc_optim_slot(g.o, 0, 1), mgc_optim_slot(f->o, 0, 1), 12 * sizeof(float));
  assert_int_equal(mgc_optim_steps(g.o), 123);
  assert_float_equal(g.best[5], 1.25, 0);
  assert_int_equal(g.s.epoch, 5);
  assert_int_equal(g.s.best_epoch, 4);
  assert_float_equal(g.s.best_val_track_acc, 0.625, 0);
  assert_float_equal(g.s.sched.lr, 3e-4, 0);
  assert_true(isinf(g.s.sched.best));
  assert_int_equal(g.s.sched.cooldown_left, 1);
  assert_true(g.s.rng.s[3] == UINT64_MAX);
  mgc_optim_free(g.o);
  mgc_model_free(g.m);
}

/* Rewrite the state file with one tensor's dtype and one metadata value changed. */
static void rewrite(const fixture *f, const char *state_text, const char *int_tensor) {
  mgc_st_file *st;
  assert_int_equal(mgc_st_read(f->opt_path, &st), MGC_OK);
  int n = mgc_st_n_tensors(st);
  mgc_st_entry *e = calloc((size_t)n, sizeof *e);
  for (int i = 0; i < n; i++) {
    const mgc_st_tensor *t = mgc_st_tensor_at(st, i);
    e[i] = (mgc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
    memcpy(e[i].shape, t->shape, sizeof t->shape);
    if (int_tensor && !strcmp(t->name, int_tensor)) e[i].dtype = MGC_ST_I32; /* same size */
  }
  mgc_st_meta_entry meta[2] = {{"format", "mgc-train-state"},
                               {"state", state_text ? state_text : mgc_st_meta(st, "state")}};
  char path[200];
  snprintf(path, sizeof path, "%s.tmp", f->opt_path);
  assert_int_equal(mgc_st_write(path, meta, 2, e, n), MGC_OK);
  assert_int_equal(rename(path, f->opt_path), 0);
  free(e);
  mgc_st_free(st);
}

static void expect_refusal(fixture *f, const char *want) {
  fixture g = {0};
  open_model(&g, 1);
  assert_int_not_equal(mgc_checkpoint_load(f->prefix, g.m, g.o, g.best, &g.s), MGC_OK);
  const char *msg = mgc_error_message();
  if (!strstr(msg, want) || !strstr(msg, f->opt_path)) fail_msg("message '%s' lacks '%s' or the path", msg, want);
  mgc_optim_free(g.o);
  mgc_model_free(g.m);
}

static void test_a_state_out_of_range_is_refused(void **state) {
  fixture *f = *state;
  static const char *bad[] = {
      "{\"epoch\": -1, \"best_epoch\": 0, \"bad_epochs\": 0, \"best_val_loss\": 1, \"best_val_acc\": 0, "
      "\"best_val_track_acc\": 0, \"steps\": 0, \"lr\": 0.001, \"sched_best\": 1, \"sched_bad\": 0, "
      "\"sched_cooldown\": 0, \"rng\": [\"1\", \"2\", \"3\", \"4\"]}",
      /* best epoch after the last one */
      "{\"epoch\": 2, \"best_epoch\": 3, \"bad_epochs\": 0, \"best_val_loss\": 1, \"best_val_acc\": 0, "
      "\"best_val_track_acc\": 0, \"steps\": 0, \"lr\": 0.001, \"sched_best\": 1, \"sched_bad\": 0, "
      "\"sched_cooldown\": 0, \"rng\": [\"1\", \"2\", \"3\", \"4\"]}",
      /* an rng word past 64 bits */
      "{\"epoch\": 2, \"best_epoch\": 1, \"bad_epochs\": 0, \"best_val_loss\": 1, \"best_val_acc\": 0, "
      "\"best_val_track_acc\": 0, \"steps\": 0, \"lr\": 0.001, \"sched_best\": 1, \"sched_bad\": 0, "
      "\"sched_cooldown\": 0, \"rng\": [\"1\", \"2\", \"3\", \"18446744073709551616\"]}",
      /* lr not a number */
      "{\"epoch\": 2, \"best_epoch\": 1, \"bad_epochs\": 0, \"best_val_loss\": 1, \"best_val_acc\": 0, "
      "\"best_val_track_acc\": 0, \"steps\": 0, \"lr\": nan, \"sched_best\": 1, \"sched_bad\": 0, "
      "\"sched_cooldown\": 0, \"rng\": [\"1\", \"2\", \"3\", \"4\"]}",
      "{\"epoch\": 2}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rewrite(f, bad[i], NULL);
    expect_refusal(f, "no readable training state");
  }
}

static void test_a_moment_that_is_not_float_is_refused(void **state) {
  fixture *f = *state;
  char name[160];
  snprintf(name, sizeof name, "v.%s", mgc_net_param(f->m->net, 0)->name);
  rewrite(f, NULL, name);
  expect_refusal(f, name);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_restores_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_state_out_of_range_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_moment_that_is_not_float_is_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
