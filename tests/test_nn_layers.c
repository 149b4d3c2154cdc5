/* Gradient checks and closed-form checks for the simple layers: dense,
 * activations, softmax, dropout, reshapes, temporal pooling. */
#include "test_util.h"

#include "gradcheck.h"

/* The checker must not pass vacuously: zero analytic gradients fail. */
static void test_gradcheck_rejects_zero(void **st) {
  gc_opts o = gc_defaults();
  o.zero_analytic = 1;
  assert_int_equal(gc_check_layer("input: [5]\nlayers: [{type: dense, out: 3}]\n", &o), 3);
  /* An input that cannot reach the output gives a zero numeric gradient:
   * ReLU of strongly negative inputs. */
  o = gc_defaults();
  o.scale = 1e-3;
  const char *dead = "input: [6]\nlayers: [{type: relu}]\n";
  gc_opts d = o;
  d.scale = 1.0;
  assert_int_equal(gc_check_layer(dead, &d), 0);
  /* shift every input below zero: numeric and analytic both zero -> fail */
  mgc_arch *a = gc_arch(dead);
  mgc_rng rng;
  mgc_rng_seed(&rng, 1);
  mgc_layer *l;
  assert_int_equal(mgc_layer_new(&a->layers[0], &a->input, &rng, &l), MGC_OK);
  float x[6] = {-1, -2, -3, -4, -5, -6}, y[6], r[6] = {1, 1, 1, 1, 1, 1}, dx[6];
  l->ops->forward(l, x, y, 1, 1, NULL);
  l->ops->backward(l, x, y, r, dx, 1, NULL);
  double num[6] = {0};
  assert_false(gc_compare("dead relu", dx, num, 6, 1e-2));
  mgc_layer_free(l);
  mgc_arch_free(a);
}

static void test_dense(void **st) {
  check_layer("input: [7]\nlayers: [{type: dense, out: 4}]\n", gc_defaults());
  check_layer("input: [7]\nlayers: [{type: dense, out: 4, bias: false}]\n", gc_defaults());
  /* per time step on a sequence */
  check_layer("input: [5, 6]\nlayers: [{type: dense, out: 3}]\n", gc_defaults());
}

static void test_dense_closed_form(void **st) {
  mgc_arch *a = gc_arch("input: [2]\nlayers: [{type: dense, out: 2}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  mgc_param *w = mgc_net_find_param(net, "0.weight"), *b = mgc_net_find_param(net, "0.bias");
  assert_non_null(w);
  assert_non_null(b);
  assert_int_equal(w->shape[0], 2);
  float wv[4] = {1, 2, 3, 4}, bv[2] = {0.5f, -1};
  memcpy(w->value, wv, sizeof wv);
  memcpy(b->value, bv, sizeof bv);
  assert_int_equal(mgc_net_plan(net, 2, 0), MGC_OK);
  float x[4] = {1, 1, 2, -1};
  const float *y = mgc_net_forward(net, x, 2, 0);
  assert_non_null(y);
  assert_float_equal(y[0], 3.5f, 1e-6);  /* 1+2+0.5 */
  assert_float_equal(y[1], 6.0f, 1e-6);  /* 3+4-1 */
  assert_float_equal(y[2], 0.5f, 1e-6);  /* 2-2+0.5 */
  assert_float_equal(y[3], 1.0f, 1e-6);  /* 6-4-1 */
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_activations(void **st) {
  const char *types[] = {"relu", "leaky_relu", "elu", "tanh", "sigmoid"};
  for (int i = 0; i < 5; i++) {
    char yaml[200];
    snprintf(yaml, sizeof yaml, "input: [3, 4]\nlayers: [{type: %s}]\n", types[i]);
    check_layer(yaml, gc_defaults());
  }
  check_layer("input: [9]\nlayers: [{type: leaky_relu, slope: 0.2}]\n", gc_defaults());
  check_layer("input: [9]\nlayers: [{type: elu, alpha: 0.5}]\n", gc_defaults());
}

static void test_softmax(void **st) {
  check_layer("input: [6]\nlayers: [{type: softmax}]\n", gc_defaults());
  /* Rows sum to one and keep their order. */
  mgc_arch *a = gc_arch("input: [3]\nlayers: [{type: dense, out: 3}, {type: softmax}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
  float x[3] = {0.3f, -1, 2};
  const float *p = mgc_net_predict(net, x, 1);
  assert_float_equal(p[0] + p[1] + p[2], 1.0f, 1e-6);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_dropout(void **st) {
  check_layer("input: [40]\nlayers: [{type: dropout, p: 0.3}]\n", gc_defaults());
  /* Inverted scaling: kept fraction about 1-p, kept values scaled by 1/(1-p),
   * identity at inference. */
  mgc_arch *a = gc_arch("input: [10000]\nlayers: [{type: dropout, p: 0.25}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 7, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 1, 1), MGC_OK);
  float *x = malloc(10000 * sizeof(float));
  for (int i = 0; i < 10000; i++) x[i] = 1.0f;
  const float *y = mgc_net_forward(net, x, 1, 1);
  int kept = 0;
  for (int i = 0; i < 10000; i++) {
    if (y[i] != 0) {
      kept++;
      assert_float_equal(y[i], 1.0f / 0.75f, 1e-6);
    }
  }
  assert_in_range(kept, 7300, 7700);
  y = mgc_net_forward(net, x, 1, 0);
  for (int i = 0; i < 10000; i++) assert_float_equal(y[i], 1.0f, 0);
  free(x);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_reshape(void **st) {
  check_layer("input: [2, 3, 4]\nlayers: [{type: to_sequence}]\n", gc_defaults());
  check_layer("input: [3, 5]\nlayers: [{type: to_sequence}]\n", gc_defaults());
  check_layer("input: [2, 3, 4]\nlayers: [{type: flatten}]\n", gc_defaults());
  /* to_sequence layout: [C, H, W] -> [W, C*H], feature c*H + h. */
  mgc_arch *a = gc_arch("input: [2, 3, 4]\nlayers: [{type: to_sequence}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  mgc_shape o = mgc_net_output_shape(net);
  assert_int_equal(o.ndim, 2);
  assert_int_equal(o.d[0], 4);
  assert_int_equal(o.d[1], 6);
  assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
  float x[24];
  for (int i = 0; i < 24; i++) x[i] = (float)i;
  const float *y = mgc_net_forward(net, x, 1, 0);
  for (int c = 0; c < 2; c++)
    for (int h = 0; h < 3; h++)
      for (int w = 0; w < 4; w++) assert_float_equal(y[w * 6 + c * 3 + h], x[(c * 3 + h) * 4 + w], 0);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_temporal_pool(void **st) {
  check_layer("input: [5, 4]\nlayers: [{type: temporal_pool, mode: mean}]\n", gc_defaults());
  check_layer("input: [5, 4]\nlayers: [{type: temporal_pool, mode: max}]\n", gc_defaults());
}

static void test_small_net(void **st) {
  gc_opts o = gc_defaults();
  o.batch = 3;
  check_net("input: [4, 6]\nlayers:\n"
            "  - {type: dense, out: 5}\n  - {type: tanh}\n  - {type: temporal_pool}\n"
            "  - {type: dropout, p: 0.2}\n  - {type: dense, out: 3}\n  - {type: softmax}\n",
            o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_rejects_zero),
      cmocka_unit_test(test_dense),
      cmocka_unit_test(test_dense_closed_form),
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_reshape),
      cmocka_unit_test(test_temporal_pool),
      cmocka_unit_test(test_small_net),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
