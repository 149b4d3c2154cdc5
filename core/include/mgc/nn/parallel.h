/* The engine's thread pool: one process-wide set of worker threads that
 * layers use to split a batch (conv per sample group, batchnorm per
 * channel, pools and activations per plane or element range).
 *
 * Results never depend on the number of threads: every parallel loop
 * writes disjoint outputs, each item is computed by the same code whoever
 * runs it, and sums across items (a conv's weight gradient over sample
 * groups) are kept per item and added in item order afterwards. Items are
 * handed out dynamically, which balances the load without changing any
 * value.
 *
 * The thread count is read when a net is planned (mgc_net_plan): layers
 * size their per-thread scratch then, and a net planned for fewer threads
 * simply uses fewer. The default is one thread: everything runs on the
 * caller, exactly as without a pool. Setting a count also makes OpenBLAS
 * single-threaded, so that its threads and ours do not compete for cores.
 *
 * The pool runs one loop at a time; a loop started while another runs
 * (from another thread) or from inside a loop body runs on its caller
 * alone, with slot 0. Never allocates after mgc_parallel_set_threads. */
#ifndef MGC_PARALLEL_H
#define MGC_PARALLEL_H

#include <stddef.h>

#include "mgc/util/error.h"

#define MGC_PARALLEL_MAX_THREADS 256

/* Body of a parallel loop: items [begin, end). `slot` in [0, slots) says
 * which thread runs it, for per-thread scratch; no two concurrent calls
 * share a slot. */
typedef void (*mgc_parallel_fn)(void *ctx, int begin, int end, int slot);

/* Use n threads in all (the caller and n-1 workers); 0 means one per online
 * core. Joins or starts workers as needed. Not to be called while a loop
 * runs. */
mgc_status mgc_parallel_set_threads(int n);
/* The current thread count (1 until set). */
int mgc_parallel_threads(void);
/* Online cores (at least 1). */
int mgc_parallel_online_cores(void);

/* Loops so far that were handed to more than one thread (for tests and
 * benchmarks: shows that work was split at all). */
unsigned long mgc_parallel_shared_loops(void);

/* For tests: hand chunk c to slot c % slots instead of to whichever thread
 * asks first, so that every slot does its share of every loop however late
 * its thread wakes (first come, first served by default). */
void mgc_parallel_set_round_robin(int on);

/* Items per chunk for items of `per_item` element operations each, so that
 * a chunk is worth handing to another thread (tens of thousands of
 * operations; a wake-up costs microseconds). */
int mgc_parallel_grain(size_t per_item);

/* fn over [0, n) in chunks of `grain` items on at most max_slots threads.
 * Returns when every item is done. */
void mgc_parallel_for(int n, int grain, int max_slots, mgc_parallel_fn fn, void *ctx);

#endif
