#include "tool.h"

#include <stdio.h>
#include <stdlib.h>

#include "mgc/util/error.h"
#include "mgc/util/parse.h"

static const char *g_name = "mgc";

void tool_init(const char *name) { g_name = name; }

long tool_int_opt(const char *opt, const char *text, long lo, long hi) {
  long v;
  if (mgc_parse_int(opt, text, lo, hi, &v)) {
    fprintf(stderr, "%s: %s\n", g_name, mgc_error_message());
    exit(2);
  }
  return v;
}

double tool_num_opt(const char *opt, const char *text, double lo, double hi) {
  double v;
  if (mgc_parse_double(opt, text, lo, hi, &v)) {
    fprintf(stderr, "%s: %s\n", g_name, mgc_error_message());
    exit(2);
  }
  return v;
}

void tool_die(const char *what) {
  fprintf(stderr, "%s: %s%s%s\n", g_name, what ? what : "", what ? ": " : "", mgc_error_message());
  exit(1);
}
