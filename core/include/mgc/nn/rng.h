/* Deterministic random numbers (xoshiro256**, seeded through splitmix64).
 * Every random choice of training (initialisation, dropout, shuffling,
 * augmentation) draws from one of these, so a run repeats from its seed. */
#ifndef MGC_RNG_H
#define MGC_RNG_H

#include <stdint.h>

typedef struct mgc_rng {
  uint64_t s[4];
} mgc_rng;

void mgc_rng_seed(mgc_rng *r, uint64_t seed);
uint64_t mgc_rng_next(mgc_rng *r);
/* Uniform in [0, 1). */
double mgc_rng_uniform(mgc_rng *r);
/* Uniform float in [0, 1) with 24 random bits (cheap, for dropout masks). */
float mgc_rng_uniformf(mgc_rng *r);
/* Standard normal (Box-Muller). */
double mgc_rng_normal(mgc_rng *r);
/* Uniform integer in [0, n). */
uint64_t mgc_rng_below(mgc_rng *r, uint64_t n);
/* A seed for a sub-stream (layer, epoch, ...) derived from seed and tag. */
uint64_t mgc_rng_derive(uint64_t seed, uint64_t tag);

#endif
