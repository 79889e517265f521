/*
 * exec.h - runs a plan: one arena allocated at init, then a flat loop of
 * kernel calls over preassigned buffers. exec_run allocates nothing.
 *
 * Leaves (parameters, data inputs) are not in the arena: the caller binds
 * each to memory it owns with exec_bind, and may rebind between runs (a
 * new batch) without replanning.
 *
 * Threads: a large product splits its output among the kernel engine's
 * threads (kernels/gemm.h). A row run of the plan (plan.h: the forward
 * recurrence of a batch, its backward) is one pool job: each part
 * computes a fixed range of the batch's rows through every instruction
 * of the run, with no barrier between them, and the rows' products read
 * the run's kept packings of the weights. Row ranges, like a product's
 * parts, change where each element is computed, never how: the bits are
 * those of one thread.
 *
 * A region of two lanes (plan.h: a batch of one row, whose recurrence no
 * row run can split) is one pool job of two parts, one per lane. Each part
 * runs its lane's tasks in order, and before each spins until the other
 * lane has ended the tasks it waits for (an acquire load of a counter the
 * other lane releases after each task). A part that waits long for a lane
 * no thread has started takes that lane over and runs both, interleaved:
 * nothing waits for a worker that may never be scheduled. Which thread
 * ran which task changes nothing: each reads what it would in program
 * order (plan_lanes.c). Whether a region runs on two lanes or in order is
 * chosen by timing runs of both (exec.c: pick_lanes), which changes no
 * bit either.
 */
#ifndef UNROLL_EXEC_H
#define UNROLL_EXEC_H

#include <stdatomic.h>

#include "graph/graph.h"
#include "engine/plan.h"

/*
 * The update of elements e0 .. e1-1 of the flat parameter block from the
 * same elements of the gradients, whose block is the arena's start
 * (plan_options.nfixed). split: the function may split the range among
 * the kernels' threads (the update runs in order); 0 inside a lane.
 */
typedef void (*exec_update_fn)(void *ctx, int64_t e0, int64_t e1, int split);

/* One instruction resolved for the loop: the kernel, its graph and node. */
typedef struct exec_step {
    void (*fn)(const graph *, const gnode *, void *const *, void *);
    const graph *g;
    int32_t node;             /* index in g (looked up each run: g may grow) */
    int32_t out;              /* global id of the buffer written */
    int32_t in[GRAPH_MAX_IN]; /* global ids of the inputs */
    int32_t nin;
    int32_t copy_from; /* PLAN_COPY: the leaf copied; else -1 */
    size_t copy_bytes;
    int update;                    /* PLAN_UPDATE: elements e0 .. e1-1 of the */
    int64_t e0, e1, e_row, e_nrow; /* flat blocks: e_nrow rows of e_row */
    unsigned rows;                 /* inputs split by rows in a row run (op_def.rows) */
    int acc;                       /* PLAN_ACCUM: adds into its output */
    int cols;                      /* a product split by columns in its row run */
    int mirror_pre;                /* makes a copy kept across runs (plan_mirror) */
    int32_t mirror, leaf;          /* PLAN_UPDATE: the copy of leaf it keeps (or -1), */
    int64_t mirror_ld;             /* whose rows lie this many elements apart */
    size_t es;                     /* PLAN_UPDATE: bytes of an element */
} exec_step;

/* How a region of two lanes ran in the current window of runs
 * (exec.c: pick_lanes): [0] in order, [1] on two lanes. Each window
 * starts with EXEC_PICK_TRIES + 1 runs each way, the first untimed. */
#define EXEC_PICK_TRIES 6
#define EXEC_PICK_WINDOW 1024
typedef struct exec_pick {
    int64_t ns[2][EXEC_PICK_TRIES]; /* the timed runs each way */
    int32_t tries[2];               /* runs each way in the window, the untimed included */
    int lanes;                      /* after the tries: two lanes won */
} exec_pick;

/*
 * Where a run's time goes (exec_trace_next): one span per task, in the
 * order they ended. lane is 0 or 1 in a region of two lanes, -1 in order
 * on the calling thread; a span covers ninstr instructions from instr
 * (more than one: a row run, whose parts run all of its instructions on
 * their rows, or updates run as one range), rows r0 .. r1-1 of a
 * chunk or all of them (r1 = 0). Times in nanoseconds from the run's
 * start. Tracing changes no bit; it costs two clock reads a task.
 */
typedef struct exec_span {
    int32_t instr, ninstr, lane;
    int64_t r0, r1;
    int64_t t0, t1;
} exec_span;

typedef struct exec_trace {
    exec_span *span; /* the caller's array of cap spans */
    int32_t cap;
    _Atomic int32_t n; /* spans the run made: past cap, the rest were not kept */
    int64_t start;     /* CLOCK_MONOTONIC at the run's start, ns */
} exec_trace;

typedef struct exec {
    const graph *g;
    const plan *p;
    void *arena;
    void **ptr;                        /* [p->nnodes + p->vg.n]: where each node's value lives */
    exec_step *steps;                  /* [p->ninstr] */
    uint64_t token;                    /* the parameters' values (exec_params_fixed), or 0 */
    int lanes_alone;                   /* tests: the calling thread runs both lanes of every
                                          region (plan.h), interleaved as when the other
                                          lane's thread never comes */
    int32_t lanes_skip, lanes_backoff; /* regions to run in order, and how
                                          many the last contention cost
                                          (exec.c: lanes_backoff) */
    int lanes_taken;                   /* the last region's lane was taken over */
    exec_pick *picks;                  /* [p->nregions] */
    exec_update_fn update;             /* the plan's PLAN_UPDATEs (exec_set_update) */
    void *update_ctx;
    exec_trace *trace; /* the next run's spans go there (exec_trace_next), or NULL */
    /* the copies kept across runs (plan.h: plan_mirror): they matched the
     * parameters when the last run ended; the caller has promised that the
     * parameters are as that run left them (exec_params_kept); this run
     * does not make them again; and how many it has not made since init */
    int mirrors_ok, params_kept, mirrors_skip;
    int64_t mirror_skips;
} exec;

/* Allocates the arena and resolves the program. An arena larger than
 * g->limit_bytes (when set), or one that cannot be allocated, is a
 * one-line UERR_USER: the sizes of the config decide it. */
int exec_init(exec *x, const graph *g, const plan *p, uerr *e);
void exec_free(exec *x);

/* Binds a leaf to caller-owned memory of its dtype and shape. */
void exec_bind(exec *x, int32_t leaf, void *data);

/* Promises that the parameter leaves hold the values they hold now until
 * the next call (or exec_free): products then keep their packings of the
 * parameters from one run to the next (kernels/gemm.h, bconst). Whoever
 * writes a parameter of x after this calls it again. */
void exec_params_fixed(exec *x);

/* Promises that the parameters hold what the last run left in them:
 * nothing but that run's updates has written them since. The next run
 * then reads the transposed copies those updates kept (plan.h:
 * plan_mirror) rather than making them again; without the promise, or
 * after an exec_bind, it makes them. Good for one run. */
void exec_params_kept(exec *x);

/* The function that runs the plan's PLAN_UPDATEs (plan.nupdate); a plan
 * with updates does not run without one. */
void exec_set_update(exec *x, exec_update_fn fn, void *ctx);

/* Runs the program. Fails (before computing anything) when a leaf the
 * program reads is unbound, or an int32 data leaf with a declared bound
 * holds an index outside [-1, bound). */
int exec_run(exec *x, uerr *e);

/* Records the spans of the next exec_run into tr (tr->n set to 0 first),
 * then traces no more. */
void exec_trace_next(exec *x, exec_trace *tr);

/* What a span of x's run computed, in buf of n bytes: its instruction's
 * op and time step, its node's name and shape, and the rows of a chunk
 * or the instructions it ran with ("matmul t=3 [1x100]", "matmul [25x65]
 * rows 0-7", "update W rows 48-99", "copy h0", "update U +3
 * instructions"). */
const char *exec_span_name(const exec *x, const exec_span *sp, char *buf, size_t n);

/* The value of a node: computed (after exec_run) or bound. NULL when the
 * plan keeps no buffer for it. */
void *exec_value(const exec *x, int32_t node);

/* A row run's product is split by columns among the threads, not by
 * rows, from a weight of this many bytes: more than a core's L2
 * (engine/exec_rows.c), or what exec_test_cols_bytes set. */
size_t exec_cols_bytes(void);
/* For tests: that size for execs initialised from now on (0: the
 * default); returns the previous setting. */
size_t exec_test_cols_bytes(size_t bytes);

#endif
