/*
 * dist.h - data-parallel training over MPI, when built with it.
 *
 * `mpirun -np K bin/unroll train CONFIG`: every rank builds the same model
 * with a shard of B/K rows of each global batch (every rank reads the same
 * global batch with the same seed and keeps its rows), the gradients and
 * the loss are summed over ranks with MPI_Allreduce (the loss is a sum over
 * the global batch, so the sum is the single-process gradient), and every
 * rank then takes the same optimiser step. Rank 0 alone validates and
 * writes the store.
 *
 * Without MPI at build time (UNROLL_MPI undefined), or when not started by
 * mpirun, there is one rank and every call is a no-op.
 */
#ifndef UNROLL_DIST_H
#define UNROLL_DIST_H

#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"

typedef struct dist {
    int rank, size;
    int active; /* MPI was initialised here */
} dist;

/* Initialises MPI when this process was started by mpirun (and MPI was
 * built in); otherwise rank 0 of 1. */
int dist_init(dist *d, int *argc, char ***argv, uerr *e);
void dist_finalize(dist *d);

/* buf[0..n) summed over all ranks, in place. */
int dist_sum(const dist *d, void *buf, int64_t n, dtype dt, uerr *e);

/* Whether the build has MPI in it. */
int dist_available(void);

#endif
