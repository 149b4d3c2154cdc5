/* Allocation counter for tests that prove a path never allocates: the test
 * binary links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (see
 * tests/CMakeLists.txt), so every allocation, libmgc's included, passes
 * through here and bumps g_allocs. Include in exactly one file per test. */
#ifndef MGC_ALLOC_COUNT_H
#define MGC_ALLOC_COUNT_H

#include <stddef.h>

static long g_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) { g_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { g_allocs++; return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { g_allocs++; return __real_realloc(p, n); }

#endif
