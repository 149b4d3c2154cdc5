/* Parity with PyTorch: the same architecture built in PyTorch from the
 * model file's metadata (bench/torch_twin.py), the same weights, the same
 * inputs. Checks eval-mode probabilities (1e-4), training-mode logits and
 * loss, the gradients of one training step (1e-3 relative per tensor, the
 * input's included), and every tensor after one Adam step (batchnorm
 * running statistics included). Dropout is switched off on both sides so
 * that the two runs draw no random numbers.
 *
 * Needs Debian's python3-torch (and python3-yaml) for /usr/bin/python3 or
 * $MGC_PYTHON; skipped with a message where it is absent. */
#include "test_util.h"

#include <math.h>
#include <sys/wait.h>

#include "mgc/nn/loss.h"
#include "mgc/model/model.h"
#include "mgc/train/optim.h"
#include "mgc/model/safetensors.h"

#ifndef MGC_SOURCE_DIR
#error "MGC_SOURCE_DIR must point at the repository"
#endif

static const char *python(void) {
  const char *p = getenv("MGC_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

static int have_torch(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s -c 'import torch, yaml, numpy' >/dev/null 2>&1", python());
  int rc = system(cmd);
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* Dropout off in the C net (the twin is built with no_dropout=True). */
static void strip_dropout(mgc_arch *a) {
  for (int i = 0; i < a->n_layers; i++)
    for (int k = 0; k < a->layers[i].n_opts; k++) {
      mgc_spec_opt *o = &a->layers[i].opt[k];
      if ((!strcmp(a->layers[i].type, "dropout") && !strcmp(o->key, "p")) ||
          (!strcmp(o->key, "dropout")))
        strcpy(o->item[0], "0");
    }
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

/* Relative error ||a - b|| / ||b|| and the largest absolute difference. */
static double rel_err(const float *a, const float *b, size_t n, double *maxabs) {
  double d = 0, nb = 0;
  *maxabs = 0;
  for (size_t i = 0; i < n; i++) {
    double e = (double)a[i] - b[i];
    d += e * e;
    nb += (double)b[i] * b[i];
    if (fabs(e) > *maxabs) *maxabs = fabs(e);
  }
  return sqrt(d) / fmax(sqrt(nb), 1e-30);
}

static void expect_close_npy(const char *dir, const char *name, const float *c, size_t n,
                             double tol_abs) {
  char p[600];
  path_in(p, sizeof p, dir, name);
  mgc_npy ref;
  load_npy(p, &ref);
  assert_int_equal(mgc_npy_count(&ref), n);
  double maxabs;
  double rel = rel_err(c, ref.data, n, &maxabs);
  fprintf(stderr, "    %-12s max |diff| %.2e  rel %.2e\n", name, maxabs, rel);
  if (maxabs > tol_abs) fail_msg("%s differs from PyTorch by %g (> %g)", name, maxabs, tol_abs);
  mgc_npy_free(&ref);
}

typedef struct parity_case {
  const char *label;
  const char *yaml;   /* inline architecture, or NULL with `file` */
  const char *file;   /* conf/models/<file>.yaml */
  int batch;
  int weighted;       /* class weights + label smoothing in the loss */
} parity_case;

static void run_case(const parity_case *pc) {
  char yamlpath[512], dir[256], p[600];
  mgc_arch *arch = NULL;
  if (pc->file) {
    snprintf(yamlpath, sizeof yamlpath, "%s/conf/models/%s.yaml", MGC_SOURCE_DIR, pc->file);
    if (mgc_arch_load(yamlpath, &arch)) fail_msg("%s", mgc_error_message());
  } else if (mgc_arch_parse(pc->yaml, strlen(pc->yaml), pc->label, &arch)) {
    fail_msg("%s", mgc_error_message());
  }
  fprintf(stderr, "  %s\n", pc->label);
  mgc_model *model;
  if (mgc_model_new(arch, 0, NULL, 17, &model)) fail_msg("%s", mgc_error_message());
  strip_dropout(arch);
  mgc_net *net;
  if (mgc_net_new(arch, model->n_classes, 17, &net)) fail_msg("%s", mgc_error_message());
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *q = mgc_net_param(net, i), *m = mgc_net_find_param(model->net, q->name);
    assert_non_null(m);
    memcpy(q->value, m->value, q->size * sizeof(float));
  }
  make_tmpdir(dir, sizeof dir);
  path_in(p, sizeof p, dir, "model.safetensors");
  if (mgc_model_save(model, p)) fail_msg("%s", mgc_error_message());

  int B = pc->batch, C = model->n_classes;
  mgc_shape si = mgc_net_input_shape(net);
  size_t d = mgc_shape_size(&si);
  float *x = malloc((size_t)B * d * sizeof(float)), *lab = malloc((size_t)B * sizeof(float));
  int *y = malloc((size_t)B * sizeof(int));
  mgc_rng rng;
  mgc_rng_seed(&rng, 99);
  for (size_t i = 0; i < (size_t)B * d; i++) x[i] = (float)mgc_rng_normal(&rng);
  for (int i = 0; i < B; i++) lab[i] = (float)(y[i] = (int)mgc_rng_below(&rng, (uint64_t)C));
  size_t shape[5] = {(size_t)B};
  for (int k = 0; k < si.ndim; k++) shape[k + 1] = (size_t)si.d[k];
  path_in(p, sizeof p, dir, "x.npy");
  assert_int_equal(mgc_npy_write(p, x, si.ndim + 1, shape), MGC_OK);
  path_in(p, sizeof p, dir, "labels.npy");
  assert_int_equal(mgc_npy_write(p, lab, 1, shape), MGC_OK);
  float *cw = malloc((size_t)C * sizeof(float));
  for (int k = 0; k < C; k++) cw[k] = 0.5f + 0.25f * (float)(k % 4);
  const float smoothing = pc->weighted ? 0.1f : 0.0f;
  const double lr = 1e-3, wd = 1e-4, clip = 1.0;
  path_in(p, sizeof p, dir, "opts.json");
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fprintf(f, "{\"smoothing\": %.9g, \"lr\": %g, \"weight_decay\": %g, \"clip\": %g",
          smoothing, lr, wd, clip);
  if (pc->weighted) {
    fprintf(f, ", \"class_weights\": [");
    for (int k = 0; k < C; k++) fprintf(f, "%s%.9g", k ? ", " : "", cw[k]);
    fprintf(f, "]");
  }
  fprintf(f, "}\n");
  fclose(f);

  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s %s/tests/torch_parity.py %s", python(), MGC_SOURCE_DIR, dir);
  int rc = system(cmd);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) fail_msg("%s failed", cmd);

  /* eval-mode probabilities */
  assert_int_equal(mgc_net_plan(net, B, 1), MGC_OK);
  const float *probs = mgc_net_predict(net, x, B);
  assert_non_null(probs);
  expect_close_npy(dir, "probs.npy", probs, (size_t)B * C, 1e-4);

  /* one training step */
  const float *z = mgc_net_forward(net, x, B, 1);
  assert_non_null(z);
  expect_close_npy(dir, "logits.npy", z, (size_t)B * C, 1e-4 * 10);
  float *dz = malloc((size_t)B * C * sizeof(float)), *dx = malloc((size_t)B * d * sizeof(float));
  float loss = (float)mgc_softmax_ce(z, B, C, y, NULL, pc->weighted ? cw : NULL, smoothing, dz,
                                     NULL);
  expect_close_npy(dir, "loss.npy", &loss, 1, 1e-4);
  assert_int_equal(mgc_net_backward(net, dz, dx), MGC_OK);

  mgc_st_file *g;
  path_in(p, sizeof p, dir, "grads.safetensors");
  if (mgc_st_read(p, &g)) fail_msg("%s", mgc_error_message());
  /* A tensor whose true gradient is zero (a conv bias in front of a
   * training-mode batchnorm) holds rounding noise on both sides; relative
   * error means nothing there, so such tensors must instead be zero up to
   * rounding in both (below 1e-5 of the largest gradient norm). */
  double biggest = 0;
  for (int i = 0; i < mgc_st_n_tensors(g); i++) {
    const mgc_st_tensor *t = mgc_st_tensor_at(g, i);
    float *ref = malloc(t->count * sizeof(float));
    assert_int_equal(mgc_st_to_f32(t, ref), MGC_OK);
    double nn = 0;
    for (size_t k = 0; k < t->count; k++) nn += (double)ref[k] * ref[k];
    biggest = fmax(biggest, sqrt(nn));
    free(ref);
  }
  double worst = 0;
  const char *worst_name = "";
  int n_checked = 0, n_zero = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *q = mgc_net_param(net, i);
    if (!q->grad) continue;
    const mgc_st_tensor *t = mgc_st_find(g, q->name);
    if (!t) fail_msg("PyTorch has no gradient for %s", q->name);
    assert_int_equal(t->count, q->size);
    float *ref = malloc(q->size * sizeof(float));
    assert_int_equal(mgc_st_to_f32(t, ref), MGC_OK);
    double maxabs, rel = rel_err(q->grad, ref, q->size, &maxabs);
    double na = 0, nb = 0;
    for (size_t k = 0; k < q->size; k++) {
      na += (double)q->grad[k] * q->grad[k];
      nb += (double)ref[k] * ref[k];
    }
    if (sqrt(nb) < 1e-5 * biggest) {
      if (sqrt(na) >= 1e-5 * biggest)
        fail_msg("gradient of %s: PyTorch's is zero up to rounding (%.3g), ours is %.3g",
                 q->name, sqrt(nb), sqrt(na));
      n_zero++;
    } else {
      if (rel > worst) worst = rel, worst_name = q->name;
      if (rel > 1e-3) fail_msg("gradient of %s: relative error %.3g (> 1e-3)", q->name, rel);
    }
    free(ref);
    n_checked++;
  }
  assert_int_equal(n_checked, mgc_st_n_tensors(g));
  fprintf(stderr, "    grads        %d tensors, worst rel %.2e (%s); %d zero up to rounding\n",
          n_checked, worst, worst_name, n_zero);
  mgc_st_free(g);
  {
    path_in(p, sizeof p, dir, "dx.npy");
    mgc_npy ref;
    load_npy(p, &ref);
    double maxabs, rel = rel_err(dx, ref.data, (size_t)B * d, &maxabs);
    fprintf(stderr, "    dx           rel %.2e\n", rel);
    if (rel > 1e-3) fail_msg("input gradient: relative error %.3g (> 1e-3)", rel);
    mgc_npy_free(&ref);
  }

  /* one Adam step (L2 decay, clipping) on both sides */
  mgc_optim_params op;
  mgc_optim_params_default(&op);
  op.lr = lr;
  op.weight_decay = wd;
  op.clip_norm = clip;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&op, net, &o), MGC_OK);
  mgc_optim_step(o);
  mgc_optim_free(o);
  path_in(p, sizeof p, dir, "state.safetensors");
  if (mgc_st_read(p, &g)) fail_msg("%s", mgc_error_message());
  assert_int_equal(mgc_st_n_tensors(g), mgc_net_n_params(net));
  size_t off = 0, total = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *q = mgc_net_param(net, i);
    const mgc_st_tensor *t = mgc_st_find(g, q->name);
    if (!t) fail_msg("PyTorch state has no %s", q->name);
    float *ref = malloc(q->size * sizeof(float));
    assert_int_equal(mgc_st_to_f32(t, ref), MGC_OK);
    for (size_t k = 0; k < q->size; k++) {
      double e = fabs((double)q->value[k] - ref[k]);
      /* Adam's first step is lr * sign(g) where |g| >> eps: a gradient that
       * is zero up to rounding may take either sign, so allow 2 lr there
       * but count it; everything else must agree to 1e-5. */
      double tol = q->grad ? 1e-5 + 1e-5 * fabs(ref[k]) : 1e-4 * (1 + fabs(ref[k]));
      if (e > tol) {
        off++;
        if (e > 2 * lr + 1e-5 || !q->grad)
          fail_msg("%s[%zu] after one Adam step: %g vs PyTorch %g", q->name, k, q->value[k],
                   ref[k]);
      }
    }
    total += q->size;
    free(ref);
  }
  fprintf(stderr, "    adam step    %zu of %zu values differ by more than 1e-5\n", off, total);
  assert_true(off * 1000 <= total);
  mgc_st_free(g);

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(x), free(lab), free(y), free(cw), free(dz), free(dx);
  mgc_net_free(net);
  mgc_model_free(model);
  mgc_arch_free(arch);
}

static const parity_case k_cases[] = {
    {"conf/models/crnn.yaml (the default CRNN)", NULL, "crnn", 3, 1},
    {"conf/models/cnn.yaml", NULL, "cnn", 2, 0},
    {"conf/models/mfcc_rnn.yaml (stacked LSTM)", NULL, "mfcc_rnn", 3, 0},
    {"conf/models/chroma_rnn.yaml (bidirectional GRU, sequence)", NULL, "chroma_rnn", 3, 1},
    {"conf/models/waveform_cnn.yaml (conv1d)", NULL, "waveform_cnn", 2, 0},
    {"conf/models/mlp.yaml (batchnorm1d on vectors)", NULL, "mlp", 5, 1},
    {"conv options: stride, dilation, no bias, avg pool with padding, leaky relu, elu",
     "input: [2, 20, 24]\nclasses: 5\nlayers:\n"
     "  - {type: conv2d, out: 6, kernel: [3, 5], stride: [2, 1], dilation: [1, 2], bias: false}\n"
     "  - {type: batchnorm, momentum: 0.2}\n  - {type: leaky_relu, slope: 0.1}\n"
     "  - {type: avgpool2d, kernel: [2, 3], padding: 1}\n"
     "  - {type: conv2d, out: 8, kernel: 3, padding: same}\n  - {type: elu}\n"
     "  - {type: maxpool2d, kernel: [3, 2], stride: [2, 2], padding: [1, 0]}\n"
     "  - {type: global_maxpool}\n  - {type: dense, out: classes}\n  - {type: softmax}\n",
     NULL, 4, 1},
    {"recurrent options: bidirectional LSTM sequence, GRU last without bias, tanh, sigmoid",
     "input: [9, 5]\nclasses: 4\nlayers:\n"
     "  - {type: lstm, hidden: 6, layers: 2, bidirectional: true}\n  - {type: tanh}\n"
     "  - {type: gru, hidden: 7, return: last, bias: false}\n  - {type: sigmoid}\n"
     "  - {type: dense, out: classes}\n",
     NULL, 3, 0},
    {"1-D pools and conv1d options",
     "input: [3, 50]\nclasses: 3\nlayers:\n"
     "  - {type: conv1d, out: 4, kernel: 5, stride: 2, dilation: 2, padding: 2}\n"
     "  - {type: batchnorm1d}\n  - {type: relu}\n  - {type: maxpool1d, kernel: 3, stride: 2}\n"
     "  - {type: avgpool1d, kernel: 2}\n  - {type: to_sequence}\n"
     "  - {type: temporal_pool, mode: max}\n  - {type: dense, out: classes}\n",
     NULL, 4, 1},
};

static void test_parity(void **st) {
  if (!have_torch()) {
    fprintf(stderr, "  SKIPPED: %s cannot import torch, yaml and numpy (install "
                    "python3-torch python3-yaml, or run scripts/setup --bench)\n", python());
    skip();
  }
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) run_case(&k_cases[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parity)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
