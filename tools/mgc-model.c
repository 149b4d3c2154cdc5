/* mgc-model: inspect, run, create and import mgc model files. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/audio/audio.h"
#include "mgc/model/embed.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/train/ensemble_eval.h"
#include "mgc/util/json_quote.h"
#include "mgc/model/model.h"
#include "mgc/io/npy.h"
#include "mgc/model/session.h"

#include "audio_files.h"

static void usage(FILE *f, int full) {
  fprintf(f,
          "usage: mgc-model info FILE [--json]\n"
          "       mgc-model run FILE INPUT.npy [--out P.npy] [--batch N] [--quiet]\n"
          "       mgc-model embed FILE AUDIO|DIR... [--layer NAME] [--out E.csv]\n"
          "       mgc-model calibrate FILE CV.json [--out OUT]\n"
          "       mgc-model import ARCH.yaml STATE.safetensors OUT [--classes a,b,c | "
          "--classes-file F]\n"
          "                        [--frontend JSON-FILE]\n"
          "       mgc-model init ARCH.yaml OUT [--seed N] [--classes a,b,c | --classes-file F]\n"
          "                        [--frontend JSON-FILE]\n");
  if (!full) {
    fprintf(f, "'mgc-model --help' explains the commands and options.\n");
    return;
  }
  fprintf(f,
          "\n"
          "  info    architecture, layers with output shapes and parameter counts, classes,\n"
          "          front-end parameters, standardisation statistics, recipe and metrics\n"
          "  run     classify INPUT (one sample of the model's input shape, or a batch\n"
          "          [N, ...]); prints the top class of each row; --out writes the\n"
          "          probabilities as float32 .npy [N, classes]\n"
          "  embed   each recording's embedding: the output of one layer (--layer, a name\n"
          "          from 'info'; default the head's input, e.g. the FCN's 64 values),\n"
          "          averaged over the recording's windows, as CSV (file, folder, e0, ...;\n"
          "          folder: the file's directory name, its label in a folder per class)\n"
          "  calibrate  the temperature of the model's decision, fitted on its\n"
          "          mgc-train --cv-json file's out-of-fold predictions, written into FILE\n"
          "          (or --out)\n"
          "  import  a PyTorch state dict (safetensors.torch.save_file(model.state_dict()))\n"
          "          whose tensor names and shapes follow ARCH.yaml\n"
          "  init    a freshly initialised model (seed 0 unless --seed)\n"
          "\n"
          "  --classes a,b,c     class names (default: the architecture's count, named 0..n-1)\n"
          "  --classes-file F    class names, one per line\n"
          "  --frontend F        front-end parameters as JSON (default: mgc's defaults)\n"
          "  -h, --help          this help\n"
          "Exit status: 0 ok, 1 bad input (message says why), 2 usage error.\n");
}

static int fail(void) {
  fprintf(stderr, "mgc-model: %s\n", mgc_error_message());
  return 1;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
    return NULL;
  }
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) break;
    if (len + 1 == cap) {
      char *nb = cap < (1u << 26) ? realloc(buf, cap * 2) : NULL;
      if (!nb) free(buf);
      buf = nb;
      cap *= 2;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (!buf || err) {
    free(buf);
    mgc_error_set(MGC_EIO, "%s: cannot read", path);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

/* ---- class lists -------------------------------------------------------- */

typedef struct {
  int n;
  char **v;
} str_list;

static void list_free(str_list *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->n = 0;
  l->v = NULL;
}

static int list_push(str_list *l, const char *s, size_t len) {
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
  while (len && (*s == ' ' || *s == '\t')) s++, len--;
  char **nv = realloc(l->v, sizeof *nv * (size_t)(l->n + 1));
  if (!nv) return -1;
  l->v = nv;
  if (!(l->v[l->n] = malloc(len + 1))) return -1;
  memcpy(l->v[l->n], s, len);
  l->v[l->n++][len] = '\0';
  return 0;
}

/* "a,b,c": every name must be non-empty (a usage error otherwise). */
static int split_classes(const char *s, str_list *l) {
  for (;;) {
    const char *c = strchr(s, ',');
    size_t len = c ? (size_t)(c - s) : strlen(s);
    if (list_push(l, s, len) || !l->v[l->n - 1][0]) return -1;
    if (!c) return 0;
    s = c + 1;
  }
}

/* One name per line; blank lines are skipped. */
static int read_classes_file(const char *path, str_list *l) {
  char *text = read_text(path);
  if (!text) return -1;
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
    if (k < len && list_push(l, line, len)) {
      free(text);
      mgc_error_set(MGC_ENOMEM, "out of memory");
      return -1;
    }
    line += len + (nl ? 1 : 0);
  }
  free(text);
  if (l->n == 0) {
    mgc_error_set(MGC_EFORMAT, "%s: no class names in it", path);
    return -1;
  }
  return 0;
}

/* ---- info --------------------------------------------------------------- */

static void layer_counts(const mgc_layer *l, size_t *trainable, size_t *buffers) {
  *trainable = *buffers = 0;
  for (int j = 0; j < l->n_params; j++)
    *(l->params[j].grad ? trainable : buffers) += l->params[j].size;
}

static json_t *shape_json(const mgc_shape *s) {
  json_t *a = json_array();
  for (int i = 0; i < s->ndim; i++) json_array_append_new(a, json_integer(s->d[i]));
  return a;
}

static json_t *floats_json(const float *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
  return a;
}

static int info_json(const char *path, const mgc_model *m) {
  const mgc_net *net = m->net;
  json_t *o = json_object(), *layers = json_array(), *classes = json_array();
  json_object_set_new(o, "file", json_string(path));
  json_object_set_new(o, "name", json_string(m->arch->name));
  json_object_set_new(o, "feature", json_string(m->arch->feature));
  json_object_set_new(o, "description", json_string(m->arch->description));
  json_object_set_new(o, "input", shape_json(&m->arch->input));
  for (int i = 0; i < m->n_classes; i++) json_array_append_new(classes, json_string(m->classes[i]));
  json_object_set_new(o, "classes", classes);
  size_t buffers_total = 0;
  for (int i = 0; i < mgc_net_n_layers(net); i++) {
    const mgc_layer *l = mgc_net_layer(net, i);
    size_t tr, bu;
    layer_counts(l, &tr, &bu);
    buffers_total += bu;
    json_array_append_new(
        layers, json_pack("{s:i, s:s, s:s, s:o, s:I, s:I}", "index", i, "name", l->name, "type",
                          m->arch->layers[i].type, "output", shape_json(&l->out), "params",
                          (json_int_t)tr, "buffers", (json_int_t)bu));
  }
  json_object_set_new(o, "layers", layers);
  json_object_set_new(o, "trainable_params", json_integer((json_int_t)mgc_net_param_count(net)));
  json_object_set_new(o, "buffer_values", json_integer((json_int_t)buffers_total));
  char *fe = NULL;
  if (mgc_frontend_params_to_json(&m->frontend, &fe) == MGC_OK)
    json_object_set_new(o, "frontend", json_loads(fe, 0, NULL));
  free(fe);
  json_object_set_new(o, "norm",
                      m->norm_dim ? json_pack("{s:i, s:i, s:o, s:o}", "dim", m->norm_dim, "axis",
                                              mgc_model_band_axis(m->arch), "mean",
                                              floats_json(m->norm_mean, m->norm_dim), "std",
                                              floats_json(m->norm_std, m->norm_dim))
                                  : json_null());
  json_object_set_new(o, "recipe", m->recipe ? json_string(m->recipe) : json_null());
  /* metrics are JSON when mgc-train wrote them: nest them as such */
  json_t *mj = m->metrics ? json_loads(m->metrics, JSON_DECODE_ANY, NULL) : NULL;
  json_object_set_new(o, "metrics", mj ? mj : m->metrics ? json_string(m->metrics) : json_null());
  json_object_set_new(o, "temperature", json_real(m->temperature));
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
  json_decref(o);
  if (!s) {
    fprintf(stderr, "mgc-model: cannot format JSON (names not UTF-8?)\n");
    return 1;
  }
  puts(s);
  free(s);
  return 0;
}

static void print_block(const char *label, const char *text) {
  printf("%s:", label);
  if (!strchr(text, '\n')) {
    printf(" %s\n", text);
    return;
  }
  printf("\n");
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    int len = nl ? (int)(nl - p) : (int)strlen(p);
    printf("  %.*s\n", len, p);
    p += len + (nl ? 1 : 0);
  }
}

static int cmd_info(const char *path, int as_json) {
  mgc_model *m;
  if (mgc_model_load(path, &m)) return fail();
  if (as_json) {
    int rc = info_json(path, m);
    mgc_model_free(m);
    return rc;
  }
  char buf[96];
  const mgc_net *net = m->net;
  printf("%s\n", path);
  printf("name: %s\n", m->arch->name[0] ? m->arch->name : "(unnamed)");
  if (m->arch->description[0]) printf("description: %s\n", m->arch->description);
  printf("feature: %s\n", m->arch->feature[0] ? m->arch->feature : "(not given)");
  printf("input: %s\n", mgc_shape_str(&m->arch->input, buf, sizeof buf));
  printf("classes (%d):", m->n_classes);
  for (int i = 0; i < m->n_classes; i++) printf("%s %s", i ? "," : "", m->classes[i]);
  if (m->temperature != 1) printf("\ntemperature: %.4g (its decision alone is calibrated)", m->temperature);
  printf("\nlayers:\n  %3s  %-12s %-14s %-18s %12s\n", "#", "name", "type", "output", "params");
  size_t buffers_total = 0;
  for (int i = 0; i < mgc_net_n_layers(net); i++) {
    const mgc_layer *l = mgc_net_layer(net, i);
    size_t tr, bu;
    layer_counts(l, &tr, &bu);
    buffers_total += bu;
    printf("  %3d  %-12s %-14s %-18s %12zu", i, l->name, m->arch->layers[i].type,
           mgc_shape_str(&l->out, buf, sizeof buf), tr);
    if (bu) printf("  (+%zu in buffers)", bu);
    printf("\n");
  }
  printf("trainable parameters: %zu", mgc_net_param_count(net));
  if (buffers_total) printf(" (+%zu values in buffers)", buffers_total);
  printf("\n");
  char *fe = NULL;
  if (mgc_frontend_params_to_json(&m->frontend, &fe) == MGC_OK) printf("frontend: %s\n", fe);
  free(fe);
  if (m->norm_dim) {
    float mlo = INFINITY, mhi = -INFINITY, slo = INFINITY, shi = -INFINITY;
    for (int i = 0; i < m->norm_dim; i++) {
      mlo = fminf(mlo, m->norm_mean[i]);
      mhi = fmaxf(mhi, m->norm_mean[i]);
      slo = fminf(slo, m->norm_std[i]);
      shi = fmaxf(shi, m->norm_std[i]);
    }
    printf("standardisation: %d bands on input axis %d, mean %.6g..%.6g, std %.6g..%.6g\n",
           m->norm_dim, mgc_model_band_axis(m->arch), (double)mlo, (double)mhi, (double)slo,
           (double)shi);
  } else {
    printf("standardisation: none\n");
  }
  if (m->recipe) print_block("recipe", m->recipe);
  if (m->metrics) print_block("metrics", m->metrics);
  mgc_model_free(m);
  return 0;
}

/* ---- run ---------------------------------------------------------------- */

/* A CSV field: quoted when it holds a comma, a quote or a line end. */
static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* The name of the directory holding `path` ("" for none). */
static void folder_of(const char *path, char *out, size_t cap) {
  const char *end = strrchr(path, '/');
  const char *start = end;
  while (start && start > path && start[-1] != '/') start--;
  snprintf(out, cap, "%.*s", end ? (int)(end - start) : 0, end ? start : "");
}

static int cmd_embed(const char *model_path, char **inputs, int n_inputs, const char *layer,
                     const char *out_path, int max_batch, int quiet) {
  mgc_model *m = NULL;
  mgc_embedder *e = NULL;
  mgc_path_list files = {0};
  FILE *out = stdout;
  int rc = 1, failures = 0;
  if (mgc_model_load(model_path, &m) || mgc_embedder_new(m, layer, max_batch, &e)) goto done;
  for (int i = 0; i < n_inputs; i++)
    if (mgc_path_list_add(&files, inputs[i])) {
      mgc_error_set(MGC_ENOMEM, "out of memory listing %s", inputs[i]);
      goto done;
    }
  if (out_path && !(out = fopen(out_path, "w"))) {
    mgc_error_set(MGC_EIO, "%s: %s", out_path, strerror(errno));
    goto done;
  }
  size_t dim = mgc_embedder_dim(e);
  if (!quiet)
    fprintf(stderr, "mgc-model: %zu values from layer %d (%s) of %s, %d file%s\n", dim,
            mgc_embedder_layer(e), mgc_net_layer(m->net, mgc_embedder_layer(e))->name, model_path,
            files.n, files.n == 1 ? "" : "s");
  fprintf(out, "file,folder");
  for (size_t k = 0; k < dim; k++) fprintf(out, ",e%zu", k);
  fputc('\n', out);
  float *v = malloc(dim * sizeof *v);
  if (!v) {
    mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  for (int i = 0; i < files.n; i++) {
    mgc_audio a = {0};
    mgc_status st = mgc_audio_load(files.v[i], m->frontend.sample_rate, &a);
    if (!st) st = mgc_embedder_process(e, a.samples, a.n, v, NULL);
    free(a.samples);
    if (st) { /* reported, and the other files still embedded */
      fprintf(stderr, "mgc-model: %s: %s\n", files.v[i], mgc_error_message());
      failures++;
      continue;
    }
    char folder[256];
    folder_of(files.v[i], folder, sizeof folder);
    csv_field(out, files.v[i]);
    fputc(',', out);
    csv_field(out, folder);
    for (size_t k = 0; k < dim; k++) fprintf(out, ",%.9g", v[k]);
    fputc('\n', out);
  }
  free(v);
  if (fflush(out) != 0 || ferror(out)) {
    mgc_error_set(MGC_EIO, "%s: write failed", out_path ? out_path : "standard output");
    goto done;
  }
  rc = failures ? 1 : 0;
done:
  if (rc == 1 && !failures) fail();
  if (out && out != stdout) fclose(out);
  mgc_path_list_free(&files);
  mgc_embedder_free(e);
  mgc_model_free(m);
  return rc;
}

/* The model's temperature, fitted on its cross-validation file's
 * out-of-fold track decisions (as a one-member ensemble: the same fit and
 * figures as mgc-eval --ensemble --calibrate), written into the model. */
static int cmd_calibrate(const char *path, const char *cv, const char *out_path) {
  mgc_model *m = NULL;
  mgc_ensemble *e = NULL;
  if (mgc_model_load(path, &m)) return fail();
  double before, after;
  int rc = 1;
  if (!mgc_ensemble_single(path, cv, 0, &e) && !mgc_ensemble_calibrate(e, &before, &after)) {
    m->temperature = e->temperature;
    const char *dst = out_path ? out_path : path;
    if (!mgc_model_save(m, dst)) {
      printf("%s: temperature %.4g, fitted on %s; out-of-fold ECE %.3f -> %.3f (each fold "
             "calibrated by the others' fit); wrote %s\n",
             path, m->temperature, cv, before, after, dst);
      rc = 0;
    }
  }
  if (rc) fail();
  mgc_ensemble_free(e);
  mgc_model_free(m);
  return rc;
}

static int cmd_run(const char *path, const char *input, const char *out_path, int max_batch,
                   int quiet) {
  mgc_model *m;
  if (mgc_model_load(path, &m)) return fail();
  mgc_npy x;
  if (mgc_npy_read(input, &x)) {
    mgc_model_free(m);
    return fail();
  }
  const mgc_shape *in = &m->arch->input;
  int off = x.ndim == in->ndim ? 0 : x.ndim == in->ndim + 1 ? 1 : -1;
  for (int i = 0; off >= 0 && i < in->ndim; i++)
    if (x.shape[i + off] != (size_t)in->d[i]) off = -1;
  size_t n = off == 1 ? x.shape[0] : 1;
  int rc = 0;
  float *probs = NULL;
  mgc_session *s = NULL;
  if (off < 0 || n == 0) {
    char want[64], got[128] = "[";
    for (int i = 0; i < x.ndim; i++)
      snprintf(got + strlen(got), sizeof got - strlen(got), i ? ", %zu" : "%zu", x.shape[i]);
    strcat(got, "]");
    mgc_error_set(MGC_EINVAL, "%s: shape %s is neither the model's input %s nor a non-empty batch "
                  "[N, ...] of it", input, got, mgc_shape_str(in, want, sizeof want));
    rc = fail();
    goto done;
  }
  int nc = m->n_classes, cap = n < (size_t)max_batch ? (int)n : max_batch;
  size_t per = mgc_shape_size(in);
  if (!(probs = malloc(sizeof(float) * n * (size_t)nc))) {
    mgc_error_set(MGC_ENOMEM, "out of memory");
    rc = fail();
    goto done;
  }
  if (mgc_session_new(m, cap, &s)) {
    rc = fail();
    goto done;
  }
  for (size_t b = 0; b < n; b += (size_t)cap) {
    int k = n - b < (size_t)cap ? (int)(n - b) : cap;
    if (mgc_session_run(s, x.data + b * per, k, probs + b * (size_t)nc)) {
      rc = fail();
      goto done;
    }
  }
  for (size_t r = 0; !quiet && r < n; r++) {
    const float *p = probs + r * (size_t)nc;
    int top = 0;
    for (int c = 1; c < nc; c++)
      if (p[c] > p[top]) top = c;
    printf("%zu: %s %.4f  (", r, m->classes[top], (double)p[top]);
    for (int c = 0; c < nc; c++) printf("%s%s %.4f", c ? ", " : "", m->classes[c], (double)p[c]);
    printf(")\n");
  }
  if (out_path) {
    size_t shape[2] = {n, (size_t)nc};
    if (mgc_npy_write(out_path, probs, 2, shape)) {
      rc = fail();
      goto done;
    }
    if (!quiet) printf("wrote %s [%zu, %d]\n", out_path, n, nc);
  }
done:
  mgc_session_free(s);
  free(probs);
  mgc_npy_free(&x);
  mgc_model_free(m);
  return rc;
}

/* ---- init / import ------------------------------------------------------ */

static int finish_model(mgc_model *m, const char *frontend_path, const char *out) {
  if (frontend_path) {
    char *text = read_text(frontend_path);
    if (!text) return fail();
    mgc_status st = mgc_frontend_params_from_json(text, &m->frontend);
    free(text);
    if (st) {
      mgc_error_prefix(st, "%s: ", frontend_path);
      return fail();
    }
  }
  if (mgc_model_save(m, out)) return fail();
  printf("wrote %s: %s, %d tensors, %zu trainable parameters, %d classes\n", out,
         m->arch->name[0] ? m->arch->name : "(unnamed)", mgc_net_n_params(m->net),
         mgc_net_param_count(m->net), m->n_classes);
  return 0;
}

/* import and init: a model file made from weights or from nothing, with
 * --classes/--classes-file, --frontend and --seed; returns the exit status. */
static int cmd_make(int is_import, char **pos, const char *classes_arg, const char *classes_file,
                    const char *frontend, unsigned long long seed) {
  int rc;
  str_list classes = {0, NULL};
  if (classes_arg && split_classes(classes_arg, &classes)) {
    fprintf(stderr, "mgc-model: --classes: '%s' has an empty name\n", classes_arg);
    list_free(&classes);
    return 2;
  }
  if (classes_file && read_classes_file(classes_file, &classes)) {
    list_free(&classes);
    return fail();
  }
  const char *const *names = classes.n ? (const char *const *)classes.v : NULL;
  mgc_model *m = NULL;
  mgc_status st;
  if (is_import) {
    st = mgc_model_import(pos[0], pos[1], names, classes.n, &m);
  } else {
    mgc_arch *arch;
    st = mgc_arch_load(pos[0], &arch);
    if (!st) {
      st = mgc_model_new(arch, classes.n, names, seed, &m);
      mgc_arch_free(arch);
    }
  }
  rc = st ? fail() : finish_model(m, frontend, pos[is_import ? 2 : 1]);
  mgc_model_free(m);
  list_free(&classes);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr, 0);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    usage(stdout, 1);
    return 0;
  }
  int is_info = !strcmp(cmd, "info"), is_run = !strcmp(cmd, "run"),
      is_import = !strcmp(cmd, "import"), is_init = !strcmp(cmd, "init"),
      is_embed = !strcmp(cmd, "embed"), is_cal = !strcmp(cmd, "calibrate");
  if (!is_info && !is_run && !is_import && !is_init && !is_embed && !is_cal) {
    fprintf(stderr, "mgc-model: unknown command '%s' (info, run, embed, calibrate, import, init)\n",
            cmd);
    usage(stderr, 0);
    return 2;
  }
  enum { O_JSON = 256, O_CLASSES, O_CLASSES_FILE, O_FRONTEND, O_SEED, O_BATCH, O_LAYER };
  static const struct option opts[] = {
      {"json", no_argument, 0, O_JSON},          {"out", required_argument, 0, 'o'},
      {"classes", required_argument, 0, O_CLASSES}, {"classes-file", required_argument, 0, O_CLASSES_FILE},
      {"frontend", required_argument, 0, O_FRONTEND}, {"seed", required_argument, 0, O_SEED},
      {"batch", required_argument, 0, O_BATCH},  {"quiet", no_argument, 0, 'q'},
      {"layer", required_argument, 0, O_LAYER},
      {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
  int as_json = 0, quiet = 0, max_batch = 32, c;
  const char *out_path = NULL, *classes_arg = NULL, *classes_file = NULL, *frontend = NULL,
             *layer = NULL;
  unsigned long long seed = 0;
  int has_seed = 0;
  /* Options belong to the command: parse what follows it. */
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  while ((c = getopt_long(sub_argc, sub_argv, "o:qh", opts, NULL)) != -1) {
    char *end;
    switch (c) {
      case O_JSON: as_json = 1; break;
      case 'o': out_path = optarg; break;
      case 'q': quiet = 1; break;
      case 'h': usage(stdout, 1); return 0;
      case O_CLASSES: classes_arg = optarg; break;
      case O_CLASSES_FILE: classes_file = optarg; break;
      case O_FRONTEND: frontend = optarg; break;
      case O_LAYER: layer = optarg; break;
      case O_SEED:
        errno = 0;
        seed = strtoull(optarg, &end, 10);
        if (errno || end == optarg || *end || optarg[0] == '-') {
          fprintf(stderr, "mgc-model: --seed: '%s' is not a non-negative integer\n", optarg);
          return 2;
        }
        has_seed = 1;
        break;
      case O_BATCH: {
        long b = strtol(optarg, &end, 10);
        if (end == optarg || *end || b < 1 || b > 65536) {
          fprintf(stderr, "mgc-model: --batch: '%s' is not an integer in [1, 65536]\n", optarg);
          return 2;
        }
        max_batch = (int)b;
        break;
      }
      default: usage(stderr, 0); return 2;
    }
  }
  int npos = sub_argc - optind;
  char **pos = sub_argv + optind;
  int want = is_info ? 1 : is_run ? 2 : is_import ? 3 : 2; /* calibrate: 2 */
  /* Options that do not apply to the command are usage errors, not ignored. */
  const char *stray = (as_json && !is_info)                          ? "--json"
                      : (out_path && !is_run && !is_embed && !is_cal) ? "--out"
                      : (layer && !is_embed)                         ? "--layer"
                      : ((classes_arg || classes_file) && (is_info || is_run || is_embed || is_cal)) ? "--classes"
                      : (frontend && (is_info || is_run || is_embed || is_cal)) ? "--frontend"
                      : (has_seed && !is_init)                       ? "--seed"
                      : NULL;
  if (is_embed && npos >= 2 && !stray)
    return cmd_embed(pos[0], pos + 1, npos - 1, layer, out_path, max_batch, quiet);
  if (npos != want || stray) {
    if (stray) fprintf(stderr, "mgc-model: %s does not apply to '%s'\n", stray, cmd);
    else fprintf(stderr, "mgc-model %s: expected %s%d argument%s, got %d\n", cmd,
                 is_embed ? "at least " : "", want, want > 1 ? "s" : "", npos);
    usage(stderr, 0);
    return 2;
  }
  if (classes_arg && classes_file) {
    fprintf(stderr, "mgc-model: give --classes or --classes-file, not both\n");
    return 2;
  }
  if (is_info) return cmd_info(pos[0], as_json);
  if (is_run) return cmd_run(pos[0], pos[1], out_path, max_batch, quiet);
  if (is_cal) return cmd_calibrate(pos[0], pos[1], out_path);

  return cmd_make(is_import, pos, classes_arg, classes_file, frontend, seed);
}
