/* A fuzz target is one function, the libFuzzer entry point, over one of
 * mgc's parsers of outside bytes. Built with MGC_FUZZ=ON (clang) it is a
 * libFuzzer program (scripts/fuzz); in every build, run_corpus.c runs it
 * over its committed corpus as a ctest, so an input that once crashed stays
 * fixed. A target must accept any bytes: it may fail, never crash, leak or
 * hang. */
#ifndef MGC_FUZZ_H
#define MGC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a NUL-terminated string (malloc'd; NULL when out of memory):
 * the text parsers take C strings. */
char *fuzz_text(const uint8_t *data, size_t size);

/* The bytes written to the file `name` (may name sub-folders) in this
 * process's scratch folder (in /dev/shm when there is one; removed at
 * exit), for the readers that take a path; returns the path, NULL on
 * failure. */
const char *fuzz_file(const uint8_t *data, size_t size, const char *name);
/* The path `name` will have there, without writing it (it is removed at
 * exit all the same). */
const char *fuzz_path(const char *name);
/* That folder (created on first use); NULL when it cannot be made. */
const char *fuzz_dir(void);

#endif
