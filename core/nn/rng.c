#include "mgc/nn/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void mgc_rng_seed(mgc_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mgc_rng_next(mgc_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double mgc_rng_uniform(mgc_rng *r) { return (double)(mgc_rng_next(r) >> 11) * 0x1.0p-53; }

float mgc_rng_uniformf(mgc_rng *r) { return (float)(mgc_rng_next(r) >> 40) * 0x1.0p-24f; }

double mgc_rng_normal(mgc_rng *r) {
  double u1 = mgc_rng_uniform(r), u2 = mgc_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t mgc_rng_below(mgc_rng *r, uint64_t n) {
  if (n == 0) return 0;
  /* Lemire's multiply-shift; the tiny bias (< n / 2^64) is irrelevant here. */
  return (uint64_t)(((unsigned __int128)mgc_rng_next(r) * n) >> 64);
}

uint64_t mgc_rng_derive(uint64_t seed, uint64_t tag) {
  uint64_t x = seed ^ (tag * 0xd1b54a32d192ed03ULL);
  return splitmix64(&x);
}
