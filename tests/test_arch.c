/* Architecture YAML: parsing, validation with file:line:column messages,
 * shape inference through every layer, and the shipped conf/models. */
#include "test_util.h"

#include <math.h>

#include "mgc/model/arch.h"
#include "mgc/model/model.h"
#include "mgc/model/net.h"
#include "mgc/dsp/clip_features.h"

#ifndef MGC_CONF
#error "MGC_CONF must point at conf/"
#endif

/* Build a net from YAML text; expect failure with every `want` substring. */
static void expect_error(const char *yaml, const char *want1, const char *want2) {
  mgc_arch *a = NULL;
  mgc_net *net = NULL;
  mgc_status st = mgc_arch_parse(yaml, strlen(yaml), "m.yaml", &a);
  if (st == MGC_OK) {
    st = mgc_net_new(a, 0, 1, &net);
    mgc_net_free(net);
    mgc_arch_free(a);
  }
  assert_int_not_equal(st, MGC_OK);
  const char *msg = mgc_error_message();
  if (!strstr(msg, want1) || (want2 && !strstr(msg, want2)))
    fail_msg("message '%s' lacks '%s' / '%s'", msg, want1, want2 ? want2 : "");
}

static void test_yaml_errors(void **st) {
  /* libyaml's own syntax errors keep their position. */
  expect_error("input: [1, 2\nlayers: []\n", "m.yaml:", NULL);
  expect_error("input: [4]\nlayers:\n  - {type: relu\n", "m.yaml:", NULL);
  expect_error("input: [4]\nlayrs: []\n", "m.yaml:2:1: unknown key 'layrs'", NULL);
  expect_error("input: [4]\n", "missing 'layers'", NULL);
  expect_error("layers: [{type: relu}]\n", "missing 'input'", NULL);
  expect_error("input: [0, 3]\nlayers: [{type: relu}]\n", "m.yaml:1:9:", "positive");
  expect_error("input: [4]\nlayers:\n  - {type: rleu}\n", "m.yaml:3:5:", "unknown layer type 'rleu'");
  expect_error("input: [4]\nlayers:\n  - {out: 3}\n", "m.yaml:3:5:", "no 'type'");
  expect_error("input: [4]\nlayers:\n  - relu\n", "m.yaml:3:5:", "mapping");
  expect_error("input: [4]\nclasses: 1\nlayers: [{type: relu}]\n", "m.yaml:2:10:", "'classes'");
}

static void test_layer_errors(void **st) {
  /* Errors point at the offending option's value. */
  expect_error("input: [4]\nlayers:\n  - {type: dense, out: 3, colour: red}\n", "m.yaml:3:35:",
               "unknown option 'colour'");
  expect_error("input: [4]\nlayers:\n  - {type: dense, out: -3}\n", "m.yaml:3:24:", "'out'");
  expect_error("input: [4]\nlayers:\n  - {type: dense, out: three}\n", "m.yaml:3:24:",
               "integer");
  expect_error("input: [4]\nlayers:\n  - {type: dropout, p: 1.5}\n", "m.yaml:3:24:", "'p'");
  expect_error("input: [4]\nlayers:\n  - {type: temporal_pool, mode: median}\n", "m.yaml:3:",
               "mean|max");
  /* Shape inference: the layer index, type and input shape are named. */
  expect_error("input: [1, 8, 8]\nlayers:\n  - {type: dense, out: 3}\n",
               "layer 0 (dense, input [1, 8, 8])", "flatten");
  expect_error("input: [1, 4, 4]\nlayers:\n  - {type: conv2d, out: 2, kernel: 7}\n",
               "m.yaml:3:", "layer 0 (conv2d, input [1, 4, 4])");
  expect_error("input: [10]\nlayers:\n  - {type: gru, hidden: 4}\n", "layer 0 (gru", NULL);
  expect_error("input: [4]\nlayers:\n  - {type: softmax}\n  - {type: dense, out: 2}\n",
               "m.yaml:3:5:", "softmax must be the last layer");
  expect_error("input: [4]\nlayers:\n  - {type: dense, out: 3, name: a}\n"
               "  - {type: dense, out: 3, name: a}\n",
               "m.yaml:4:5:", "used twice");
  /* 'classes' with no class count anywhere */
  expect_error("input: [4]\nlayers:\n  - {type: dense, out: classes}\n", "'out'", NULL);
}

static void test_shape_inference(void **st) {
  const char *yaml = "input: [1, 32, 40]\nclasses: 5\nlayers:\n"
                     "  - {type: conv2d, out: 4, kernel: 3, padding: 1}\n"
                     "  - {type: maxpool2d, kernel: [4, 2]}\n"
                     "  - {type: conv2d, out: 6, kernel: [3, 5], stride: [1, 2]}\n"
                     "  - {type: to_sequence}\n"
                     "  - {type: gru, hidden: 7, bidirectional: true}\n"
                     "  - {type: temporal_pool, mode: max}\n"
                     "  - {type: dense, out: classes, name: head}\n"
                     "  - {type: softmax}\n";
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(yaml, strlen(yaml), "s.yaml", &a), MGC_OK);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  int want[][3] = {{4, 32, 40}, {4, 8, 20}, {6, 6, 8}, {8, 36, 0}, {8, 14, 0}, {14, 0, 0},
                   {5, 0, 0}, {5, 0, 0}};
  for (int i = 0; i < mgc_net_n_layers(net); i++) {
    mgc_shape s = mgc_net_layer(net, i)->out;
    for (int k = 0; k < s.ndim; k++) assert_int_equal(s.d[k], want[i][k]);
  }
  assert_non_null(mgc_net_find_param(net, "head.weight"));
  assert_int_equal(mgc_net_n_classes(net), 5);
  mgc_net_free(net);
  /* n_classes given at build time replaces the file's 'classes'. */
  assert_int_equal(mgc_net_new(a, 3, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_n_classes(net), 3);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_shipped_architectures(void **st) {
  const char *names[] = {"crnn", "cnn", "mfcc_rnn", "chroma_rnn", "waveform_cnn", "mlp"};
  for (int i = 0; i < 6; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.yaml", MGC_CONF, names[i]);
    mgc_arch *a;
    if (mgc_arch_load(path, &a)) fail_msg("%s", mgc_error_message());
    assert_string_equal(a->name, names[i]);
    mgc_net *net;
    if (mgc_net_new(a, 0, 1, &net)) fail_msg("%s", mgc_error_message());
    mgc_shape o = mgc_net_output_shape(net);
    assert_int_equal(o.ndim, 1);
    assert_int_equal(o.d[0], 10);
    assert_true(mgc_net_param_count(net) > 1000);
    /* A forward pass runs and gives probabilities. */
    assert_int_equal(mgc_net_plan(net, 2, 0), MGC_OK);
    mgc_shape si = mgc_net_input_shape(net);
    size_t n = 2 * mgc_shape_size(&si);
    float *x = calloc(n, sizeof(float));
    uint64_t seed = 3;
    for (size_t k = 0; k < n; k++) x[k] = (float)(test_rand(&seed) % 1000) / 500.0f - 1.0f;
    const float *p = mgc_net_predict(net, x, 2);
    assert_non_null(p);
    float s = 0;
    for (int k = 0; k < 10; k++) s += p[k];
    assert_float_equal(s, 1.0f, 1e-5);
    free(x);
    mgc_net_free(net);
    mgc_arch_free(a);
  }
  mgc_arch *a;
  assert_int_equal(mgc_arch_load("/nonexistent/x.yaml", &a), MGC_EIO);
  assert_non_null(strstr(mgc_error_message(), "/nonexistent/x.yaml"));
}

/* input_log: band indices or table column names, checked against the
 * input's bands, and applied by the model's standardisation. */
static void test_input_log(void **st) {
  const char *tab = "feature: table\ninput: [57]\nlayers: [{type: dense, out: 3}]\n";
  char y[512];
  snprintf(y, sizeof y, "%sinput_log: [rms_var, 0, mfcc20_var]\n", tab);
  mgc_arch *a;
  if (mgc_arch_parse(y, strlen(y), "m.yaml", &a)) fail_msg("%s", mgc_error_message());
  assert_int_equal(a->n_input_log, 3);
  assert_int_equal(a->input_log[0], 0); /* sorted */
  assert_string_equal(mgc_clip_feature_name(a->input_log[1]), "rms_var");
  assert_int_equal(a->input_log[2], 56);
  /* (log(max(x, floor)) - mean) / std on the listed bands, (x - mean) / std elsewhere */
  mgc_model *m;
  if (mgc_model_new(a, 0, NULL, 1, &m)) fail_msg("%s", mgc_error_message());
  float mean[57], sd[57], x[2 * 57], z[2 * 57];
  for (int k = 0; k < 57; k++) mean[k] = 0.5f * (float)k, sd[k] = 1.0f + 0.25f * (float)k;
  for (int i = 0; i < 2 * 57; i++) x[i] = 0.3f + 0.7f * (float)i;
  x[57 + 3] = 0.0f;   /* rms_var (column 3) of row 2: the floor, not -inf */
  x[57 + 0] = -2.0f;  /* a negative value: the floor too */
  assert_int_equal(mgc_model_set_norm(m, 57, mean, sd), MGC_OK);
  mgc_model_standardize(m, x, z, 2);
  for (int r = 0; r < 2; r++)
    for (int k = 0; k < 57; k++) {
      double v = x[r * 57 + k];
      if (k == 0 || k == 3 || k == 56) v = log(v > 1e-12 ? v : 1e-12);
      assert_float_equal(z[r * 57 + k], (v - mean[k]) / sd[k], 1e-5 * (1 + fabs(z[r * 57 + k])));
    }
  assert_true(z[57 + 3] < -16 && isfinite(z[57 + 3])); /* (log(1e-12) - 1.5) / 1.75 */
  /* mgc_arch_log_frames does the same to raw frames (the trainer's statistics) */
  float f[2 * 57];
  memcpy(f, x, sizeof f);
  mgc_arch_log_frames(a, f, 2, 57);
  assert_float_equal(f[3], logf(x[3]), 1e-6);
  assert_float_equal(f[57 + 3], logf(1e-12f), 1e-4);
  assert_float_equal(f[4], x[4], 0);
  mgc_model_free(m);
  mgc_arch_free(a);
  /* an index works for any feature, along the band axis (mel bands here) */
  const char *mel = "feature: logmel\ninput: [1, 8, 4]\nlayers: [{type: flatten}]\ninput_log: [7]\n";
  if (mgc_arch_parse(mel, strlen(mel), "m.yaml", &a)) fail_msg("%s", mgc_error_message());
  assert_int_equal(a->input_log[0], 7);
  mgc_arch_free(a);
  /* errors, with file:line:column */
  snprintf(y, sizeof y, "%sinput_log: [rms_vra]\n", tab);
  expect_error(y, "m.yaml:4:13:", "'rms_vra' is not a band index or a table column name");
  snprintf(y, sizeof y, "%sinput_log: [57]\n", tab);
  expect_error(y, "m.yaml:4:13:", "band 57 is outside 0..56");
  snprintf(y, sizeof y, "%sinput_log: [-1]\n", tab);
  expect_error(y, "m.yaml:4:13:", "outside 0..56");
  snprintf(y, sizeof y, "%sinput_log: [rms_var, 3]\n", tab);
  expect_error(y, "m.yaml:4:22:", "band 3 is listed twice");
  snprintf(y, sizeof y, "%sinput_log: rms_var\n", tab);
  expect_error(y, "m.yaml:4:12:", "must be a list of band indices or column names");
  snprintf(y, sizeof y, "%sinput_log: []\n", tab);
  expect_error(y, "m.yaml:4:12:", "'input_log' is empty");
  snprintf(y, sizeof y, "%sinput_log: [[1]]\n", tab);
  expect_error(y, "m.yaml:4:13:", "plain values");
  expect_error("feature: mfcc\ninput: [4, 20]\nlayers: [{type: flatten}]\ninput_log: [rms_var]\n",
               "m.yaml:4:13:", "'rms_var' is not a band index");
  expect_error("feature: mfcc\ninput: [4, 20]\nlayers: [{type: flatten}]\ninput_log: [20]\n",
               "m.yaml:4:13:", "band 20 is outside 0..19");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yaml_errors),
      cmocka_unit_test(test_layer_errors),
      cmocka_unit_test(test_shape_inference),
      cmocka_unit_test(test_shipped_architectures),
      cmocka_unit_test(test_input_log),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
