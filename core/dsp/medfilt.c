#include "mgc/medfilt.h"

#include <string.h>

size_t mgc_medfilt_work_size(int k) { return k > 0 ? (size_t)k : 1; }

/* scipy.ndimage 'reflect': period 2n, the second half mirrored. */
static size_t reflect_index(long long i, size_t n) {
  const long long p = 2 * (long long)n;
  long long m = i % p;
  if (m < 0) m += p;
  return (size_t)(m < (long long)n ? m : p - 1 - m);
}

/* First position in sorted w[0..len) whose value is >= v. */
static int lower_bound(const float *w, int len, float v) {
  int lo = 0, hi = len;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (w[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void insert_sorted(float *w, int len, float v) {
  int pos = lower_bound(w, len, v);
  memmove(w + pos + 1, w + pos, sizeof(float) * (size_t)(len - pos));
  w[pos] = v;
}

mgc_status mgc_medfilt1d(const float *x, size_t n, size_t stride, int k, float *out, size_t out_stride,
                         float *work) {
  if (k < 1 || !(k & 1)) return mgc_error_set(MGC_EINVAL, "median filter: width %d must be odd and >= 1", k);
  if (n == 0) return MGC_OK;
  const int h = k / 2;
  int len = 0;
  for (long long j = -h; j <= h; j++) insert_sorted(work, len++, x[reflect_index(j, n) * stride]);
  out[0] = work[h];
  for (size_t i = 1; i < n; i++) {
    const float old = x[reflect_index((long long)i - 1 - h, n) * stride];
    const float in = x[reflect_index((long long)i + h, n) * stride];
    /* Replace the leaving sample by the entering one (an equal value is as
     * good as the same one) and slide it to its place: only the values
     * between the two move. */
    int pos = lower_bound(work, k, old);
    if (in > old) {
      while (pos + 1 < k && work[pos + 1] < in) {
        work[pos] = work[pos + 1];
        pos++;
      }
    } else {
      while (pos > 0 && work[pos - 1] > in) {
        work[pos] = work[pos - 1];
        pos--;
      }
    }
    work[pos] = in;
    out[i * out_stride] = work[h];
  }
  return MGC_OK;
}
