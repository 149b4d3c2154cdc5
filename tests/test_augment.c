/* Augmentation: window-level transforms, mixup, the Beta sampler, and the
 * audio-level variants measured on closed-form signals. */
#include "test_util.h"

#include <fftw3.h>
#include <math.h>

#include "mgc/audio/audio.h"
#include "mgc/train/augment.h"
#include "mgc/dsp/features.h"

#define assert_near(a, b, eps)                                                              \
  do {                                                                                      \
    double a_ = (a), b_ = (b);                                                              \
    if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.9g, want %.9g (eps %g)", #a, a_, b_,    \
                                            (double)(eps));                                 \
  } while (0)

enum { T = 130, F = 128, RATE = 22050 };

/* A log-mel-like window with distinct values, none equal to any fill. */
static void fill_window(float *w, int t, int f, uint64_t seed) {
  mgc_rng r;
  mgc_rng_seed(&r, seed);
  for (int i = 0; i < t * f; i++) w[i] = (float)(-40.0 + 20.0 * mgc_rng_normal(&r));
}

static void band_fill(float *fill, int f) {
  for (int j = 0; j < f; j++) fill[j] = 1000.0f + (float)j; /* far from any window value */
}

/* ---- window level ------------------------------------------------------ */

static void test_all_off_is_identity(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  assert_int_equal(mgc_augment_params_check(&p), MGC_OK);
  static float w[T * F], w0[T * F], fill[F];
  fill_window(w, T, F, 1);
  memcpy(w0, w, sizeof w);
  band_fill(fill, F);
  mgc_rng r, r0;
  mgc_rng_seed(&r, 9);
  r0 = r;
  mgc_augment_window(&p, &r, w, T, F, fill);
  mgc_augment_window(&p, &r, w, T, F, NULL);
  assert_memory_equal(w, w0, sizeof w);
  assert_memory_equal(&r, &r0, sizeof r); /* nothing drawn */
  /* Mask counts with width 0 (or width with count 0) are off too. */
  p.freq_masks = 3;
  p.time_mask_max = 20;
  mgc_augment_window(&p, &r, w, T, F, fill);
  assert_memory_equal(w, w0, sizeof w);
}

/* Classify every cell after masking: each band is masked in every frame or
 * in none, and likewise each frame (a time mask covers every band). */
static void check_masks(const mgc_augment_params *p, uint64_t seed, int *max_fw, int *max_tw,
                        int *min_fw, long *n_masked_bands) {
  static float w[T * F], w0[T * F], fill[F];
  fill_window(w0, T, F, seed + 1000);
  memcpy(w, w0, sizeof w);
  band_fill(fill, F);
  mgc_rng r;
  mgc_rng_seed(&r, seed);
  mgc_augment_window(p, &r, w, T, F, fill);

  int tmask[T] = {0}, fmask[F] = {0};
  for (int i = 0; i < T; i++) {
    int all = 1;
    for (int j = 0; j < F; j++) all &= w[i * F + j] == fill[j];
    tmask[i] = all;
  }
  for (int j = 0; j < F; j++) {
    int all = 1;
    for (int i = 0; i < T; i++) all &= tmask[i] || w[i * F + j] == fill[j];
    /* A band counts as frequency-masked if it is fill in every frame not
     * time-masked (and at least one frame is not). */
    int free_frames = 0;
    for (int i = 0; i < T; i++) free_frames += !tmask[i];
    fmask[j] = all && free_frames > 0;
  }
  /* Everything not masked is bit-identical to the input. */
  for (int i = 0; i < T; i++)
    for (int j = 0; j < F; j++) {
      if (tmask[i] || fmask[j])
        assert_true(w[i * F + j] == fill[j]);
      else
        assert_true(w[i * F + j] == w0[i * F + j]);
    }
  /* Runs: with one mask per axis a run is one mask, so its width is bounded
   * by the max; with more, the union is bounded by count * max. */
  int total_f = 0, total_t = 0, run = 0, longest_f = 0, longest_t = 0;
  for (int j = 0; j <= F; j++) {
    if (j < F && fmask[j]) {
      run++;
      total_f++;
    } else {
      if (run > longest_f) longest_f = run;
      run = 0;
    }
  }
  run = 0;
  for (int i = 0; i <= T; i++) {
    if (i < T && tmask[i]) {
      run++;
      total_t++;
    } else {
      if (run > longest_t) longest_t = run;
      run = 0;
    }
  }
  assert_true(total_f <= p->freq_masks * p->freq_mask_max);
  assert_true(total_t <= p->time_masks * p->time_mask_max);
  if (p->freq_masks == 1) assert_true(longest_f <= p->freq_mask_max);
  if (p->time_masks == 1) assert_true(longest_t <= p->time_mask_max);
  if (p->freq_masks == 0) assert_int_equal(total_f, 0);
  if (p->time_masks == 0) assert_int_equal(total_t, 0);
  if (longest_f > *max_fw) *max_fw = longest_f;
  if (longest_t > *max_tw) *max_tw = longest_t;
  if (longest_f < *min_fw) *min_fw = longest_f;
  *n_masked_bands += total_f;
}

static void test_masks(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  int mf = 0, mt = 0, minf = F;
  long nb = 0;
  /* One frequency mask: the widths seen cover 0..max and never exceed it. */
  p.freq_masks = 1;
  p.freq_mask_max = 27;
  for (uint64_t s = 0; s < 300; s++) check_masks(&p, s, &mf, &mt, &minf, &nb);
  assert_int_equal(mf, 27);
  assert_int_equal(minf, 0);
  /* Mean width of U{0..27} is 13.5. */
  assert_near((double)nb / 300, 13.5, 1.5);
  print_message("freq mask, max 27: mean width %.2f (expected 13.5), widths 0..%d seen\n",
                (double)nb / 300, mf);

  mgc_augment_params_default(&p);
  p.time_masks = 1;
  p.time_mask_max = 20;
  mf = mt = 0;
  for (uint64_t s = 0; s < 300; s++) check_masks(&p, s, &mf, &mt, &minf, &nb);
  assert_int_equal(mt, 20);
  assert_int_equal(mf, 0);

  /* Several of each together (the cells left alone stay bit-identical). */
  p.freq_masks = 2;
  p.freq_mask_max = 15;
  p.time_masks = 2;
  p.time_mask_max = 25;
  for (uint64_t s = 0; s < 200; s++) check_masks(&p, s, &mf, &mt, &minf, &nb);

  /* A mask wider than the axis is clamped to it. */
  mgc_augment_params_default(&p);
  p.freq_masks = 1;
  p.freq_mask_max = 1000;
  static float w[4 * 6];
  float fill[6] = {7, 7, 7, 7, 7, 7};
  int all_masked = 0;
  for (uint64_t s = 0; s < 100; s++) {
    static float w0[4 * 6];
    fill_window(w0, 4, 6, s);
    memcpy(w, w0, sizeof w);
    mgc_rng r;
    mgc_rng_seed(&r, s);
    mgc_augment_window(&p, &r, w, 4, 6, fill);
    int nm = 0;
    for (int j = 0; j < 6; j++) {
      int m = w[j] == 7;
      for (int i = 0; i < 4; i++) assert_true(m ? w[i * 6 + j] == 7 : w[i * 6 + j] == w0[i * 6 + j]);
      nm += m;
    }
    all_masked += nm == 6;
  }
  assert_true(all_masked > 0); /* width 6 = the whole axis is reachable */

  /* fill == NULL: masked values take the window mean (before masking). */
  mgc_augment_params_default(&p);
  p.time_masks = 1;
  p.time_mask_max = 130;
  static float w2[T * F];
  fill_window(w2, T, F, 3);
  double mean = 0;
  for (int i = 0; i < T * F; i++) mean += w2[i];
  mean /= T * F;
  mgc_rng r;
  mgc_rng_seed(&r, 1);
  mgc_augment_window(&p, &r, w2, T, F, NULL);
  int masked = 0;
  for (int i = 0; i < T * F; i++) masked += w2[i] == (float)mean;
  assert_true(masked > 0 && masked % F == 0);
}

static void test_reverse(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.reverse_prob = 1;
  static float w[T * F], w0[T * F];
  fill_window(w0, T, F, 5);
  memcpy(w, w0, sizeof w);
  mgc_rng r;
  mgc_rng_seed(&r, 5);
  mgc_augment_window(&p, &r, w, T, F, NULL);
  for (int i = 0; i < T; i++) assert_memory_equal(w + i * F, w0 + (T - 1 - i) * F, F * sizeof(float));
  /* Odd and even lengths: a window of 3 frames keeps its middle frame. */
  float s3[3 * 2] = {1, 2, 3, 4, 5, 6};
  mgc_augment_window(&p, &r, s3, 3, 2, NULL);
  float want[6] = {5, 6, 3, 4, 1, 2};
  assert_memory_equal(s3, want, sizeof want);

  /* With p = 0.5 about half the windows come out reversed, the rest intact. */
  p.reverse_prob = 0.5;
  int rev = 0, n = 2000;
  for (int k = 0; k < n; k++) {
    float a[4 * 3] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    mgc_augment_window(&p, &r, a, 4, 3, NULL);
    if (a[0] == 9) {
      rev++;
    } else {
      assert_true(a[0] == 0 && a[11] == 11);
    }
  }
  print_message("reverse_prob 0.5: %d of %d reversed\n", rev, n);
  assert_near((double)rev / n, 0.5, 0.04);
}

/* band_roll: every frame's bands rolled by the same k, k uniform over the
 * f possible shifts. */
static void test_band_roll(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.band_roll = 1;
  mgc_rng r;
  mgc_rng_seed(&r, 9);
  enum { TT = 5, FF = 12, N = 6000 };
  int seen[FF] = {0};
  for (int n = 0; n < N; n++) {
    float w[TT * FF];
    for (int i = 0; i < TT * FF; i++) w[i] = (float)(100 * (i / FF) + i % FF);
    mgc_augment_window(&p, &r, w, TT, FF, NULL);
    int k = ((int)w[0] % 100 == 0) ? 0 : FF - (int)w[0] % 100; /* w[0] = in[(0 - k) mod FF] */
    for (int i = 0; i < TT; i++)
      for (int j = 0; j < FF; j++)
        assert_true(w[i * FF + j] == (float)(100 * i + ((j - k) % FF + FF) % FF));
    seen[k]++;
  }
  for (int k = 0; k < FF; k++) assert_near((double)seen[k] / N, 1.0 / FF, 0.02);
  /* one band: nothing to roll, nothing drawn */
  float one[3] = {1, 2, 3};
  mgc_rng r2 = r;
  mgc_augment_window(&p, &r, one, 3, 1, NULL);
  assert_true(one[0] == 1 && one[1] == 2 && one[2] == 3);
  assert_memory_equal(&r, &r2, sizeof r);
}

static void test_gain(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.gain_db = 6;
  static float w[T * F], w0[T * F];
  fill_window(w0, T, F, 11);
  mgc_rng r;
  mgc_rng_seed(&r, 11);
  double lo = 1e9, hi = -1e9, sum = 0;
  int n = 1000;
  for (int k = 0; k < n; k++) {
    memcpy(w, w0, sizeof w);
    mgc_augment_window(&p, &r, w, T, F, NULL);
    double g = (double)w[0] - w0[0];
    /* The same shift everywhere (up to float rounding at |x| ~ 100 dB). */
    for (int i = 0; i < T * F; i++) assert_near((double)w[i] - w0[i], g, 2e-5);
    assert_true(fabs(g) <= 6 + 1e-5);
    if (g < lo) lo = g;
    if (g > hi) hi = g;
    sum += g;
  }
  print_message("gain 6 dB: shifts in [%.3f, %.3f], mean %.3f over %d windows\n", lo, hi, sum / n,
                n);
  assert_true(lo < -5.8 && hi > 5.8);
  assert_near(sum / n, 0, 0.35); /* std of U(-6,6) mean over 1000: 0.11 */
}

static void test_noise_window(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.noise_std = 2.0;
  static float w[T * F], w0[T * F];
  fill_window(w0, T, F, 13);
  memcpy(w, w0, sizeof w);
  mgc_rng r;
  mgc_rng_seed(&r, 13);
  mgc_augment_window(&p, &r, w, T, F, NULL);
  double s = 0, s2 = 0;
  for (int i = 0; i < T * F; i++) {
    double d = (double)w[i] - w0[i];
    s += d;
    s2 += d * d;
  }
  double mean = s / (T * F), sd = sqrt(s2 / (T * F) - mean * mean);
  print_message("window noise: requested std 2, measured %.4f, mean %.4f (n = %d)\n", sd, mean,
                T * F);
  assert_near(sd, 2.0, 0.04);    /* standard error of the std: 0.011 */
  assert_near(mean, 0.0, 0.06);  /* standard error of the mean: 0.016 */
  /* Odd number of values: the last one gets noise too. */
  float odd[3] = {0, 0, 0};
  mgc_augment_window(&p, &r, odd, 1, 3, NULL);
  assert_true(odd[2] != 0);
}

static void test_window_deterministic(void **st) {
  (void)st;
  mgc_augment_params p = {.freq_masks = 2,
                          .freq_mask_max = 20,
                          .time_masks = 2,
                          .time_mask_max = 25,
                          .reverse_prob = 0.5,
                          .gain_db = 6,
                          .noise_std = 1,
                          .mixup_alpha = 0.4,
                          .offset_max = 10};
  assert_int_equal(mgc_augment_params_check(&p), MGC_OK);
  static float a[T * F], b[T * F], c[T * F], fill[F];
  band_fill(fill, F);
  fill_window(a, T, F, 21);
  memcpy(b, a, sizeof a);
  memcpy(c, a, sizeof a);
  mgc_rng ra, rb, rc;
  mgc_rng_seed(&ra, 42);
  mgc_rng_seed(&rb, 42);
  mgc_rng_seed(&rc, 43);
  mgc_augment_window(&p, &ra, a, T, F, fill);
  mgc_augment_window(&p, &rb, b, T, F, fill);
  mgc_augment_window(&p, &rc, c, T, F, fill);
  assert_memory_equal(a, b, sizeof a);
  assert_true(memcmp(a, c, sizeof a) != 0);
  /* Masked cells are exactly the fill even with every transform before. */
  int masked = 0;
  for (int i = 0; i < T * F; i++) masked += a[i] == fill[i % F];
  assert_true(masked > 0);
}

static void test_params_check(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.freq_masks = -1;
  assert_int_equal(mgc_augment_params_check(&p), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "freq_masks"));
  mgc_augment_params_default(&p);
  p.reverse_prob = 1.5;
  assert_int_equal(mgc_augment_params_check(&p), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "reverse_prob"));
  mgc_augment_params_default(&p);
  p.noise_std = NAN;
  assert_int_equal(mgc_augment_params_check(&p), MGC_EINVAL);
  mgc_augment_params_default(&p);
  p.mixup_alpha = -0.2;
  assert_int_equal(mgc_augment_params_check(&p), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "mixup_alpha"));
}

static void test_offset(void **st) {
  (void)st;
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  mgc_rng r, r0;
  mgc_rng_seed(&r, 3);
  r0 = r;
  assert_int_equal(mgc_augment_offset(&p, &r, 65, 130, 1300), 65);
  assert_memory_equal(&r, &r0, sizeof r);
  p.offset_max = 10;
  int seen[21] = {0};
  for (int k = 0; k < 4000; k++) {
    int s = mgc_augment_offset(&p, &r, 65, 130, 1300);
    assert_true(s >= 55 && s <= 75);
    seen[s - 55]++;
  }
  for (int i = 0; i < 21; i++) assert_true(seen[i] > 0);
  for (int k = 0; k < 1000; k++) {
    int s = mgc_augment_offset(&p, &r, 0, 130, 1300);
    assert_true(s >= 0 && s <= 10);
    s = mgc_augment_offset(&p, &r, 1170, 130, 1300);
    assert_true(s >= 1160 && s <= 1170);
  }
  /* No room to move: the grid start comes back. */
  assert_int_equal(mgc_augment_offset(&p, &r, 0, 130, 130), 0);
  assert_int_equal(mgc_augment_offset(&p, &r, 0, 130, 100), 0);
}

/* ---- mixup and Beta ---------------------------------------------------- */

static void test_mixup(void **st) {
  (void)st;
  enum { N = 16, D = 37, C = 16 };
  mgc_augment_params p;
  mgc_augment_params_default(&p);
  p.mixup_alpha = 0.4;
  float x[N * D], x0[N * D], tg[N * C], scratch[N * D];
  int labels[N], perm[N];
  for (int i = 0; i < N; i++) labels[i] = i; /* distinct, so lambda can be read off */
  mgc_rng r;
  mgc_rng_seed(&r, 77);
  for (int i = 0; i < N * D; i++) x0[i] = (float)mgc_rng_normal(&r);
  int mixed = 0;
  double lmin = 1, lmax = 0;
  for (int rep = 0; rep < 50; rep++) {
    memcpy(x, x0, sizeof x);
    mgc_augment_mixup(&p, &r, x, N, D, labels, C, tg, scratch, perm);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
      assert_true(perm[i] >= 0 && perm[i] < N);
      seen[perm[i]]++;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    for (int i = 0; i < N; i++) {
      double rs = 0;
      for (int c = 0; c < C; c++) rs += tg[i * C + c];
      assert_near(rs, 1.0, 1e-6);
      int j = perm[i];
      if (j == i) {
        assert_true(tg[i * C + i] == 1.0f);
        assert_memory_equal(x + i * D, x0 + i * D, D * sizeof(float));
        continue;
      }
      float lam = tg[i * C + i];
      assert_true(lam >= 0.5f && lam <= 1.0f);
      assert_near(tg[i * C + j], 1.0 - lam, 1e-7);
      for (int k = 0; k < D; k++)
        assert_true(x[i * D + k] == lam * x0[i * D + k] + (1.0f - lam) * x0[j * D + k]);
      mixed++;
      if (lam < lmin) lmin = lam;
      if (lam > lmax) lmax = lam;
    }
  }
  print_message("mixup alpha 0.4: %d mixed pairs, lambda in [%.3f, %.3f]\n", mixed, lmin, lmax);
  assert_true(mixed > 600);
  assert_true(lmin < 0.55 && lmax > 0.98);

  /* Two samples of the same class keep a one-hot target. */
  int same[2] = {3, 3};
  float x2[2 * 2] = {1, 2, 3, 4}, t2[2 * 5], s2[4];
  int p2[2];
  for (int rep = 0; rep < 10; rep++) {
    mgc_augment_mixup(&p, &r, x2, 2, 2, same, 5, t2, s2, p2);
    for (int i = 0; i < 2; i++) assert_true(t2[i * 5 + 3] == 1.0f);
  }

  /* alpha 0: x untouched, one-hot targets, identity pairing, no draw. */
  p.mixup_alpha = 0;
  memcpy(x, x0, sizeof x);
  mgc_rng r0 = r;
  mgc_augment_mixup(&p, &r, x, N, D, labels, C, tg, scratch, perm);
  assert_memory_equal(x, x0, sizeof x);
  assert_memory_equal(&r, &r0, sizeof r);
  for (int i = 0; i < N; i++) {
    assert_int_equal(perm[i], i);
    for (int c = 0; c < C; c++) assert_true(tg[i * C + c] == (c == labels[i] ? 1.0f : 0.0f));
  }
}

static void test_beta(void **st) {
  (void)st;
  const double ab[][2] = {{0.2, 0.2}, {0.4, 0.4}, {1, 1}, {2, 5}, {0.5, 3}, {0.05, 0.05}};
  mgc_rng r;
  mgc_rng_seed(&r, 2024);
  enum { N = 20000 };
  for (size_t k = 0; k < sizeof ab / sizeof ab[0]; k++) {
    double a = ab[k][0], b = ab[k][1], s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
      double v = mgc_rng_beta(&r, a, b);
      assert_true(v >= 0 && v <= 1);
      s += v;
      s2 += v * v;
    }
    double mean = s / N, var = s2 / N - mean * mean;
    double em = a / (a + b), ev = a * b / ((a + b) * (a + b) * (a + b + 1));
    print_message("Beta(%g, %g): mean %.4f (exact %.4f), var %.5f (exact %.5f)\n", a, b, mean, em,
                  var, ev);
    /* 5 standard errors of the mean; 6 % on the variance (its standard
     * error is at most 2.2 % here, for the U-shaped small alphas). */
    assert_near(mean, em, 5 * sqrt(ev / N));
    assert_near(var, ev, 0.06 * ev);
  }
  assert_true(isnan(mgc_rng_beta(&r, 0, 1)));
  assert_true(isnan(mgc_rng_beta(&r, 1, -1)));
  assert_true(isnan(mgc_rng_beta(&r, NAN, 1)));
}

/* ---- audio level ------------------------------------------------------- */

static float *sine(size_t n, double hz, double amp) {
  float *x = malloc(n * sizeof(float));
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * hz * (double)i / RATE));
  return x;
}

/* Frequency from upward zero crossings (linearly interpolated) in
 * [lo, hi): robust to small phase jumps, exact for a clean sine. */
static double zc_freq(const float *x, size_t lo, size_t hi) {
  double first = -1, last = -1;
  long count = 0;
  for (size_t i = lo + 1; i < hi; i++) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      double t = (double)(i - 1) + x[i - 1] / (double)(x[i - 1] - x[i]);
      if (first < 0) first = t;
      last = t;
      count++;
    }
  }
  assert_true(count > 2);
  return (double)(count - 1) * RATE / (last - first);
}

/* Spectrum peak of a Hann-windowed segment with quadratic interpolation on
 * the log magnitude; `purity` gets the share of the energy within +-3 % of
 * `expect_hz` (NULL: not wanted). */
static double fft_peak(const float *x, size_t lo, size_t len, double fmin, double fmax,
                       double expect_hz, double *purity) {
  float *in = fftwf_malloc(len * sizeof(float));
  fftwf_complex *out = fftwf_malloc((len / 2 + 1) * sizeof(fftwf_complex));
  assert_true(in && out);
  fftwf_plan plan = fftwf_plan_dft_r2c_1d((int)len, in, out, FFTW_ESTIMATE);
  for (size_t i = 0; i < len; i++)
    in[i] = x[lo + i] * (float)(0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)len));
  fftwf_execute(plan);
  size_t nb = len / 2 + 1, best = 0;
  double bin_hz = (double)RATE / (double)len, bv = -1, tot = 0, near = 0;
  double *mag = malloc(nb * sizeof(double));
  for (size_t k = 0; k < nb; k++) {
    mag[k] = (double)out[k][0] * out[k][0] + (double)out[k][1] * out[k][1];
    double hz = (double)k * bin_hz;
    tot += mag[k];
    if (fabs(hz - expect_hz) <= 0.03 * expect_hz) near += mag[k];
    if (hz >= fmin && hz <= fmax && mag[k] > bv) {
      bv = mag[k];
      best = k;
    }
  }
  double a = log(mag[best - 1] + 1e-30), b = log(mag[best] + 1e-30), c = log(mag[best + 1] + 1e-30);
  double delta = 0.5 * (a - c) / (a - 2 * b + c);
  if (purity) *purity = near / tot;
  free(mag);
  fftwf_destroy_plan(plan);
  fftwf_free(in);
  fftwf_free(out);
  return ((double)best + delta) * bin_hz;
}

static double rms(const float *x, size_t lo, size_t hi) {
  double s = 0;
  for (size_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
  return sqrt(s / (double)(hi - lo));
}

static void test_speed(void **st) {
  (void)st;
  size_t n = 2 * RATE;
  float *x = sine(n, 440, 0.5);
  const double speeds[] = {1.25, 0.8, 1.1};
  for (size_t k = 0; k < 3; k++) {
    float *y = NULL;
    size_t ny = 0;
    assert_int_equal(mgc_audio_speed(x, n, RATE, speeds[k], &y, &ny), MGC_OK);
    assert_int_equal(ny, (size_t)ceil((double)n / speeds[k]));
    double want = 440 * speeds[k];
    double fz = zc_freq(y, ny / 10, ny - ny / 10);
    double ff = fft_peak(y, ny / 2 - 8192, 16384, 100, 2000, want, NULL);
    double db = 20 * log10(rms(y, ny / 10, ny - ny / 10) / rms(x, n / 10, n - n / 10));
    print_message("speed x%.2f of 440 Hz: %.3f Hz by zero crossings, %.3f Hz by FFT (want %.1f); "
                  "length %zu (n/s = %.1f); level %+.4f dB\n",
                  speeds[k], fz, ff, want, ny, (double)n / speeds[k], db);
    assert_near(fz, want, want * 1e-4);
    assert_near(ff, want, want * 1e-3);
    assert_near(db, 0, 0.05);
    free(y);
  }
  float *y = NULL;
  size_t ny = 0;
  assert_int_equal(mgc_audio_speed(x, n, RATE, 0, &y, &ny), MGC_EINVAL);
  assert_null(y);
  assert_int_equal(mgc_audio_speed(x, n, 0, 1.25, &y, &ny), MGC_EINVAL);
  assert_int_equal(mgc_audio_speed(x, 0, RATE, 1.25, &y, &ny), MGC_OK);
  assert_int_equal(ny, 0);
  free(y);
  free(x);
}

static void test_pitch(void **st) {
  (void)st;
  size_t n = 3 * RATE;
  float *x = sine(n, 440, 0.5);
  const double sts[] = {2, -2, 1, 12, -12};
  for (size_t k = 0; k < sizeof sts / sizeof sts[0]; k++) {
    float *y = NULL;
    size_t ny = 0;
    assert_int_equal(mgc_audio_pitch_shift(x, n, RATE, sts[k], &y, &ny), MGC_OK);
    assert_int_equal(ny, n);
    double want = 440 * pow(2, sts[k] / 12);
    double fz = zc_freq(y, n / 20, n - n / 20);
    double purity;
    double ff = fft_peak(y, n / 2 - 16384, 32768, 100, 2000, want, &purity);
    double db = 20 * log10(rms(y, n / 20, n - n / 20) / rms(x, n / 20, n - n / 20));
    print_message("pitch %+g st of 440 Hz: %.3f Hz by zero crossings, %.3f Hz by FFT (want %.3f); "
                  "length %zu of %zu; level %+.3f dB; %.4f %% of the energy within 3 %%\n",
                  sts[k], fz, ff, want, ny, n, db, 100 * purity);
    assert_near(fz, want, want * 0.01);
    assert_near(ff, want, want * 0.01);
    assert_near(db, 0, 1.0);
    assert_true(purity > 0.95);
    free(y);
  }

  /* A chord: both partials move by the same ratio. */
  float *c = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    c[i] = (float)(0.4 * sin(2 * M_PI * 220 * (double)i / RATE) +
                   0.3 * sin(2 * M_PI * 659.255 * (double)i / RATE));
  float *y = NULL;
  size_t ny = 0;
  assert_int_equal(mgc_audio_pitch_shift(c, n, RATE, 2, &y, &ny), MGC_OK);
  double r = pow(2, 2.0 / 12);
  double f1 = fft_peak(y, n / 2 - 16384, 32768, 150, 400, 220 * r, NULL);
  double f2 = fft_peak(y, n / 2 - 16384, 32768, 500, 1000, 659.255 * r, NULL);
  print_message("pitch +2 st of 220 + 659.3 Hz: %.3f and %.3f Hz (want %.3f and %.3f)\n", f1, f2,
                220 * r, 659.255 * r);
  assert_near(f1, 220 * r, 220 * r * 0.01);
  assert_near(f2, 659.255 * r, 659.255 * r * 0.01);
  free(y);
  free(c);

  /* Short and empty inputs; bad arguments. */
  assert_int_equal(mgc_audio_pitch_shift(x, 100, RATE, 2, &y, &ny), MGC_OK);
  assert_int_equal(ny, 100);
  free(y);
  assert_int_equal(mgc_audio_pitch_shift(x, 0, RATE, 2, &y, &ny), MGC_OK);
  assert_int_equal(ny, 0);
  free(y);
  assert_int_equal(mgc_audio_pitch_shift(x, n, RATE, 13, &y, &ny), MGC_EINVAL);
  assert_null(y);
  free(x);
}

/* Pitch shift keeps time: short 2 kHz bursts every 0.25 s come out at the
 * same instants. WSOLA may move a frame by up to its +-10 ms search range
 * (not cumulatively: each frame is placed from its nominal position), which
 * the resampling by p afterwards scales by 1/p: the envelope peak of each
 * burst must be within 10 ms / p, plus 1 ms for the envelope estimate. */
static void test_timing(void **st) {
  (void)st;
  size_t n = 3 * RATE, burst = RATE / 200; /* 5 ms */
  float *x = calloc(n, sizeof(float));
  int nb = 0;
  size_t at[16];
  for (size_t t0 = RATE / 8; t0 + burst < n - RATE / 8; t0 += RATE / 4) {
    for (size_t i = 0; i < burst; i++)
      x[t0 + i] = (float)(0.8 * sin(M_PI * (double)i / (double)burst) *
                          sin(2 * M_PI * 2000 * (double)i / RATE));
    at[nb++] = t0 + burst / 2;
  }
  const double sts[] = {2, -2};
  for (int k = 0; k < 2; k++) {
    float *y;
    size_t ny;
    assert_int_equal(mgc_audio_pitch_shift(x, n, RATE, sts[k], &y, &ny), MGC_OK);
    double worst = 0;
    for (int b = 0; b < nb; b++) {
      /* Envelope peak (smoothed over 2 ms) within +-60 ms of the burst. */
      size_t lo = at[b] - RATE * 6 / 100, hi = at[b] + RATE * 6 / 100, arg = lo;
      double best = -1;
      for (size_t i = lo; i < hi; i++) {
        double e = 0;
        for (size_t j = i - 22; j < i + 22; j++) e += (double)y[j] * y[j];
        if (e > best) {
          best = e;
          arg = i;
        }
      }
      double err = fabs((double)arg - (double)at[b]) * 1000.0 / RATE;
      if (err > worst) worst = err;
    }
    double bound = 10.0 / pow(2, sts[k] / 12) + 1.0;
    print_message("pitch %+g st: %d bursts, worst onset displacement %.2f ms (bound %.1f)\n",
                  sts[k], nb, worst, bound);
    assert_true(worst <= bound);
    free(y);
  }
  free(x);
}

/* Real music (4 s of GTZAN blues.00000): the mean chromagram of the pitch
 * shifted clip is the original rolled by the number of semitones, its level
 * stays within 1 dB; speed x1.25 rolls it by 12 log2(1.25) = 3.86 -> 4. */
static int best_roll(const double *a, const double *b) {
  int arg = 0;
  double best = -1e300;
  for (int r = 0; r < 12; r++) {
    double c = 0;
    for (int i = 0; i < 12; i++) c += a[i] * b[(i + r) % 12];
    if (c > best) {
      best = c;
      arg = r;
    }
  }
  return arg;
}

static void mean_chroma(const float *y, size_t n, double *out) {
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.tuning = 0; /* fixed, so a shift is not absorbed into the tuning estimate */
  mgc_feature_matrix m;
  assert_int_equal(mgc_features_compute(&p, MGC_KIND_CHROMA, y, n, &m), MGC_OK);
  assert_int_equal(m.dim, 12);
  double mean = 0;
  for (int c = 0; c < 12; c++) {
    out[c] = 0;
    for (size_t t = 0; t < m.n_frames; t++) out[c] += m.data[t * 12 + c];
    out[c] /= (double)m.n_frames;
    mean += out[c] / 12;
  }
  for (int c = 0; c < 12; c++) out[c] -= mean;
  mgc_feature_matrix_free(&m);
}

static void test_music(void **st) {
  (void)st;
  char path[512];
  mgc_audio a;
  assert_int_equal(mgc_audio_load(fixture(path, sizeof path, "blues.00000_10s-14s.wav"), RATE, &a),
                   MGC_OK);
  double c0[12], c1[12];
  mean_chroma(a.samples, a.n, c0);
  const struct {
    const char *name;
    int roll;
  } cases[] = {{"pitch+2", 2}, {"pitch-2", 10}, {"pitch+5", 5}, {"speed1.25", 4}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    float *y;
    size_t ny;
    assert_int_equal(mgc_audio_variant(cases[k].name, 1, a.samples, a.n, RATE, &y, &ny), MGC_OK);
    mean_chroma(y, ny, c1);
    int r = best_roll(c0, c1);
    double db = 20 * log10(rms(y, 0, ny) / rms(a.samples, 0, a.n));
    print_message("%s of blues.00000 (4 s): chroma rolled by %d (want %d), level %+.3f dB, "
                  "length %zu of %zu\n",
                  cases[k].name, r, cases[k].roll, db, ny, a.n);
    assert_int_equal(r, cases[k].roll);
    assert_near(db, 0, 1.0);
    free(y);
  }
  mgc_audio_free(&a);
}

static void test_noise_snr(void **st) {
  (void)st;
  size_t n = 2 * RATE;
  float *x = sine(n, 440, 0.5);
  for (size_t i = 0; i < n; i++) x[i] += (float)(0.2 * sin(2 * M_PI * 97 * (double)i / RATE));
  const double snrs[] = {10, 0, 30};
  for (size_t k = 0; k < 3; k++) {
    mgc_rng r;
    mgc_rng_seed(&r, 100 + k);
    float *y = NULL;
    size_t ny = 0;
    assert_int_equal(mgc_audio_add_noise(x, n, snrs[k], &r, &y, &ny), MGC_OK);
    assert_int_equal(ny, n);
    double ps = 0, pn = 0, sum = 0, lag1 = 0;
    for (size_t i = 0; i < n; i++) {
      double d = (double)y[i] - x[i];
      ps += (double)x[i] * x[i];
      pn += d * d;
      sum += d;
      if (i) lag1 += d * ((double)y[i - 1] - x[i - 1]);
    }
    double snr = 10 * log10(ps / pn);
    print_message("noise at %g dB SNR: measured %.4f dB; noise mean %.2e, lag-1 correlation %.4f\n",
                  snrs[k], snr, sum / n / sqrt(pn / n), lag1 / pn);
    assert_near(snr, snrs[k], 0.2);
    assert_near(sum / n / sqrt(pn / n), 0, 0.02); /* mean, in noise stds */
    assert_near(lag1 / pn, 0, 0.02);              /* white */
    free(y);
  }
  /* Same seed, same noise; another seed, other noise. */
  mgc_rng a, b, c;
  mgc_rng_seed(&a, 5);
  mgc_rng_seed(&b, 5);
  mgc_rng_seed(&c, 6);
  float *ya, *yb, *yc;
  size_t na, nb, nc;
  assert_int_equal(mgc_audio_add_noise(x, n, 10, &a, &ya, &na), MGC_OK);
  assert_int_equal(mgc_audio_add_noise(x, n, 10, &b, &yb, &nb), MGC_OK);
  assert_int_equal(mgc_audio_add_noise(x, n, 10, &c, &yc, &nc), MGC_OK);
  assert_memory_equal(ya, yb, n * sizeof(float));
  assert_true(memcmp(ya, yc, n * sizeof(float)) != 0);
  free(ya);
  free(yb);
  free(yc);
  /* Silence stays silent. */
  float z[64] = {0};
  assert_int_equal(mgc_audio_add_noise(z, 64, 10, &a, &ya, &na), MGC_OK);
  assert_memory_equal(ya, z, sizeof z);
  free(ya);
  free(x);
}

static void test_variants(void **st) {
  (void)st;
  size_t n = RATE;
  float *x = sine(n, 330, 0.3);
  float *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  mgc_rng r;

  assert_int_equal(mgc_audio_variant("speed1.25", 1, x, n, RATE, &a, &na), MGC_OK);
  assert_int_equal(mgc_audio_speed(x, n, RATE, 1.25, &b, &nb), MGC_OK);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na * sizeof(float));
  free(a);
  free(b);

  const char *up[] = {"pitch+2", "pitch2", "pitch2.0"};
  assert_int_equal(mgc_audio_pitch_shift(x, n, RATE, 2, &b, &nb), MGC_OK);
  for (int k = 0; k < 3; k++) {
    assert_int_equal(mgc_audio_variant(up[k], 1, x, n, RATE, &a, &na), MGC_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(float));
    free(a);
  }
  free(b);

  assert_int_equal(mgc_audio_variant("pitch-2", 1, x, n, RATE, &a, &na), MGC_OK);
  assert_int_equal(mgc_audio_pitch_shift(x, n, RATE, -2, &b, &nb), MGC_OK);
  assert_memory_equal(a, b, na * sizeof(float));
  free(a);
  free(b);

  assert_int_equal(mgc_audio_variant("noise10", 7, x, n, RATE, &a, &na), MGC_OK);
  mgc_rng_seed(&r, 7);
  assert_int_equal(mgc_audio_add_noise(x, n, 10, &r, &b, &nb), MGC_OK);
  assert_memory_equal(a, b, na * sizeof(float));
  free(a);
  free(b);

  assert_int_equal(mgc_audio_variant("clean", 7, x, n, RATE, &a, &na), MGC_OK);
  assert_int_equal(na, n);
  assert_memory_equal(a, x, n * sizeof(float));
  free(a);

  /* Every robustness variant is a valid name. */
  char list[] = MGC_ROBUSTNESS_VARIANTS;
  int count = 0;
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    assert_int_equal(mgc_audio_variant_check(tok), MGC_OK);
    count++;
  }
  assert_int_equal(count, 4);

  const char *bad[] = {"",          "speed",     "speed0",     "speed-1.25", "speed+1.25",
                       "speed1.25x", "speed 1.25", "speed1e2",  "speedinf",   "speed5",
                       "pitch",     "pitch++2",  "pitch+13",   "pitchnan",   "noise",
                       "noisex",    "noise100",  "reverb",     "Speed1.25",  "pitch+2 ",
                       "speed.",    "noise-"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    a = (float *)1;
    assert_int_equal(mgc_audio_variant(bad[k], 1, x, n, RATE, &a, &na), MGC_EINVAL);
    assert_null(a);
    assert_int_equal(mgc_audio_variant_check(bad[k]), MGC_EINVAL);
    if (!strstr(mgc_error_message(), "speed<factor>"))
      fail_msg("'%s': message without the known forms: %s", bad[k], mgc_error_message());
  }
  print_message("refused: %s\n", mgc_error_message());
  assert_int_equal(mgc_audio_variant_check(NULL), MGC_EINVAL);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_off_is_identity),
      cmocka_unit_test(test_masks),
      cmocka_unit_test(test_reverse),
      cmocka_unit_test(test_band_roll),
      cmocka_unit_test(test_gain),
      cmocka_unit_test(test_noise_window),
      cmocka_unit_test(test_window_deterministic),
      cmocka_unit_test(test_params_check),
      cmocka_unit_test(test_offset),
      cmocka_unit_test(test_mixup),
      cmocka_unit_test(test_beta),
      cmocka_unit_test(test_speed),
      cmocka_unit_test(test_pitch),
      cmocka_unit_test(test_timing),
      cmocka_unit_test(test_music),
      cmocka_unit_test(test_noise_snr),
      cmocka_unit_test(test_variants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
