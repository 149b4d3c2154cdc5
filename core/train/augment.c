#include "mgc/train/augment.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/audio/resampler.h"
#include "mgc/dsp/hann.h"

/* ---- window level ------------------------------------------------------ */

void mgc_augment_params_default(mgc_augment_params *p) { memset(p, 0, sizeof *p); }

mgc_status mgc_augment_params_check(const mgc_augment_params *p) {
  const struct {
    const char *name;
    double v;
  } nonneg[] = {
      {"freq_masks", p->freq_masks},     {"freq_mask_max", p->freq_mask_max},
      {"time_masks", p->time_masks},     {"time_mask_max", p->time_mask_max},
      {"gain_db", p->gain_db},           {"noise_std", p->noise_std},
      {"mixup_alpha", p->mixup_alpha},   {"offset_max", p->offset_max},
  };
  for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++)
    if (!(nonneg[i].v >= 0) || !isfinite(nonneg[i].v))
      return mgc_error_set(MGC_EINVAL, "augmentation: %s must be a finite value >= 0 (got %g)",
                           nonneg[i].name, nonneg[i].v);
  if (!(p->reverse_prob >= 0 && p->reverse_prob <= 1))
    return mgc_error_set(MGC_EINVAL, "augmentation: reverse_prob must be in [0, 1] (got %g)",
                         p->reverse_prob);
  return MGC_OK;
}

/* Two standard normals at a time (Marsaglia's polar method): the window
 * noise needs one per value (16640 for a log-mel window), and
 * mgc_rng_normal spends a log, a sqrt and a cos on each and keeps one of
 * the pair; here there is no trigonometry and nothing is thrown away. */
static void normal_pair(mgc_rng *r, double *z0, double *z1) {
  double u, v, s;
  do {
    u = 2.0 * mgc_rng_uniform(r) - 1.0;
    v = 2.0 * mgc_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double k = sqrt(-2.0 * log(s) / s);
  *z0 = u * k;
  *z1 = v * k;
}

/* One SpecAugment mask along an axis of length `len`: width uniform in
 * [0, min(max, len)], start uniform over the positions where it fits. Both
 * are drawn even for width 0, so the number of draws does not depend on
 * the values drawn. */
static void draw_mask(mgc_rng *rng, int max, int len, int *start, int *width) {
  int m = max < len ? max : len;
  int w = (int)mgc_rng_below(rng, (uint64_t)m + 1);
  *start = (int)mgc_rng_below(rng, (uint64_t)(len - w) + 1);
  *width = w;
}

static void reverse_run(float *x, int n) {
  for (int a = 0, b = n - 1; a < b; a++, b--) {
    float tmp = x[a];
    x[a] = x[b];
    x[b] = tmp;
  }
}

void mgc_augment_window(const mgc_augment_params *p, mgc_rng *rng, float *win, int t, int f,
                        const float *fill) {
  if (t <= 0 || f <= 0) return;
  size_t nv = (size_t)t * (size_t)f;

  if (p->reverse_prob > 0 && mgc_rng_uniform(rng) < p->reverse_prob) {
    for (int a = 0, b = t - 1; a < b; a++, b--) {
      float *ra = win + (size_t)a * f, *rb = win + (size_t)b * f;
      for (int j = 0; j < f; j++) {
        float tmp = ra[j];
        ra[j] = rb[j];
        rb[j] = tmp;
      }
    }
  }

  if (p->band_roll && f > 1) {
    int k = (int)(mgc_rng_uniform(rng) * f);
    if (k >= f) k = f - 1;
    /* out[j] = in[(j - k) mod f], in place: reverse the row, then its first
     * k values and the rest. */
    for (int i = 0; i < t && k > 0; i++) {
      float *row = win + (size_t)i * f;
      reverse_run(row, f);
      reverse_run(row, k);
      reverse_run(row + k, f - k);
    }
  }

  if (p->gain_db > 0) {
    float g = (float)((2.0 * mgc_rng_uniform(rng) - 1.0) * p->gain_db);
    for (size_t i = 0; i < nv; i++) win[i] += g;
  }

  if (p->noise_std > 0) {
    for (size_t i = 0; i < nv; i += 2) {
      double z0, z1;
      normal_pair(rng, &z0, &z1);
      win[i] += (float)(p->noise_std * z0);
      if (i + 1 < nv) win[i + 1] += (float)(p->noise_std * z1);
    }
  }

  int fm = p->freq_masks > 0 && p->freq_mask_max > 0;
  int tm = p->time_masks > 0 && p->time_mask_max > 0;
  if (!fm && !tm) return;

  float mean = 0;
  if (!fill) {
    double s = 0;
    for (size_t i = 0; i < nv; i++) s += win[i];
    mean = (float)(s / (double)nv);
  }

  if (fm) {
    for (int m = 0; m < p->freq_masks; m++) {
      int b0, w;
      draw_mask(rng, p->freq_mask_max, f, &b0, &w);
      for (int i = 0; i < t; i++) {
        float *row = win + (size_t)i * f;
        for (int j = b0; j < b0 + w; j++) row[j] = fill ? fill[j] : mean;
      }
    }
  }
  if (tm) {
    for (int m = 0; m < p->time_masks; m++) {
      int t0, w;
      draw_mask(rng, p->time_mask_max, t, &t0, &w);
      for (int i = t0; i < t0 + w; i++) {
        float *row = win + (size_t)i * f;
        for (int j = 0; j < f; j++) row[j] = fill ? fill[j] : mean;
      }
    }
  }
}

static void onehot_mix(float *row, int classes, int a, int b, float lam) {
  memset(row, 0, (size_t)classes * sizeof(float));
  if (a >= 0 && a < classes) row[a] += lam;
  if (b >= 0 && b < classes) row[b] += 1.0f - lam;
}

void mgc_augment_mixup(const mgc_augment_params *p, mgc_rng *rng, float *x, int n, size_t d,
                       const int *labels, int classes, float *targets, float *scratch, int *perm) {
  for (int i = 0; i < n; i++) perm[i] = i;
  if (!(p->mixup_alpha > 0) || n < 2) {
    for (int i = 0; i < n; i++)
      onehot_mix(targets + (size_t)i * classes, classes, labels[i], labels[i], 1.0f);
    return;
  }
  /* Fisher-Yates; fixed points are allowed, as with torch.randperm. */
  for (int i = n - 1; i > 0; i--) {
    int j = (int)mgc_rng_below(rng, (uint64_t)i + 1);
    int tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  /* Mix from a copy: partners must contribute their original values, not
   * ones already mixed earlier in this loop. */
  memcpy(scratch, x, (size_t)n * d * sizeof(float));
  for (int i = 0; i < n; i++) {
    double l = mgc_rng_beta(rng, p->mixup_alpha, p->mixup_alpha);
    /* Folding keeps the sample itself dominant, so its window still matters
     * most and per-window statistics stay meaningful. */
    float lam = (float)(l > 0.5 ? l : 1.0 - l);
    const float *a = scratch + (size_t)i * d, *b = scratch + (size_t)perm[i] * d;
    float *o = x + (size_t)i * d;
    if (perm[i] != i)
      for (size_t k = 0; k < d; k++) o[k] = lam * a[k] + (1.0f - lam) * b[k];
    onehot_mix(targets + (size_t)i * classes, classes, labels[i], labels[perm[i]], lam);
  }
}

int mgc_augment_offset(const mgc_augment_params *p, mgc_rng *rng, int start, int t, int n_frames) {
  if (p->offset_max <= 0 || n_frames < t) return start;
  int lo = start - p->offset_max, hi = start + p->offset_max;
  if (lo < 0) lo = 0;
  if (hi > n_frames - t) hi = n_frames - t;
  if (hi <= lo) return start;
  return lo + (int)mgc_rng_below(rng, (uint64_t)(hi - lo) + 1);
}

/* log of a Gamma(a, 1) draw (Marsaglia & Tsang 2000). For a < 1 the draw is
 * Gamma(a + 1) * u^(1/a), whose u^(1/a) underflows to 0 for small a; in the
 * log domain it stays finite. */
static double log_gamma_draw(mgc_rng *r, double a) {
  double boost = 0;
  if (a < 1) {
    double u;
    do u = mgc_rng_uniform(r);
    while (u <= 0);
    boost = log(u) / a;
    a += 1;
  }
  double dd = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * dd);
  for (;;) {
    double x = mgc_rng_normal(r), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = mgc_rng_uniform(r), x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2 ||
        (u > 0 && log(u) < 0.5 * x2 + dd * (1.0 - v + log(v))))
      return log(dd * v) + boost;
  }
}

double mgc_rng_beta(mgc_rng *r, double a, double b) {
  if (!(a > 0) || !(b > 0) || !isfinite(a) || !isfinite(b)) return NAN;
  double lx = log_gamma_draw(r, a), ly = log_gamma_draw(r, b);
  /* X / (X + Y) = 1 / (1 + Y/X) */
  return 1.0 / (1.0 + exp(ly - lx));
}

/* ---- audio level ------------------------------------------------------- */

/* Resample a whole signal from in_rate to out_rate (any positive reals: a
 * speed factor makes the ratio irrational) through soxr HQ, and make the
 * result exactly `len` samples (trim, or zero-pad the last few). */
static mgc_status resample_to(const float *in, size_t n, double in_rate, double out_rate,
                              size_t len, float **out) {
  *out = NULL;
  mgc_resampler *r = NULL;
  mgc_status st = mgc_resampler_new(in_rate, out_rate, &r);
  if (st) return st;
  size_t cap = (size_t)ceil((double)n * out_rate / in_rate) + 4096, got_total = 0, used_total = 0;
  if (cap < len) cap = len;
  float *buf = malloc(cap * sizeof(float));
  if (!buf) {
    mgc_resampler_free(r);
    return mgc_error_set(MGC_ENOMEM, "resampling: out of memory");
  }
  int flushing = n == 0;
  for (;;) {
    if (cap - got_total < 1024) {
      size_t ncap = cap * 2;
      float *nb = realloc(buf, ncap * sizeof(float));
      if (!nb) {
        st = mgc_error_set(MGC_ENOMEM, "resampling: out of memory");
        break;
      }
      buf = nb;
      cap = ncap;
    }
    size_t used = 0, got = 0;
    st = mgc_resampler_process(r, flushing ? NULL : in + used_total, flushing ? 0 : n - used_total,
                               &used, buf + got_total, cap - got_total, &got);
    if (st) break;
    got_total += got;
    if (!flushing) {
      used_total += used;
      if (used_total >= n) flushing = 1;
    } else if (got == 0) {
      break; /* filter tail drained */
    }
  }
  mgc_resampler_free(r);
  if (st) {
    free(buf);
    return st;
  }
  if (got_total < len) memset(buf + got_total, 0, (len - got_total) * sizeof(float));
  *out = buf;
  return MGC_OK;
}

/* A successful call always hands back a buffer, even for n == 0, so that
 * callers can treat *out == NULL as "nothing to free" only after failures. */
static mgc_status empty_output(float **out, size_t *n_out) {
  *out = calloc(1, sizeof(float));
  *n_out = 0;
  return *out ? MGC_OK : mgc_error_set(MGC_ENOMEM, "out of memory");
}

mgc_status mgc_audio_speed(const float *in, size_t n, int rate, double s, float **out,
                           size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (rate <= 0) return mgc_error_set(MGC_EINVAL, "speed change: bad sample rate %d", rate);
  if (!(s >= 0.25 && s <= 4))
    return mgc_error_set(MGC_EINVAL, "speed change: factor %g is outside [0.25, 4]", s);
  if (n == 0) return empty_output(out, n_out);
  size_t len = (size_t)ceil((double)n / s);
  mgc_status st = resample_to(in, n, (double)rate * s, (double)rate, len, out);
  if (st) return mgc_error_prefix(st, "speed change: ");
  *n_out = len;
  return MGC_OK;
}

/* Dot product with 8 independent partial sums: the compiler may not
 * reorder one float sum, but it can run 8 of them in vector lanes; this
 * loop is nearly all of the pitch shift's time. The order is fixed by the
 * code, so results do not depend on the machine. */
static double dot(const float *a, const float *b, size_t n) {
  float acc[8] = {0};
  size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) acc[l] += a[j + l] * b[j + l];
  double s = 0;
  for (int l = 0; l < 8; l++) s += acc[l];
  for (; j < n; j++) s += (double)a[j] * b[j];
  return s;
}

/* WSOLA time-stretch (Verhelst & Roelands 1993): output frames of N samples
 * at hop N/2 are cut from the input around k * Ha with Ha = (N/2) / alpha,
 * each shifted by up to +-tol samples to where it best continues the
 * previous frame, so periodic waveforms overlap in phase and the pitch is
 * kept. Output length round(n * alpha) into *out (allocated). */
static mgc_status wsola_stretch(const float *in, size_t n, int rate, double alpha, float **out,
                                size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  /* 50 ms frames: long enough to hold a few periods of bass notes, short
   * enough that transients are not smeared audibly. Even, for hop N/2. */
  size_t N = 2 * (size_t)lround(rate * 0.025);
  if (N < 16) N = 16;
  size_t hs = N / 2;
  /* +-10 ms covers a full period of anything above 50 Hz. */
  size_t tol = (size_t)lround(rate * 0.010);
  if (tol < 1) tol = 1;
  double ha = (double)hs / alpha;
  size_t L = (size_t)llround((double)n * alpha);
  if (L == 0) L = 1;
  size_t K = L / hs + 2;

  /* Input padded with zeros: left by N/2 + tol so the first frame, centred
   * on sample 0, and its search stay in bounds; right up to the furthest
   * sample any frame or natural continuation can read. */
  size_t padl = hs + tol;
  size_t far = padl + (size_t)llround((double)(K - 1) * ha) + tol + N + hs + 2;
  size_t xlen = far > padl + n ? far : padl + n;
  size_t ylen = (K - 1) * hs + N;
  float *xp = calloc(xlen, sizeof(float));
  float *yp = calloc(ylen, sizeof(float));
  float *w = malloc(N * sizeof(float));
  float *y = malloc(L * sizeof(float));
  if (!xp || !yp || !w || !y) {
    free(xp);
    free(yp);
    free(w);
    free(y);
    return mgc_error_set(MGC_ENOMEM, "time-stretch: out of memory");
  }
  memcpy(xp + padl, in, n * sizeof(float));
  /* Periodic Hann at 50 % overlap sums to exactly 1: no normalisation. */
  mgc_hann_fill(w, N);

  size_t prev = 0;
  for (size_t k = 0; k < K; k++) {
    /* Nominal start in padded coordinates: centre k * ha, minus N/2. */
    size_t nom = padl + (size_t)llround((double)k * ha) - hs;
    size_t best = nom;
    if (k > 0) {
      /* Normalised cross-correlation of each candidate with the natural
       * continuation of the previous frame; normalising by the candidate's
       * energy stops louder neighbours from winning for their level alone. */
      const float *tmpl = xp + prev + hs;
      size_t s0 = nom - tol, s1 = nom + tol;
      double e = 0;
      for (size_t j = 0; j < N; j++) e += (double)xp[s0 + j] * xp[s0 + j];
      double best_score = -INFINITY;
      for (size_t s = s0; s <= s1; s++) {
        if (s > s0) {
          double a = xp[s - 1], b = xp[s + N - 1];
          e += b * b - a * a;
          if (e < 0) e = 0;
        }
        double score = dot(tmpl, xp + s, N) / sqrt(e + 1e-12);
        /* The first maximum wins: deterministic, and in silence (all
         * scores 0) any position is as good as another. */
        if (score > best_score) {
          best_score = score;
          best = s;
        }
      }
    }
    float *o = yp + k * hs;
    const float *src = xp + best;
    for (size_t j = 0; j < N; j++) o[j] += w[j] * src[j];
    prev = best;
  }
  /* Output sample i sits at yp[i + N/2] (frame 0 is centred on sample 0). */
  memcpy(y, yp + hs, L * sizeof(float));
  free(xp);
  free(yp);
  free(w);
  *out = y;
  *n_out = L;
  return MGC_OK;
}

mgc_status mgc_audio_pitch_shift(const float *in, size_t n, int rate, double semitones,
                                 float **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (rate <= 0) return mgc_error_set(MGC_EINVAL, "pitch shift: bad sample rate %d", rate);
  if (!(semitones >= -12 && semitones <= 12))
    return mgc_error_set(MGC_EINVAL, "pitch shift: %g semitones is outside [-12, 12]", semitones);
  if (n == 0) return empty_output(out, n_out);
  double p = pow(2.0, semitones / 12.0);
  float *st_buf = NULL;
  size_t st_n = 0;
  mgc_status st = wsola_stretch(in, n, rate, p, &st_buf, &st_n);
  if (st) return mgc_error_prefix(st, "pitch shift: ");
  /* Playing the p-times longer signal p times faster restores the duration
   * and multiplies every frequency by p. */
  st = resample_to(st_buf, st_n, (double)rate * p, (double)rate, n, out);
  free(st_buf);
  if (st) return mgc_error_prefix(st, "pitch shift: ");
  *n_out = n;
  return MGC_OK;
}

mgc_status mgc_audio_add_noise(const float *in, size_t n, double snr_db, mgc_rng *rng,
                               float **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (!isfinite(snr_db)) return mgc_error_set(MGC_EINVAL, "noise: SNR must be finite");
  if (n == 0) return empty_output(out, n_out);
  float *o = malloc(n * sizeof(float));
  if (!o) return mgc_error_set(MGC_ENOMEM, "noise: out of memory");
  double ps = 0;
  for (size_t i = 0; i < n; i++) ps += (double)in[i] * in[i];
  ps /= (double)n;
  if (ps == 0) {
    memcpy(o, in, n * sizeof(float));
  } else {
    double pn = 0;
    for (size_t i = 0; i < n; i += 2) {
      double z0, z1;
      normal_pair(rng, &z0, &z1);
      o[i] = (float)z0;
      pn += (double)o[i] * o[i];
      if (i + 1 < n) {
        o[i + 1] = (float)z1;
        pn += (double)o[i + 1] * o[i + 1];
      }
    }
    pn /= (double)n;
    double k = pn > 0 ? sqrt(ps / pow(10.0, snr_db / 10.0) / pn) : 0;
    for (size_t i = 0; i < n; i++) o[i] = (float)((double)in[i] + k * o[i]);
  }
  *out = o;
  *n_out = n;
  return MGC_OK;
}

/* ---- variant names ----------------------------------------------------- */

enum { VAR_CLEAN, VAR_SPEED, VAR_PITCH, VAR_NOISE };

/* A plain decimal number: optional sign (when allowed), digits, optional
 * fraction. No spaces, exponents, hex, inf or nan, so that a name maps to
 * one value and reads the same in a cache directory listing. */
static int parse_decimal(const char *s, int allow_sign, double *v) {
  const char *p = s;
  if (*p == '+' || *p == '-') {
    if (!allow_sign) return -1;
    p++;
  }
  int digits = 0;
  while (isdigit((unsigned char)*p)) p++, digits++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) p++, digits++;
  }
  if (!digits || *p) return -1;
  *v = strtod(s, NULL);
  return 0;
}

static mgc_status parse_variant(const char *name, int *kind, double *v) {
  static const char *forms =
      "known forms: clean, speed<factor> (0.25..4, e.g. speed1.25), pitch<+-semitones> "
      "(-12..12, e.g. pitch+2, pitch-2), noise<snr_db> (-20..80, e.g. noise10)";
  if (!name) return mgc_error_set(MGC_EINVAL, "no audio variant name; %s", forms);
  if (!strcmp(name, "clean")) {
    *kind = VAR_CLEAN;
    *v = 0;
    return MGC_OK;
  }
  static const struct {
    const char *prefix;
    int kind, sign;
    double lo, hi;
  } tab[] = {
      {"speed", VAR_SPEED, 0, 0.25, 4},
      {"pitch", VAR_PITCH, 1, -12, 12},
      {"noise", VAR_NOISE, 1, -20, 80},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    size_t lp = strlen(tab[i].prefix);
    if (strncmp(name, tab[i].prefix, lp)) continue;
    if (parse_decimal(name + lp, tab[i].sign, v))
      return mgc_error_set(MGC_EINVAL, "audio variant '%s': '%s' is not a number; %s", name,
                           name + lp, forms);
    if (!(*v >= tab[i].lo && *v <= tab[i].hi))
      return mgc_error_set(MGC_EINVAL, "audio variant '%s': %g is outside [%g, %g]; %s", name, *v,
                           tab[i].lo, tab[i].hi, forms);
    *kind = tab[i].kind;
    return MGC_OK;
  }
  return mgc_error_set(MGC_EINVAL, "unknown audio variant '%s'; %s", name, forms);
}

mgc_status mgc_audio_variant_check(const char *name) {
  int kind;
  double v;
  return parse_variant(name, &kind, &v);
}

mgc_status mgc_audio_variant(const char *name, uint64_t seed, const float *in, size_t n, int rate,
                             float **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  int kind;
  double v;
  mgc_status st = parse_variant(name, &kind, &v);
  if (st) return st;
  switch (kind) {
    case VAR_SPEED:
      return mgc_audio_speed(in, n, rate, v, out, n_out);
    case VAR_PITCH:
      return mgc_audio_pitch_shift(in, n, rate, v, out, n_out);
    case VAR_NOISE: {
      mgc_rng rng;
      mgc_rng_seed(&rng, seed);
      return mgc_audio_add_noise(in, n, v, &rng, out, n_out);
    }
    default: {
      if (n == 0) return empty_output(out, n_out);
      float *o = malloc(n * sizeof(float));
      if (!o) return mgc_error_set(MGC_ENOMEM, "audio variant: out of memory");
      memcpy(o, in, n * sizeof(float));
      *out = o;
      *n_out = n;
      return MGC_OK;
    }
  }
}
