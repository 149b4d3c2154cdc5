/* Engine speed on one architecture: batch-1 forward latency, batch-N
 * forward throughput and training throughput (forward, softmax
 * cross-entropy, backward, Adam), on random inputs. Prints one JSON line per
 * mode; bench/nn runs it side by side with the PyTorch twin
 * (bench/torch_nn.py) and reports the ratios.
 *
 *   bench_nn ARCH.yaml [--threads N] [--batch 32] [--reps R] [--mode M]
 *
 * M is latency, throughput, train or all (default). */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "mgc/model/arch.h"
#include "mgc/nn/loss.h"
#include "mgc/model/net.h"
#include "mgc/train/optim.h"

static double now(void) { return bench_now(); }

static double median(double *v, int n) { return bench_median(v, n); }
static void die(const char *what) { bench_die("bench_nn", what); }

int main(int argc, char **argv) {
  int threads = 1, batch = 32, reps = 20;
  const char *mode = "all";
  static const struct option longopts[] = {{"threads", required_argument, 0, 't'},
                                           {"batch", required_argument, 0, 'b'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"mode", required_argument, 0, 'm'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == 't') threads = atoi(optarg);
    else if (c == 'b') batch = atoi(optarg);
    else if (c == 'r') reps = atoi(optarg);
    else if (c == 'm') mode = optarg;
    else return 2;
  }
  if (optind != argc - 1 || threads < 1 || batch < 1 || reps < 1) {
    fprintf(stderr, "usage: bench_nn ARCH.yaml [--threads N] [--batch N] [--reps N] "
                    "[--mode latency|throughput|train|all]\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  mgc_arch *arch;
  mgc_net *net;
  if (mgc_arch_load(argv[optind], &arch)) die("architecture");
  if (mgc_net_new(arch, 0, 1, &net)) die("net");
  mgc_shape si = mgc_net_input_shape(net);
  size_t d = mgc_shape_size(&si);
  int classes = mgc_net_n_classes(net);
  float *x = malloc((size_t)batch * d * sizeof(float));
  float *dz = malloc((size_t)batch * classes * sizeof(float));
  int *y = malloc((size_t)batch * sizeof(int));
  double *t = malloc((size_t)reps * sizeof(double));
  mgc_rng rng;
  mgc_rng_seed(&rng, 42);
  for (size_t i = 0; i < (size_t)batch * d; i++) x[i] = (float)mgc_rng_normal(&rng);
  for (int i = 0; i < batch; i++) y[i] = (int)mgc_rng_below(&rng, (uint64_t)classes);
  int all = !strcmp(mode, "all");

  if (all || !strcmp(mode, "latency")) {
    if (mgc_net_plan(net, 1, 0)) die("plan");
    for (int i = 0; i < 5; i++) mgc_net_predict(net, x, 1);
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      if (!mgc_net_predict(net, x, 1)) die("predict");
      t[r] = now() - t0;
    }
    printf("{\"mode\": \"latency\", \"threads\": %d, \"batch\": 1, \"ms\": %.4f}\n", threads,
           1e3 * median(t, reps));
    fflush(stdout);
  }
  if (all || !strcmp(mode, "throughput")) {
    if (mgc_net_plan(net, batch, 0)) die("plan");
    mgc_net_predict(net, x, batch);
    int n = reps / 4 > 3 ? reps / 4 : 3;
    for (int r = 0; r < n; r++) {
      double t0 = now();
      if (!mgc_net_predict(net, x, batch)) die("predict");
      t[r] = now() - t0;
    }
    double m = median(t, n);
    printf("{\"mode\": \"throughput\", \"threads\": %d, \"batch\": %d, \"ms\": %.4f, "
           "\"windows_per_s\": %.2f}\n",
           threads, batch, 1e3 * m, batch / m);
    fflush(stdout);
  }
  if (all || !strcmp(mode, "train")) {
    mgc_optim_params op;
    mgc_optim_params_default(&op);
    mgc_optim *opt;
    if (mgc_net_plan(net, batch, 1)) die("plan");
    if (mgc_optim_new(&op, net, &opt)) die("optimiser");
    int n = reps / 4 > 3 ? reps / 4 : 3;
    for (int r = -1; r < n; r++) {
      double t0 = now();
      const float *z = mgc_net_forward(net, x, batch, 1);
      if (!z) die("forward");
      mgc_softmax_ce(z, batch, classes, y, NULL, NULL, 0, dz, NULL);
      mgc_net_backward(net, dz, NULL);
      mgc_optim_step(opt);
      if (r >= 0) t[r] = now() - t0;
    }
    double m = median(t, n);
    printf("{\"mode\": \"train\", \"threads\": %d, \"batch\": %d, \"ms\": %.4f, "
           "\"windows_per_s\": %.2f}\n",
           threads, batch, 1e3 * m, batch / m);
    mgc_optim_free(opt);
  }
  free(x);
  free(dz);
  free(y);
  free(t);
  mgc_net_free(net);
  mgc_arch_free(arch);
  return 0;
}
