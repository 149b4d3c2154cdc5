/* What the tools' mains share: their name in messages, option values that
 * end the program as a usage error (status 2) when bad, and fatal errors
 * (status 1). Programs may exit; libmgc never does. */
#ifndef MGC_TOOLS_TOOL_H
#define MGC_TOOLS_TOOL_H

/* The program's name, first in every message ("mgc-train"). */
void tool_init(const char *name);

/* The value of option `opt` in [lo, hi], or "NAME: reason" and exit 2. */
long tool_int_opt(const char *opt, const char *text, long lo, long hi);
double tool_num_opt(const char *opt, const char *text, double lo, double hi);

/* "NAME: what: <the library's message>" (or without "what: ") and exit 1. */
__attribute__((noreturn)) void tool_die(const char *what);

#endif
