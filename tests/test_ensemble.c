/* Ensembles: the combination rules against hand-computed values, the fits
 * (weighted mean, stacking) against their optimality conditions and a
 * reference solution, temperature scaling (by hand, its fit recovering a
 * known temperature, the table's calibrated columns on real cv files), the
 * YAML file and its music detector (resolved, loaded, refused, written back,
 * replaced), and mgc-eval --ensemble end to end. */
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_count.h"
#include "mgc/ensemble/combine.h"
#include "mgc/train/crossval.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/train/ensemble_eval.h"
#include "test_util.h"

#if !defined(MGC_EVAL_BIN) || !defined(MGC_SOURCE_DIR)
#error "MGC_EVAL_BIN and MGC_SOURCE_DIR must be defined"
#endif

#define NEAR(a, b) assert_float_equal((a), (b), 1e-6)

static void near_vec(const float *got, const double *want, int n) {
  for (int i = 0; i < n; i++)
    if (fabs(got[i] - want[i]) > 1e-6) fail_msg("[%d]: got %.9g, want %.9g", i, got[i], want[i]);
}

/* Combine with a rule (no parameters) and check the output and decision. */
static void expect(mgc_comb_rule rule, int M, const float *p, const double *want, int cls) {
  mgc_combiner c = {rule, M, 3, NULL, NULL, NULL, 0};
  assert_int_equal(mgc_combiner_check(&c), MGC_OK);
  float out[3];
  assert_int_equal(mgc_combine(&c, p, out), cls);
  near_vec(out, want, 3);
}

/* ---- the rules, by hand ----
 * p1 = [.5 .3 .2] (argmax 0), p2 = [.2 .5 .3] (1), p3 = [.1 .2 .7] (2), p4 = [.4 .35 .25] (0) */
#define P1 .5f, .3f, .2f
#define P2 .2f, .5f, .3f
#define P3 .1f, .2f, .7f
#define P4 .4f, .35f, .25f

static void test_mean_weighted(void **st) {
  (void)st;
  static const float p12[] = {P1, P2}, p123[] = {P1, P2, P3};
  /* mean of p1, p2: [.35 .4 .25] */
  expect(MGC_COMB_MEAN, 2, p12, (const double[]){.35, .4, .25}, 1);
  /* 3 members: [.8/3 1/3 1.2/3] */
  expect(MGC_COMB_MEAN, 3, p123, (const double[]){.8 / 3, 1. / 3, .4}, 2);
  /* weighted .75/.25: [.425 .35 .225]: the decision follows the heavier member */
  const double w[2] = {.75, .25};
  mgc_combiner c = {MGC_COMB_WEIGHTED, 2, 3, w, NULL, NULL, 0};
  assert_int_equal(mgc_combiner_check(&c), MGC_OK);
  float out[3];
  assert_int_equal(mgc_combine(&c, p12, out), 0);
  near_vec(out, (const double[]){.425, .35, .225}, 3);
  /* weights must be >= 0 and sum to 1 */
  const double bad1[2] = {.5, .6}, bad2[2] = {1.5, -.5};
  c.weights = bad1;
  assert_int_equal(mgc_combiner_check(&c), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "sum to 1.1"));
  c.weights = bad2;
  assert_int_equal(mgc_combiner_check(&c), MGC_EINVAL);
  c.weights = NULL;
  assert_int_equal(mgc_combiner_check(&c), MGC_EINVAL);
}

static void test_product(void **st) {
  (void)st;
  static const float p12[] = {P1, P2}, p123[] = {P1, P2, P3};
  /* [.10 .15 .06] / .31 */
  expect(MGC_COMB_PRODUCT, 2, p12, (const double[]){.1 / .31, .15 / .31, .06 / .31}, 1);
  /* [.01 .03 .042] / .082 */
  expect(MGC_COMB_PRODUCT, 3, p123, (const double[]){.01 / .082, .03 / .082, .042 / .082}, 2);
  /* An exact 0 is floored at 1e-12, so it does not veto alone:
   * [1 0 0] x [0 .5 .5] -> [1e-12, .5e-12, .5e-12] -> [.5 .25 .25] */
  static const float z[] = {1, 0, 0, 0, .5f, .5f};
  expect(MGC_COMB_PRODUCT, 2, z, (const double[]){.5, .25, .25}, 0);
}

static void test_agree(void **st) {
  (void)st;
  /* Agreement (p1, p4 both say 0): the class, with the mean distribution. */
  static const float p14[] = {P1, P4};
  expect(MGC_COMB_AGREE, 2, p14, (const double[]){.45, .325, .225}, 0);
  /* Disagreement: the single highest probability wins, with its member's
   * distribution: p1 vs p3 -> .7 (p3, class 2). */
  static const float p13[] = {P1, P3};
  expect(MGC_COMB_AGREE, 2, p13, (const double[]){.1, .2, .7}, 2);
  /* Where the mean would say otherwise: [.52 .48 0] vs [0 .51 .49]: mean
   * says 1 (.495), rule 3.2 says 0 (.52 is the highest probability). */
  static const float q[] = {.52f, .48f, 0, 0, .51f, .49f};
  expect(MGC_COMB_AGREE, 2, q, (const double[]){.52, .48, 0}, 0);
  /* A tie between members' maxima (.5 for class 0 in p1, for class 1 in
   * p2): the lower class, i.e. p1. */
  static const float p12[] = {P1, P2};
  expect(MGC_COMB_AGREE, 2, p12, (const double[]){.5, .3, .2}, 0);
  /* 3 members, all different (0, 1, 2): .7 of p3. */
  static const float p123[] = {P1, P2, P3};
  expect(MGC_COMB_AGREE, 3, p123, (const double[]){.1, .2, .7}, 2);
  /* 3 members, two agree but not all: still the most confident (.5 of p1). */
  static const float p142[] = {P1, P4, P2};
  expect(MGC_COMB_AGREE, 3, p142, (const double[]){.5, .3, .2}, 0);
  /* One member: itself. */
  expect(MGC_COMB_AGREE, 1, p13, (const double[]){.5, .3, .2}, 0);
}

static void test_vote(void **st) {
  (void)st;
  /* p1 (0), p2 (1), p4 (0): votes [2 1 0] beat the mean, which says 1:
   * mean [1.1/3 1.15/3 .75/3]; out = (votes + mean) / 4 */
  static const float p124[] = {P1, P2, P4};
  expect(MGC_COMB_VOTE, 3, p124,
         (const double[]){(2 + 1.1 / 3) / 4, (1 + 1.15 / 3) / 4, (.75 / 3) / 4}, 0);
  /* A 1:1 tie goes to the higher mean: p1 (0) vs p2 (1), mean [.35 .4 .25] -> 1 */
  static const float p12[] = {P1, P2};
  expect(MGC_COMB_VOTE, 2, p12, (const double[]){1.35 / 3, 1.4 / 3, .25 / 3}, 1);
  /* ... and with the mean tied as well, to the lower class. */
  static const float t[] = {.6f, .4f, 0, .4f, .6f, 0};
  expect(MGC_COMB_VOTE, 2, t, (const double[]){.5, .5, 0}, 0);
  /* A three-way tie (0, 1, 2) goes to the highest mean: class 2 (1.2/3). */
  static const float p123[] = {P1, P2, P3};
  expect(MGC_COMB_VOTE, 3, p123, (const double[]){(1 + .8 / 3) / 4, (1 + 1. / 3) / 4, (1 + .4) / 4},
         2);
}

static void test_stack_apply(void **st) {
  (void)st;
  /* 2 members, 2 classes: x = [.8 .2 | .3 .7], W = [[1 0 0 1], [0 1 1 0]],
   * b = [0 .5]: logits 1.5 and 1.0 -> softmax [1/(1+e^-.5), 1/(1+e^.5)]. */
  static const float x[] = {.8f, .2f, .3f, .7f};
  const double W[8] = {1, 0, 0, 1, 0, 1, 1, 0}, b[2] = {0, .5};
  mgc_combiner c = {MGC_COMB_STACK, 2, 2, NULL, W, b, 0};
  assert_int_equal(mgc_combiner_check(&c), MGC_OK);
  float out[2];
  assert_int_equal(mgc_combine(&c, x, out), 0);
  NEAR(out[0], 1 / (1 + exp(-.5)));
  NEAR(out[1], 1 / (1 + exp(.5)));
  c.coef = NULL;
  assert_int_equal(mgc_combiner_check(&c), MGC_EINVAL);
  assert_int_equal(mgc_comb_rule_parse("agree"), MGC_COMB_AGREE);
  assert_int_equal(mgc_comb_rule_parse("median"), -1);
  assert_string_equal(mgc_comb_rule_name(MGC_COMB_STACK), "stack");
}

/* ---- the fits ---- */

/* n tracks of M=2 members, C classes: member 0 says the truth with
 * probability mass >= .6, member 1 is noise (or, with shift, informative
 * about class (y + shift) % C). */
static void synth(uint64_t *s, int n, int C, int shift, float *p, int *y, int noise_first) {
  for (int i = 0; i < n; i++) {
    y[i] = (int)(test_rand(s) % (unsigned)C);
    for (int m = 0; m < 2; m++) {
      float *r = p + ((size_t)i * 2 + m) * C;
      double sum = 0;
      for (int k = 0; k < C; k++) sum += r[k] = (float)(0.05 + (test_rand(s) % 1000) / 1000.0);
      for (int k = 0; k < C; k++) r[k] = (float)(r[k] / sum);
      int informative = noise_first ? m == 1 : m == 0;
      if (informative) {
        for (int k = 0; k < C; k++) r[k] *= .4f;
        r[(y[i] + shift) % C] += .6f;
      }
    }
  }
}

static void test_fit_weights(void **st) {
  (void)st;
  enum { N = 200, C = 4 };
  static float p[N * 2 * C];
  static int y[N];
  uint64_t s = 42;
  synth(&s, N, C, 0, p, y, 0);
  mgc_comb_data d = {N, 2, C, p, y};
  double w[2], g[2];
  mgc_comb_fit_info info;
  assert_int_equal(mgc_comb_fit_weights(&d, w, &info), MGC_OK);
  printf("weights %.6f %.6f, %d EM steps, NLL %.6f, KKT residual %.2g\n", w[0], w[1],
         info.iterations, info.objective, info.grad_norm);
  assert_true(w[0] > 0.9);
  NEAR(w[0] + w[1], 1);
  assert_true(info.converged);
  assert_true(info.grad_norm < 1e-6);
  /* Optimality (KKT) checked independently: -grad = 1 on the support, <= 1 off it. */
  mgc_comb_weights_objective(&d, w, g);
  for (int m = 0; m < 2; m++) {
    if (w[m] > 1e-6) assert_float_equal(-g[m], 1, 1e-6);
    else assert_true(-g[m] <= 1 + 1e-9);
  }
  /* The members swapped: the weight follows the informative one. */
  s = 42;
  synth(&s, N, C, 0, p, y, 1);
  assert_int_equal(mgc_comb_fit_weights(&d, w, &info), MGC_OK);
  assert_true(w[1] > 0.9);
  /* An interior optimum: each member is right on half of the tracks (.7 on
   * the truth) and wrong on the other half (.1): by symmetry w = (.5, .5). */
  for (int i = 0; i < N; i++)
    for (int m = 0; m < 2; m++) {
      float *r = p + ((size_t)i * 2 + m) * C;
      float t = (i + m) % 2 ? .1f : .7f;
      for (int k = 0; k < C; k++) r[k] = k == y[i] ? t : (1 - t) / (C - 1);
    }
  assert_int_equal(mgc_comb_fit_weights(&d, w, &info), MGC_OK);
  mgc_comb_weights_objective(&d, w, g);
  printf("interior weights %.6f %.6f, -grad %.9f %.9f\n", w[0], w[1], -g[0], -g[1]);
  assert_float_equal(w[0], .5, 1e-9);
  assert_float_equal(-g[0], 1, 1e-6);
  assert_float_equal(-g[1], 1, 1e-6);
}

/* The reference: 12 tracks, 2 members, 3 classes (y = i % 3); member 0 is
 * noise, member 1 puts .6 extra on class (y + 1) % 3, so only a linear map
 * that undoes the shift decides well. Fitted offline with numpy (Newton's
 * method in float64 on these float32 values, l2 = 0.05, to a gradient of
 * 3e-17; intercept in the sum-zero gauge) by tests/ensemble_stack_ref.py. */
static const float REF_P[12 * 6] = {
    0.512450159f, 0.092558831f, 0.39499101f, 0.0160645731f, 0.642962813f, 0.340972602f,
    0.442369998f, 0.318117499f, 0.239512503f, 0.135211945f, 0.080011785f, 0.78477627f,
    0.277385116f, 0.328652322f, 0.393962562f, 0.869259357f, 0.0997251943f, 0.0310154334f,
    0.538349926f, 0.447219133f, 0.014430928f, 0.120148562f, 0.753521919f, 0.126329541f,
    0.57522577f, 0.362667114f, 0.0621071048f, 0.322414994f, 0.052646108f, 0.624938905f,
    0.188278332f, 0.767726064f, 0.0439956188f, 0.73527807f, 0.111103721f, 0.153618202f,
    0.792320013f, 0.12400873f, 0.083671242f, 0.0648762435f, 0.772905111f, 0.16221866f,
    0.0919815376f, 0.802322805f, 0.10569565f, 0.10455925f, 0.276218086f, 0.619222641f,
    0.148193568f, 0.429753453f, 0.422052979f, 0.713056982f, 0.0711623654f, 0.215780675f,
    0.209675461f, 0.682513535f, 0.107811004f, 0.0500147492f, 0.831259549f, 0.118725732f,
    0.280036181f, 0.485413522f, 0.234550297f, 0.0440950319f, 0.212986112f, 0.742918849f,
    0.143015102f, 0.374083072f, 0.482901812f, 0.782981873f, 0.0238721706f, 0.193145946f};
static const double REF_W[3 * 6] = {
    0.461320697547529,   -0.330363860685072, -0.130956844142461,
    -0.736338909059851,  1.35363719165531,   -0.617298243676227,
    0.00962349272370884, 0.221817864695783,  -0.231441364041951,
    -0.625978138808647,  -0.67915062659919,  1.30512873661321,
    -0.470944190271239,  0.108545995989288,  0.362398208184412,
    1.3623170478685,     -0.674486565056124, -0.68783049293698};
static const double REF_B[3] = {0.00148531608814843, -0.00583763955430609, 0.00435232346615701};
static const double REF_F = 0.648271639792744;

static void test_fit_stack_reference(void **st) {
  (void)st;
  int y[12];
  for (int i = 0; i < 12; i++) y[i] = i % 3;
  mgc_comb_data d = {12, 2, 3, REF_P, y};
  double W[18], b[3], gW[18], gb[3];
  mgc_comb_fit_info info;
  assert_int_equal(mgc_comb_fit_stack(&d, 0.05, W, b, &info), MGC_OK);
  printf("stack: %d L-BFGS iterations, objective %.15g, |grad| %.2g\n", info.iterations,
         info.objective, info.grad_norm);
  assert_true(info.converged);
  /* Optimality, independently of the reference: the gradient vanishes. */
  double f = mgc_comb_stack_objective(&d, 0.05, W, b, gW, gb);
  double gmax = 0;
  for (int j = 0; j < 18; j++) gmax = fmax(gmax, fabs(gW[j]));
  for (int k = 0; k < 3; k++) gmax = fmax(gmax, fabs(gb[k]));
  assert_true(gmax < 1e-8);
  assert_float_equal(f, REF_F, 1e-12);
  /* ... and it is the reference (the minimiser is unique in this gauge). */
  for (int j = 0; j < 18; j++) assert_float_equal(W[j], REF_W[j], 1e-6);
  for (int k = 0; k < 3; k++) assert_float_equal(b[k], REF_B[k], 1e-6);
  /* The reference's own gradient is ~0 under our objective too. */
  mgc_comb_stack_objective(&d, 0.05, REF_W, REF_B, gW, gb);
  for (int j = 0; j < 18; j++) assert_true(fabs(gW[j]) < 1e-9);
  /* Deterministic: the same fit twice gives the same bits. */
  double W2[18], b2[3];
  assert_int_equal(mgc_comb_fit_stack(&d, 0.05, W2, b2, NULL), MGC_OK);
  assert_memory_equal(W, W2, sizeof W);
  assert_memory_equal(b, b2, sizeof b);
  assert_int_equal(mgc_comb_fit_stack(&d, 0, W2, b2, NULL), MGC_EINVAL);
}

static void test_fit_stack_accuracy(void **st) {
  (void)st;
  /* Member 1 is informative about class (y + 1) % 4, member 0 is noise: the
   * mean cannot undo the shift, stacking can. */
  enum { N = 300, NTR = 200, C = 4 };
  static float p[N * 2 * C];
  static int y[N], group[NTR];
  uint64_t s = 9;
  synth(&s, N, C, 1, p, y, 1);
  for (int i = 0; i < NTR; i++) group[i] = i % 5;
  mgc_comb_data d = {NTR, 2, C, p, y};
  double W[C * 2 * C], b[C], l2 = 0;
  mgc_comb_fit_info info;
  assert_int_equal(mgc_comb_fit_stack_cv(&d, group, 5, &l2, W, b, &info), MGC_OK);
  assert_true(info.converged);
  mgc_combiner stack = {MGC_COMB_STACK, 2, C, NULL, W, b, 0}, mean = {MGC_COMB_MEAN, 2, C, 0, 0, 0, 0};
  int right_stack = 0, right_mean = 0;
  float out[C];
  for (int i = NTR; i < N; i++) {
    right_stack += mgc_combine(&stack, p + (size_t)i * 2 * C, out) == y[i];
    right_mean += mgc_combine(&mean, p + (size_t)i * 2 * C, out) == y[i];
  }
  printf("held out: stack %d/%d (l2 %g), mean %d/%d\n", right_stack, N - NTR, l2, right_mean,
         N - NTR);
  assert_true(right_stack >= 95);
  assert_true(right_mean < 50);
  /* l2 comes from the grid. */
  static const double grid[] = MGC_COMB_L2_GRID;
  int on_grid = 0;
  for (int q = 0; q < MGC_COMB_L2_GRID_N; q++) on_grid |= l2 == grid[q];
  assert_true(on_grid);
  /* Without groups: the documented default. */
  assert_int_equal(mgc_comb_fit_stack_cv(&d, NULL, 0, &l2, W, b, NULL), MGC_OK);
  assert_true(l2 == MGC_COMB_L2_DEFAULT);
}

static void test_combine_no_alloc(void **st) {
  (void)st;
  enum { M = 3, C = 10 };
  float p[M * C], out[C];
  double w[M] = {.5, .3, .2}, W[C * M * C], b[C];
  uint64_t s = 1;
  for (int m = 0; m < M; m++) {
    double sum = 0;
    for (int k = 0; k < C; k++) sum += p[m * C + k] = (float)(1 + test_rand(&s) % 100);
    for (int k = 0; k < C; k++) p[m * C + k] = (float)(p[m * C + k] / sum);
  }
  for (int j = 0; j < C * M * C; j++) W[j] = (double)(test_rand(&s) % 200) / 100 - 1;
  for (int k = 0; k < C; k++) b[k] = .1 * k;
  for (int r = 0; r < MGC_COMB_N_RULES; r++) {
    mgc_combiner c = {(mgc_comb_rule)r, M, C, w, W, b, 0};
    assert_int_equal(mgc_combiner_check(&c), MGC_OK);
    long before = g_allocs;
    for (int rep = 0; rep < 100; rep++) mgc_combine(&c, p, out);
    assert_int_equal(g_allocs - before, 0);
    double sum = 0;
    for (int k = 0; k < C; k++) sum += out[k];
    assert_float_equal(sum, 1, 1e-5);
  }
}

/* ---- the YAML file ---- */

static mgc_status parse(const char *text, mgc_ensemble **e) {
  return mgc_ensemble_parse(text, strlen(text), "ens.yaml", "base", 0, e);
}

static void refused(const char *text, const char *where, const char *what) {
  mgc_ensemble *e = NULL;
  assert_int_not_equal(parse(text, &e), MGC_OK);
  assert_null(e);
  const char *msg = mgc_error_message();
  if (!strstr(msg, where) || !strstr(msg, what))
    fail_msg("message '%s' lacks '%s' or '%s'", msg, where, what);
}

static void test_yaml(void **st) {
  (void)st;
  mgc_ensemble *e;
  const char *ok = "name: pair\n"
                   "rule: stack\n"
                   "classes: [a, b]\n"
                   "members:\n"
                   "  - name: crnn\n"
                   "    model: m/crnn.safetensors\n"
                   "    cv: r/cv5.json\n"
                   "    weight: 2\n"
                   "  - {name: tab, model: /abs/t.safetensors, input: table}\n"
                   "stack:\n"
                   "  features: probabilities\n"
                   "  l2: 0.01\n"
                   "  intercept: [0.5, -0.5]\n"
                   "  coef:\n"
                   "    - [1, 0, 0, 1]\n"
                   "    - [0, 1, 1, 0]\n";
  if (parse(ok, &e)) fail_msg("%s", mgc_error_message());
  assert_string_equal(e->name, "pair");
  assert_int_equal(e->rule, MGC_COMB_STACK);
  assert_int_equal(e->n_members, 2);
  assert_string_equal(e->members[0].model_path, "base/m/crnn.safetensors");
  assert_string_equal(e->members[0].cv_path, "base/r/cv5.json");
  assert_string_equal(e->members[1].model_path, "/abs/t.safetensors");
  assert_null(e->members[1].cv_path);
  assert_int_equal(e->members[0].input, MGC_ENS_INPUT_WINDOW);
  assert_int_equal(e->members[1].input, MGC_ENS_INPUT_TABLE);
  NEAR(e->weights[0], 2. / 3);
  NEAR(e->weights[1], 1. / 3);
  assert_int_equal(e->members[1].line, 9);
  assert_int_equal(e->n_classes, 2);
  assert_true(e->has_stack);
  NEAR(e->stack_l2, 0.01);
  NEAR(e->coef[3], 1);
  NEAR(e->intercept[1], -.5);
  mgc_combiner c;
  assert_int_equal(mgc_ensemble_combiner(e, &c), MGC_OK);
  float out[2];
  assert_int_equal(mgc_combine(&c, (const float[]){.8f, .2f, .3f, .7f}, out), 0);
  NEAR(out[0], 1 / (1 + exp(-2.0))); /* logits .5 + .8 + .7 and -.5 + .2 + .3 */

  /* Written back elsewhere: the paths follow, the numbers round-trip. */
  char sub[300], path[400];
  snprintf(sub, sizeof sub, "%s/out", g_dir);
  mkdir(sub, 0755);
  snprintf(path, sizeof path, "%s/fitted.yaml", sub);
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(g_dir), 0); /* "base/..." now lives under g_dir */
  assert_int_equal(mgc_ensemble_write(e, "out/fitted.yaml", "a header\nline two"), MGC_OK);
  assert_int_equal(chdir(cwd), 0);
  size_t len;
  char *text = (char *)read_file(path, &len);
  printf("%s", text);
  assert_non_null(strstr(text, "# a header\n# line two\n"));
  assert_non_null(strstr(text, "model: ../base/m/crnn.safetensors"));
  assert_non_null(strstr(text, "cv: ../base/r/cv5.json"));
  assert_non_null(strstr(text, "model: /abs/t.safetensors"));
  assert_non_null(strstr(text, "input: context"));
  mgc_ensemble *e2;
  if (mgc_ensemble_load(path, 0, &e2)) fail_msg("%s", mgc_error_message());
  char want[500];
  snprintf(want, sizeof want, "%s/../base/m/crnn.safetensors", sub);
  assert_string_equal(e2->members[0].model_path, want);
  NEAR(e2->weights[0], 2. / 3);
  assert_int_equal(e2->rule, MGC_COMB_STACK);
  assert_memory_equal(e2->coef, e->coef, 8 * sizeof(double));
  free(text);
  mgc_ensemble_free(e2);
  mgc_ensemble_free(e);

  /* Refusals, each at file:line:col. */
  refused("rule: mean\nmembers:\n  - {name: a, model: a.st}\nfoo: 1\n", "ens.yaml:4:1:",
          "unknown key 'foo'");
  refused("rule: mean\ntemperature: 0\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:2:14:",
          "temperature");
  refused("rule: median\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:1:7:",
          "'rule' must be mean, weighted, product, agree, vote or stack");
  refused("rule: mean\nmembers:\n  - name: a\n    input: audio\n    model: a.st\n",
          "ens.yaml:4:12:", "'input' must be window, context or table");
  refused("rule: mean\nmembers:\n  - name: a\n    model: a.st\n    weight: -1\n",
          "ens.yaml:5:13:", "'weight' must be in [0");
  refused("rule: mean\nmembers:\n  - name: a\n    modle: a.st\n", "ens.yaml:4:5:",
          "unknown member key 'modle'");
  refused("rule: mean\nmembers:\n  - name: a\n  - name: b\n    model: b.st\n", "ens.yaml:3:5:",
          "member 'a' has no 'model'");
  refused("rule: mean\nmembers:\n  - {name: a, model: a.st}\n  - {name: a, model: b.st}\n",
          "ens.yaml:4:5:", "two members are named 'a'");
  refused("rule: mean\nmembers:\n  - {name: a, model: a.st, weight: 0}\n", "ens.yaml:3:3:",
          "weights sum to 0");
  refused("rule: mean\nmembers: {name: a}\n", "ens.yaml:2:10:", "'members' must be a list");
  refused("rule: mean\nrule: vote\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:2:1:",
          "duplicate key 'rule'");
  refused("rule: stack\nclasses: [x, y]\nmembers:\n  - {name: a, model: a.st}\n"
          "stack:\n  intercept: [0, 0]\n  coef: [[1, 0], [0, 1], [1, 1]]\n",
          "ens.yaml:7:9:", "'coef' must be a list of 2 rows");
  refused("rule: stack\nclasses: [x, y]\nmembers:\n  - {name: a, model: a.st}\n"
          "stack:\n  intercept: [0, 0]\n  coef: [[1, 0], [0, 1, 2]]\n",
          "ens.yaml:7:18:", "'coef' has 3 numbers, expected 2");
  refused("rule: stack\nmembers:\n  - {name: a, model: a.st}\nstack: {coef: [[1]]}\n",
          "ens.yaml:4:8:", "'stack' needs 'intercept' and 'coef'");
  refused("rule: mean\nclasses: [x, x]\nmembers:\n  - {name: a, model: a.st}\n",
          "ens.yaml:2:14:", "class 'x' twice");
  refused("rule: mean\nmembers: [\n", "ens.yaml:3:1:", "");
  refused("members:\n  - {name: a, model: a.st}\n", "ens.yaml", "missing 'rule'");
  refused("rule: mean\n", "ens.yaml", "missing 'members'");
  refused("", "ens.yaml", "empty ensemble file");
}

/* Loading the member models: classes from the models, a missing model
 * named at its member, rule stack without coefficients refused. */
static void test_yaml_models(void **st) {
  (void)st;
  char path[400];
  snprintf(path, sizeof path, "%s/models.yaml", g_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "rule: weighted\nmembers:\n"
             "  - {name: a, model: %s/models/crnn.safetensors, weight: 3}\n"
             "  - {name: b, model: %s/models/crnn.safetensors}\n",
          MGC_SOURCE_DIR, MGC_SOURCE_DIR);
  fclose(f);
  mgc_ensemble *e;
  if (mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &e)) fail_msg("%s", mgc_error_message());
  assert_non_null(e->members[0].loaded);
  assert_int_equal(e->n_classes, 10);
  assert_string_equal(e->classes[0], "blues");
  NEAR(e->weights[0], .75);
  mgc_ensemble_free(e);
  f = fopen(path, "w");
  fprintf(f, "rule: stack\nmembers:\n  - {name: a, model: %s/models/crnn.safetensors}\n",
          MGC_SOURCE_DIR);
  fclose(f);
  assert_int_not_equal(mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &e), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "models.yaml:1:7: rule 'stack' needs a fitted"));
  /* Without the flag the same file is fine (evaluation refits stack). */
  assert_int_equal(mgc_ensemble_load(path, 0, &e), MGC_OK);
  mgc_ensemble_free(e);
  f = fopen(path, "w");
  fprintf(f, "rule: mean\nmembers:\n  - {name: a, model: %s/models/crnn.safetensors}\n"
             "  - {name: gone, model: nowhere.safetensors}\n",
          MGC_SOURCE_DIR);
  fclose(f);
  assert_int_not_equal(mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &e), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "models.yaml:4:5: member 'gone': "));
  assert_non_null(strstr(mgc_error_message(), "nowhere.safetensors"));
}

/* ---- the music detector ('detector:') ---- */

#define DETECTOR MGC_SOURCE_DIR "/models/music_detector.safetensors"
#define GENRES MGC_SOURCE_DIR "/models/crnn.safetensors"

static void test_detector_key_resolved_against_folder(void **st) {
  (void)st;
  mgc_ensemble *e;
  if (parse("rule: mean\ndetector: det/music.safetensors\nmembers:\n  - {name: a, model: a.st}\n", &e))
    fail_msg("%s", mgc_error_message());
  assert_string_equal(e->detector, "det/music.safetensors");
  assert_string_equal(e->detector_path, "base/det/music.safetensors");
  assert_null(e->detector_loaded); /* not without MGC_ENSEMBLE_LOAD_MODELS */
  mgc_ensemble_free(e);
  if (parse("rule: mean\ndetector: /opt/d.safetensors\nmembers:\n  - {name: a, model: a.st}\n", &e))
    fail_msg("%s", mgc_error_message());
  assert_string_equal(e->detector_path, "/opt/d.safetensors");
  mgc_ensemble_free(e);
  if (parse("rule: mean\nmembers:\n  - {name: a, model: a.st}\n", &e)) fail_msg("%s", mgc_error_message());
  assert_null(e->detector);
  assert_null(e->detector_path);
  mgc_ensemble_free(e);
}

static void test_detector_key_must_be_a_path(void **st) {
  (void)st;
  refused("rule: mean\ndetector: \"\"\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:2:11:",
          "'detector' must be a non-empty string");
  refused("rule: mean\ndetector: [a]\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:2:11:",
          "'detector' must be a non-empty string");
  refused("rule: mean\ndetector: a\ndetector: b\nmembers:\n  - {name: a, model: a.st}\n", "ens.yaml:3:1:",
          "duplicate key 'detector'");
}

static void test_shipped_ensemble_names_the_shipped_detector(void **st) {
  (void)st;
  mgc_ensemble *e;
  if (mgc_ensemble_load(MGC_SOURCE_DIR "/models/ensemble.yaml", 0, &e)) fail_msg("%s", mgc_error_message());
  assert_non_null(e->detector_path);
  assert_string_equal(e->detector_path, DETECTOR);
  mgc_ensemble_free(e);
}

/* models.yaml in g_dir: one member (the CRNN) and the given detector line. */
static const char *write_detector_yaml(const char *detector) {
  static char path[400];
  snprintf(path, sizeof path, "%s/detector.yaml", g_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "rule: mean\nmembers:\n  - {name: a, model: %s}\ndetector: %s\n", GENRES, detector);
  fclose(f);
  return path;
}

static void test_detector_loaded_with_models(void **st) {
  (void)st;
  mgc_ensemble *e;
  if (mgc_ensemble_load(write_detector_yaml(DETECTOR), MGC_ENSEMBLE_LOAD_MODELS, &e))
    fail_msg("%s", mgc_error_message());
  assert_non_null(e->detector_loaded);
  assert_true(mgc_model_class(e->detector_loaded, "music") >= 0);
  mgc_ensemble_free(e);
}

static void test_detector_missing_file_refused_at_its_key(void **st) {
  (void)st;
  mgc_ensemble *e = (void *)st;
  assert_int_not_equal(mgc_ensemble_load(write_detector_yaml("nowhere.safetensors"), MGC_ENSEMBLE_LOAD_MODELS, &e),
                       MGC_OK);
  assert_null(e);
  const char *m = mgc_error_message();
  if (!strstr(m, "detector.yaml:4:11: detector: ") || !strstr(m, "nowhere.safetensors"))
    fail_msg("'%s' does not name the detector at 4:11 and its file", m);
}

static void test_detector_without_music_class_refused(void **st) {
  (void)st;
  mgc_ensemble *e = (void *)st;
  assert_int_equal(mgc_ensemble_load(write_detector_yaml(GENRES), MGC_ENSEMBLE_LOAD_MODELS, &e), MGC_EINVAL);
  assert_null(e);
  const char *m = mgc_error_message();
  if (!strstr(m, "detector.yaml:4:11: ") || !strstr(m, GENRES) || !strstr(m, "no class named 'music'"))
    fail_msg("'%s' does not refuse %s at 4:11 for its missing class 'music'", m, GENRES);
}

/* Written into another folder, a relative detector path follows; read back
 * it names the same file. */
static void test_write_detector_relative_round_trip(void **st) {
  (void)st;
  mgc_ensemble *e, *back;
  if (parse("rule: mean\ndetector: det/music.safetensors\nmembers:\n  - {name: a, model: a.st}\n", &e))
    fail_msg("%s", mgc_error_message());
  char sub[300], path[400], cwd[1024], want[500];
  snprintf(sub, sizeof sub, "%s/det-out", g_dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/e.yaml", sub);
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(g_dir), 0); /* "base/..." now lives under g_dir */
  assert_int_equal(mgc_ensemble_write(e, "det-out/e.yaml", NULL), MGC_OK);
  assert_int_equal(chdir(cwd), 0);
  size_t len;
  char *text = (char *)read_file(path, &len);
  if (!strstr(text, "\ndetector: ../base/det/music.safetensors\n")) fail_msg("no relative detector in:\n%s", text);
  free(text);
  if (mgc_ensemble_load(path, 0, &back)) fail_msg("%s", mgc_error_message());
  snprintf(want, sizeof want, "%s/../base/det/music.safetensors", sub);
  assert_string_equal(back->detector_path, want);
  mgc_ensemble_free(back);
  mgc_ensemble_free(e);
}

static void test_write_detector_absolute_kept(void **st) {
  (void)st;
  mgc_ensemble *e, *back;
  if (parse("rule: mean\ndetector: /opt/d.safetensors\nmembers:\n  - {name: a, model: a.st}\n", &e))
    fail_msg("%s", mgc_error_message());
  char path[400];
  snprintf(path, sizeof path, "%s/abs-detector.yaml", g_dir);
  assert_int_equal(mgc_ensemble_write(e, path, NULL), MGC_OK);
  if (mgc_ensemble_load(path, 0, &back)) fail_msg("%s", mgc_error_message());
  assert_string_equal(back->detector, "/opt/d.safetensors");
  assert_string_equal(back->detector_path, "/opt/d.safetensors");
  mgc_ensemble_free(back);
  mgc_ensemble_free(e);
}

static void test_set_detector_replaces_and_removes(void **st) {
  (void)st;
  mgc_ensemble *e;
  if (parse("rule: mean\ndetector: old.safetensors\nmembers:\n  - {name: a, model: a.st}\n", &e))
    fail_msg("%s", mgc_error_message());
  if (mgc_ensemble_set_detector(e, DETECTOR)) fail_msg("%s", mgc_error_message());
  assert_string_equal(e->detector, DETECTOR);
  assert_string_equal(e->detector_path, DETECTOR);
  assert_non_null(e->detector_loaded);
  assert_true(mgc_model_class(e->detector_loaded, "music") >= 0);
  assert_int_equal(mgc_ensemble_set_detector(e, NULL), MGC_OK);
  assert_null(e->detector);
  assert_null(e->detector_path);
  assert_null(e->detector_loaded);
  /* and none is written */
  char path[400];
  snprintf(path, sizeof path, "%s/no-detector.yaml", g_dir);
  assert_int_equal(mgc_ensemble_write(e, path, NULL), MGC_OK);
  size_t len;
  char *text = (char *)read_file(path, &len);
  assert_null(strstr(text, "detector"));
  free(text);
  mgc_ensemble_free(e);
}

/* A detector set by a path relative to the working directory is written
 * relative to the new file's folder, naming the same file. */
static void test_set_detector_relative_written_relative_to_file(void **st) {
  (void)st;
  mgc_ensemble *e, *back;
  if (parse("rule: mean\nmembers:\n  - {name: a, model: /abs/a.st}\n", &e)) fail_msg("%s", mgc_error_message());
  char cwd[1024], path[400];
  snprintf(path, sizeof path, "%s/rel-set.yaml", g_dir);
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(MGC_SOURCE_DIR), 0);
  mgc_status s = mgc_ensemble_set_detector(e, "models/music_detector.safetensors");
  if (!s) s = mgc_ensemble_write(e, path, NULL);
  assert_int_equal(chdir(cwd), 0);
  if (s) fail_msg("%s", mgc_error_message());
  if (mgc_ensemble_load(path, 0, &back)) fail_msg("%s", mgc_error_message());
  assert_int_not_equal(back->detector[0], '/');
  char *got = realpath(back->detector_path, NULL), *want = realpath(DETECTOR, NULL);
  assert_non_null(got);
  assert_non_null(want);
  assert_string_equal(got, want);
  free(got);
  free(want);
  mgc_ensemble_free(back);
  mgc_ensemble_free(e);
}

/* A refused detector leaves the one in place. */
static void test_set_detector_refusal_keeps_the_old_one(void **st) {
  (void)st;
  mgc_ensemble *e;
  if (parse("rule: mean\nmembers:\n  - {name: a, model: a.st}\n", &e)) fail_msg("%s", mgc_error_message());
  if (mgc_ensemble_set_detector(e, DETECTOR)) fail_msg("%s", mgc_error_message());
  const mgc_model *kept = e->detector_loaded;
  assert_int_equal(mgc_ensemble_set_detector(e, GENRES), MGC_EINVAL);
  const char *m = mgc_error_message();
  if (!strstr(m, GENRES) || !strstr(m, "no class named 'music'"))
    fail_msg("'%s' does not name %s and the missing class", m, GENRES);
  assert_int_not_equal(mgc_ensemble_set_detector(e, MGC_SOURCE_DIR "/models/nowhere.safetensors"), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "nowhere.safetensors"));
  assert_string_equal(e->detector, DETECTOR);
  assert_ptr_equal(e->detector_loaded, kept);
  mgc_ensemble_free(e);
}

/* ---- mgc-eval --ensemble, end to end ----
 *
 * 3 classes (a b c), 6 tracks, 2 folds (t1-t3, t4-t6), 2 members:
 *
 * track  A               B               A  B  mean       product  agree  vote
 * t1 a   .7  .2  .1      .6  .3  .1      a+ a+ a+         a+       a+     a+
 * t2 b   .52 .48 0       0   .51 .49     a- b+ b+ (.495)  b+       a- (.52)  b+ (tie, mean)
 * t3 c   .2  .2  .6      .5  .2  .3      c+ a- c+ (.45)   c+       c+ (.6)   c+ (tie, mean)
 * t4 a   .9  .1  0       .05 .6  .35     a+ b- a+ (.475)  b- (.06 > .045)  a+ (.9)  a+
 * t5 b   .1  .7  .2      .2  .3  .5      b+ c- b+         b+       b+ (.7)   b+
 * t6 c   .4  .1  .5      .2  .2  .6      c+ c+ c+         c+       c+     c+
 *
 * accuracy per fold (f1, f2), mean +- sample std (|f1 - f2| / sqrt 2):
 *   A 2/3 1 -> 83.3 +- 23.6    B 2/3 1/3 -> 50.0 +- 23.6
 *   mean 1 1 -> 100.0 +- 0.0   product 1 2/3 -> 83.3 +- 23.6   agree 2/3 1 -> 83.3 +- 23.6
 *   vote 1 1 -> 100.0 +- 0.0   oracle 1 1 -> 100.0
 *   weighted: on either fold the other fold's NLL is lowest at w_A = 1
 *     (d/dw at w_A = 1 is 1 - mean(pB/pA) = 1 - .56 (fold 2), 1 - .81 (fold 1) > 0),
 *     so weighted = A: 83.3 +- 23.6.
 * macro-F1 of A: fold 1 predicts a a c for a b c: F1 (2/3, 0, 1) -> 5/9; fold 2 all
 *   right -> 1; mean 7/9 = .778. B: fold 1 a b a: (2/3, 1, 0) -> 5/9; fold 2 b c c:
 *   (0, 0, 2/3) -> 2/9; mean 7/18 = .389.
 * NLL of A: (-ln .7 - ln .48 - ln .6)/3 = .533823, (-ln .9 - ln .7 - ln .5)/3 = .385061,
 *   mean .459442; mean rule: .644163, .678475 -> .661319.
 * Best rule: mean and vote tie at 100 % and F1 1; mean comes first. */
static const char *const TRACKS[6] = {"t1", "t2", "t3", "t4", "t5", "t6"};
static const char *const LABELS[6] = {"a", "b", "c", "a", "b", "c"};
static const double PA[6][3] = {{.7, .2, .1}, {.52, .48, 0}, {.2, .2, .6},
                                {.9, .1, 0},  {.1, .7, .2},  {.4, .1, .5}};
static const double PB[6][3] = {{.6, .3, .1}, {0, .51, .49}, {.5, .2, .3},
                                {.05, .6, .35}, {.2, .3, .5}, {.2, .2, .6}};

/* A cv file in mgc-train's layout (only the keys the evaluator reads, plus
 * a few others); fold_of[t] is 0-based, order permutes the track order. */
static void write_cv(const char *path, const double (*p)[3], const int *fold_of,
                     const char *const *labels, int n_tracks, int folds) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "{\"folds\": %d, \"results\": [", folds);
  for (int k = 0; k < folds; k++) {
    fprintf(f, "%s{\"fold\": %d, \"best_epoch\": 1, \"metrics\": {\"classes\": [\"a\", \"b\", "
               "\"c\"], \"tracks\": [",
            k ? ", " : "", k + 1);
    int first = 1;
    for (int i = n_tracks - 1; i >= 0; i--) /* reversed: order must not matter */
      if (fold_of[i] == k) {
        fprintf(f, "%s{\"name\": \"%s\", \"true\": \"%s\", \"windows\": 3, \"probabilities\": "
                   "[%.17g, %.17g, %.17g]}",
                first ? "" : ", ", TRACKS[i], labels[i], p[i][0], p[i][1], p[i][2]);
        first = 0;
      }
    fprintf(f, "]}}");
  }
  fprintf(f, "], \"track_acc_mean\": 0}\n");
  fclose(f);
}

static const int FOLDS[6] = {0, 0, 0, 1, 1, 1};

static void write_pair(const char *name, const char *cv_b) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "name: pair\nrule: mean\nmembers:\n"
             "  - {name: A, model: a.safetensors, cv: a.json}\n"
             "  - {name: B, model: b.safetensors, input: table, cv: %s}\n",
          cv_b);
  fclose(f);
}

static json_t *row_named(json_t *rows, const char *name) {
  for (size_t i = 0; i < json_array_size(rows); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(rows, i), "name")), name))
      return json_array_get(rows, i);
  fail_msg("no row '%s'", name);
  return NULL;
}

static double num(json_t *row, const char *key) {
  json_t *v = json_object_get(row, key);
  if (!json_is_number(v)) fail_msg("'%s' is not a number", key);
  return json_number_value(v);
}

static void check_row(json_t *rows, const char *name, double f1acc, double f2acc) {
  json_t *r = row_named(rows, name);
  json_t *acc = json_object_get(r, "track_accuracy");
  assert_float_equal(json_number_value(json_array_get(acc, 0)), f1acc, 1e-9);
  assert_float_equal(json_number_value(json_array_get(acc, 1)), f2acc, 1e-9);
  assert_float_equal(num(r, "track_accuracy_mean"), (f1acc + f2acc) / 2, 1e-9);
  assert_float_equal(num(r, "track_accuracy_std"), fabs(f1acc - f2acc) / sqrt(2), 1e-9);
}

static void test_eval_end_to_end(void **st) {
  (void)st;
  char path[400], cmd[2000], out[16384];
  snprintf(path, sizeof path, "%s/a.json", g_dir);
  write_cv(path, PA, FOLDS, LABELS, 6, 2);
  snprintf(path, sizeof path, "%s/b.json", g_dir);
  write_cv(path, PB, FOLDS, LABELS, 6, 2);
  write_pair("pair.yaml", "b.json");

  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml", MGC_EVAL_BIN, g_dir);
  int rc = run(cmd, out, sizeof out);
  printf("%s", out);
  assert_int_equal(rc, 0);
  /* The table, as people read it. */
  assert_non_null(strstr(out, "2 members, 2-fold cross-validation, 6 tracks, 3 classes"));
  assert_non_null(strstr(out, "member A                          "
                                "83.3 % +- 23.6     0.778    0.459"));
  assert_non_null(strstr(out, "member B                          50.0 % +- 23.6     0.389"));
  assert_non_null(strstr(out, "rule mean                        "
                                "100.0 % +-  0.0     1.000    0.661"));
  assert_non_null(strstr(out, "rule weighted                     "
                                "83.3 % +- 23.6     0.778    0.459"));
  assert_non_null(strstr(out, "rule product                      83.3 % +- 23.6"));
  assert_non_null(strstr(out, "rule agree                        83.3 % +- 23.6"));
  assert_non_null(strstr(out, "rule vote                        100.0 % +-  0.0"));
  assert_non_null(strstr(out, "rule stack"));
  assert_non_null(strstr(out, "oracle: any member right         "
                                "100.0 % +-  0.0         -        -"));
  assert_non_null(strstr(out, "best rule: mean (100.0 %); best member alone: A (83.3 %)"));
  assert_non_null(strstr(out, "weighted's weights per fold (A, B): 1.00 0.00; 1.00 0.00"));

  /* --json: every fold's figures. */
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml --json", MGC_EVAL_BIN, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 0);
  json_error_t err;
  json_t *j = json_loads(out, 0, &err);
  if (!j) fail_msg("not JSON (%s): %s", err.text, out);
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), 2 + 6 + 1);
  check_row(rows, "A", 2. / 3, 1);
  check_row(rows, "B", 2. / 3, 1. / 3);
  check_row(rows, "mean", 1, 1);
  check_row(rows, "weighted", 2. / 3, 1);
  check_row(rows, "product", 1, 2. / 3);
  check_row(rows, "agree", 2. / 3, 1);
  check_row(rows, "vote", 1, 1);
  check_row(rows, "oracle: any member right", 1, 1);
  json_t *a = row_named(rows, "A"), *mean = row_named(rows, "mean");
  assert_float_equal(num(a, "macro_f1_mean"), 7. / 9, 1e-9);
  assert_float_equal(num(row_named(rows, "B"), "macro_f1_mean"), 7. / 18, 1e-9);
  double nll_a1 = -(log(.7) + log(.48) + log(.6)) / 3, nll_a2 = -(log(.9) + log(.7) + log(.5)) / 3;
  assert_float_equal(num(a, "nll_mean"), (nll_a1 + nll_a2) / 2, 1e-6);
  double nll_m1 = -(log(.65) + log(.495) + log(.45)) / 3;
  double nll_m2 = -(log(.475) + log(.5) + log(.55)) / 3;
  assert_float_equal(num(mean, "nll_mean"), (nll_m1 + nll_m2) / 2, 1e-6);
  json_t *oracle = row_named(rows, "oracle: any member right");
  assert_true(json_is_null(json_object_get(oracle, "nll_mean")));
  assert_string_equal(json_string_value(json_object_get(j, "best_rule")), "mean");
  json_decref(j);

  /* --fit: the fitted file, with the best rule or the one asked for. */
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml --fit %s/fitted.yaml --rule stack",
           MGC_EVAL_BIN, g_dir, g_dir);
  rc = run(cmd, out, sizeof out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "wrote"));
  snprintf(path, sizeof path, "%s/fitted.yaml", g_dir);
  mgc_ensemble *e;
  if (mgc_ensemble_load(path, 0, &e)) fail_msg("%s", mgc_error_message());
  assert_int_equal(e->rule, MGC_COMB_STACK);
  assert_true(e->has_stack);
  assert_int_equal(e->n_classes, 3);
  assert_string_equal(e->classes[2], "c");
  assert_string_equal(e->members[1].cv, "b.json");
  assert_int_equal(e->members[1].input, MGC_ENS_INPUT_TABLE);
  /* On all 6 tracks the NLL is still lowest at w_A = 1. */
  assert_true(e->weights[0] > .999);
  mgc_combiner c;
  assert_int_equal(mgc_ensemble_combiner(e, &c), MGC_OK);
  mgc_ensemble_free(e);
  /* The fitted file evaluates to the same table (evaluation refits). */
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/fitted.yaml --fit %s/best.yaml", MGC_EVAL_BIN,
           g_dir, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "rule mean                        100.0 % +-  0.0"));
  snprintf(path, sizeof path, "%s/best.yaml", g_dir);
  if (mgc_ensemble_load(path, 0, &e)) fail_msg("%s", mgc_error_message());
  assert_int_equal(e->rule, MGC_COMB_MEAN);
  mgc_ensemble_free(e);

  /* --report: the chart, a bar per row with its mean, and the page around it. */
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml --report %s/ensrep", MGC_EVAL_BIN, g_dir, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 0);
  size_t n;
  snprintf(path, sizeof path, "%s/ensrep/ensemble.svg", g_dir);
  char *svg = (char *)read_file(path, &n);
  assert_non_null(svg);
  assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  int bars = 0;
  for (const char *q = svg; (q = strstr(q, "<rect x=\"200.0\"")); q++) bars++;
  assert_int_equal(bars, 2 + 6 + 1); /* members, rules, the oracle */
  assert_non_null(strstr(svg, "A: 83.3 % +- 23.6</title>"));
  assert_non_null(strstr(svg, "mean: 100.0 % +- 0.0</title>"));
  /* the best rule (mean) and the best member (A) are drawn in bold */
  assert_non_null(strstr(svg, "font-weight=\"bold\">rule mean</text>"));
  assert_non_null(strstr(svg, "font-weight=\"bold\">member A</text>"));
  assert_null(strstr(svg, "font-weight=\"bold\">member B</text>"));
  free(svg);
  snprintf(path, sizeof path, "%s/ensrep/index.html", g_dir);
  char *html = (char *)read_file(path, &n);
  assert_non_null(html);
  assert_non_null(strstr(html, "<tr class=\"main\"><td>rule mean</td><td>100.0 % &plusmn; 0.0</td>"));
  assert_non_null(strstr(html, "2 members, 2-fold cross-validation, 6 tracks, 3 classes"));
  /* calibration: the columns, and the best member's and rule's reliability before and after */
  assert_non_null(strstr(html, "<th>T</th><th>ECE before &rarr; after</th>"));
  assert_non_null(strstr(html, "member A, as it is: ECE"));
  assert_non_null(strstr(html, "rule mean, calibrated: ECE"));
  assert_null(strstr(html, "<?xml"));
  free(html);
  snprintf(path, sizeof path, "%s/ensrep/calibration-rule-after.svg", g_dir);
  svg = (char *)read_file(path, &n);
  assert_non_null(svg);
  assert_non_null(strstr(svg, "rule mean, calibrated: ECE"));
  free(svg);

  /* Usage errors. */
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml --rule median --fit x.yaml", MGC_EVAL_BIN,
           g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 2);
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/pair.yaml --rule mean", MGC_EVAL_BIN, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 2);
}

/* Members that were not measured on the same tracks, folds and labels. */
static void mismatch(const char *cv_b, const char *want) {
  char cmd[1200], out[8192];
  write_pair("bad.yaml", cv_b);
  snprintf(cmd, sizeof cmd, "%s --ensemble %s/bad.yaml", MGC_EVAL_BIN, g_dir);
  int rc = run(cmd, out, sizeof out);
  if (rc != 1 || !strstr(out, want)) fail_msg("rc %d, '%s' lacks '%s'", rc, out, want);
}

static void test_eval_mismatch(void **st) {
  (void)st;
  char path[400];
  snprintf(path, sizeof path, "%s/a.json", g_dir);
  write_cv(path, PA, FOLDS, LABELS, 6, 2);
  /* Other folds. */
  static const int other[6] = {0, 0, 1, 0, 1, 1};
  snprintf(path, sizeof path, "%s/folds.json", g_dir);
  write_cv(path, PB, other, LABELS, 6, 2);
  mismatch("folds.json", "track 't3' is in fold 1 for member 'A'");
  mismatch("folds.json", "but in fold 2 for member 'B'");
  /* Other labels. */
  static const char *const relabel[6] = {"a", "b", "c", "a", "c", "c"};
  snprintf(path, sizeof path, "%s/labels.json", g_dir);
  write_cv(path, PB, FOLDS, relabel, 6, 2);
  mismatch("labels.json", "track 't5' is labelled 'b' by member 'A'");
  /* A track missing. */
  snprintf(path, sizeof path, "%s/fewer.json", g_dir);
  write_cv(path, PB, FOLDS, LABELS, 5, 2);
  mismatch("fewer.json", "track 't6' of member 'A'");
  /* Another number of folds. */
  static const int three[6] = {0, 0, 1, 1, 2, 2};
  snprintf(path, sizeof path, "%s/three.json", g_dir);
  write_cv(path, PB, three, LABELS, 6, 3);
  mismatch("three.json", "has 3 folds");
  /* A --dry-run file, a missing file, a file with bad probabilities. */
  snprintf(path, sizeof path, "%s/dry.json", g_dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "{\"folds\": 2, \"dry_run\": true, \"results\": []}\n");
  fclose(f);
  mismatch("dry.json", "a --dry-run file");
  mismatch("absent.json", "member 'B': ");
  static const double badp[6][3] = {{.6, .3, .3}, {0, .51, .49}, {.5, .2, .3},
                                    {.05, .6, .35}, {.2, .3, .5}, {.2, .2, .6}};
  snprintf(path, sizeof path, "%s/sum.json", g_dir);
  write_cv(path, badp, FOLDS, LABELS, 6, 2);
  mismatch("sum.json", "track 't1': probabilities sum to 1.2");
}

/* The shipped CRNN's cross-validation file, as an ensemble of one: the
 * member row reproduces the figures mgc-train wrote. */
static void test_eval_real_cv(void **st) {
  (void)st;
  char cv[400];
  snprintf(cv, sizeof cv, "%s/models/results/cv5.json", MGC_SOURCE_DIR);
  mgc_cv_set *s;
  if (access(cv, R_OK) != 0) skip();
  if (mgc_cv_load(cv, &s)) fail_msg("%s", mgc_error_message());
  assert_int_equal(s->n_folds, 5);
  assert_int_equal(s->n_tracks, 100);
  mgc_cv_free(s);
  char text[800];
  snprintf(text, sizeof text, "rule: mean\nmembers:\n  - {name: crnn, model: crnn.st, cv: %s}\n",
           cv);
  mgc_ensemble *e;
  mgc_ens_scores *t = NULL;
  if (mgc_ensemble_parse(text, strlen(text), "one.yaml", NULL, 0, &e) ||
      mgc_ensemble_evaluate(e, &t))
    fail_msg("%s", mgc_error_message());
  json_t *j = json_load_file(cv, 0, NULL);
  assert_non_null(j);
  assert_float_equal(t->rows[0].acc_mean, json_number_value(json_object_get(j, "track_acc_mean")),
                     1e-6);
  assert_float_equal(t->rows[0].acc_std, json_number_value(json_object_get(j, "track_acc_std")),
                     1e-6);
  assert_float_equal(t->rows[0].f1_mean, json_number_value(json_object_get(j, "macro_f1_mean")),
                     1e-6);
  /* With one member, mean/weighted/product/agree/vote decide as it does. */
  for (int r = 1; r <= 5; r++) assert_float_equal(t->rows[r].acc_mean, t->rows[0].acc_mean, 1e-12);
  json_decref(j);
  mgc_ens_scores_free(t);
  mgc_ensemble_free(e);
}

/* p^(1/T) renormalised, by hand; the combiner applies it after its rule;
 * a negative temperature is refused. */
static void test_temperature_apply(void **st) {
  (void)st;
  float p[2] = {.8f, .2f};
  mgc_temperature_apply(p, 2, 2.0); /* sqrt(.8) : sqrt(.2) = 2 : 1 */
  near_vec(p, (const double[]){2.0 / 3, 1.0 / 3}, 2);
  float q[3] = {.5f, .3f, .2f};
  mgc_temperature_apply(q, 3, 0.5); /* squares: .25 .09 .04 over .38 */
  near_vec(q, (const double[]){.25 / .38, .09 / .38, .04 / .38}, 3);
  mgc_combiner c = {MGC_COMB_MEAN, 2, 3, NULL, NULL, NULL, 0.5};
  assert_int_equal(mgc_combiner_check(&c), MGC_OK);
  float two[6] = {P1, P4}, out[3];
  assert_int_equal(mgc_combine(&c, two, out), 0);
  double m[3] = {.45, .325, .225}, s2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
  near_vec(out, (const double[]){m[0] * m[0] / s2, m[1] * m[1] / s2, m[2] * m[2] / s2}, 3);
  c.temperature = -1;
  assert_int_not_equal(mgc_combiner_check(&c), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "temperature"));
}

/* Labels drawn from softmax(z / 2) for distributions softmax(z): the fit
 * finds T near 2, and the NLL is lowest there (1 % either side is worse). */
static void test_temperature_fit(void **st) {
  (void)st;
  enum { N = 4000, C = 4 };
  static float p[N * C];
  static int y[N];
  uint64_t seed = 11;
  for (int i = 0; i < N; i++) {
    double z[C], mx = -1e9, se = 0, st2 = 0;
    for (int k = 0; k < C; k++) {
      z[k] = 4.0 * ((double)(test_rand(&seed) % 10000) / 10000.0 - 0.5);
      mx = fmax(mx, z[k]);
    }
    for (int k = 0; k < C; k++) se += exp(z[k] - mx), st2 += exp((z[k] - mx) / 2);
    for (int k = 0; k < C; k++) p[i * C + k] = (float)(exp(z[k] - mx) / se);
    double u = (double)(test_rand(&seed) % 1000000) / 1000000.0 * st2, acc = 0;
    y[i] = C - 1;
    for (int k = 0; k < C; k++)
      if ((acc += exp((z[k] - mx) / 2)) > u) {
        y[i] = k;
        break;
      }
  }
  double T;
  assert_int_equal(mgc_temperature_fit(p, y, N, C, &T), MGC_OK);
  if (fabs(T - 2) > 0.25) fail_msg("fitted T %g, drawn with 2", T);
  double nll[3];
  for (int j = 0; j < 3; j++) {
    double t = T * (j == 0 ? 1.0 : j == 1 ? 1.01 : 1 / 1.01), sum = 0;
    for (int i = 0; i < N; i++) {
      float r[C];
      memcpy(r, p + i * C, sizeof r);
      mgc_temperature_apply(r, C, t);
      sum -= log(r[y[i]]);
    }
    nll[j] = sum / N;
  }
  assert_true(nll[0] <= nll[1] && nll[0] <= nll[2]);
  int bad = 7;
  assert_int_not_equal(mgc_temperature_fit(p, &bad, 1, C, &T), MGC_OK);
}

/* The shipped CRNN's real out-of-fold predictions: the table's calibrated
 * columns (a temperature per fold from the other folds) and
 * mgc_ensemble_calibrate agree for a one-member ensemble, the fitted
 * temperature is written to the file, and the ECE drops. */
static void test_calibrate_real_cv(void **st) {
  (void)st;
  char cv[400], text[800], out[300];
  snprintf(cv, sizeof cv, "%s/models/results/cv5.json", MGC_SOURCE_DIR);
  if (access(cv, R_OK) != 0) skip();
  snprintf(text, sizeof text, "rule: mean\nmembers:\n  - {name: crnn, model: crnn.st, cv: %s}\n",
           cv);
  mgc_ensemble *e;
  mgc_ens_scores *t = NULL;
  if (mgc_ensemble_parse(text, strlen(text), "one.yaml", NULL, 0, &e) ||
      mgc_ensemble_evaluate(e, &t))
    fail_msg("%s", mgc_error_message());
  double before, after;
  assert_int_equal(mgc_ensemble_calibrate(e, &before, &after), MGC_OK);
  assert_float_equal(before, t->rows[0].ece, 1e-9);
  assert_float_equal(after, t->rows[0].ece_cal, 1e-9);
  assert_true(after < before - 0.02);
  assert_true(e->temperature > 0.05 && e->temperature < 20 && e->temperature != 1);
  for (int k = 0; k < t->n_folds; k++) assert_true(t->rows[0].temp[k] > 0.05);
  snprintf(out, sizeof out, "%s/cal.yaml", g_dir);
  assert_int_equal(mgc_ensemble_write(e, out, NULL), MGC_OK);
  mgc_ensemble *back;
  assert_int_equal(mgc_ensemble_load(out, 0, &back), MGC_OK);
  assert_float_equal(back->temperature, e->temperature, 1e-8 * e->temperature);
  mgc_ensemble_free(back);
  mgc_ens_scores_free(t);
  mgc_ensemble_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mean_weighted),     cmocka_unit_test(test_product),
      cmocka_unit_test(test_agree),             cmocka_unit_test(test_vote),
      cmocka_unit_test(test_stack_apply),       cmocka_unit_test(test_fit_weights),
      cmocka_unit_test(test_fit_stack_reference), cmocka_unit_test(test_fit_stack_accuracy),
      cmocka_unit_test(test_combine_no_alloc),  cmocka_unit_test(test_yaml),
      cmocka_unit_test(test_yaml_models),       cmocka_unit_test(test_eval_end_to_end),
      cmocka_unit_test(test_eval_mismatch),     cmocka_unit_test(test_eval_real_cv),
      cmocka_unit_test(test_temperature_apply), cmocka_unit_test(test_temperature_fit),
      cmocka_unit_test(test_calibrate_real_cv),
      cmocka_unit_test(test_detector_key_resolved_against_folder),
      cmocka_unit_test(test_detector_key_must_be_a_path),
      cmocka_unit_test(test_shipped_ensemble_names_the_shipped_detector),
      cmocka_unit_test(test_detector_loaded_with_models),
      cmocka_unit_test(test_detector_missing_file_refused_at_its_key),
      cmocka_unit_test(test_detector_without_music_class_refused),
      cmocka_unit_test(test_write_detector_relative_round_trip),
      cmocka_unit_test(test_write_detector_absolute_kept),
      cmocka_unit_test(test_set_detector_replaces_and_removes),
      cmocka_unit_test(test_set_detector_refusal_keeps_the_old_one),
      cmocka_unit_test(test_set_detector_relative_written_relative_to_file),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
