/* Forward time of one converted pretrained tagger (scripts/import-pretrained)
 * on one 29.1 s excerpt, through the inference API mgcd uses
 * (mgc_session_run, batch 1). Prints one JSON line; bench/pretrained runs it
 * side by side with the PyTorch original and reports the ratio.
 *
 *   bench_pretrained MODEL.safetensors [--input X.npy] [--reps R] [--layers]
 *
 * X.npy is one input of the model's shape ([1, 96, 1813] log-mel, or
 * [1, 1, 96, 1813]); without it the input is random normal dB-like values.
 * --layers adds the median time of every layer (the net's own forward, run
 * layer by layer), to see where the time goes. */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "mgc/model/model.h"
#include "mgc/io/npy.h"
#include "mgc/model/session.h"

static double now(void) { return bench_now(); }

static double median(double *v, int n) { return bench_median(v, n); }
static void die(const char *what) { bench_die("bench_pretrained", what); }

/* Median time of each layer's forward over `reps` passes, in ms. */
static void layer_times(mgc_model *m, const float *x, int reps) {
  mgc_net *net = m->net;
  int n = mgc_net_n_layers(net);
  size_t big = 0;
  for (int i = 0; i < n; i++) {
    mgc_shape o = mgc_net_layer(net, i)->out;
    if (mgc_shape_size(&o) > big) big = mgc_shape_size(&o);
  }
  if (mgc_net_plan(net, 1, 0)) die("plan");
  /* Layer by layer through two buffers; the scratch is sized as the net's
   * plan sizes it (the largest workspace). */
  size_t ws = 0;
  for (int i = 0; i < n; i++) {
    mgc_layer *l = mgc_net_layer(net, i);
    if (l->ops->workspace && l->ops->workspace(l, 1, 0) > ws) ws = l->ops->workspace(l, 1, 0);
  }
  float *a = malloc(big * sizeof(float)), *b = malloc(big * sizeof(float));
  float *w = malloc((ws ? ws : 1) * sizeof(float));
  double *t = malloc((size_t)reps * n * sizeof(double));
  if (!a || !b || !w || !t) {
    fprintf(stderr, "bench_pretrained: out of memory\n");
    exit(1);
  }
  for (int r = 0; r < reps; r++) {
    const float *in = x;
    float *out = a;
    for (int i = 0; i < n; i++) {
      mgc_layer *l = mgc_net_layer(net, i);
      double t0 = now();
      l->ops->forward(l, in, out, 1, 0, w);
      t[(size_t)i * reps + r] = now() - t0;
      in = out;
      out = out == a ? b : a;
    }
  }
  printf("{\"layers\": [");
  for (int i = 0; i < n; i++) {
    mgc_layer *l = mgc_net_layer(net, i);
    printf("%s{\"name\": \"%s\", \"type\": \"%s\", \"ms\": %.4f}", i ? ", " : "", l->name,
           l->ops->type, 1e3 * median(t + (size_t)i * reps, reps));
  }
  printf("]}\n");
  free(a), free(b), free(w), free(t);
}

int main(int argc, char **argv) {
  int reps = 10, layers = 0;
  const char *input = NULL;
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"layers", no_argument, 0, 'l'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == 'i') input = optarg;
    else if (c == 'r') reps = atoi(optarg);
    else if (c == 'l') layers = 1;
    else return 2;
  }
  if (optind != argc - 1 || reps < 1) {
    fprintf(stderr, "usage: bench_pretrained MODEL.safetensors [--input X.npy] [--reps N] "
                    "[--layers]\n");
    return 2;
  }
  openblas_set_num_threads(1);
  mgc_model *m;
  if (mgc_model_load(argv[optind], &m)) die(argv[optind]);
  size_t d = mgc_shape_size(&m->arch->input);
  float *x = malloc(d * sizeof(float)), *p = malloc((size_t)m->n_classes * sizeof(float));
  double *t = malloc((size_t)reps * sizeof(double));
  if (!x || !p || !t) die("memory");
  if (input) {
    mgc_npy a;
    if (mgc_npy_read(input, &a)) die(input);
    if (mgc_npy_count(&a) != d) {
      fprintf(stderr, "bench_pretrained: %s holds %zu values, the model takes %zu\n", input,
              mgc_npy_count(&a), d);
      return 1;
    }
    memcpy(x, a.data, d * sizeof(float));
    mgc_npy_free(&a);
  } else {
    mgc_rng rng;
    mgc_rng_seed(&rng, 42);
    for (size_t i = 0; i < d; i++) x[i] = (float)(10.0 * mgc_rng_normal(&rng));
  }
  mgc_session *s;
  if (mgc_session_new(m, 1, &s)) die("session");
  for (int i = 0; i < 2; i++)
    if (mgc_session_run(s, x, 1, p)) die("run");
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    if (mgc_session_run(s, x, 1, p)) die("run");
    t[r] = now() - t0;
  }
  printf("{\"model\": \"%s\", \"reps\": %d, \"ms\": %.3f}\n", m->arch->name, reps,
         1e3 * median(t, reps));
  if (layers) layer_times(m, x, reps);
  mgc_session_free(s);
  free(x), free(p), free(t);
  mgc_model_free(m);
  return 0;
}
