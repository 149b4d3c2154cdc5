/* Helpers shared by the cmocka tests: fixture paths, temp dirs, npy loading. */
#ifndef MGC_TEST_UTIL_H
#define MGC_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "mgc/util/error.h"
#include "mgc/io/npy.h"

#ifndef MGC_FIXTURES
#error "MGC_FIXTURES must point at tests/fixtures"
#endif

/* Path of a fixture file (static buffer, one at a time per call site). */
static inline const char *fixture(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", MGC_FIXTURES, name);
  return buf;
}

/* Fresh private directory under $TMPDIR for files a test writes. */
static inline void make_tmpdir(char *buf, size_t cap) {
  const char *t = getenv("TMPDIR");
  snprintf(buf, cap, "%s/mgc-test-XXXXXX", t && *t ? t : "/tmp");
  assert_non_null(mkdtemp(buf));
}

/* cmocka group setup/teardown giving each test program one scratch dir. */
static char g_dir[256] __attribute__((unused));
static inline int tmpdir_setup(void **st) {
  (void)st;
  make_tmpdir(g_dir, sizeof g_dir);
  return 0;
}
static inline int tmpdir_teardown(void **st) {
  (void)st;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static inline void load_npy(const char *path, mgc_npy *a) {
  if (mgc_npy_read(path, a) != MGC_OK) fail_msg("%s", mgc_error_message());
}

/* Deterministic xorshift so tests do not depend on libc's rand(). */
static inline uint32_t test_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (uint32_t)(*s >> 11);
}

/* Run a shell command, capture stdout+stderr into out, return its exit
 * status (-1 if it did not exit normally). */
static inline int run(const char *cmd, char *out, size_t cap) {
  char full[8192];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file, NUL-terminated (so text can be searched); *len bytes. */
static inline unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *len, f), *len);
  b[*len] = 0;
  fclose(f);
  return b;
}

#endif
