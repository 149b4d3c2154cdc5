/* Training steps (forward, softmax cross-entropy, backward, Adam) of one
 * architecture at a small batch, with the batch split across N threads
 * (mgc/nn/parallel.h): the workload of fine-tuning the FCN. Prints one JSON
 * line: median step time, windows/s and a CRC of every weight after the
 * steps, which must be the same for any thread count. bench/finetune runs
 * it side by side with PyTorch.
 *
 *   bench_finetune ARCH.yaml [--threads N] [--batch 8] [--steps S] [--profile]
 *
 * --profile adds, per layer, the median forward and backward time of a
 * step (running the layers one by one, as mgc_net does). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "mgc/model/arch.h"
#include "mgc/util/crc32.h"
#include "mgc/nn/loss.h"
#include "mgc/model/net.h"
#include "mgc/train/optim.h"
#include "mgc/nn/parallel.h"

static double now(void) { return bench_now(); }

/* CPU time of every thread of the process: with a busy machine the wall
 * clock says little about scaling, but CPU per step shows what splitting
 * costs (waiting, memory bandwidth shared by the cores). */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double median(double *v, int n) { return bench_median(v, n); }
static void die(const char *what) { bench_die("bench_finetune", what); }

/* The layers of net run one by one with timers: activations, gradients
 * and scratch of its own, planned as mgc_net_plan does. */
static void profile(mgc_net *net, const float *x, const int *y, int batch, int steps) {
  int nl = mgc_net_n_layers(net), classes = mgc_net_n_classes(net);
  int head = nl;
  if (!strcmp(mgc_net_layer(net, nl - 1)->ops->type, "softmax")) head = nl - 1;
  float **act = calloc((size_t)head, sizeof *act), **grad = calloc((size_t)head, sizeof *grad);
  double *tf = calloc((size_t)head * steps, sizeof *tf), *tb = calloc((size_t)head * steps, sizeof *tb);
  size_t wsn = 1;
  for (int i = 0; i < head; i++) {
    mgc_layer *l = mgc_net_layer(net, i);
    size_t n = (size_t)batch * mgc_shape_size(&l->out);
    act[i] = malloc(n * sizeof(float));
    grad[i] = malloc(n * sizeof(float));
    if (l->ops->workspace) {
      size_t w = l->ops->workspace(l, batch, 1);
      wsn = w > wsn ? w : wsn;
    }
    if (l->ops->plan && l->ops->plan(l, batch, 1)) die("plan");
  }
  float *ws = malloc(wsn * sizeof(float)), *dz = malloc((size_t)batch * classes * sizeof(float));
  for (int s = -1; s < steps; s++) { /* the first touches the new buffers: not timed */
    const float *in = x;
    for (int i = 0; i < head; i++) {
      mgc_layer *l = mgc_net_layer(net, i);
      double t0 = now();
      l->ops->forward(l, in, act[i], batch, 1, ws);
      if (s >= 0) tf[i * steps + s] = now() - t0;
      in = act[i];
    }
    mgc_softmax_ce(in, batch, classes, y, NULL, NULL, 0, dz, NULL);
    const float *dy = dz;
    for (int i = head - 1; i >= 0; i--) {
      mgc_layer *l = mgc_net_layer(net, i);
      double t0 = now();
      l->ops->backward(l, i ? act[i - 1] : x, act[i], dy, i ? grad[i - 1] : NULL, batch, ws);
      if (s >= 0) tb[i * steps + s] = now() - t0;
      dy = i ? grad[i - 1] : NULL;
    }
  }
  double sf = 0, sb = 0;
  for (int i = 0; i < head; i++) {
    mgc_layer *l = mgc_net_layer(net, i);
    double f = median(tf + i * steps, steps), b = median(tb + i * steps, steps);
    sf += f, sb += b;
    char shape[64];
    fprintf(stderr, "  %2d %-12s %-16s fwd %8.1f ms  bwd %8.1f ms\n", i, l->ops->type,
            mgc_shape_str(&l->out, shape, sizeof shape), 1e3 * f, 1e3 * b);
  }
  fprintf(stderr, "  total fwd %.1f ms, bwd %.1f ms\n", 1e3 * sf, 1e3 * sb);
  for (int i = 0; i < head; i++) free(act[i]), free(grad[i]);
  free(act), free(grad), free(tf), free(tb), free(ws), free(dz);
}

int main(int argc, char **argv) {
  int threads = 1, batch = 8, steps = 4, prof = 0;
  static const struct option longopts[] = {{"threads", required_argument, 0, 't'},
                                           {"batch", required_argument, 0, 'b'},
                                           {"steps", required_argument, 0, 's'},
                                           {"profile", no_argument, 0, 'p'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == 't') threads = atoi(optarg);
    else if (c == 'b') batch = atoi(optarg);
    else if (c == 's') steps = atoi(optarg);
    else if (c == 'p') prof = 1;
    else return 2;
  }
  if (optind != argc - 1 || threads < 1 || batch < 2 || steps < 1) {
    fprintf(stderr, "usage: bench_finetune ARCH.yaml [--threads N] [--batch N] [--steps N] "
                    "[--profile]\n");
    return 2;
  }
  if (mgc_parallel_set_threads(threads)) die("threads");
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
  double *t = malloc((size_t)steps * sizeof(double));
  if (!x || !dz || !y || !t) die("memory");
  mgc_rng rng;
  mgc_rng_seed(&rng, 42);
  for (size_t i = 0; i < (size_t)batch * d; i++) x[i] = (float)mgc_rng_normal(&rng);
  for (int i = 0; i < batch; i++) y[i] = (int)mgc_rng_below(&rng, (uint64_t)classes);

  mgc_optim_params op;
  mgc_optim_params_default(&op);
  mgc_optim *opt;
  if (mgc_net_plan(net, batch, 1)) die("plan");
  if (mgc_optim_new(&op, net, &opt)) die("optimiser");
  unsigned long shared0 = mgc_parallel_shared_loops();
  double cpu0 = 0;
  for (int r = -1; r < steps; r++) { /* one step to warm up */
    if (r == 0) cpu0 = cpu_now();
    double t0 = now();
    const float *z = mgc_net_forward(net, x, batch, 1);
    if (!z) die("forward");
    mgc_softmax_ce(z, batch, classes, y, NULL, NULL, 0, dz, NULL);
    if (mgc_net_backward(net, dz, NULL)) die("backward");
    mgc_optim_step(opt);
    if (r >= 0) t[r] = now() - t0;
  }
  double cpu = (cpu_now() - cpu0) / steps;
  unsigned long shared = mgc_parallel_shared_loops() - shared0;
  uint32_t crc = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *p = mgc_net_param(net, i);
    crc = mgc_crc32(crc, p->value, p->size * sizeof(float));
  }
  double m = median(t, steps);
  printf("{\"threads\": %d, \"batch\": %d, \"steps\": %d, \"ms\": %.1f, \"windows_per_s\": %.3f, "
         "\"cpu_ms\": %.1f, \"weights_crc\": \"%08x\", \"split_loops_per_step\": %.1f}\n",
         threads, batch, steps, 1e3 * m, batch / m, 1e3 * cpu, crc,
         (double)shared / (steps + 1));
  fflush(stdout);
  if (prof) profile(net, x, y, batch, steps);
  mgc_optim_free(opt);
  free(x);
  free(dz);
  free(y);
  free(t);
  mgc_net_free(net);
  mgc_arch_free(arch);
  mgc_parallel_set_threads(1);
  return 0;
}
