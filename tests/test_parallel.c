/* The engine's thread pool, and training that gives bit-identical weights
 * for any number of threads. */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "test_util.h"

#include "mgc/model/arch.h"
#include "mgc/nn/loss.h"
#include "mgc/model/net.h"
#include "mgc/train/optim.h"
#include "mgc/nn/parallel.h"
#include "mgc/train/recipe.h"

/* ---- the pool ------------------------------------------------------------ */

enum { N_ITEMS = 1000 };

typedef struct {
  int count[N_ITEMS];
  int bad_slot, max_slots;
  int nested; /* each chunk also runs a loop of its own */
  int inner[N_ITEMS];
} cover_ctx;

static void inner_body(void *ctx, int begin, int end, int slot) {
  int *c = ctx;
  for (int i = begin; i < end; i++) c[i]++;
}

static void cover_body(void *ctx, int begin, int end, int slot) {
  cover_ctx *c = ctx;
  if (slot < 0 || slot >= c->max_slots) c->bad_slot = 1;
  /* chunks are disjoint, so these writes never race */
  for (int i = begin; i < end; i++) c->count[i]++;
  if (c->nested) mgc_parallel_for(end - begin, 1, 4, inner_body, c->inner + begin);
}

static void check_cover(int threads, int grain, int max_slots, int nested) {
  assert_int_equal(mgc_parallel_set_threads(threads), MGC_OK);
  assert_int_equal(mgc_parallel_threads(), threads);
  static cover_ctx c;
  memset(&c, 0, sizeof c);
  c.max_slots = max_slots;
  c.nested = nested;
  mgc_parallel_for(N_ITEMS, grain, max_slots, cover_body, &c);
  assert_false(c.bad_slot);
  for (int i = 0; i < N_ITEMS; i++) {
    assert_int_equal(c.count[i], 1);
    assert_int_equal(c.inner[i], nested ? 1 : 0);
  }
}

static void test_every_item_once(void **st) {
  check_cover(1, 1, 8, 0);
  check_cover(2, 1, 8, 0);
  check_cover(3, 7, 8, 0);
  check_cover(3, 7, 2, 0);     /* at most two threads however many there are */
  check_cover(4, 999, 8, 0);   /* two chunks, the last of one item */
  check_cover(4, 5000, 8, 0);  /* one chunk: the caller alone */
  check_cover(3, 10, 8, 1);    /* a loop inside a loop runs inline */
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
}

/* Round robin: chunk c goes to slot c % slots. */
static void slot_body(void *ctx, int begin, int end, int slot) {
  int *who = ctx;
  for (int i = begin; i < end; i++) who[i] = slot;
}

static void test_round_robin(void **st) {
  assert_int_equal(mgc_parallel_set_threads(3), MGC_OK);
  mgc_parallel_set_round_robin(1);
  int who[100];
  memset(who, -1, sizeof who);
  mgc_parallel_for(100, 7, 8, slot_body, who);
  for (int i = 0; i < 100; i++) assert_int_equal(who[i], (i / 7) % 3);
  mgc_parallel_for(100, 7, 2, slot_body, who);
  for (int i = 0; i < 100; i++) assert_int_equal(who[i], (i / 7) % 2);
  mgc_parallel_set_round_robin(0);
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
}

/* A body that waits (up to 10 s) until two different slots have entered:
 * it only returns early when a worker really runs next to the caller. */
typedef struct {
  pthread_mutex_t mu;
  unsigned seen; /* bit per slot */
} meet_ctx;

static void meet_body(void *ctx, int begin, int end, int slot) {
  meet_ctx *m = ctx;
  pthread_mutex_lock(&m->mu);
  m->seen |= 1u << slot;
  pthread_mutex_unlock(&m->mu);
  for (int t = 0; t < 10000; t++) {
    pthread_mutex_lock(&m->mu);
    unsigned s = m->seen;
    pthread_mutex_unlock(&m->mu);
    if (s & (s - 1)) return;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
}

static void test_workers_run(void **st) {
  assert_int_equal(mgc_parallel_set_threads(2), MGC_OK);
  unsigned long before = mgc_parallel_shared_loops();
  meet_ctx m = {.mu = PTHREAD_MUTEX_INITIALIZER};
  mgc_parallel_for(2, 1, 2, meet_body, &m);
  assert_int_equal(m.seen, 3u);
  assert_int_equal(mgc_parallel_shared_loops(), before + 1);
  /* a loop limited to one slot stays on the caller */
  m.seen = 0;
  mgc_parallel_for(2, 1, 1, inner_body, (int[2]){0, 0});
  assert_int_equal(mgc_parallel_shared_loops(), before + 1);
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
}

static void test_thread_counts(void **st) {
  assert_int_equal(mgc_parallel_set_threads(0), MGC_OK);
  assert_int_equal(mgc_parallel_threads(), mgc_parallel_online_cores());
  assert_true(mgc_parallel_online_cores() >= 1);
  assert_int_equal(mgc_parallel_set_threads(-1), MGC_EINVAL);
  assert_int_equal(mgc_parallel_set_threads(MGC_PARALLEL_MAX_THREADS + 1), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "thread count"));
  assert_int_equal(mgc_parallel_threads(), mgc_parallel_online_cores()); /* unchanged */
  assert_int_equal(mgc_parallel_set_threads(5), MGC_OK);
  assert_int_equal(mgc_parallel_threads(), 5);
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
  assert_int_equal(mgc_parallel_threads(), 1);
  assert_int_equal(mgc_parallel_grain(1 << 20), 1);
  assert_int_equal(mgc_parallel_grain(1 << 10), 64);
  assert_int_equal(mgc_parallel_grain(0), 1 << 16);
}

/* ---- training ------------------------------------------------------------ */

/* Every parallel path: conv with one sample per gemm (3x3 and a direct
 * 1x1), conv with groups of 2 samples (3 groups, the last of one) and one
 * group of the whole batch; batchnorm over 2-D maps and vectors, pools,
 * activations, dropout. Maps are large enough that batchnorm, pools and
 * activations are split too. */
static const char *k_arch =
    "input: [1, 64, 128]\nclasses: 3\nlayers:\n"
    "  - {type: conv2d, out: 6, kernel: 3, padding: 1}\n" /* p 8192: a sample per gemm */
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: conv2d, out: 4, kernel: 1}\n"             /* direct */
    "  - {type: maxpool2d, kernel: [2, 2]}\n"             /* 32 x 64 */
    "  - {type: conv2d, out: 8, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: leaky_relu}\n"
    "  - {type: maxpool2d, kernel: [2, 2]}\n"             /* 16 x 32: p 512, groups of 2 */
    "  - {type: conv2d, out: 8, kernel: 3, padding: 1}\n"
    "  - {type: elu}\n"
    "  - {type: avgpool2d, kernel: [4, 4]}\n"             /* 4 x 8: one group of 5 */
    "  - {type: conv2d, out: 6, kernel: 3, padding: 1}\n"
    "  - {type: global_maxpool}\n"
    "  - {type: batchnorm}\n"
    "  - {type: dropout, p: 0.25}\n"
    "  - {type: dense, out: classes}\n"
    "  - {type: softmax}\n";

enum { B = 5, STEPS = 3 };

typedef struct {
  float *params; /* every tensor, running statistics included */
  size_t n_params;
  float *dx;     /* dL/dinput of the last step */
  float *logits; /* of the last step */
  unsigned long shared;
} run_result;

/* round_robin: every thread gets its share of every split loop, so that
 * a result depending on who computed what cannot hide behind a worker
 * that woke too late to get any. */
static void train_run(int threads, int round_robin, const float *x, const int *y,
                      run_result *r) {
  assert_int_equal(mgc_parallel_set_threads(threads), MGC_OK);
  mgc_parallel_set_round_robin(round_robin);
  unsigned long before = mgc_parallel_shared_loops();
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(k_arch, strlen(k_arch), "<test>", &a), MGC_OK);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 21, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, B, 1), MGC_OK);
  mgc_optim_params p;
  mgc_optim_params_default(&p);
  p.lr = 1e-2;
  mgc_optim *o;
  assert_int_equal(mgc_optim_new(&p, net, &o), MGC_OK);
  mgc_shape si = mgc_net_input_shape(net);
  size_t d = mgc_shape_size(&si);
  int c = mgc_net_n_classes(net);
  float dz[B * 3];
  r->dx = malloc(B * d * sizeof(float));
  r->logits = malloc((size_t)B * c * sizeof(float));
  for (int s = 0; s < STEPS; s++) {
    const float *z = mgc_net_forward(net, x + (size_t)s * B * d, B, 1);
    assert_non_null(z);
    memcpy(r->logits, z, (size_t)B * c * sizeof(float));
    mgc_softmax_ce(z, B, c, y + s * B, NULL, NULL, 0, dz, NULL);
    assert_int_equal(mgc_net_backward(net, dz, r->dx), MGC_OK);
    mgc_optim_step(o);
  }
  r->n_params = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) r->n_params += mgc_net_param(net, i)->size;
  r->params = malloc(r->n_params * sizeof(float));
  size_t k = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *pp = mgc_net_param(net, i);
    memcpy(r->params + k, pp->value, pp->size * sizeof(float));
    k += pp->size;
  }
  r->shared = mgc_parallel_shared_loops() - before;
  mgc_optim_free(o);
  mgc_net_free(net);
  mgc_arch_free(a);
  mgc_parallel_set_round_robin(0);
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
}

static void free_result(run_result *r) {
  free(r->params);
  free(r->dx);
  free(r->logits);
}

static void test_training_identical_for_any_thread_count(void **st) {
  const size_t d = 64 * 128;
  float *x = malloc((size_t)STEPS * B * d * sizeof(float));
  int y[STEPS * B];
  mgc_rng rng;
  mgc_rng_seed(&rng, 77);
  for (size_t i = 0; i < (size_t)STEPS * B * d; i++) x[i] = (float)mgc_rng_normal(&rng);
  for (int i = 0; i < STEPS * B; i++) y[i] = (int)mgc_rng_below(&rng, 3);

  run_result one, init;
  /* the weights before any step, to see that training moved them */
  {
    mgc_arch *a;
    assert_int_equal(mgc_arch_parse(k_arch, strlen(k_arch), "<test>", &a), MGC_OK);
    mgc_net *net;
    assert_int_equal(mgc_net_new(a, 0, 21, &net), MGC_OK);
    init.n_params = 0;
    for (int i = 0; i < mgc_net_n_params(net); i++) init.n_params += mgc_net_param(net, i)->size;
    init.params = malloc(init.n_params * sizeof(float));
    size_t k = 0;
    for (int i = 0; i < mgc_net_n_params(net); i++) {
      memcpy(init.params + k, mgc_net_param(net, i)->value,
             mgc_net_param(net, i)->size * sizeof(float));
      k += mgc_net_param(net, i)->size;
    }
    mgc_net_free(net);
    mgc_arch_free(a);
  }
  train_run(1, 0, x, y, &one);
  assert_int_equal(one.shared, 0);
  assert_int_equal(one.n_params, init.n_params);
  size_t moved = 0;
  for (size_t i = 0; i < one.n_params; i++) moved += one.params[i] != init.params[i];
  assert_true(moved > one.n_params / 2);
  for (int run = 0; run < 4; run++) {
    int threads = 2 + run % 2, rr = run >= 2;
    run_result r;
    train_run(threads, rr, x, y, &r);
    fprintf(stderr, "  %d threads%s: %lu loops split, %zu values compared\n", threads,
            rr ? " (round robin)" : "", r.shared, r.n_params);
    assert_true(r.shared > 20); /* the layers really did split their work */
    assert_int_equal(r.n_params, one.n_params);
    assert_memory_equal(r.params, one.params, one.n_params * sizeof(float));
    assert_memory_equal(r.dx, one.dx, B * d * sizeof(float));
    assert_memory_equal(r.logits, one.logits, B * 3 * sizeof(float));
    free_result(&r);
  }
  free_result(&one);
  free(init.params);
  free(x);
}

/* With several threads the conv weight gradient (two sample groups, their
 * shares summed after the loop) is still the true gradient: compared with
 * central differences of the loss through batchnorm. */
static double loss_of(mgc_net *net, const float *x, const int *y, int b, int c) {
  const float *z = mgc_net_forward(net, x, b, 1);
  return mgc_softmax_ce(z, b, c, y, NULL, NULL, 0, NULL, NULL);
}

static void test_gradients_with_threads(void **st) {
  assert_int_equal(mgc_parallel_set_threads(3), MGC_OK);
  mgc_parallel_set_round_robin(1);
  const char *yaml = "input: [2, 6, 40]\nclasses: 3\nlayers:\n"
                     "  - {type: conv2d, out: 3, kernel: 3, padding: 1}\n" /* p 240: g 5 */
                     "  - {type: batchnorm}\n  - {type: tanh}\n"
                     "  - {type: avgpool2d, kernel: [2, 2]}\n"
                     "  - {type: flatten}\n  - {type: dense, out: classes}\n";
  enum { NB = 7 }; /* groups of 5 and 2 */
  mgc_arch *a;
  assert_int_equal(mgc_arch_parse(yaml, strlen(yaml), "<test>", &a), MGC_OK);
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 5, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, NB, 1), MGC_OK);
  float x[NB * 2 * 6 * 40], dz[NB * 3];
  int y[NB];
  mgc_rng rng;
  mgc_rng_seed(&rng, 8);
  for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)mgc_rng_normal(&rng);
  for (int i = 0; i < NB; i++) y[i] = (int)mgc_rng_below(&rng, 3);
  const float *z = mgc_net_forward(net, x, NB, 1);
  mgc_softmax_ce(z, NB, 3, y, NULL, NULL, 0, dz, NULL);
  assert_int_equal(mgc_net_backward(net, dz, NULL), MGC_OK);
  mgc_param *w = mgc_net_find_param(net, "0.weight");
  assert_non_null(w);
  float g[3 * 2 * 3 * 3];
  memcpy(g, w->grad, sizeof g);
  double worst = 0;
  for (size_t i = 0; i < w->size; i++) {
    float keep = w->value[i];
    w->value[i] = keep + 3e-3f;
    double lp = loss_of(net, x, y, NB, 3);
    w->value[i] = keep - 3e-3f;
    double lm = loss_of(net, x, y, NB, 3);
    w->value[i] = keep;
    double num = (lp - lm) / 6e-3, err = fabs(num - g[i]) / (fabs(num) + 1e-3);
    worst = err > worst ? err : worst;
  }
  fprintf(stderr, "  conv weight gradient with 3 threads: worst relative error %.2g\n", worst);
  assert_true(worst < 1e-2);
  mgc_net_free(net);
  mgc_arch_free(a);
  mgc_parallel_set_round_robin(0);
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
}

/* The recipe's key: a count, 0 for one per core (the default), bounded. */
static void test_recipe_threads(void **st) {
  mgc_recipe *r;
  const char *ok = "architecture: m.yaml\nthreads: 3\n";
  assert_int_equal(mgc_recipe_parse(ok, "r.yaml", ".", &r), MGC_OK);
  assert_int_equal(r->train.threads, 3);
  mgc_recipe_free(r);
  assert_int_equal(mgc_recipe_parse("architecture: m.yaml\n", "r.yaml", ".", &r), MGC_OK);
  assert_int_equal(r->train.threads, 0);
  mgc_recipe_free(r);
  assert_int_not_equal(mgc_recipe_parse("architecture: m.yaml\nthreads: -2\n", "r.yaml", ".", &r),
                       MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "r.yaml:2"));
  assert_int_not_equal(mgc_recipe_parse("architecture: m.yaml\nthreads: 300\n", "r.yaml", ".", &r),
                       MGC_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_item_once),
      cmocka_unit_test(test_workers_run),
      cmocka_unit_test(test_round_robin),
      cmocka_unit_test(test_thread_counts),
      cmocka_unit_test(test_training_identical_for_any_thread_count),
      cmocka_unit_test(test_gradients_with_threads),
      cmocka_unit_test(test_recipe_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
