/* mkdir -p: dir and its missing parents (0777 less the umask), then a
 * check that dir is a directory; the message names what failed. */
#ifndef MGC_MKDIRS_H
#define MGC_MKDIRS_H

#include "mgc/util/error.h"

mgc_status mgc_mkdirs(const char *dir);

#endif
