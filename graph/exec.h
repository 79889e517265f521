/*
 * exec.h - runs a plan: one arena allocated at init, then a flat loop of
 * kernel calls over preassigned buffers. exec_run allocates nothing.
 *
 * Leaves (parameters, data inputs) are not in the arena: the caller binds
 * each to memory it owns with exec_bind, and may rebind between runs (a
 * new batch) without replanning.
 */
#ifndef UNROLL_EXEC_H
#define UNROLL_EXEC_H

#include "graph/graph.h"
#include "graph/plan.h"

typedef struct exec {
    const graph *g;
    const plan *p;
    void *arena;
    void **ptr;       /* [p->nnodes]: where each node's value lives */
} exec;

int exec_init(exec *x, const graph *g, const plan *p, uerr *e);
void exec_free(exec *x);

/* Binds a leaf to caller-owned memory of its dtype and shape. */
void exec_bind(exec *x, int32_t leaf, void *data);

/* Runs the schedule. Fails (before computing anything) when a leaf the
 * schedule reads is unbound, or an int32 data leaf with a declared bound
 * holds an index outside [-1, bound). */
int exec_run(exec *x, uerr *e);

/* The value of a node: computed (after exec_run) or bound. NULL when the
 * plan keeps no buffer for it. */
void *exec_value(const exec *x, int32_t node);

#endif
