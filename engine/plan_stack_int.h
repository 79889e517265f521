/*
 * plan_stack_int.h - the stacking stage's working state and link helpers,
 * shared by its two files (private to engine/plan_stack*.c):
 *
 *   plan_stack.c      stacked sums of products, row groups, the links
 *   plan_stack_sum.c  chains of per-step row sums and scatters
 *
 * Invariants (plan_stack.c): every decision is a set of links taken whole
 * or not at all; links never form a cycle; a node has at most one
 * neighbour on each side.
 */
#ifndef UNROLL_PLAN_STACK_INT_H
#define UNROLL_PLAN_STACK_INT_H

#include "engine/plan_int.h"

/* The stage's working state; what it decides goes to d. */
typedef struct stk {
    const plan_needs *n;
    plan_decisions *d;
    plan *p;
    int32_t *leaf_slot; /* [N] slot index of a leaf, or -1 */
    int32_t slot_cap, groups_cap, stacks_cap, chunks_cap;
    int64_t nmembers, members_cap;
} stk;

/* Union-find over global ids (no path compression, so that a tentative
 * set of links can be undone), plus the log that undoes it. */
typedef struct links {
    int32_t *parent, *size;
    struct undo {
        int32_t *arr;
        int32_t idx, old;
    } * log;
    int64_t nlog, logcap;
} links;

/* The links cover every id of the plan's graph so far (after a new vg
 * node). 0, or an error. */
int stk_cover(stk *c, links *L, uerr *e);
/* Links every consecutive pair of each sequence, all or nothing: 0 when
 * linked, 1 when refused (nothing changed), -1 on an error. */
int stk_try_links(stk *c, links *L, int32_t *const *seq, const int32_t *len, int nseq, uerr *e);
/* A view (src >= 0) or memory of its own in p->vg, covered by the links:
 * its vg index, or -1 with e set. */
int32_t stk_vleaf(stk *c, links *L, shape s, dtype dt, int32_t src, uerr *e);
/* The member standing for node x in a stack: x, or a slot a leaf is
 * copied into. Global id, or -1 (e set on an error). */
int32_t stk_member(stk *c, links *L, int32_t x, uerr *e);
int stk_push_members(stk *c, const int32_t *ids, int32_t n, uerr *e);
/* v is an add of two inputs of its own shape (a step of a gradient sum) */
int stk_same_add(const graph *g, int32_t v);

/* Steps per chunk of a sum over ns steps of `rows` rows each (plan_stack.c:
 * below a row run's rows, a long sum is cut for the two lanes): ns, one
 * op, unless cut. */
int32_t stk_chunk_steps(int64_t rows, int32_t ns);
/* Whether steps of this many rows are below a row run's (two lanes). */
int stk_lanes_rows(int64_t rows);

/* Chains of per-step row sums or scatters (plan_stack_sum.c). */
int plan_stack_steps(stk *c, links *L, uerr *e);

#endif
