/* The engine's thread pool (see mgc/nn/parallel.h).
 *
 * Workers sleep on a condition variable; a loop publishes its job under
 * the mutex and bumps a generation number, the caller works as slot 0, and
 * every thread takes chunks of items from one atomic counter until none
 * are left. The caller then waits for the workers' count to reach zero,
 * which (taken under the same mutex) also makes their writes visible. A
 * loop costs two wake-ups, tens of microseconds: layers call it a few
 * times per forward or backward, against milliseconds of work. */
#include "mgc/nn/parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  int n_threads;      /* the caller included */
  unsigned gen;       /* bumped by each loop */
  unsigned start_gen; /* gen when the current workers were started */
  int quit;
  /* the current loop */
  mgc_parallel_fn fn;
  void *ctx;
  int n, grain, slots;
  int round_robin;    /* mgc_parallel_set_round_robin */
  int running;        /* workers of this loop still at work */
  unsigned long shared; /* loops handed to more than one thread */
  atomic_int next;    /* first item not yet taken */
  pthread_t tid[MGC_PARALLEL_MAX_THREADS];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER,
       .n_threads = 1};

/* Held for the whole of a loop and of a change of thread count: one loop at
 * a time, and never a change under a running loop. */
static pthread_mutex_t g_busy = PTHREAD_MUTEX_INITIALIZER;

/* Set while this thread runs a loop body: a loop started from inside one
 * runs inline instead of waiting for the pool it is part of. */
static _Thread_local int tl_in_loop;

/* Chunks first come, first served; or, in round-robin mode, chunk c to
 * slot c % slots. */
static void run_chunks(mgc_parallel_fn fn, void *ctx, int n, int grain, int slot, int slots,
                       int round_robin) {
  tl_in_loop = 1;
  if (round_robin) {
    for (long b = (long)slot * grain; b < n; b += (long)slots * grain)
      fn(ctx, (int)b, n - b < grain ? n : (int)b + grain, slot);
  } else {
    for (;;) {
      int b = atomic_fetch_add_explicit(&g.next, grain, memory_order_relaxed);
      if (b >= n) break;
      fn(ctx, b, n - b < grain ? n : b + grain, slot);
    }
  }
  tl_in_loop = 0;
}

static void *worker(void *arg) {
  int slot = (int)(intptr_t)arg;
  pthread_mutex_lock(&g.mu);
  unsigned seen = g.start_gen;
  for (;;) {
    while (g.gen == seen && !g.quit) pthread_cond_wait(&g.wake, &g.mu);
    if (g.quit) break;
    seen = g.gen;
    if (slot >= g.slots) continue; /* not needed for this loop */
    mgc_parallel_fn fn = g.fn;
    void *ctx = g.ctx;
    int n = g.n, grain = g.grain, slots = g.slots, rr = g.round_robin;
    pthread_mutex_unlock(&g.mu);
    run_chunks(fn, ctx, n, grain, slot, slots, rr);
    pthread_mutex_lock(&g.mu);
    if (--g.running == 0) pthread_cond_signal(&g.done);
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

/* Join every worker; the caller holds g_busy. */
static void stop_workers(void) {
  pthread_mutex_lock(&g.mu);
  g.quit = 1;
  pthread_cond_broadcast(&g.wake);
  pthread_mutex_unlock(&g.mu);
  for (int i = 1; i < g.n_threads; i++) pthread_join(g.tid[i], NULL);
  pthread_mutex_lock(&g.mu);
  g.quit = 0;
  g.n_threads = 1;
  pthread_mutex_unlock(&g.mu);
}

int mgc_parallel_online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MGC_PARALLEL_MAX_THREADS ? MGC_PARALLEL_MAX_THREADS : (int)n;
}

int mgc_parallel_threads(void) {
  pthread_mutex_lock(&g.mu);
  int n = g.n_threads;
  pthread_mutex_unlock(&g.mu);
  return n;
}

mgc_status mgc_parallel_set_threads(int n) {
  if (n < 0 || n > MGC_PARALLEL_MAX_THREADS)
    return mgc_error_set(MGC_EINVAL, "thread count must be in [0, %d] (0: one per core), got %d",
                         MGC_PARALLEL_MAX_THREADS, n);
  if (n == 0) n = mgc_parallel_online_cores();
  /* Each of our threads calls OpenBLAS on its own share; OpenBLAS threads
   * under them would oversubscribe the cores. */
  openblas_set_num_threads(1);
  pthread_mutex_lock(&g_busy);
  mgc_status st = MGC_OK;
  if (n != g.n_threads) {
    stop_workers();
    /* Workers take no signals: they stay with the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&g.mu);
    g.start_gen = g.gen;
    pthread_mutex_unlock(&g.mu);
    int i = 1;
    for (; i < n; i++) {
      int e = pthread_create(&g.tid[i], NULL, worker, (void *)(intptr_t)i);
      if (e) {
        st = mgc_error_set(MGC_ENOMEM, "cannot start worker thread %d of %d: %s", i, n,
                           strerror(e));
        break;
      }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&g.mu);
    g.n_threads = i; /* what did start keeps working */
    pthread_mutex_unlock(&g.mu);
  }
  pthread_mutex_unlock(&g_busy);
  return st;
}

void mgc_parallel_set_round_robin(int on) {
  pthread_mutex_lock(&g_busy);
  pthread_mutex_lock(&g.mu);
  g.round_robin = on != 0;
  pthread_mutex_unlock(&g.mu);
  pthread_mutex_unlock(&g_busy);
}

unsigned long mgc_parallel_shared_loops(void) {
  pthread_mutex_lock(&g.mu);
  unsigned long n = g.shared;
  pthread_mutex_unlock(&g.mu);
  return n;
}

int mgc_parallel_grain(size_t per_item) {
  const size_t chunk = 1 << 16;
  if (per_item >= chunk) return 1;
  return (int)(chunk / (per_item ? per_item : 1));
}

void mgc_parallel_for(int n, int grain, int max_slots, mgc_parallel_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int chunks = (n - 1) / grain + 1;
  if (max_slots < 2 || chunks < 2 || tl_in_loop || pthread_mutex_trylock(&g_busy)) {
    fn(ctx, 0, n, 0);
    return;
  }
  int slots = g.n_threads; /* stable: changes need g_busy */
  if (slots > max_slots) slots = max_slots;
  if (slots > chunks) slots = chunks;
  if (slots < 2) {
    pthread_mutex_unlock(&g_busy);
    fn(ctx, 0, n, 0);
    return;
  }
  pthread_mutex_lock(&g.mu);
  g.fn = fn;
  g.ctx = ctx;
  g.n = n;
  g.grain = grain;
  g.slots = slots;
  g.running = slots - 1;
  atomic_store_explicit(&g.next, 0, memory_order_relaxed);
  g.gen++;
  g.shared++;
  pthread_cond_broadcast(&g.wake);
  int rr = g.round_robin;
  pthread_mutex_unlock(&g.mu);
  run_chunks(fn, ctx, n, grain, 0, slots, rr);
  pthread_mutex_lock(&g.mu);
  while (g.running) pthread_cond_wait(&g.done, &g.mu);
  pthread_mutex_unlock(&g.mu);
  pthread_mutex_unlock(&g_busy);
}
