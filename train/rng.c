/*
 * rng.c - xoshiro256** with splitmix64 seeding, and the distributions
 * built on it. See rng.h for the invariants.
 */
#include "train/rng.h"

#include <math.h>

static uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

uint64_t rng_u64(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

double rng_uniform(rng *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Rejecting draws below 2^64 mod n leaves a range that is a multiple of n,
 * so the final modulo is unbiased; fewer than half the draws are ever
 * rejected. */
uint64_t rng_below(rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rng_u64(r);
        if (x >= threshold)
            return x % n;
    }
}

double rng_normal(rng *r)
{
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

static double rng_weight(const void *p, int f32, int64_t i)
{
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* Validates first so a bad vector consumes no randomness. If rounding
 * leaves the scaled draw at or past the running sum, the last index with
 * positive weight is the right answer: it owns the top of the range. */
static int64_t rng_categorical_any(rng *r, const void *p, int f32, int64_t n)
{
    if (n < 1)
        return -1;
    double total = 0.0;
    int64_t last = -1;
    for (int64_t i = 0; i < n; i++) {
        double w = rng_weight(p, f32, i);
        if (!(w >= 0.0) || !isfinite(w))
            return -1;
        total += w;
        if (w > 0.0)
            last = i;
    }
    if (!(total > 0.0) || !isfinite(total))
        return -1;
    double x = rng_uniform(r) * total, cum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        cum += rng_weight(p, f32, i);
        if (x < cum)
            return i;
    }
    return last;
}

int64_t rng_categorical(rng *r, const double *p, int64_t n)
{
    return rng_categorical_any(r, p, 0, n);
}

int64_t rng_categorical_f32(rng *r, const float *p, int64_t n)
{
    return rng_categorical_any(r, p, 1, n);
}

void rng_save(const rng *r, uint64_t state[4])
{
    for (int i = 0; i < 4; i++)
        state[i] = r->s[i];
}

int rng_restore(rng *r, const uint64_t state[4], uerr *e)
{
    if ((state[0] | state[1] | state[2] | state[3]) == 0)
        return uerr_set(e, UERR_USER, "rng state is all zero");
    for (int i = 0; i < 4; i++)
        r->s[i] = state[i];
    return 0;
}
