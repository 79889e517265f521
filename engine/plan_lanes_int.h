/*
 * plan_lanes_int.h - what plan_lanes.c (tasks, bytes, predecessors,
 * regions) and plan_lanes_sched.c (costs, schedule, lists) share: the
 * working state of one region's schedule. Private to engine/plan_lanes*.
 */
#ifndef UNROLL_PLAN_LANES_INT_H
#define UNROLL_PLAN_LANES_INT_H

#include "engine/plan.h"

static inline int64_t numel_of(const gnode *n)
{
    return shape_numel(&n->shape);
}

typedef struct ltask {
    int32_t instr;
    int32_t weight; /* a product's right operand (its memory's id), or -1 */
    int32_t r0, r1;
    float wbytes; /* the weight's bytes */
    double cost;
} ltask;

typedef struct lanes {
    const plan *p;
    const graph *g;
    ltask *t;
    int32_t nt, tcap;
    int32_t *pfrom, *pred; /* predecessors, the same way */
    int32_t npred, predcap, pfcap;
    int32_t *sfrom, *succ; /* successors */
    int32_t sfcap, succcap;
    size_t *cut, *cut2; /* segment bounds, and room to sort them */
    int32_t ncut, cutcap;
    int32_t *lastw, *rhead; /* per segment: last writer, readers since */
    int32_t segcap;
    int32_t *rtask, *rnext; /* reader list nodes */
    int32_t nrd, rdcap;
    int32_t *stamp, *left, *lane, *pos, *crit;
    double *bl, *fin, *rt;
    int32_t *heap_a, *heap_b, *heap_p; /* available (by bl), pending (by rt) */
    int32_t pcap;                      /* capacity of the per-task arrays above */
} lanes;

/* plan_lanes.c: room for n tasks in the per-task arrays; the inputs
 * instruction i splits by rows (op_def.rows), *M its rows, or 0 */
int lanes_grow(lanes *L, int32_t n);
unsigned lanes_split_mask(const plan *p, const graph *g, int32_t i, int64_t *M);

/* plan_lanes_sched.c: instruction pi's guessed cycles; whether run in
 * order it is a product the pool splits among the threads; the schedule
 * of L's tasks (lane, pos, fin filled; its cycles); and the region's
 * tasks appended to the plan in their lanes' lists (-1: out of memory) */
double lanes_cost(const plan *p, const graph *g, const plan_instr *pi);
int lanes_pool_splits(const plan *p, const graph *g, int32_t i);
double lanes_schedule(lanes *L);
int lanes_emit(lanes *L, plan *p, int32_t first, int32_t n, double gain, int32_t *tcap,
               int32_t *rcap);

#endif
