/*
 * reduce.c - sum (of everything, or over every axis but the last) and its
 * adjoint broadcast (a scalar or a row vector repeated to a shape).
 * These are the gradients of each other, and of broadcasting in add/mul.
 *
 * A row sum may be a sum over steps (ip[1] = rows per step, ip[2] = 1 to
 * take the steps last to first): the plan's stacked form of a per-step
 * chain, sum(x_a) + sum(x_b) + ..., whose bits it keeps. Only the plan
 * builds it (op_sum_steps); it runs split by columns on the kernels'
 * threads, each column one fixed chain whatever the split.
 */
#include "ops/ops.h"

#include "base/clones.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"

static int sum_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt)
        return op_shape_error(g, n, e, "expected a floating input of the graph's dtype");
    n->dt = a->dt;
    if (n->ip[1] &&
        (n->ip[0] != 0 || a->shape.rank != 2 || n->ip[1] < 0 || a->shape.dim[0] % n->ip[1]))
        return op_shape_error(g, n, e, "a sum over steps takes a matrix of whole steps");
    if (n->ip[0] == -1) {
        n->shape = shape_0();
    } else if (n->ip[0] == 0 && a->shape.rank >= 1) {
        n->shape = shape_1(a->shape.dim[a->shape.rank - 1]);
    } else {
        return op_shape_error(g, n, e, "axis must be -1 (all) or 0 (all but the last)");
    }
    return 0;
}

static void sum_steps(const graph *g, const gnode *n, void *const *in, void *out, int acc);

/* x: [R, N] -> scalar (all) or [N] (rows summed) */
static void sum_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    if (n->ip[1]) {
        sum_steps(g, n, in, out, 0);
        return;
    }
    const gnode *a = &g->nodes[n->in[0]];
    int64_t total = shape_numel(&a->shape);
    int64_t N = n->shape.rank ? n->shape.dim[0] : total;
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        if (n->shape.rank == 0) {
            double s = 0;
            for (int64_t i = 0; i < total; i++)
                s += x[i];
            y[0] = (T)s;
        } else {
            for (int64_t j = 0; j < N; j++)
                y[j] = 0;
            for (int64_t r = 0; r < total; r += N)
                for (int64_t j = 0; j < N; j++)
                    y[j] += x[r + j];
        }
    });
}

/* Columns j0 .. j1-1 of rows r0 .. r1-1 of x [., N]: each column summed
 * from 0 in row order, the sums written into y (acc = 0) or added to it
 * once (acc = 1). Rows are summed in chunks of SUM_CHUNK columns on the
 * stack, so x is read row by row. */
#define SUM_CHUNK 256

static void sum_cols(dtype dt, const void *xv, int64_t N, int64_t r0, int64_t r1, void *yv,
                     int64_t j0, int64_t j1, int acc)
{
    DT_EACH_REAL(dt, T, {
        const T *x = xv;
        T *y = yv;
        for (int64_t c0 = j0; c0 < j1; c0 += SUM_CHUNK) {
            int64_t nc = j1 - c0 < SUM_CHUNK ? j1 - c0 : SUM_CHUNK;
            T s[SUM_CHUNK];
            for (int64_t j = 0; j < nc; j++)
                s[j] = 0;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t j = 0; j < nc; j++)
                    s[j] += x[r * N + c0 + j];
            if (acc)
                for (int64_t j = 0; j < nc; j++)
                    y[c0 + j] = y[c0 + j] + s[j];
            else
                for (int64_t j = 0; j < nc; j++)
                    y[c0 + j] = s[j];
        }
    });
}

/* out += sum(x): the same sums as sum_forward (from 0, in row order),
 * each added to out once, as add(out, sum(x)) would. A sum over steps
 * goes on with the chain in out: each step's sums added to it in turn
 * (a chunk of a chain cut in the plan, engine/plan_stack_sum.c). */
static void op_sum_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    if (n->ip[1]) {
        sum_steps(g, n, in, out, 1);
        return;
    }
    const gnode *a = &g->nodes[n->in[0]];
    int64_t total = shape_numel(&a->shape);
    if (n->shape.rank) {
        int64_t N = n->shape.dim[0];
        sum_cols((dtype)n->dt, in[0], N, 0, N ? total / N : 0, out, 0, N, 1);
        return;
    }
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        double s = 0;
        for (int64_t i = 0; i < total; i++)
            s += x[i];
        y[0] = y[0] + (T)s;
    });
}

/* ---- sums over steps ---------------------------------------------------- */

/* Below this many elements added (about 12 us on one thread) a sum over
 * steps runs on one thread: its parts would cost more to hand out and
 * meet than they save (on a loaded machine, measured: 2^17 elements took
 * 11 us on one thread, 27 on two). Products split from 0.75 x 2^20 flops
 * (kernels/gemm.h: gemm_splits). */
#define STEPS_MIN_WORK (1 << 17)

int op_steps_threads(int64_t work)
{
    return work < STEPS_MIN_WORK ? 1 : cpu_threads();
}

int op_steps_parts(int64_t ncols, int64_t work)
{
    int n = op_steps_threads(work);
    /* columns in whole cache lines (16 floats) per part where possible */
    if (n > ncols / 16)
        n = (int)(ncols / 16);
    return n < 1 ? 1 : n;
}

int64_t op_steps_start(int64_t ncols, int k, int n)
{
    return pool_part_start(ncols, 16, k, n);
}

typedef struct steps_job {
    const gnode *n;
    const void *x;
    void *y;
    int64_t N, nsteps;
    int nparts;
    int acc; /* the chain goes on from y: every step added to it */
} steps_job;

/* Columns of one part: step by step in the chain's order, each step's
 * rows summed from 0, the first step's sums written, the next ones added:
 * sum(x_a) + sum(x_b) + ... element by element. A block of columns stays
 * in a local array through all the steps (one pass over y, none per
 * step: at batch 1 a step's sum is one row, and passes per step cost ten
 * times its additions), compiled for the widest vector unit (adds only:
 * the same bits from each, base/clones.h). */
UNROLL_CLONES static void sum_steps_part(void *ctx, int part, int thread)
{
    (void)thread;
    const steps_job *j = ctx;
    int64_t j0 = op_steps_start(j->N, part, j->nparts);
    int64_t j1 = op_steps_start(j->N, part + 1, j->nparts), R = j->n->ip[1], N = j->N;
    DT_EACH_REAL((dtype)j->n->dt, T, {
        const T *x = j->x;
        T *y = j->y;
        for (int64_t c0 = j0; c0 < j1; c0 += SUM_CHUNK) {
            int64_t nc = j1 - c0 < SUM_CHUNK ? j1 - c0 : SUM_CHUNK;
            T a[SUM_CHUNK], s[SUM_CHUNK];
            for (int64_t c = 0; c < nc && j->acc; c++)
                a[c] = y[c0 + c];
            for (int64_t k = 0; k < j->nsteps; k++) {
                int64_t st = j->n->ip[2] ? j->nsteps - 1 - k : k;
                const T *xs = x + st * R * N + c0;
                int add = k || j->acc;
                if (R == 1 && add) { /* one row: its sum is 0 + x, in one pass */
                    for (int64_t c = 0; c < nc; c++)
                        a[c] = a[c] + ((T)0 + xs[c]);
                    continue;
                }
                for (int64_t c = 0; c < nc; c++)
                    s[c] = 0;
                for (int64_t r = 0; r < R; r++)
                    for (int64_t c = 0; c < nc; c++)
                        s[c] += xs[r * N + c];
                if (add)
                    for (int64_t c = 0; c < nc; c++)
                        a[c] = a[c] + s[c];
                else
                    for (int64_t c = 0; c < nc; c++)
                        a[c] = s[c];
            }
            for (int64_t c = 0; c < nc && j->nsteps; c++)
                y[c0 + c] = a[c];
        }
    });
}

static void sum_steps(const graph *g, const gnode *n, void *const *in, void *out, int acc)
{
    const gnode *a = &g->nodes[n->in[0]];
    steps_job j = {n, in[0], out, n->shape.dim[0], a->shape.dim[0] / n->ip[1], 1, acc};
    j.nparts = op_steps_parts(j.N, shape_numel(&a->shape));
    pool_for(pool_class("stacked step sums"), j.nparts, sum_steps_part, &j);
}

static int32_t sum_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    return op_broadcast(g, gout, g->nodes[g->nodes[node].in[0]].shape, e);
}

static int32_t sum_example(graph *g, uerr *e)
{
    int32_t rows = op_sum(g, op_example_param(g, shape_2(3, 4), e), 0, e);
    int32_t all = op_sum(g, op_example_param(g, shape_2(2, 3), e), -1, e);
    return op_mul(g, rows, all, e);
}

const op_def op_def_SUM = {.arity = 1,
                           .infer = sum_infer,
                           .forward = sum_forward,
                           .bprop = sum_bprop,
                           .example = sum_example,
                           .accumulate = op_sum_accumulate};

static int broadcast_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt)
        return op_shape_error(g, n, e, "expected a floating input of the graph's dtype");
    int ok = a->shape.rank == 0 || (a->shape.rank == 1 && n->shape.rank >= 1 &&
                                    n->shape.dim[n->shape.rank - 1] == a->shape.dim[0]);
    if (!ok)
        return op_shape_error(g, n, e, "can only repeat a scalar, or a row vector along rows");
    n->dt = a->dt;
    return 0;
}

/* x: scalar or [N] -> [R, N] */
static void broadcast_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    int64_t total = shape_numel(&n->shape);
    int64_t N = shape_numel(&g->nodes[n->in[0]].shape);
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        for (int64_t r = 0; r < total; r += N)
            for (int64_t j = 0; j < N; j++)
                y[r + j] = x[j];
    });
}

static int32_t broadcast_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    shape to = g->nodes[g->nodes[node].in[0]].shape;
    return op_sum(g, gout, to.rank == 0 ? -1 : 0, e);
}

static int32_t broadcast_example(graph *g, uerr *e)
{
    int32_t row = op_broadcast(g, op_example_param(g, shape_1(4), e), shape_2(3, 4), e);
    int32_t all = op_broadcast(g, op_example_param(g, shape_0(), e), shape_2(3, 4), e);
    return op_mul(g, row, all, e);
}

const op_def op_def_BROADCAST = {.arity = 1,
                                 .infer = broadcast_infer,
                                 .forward = broadcast_forward,
                                 .bprop = broadcast_bprop,
                                 .example = broadcast_example};
