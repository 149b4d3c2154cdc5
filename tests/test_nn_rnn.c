/* Recurrent layers (gru, lstm): gradient checks of every option, outputs
 * computed by hand from the defining formulas, PyTorch's parameter names and
 * shapes, shape inference, refused options, and agreement between the
 * inference and training paths. */
#include "test_util.h"

#include <math.h>

#include "gradcheck.h"
/* internal: the vectorised nonlinearities the cells use */
#include "../core/nn/rnn_common.h"

static const char *k_types[] = {"gru", "lstm"};

/* The forward runs in float32, so the central difference carries noise of
 * about 1e-7 |L| / eps per entry. The weights of the bottom layer of a deep
 * stack have gradients near 1e-3 per entry, where eps = 1e-3 leaves 2-7 %
 * noise (measured); eps = 1e-2 brings it under 1 % while the truncation
 * error (eps^2) stays far below the tolerance. A wrong gradient is off by
 * O(1) either way. */
static gc_opts rnn_opts(void) {
  gc_opts o = gc_defaults();
  o.eps = 1e-2;
  return o;
}

/* The checker must not pass vacuously here either: zero analytic gradients
 * fail every tensor (input + 4 per direction). */
static void test_gradcheck_rejects_zero(void **st) {
  gc_opts o = gc_defaults();
  o.zero_analytic = 1;
  for (int i = 0; i < 2; i++) {
    char yaml[200];
    snprintf(yaml, sizeof yaml,
             "input: [5, 3]\nlayers: [{type: %s, hidden: 4, bidirectional: true}]\n",
             k_types[i]);
    assert_int_equal(gc_check_layer(yaml, &o), 9);
  }
}

static void check_both(const char *fmt, gc_opts o) {
  for (int i = 0; i < 2; i++) {
    char yaml[300];
    snprintf(yaml, sizeof yaml, fmt, k_types[i]);
    check_layer(yaml, o);
  }
}

static void test_grad_single(void **st) {
  check_both("input: [5, 3]\nlayers: [{type: %s, hidden: 4}]\n", rnn_opts());
  /* return: last, unidirectional: h at T-1 only */
  check_both("input: [6, 4]\nlayers: [{type: %s, hidden: 3, return: last}]\n", rnn_opts());
}

static void test_grad_bidirectional_stacked(void **st) {
  check_both("input: [6, 4]\nlayers: [{type: %s, hidden: 3, layers: 2, bidirectional: true}]\n",
             rnn_opts());
  check_both("input: [7, 3]\nlayers: [{type: %s, hidden: 5, layers: 2, bidirectional: true, "
             "return: last}]\n",
             rnn_opts());
  /* three layers, so a middle layer gets its gradient from a layer above */
  check_both("input: [5, 3]\nlayers: [{type: %s, hidden: 3, layers: 3, bidirectional: true}]\n",
             rnn_opts());
}

static void test_grad_dropout(void **st) {
  check_both("input: [6, 4]\nlayers: [{type: %s, hidden: 4, layers: 2, bidirectional: true, "
             "dropout: 0.3}]\n",
             rnn_opts());
  check_both("input: [5, 3]\nlayers: [{type: %s, hidden: 4, layers: 2, dropout: 0.3, "
             "return: last}]\n",
             rnn_opts());
}

static void test_grad_no_bias(void **st) {
  check_both("input: [5, 4]\nlayers: [{type: %s, hidden: 3, bias: false}]\n", rnn_opts());
  check_both("input: [6, 3]\nlayers: [{type: %s, hidden: 4, layers: 2, bidirectional: true, "
             "bias: false, return: last}]\n",
             rnn_opts());
}

static void test_grad_net(void **st) {
  gc_opts o = rnn_opts();
  check_net("input: [6, 4]\nlayers:\n"
            "  - {type: gru, hidden: 5, bidirectional: true, layers: 2, return: last}\n"
            "  - {type: dense, out: 3}\n  - {type: softmax}\n",
            o);
  o.batch = 3;
  check_net("input: [6, 4]\nlayers:\n"
            "  - {type: lstm, hidden: 4, bidirectional: true}\n"
            "  - {type: temporal_pool}\n  - {type: dense, out: 3}\n  - {type: softmax}\n",
            o);
}

/* ---- outputs from the formulas, H = F = 1, T = 2 --------------------- */

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Weights of one direction, gate-major as PyTorch stores them for H = 1. */
typedef struct {
  double wi[4], wh[4], bi[4], bh[4];
} cell1;

static double gru1(const cell1 *c, double x, double h) {
  double r = sig(c->wi[0] * x + c->bi[0] + c->wh[0] * h + c->bh[0]);
  double z = sig(c->wi[1] * x + c->bi[1] + c->wh[1] * h + c->bh[1]);
  double n = tanh(c->wi[2] * x + c->bi[2] + r * (c->wh[2] * h + c->bh[2]));
  return (1 - z) * n + z * h;
}

static double lstm1(const cell1 *c, double x, double h, double *cs) {
  double a[4];
  for (int k = 0; k < 4; k++) a[k] = c->wi[k] * x + c->bi[k] + c->wh[k] * h + c->bh[k];
  double i = sig(a[0]), f = sig(a[1]), g = tanh(a[2]), o = sig(a[3]);
  *cs = f * *cs + i * g;
  return o * tanh(*cs);
}

static void set_cell(mgc_net *net, const char *sfx, const cell1 *c, int gates) {
  const char *what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  const double *v[4] = {c->wi, c->wh, c->bi, c->bh};
  for (int i = 0; i < 4; i++) {
    char name[64];
    snprintf(name, sizeof name, "0.%s_l0%s", what[i], sfx);
    mgc_param *p = mgc_net_find_param(net, name);
    if (!p) fail_msg("no parameter %s", name);
    assert_int_equal(p->size, gates);
    for (int k = 0; k < gates; k++) p->value[k] = (float)v[i][k];
  }
}

static void hand_check(const char *type, int last) {
  int lstm = strcmp(type, "lstm") == 0, G = lstm ? 4 : 3;
  char yaml[200];
  snprintf(yaml, sizeof yaml,
           "input: [2, 1]\nlayers: [{type: %s, hidden: 1, bidirectional: true, return: %s}]\n",
           type, last ? "last" : "sequence");
  mgc_arch *a = gc_arch(yaml);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  cell1 fw = {{0.5, -0.3, 0.8, 0.2}, {-0.7, 0.4, 0.6, -0.5}, {0.1, -0.2, 0.3, 0.4},
              {-0.3, 0.25, -0.15, 0.05}};
  cell1 bw = {{-0.4, 0.9, -0.6, 0.3}, {0.35, -0.8, 0.45, 0.7}, {0.2, 0.1, -0.25, -0.1},
              {0.15, -0.35, 0.4, 0.3}};
  set_cell(net, "", &fw, G);
  set_cell(net, "_reverse", &bw, G);
  double x[2] = {0.9, -1.3}, hf[2], hb[2];
  double h = 0, c = 0;
  for (int t = 0; t < 2; t++) hf[t] = h = lstm ? lstm1(&fw, x[t], h, &c) : gru1(&fw, x[t], h);
  h = 0, c = 0;
  for (int t = 1; t >= 0; t--) hb[t] = h = lstm ? lstm1(&bw, x[t], h, &c) : gru1(&bw, x[t], h);
  float xf[2] = {(float)x[0], (float)x[1]};
  for (int training = 0; training < 2; training++) {
    assert_int_equal(mgc_net_plan(net, 1, training), MGC_OK);
    const float *y = mgc_net_forward(net, xf, 1, training);
    assert_non_null(y);
    if (last) {
      assert_float_equal(y[0], hf[1], 1e-6);
      assert_float_equal(y[1], hb[0], 1e-6);
    } else {
      for (int t = 0; t < 2; t++) {
        assert_float_equal(y[t * 2], hf[t], 1e-6);
        assert_float_equal(y[t * 2 + 1], hb[t], 1e-6);
      }
    }
  }
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_gru_by_hand(void **st) {
  hand_check("gru", 0);
  hand_check("gru", 1);
}

static void test_lstm_by_hand(void **st) {
  hand_check("lstm", 0);
  hand_check("lstm", 1);
}

/* ---- shapes, names, options ------------------------------------------ */

static mgc_layer *make(const char *yaml) {
  mgc_arch *a = gc_arch(yaml);
  mgc_rng rng;
  mgc_rng_seed(&rng, 1);
  mgc_layer *l = NULL;
  if (mgc_layer_new(&a->layers[0], &a->input, &rng, &l)) fail_msg("%s", mgc_error_message());
  mgc_arch_free(a);
  return l;
}

static void test_shapes(void **st) {
  struct {
    const char *opts;
    int ndim, d0, d1;
  } c[] = {{"hidden: 4", 2, 5, 4},
           {"hidden: 4, bidirectional: true", 2, 5, 8},
           {"hidden: 4, return: last", 1, 4, 0},
           {"hidden: 4, bidirectional: true, return: last, layers: 3", 1, 8, 0},
           {"hidden: 6, return: sequence, layers: 2", 2, 5, 6}};
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
      char yaml[200];
      snprintf(yaml, sizeof yaml, "input: [5, 3]\nlayers: [{type: %s, %s}]\n", k_types[t],
               c[i].opts);
      mgc_layer *l = make(yaml);
      assert_string_equal(l->ops->type, k_types[t]);
      assert_int_equal(l->out.ndim, c[i].ndim);
      assert_int_equal(l->out.d[0], c[i].d0);
      if (c[i].ndim == 2) assert_int_equal(l->out.d[1], c[i].d1);
      mgc_layer_free(l);
    }
}

/* state_dict order and shapes of torch.nn.GRU(3, 4, 2, bidirectional=True)
 * and the LSTM equivalent. */
static void test_param_names(void **st) {
  for (int t = 0; t < 2; t++) {
    int gh = (t ? 4 : 3) * 4;
    char yaml[200];
    snprintf(yaml, sizeof yaml,
             "input: [5, 3]\nlayers: [{type: %s, hidden: 4, layers: 2, bidirectional: true}]\n",
             k_types[t]);
    mgc_layer *l = make(yaml);
    assert_int_equal(l->n_params, 16);
    int i = 0;
    for (int k = 0; k < 2; k++)
      for (int d = 0; d < 2; d++) {
        const char *what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        int cols[4] = {k ? 8 : 3, 4, 0, 0};
        for (int w = 0; w < 4; w++, i++) {
          char name[64];
          snprintf(name, sizeof name, "0.%s_l%d%s", what[w], k, d ? "_reverse" : "");
          const mgc_param *p = &l->params[i];
          assert_string_equal(p->name, name);
          assert_non_null(p->grad);
          assert_int_equal(p->ndim, w < 2 ? 2 : 1);
          assert_int_equal(p->shape[0], gh);
          if (w < 2) assert_int_equal(p->shape[1], cols[w]);
          /* PyTorch's U(-1/sqrt(H), 1/sqrt(H)) */
          for (size_t e = 0; e < p->size; e++) assert_true(fabsf(p->value[e]) <= 0.5f);
        }
      }
    mgc_layer_free(l);
    snprintf(yaml, sizeof yaml, "input: [5, 3]\nlayers: [{type: %s, hidden: 4, bias: false}]\n",
             k_types[t]);
    l = make(yaml);
    assert_int_equal(l->n_params, 2);
    assert_string_equal(l->params[0].name, "0.weight_ih_l0");
    assert_string_equal(l->params[1].name, "0.weight_hh_l0");
    mgc_layer_free(l);
  }
}

static void expect_refused(const char *yaml, const char *needle) {
  mgc_arch *a = gc_arch(yaml);
  mgc_net *net = NULL;
  assert_int_not_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_null(net);
  const char *msg = mgc_error_message();
  if (!strstr(msg, needle)) fail_msg("message '%s' lacks '%s'", msg, needle);
  mgc_arch_free(a);
}

static void test_bad_options(void **st) {
  for (int t = 0; t < 2; t++) {
    char yaml[200];
    const char *bad[][2] = {
        {"input: [5, 3]\nlayers: [{type: %s}]\n", "'hidden'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 0}]\n", "'hidden'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, return: foo}]\n", "'return'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, layers: 0}]\n", "'layers'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, bidirectional: 2}]\n",
         "'bidirectional'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, layers: 2, dropout: 1.5}]\n",
         "'dropout'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, dropout: 0.2}]\n", "'dropout'"},
        {"input: [5, 3]\nlayers: [{type: %s, hidden: 4, units: 3}]\n", "'units'"},
        {"input: [2, 5, 3]\nlayers: [{type: %s, hidden: 4}]\n", "to_sequence"},
        {"input: [5]\nlayers: [{type: %s, hidden: 4}]\n", "[T, F]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      snprintf(yaml, sizeof yaml, bad[i][0], k_types[t]);
      expect_refused(yaml, bad[i][1]);
    }
  }
  /* the message points at the line of the offending option */
  expect_refused("input: [5, 3]\nlayers:\n  - type: gru\n    hidden: 4\n    return: foo\n",
                 "<test>:5:");
}

/* ---- inference path, batches, dx == NULL ------------------------------ */

/* The inference path (workspace buffers, no plan) and the training path
 * (cached buffers) give the same numbers, and every sample of a batch is
 * computed independently. */
static void test_paths_agree(void **st) {
  const char *cfg[] = {"hidden: 5, layers: 2, bidirectional: true",
                       "hidden: 5, layers: 3, bidirectional: true, return: last",
                       "hidden: 4, return: last", "hidden: 3, layers: 2, bias: false"};
  for (int t = 0; t < 2; t++)
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
      char yaml[200];
      snprintf(yaml, sizeof yaml, "input: [7, 3]\nlayers: [{type: %s, %s}]\n", k_types[t],
               cfg[c]);
      mgc_arch *a = gc_arch(yaml);
      mgc_net *inf, *tr;
      assert_int_equal(mgc_net_new(a, 0, 5, &inf), MGC_OK);
      assert_int_equal(mgc_net_new(a, 0, 5, &tr), MGC_OK);
      assert_int_equal(mgc_net_plan(inf, 3, 0), MGC_OK);
      assert_int_equal(mgc_net_plan(tr, 3, 1), MGC_OK);
      mgc_shape os = mgc_net_output_shape(inf);
      size_t ny = mgc_shape_size(&os), nx = 7 * 3;
      float x[3 * 21], yb[3 * 80];
      uint64_t seed = 77;
      for (size_t i = 0; i < 3 * nx; i++) x[i] = (float)(test_rand(&seed) % 2001) / 1000 - 1;
      const float *y = mgc_net_forward(inf, x, 3, 0);
      memcpy(yb, y, 3 * ny * sizeof(float));
      y = mgc_net_forward(tr, x, 3, 1);
      for (size_t i = 0; i < 3 * ny; i++) assert_float_equal(y[i], yb[i], 0);
      for (int b = 0; b < 3; b++) {
        y = mgc_net_forward(inf, x + b * nx, 1, 0);
        for (size_t i = 0; i < ny; i++) assert_float_equal(y[i], yb[b * ny + i], 1e-6);
      }
      /* backward without dx, at a smaller batch than planned */
      mgc_net_forward(tr, x, 2, 1);
      assert_int_equal(mgc_net_backward(tr, yb, NULL), MGC_OK);
      for (int i = 0; i < mgc_net_n_params(tr); i++) {
        const mgc_param *p = mgc_net_param(tr, i);
        for (size_t e = 0; e < p->size; e++) assert_true(isfinite(p->grad[e]));
      }
      mgc_net_free(inf);
      mgc_net_free(tr);
      mgc_arch_free(a);
    }
}

/* Dropout between layers acts in training only, with inverted scaling; the
 * masks come from the layer's own stream, so reseeding repeats them. */
static void test_dropout_between_layers(void **st) {
  mgc_arch *a = gc_arch("input: [4, 3]\nlayers: [{type: gru, hidden: 6, layers: 2, "
                        "dropout: 0.5}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 3, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 1, 1), MGC_OK);
  float x[12], y0[24], y1[24], y2[24];
  for (int i = 0; i < 12; i++) x[i] = (float)i / 6 - 1;
  memcpy(y0, mgc_net_forward(net, x, 1, 0), sizeof y0);
  mgc_net_reseed(net, 11);
  memcpy(y1, mgc_net_forward(net, x, 1, 1), sizeof y1);
  mgc_net_reseed(net, 11);
  memcpy(y2, mgc_net_forward(net, x, 1, 1), sizeof y2);
  assert_memory_equal(y1, y2, sizeof y1);
  assert_memory_not_equal(y0, y1, sizeof y0);
  assert_memory_equal(y0, mgc_net_forward(net, x, 1, 0), sizeof y0);
  mgc_net_free(net);
  mgc_arch_free(a);
}

/* The cells' own exp-based sigmoid and tanh against double precision over
 * the whole useful range, at the edges of their branches, saturated, and
 * with NaN (a diverging training run must show NaN, not a finite value). */
static void test_nonlinearities(void **st) {
  double worst_s = 0, worst_t = 0;
  for (int i = -200000; i <= 200000; i += 4) {
    float v[4];
    for (int k = 0; k < 4; k++) v[k] = (float)(i + k) * 5e-4f; /* [-100, 100] */
    rnn_v4 x = rnn_ld(v, 4), s = rnn_sigmoid(x), t = rnn_tanh(x);
    for (int k = 0; k < 4; k++) {
      double e = 1 / (1 + exp(-(double)v[k])), th = tanh((double)v[k]);
      if (e > 1e-30) worst_s = fmax(worst_s, fabs(s[k] - e) / e);
      if (v[k] != 0) worst_t = fmax(worst_t, fabs(t[k] - th) / fabs(th));
    }
  }
  assert_true(worst_s < 4e-7);
  assert_true(worst_t < 4e-7);
  float edge[4] = {0.625f, -0.625f, 1e-30f, -0.0f};
  rnn_v4 t = rnn_tanh(rnn_ld(edge, 4));
  assert_float_equal(t[0], tanh(0.625), 1e-7);
  assert_float_equal(t[1], -tanh(0.625), 1e-7);
  assert_true(t[2] == 1e-30f);
  assert_true(t[3] == 0.0f && signbit(t[3]));
  float big[4] = {1e30f, -1e30f, INFINITY, -INFINITY};
  rnn_v4 s = rnn_sigmoid(rnn_ld(big, 4));
  t = rnn_tanh(rnn_ld(big, 4));
  for (int k = 0; k < 4; k++) {
    assert_float_equal(s[k], (k % 2 ? 0.0f : 1.0f), 1e-30);
    assert_float_equal(t[k], (k % 2 ? -1.0f : 1.0f), 0);
  }
  float nan3[3] = {NAN, 0.5f, NAN}, out[4] = {9, 9, 9, 9};
  s = rnn_sigmoid(rnn_ld(nan3, 3));
  t = rnn_tanh(rnn_ld(nan3, 3));
  assert_true(isnan(s[0]) && isnan(t[0]) && isnan(s[2]) && isnan(t[2]));
  assert_float_equal(s[1], 1 / (1 + exp(-0.5)), 1e-7);
  rnn_st(out, s, 3); /* a partial store leaves the rest alone */
  assert_float_equal(out[3], 9.0f, 0);
}

/* NaN in the input reaches the output of both cells. */
static void test_nan_propagates(void **st) {
  for (int t = 0; t < 2; t++) {
    char yaml[200];
    snprintf(yaml, sizeof yaml, "input: [3, 2]\nlayers: [{type: %s, hidden: 5}]\n", k_types[t]);
    mgc_arch *a = gc_arch(yaml);
    mgc_net *net;
    assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
    assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
    float x[6] = {0.1f, 0.2f, NAN, 0.3f, 0.4f, 0.5f};
    const float *y = mgc_net_forward(net, x, 1, 0);
    for (int k = 0; k < 5; k++) assert_false(isnan(y[k])); /* t = 0: before the NaN */
    for (int k = 5; k < 15; k++) assert_true(isnan(y[k]));
    mgc_net_free(net);
    mgc_arch_free(a);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_rejects_zero),
      cmocka_unit_test(test_grad_single),
      cmocka_unit_test(test_grad_bidirectional_stacked),
      cmocka_unit_test(test_grad_dropout),
      cmocka_unit_test(test_grad_no_bias),
      cmocka_unit_test(test_grad_net),
      cmocka_unit_test(test_gru_by_hand),
      cmocka_unit_test(test_lstm_by_hand),
      cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_param_names),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_paths_agree),
      cmocka_unit_test(test_dropout_between_layers),
      cmocka_unit_test(test_nonlinearities),
      cmocka_unit_test(test_nan_propagates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
