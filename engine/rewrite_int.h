/*
 * rewrite_int.h - the planner's rewrites (private to engine/plan.c and
 * engine/rewrite.c): what is stacked, in what order units run, and which
 * nodes are computed in place or accumulated into their reader. None of
 * them touches the graph; each records its decision in rw_ctx, and plan.c
 * turns the decisions into a program and buffers. See plan.h for what each
 * rewrite is and which results it changes.
 */
#ifndef UNROLL_REWRITE_INT_H
#define UNROLL_REWRITE_INT_H

#include "engine/plan.h"

enum rw_role {
    RW_NODE,       /* computed by its own instruction */
    RW_GONE,       /* never stored: added into its only reader */
    RW_GROUPED,    /* computed by a stacked row product (rw_group) */
    RW_STACKED,    /* part of a sum over time computed as one product */
};

enum rw_unit_kind { RW_UNIT_NODE, RW_UNIT_GROUP, RW_UNIT_STACK };

/* need[v]: 0 not needed, else computed or a leaf */
enum rw_need { RW_COMPUTED = 1, RW_LEAF = 2 };

/* T products op(X_t) S sharing S, computed as one over stacked rows. */
typedef struct rw_group {
    int32_t vop;        /* the stacked product in p->vg */
    int32_t out_first;  /* the member whose buffer starts the output stack */
    int32_t first, n;   /* members: c->members[first .. first+n) */
} rw_group;

/* add(... add(P_0^T Q_0, P_1^T Q_1) ..., P_k^T Q_k) as [P]^T [Q]. */
typedef struct rw_stack {
    int32_t vop;        /* the stacked product in p->vg */
    int32_t top;        /* the last add: receives the product */
    int32_t first, n;   /* the chain's adds and terms in c->members: the
                           nadds adds, then the nleft terms added one by
                           one after the product, then the stacked terms */
    int32_t nadds, nleft;
} rw_stack;

typedef struct rw_ctx {
    const graph *g;
    plan *p;
    int fuse;
    int32_t N;                  /* g->n */
    const int32_t *outputs;
    int32_t nout;
    uint8_t *need, *isout, *role; /* need: enum rw_need */
    int32_t *nread;             /* [N] distinct needed readers */
    int32_t *alias_of;          /* [N] written over this input, or -1 */
    int32_t *accum_of;          /* [N] an add: the term added into it, or -1 */
    /* stacked memory: next/prev over global ids link nodes that must be
     * adjacent; in_stack marks every linked node */
    int32_t *next, *prev;
    uint8_t *in_stack;
    int32_t link_cap;
    /* leaves copied into stacks */
    int32_t *leaf_slot;         /* [N] slot index of a leaf, or -1 */
    int32_t *slot_leaf, *slot_vnode;
    int32_t nslots, slot_cap;
    rw_group *groups;
    rw_stack *stacks;
    int32_t ngroups, nstacks, groups_cap, stacks_cap;
    int32_t *replace;           /* [N] a node run as this global id instead
                                   (a product reading a transposed copy), or -1 */
    int32_t *pre, npre, pre_cap;/* vg operations run first (the copies W^T) */
    int32_t *members;           /* node lists of groups and stacks */
    int64_t nmembers, members_cap;
    int32_t vsrc_cap;
    /* the schedule */
    int32_t nunits;
    int32_t *unit_of;           /* [N] */
    uint8_t *unit_kind;
    int32_t *unit_node;         /* node, group or stack index */
    int32_t *order;             /* units in program order */
    int32_t instr_cap;
} rw_ctx;

int rw_init(rw_ctx *c, const graph *g, const int32_t *outputs, int nout, int fuse, plan *p,
            uerr *e);
/* PLAN_FUSE_ALL: chooses stacked sums and row groups. */
int rw_stacking(rw_ctx *c, uerr *e);
/* Orders the units; undoes the stacking if it would make a cycle. */
int rw_schedule(rw_ctx *c, uerr *e);
/* In place and accumulate decisions over the scheduled nodes. */
int rw_in_place(rw_ctx *c, uerr *e);
void rw_free(rw_ctx *c);

#endif
