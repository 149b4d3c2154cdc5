/* Loss, optimisers, schedules, and small networks that must learn. */
#include "test_util.h"

#include "gradcheck.h"
#include "mgc/nn/loss.h"
#include "mgc/train/optim.h"
#include "mgc/nn/schedule.h"

/* cmocka 1.1 has no assert_double_equal. */
#define assert_double_equal(a, b, eps)                                                   \
  do {                                                                                   \
    double a_ = (a), b_ = (b);                                                           \
    if (!(fabs(a_ - b_) <= (eps))) fail_msg("%.12g != %.12g (eps %g)", a_, b_, (double)(eps)); \
  } while (0)

/* ---- loss ---------------------------------------------------------------- */

static void loss_gradcheck(const int *labels, const float *targets, const float *w, float s,
                           int zero) {
  enum { B = 3, C = 5 };
  mgc_rng rng;
  mgc_rng_seed(&rng, 5);
  float z[B * C], d[B * C], a[B * C];
  double num[B * C];
  for (int i = 0; i < B * C; i++) z[i] = (float)mgc_rng_normal(&rng);
  mgc_softmax_ce(z, B, C, labels, targets, w, s, d, NULL);
  for (int i = 0; i < B * C; i++) {
    float keep = z[i];
    z[i] = keep + 1e-3f;
    double lp = mgc_softmax_ce(z, B, C, labels, targets, w, s, NULL, NULL);
    z[i] = keep - 1e-3f;
    double lm = mgc_softmax_ce(z, B, C, labels, targets, w, s, NULL, NULL);
    z[i] = keep;
    num[i] = (lp - lm) / 2e-3;
    a[i] = zero ? 0.0f : d[i];
  }
  int ok = gc_compare("softmax_ce", a, num, B * C, 1e-2);
  if (zero) {
    assert_false(ok);
  } else {
    assert_true(ok);
  }
}

static void test_loss_gradients(void **st) {
  int labels[3] = {0, 4, 2};
  float w[5] = {1, 2, 0.5f, 1, 3};
  float t[15] = {0.7f, 0.3f, 0, 0, 0, 0, 0, 0, 0.5f, 0.5f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
  loss_gradcheck(labels, NULL, NULL, 0, 0);
  loss_gradcheck(labels, NULL, w, 0, 0);
  loss_gradcheck(labels, NULL, w, 0.1f, 0);
  loss_gradcheck(NULL, t, NULL, 0, 0);
  loss_gradcheck(NULL, t, w, 0.2f, 0);
  loss_gradcheck(labels, NULL, w, 0.1f, 1); /* zero analytic gradient must fail */
}

static void test_loss_values(void **st) {
  float z[4] = {0, 0, 0, 0};
  int y = 2;
  assert_double_equal(mgc_softmax_ce(z, 1, 4, &y, NULL, NULL, 0, NULL, NULL), log(4.0), 1e-12);
  /* Confident and right: loss -> 0; smoothing keeps it above s * log-ish. */
  float z2[3] = {20, 0, 0};
  int y2 = 0;
  assert_true(mgc_softmax_ce(z2, 1, 3, &y2, NULL, NULL, 0, NULL, NULL) < 1e-8);
  double ls = mgc_softmax_ce(z2, 1, 3, &y2, NULL, NULL, 0.3f, NULL, NULL);
  /* (1-s)*~0 + s/3*(~0 + 20 + 20) */
  assert_double_equal(ls, 0.1 * 40.0, 1e-6);
  /* Weighted mean divides by the summed target weights. */
  float z3[6] = {1, 2, 3, 3, 2, 1};
  int y3[2] = {0, 2};
  float w[3] = {2, 1, 0.5f};
  double l0 = mgc_softmax_ce(z3, 1, 3, &y3[0], NULL, NULL, 0, NULL, NULL);
  double l1 = mgc_softmax_ce(z3 + 3, 1, 3, &y3[1], NULL, NULL, 0, NULL, NULL);
  assert_double_equal(mgc_softmax_ce(z3, 2, 3, y3, NULL, w, 0, NULL, NULL),
                      (2 * l0 + 0.5 * l1) / 2.5, 1e-9);
}

/* ---- optimisers -------------------------------------------------------- */

static mgc_net *tiny_net(mgc_arch **a) {
  *a = gc_arch("input: [2]\nlayers: [{type: dense, out: 1, bias: false}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(*a, 0, 1, &net), MGC_OK);
  return net;
}

static void test_optim_closed_form(void **st) {
  mgc_arch *a;
  mgc_net *net = tiny_net(&a);
  mgc_param *w = mgc_net_param(net, 0);
  mgc_optim_params p;
  mgc_optim *o;

  /* Adam: the first step moves each weight by lr * g / (|g| + eps). */
  mgc_optim_params_default(&p);
  p.lr = 0.01;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  w->value[0] = 1, w->value[1] = -1;
  w->grad[0] = 0.5f, w->grad[1] = -2;
  mgc_optim_step(o);
  assert_float_equal(w->value[0], 0.99f, 1e-6);
  assert_float_equal(w->value[1], -0.99f, 1e-6);
  mgc_optim_free(o);

  /* SGD with momentum 0.9: buf = g, then 0.9 buf + g. */
  memset(&p, 0, sizeof p);
  p.kind = MGC_OPTIM_SGD;
  p.lr = 0.1;
  p.momentum = 0.9;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  w->value[0] = 1;
  w->grad[0] = 1;
  mgc_optim_step(o); /* 1 - 0.1 */
  assert_float_equal(w->value[0], 0.9f, 1e-6);
  w->grad[0] = 1;
  mgc_optim_step(o); /* buf 1.9 -> 0.9 - 0.19 */
  assert_float_equal(w->value[0], 0.71f, 1e-6);
  mgc_optim_free(o);

  /* L2 decay (SGD) adds wd * w to the gradient; AdamW shrinks w first. */
  p.momentum = 0;
  p.weight_decay = 0.5;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  w->value[0] = 2;
  w->grad[0] = 0;
  mgc_optim_step(o);
  assert_float_equal(w->value[0], 1.9f, 1e-6);
  mgc_optim_free(o);
  mgc_optim_params_default(&p);
  p.kind = MGC_OPTIM_ADAMW;
  p.lr = 0.1;
  p.weight_decay = 0.5;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  w->value[0] = 2;
  w->grad[0] = 1;
  w->value[1] = 0;
  w->grad[1] = 0;
  mgc_optim_step(o); /* 2 * (1 - 0.05) - 0.1 */
  assert_float_equal(w->value[0], 1.8f, 1e-5);
  mgc_optim_free(o);

  /* Clipping scales the global norm down to the limit. */
  memset(&p, 0, sizeof p);
  p.kind = MGC_OPTIM_SGD;
  p.lr = 1;
  p.clip_norm = 1;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  w->value[0] = w->value[1] = 0;
  w->grad[0] = 3, w->grad[1] = 4;
  assert_double_equal(mgc_optim_step(o), 5.0, 1e-9);
  assert_float_equal(w->value[0], -0.6f, 1e-5);
  assert_float_equal(w->value[1], -0.8f, 1e-5);
  mgc_optim_free(o);

  p.lr = -1;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_EINVAL);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_schedules(void **st) {
  mgc_schedule s;
  mgc_schedule_init(&s, MGC_SCHED_STEP, 1.0);
  s.step_size = 3;
  s.gamma = 0.5;
  assert_double_equal(mgc_schedule_lr(&s, 2, NAN), 1.0, 0);
  assert_double_equal(mgc_schedule_lr(&s, 3, NAN), 0.5, 0);
  assert_double_equal(mgc_schedule_lr(&s, 7, NAN), 0.25, 0);
  mgc_schedule_init(&s, MGC_SCHED_COSINE, 1.0);
  s.total_epochs = 10;
  assert_double_equal(mgc_schedule_lr(&s, 0, NAN), 1.0, 1e-12);
  assert_double_equal(mgc_schedule_lr(&s, 5, NAN), 0.5, 1e-12);
  assert_double_equal(mgc_schedule_lr(&s, 10, NAN), 0.0, 1e-12);
  /* Plateau: cut by 10x once the loss has not improved for patience+1 epochs. */
  mgc_schedule_init(&s, MGC_SCHED_PLATEAU, 1e-3);
  s.patience = 2;
  double losses[] = {1.0, 0.9, 0.95, 0.91, 0.92, 0.8, 0.85, 0.86, 0.87};
  double want[] = {1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5};
  for (int e = 0; e < 9; e++) assert_double_equal(mgc_schedule_lr(&s, e + 1, losses[e]), want[e], 1e-15);
  assert_int_equal(mgc_schedule_kind_from_name("plateau"), MGC_SCHED_PLATEAU);
  assert_int_equal(mgc_schedule_kind_from_name("nope"), -1);
}

/* ---- learning ------------------------------------------------------------ */

/* Full-batch or mini-batch training for `epochs` passes; returns accuracy. */
static double train_eval(mgc_net *net, mgc_optim *o, const float *x, const int *y, int n,
                         int batch, int epochs, int classes) {
  mgc_shape si = mgc_net_input_shape(net);
  size_t d = mgc_shape_size(&si);
  float *dz = malloc((size_t)batch * classes * sizeof(float));
  assert_non_null(dz);
  assert_int_equal(mgc_net_plan(net, batch, 1), MGC_OK);
  for (int e = 0; e < epochs; e++) {
    for (int b = 0; b + batch <= n; b += batch) {
      const float *z = mgc_net_forward(net, x + (size_t)b * d, batch, 1);
      assert_non_null(z);
      mgc_softmax_ce(z, batch, classes, y + b, NULL, NULL, 0, dz, NULL);
      assert_int_equal(mgc_net_backward(net, dz, NULL), MGC_OK);
      mgc_optim_step(o);
    }
  }
  int right = 0;
  for (int b = 0; b + batch <= n; b += batch) {
    const float *p = mgc_net_predict(net, x + (size_t)b * d, batch);
    for (int i = 0; i < batch; i++) {
      int best = 0;
      for (int k = 1; k < classes; k++)
        if (p[i * classes + k] > p[i * classes + best]) best = k;
      right += best == y[b + i];
    }
  }
  free(dz);
  return (double)right / (n / batch * batch);
}

static void test_xor_mlp(void **st) {
  mgc_arch *a = gc_arch("input: [2]\nlayers:\n  - {type: dense, out: 8}\n  - {type: tanh}\n"
                        "  - {type: dense, out: 2}\n  - {type: softmax}\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 3, &net), MGC_OK);
  float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
  int y[4] = {0, 1, 1, 0};
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  p.lr = 0.05;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  assert_double_equal(train_eval(net, o, x, y, 4, 4, 300, 2), 1.0, 0);
  mgc_optim_free(o);
  mgc_net_free(net);
  mgc_arch_free(a);
}

/* Same seed, same data: bit-identical weights after training. */
static void test_deterministic(void **st) {
  float first[64];
  for (int run = 0; run < 2; run++) {
    mgc_arch *a = gc_arch("input: [2]\nlayers:\n  - {type: dense, out: 8}\n"
                          "  - {type: dropout, p: 0.3}\n  - {type: relu}\n"
                          "  - {type: dense, out: 2}\n");
    mgc_net *net;
    assert_int_equal(mgc_net_new(a, 0, 11, &net), MGC_OK);
    float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    int y[4] = {0, 1, 1, 0};
    mgc_optim_params p;
    mgc_optim_params_default(&p);
    mgc_optim *o;
    assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
    train_eval(net, o, x, y, 4, 2, 20, 2);
    mgc_param *w = mgc_net_param(net, 0);
    if (run == 0) {
      memcpy(first, w->value, 16 * sizeof(float));
    } else {
      assert_memory_equal(first, w->value, 16 * sizeof(float));
    }
    mgc_optim_free(o);
    mgc_net_free(net);
    mgc_arch_free(a);
  }
}


/* Accuracy of a trained net on held-out samples. */
static double accuracy(mgc_net *net, const float *x, const int *y, int n, int classes) {
  mgc_shape si = mgc_net_input_shape(net);
  size_t d = mgc_shape_size(&si);
  int right = 0;
  assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
  for (int i = 0; i < n; i++) {
    const float *p = mgc_net_predict(net, x + (size_t)i * d, 1);
    int best = 0;
    for (int k = 1; k < classes; k++)
      if (p[k] > p[best]) best = k;
    right += best == y[i];
  }
  return (double)right / n;
}

/* The class is the sign of the first step of a noisy sequence; the net
 * only sees the last step's output, so it must carry it through time. */
static void make_sequences(mgc_rng *r, float *x, int *y, int n, int t) {
  for (int i = 0; i < n; i++) {
    y[i] = (int)mgc_rng_below(r, 2);
    for (int k = 0; k < t; k++)
      for (int f = 0; f < 2; f++) x[((size_t)i * t + k) * 2 + f] = (float)mgc_rng_normal(r);
    x[(size_t)i * t * 2] = y[i] ? 1.5f : -1.5f;
  }
}

static void sequence_task(const char *cell) {
  enum { T = 12, N = 256, NT = 200 };
  char yaml[300];
  snprintf(yaml, sizeof yaml,
           "input: [%d, 2]\nlayers:\n  - {type: %s, hidden: 16, return: last}\n"
           "  - {type: dense, out: 2}\n  - {type: softmax}\n",
           T, cell);
  mgc_arch *a = gc_arch(yaml);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 5, &net), MGC_OK);
  mgc_rng r;
  mgc_rng_seed(&r, 77);
  float *x = malloc(N * T * 2 * sizeof(float)), *xt = malloc(NT * T * 2 * sizeof(float));
  int y[N], yt[NT];
  make_sequences(&r, x, y, N, T);
  make_sequences(&r, xt, yt, NT, T);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  p.lr = 0.01;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  double before = accuracy(net, xt, yt, NT, 2);
  train_eval(net, o, x, y, N, 16, 30, 2);
  double after = accuracy(net, xt, yt, NT, 2);
  fprintf(stderr, "  %s sequence task: held-out accuracy %.3f -> %.3f\n", cell, before, after);
  assert_true(after >= 0.95);
  mgc_optim_free(o);
  mgc_net_free(net);
  mgc_arch_free(a);
  free(x);
  free(xt);
}

static void test_sequence_gru(void **st) { sequence_task("gru"); }
static void test_sequence_lstm(void **st) { sequence_task("lstm"); }

/* Synthetic "spectrograms" [1, 32, 40] (bands x frames) in four classes
 * that differ in time-frequency shape, at random positions, in noise:
 * rising sweep, falling sweep, steady tone, regular clicks. */
static void make_spectrograms(mgc_rng *r, float *x, int *y, int n) {
  enum { H = 32, W = 40 };
  for (int i = 0; i < n; i++) {
    float *s = x + (size_t)i * H * W;
    for (int k = 0; k < H * W; k++) s[k] = (float)(0.5 * mgc_rng_normal(r));
    int c = y[i] = (int)mgc_rng_below(r, 4);
    int h0 = 4 + (int)mgc_rng_below(r, 12), w0 = (int)mgc_rng_below(r, 10);
    for (int w = w0; w < W; w++) {
      int h = c == 0 ? h0 + (w - w0) / 3 : c == 1 ? h0 + 12 - (w - w0) / 3 : h0;
      if (c == 3) {
        if ((w - w0) % 6 == 0)
          for (int k = 0; k < H; k++) s[k * W + w] += 2.0f;
      } else if (h >= 0 && h < H) {
        s[h * W + w] += 2.0f;
      }
    }
  }
}

static void test_crnn_spectrograms(void **st) {
  enum { N = 320, NT = 160 };
  mgc_arch *a = gc_arch("input: [1, 32, 40]\nclasses: 4\nlayers:\n"
                        "  - {type: conv2d, out: 8, kernel: 3, padding: 1}\n"
                        "  - {type: batchnorm}\n  - {type: relu}\n"
                        "  - {type: maxpool2d, kernel: [2, 2]}\n"
                        "  - {type: conv2d, out: 16, kernel: 3, padding: 1}\n"
                        "  - {type: batchnorm}\n  - {type: relu}\n"
                        "  - {type: maxpool2d, kernel: [4, 2]}\n  - {type: dropout, p: 0.1}\n"
                        "  - {type: to_sequence}\n"
                        "  - {type: gru, hidden: 16, bidirectional: true, return: last}\n"
                        "  - {type: dense, out: classes}\n  - {type: softmax}\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 9, &net), MGC_OK);
  mgc_rng r;
  mgc_rng_seed(&r, 31);
  float *x = malloc((size_t)N * 32 * 40 * sizeof(float));
  float *xt = malloc((size_t)NT * 32 * 40 * sizeof(float));
  int y[N], yt[NT];
  make_spectrograms(&r, x, y, N);
  make_spectrograms(&r, xt, yt, NT);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  p.lr = 3e-3;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  double before = accuracy(net, xt, yt, NT, 4);
  train_eval(net, o, x, y, N, 16, 12, 4);
  double after = accuracy(net, xt, yt, NT, 4);
  fprintf(stderr, "  CRNN spectrogram task: held-out accuracy %.3f -> %.3f\n", before, after);
  assert_true(after >= 0.95);
  mgc_optim_free(o);
  mgc_net_free(net);
  mgc_arch_free(a);
  free(x);
  free(xt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss_gradients), cmocka_unit_test(test_loss_values),
      cmocka_unit_test(test_optim_closed_form), cmocka_unit_test(test_schedules),
      cmocka_unit_test(test_xor_mlp),         cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_sequence_gru),    cmocka_unit_test(test_sequence_lstm),
      cmocka_unit_test(test_crnn_spectrograms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
