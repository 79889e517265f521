/*
 * shuffle.h - example order for epochs: a fresh random permutation of
 * 0..n-1 each epoch, drawn with the run's seed, so a fixed seed gives the
 * same order every run.
 */
#ifndef UNROLL_SHUFFLE_H
#define UNROLL_SHUFFLE_H

#include "train/rng.h"

typedef struct shuffler {
    int64_t n, pos, epoch;
    int64_t *order;
    rng r;
} shuffler;

int shuffler_init(shuffler *s, int64_t n, uint64_t seed, uerr *e);
void shuffler_free(shuffler *s);

/* The next example index; starts a new epoch (new permutation) when the
 * current one is used up. */
int64_t shuffler_next(shuffler *s);

/* Fisher-Yates over idx[0..n) with r. */
void shuffle_indices(rng *r, int64_t *idx, int64_t n);

#endif
