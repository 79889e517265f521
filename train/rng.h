/*
 * rng.h - the one random number generator of unroll: xoshiro256** seeded
 * through splitmix64 (Blackman and Vigna, https://prng.di.unimi.it/).
 *
 * Invariants:
 * - The whole state is four uint64: saving and restoring them resumes the
 *   exact stream. rng_normal therefore caches nothing (it discards the
 *   second value of each Marsaglia polar pair) so no hidden fifth word
 *   exists.
 * - Same seed, same sequence, on every run and platform for the integer
 *   and uniform outputs (pure integer arithmetic and one exact scaling).
 *   rng_normal also calls log and sqrt; sqrt is exact in IEEE 754, log is
 *   whatever the C library gives, identical run to run on one machine.
 * - The state is never all zero (xoshiro's one fixed point):
 *   splitmix64 cannot produce four zero words in a row from any seed and
 *   rng_restore refuses them.
 * - Not for cryptography.
 */
#ifndef UNROLL_RNG_H
#define UNROLL_RNG_H

#include <stdint.h>

#include "base/err.h"

typedef struct rng {
    uint64_t s[4];
} rng;

/* Fills the state with four successive splitmix64 outputs of seed. */
void rng_seed(rng *r, uint64_t seed);

/* The next 64 random bits (xoshiro256**). */
uint64_t rng_u64(rng *r);

/* Uniform in [0, 1) with 53 random bits: (u64 >> 11) * 2^-53. */
double rng_uniform(rng *r);

/* Uniform integer in [0, n) without modulo bias, n >= 1 (0 for n == 0). */
uint64_t rng_below(rng *r, uint64_t n);

/* Standard normal N(0, 1), Marsaglia's polar method. */
double rng_normal(rng *r);

/* Index i drawn with probability p[i] / sum(p), one uniform draw per call.
 * p need not sum to 1 (so a caller can pass exp(logits / temperature)
 * unnormalised). Returns -1, drawing nothing, if n < 1, any p[i] is
 * negative or not finite, or the sum is not positive and finite. */
int64_t rng_categorical(rng *r, const double *p, int64_t n);
int64_t rng_categorical_f32(rng *r, const float *p, int64_t n);

void rng_save(const rng *r, uint64_t state[4]);
/* Fails on the all-zero state, which would yield zeros forever. */
int rng_restore(rng *r, const uint64_t state[4], uerr *e);

#endif
