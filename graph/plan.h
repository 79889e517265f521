/*
 * plan.h - a schedule and a memory layout for computing some outputs of
 * a graph.
 *
 * The schedule is every non-leaf ancestor of the outputs, in index order
 * (a topological order). Liveness gives each node the last schedule slot
 * that reads it; a node's buffer returns to a free list after that slot
 * and is handed to the next node of exactly the same byte size, so an
 * unrolled graph whose steps repeat the same shapes reuses a handful of
 * buffers per step. Outputs are never freed. Every buffer is an offset in
 * ONE arena whose size is known before anything runs: the executor
 * allocates it once, and a step allocates nothing.
 *
 * A node's buffer is always distinct from its inputs' (no in-place
 * kernels), so kernels may read inputs while writing their output.
 */
#ifndef UNROLL_PLAN_H
#define UNROLL_PLAN_H

#include <stddef.h>

#include "graph/graph.h"

#define PLAN_NO_BUFFER ((size_t)-1)

typedef struct plan_options {
    int no_reuse;          /* give every node a buffer of its own (tests) */
} plan_options;

typedef struct plan {
    int32_t nnodes;        /* graph size when planned */
    int32_t *sched;        /* nodes to compute, in order */
    int32_t nsched;
    int32_t *leaves;       /* leaves the schedule reads (to be bound) */
    int32_t nleaves;
    size_t *offset;        /* [nnodes]: arena offset, or PLAN_NO_BUFFER */
    size_t arena_bytes;
    size_t naive_bytes;    /* what the arena would be without reuse */
} plan;

int plan_build(const graph *g, const int32_t *outputs, int nout, const plan_options *opt,
               plan *p, uerr *e);
void plan_free(plan *p);

#endif
