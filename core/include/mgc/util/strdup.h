/* A copy of a string in new memory (free() it), or NULL for NULL; when
 * memory runs out, NULL with the message "out of memory" set (mgc/util/error.h),
 * so a caller can return MGC_ENOMEM as it is. */
#ifndef MGC_STRDUP_H
#define MGC_STRDUP_H

char *mgc_strdup(const char *s);

#endif
