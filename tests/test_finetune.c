/* Fine-tuning: a model starts from another's tensors of the same name and
 * shape (its new head fresh), takes its front-end and statistics; the
 * optimiser's per-parameter learning-rate multipliers scale each update and
 * 0 freezes a parameter; recipes carry init, lr_scale and freeze with
 * file:line:col errors; a track shorter than a long window is repeated;
 * frozen layers run as at inference and are not back-propagated, and a
 * head trained on their output computed once learns what it learns when
 * they run every epoch. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mgc/model/arch.h"
#include "mgc/model/model.h"
#include "mgc/train/optim.h"
#include "mgc/model/predict.h"
#include "mgc/train/recipe.h"
#include "mgc/train/trainer.h"

static const char body[] = "name: t\nfeature: logmel\ninput: [1, 4, 8]\nclasses: %d\nlayers:\n"
                           "  - {type: conv2d, name: body.conv, out: 2, kernel: 3, padding: 1}\n"
                           "  - {type: relu}\n  - {type: flatten}\n"
                           "  - {type: dense, name: %s, out: classes}\n  - {type: softmax}\n";

static mgc_model *make(int classes, const char *head, uint64_t seed) {
  char text[1024];
  snprintf(text, sizeof text, body, classes, head);
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(text, strlen(text), "t.yaml", &a), MGC_OK);
  mgc_model *m;
  assert_int_equal(mgc_model_new(a, classes, NULL, seed, &m), MGC_OK);
  mgc_arch_free(a);
  return m;
}

static void test_init_copies_matching_tensors(void **st) {
  (void)st;
  mgc_model *src = make(50, "dense", 1), *dst = make(10, "head", 2);
  src->frontend.sample_rate = 16000;
  float mean[4] = {1, 2, 3, 4}, sd[4] = {1, 1, 2, 2};
  assert_int_equal(mgc_model_set_norm(src, 4, mean, sd), MGC_OK);
  mgc_param *head = mgc_net_find_param(dst->net, "head.weight");
  float *fresh = malloc(head->size * sizeof *fresh);
  memcpy(fresh, head->value, head->size * sizeof *fresh);
  int copied;
  char list[256];
  assert_int_equal(mgc_model_init_from(dst, src, &copied, list, sizeof list), MGC_OK);
  assert_int_equal(copied, 2); /* body.conv.weight and .bias */
  assert_string_equal(list, "head.weight, head.bias");
  const mgc_param *a = mgc_net_find_param(dst->net, "body.conv.weight"),
                  *b = mgc_net_find_param(src->net, "body.conv.weight");
  assert_memory_equal(a->value, b->value, a->size * sizeof(float));
  assert_memory_equal(head->value, fresh, head->size * sizeof *fresh);
  assert_int_equal(dst->frontend.sample_rate, 16000);
  assert_int_equal(dst->norm_dim, 4);
  assert_true(dst->norm_std[3] == 2.0f);
  /* Same names, other shapes everywhere: the wrong file. */
  mgc_model *other = make(10, "dense", 3);
  char text[1024];
  snprintf(text, sizeof text, body, 10, "x");
  text[strstr(text, "out: 2") - text + 5] = '3';
  mgc_arch *a3;
  assert_int_equal(mgc_arch_parse(text, strlen(text), "t3.yaml", &a3), MGC_OK);
  mgc_model *wide;
  assert_int_equal(mgc_model_new(a3, 10, NULL, 4, &wide), MGC_OK);
  assert_int_not_equal(mgc_model_init_from(wide, other, &copied, NULL, 0), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "no tensor"));
  mgc_arch_free(a3);
  mgc_model_free(wide);
  mgc_model_free(other);
  free(fresh);
  mgc_model_free(src);
  mgc_model_free(dst);
}

/* One SGD step: w -= lr * scale * g, exactly; frozen parameters keep every
 * bit and do not count in the clipped norm. */
static void test_lr_scale_and_freeze(void **st) {
  (void)st;
  mgc_model *m = make(3, "head", 5);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  p.kind = MGC_OPTIM_SGD;
  p.lr = 0.5;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&p, m->net, &o), MGC_OK);
  assert_int_equal(mgc_optim_set_lr_scale(o, "body", 0), 2);
  assert_int_equal(mgc_optim_set_lr_scale(o, "head.w", 0.1), 1);
  assert_int_equal(mgc_optim_set_lr_scale(o, "nothing", 2), 0);
  int n = mgc_net_n_params(m->net);
  float *before[8];
  for (int i = 0; i < n; i++) {
    mgc_param *q = mgc_net_param(m->net, i);
    before[i] = malloc(q->size * sizeof(float));
    memcpy(before[i], q->value, q->size * sizeof(float));
    for (size_t k = 0; k < q->size; k++) q->grad[k] = 1.0f;
  }
  double norm = mgc_optim_step(o);
  size_t live = mgc_net_find_param(m->net, "head.weight")->size + mgc_net_find_param(m->net, "head.bias")->size;
  assert_true(fabs(norm - sqrt((double)live)) < 1e-6);
  for (int i = 0; i < n; i++) {
    mgc_param *q = mgc_net_param(m->net, i);
    float step = !strncmp(q->name, "body", 4) ? 0.0f : !strcmp(q->name, "head.weight") ? 0.05f : 0.5f;
    for (size_t k = 0; k < q->size; k++)
      if (fabsf(q->value[k] - (before[i][k] - step)) > 1e-6f)
        fail_msg("%s[%zu]: %g, expected %g", q->name, k, q->value[k], before[i][k] - step);
    free(before[i]);
  }
  mgc_optim_free(o);
  mgc_model_free(m);
}

static void test_recipe_keys(void **st) {
  (void)st;
  mgc_recipe *r;
  const char *ok = "architecture: a.yaml\ninit: pre/x.safetensors\nlr_scale: {head: 100, layer1: 0.5}\n"
                   "freeze: [spec_bn]\nfrozen_batchnorm: adapt\n";
  assert_int_equal(mgc_recipe_parse(ok, "r.yaml", "conf", &r), MGC_OK);
  assert_int_equal(r->train.frozen_bn_adapt, 1);
  assert_string_equal(r->init, "conf/pre/x.safetensors");
  assert_int_equal(r->train.n_lr_rules, 3);
  assert_string_equal(r->train.lr_rules[0].prefix, "head");
  assert_true(r->train.lr_rules[0].scale == 100.0);
  assert_string_equal(r->train.lr_rules[2].prefix, "spec_bn");
  assert_true(r->train.lr_rules[2].scale == 0.0);
  mgc_recipe_free(r);
  static const struct { const char *text, *where, *why; } bad[] = {
      {"architecture: a.yaml\nlr_scale: {head: -1}\n", "r.yaml:2:18", "head"},
      {"architecture: a.yaml\nfreeze: spec_bn\n", "r.yaml:2:9", "list"},
      {"architecture: a.yaml\ninit: ''\n", "r.yaml:2:7", "path"},
      {"architecture: a.yaml\nfrozen_batchnorm: yes\n", "r.yaml:2:19", "keep or adapt"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_not_equal(mgc_recipe_parse(bad[i].text, "r.yaml", "", &r), MGC_OK);
    const char *msg = mgc_error_message();
    if (!strstr(msg, bad[i].where) || !strstr(msg, bad[i].why))
      fail_msg("case %zu: '%s' lacks '%s' or '%s'", i, msg, bad[i].where, bad[i].why);
  }
}

/* A 3-frame track in a 8-frame window: repeated (0 1 2 0 1 2 0 1) under
 * segment_pad repeat, band means under the default. */
static void test_segment_pad_repeat(void **st) {
  (void)st;
  mgc_model *m = make(3, "head", 6);
  float data[3 * 4], out[8 * 4];
  for (int i = 0; i < 12; i++) data[i] = (float)i;
  mgc_feature_matrix fm = {.data = data, .n_frames = 3, .dim = 4};
  float mean[4] = {-1, -2, -3, -4}, sd[4] = {1, 1, 1, 1};
  assert_int_equal(mgc_model_set_norm(m, 4, mean, sd), MGC_OK);
  mgc_window_cut(m, &fm, 0, 8, out);
  for (int f = 3; f < 8; f++)
    for (int j = 0; j < 4; j++) assert_true(out[f * 4 + j] == mean[j]);
  m->frontend.segment_pad = MGC_SEGPAD_REPEAT;
  mgc_window_cut(m, &fm, 0, 8, out);
  for (int f = 0; f < 8; f++)
    for (int j = 0; j < 4; j++) assert_true(out[f * 4 + j] == data[(f % 3) * 4 + j]);
  assert_int_equal(mgc_track_windows(3, 8, 4), 1);
  mgc_model_free(m);
}

static const char bn_body[] =
    "name: t\nfeature: logmel\ninput: [1, 4, 8]\nclasses: 3\nlayers:\n"
    "  - {type: conv2d, name: body.conv, out: 2, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: body.bn}\n  - {type: relu}\n  - {type: flatten}\n"
    "  - {type: dense, name: head, out: classes}\n  - {type: softmax}\n";

static mgc_model *make_bn(void) {
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(bn_body, strlen(bn_body), "bn.yaml", &a), MGC_OK);
  mgc_model *m;
  assert_int_equal(mgc_model_new(a, 3, NULL, 9, &m), MGC_OK);
  mgc_arch_free(a);
  /* running statistics unlike any batch's, so that batch statistics show */
  mgc_param *rm = mgc_net_find_param(m->net, "body.bn.running_mean");
  for (size_t k = 0; k < rm->size; k++) rm->value[k] = 0.7f * (float)(k + 1);
  return m;
}

static void fill(float *x, size_t n, uint64_t seed) {
  mgc_rng r;
  mgc_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) x[i] = (float)mgc_rng_uniform(&r) * 2.0f - 1.0f;
}

static void test_frozen_layers_run_as_inference(void **st) {
  (void)st;
  mgc_model *m = make_bn();
  mgc_net *net = m->net;
  enum { B = 4, D = 32 };
  float x[B * D], want[B * 3], got[B * 3];
  fill(x, B * D, 3);
  assert_int_equal(mgc_net_plan(net, B, 1), MGC_OK);
  /* not frozen: batch statistics (which also move the running ones) */
  memcpy(got, mgc_net_forward(net, x, B, 1), sizeof got);
  memcpy(want, mgc_net_forward(net, x, B, 0), sizeof want);
  assert_true(fabsf(got[0] - want[0]) > 1e-3f);
  mgc_net_set_frozen(net, 2, 0);
  assert_int_equal(mgc_net_frozen(net), 2);
  assert_memory_equal(mgc_net_forward(net, x, B, 1), want, sizeof want);
  /* from the frozen layers' output, the same logits */
  float h1[B * 2 * 32];
  memcpy(h1, mgc_net_forward_to(net, x, B, 1), sizeof h1);
  assert_memory_equal(mgc_net_forward_from(net, 2, h1, B, 1), want, sizeof want);
  assert_null(mgc_net_forward_from(net, 3, h1, B, 1)); /* layer 2 is not frozen */
  /* backward: the head's gradient, nothing for the body */
  mgc_param *w = mgc_net_find_param(net, "body.conv.weight"), *g = mgc_net_find_param(net, "body.bn.weight"),
            *h = mgc_net_find_param(net, "head.weight");
  for (size_t k = 0; k < w->size; k++) w->grad[k] = NAN;
  for (size_t k = 0; k < g->size; k++) g->grad[k] = NAN;
  memset(h->grad, 0, h->size * sizeof(float));
  float dz[B * 3];
  fill(dz, B * 3, 4);
  assert_non_null(mgc_net_forward(net, x, B, 1));
  assert_int_equal(mgc_net_backward(net, dz, NULL), MGC_OK);
  assert_true(isnan(w->grad[0]) && isnan(g->grad[0]));
  double norm = 0;
  for (size_t k = 0; k < h->size; k++) norm += fabsf(h->grad[k]);
  assert_true(norm > 1e-3);
  float dx[B * D];
  assert_int_equal(mgc_net_backward(net, dz, dx), MGC_EINVAL);
  /* AdaBN: frozen, but the batchnorm normalises with the batch's statistics
   * (the unfrozen training forward's logits) and its running mean moves */
  mgc_net_set_frozen(net, 2, 1);
  mgc_param *rm = mgc_net_find_param(net, "body.bn.running_mean");
  float rm0 = rm->value[0];
  assert_memory_equal(mgc_net_forward(net, x, B, 1), got, sizeof got);
  assert_true(rm->value[0] != rm0);
  assert_int_equal(mgc_net_backward(net, dz, NULL), MGC_OK);
  assert_true(isnan(w->grad[0]) && isnan(g->grad[0]));
  mgc_model_free(m);
}

/* Tracks of 16 frames of 4 bands, two windows each, three classes told
 * apart by their level. */
static void keep_line(void *user, const char *line) {
  if (strstr(line, "frozen")) snprintf(user, 512, "%s", line);
}

static mgc_model *head_training(size_t cache_bytes, char frozen_line[512]) {
  enum { T = 12, F = 16 * 4 };
  static float data[T][F];
  static int labels[T];
  mgc_feature_matrix fm[T];
  for (int i = 0; i < T; i++) {
    labels[i] = i % 3;
    fill(data[i], F, 100 + (uint64_t)i);
    for (int k = 0; k < F; k++) data[i][k] += (float)labels[i];
    fm[i] = (mgc_feature_matrix){data[i], 16, 4, 0};
  }
  mgc_train_set set = {T, labels, fm};
  mgc_train_config cfg;
  mgc_train_config_default(&cfg);
  cfg.epochs = 5;
  cfg.batch = 4;
  cfg.win_len = cfg.win_hop = 8;
  cfg.aug.offset_max = 0;
  cfg.threads = 1;
  cfg.body_cache_bytes = cache_bytes;
  cfg.n_lr_rules = 1;
  snprintf(cfg.lr_rules[0].prefix, sizeof cfg.lr_rules[0].prefix, "body");
  cfg.lr_rules[0].scale = 0;
  cfg.log = keep_line;
  cfg.log_user = frozen_line;
  frozen_line[0] = 0;
  mgc_model *m = make_bn();
  mgc_train_result res;
  assert_int_equal(mgc_train_run(&cfg, m, &set, &set, &res), MGC_OK);
  return m;
}

static void test_cached_body_trains_as_uncached(void **st) {
  (void)st;
  char la[512], lb[512];
  mgc_model *a = head_training((size_t)1 << 20, la), *b = head_training(0, lb), *ref = make_bn();
  assert_non_null(strstr(la, "layers 1-2 are frozen and every window is fixed"));
  assert_non_null(strstr(lb, "layers 1-2 are frozen; their output is too large to keep"));
  for (int i = 0; i < mgc_net_n_params(a->net); i++) {
    const mgc_param *p = mgc_net_param(a->net, i), *q = mgc_net_param(b->net, i),
                    *r = mgc_net_param(ref->net, i);
    int in_body = !strncmp(p->name, "body", 4), moved = 0;
    for (size_t k = 0; k < p->size; k++) {
      if (fabsf(p->value[k] - q->value[k]) > 1e-5f)
        fail_msg("%s[%zu]: %g cached, %g uncached", p->name, k, p->value[k], q->value[k]);
      moved |= p->value[k] != r->value[k];
    }
    /* the body keeps every bit, running statistics included; the head learns */
    if (in_body == moved) fail_msg("%s %s", p->name, in_body ? "changed" : "did not learn");
  }
  mgc_model_free(a);
  mgc_model_free(b);
  mgc_model_free(ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_copies_matching_tensors),
      cmocka_unit_test(test_lr_scale_and_freeze),
      cmocka_unit_test(test_recipe_keys),
      cmocka_unit_test(test_segment_pad_repeat),
      cmocka_unit_test(test_frozen_layers_run_as_inference),
      cmocka_unit_test(test_cached_body_trains_as_uncached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
