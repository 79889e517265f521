/*
 * npyset.h - sequence data as numpy arrays in a directory:
 *
 *   inputs.npy   int32 [N, T] class ids (one-hot inputs), or float32/64
 *                [N, T, D] real vectors
 *   targets.npy  int32 [N, T] a class per step (-1: none), or int32 [N]
 *                one class per sequence (model.outputs: last_step); or
 *                float [N, T, K] / [N, K] real targets (linear + mse,
 *                sigmoid + bce)
 *   lengths.npy  optional int32 [N]: steps past a sequence's length are
 *                padding (masked; no loss; the state is kept)
 *
 * Examples are shuffled once with the seed and the last valid_fraction
 * held out; training batches take B examples in a fresh order each epoch.
 */
#ifndef UNROLL_NPYSET_H
#define UNROLL_NPYSET_H

#include "base/tensor.h"
#include "train/shuffle.h"

typedef struct npy_set {
    int64_t N, T, D; /* D: the vector size, or the number of input ids */
    int dense;
    int per_sequence; /* targets [N]: one label per sequence */
    void *x;          /* dense: [N, T, D] in dt; else int32 [N, T] */
    dtype dt;
    int32_t *y, *len; /* len NULL: every sequence has T steps */
    int64_t nclasses; /* classes, or K for real targets */
    int real;
    void *yr;               /* real targets in dt: [N, T, K] or [N, K] */
    int64_t *train, *valid; /* example indices */
    int64_t ntrain, nvalid;
    shuffler sh;
} npy_set;

/* dt: the graph's dtype, real inputs are converted to it. */
int npyset_load(const char *dir, double valid_fraction, uint64_t seed, dtype dt, npy_set *s,
                uerr *e);

/* One array as npy_read or npy_parse returns it. */
typedef struct npy_array {
    dtype dt;
    shape shape;
    void *data; /* malloc'd; NULL for a lengths array that is absent */
} npy_array;

/* The checks and the split of npyset_load on arrays already in memory;
 * npyset_load reads the three files and calls it. The arrays' data is
 * taken over (set to NULL here), whatever the outcome. dir names the
 * arrays in messages ("DIR/targets.npy: ..."). */
int npyset_from_arrays(const char *dir, npy_array *inputs, npy_array *targets, npy_array *lengths,
                       double valid_fraction, uint64_t seed, dtype dt, npy_set *s, uerr *e);
void npyset_free(npy_set *s);

/* Where a batch goes: inputs [B, T] ids or xdense [B, T, D]; targets
 * [B, T] class ids (-1: none), or yreal [B, T, K] with has [B, T]; the
 * step mask [B, T]. */
typedef struct npy_batch {
    int32_t *inputs, *targets, *mask, *has;
    void *xdense, *yreal;
} npy_batch;

/* One batch of B examples ex[0..n) (missing rows are padding). */
void npyset_fill(const npy_set *s, const int64_t *ex, int64_t n, int64_t B, const npy_batch *o);

/* The next training batch in the epoch order. */
void npyset_next(npy_set *s, int64_t B, const npy_batch *o);

#endif
