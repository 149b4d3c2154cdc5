/* The report's text buffer and escaping (report_impl.h). */
#include "report_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mgc_sb_put(mgc_sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

void mgc_sb_puts(mgc_sbuf *b, const char *s) { mgc_sb_put(b, s, strlen(s)); }

void mgc_sb_printf(mgc_sbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    mgc_sb_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  mgc_sb_put(b, big, (size_t)n);
  free(big);
}

/* Length of the valid UTF-8 sequence at u (avail bytes left), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF, which is what
 * an XML parser reading a standalone SVG insists on. */
static size_t utf8_seq(const unsigned char *u, size_t avail) {
  unsigned c = u[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else
    return 0;
  if (avail < len || u[1] < lo || u[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((u[k] & 0xC0) != 0x80) return 0;
  return len;
}

/* Code points in s (invalid bytes count one each, as they print one U+FFFD). */
int mgc_sb_cp_count(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  int k = 0;
  for (size_t i = 0; i < n; k++) {
    size_t l = utf8_seq(u + i, n - i);
    i += l ? l : 1;
  }
  return k;
}

/* Append s escaped for HTML text, HTML attributes and XML alike; control
 * characters XML forbids and invalid UTF-8 become U+FFFD. max_cp > 0 cuts
 * the text to that many code points, ending in an ellipsis. */
void mgc_sb_esc_n(mgc_sbuf *b, const char *s, int max_cp) {
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)u);
  int total = max_cp > 0 ? mgc_sb_cp_count((const char *)u) : 0, k = 0;
  for (size_t i = 0; i < n; k++) {
    if (max_cp > 0 && total > max_cp && k == max_cp - 1) {
      mgc_sb_puts(b, "\xE2\x80\xA6");
      return;
    }
    size_t l = utf8_seq(u + i, n - i);
    if (!l) {
      mgc_sb_puts(b, "\xEF\xBF\xBD");
      i++;
      continue;
    }
    if (l == 1) {
      unsigned char c = u[i];
      switch (c) {
      case '&': mgc_sb_puts(b, "&amp;"); break;
      case '<': mgc_sb_puts(b, "&lt;"); break;
      case '>': mgc_sb_puts(b, "&gt;"); break;
      case '"': mgc_sb_puts(b, "&quot;"); break;
      case '\'': mgc_sb_puts(b, "&#39;"); break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
          mgc_sb_puts(b, "\xEF\xBF\xBD");
        else
          mgc_sb_put(b, (const char *)u + i, 1);
      }
    } else {
      mgc_sb_put(b, (const char *)u + i, l);
    }
    i += l;
  }
}

void mgc_sb_esc(mgc_sbuf *b, const char *s) { mgc_sb_esc_n(b, s, 0); }
