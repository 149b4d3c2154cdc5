/* Architecture YAML: parsing, validation with file:line:column messages,
 * shape inference through every layer, and the shipped conf/models. */
#include "test_util.h"

#include "mgc/arch.h"
#include "mgc/net.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yaml_errors),
      cmocka_unit_test(test_layer_errors),
      cmocka_unit_test(test_shape_inference),
      cmocka_unit_test(test_shipped_architectures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
