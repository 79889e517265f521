/*
 * plan_int.h - the planner's stages and what passes between them (private
 * to engine/plan*.c). See plan.h for what each rewrite is and which results
 * it changes.
 *
 *   plan.c            needs (plan_needs), then the program and its buffers
 *   plan_stack.c      stacking: stacked sums and row groups (PLAN_FUSE_ALL)
 *   plan_stack_sum.c  per-step row sums and scatters as sums over steps
 *   plan_transpose.c  products reading a copy W^T (PLAN_FUSE_ALL)
 *   plan_schedule.c   the order units run in
 *   plan_inplace.c    in place and accumulate (EXACT and ALL)
 *   plan_rows.c       row runs, over the assigned bytes
 *   plan_lanes.c      the two lanes, over the assigned bytes
 *   plan_lanes_sched.c  their costs, schedule and lists
 *
 * No stage changes the graph. Each reads plan_needs (fixed once computed)
 * and records what it decided in plan_decisions, as data: the program and
 * buffer stage reads nothing else. A stage keeps its working state (union
 * finds, capacities, candidate lists) to itself. The stacked views and
 * operations a rewrite creates are nodes of the plan's own graph p->vg
 * (plan_vnode); the plan's n_* counters record what each rewrite did.
 */
#ifndef UNROLL_PLAN_INT_H
#define UNROLL_PLAN_INT_H

#include "engine/plan.h"

enum rw_role {
    RW_NODE,    /* computed by its own instruction */
    RW_GONE,    /* never stored: added into its only reader */
    RW_GROUPED, /* computed by a stacked row product (rw_group) */
    RW_STACKED, /* part of a sum over time computed as one product */
    RW_FOLDED,  /* computed by its product's instruction (plan_fold.c) */
};

enum rw_unit_kind { RW_UNIT_NODE, RW_UNIT_GROUP, RW_UNIT_STACK };

/* need[v]: 0 not needed, else computed or a leaf */
enum rw_need { RW_COMPUTED = 1, RW_LEAF = 2 };

/* What the graph asks for: which nodes the outputs need and how often
 * each is read. Computed once by plan.c; every stage reads it only. */
typedef struct plan_needs {
    const graph *g;
    int32_t N;        /* g->n */
    int fuse;         /* enum plan_fuse */
    int no_step_sums; /* plan_options.no_step_sums */
    int no_folds;     /* plan_options.no_folds */
    const int32_t *outputs;
    int32_t nout;
    uint8_t *need;  /* [N] enum rw_need */
    uint8_t *isout; /* [N] an output */
    int32_t *nread; /* [N] distinct needed readers */
} plan_needs;

/* T products op(X_t) S sharing S, computed as one over stacked rows. */
typedef struct rw_group {
    int32_t vop;       /* the stacked product in p->vg */
    int32_t out_first; /* the member whose buffer starts the output stack */
    int32_t first, n;  /* members: d->members[first .. first+n) */
} rw_group;

/* add(... add(P_0^T Q_0, P_1^T Q_1) ..., P_k^T Q_k) as [P]^T [Q]. */
typedef struct rw_stack {
    int32_t vop;      /* the stacked product in p->vg */
    int32_t top;      /* the last add: receives the product */
    int32_t first, n; /* the chain's adds and terms in d->members: the
                         nadds adds, then the nleft terms added one by
                         one after the product, then the stacked terms */
    int32_t nadds, nleft;
    int32_t chunk0, nchunk; /* nchunk > 0: the product in chunks of steps,
                               d->chunk_vop[chunk0 ..], the latest steps
                               first (plan_stack.c); vop is unused */
} rw_stack;

/* What the rewrites decided, per node or per unit. */
typedef struct plan_decisions {
    uint8_t *role;     /* [N] enum rw_role (stacking, in place) */
    int32_t *alias_of; /* [N] in place: written over this input, or -1 */
    int32_t *accum_of; /* [N] accumulate: an add, the term added into
                          it, or -1 */
    /* stacking: next/prev over global ids link nodes that must lie next to
     * each other in memory ([nlinks]; ids beyond are linked to nothing) */
    int32_t *next, *prev;
    int32_t nlinks;
    int32_t *slot_leaf, *slot_vnode; /* leaves copied into stacks, and where */
    int32_t nslots;
    rw_group *groups;
    rw_stack *stacks;
    int32_t ngroups, nstacks;
    int32_t *members;   /* node lists of groups and stacks */
    int32_t *chunk_vop; /* stacked products cut into chunks of steps */
    int32_t nchunk_vop;
    /* transposing */
    int32_t *replace;   /* [N] a node run as this global id instead
                           (a product reading a transposed copy), or -1 */
    int32_t *pre, npre; /* vg operations run first (the copies W^T) */
    /* the schedule */
    int32_t nunits;
    uint8_t *unit_kind; /* enum rw_unit_kind */
    int32_t *unit_node; /* node, group or stack index */
    int32_t *order;     /* units in program order */
} plan_decisions;

static inline int plan_linked(const plan_decisions *d, int32_t id)
{
    return id < d->nlinks && (d->next[id] >= 0 || d->prev[id] >= 0);
}

/* The global id node x runs as: what a rewrite replaced it with, or x. */
static inline int32_t plan_runs_as(const plan_decisions *d, int32_t x)
{
    return d->replace[x] >= 0 ? d->replace[x] : x;
}

int plan_oom(const plan_needs *n, uerr *e);

/* Adds the plan's record for vg node id: a view of global node src's
 * memory, or (src = -1) an operation or memory of its own. */
int plan_vnode(plan *p, int32_t id, int32_t src, const plan_needs *n, uerr *e);
/* A new node of p->vg: a view of global node src's memory ([rows, cols] of
 * shape s), or (src = -1) memory of its own; and a product of two vg
 * nodes. The vg index, or -1 with e set. */
int32_t plan_vleaf(plan *p, shape s, dtype dt, int32_t src, const plan_needs *n, uerr *e);
int32_t plan_vmatmul(plan *p, int32_t a, int32_t b, int ta, int tb, const plan_needs *n, uerr *e);

/* PLAN_FUSE_ALL: chooses stacked sums and row groups. */
int plan_stacking(const plan_needs *n, plan_decisions *d, plan *p, uerr *e);
/* Forgets every stacking decision (the schedule found a cycle). */
void plan_unstack(const plan_needs *n, plan_decisions *d, plan *p);
/* PLAN_FUSE_ALL: products that read a copy W^T. */
int plan_transposing(const plan_needs *n, plan_decisions *d, plan *p, uerr *e);
/* Orders the units; undoes the stacking if it would make a cycle. */
int plan_schedule(const plan_needs *n, plan_decisions *d, plan *p, uerr *e);
/* In place and accumulate decisions over the scheduled nodes. */
void plan_in_place(const plan_needs *n, plan_decisions *d, plan *p);
/* Then what the products' instructions do besides the product: biases,
 * activations, gathers, adds, activations' gradients (plan_fold.c). */
int plan_fold(const plan_needs *n, plan_decisions *d, plan *p, uerr *e);
/* Each node's only reader, or -1 (malloc'd; NULL when out of memory). */
int32_t *plan_readers(const plan_needs *n);
/* The bias plan_fold will add in group gr's stacked product: every
 * step's rows read alone by add(O_t, c), c the same; the add's value is
 * then its step's rows of the product's stack. c, or -1. */
int32_t plan_group_bias(const plan_needs *n, const plan_decisions *d, const plan *p,
                        const rw_group *gr, const int32_t *reader);

/* Row runs (plan_rows.c): candidates before the buffers are assigned, the
 * last instruction of the run holding instruction i (i itself outside
 * one) for the buffers' lifetimes, and the check over the assigned bytes
 * that drops a run whose rows could meet. */
int plan_rows_find(const graph *g, plan *p, uerr *e);
int32_t plan_rows_end(const plan *p, int32_t i);
int plan_rows_check(const graph *g, plan *p, uerr *e);

/* The nodes instruction pi reads (global ids) into buf; how many. */
int plan_instr_reads(const plan *p, const graph *g, const plan_instr *pi, int32_t *buf, int cap);
/* Per global id, the head of the stack whose memory the stack headed
 * there can be written over, or -1 (plan_over.c; malloc'd, NULL when out
 * of memory). */
int32_t *plan_stacks_over(const plan_needs *n, const plan_decisions *d, const plan *p);

/* The two lanes (plan_lanes.c), over the assigned bytes, where the plan
 * has no row run. */
int plan_lanes(const graph *g, plan *p, uerr *e);

/* plan_mirror.c: the leaf whose transposed copy instruction i makes and
 * may keep across runs (a parameter opt updates, a copy small enough),
 * or -1; and, once the updates are in the program, p->mirrors. */
int32_t plan_mirror_leaf(const plan *p, const plan_options *opt, int32_t i);
int plan_mirrors_find(plan *p, const plan_options *opt);
/* The copy update instruction update keeps, unless read by gathers
 * only, kept no more: made at the head of every run, as any copy */
void plan_mirror_drop(plan *p, int32_t update);

#endif
