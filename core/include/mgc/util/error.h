/* Error reporting shared by every module of libmgc.
 *
 * Functions that can fail return an mgc_status (MGC_OK == 0) and leave a
 * human-readable message in thread-local storage; the caller prints it.
 * Nothing in libmgc exits the process. */
#ifndef MGC_ERROR_H
#define MGC_ERROR_H

typedef enum mgc_status {
  MGC_OK = 0,
  MGC_EINVAL = -1,  /* bad argument or parameter value */
  MGC_ENOMEM = -2,  /* allocation failed */
  MGC_EIO = -3,     /* file could not be opened, read or written */
  MGC_EFORMAT = -4, /* input exists but its content is malformed or truncated */
  MGC_ESTATE = -5   /* call not allowed in the object's current state */
} mgc_status;

/* The message of the last failure on this thread ("" if none). */
const char *mgc_error_message(void);

/* Record a failure message (printf format) and return code, for use as
 * `return mgc_error_set(MGC_EIO, "...", ...)`. */
mgc_status mgc_error_set(mgc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the current message with more context ("reading x.wav: " + msg). */
mgc_status mgc_error_prefix(mgc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the last message. */
void mgc_error_clear(void);

#endif
