/*
 * reduce.c - sum (of everything, or over every axis but the last) and its
 * adjoint broadcast (a scalar or a row vector repeated to a shape).
 * These are the gradients of each other, and of broadcasting in add/mul.
 */
#include "ops/ops.h"

static int sum_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt)
        return op_shape_error(g, n, e, "expected a floating input of the graph's dtype");
    n->dt = a->dt;
    if (n->ip[0] == -1) {
        n->shape = shape_0();
    } else if (n->ip[0] == 0 && a->shape.rank >= 1) {
        n->shape = shape_1(a->shape.dim[a->shape.rank - 1]);
    } else {
        return op_shape_error(g, n, e, "axis must be -1 (all) or 0 (all but the last)");
    }
    return 0;
}

/* x: [R, N] -> scalar (all) or [N] (rows summed) */
static void sum_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
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

/* out += sum(x): the same sums as sum_forward (from 0, in row order),
 * each added to out once, as add(out, sum(x)) would. Rows are summed in
 * chunks of SUM_CHUNK columns on the stack, so x is read row by row. */
#define SUM_CHUNK 256

static void op_sum_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    const gnode *a = &g->nodes[n->in[0]];
    int64_t total = shape_numel(&a->shape);
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        if (n->shape.rank == 0) {
            double s = 0;
            for (int64_t i = 0; i < total; i++)
                s += x[i];
            y[0] = y[0] + (T)s;
        } else if (total == n->shape.dim[0]) {
            /* one row: its sum is 0 + x */
            for (int64_t j = 0; j < total; j++)
                y[j] = y[j] + ((T)0 + x[j]);
        } else {
            int64_t N = n->shape.dim[0];
            for (int64_t j0 = 0; j0 < N; j0 += SUM_CHUNK) {
                int64_t nj = N - j0 < SUM_CHUNK ? N - j0 : SUM_CHUNK;
                T s[SUM_CHUNK];
                for (int64_t j = 0; j < nj; j++)
                    s[j] = 0;
                for (int64_t r = 0; r < total; r += N)
                    for (int64_t j = 0; j < nj; j++)
                        s[j] += x[r + j0 + j];
                for (int64_t j = 0; j < nj; j++)
                    y[j0 + j] = y[j0 + j] + s[j];
            }
        }
    });
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
