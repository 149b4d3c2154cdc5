/* mgc-model end to end: init/info/run/import produce what the library
 * produces in-process; bad input exits 1 with a message naming the file,
 * usage errors exit 2. */
#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#include "mgc/model/model.h"
#include "mgc/model/safetensors.h"
#include "mgc/model/session.h"
#include "test_util.h"

#ifndef MGC_MODEL_BIN
#error "MGC_MODEL_BIN must point at the mgc-model binary"
#endif

static const char *k_arch =
    "name: cli-tiny\n"
    "feature: logmel\n"
    "input: [1, 8, 6]\n"
    "classes: 3\n"
    "layers:\n"
    "  - {type: flatten}\n"
    "  - {type: dense, out: 16}\n"
    "  - {type: relu}\n"
    "  - {type: dropout, p: 0.3}\n"
    "  - {type: dense, out: classes}\n"
    "  - {type: softmax}\n";


static int runf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int runf(char *out, size_t cap, const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = run(cmd, out, cap);
  print_message("    $ %s -> %d\n", cmd, rc);
  return rc;
}

static void expect_out(const char *out, const char *sub) {
  if (!strstr(out, sub)) fail_msg("output does not contain \"%s\":\n%s", sub, out);
}

static void path_in(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f) fclose(f);
  return f != NULL;
}

static mgc_model *load(const char *path) {
  mgc_model *m;
  if (mgc_model_load(path, &m)) fail_msg("%s", mgc_error_message());
  return m;
}

static void expect_same_weights(const mgc_net *a, const mgc_net *b) {
  assert_int_equal(mgc_net_n_params(a), mgc_net_n_params(b));
  for (int i = 0; i < mgc_net_n_params(a); i++) {
    const mgc_param *p = mgc_net_param(a, i), *q = mgc_net_find_param(b, p->name);
    assert_non_null(q);
    assert_int_equal(p->size, q->size);
    assert_memory_equal(p->value, q->value, p->size * sizeof(float));
  }
}

static void test_init_and_info(void **st) {
  (void)st;
  char arch[512], model[512], fe[512], out[16384];
  path_in(arch, sizeof arch, "arch.yaml");
  path_in(model, sizeof model, "init.safetensors");
  path_in(fe, sizeof fe, "frontend.json");
  write_text(arch, k_arch);
  write_text(fe, "{\"n_mels\": 32, \"hop_length\": 256}\n");
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s' --seed 5 --classes 'jazz, metal,pop' "
                        "--frontend '%s'", MGC_MODEL_BIN, arch, model, fe), 0);
  expect_out(out, "wrote");
  expect_out(out, "835 trainable parameters");
  /* same weights as the library makes from the same seed */
  mgc_model *m = load(model);
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(k_arch, strlen(k_arch), "x", &a), MGC_OK);
  mgc_model *ref;
  assert_int_equal(mgc_model_new(a, 3, NULL, 5, &ref), MGC_OK);
  expect_same_weights(m->net, ref->net);
  assert_string_equal(m->classes[0], "jazz");
  assert_string_equal(m->classes[1], "metal"); /* spaces around names are trimmed */
  assert_string_equal(m->classes[2], "pop");
  assert_int_equal(m->frontend.n_mels, 32);
  assert_int_equal(m->frontend.hop_length, 256);
  mgc_model_free(ref);
  mgc_arch_free(a);
  mgc_model_free(m);

  assert_int_equal(runf(out, sizeof out, "%s info '%s'", MGC_MODEL_BIN, model), 0);
  expect_out(out, "name: cli-tiny");
  expect_out(out, "feature: logmel");
  expect_out(out, "input: [1, 8, 6]");
  expect_out(out, "classes (3): jazz, metal, pop");
  expect_out(out, "dense");
  expect_out(out, "[16]");
  expect_out(out, "784");
  expect_out(out, "trainable parameters: 835");
  expect_out(out, "\"n_mels\":32");
  expect_out(out, "standardisation: none");

  assert_int_equal(runf(out, sizeof out, "%s info --json '%s'", MGC_MODEL_BIN, model), 0);
  json_error_t jerr;
  json_t *j = json_loads(out, 0, &jerr);
  if (!j) fail_msg("info --json is not JSON (%s):\n%s", jerr.text, out);
  assert_int_equal(json_integer_value(json_object_get(j, "trainable_params")), 835);
  assert_string_equal(json_string_value(json_object_get(j, "name")), "cli-tiny");
  assert_int_equal(json_array_size(json_object_get(j, "classes")), 3);
  json_t *l1 = json_array_get(json_object_get(j, "layers"), 1);
  assert_string_equal(json_string_value(json_object_get(l1, "type")), "dense");
  assert_int_equal(json_integer_value(json_object_get(l1, "params")), 784);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(l1, "output"), 0)), 16);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "frontend"), "n_mels")), 32);
  assert_true(json_is_null(json_object_get(j, "norm")));
  json_decref(j);
}

static void test_info_with_stats_recipe_metrics(void **st) {
  (void)st;
  char model[512], out[16384];
  path_in(model, sizeof model, "stats.safetensors");
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(k_arch, strlen(k_arch), "x", &a), MGC_OK);
  mgc_model *m;
  assert_int_equal(mgc_model_new(a, 3, NULL, 1, &m), MGC_OK);
  mgc_arch_free(a);
  float mean[8] = {-40, -30, -20, -10, 0, 1, 2, 3}, sd[8] = {5, 6, 7, 8, 9, 10, 11, 12.5f};
  assert_int_equal(mgc_model_set_norm(m, 8, mean, sd), MGC_OK);
  assert_int_equal(mgc_model_set_recipe(m, "epochs: 30\nbatch: 32\n"), MGC_OK);
  assert_int_equal(mgc_model_set_metrics(m, "{\"test_accuracy\": 0.75}"), MGC_OK);
  assert_int_equal(mgc_model_save(m, model), MGC_OK);
  mgc_model_free(m);
  assert_int_equal(runf(out, sizeof out, "%s info '%s'", MGC_MODEL_BIN, model), 0);
  expect_out(out, "standardisation: 8 bands on input axis 1, mean -40..3, std 5..12.5");
  expect_out(out, "recipe:\n  epochs: 30\n  batch: 32");
  expect_out(out, "metrics: {\"test_accuracy\": 0.75}");
  assert_int_equal(runf(out, sizeof out, "%s info '%s' --json", MGC_MODEL_BIN, model), 0);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  json_t *norm = json_object_get(j, "norm");
  assert_int_equal(json_integer_value(json_object_get(norm, "dim")), 8);
  assert_true(json_real_value(json_array_get(json_object_get(norm, "std"), 7)) == 12.5);
  assert_true(json_real_value(json_object_get(json_object_get(j, "metrics"), "test_accuracy")) == 0.75);
  assert_string_equal(json_string_value(json_object_get(j, "recipe")), "epochs: 30\nbatch: 32\n");
  json_decref(j);
}

static void test_run(void **st) {
  (void)st;
  char arch[512], model[512], xin[512], x1[512], pout[512], out[16384];
  path_in(arch, sizeof arch, "arch.yaml");
  path_in(model, sizeof model, "run.safetensors");
  path_in(xin, sizeof xin, "x.npy");
  path_in(x1, sizeof x1, "x1.npy");
  path_in(pout, sizeof pout, "p.npy");
  write_text(arch, k_arch);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s' --seed 9 --classes a,b,c", MGC_MODEL_BIN, arch, model), 0);
  /* give it statistics so run must standardise */
  mgc_model *m = load(model);
  float mean[8], sd[8];
  for (int i = 0; i < 8; i++) mean[i] = (float)i - 3.5f, sd[i] = 0.5f + (float)i;
  assert_int_equal(mgc_model_set_norm(m, 8, mean, sd), MGC_OK);
  assert_int_equal(mgc_model_save(m, model), MGC_OK);
  float x[5 * 48];
  uint64_t seed = 21;
  for (int i = 0; i < 5 * 48; i++) x[i] = (float)(test_rand(&seed) % 2001) / 100.0f - 10.0f;
  size_t shape[4] = {5, 1, 8, 6};
  assert_int_equal(mgc_npy_write(xin, x, 4, shape), MGC_OK);
  assert_int_equal(mgc_npy_write(x1, x, 3, shape + 1), MGC_OK);
  /* in-process reference */
  mgc_session *s;
  float ref[15];
  assert_int_equal(mgc_session_new(m, 5, &s), MGC_OK);
  assert_int_equal(mgc_session_run(s, x, 5, ref), MGC_OK);
  mgc_session_free(s);

  assert_int_equal(runf(out, sizeof out, "%s run '%s' '%s' --out '%s'", MGC_MODEL_BIN, model, xin, pout), 0);
  expect_out(out, "0: ");
  expect_out(out, "4: ");
  expect_out(out, "wrote");
  mgc_npy p;
  load_npy(pout, &p);
  assert_int_equal(p.ndim, 2);
  assert_int_equal(p.shape[0], 5);
  assert_int_equal(p.shape[1], 3);
  assert_memory_equal(p.data, ref, sizeof ref);
  /* the printed top class is the argmax of row 0 */
  int top = 0;
  for (int c = 1; c < 3; c++)
    if (ref[c] > ref[top]) top = c;
  char line[64];
  snprintf(line, sizeof line, "0: %s %.4f", m->classes[top], (double)ref[top]);
  expect_out(out, line);
  mgc_npy_free(&p);

  /* smaller batches: the same numbers up to rounding of the GEMM blocking */
  assert_int_equal(runf(out, sizeof out, "%s run '%s' '%s' -o '%s' --batch 2 -q", MGC_MODEL_BIN, model, xin, pout), 0);
  assert_string_equal(out, "");
  load_npy(pout, &p);
  assert_int_equal(p.shape[0], 5);
  for (int i = 0; i < 15; i++) assert_true(fabsf(p.data[i] - ref[i]) < 1e-6f);
  mgc_npy_free(&p);

  /* one sample without the batch axis */
  assert_int_equal(runf(out, sizeof out, "%s run '%s' '%s' --out '%s'", MGC_MODEL_BIN, model, x1, pout), 0);
  load_npy(pout, &p);
  assert_int_equal(p.ndim, 2);
  assert_int_equal(p.shape[0], 1);
  for (int i = 0; i < 3; i++) assert_true(fabsf(p.data[i] - ref[i]) < 1e-6f);
  mgc_npy_free(&p);

  /* an input of another shape is bad input */
  size_t bad[2] = {6, 8};
  assert_int_equal(mgc_npy_write(x1, x, 2, bad), MGC_OK);
  assert_int_equal(runf(out, sizeof out, "%s run '%s' '%s'", MGC_MODEL_BIN, model, x1), 1);
  expect_out(out, x1);
  expect_out(out, "neither the model's input [1, 8, 6]");
  mgc_model_free(m);
}

static void test_import(void **st) {
  (void)st;
  char arch[512], state[512], model[512], cls[512], out[16384];
  path_in(arch, sizeof arch, "arch.yaml");
  path_in(state, sizeof state, "state.safetensors");
  path_in(model, sizeof model, "imported.safetensors");
  path_in(cls, sizeof cls, "classes.txt");
  write_text(arch, k_arch);
  write_text(cls, "blues\r\n\nclassical\n  country \n");
  /* a state dict with PyTorch's names, as F64, plus a step counter */
  mgc_arch *a;
  assert_int_equal(mgc_arch_load(arch, &a), MGC_OK);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 3, 31, &net), MGC_OK);
  mgc_st_entry e[5];
  double *bufs[4];
  int n = mgc_net_n_params(net);
  assert_int_equal(n, 4);
  for (int i = 0; i < n; i++) {
    mgc_param *p = mgc_net_param(net, i);
    bufs[i] = malloc(sizeof(double) * p->size);
    for (size_t k = 0; k < p->size; k++) bufs[i][k] = p->value[k];
    e[i] = (mgc_st_entry){.name = p->name, .dtype = MGC_ST_F64, .ndim = p->ndim, .data = bufs[i]};
    for (int d = 0; d < p->ndim; d++) e[i].shape[d] = (size_t)p->shape[d];
  }
  int64_t steps = 7;
  e[n] = (mgc_st_entry){.name = "3.num_batches_tracked", .dtype = MGC_ST_I64, .data = &steps};
  mgc_st_meta_entry meta = {"format", "pt"};
  assert_int_equal(mgc_st_write(state, &meta, 1, e, n + 1), MGC_OK);

  assert_int_equal(runf(out, sizeof out, "%s import '%s' '%s' '%s' --classes-file '%s'", MGC_MODEL_BIN, arch, state, model, cls), 0);
  expect_out(out, "wrote");
  mgc_model *m = load(model);
  expect_same_weights(net, m->net);
  assert_int_equal(m->n_classes, 3);
  assert_string_equal(m->classes[0], "blues");
  assert_string_equal(m->classes[1], "classical");
  assert_string_equal(m->classes[2], "country");
  mgc_model_free(m);

  /* default class names */
  assert_int_equal(runf(out, sizeof out, "%s import '%s' '%s' '%s'", MGC_MODEL_BIN, arch, state, model), 0);
  m = load(model);
  assert_string_equal(m->classes[2], "2");
  mgc_model_free(m);

  /* a state dict that does not fit: exit 1, the tensor named, no output */
  char other[512];
  path_in(other, sizeof other, "never-written.safetensors");
  assert_int_equal(runf(out, sizeof out, "%s import '%s' '%s' '%s' --classes a,b,c,d", MGC_MODEL_BIN, arch, state, other), 1);
  expect_out(out, "tensor '4.weight' has shape [3, 16], the architecture expects [4, 16]");
  assert_false(file_exists(other));
  for (int i = 0; i < n; i++) free(bufs[i]);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_exit_codes(void **st) {
  (void)st;
  char arch[512], model[512], bad[512], out[16384];
  path_in(arch, sizeof arch, "arch.yaml");
  path_in(model, sizeof model, "codes.safetensors");
  path_in(bad, sizeof bad, "corrupt.safetensors");
  write_text(arch, k_arch);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s'", MGC_MODEL_BIN, arch, model), 0);
  /* corrupt: truncated copy */
  assert_int_equal(runf(out, sizeof out, "head -c $(( $(stat -c %%s '%s') - 100 )) '%s' > '%s'", model, model, bad), 0);
  assert_int_equal(runf(out, sizeof out, "%s info '%s'", MGC_MODEL_BIN, bad), 1);
  expect_out(out, bad);
  expect_out(out, "beyond the data buffer");
  assert_int_equal(runf(out, sizeof out, "%s run '%s' x.npy", MGC_MODEL_BIN, bad), 1);
  expect_out(out, bad);
  write_text(bad, "not a model at all, just text\n");
  assert_int_equal(runf(out, sizeof out, "%s info '%s'", MGC_MODEL_BIN, bad), 1);
  expect_out(out, "absurd");
  assert_int_equal(runf(out, sizeof out, "%s info '%s/nope.safetensors'", MGC_MODEL_BIN, g_dir), 1);
  expect_out(out, "No such file");
  write_text(bad, "input: [4\n");
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s/x.safetensors'", MGC_MODEL_BIN, bad, g_dir), 1);
  expect_out(out, ":2:1:");
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s/no/such/dir/m.safetensors'", MGC_MODEL_BIN, arch, g_dir), 1);
  expect_out(out, "cannot create");
  assert_int_equal(runf(out, sizeof out, "%s run '%s' '%s/none.npy'", MGC_MODEL_BIN, model, g_dir), 1);
  /* usage errors */
  assert_int_equal(runf(out, sizeof out, "%s", MGC_MODEL_BIN), 2);
  expect_out(out, "usage");
  assert_int_equal(runf(out, sizeof out, "%s frobnicate x", MGC_MODEL_BIN), 2);
  expect_out(out, "unknown command 'frobnicate'");
  assert_int_equal(runf(out, sizeof out, "%s info", MGC_MODEL_BIN), 2);
  assert_int_equal(runf(out, sizeof out, "%s info a b", MGC_MODEL_BIN), 2);
  assert_int_equal(runf(out, sizeof out, "%s info '%s' --bogus", MGC_MODEL_BIN, model), 2);
  assert_int_equal(runf(out, sizeof out, "%s run '%s'", MGC_MODEL_BIN, model), 2);
  assert_int_equal(runf(out, sizeof out, "%s run '%s' x.npy --json", MGC_MODEL_BIN, model), 2);
  expect_out(out, "--json does not apply to 'run'");
  assert_int_equal(runf(out, sizeof out, "%s run '%s' x.npy --batch 0", MGC_MODEL_BIN, model), 2);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' o --seed abc", MGC_MODEL_BIN, arch), 2);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' o --seed -1", MGC_MODEL_BIN, arch), 2);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' o --classes a,,b", MGC_MODEL_BIN, arch), 2);
  assert_int_equal(runf(out, sizeof out, "%s init '%s' o --classes a --classes-file f", MGC_MODEL_BIN, arch), 2);
  assert_int_equal(runf(out, sizeof out, "%s import a b", MGC_MODEL_BIN), 2);
  assert_int_equal(runf(out, sizeof out, "%s import a b c --seed 3", MGC_MODEL_BIN), 2);
  assert_false(file_exists("o"));
  assert_int_equal(runf(out, sizeof out, "%s --help", MGC_MODEL_BIN), 0);
  expect_out(out, "import");
  /* a class count the architecture cannot give is bad input, not usage */
  write_text(bad, "input: [4]\nlayers: [{type: dense, out: 5}]\n");
  assert_int_equal(runf(out, sizeof out, "%s init '%s' '%s/y.safetensors' --classes a,b", MGC_MODEL_BIN, bad, g_dir), 1);
  expect_out(out, "gives 5 outputs");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_and_info),
      cmocka_unit_test(test_info_with_stats_recipe_metrics),
      cmocka_unit_test(test_run),
      cmocka_unit_test(test_import),
      cmocka_unit_test(test_exit_codes),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
