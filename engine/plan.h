/*
 * plan.h - a program of kernel calls and a memory layout for computing
 * some outputs of a graph.
 *
 * The graph is never changed: it stays the honest unrolled one, T copies
 * of the cell and build_grad's T-term sums. What the plan changes is how
 * it is computed. Its program is a flat list of instructions, each one a
 * kernel call over preassigned buffers:
 *
 *   PLAN_RUN    out = op(inputs) for one node (its forward kernel)
 *   PLAN_ACCUM  out += op(inputs): the node's value is added into the
 *               buffer of the add that reads it, never stored apart
 *   PLAN_COPY   a leaf copied into its place in a stacked buffer
 *   PLAN_UPDATE a parameter (the leaf node) updated from its gradient
 *               (out, an output placed by nfixed) by the caller's
 *               function (exec_set_update): the optimiser's step, run
 *               inside the step's program where the lanes can run it
 *               beside the backward (plan_options.update_leaves)
 *
 * With every rewrite off (PLAN_FUSE_NONE) the program is one PLAN_RUN per
 * node in index order (a topological order), each node in a buffer of its
 * own size. The rewrites, each switched off by that option:
 *
 *   in place     an elementwise node whose input has no other reader and
 *                the same size writes over that input (add chains, bias,
 *                activation, their gradients);
 *   accumulate   add(s, t) where t is a scatter, gather, row sum, loss or
 *                (in PLAN_FUSE_ALL only) a matrix product read by nothing
 *                else: t is added straight into s's buffer. build_grad's
 *                sum over time of a shared parameter's terms becomes one
 *                buffer that every step's term is added into;
 *   fold         a bias vector added in place to a product (or to what a
 *                product was accumulated into), and then a tanh or
 *                sigmoid in place, are applied by the product's own
 *                instruction: the bias as its kernel stores each element,
 *                the activation before it returns; under PLAN_FUSE_ALL
 *                also the gather a product is added into, an activation
 *                written elsewhere (Elman's h_t) and a step of Elman's
 *                backward (engine/plan_fold.c): the same arithmetic, no
 *                pass or instruction of their own;
 *   stacking     (PLAN_FUSE_ALL) T products that read one shared matrix
 *                and a per-step left operand, none depending on another
 *                (the output projection V h_t, its gradient dO_t V), run
 *                as ONE product over the T steps' rows stacked in one
 *                buffer; and a sum over time of products G_t^T A_t (the
 *                gradients of W and V) runs as ONE product [G_0; ...]^T
 *                [A_0; ...]. Stacked nodes are placed next to each other
 *                in memory (a leaf such as h0 is copied into its place).
 *                Below 16 rows a step (no row run: two lanes), a sum of
 *                over 256 rows is cut into chunks of steps added in turn,
 *                the latest first, each runnable beside the backward;
 *   steps        (PLAN_FUSE_ALL) a sum over time of per-step row sums
 *                (a bias's gradient) or scatters (an input weight's
 *                through one-hot inputs) runs as ONE sum over the steps'
 *                stacked rows, split by hidden unit among the threads,
 *                in the same order of additions: the same bits; so does
 *                the sum of the steps' losses at a row run's batch, its
 *                steps' losses split among the threads;
 *   transposing  (PLAN_FUSE_ALL) products X W^T of a few rows (batch 1)
 *                that stay one per step (the recurrence) and share a
 *                weight W read a copy W^T made once per run, untransposed,
 *                as kernels/smallmm.c takes them; and gathers of one-hot
 *                inputs U x_t read rows of a copy U^T (op_gather_t)
 *                where the step gathers enough rows to pay for it.
 *
 * What is bit-identical to PLAN_FUSE_NONE: PLAN_FUSE_EXACT, always (every
 * value is computed by the same arithmetic in the same order; only where
 * it is stored changes). PLAN_FUSE_ALL additionally changes rounding:
 * a stacked product sums its terms inside one BLAS call in BLAS's order,
 * not left to right over time; a product accumulated into its sum adds
 * the partial products of BLAS's K blocks one by one; a stacked row
 * product, or one reading W^T, may use another BLAS kernel. The tests
 * bound these differences (relative 1e-12 in float64, 1e-5 in float32).
 *
 * Liveness: every buffer (a node's, an in-place chain's, a stack's) lives
 * from the instruction that first writes it to the last that reads it, is
 * then returned to a free list and handed to the next buffer of exactly
 * that size. Outputs are never freed. All buffers are offsets in ONE arena
 * whose size is known before anything runs: the executor allocates it
 * once, and a step allocates nothing.
 *
 * Node ids in the plan are global: below nnodes, a node of the graph;
 * from nnodes on, node (id - nnodes) of the plan's own graph vg, which
 * holds the stacked views and the stacked operations (a kernel is always
 * called with the graph its node belongs to).
 */
#ifndef UNROLL_PLAN_H
#define UNROLL_PLAN_H

#include <stddef.h>

#include "graph/graph.h"

#define PLAN_NO_BUFFER ((size_t)-1)

enum plan_fuse {
    PLAN_FUSE_ALL = 0,   /* every rewrite (the default) */
    PLAN_FUSE_EXACT = 1, /* only the rewrites that keep results bit-identical */
    PLAN_FUSE_NONE = 2,  /* one kernel call per node, in index order */
};

typedef struct plan_options {
    int no_reuse;                 /* give every buffer memory of its own (tests) */
    int no_over;                  /* no stack written over another (plan_over.c; tests) */
    int fuse;                     /* enum plan_fuse */
    int32_t recompute_seg;        /* recompute_plan(): use segments of this many
                                     steps instead of searching (tests); 0: search */
    int no_step_sums;             /* keep per-step row sums and scatters one
                                     instruction per step (tests) */
    int no_lanes;                 /* no two-lane schedule (plan.lanes) */
    int no_folds;                 /* nothing folded into products (plan_fold.c;
                                     tests: the folds keep every bit) */
    int32_t nfixed;               /* place the first nfixed outputs side by side at
                                     the start of the arena, in order, each rounded
                                     up to 64 bytes (a net's gradients, so that they
                                     ARE its flat gradient block); see plan.fixed */
    const int32_t *update_leaves; /* [nfixed] or NULL: the program ends with
                                     PLAN_UPDATE of leaf update_leaves[i] from
                                     fixed output i, each after every read of
                                     the leaf (when the outputs were placed:
                                     plan.nupdate) */
    double update_cycles;         /* the update's guessed cycles an element
                                     (the lanes' cost model) */
} plan_options;

/* "all", "exact", "none"; 0 on success */
int plan_fuse_from_name(const char *s, int *fuse);
const char *plan_fuse_name(int fuse);

enum plan_kind { PLAN_RUN, PLAN_ACCUM, PLAN_COPY, PLAN_UPDATE };

typedef struct plan_instr {
    uint8_t kind; /* enum plan_kind */
    int32_t node; /* whose op and inputs (global id) */
    int32_t out;  /* whose buffer is written (global id) */
} plan_instr;

/*
 * A run of instructions split by rows (engine/plan_rows.c): instructions
 * first .. first+n-1 each compute rows of an [M, ...] output from the same
 * rows of their split inputs (op_def.rows) and read the rest whole, and
 * none of them writes what another reads whole or over other rows. So rows
 * r0 .. r1-1 of the whole run can be computed apart from the other rows,
 * on another thread, with no barrier between the instructions: the
 * forward recurrence over all T steps of a batch is one run, its backward
 * another. Each element is computed by the same arithmetic as in one call
 * over all rows, so the bits do not depend on the split. The buffers read
 * in a run live to its end (no buffer is reused within a run).
 */
typedef struct plan_rows_run {
    int32_t first, n;
    int64_t M;
} plan_rows_run;

/*
 * Two lanes (engine/plan_lanes.c). Where no row run splits the work (a
 * batch of one row: the recurrence is a chain of small products, one per
 * step, each waiting for the last), the instructions between the wide
 * ones (a product large enough to split among threads itself) are cut
 * into tasks and scheduled on two lanes that run at once, each on its
 * own thread: the chain on one, and on the other what hangs off it (the
 * output projection of the steps done so far, their losses and
 * gradients, the weight gradients of the steps already back-propagated).
 * A task is an instruction, or rows r0 .. r1-1 of one that splits by
 * rows (op_def.rows: each row computed by the same arithmetic whichever
 * rows one call computes).
 *
 * Lane 0 runs its tasks in order (the chain, mostly). Lane 1's are two
 * lists: first the tasks lane 0 needs, in the order lane 0 needs them
 * (the output rows' gradients of the last steps before those of the
 * first), then the rest (the losses, weight gradients), each in order;
 * lane 1 runs the next needed task when it may, else the next of the
 * rest when it may: so work nothing waits for never holds up work the
 * chain waits for, however long either takes. Before a task runs, the
 * counts it waits for must be reached: a lane 0 task, of lane 1's needed
 * tasks; a lane 1 task, of lane 0's, and (the rest) of the needed ones.
 * Then every byte it reads was written, and every byte it writes was read
 * for the last time, by a task that comes before it in program order. So
 * each task reads exactly what it would in the program's order, and the
 * bits do not depend on which thread ran which lane, nor on whether one
 * thread ran both.
 */
typedef struct plan_task {
    int32_t instr;
    int32_t wait;   /* lane 0: lane 1's needed tasks that must have ended;
                       lane 1: lane 0's */
    int32_t wait2;  /* lane 1's rest: its needed tasks that must have ended */
    unsigned rows;  /* the inputs split by rows (op_def.rows) */
    int64_t r0, r1; /* rows of a split instruction; r1 = 0: all of it */
} plan_task;

typedef struct plan_region {
    int32_t first, n; /* instructions first .. first+n-1 */
    int32_t task0;    /* lane 0's tasks: tasks[task0 .. task0+ntask[0]), */
    int32_t ntask[2]; /* then lane 1's: */
    int32_t nneeded;  /* its first nneeded, then the rest */
    double gain;      /* serial / two-lane time, as the schedule sees it */
} plan_region;

/*
 * A parameter's transposed copy kept across runs (engine/plan_mirror.c):
 * instruction pre makes copy = leaf^T at the program's head; the update
 * of leaf (instruction update) also writes the rows it updates into
 * copy's columns, so that after a run the copy matches the parameter
 * again, and the next run may skip pre (exec.h: exec_params_kept). The
 * copy's buffer is nobody else's for the whole run.
 */
typedef struct plan_mirror {
    int32_t pre, update; /* instructions */
    int32_t copy, leaf;  /* global ids */
    int gathered;        /* read by gathers only (U^T), a few rows a step */
} plan_mirror;

typedef struct plan {
    int32_t nnodes; /* graph size when planned */
    int fuse;
    plan_instr *instr; /* the program, in order */
    int32_t ninstr;
    int32_t *leaves; /* leaves the program reads (to be bound) */
    int32_t nleaves;
    graph vg;       /* stacked views and stacked operations */
    int32_t *vsrc;  /* [vg.n]: a view's memory is that of this
                       global node; -1 for an operation */
    size_t *offset; /* [nnodes + vg.n]: arena offset, or PLAN_NO_BUFFER */
    size_t arena_bytes;
    size_t naive_bytes;  /* one buffer per computed node, no reuse */
    plan_rows_run *runs; /* in program order, disjoint */
    int32_t nruns;
    plan_task *tasks; /* the two lanes' tasks, by region */
    int32_t ntasks;
    plan_region *regions; /* in program order, disjoint, none in a run */
    int32_t nregions;
    int fixed;            /* the nfixed outputs were placed as asked (they
                             are not when one shares its buffer: a member
                             of a stack, or another output's alias) */
    int32_t nupdate;      /* PLAN_UPDATE instructions: the program's last */
    double update_cycles; /* plan_options.update_cycles */
    plan_mirror *mirrors; /* copies the updates keep up to date */
    int32_t nmirrors;
    /* what the rewrites did, for diagnostics and the benchmark */
    int32_t n_inplace, n_accum, n_stacked, n_stacked_nodes, n_transposed;
    int32_t n_folded;    /* nodes run by a product's instruction (plan_fold.c) */
    int32_t n_step_sums; /* chains of per-step sums run as sums over steps */
    int32_t n_over;      /* stacks written over the stacks they read (plan_over.c) */
} plan;

int plan_build(const graph *g, const int32_t *outputs, int nout, const plan_options *opt, plan *p,
               uerr *e);
void plan_free(plan *p);

/* The inputs instruction i splits by rows (op_def.rows), 0 when none; and
 * whether it has no inputs at all (within a row run it runs before the
 * parts, once). */
unsigned plan_rows_split(const plan *p, const graph *g, int32_t i);
int plan_rows_free(const plan *p, const graph *g, int32_t i);

/* For tests: a product is grouped over the steps, however many rows a
 * step has, from a weight of this many bytes (a gradient's only where it
 * narrows its rows; engine/plan_stack.c; 0: the default, more than a
 * core's L2), in plans built from now on; returns the previous setting. */
size_t plan_test_group_bytes(size_t bytes);

/* The copy kept across runs that update instruction i writes too (a
 * global id), or -1. */
int32_t plan_mirror_of_update(const plan *p, int32_t i);

/* Whether instruction i reads leaf (an input, a view's source, a copy's
 * leaf). */
int plan_reads_leaf(const plan *p, const graph *g, int32_t i, int32_t leaf);

/* A hash of everything the plan runs: each node's op, inputs, parameters,
 * shape, dtype, flags and step (of g and of the plan's own graph; names
 * left out), the program, every buffer's offset, the row runs and the
 * arena's size. Equal digests: the same kernels on the same buffers in the
 * same order, so the same bits and the same work. The bench and the tests
 * hold a preset's plan against its custom form's with it. */
uint64_t plan_digest(const plan *p, const graph *g);

/* The graph and node of a global id. */
static inline const graph *plan_graph_of(const plan *p, const graph *g, int32_t id)
{
    return id < p->nnodes ? g : &p->vg;
}
static inline const gnode *plan_node(const plan *p, const graph *g, int32_t id)
{
    return id < p->nnodes ? &g->nodes[id] : &p->vg.nodes[id - p->nnodes];
}

#endif
