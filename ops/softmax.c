/*
 * softmax.c - row-wise softmax over the last axis, and its gradient.
 *
 * softmax_grad(y, g) = y * (g - sum_row(g * y)) is a fused backward-only
 * op: it is produced by softmax's gradient builder and not differentiated
 * again (the op table says so, and build_grad reports it by name).
 */
#include "ops/ops.h"

#include <math.h>

#include "kernels/vmath.h"

static int softmax_infer(const graph *g, gnode *n, uerr *e)
{
    if (g->nodes[n->in[0]].shape.rank < 1)
        return op_shape_error(g, n, e, "expected at least one axis");
    return op_infer_like_first(g, n, e);
}

void op_rows_minus_max(dtype dt, const void *x, void *z, int64_t R, int64_t N)
{
    DT_EACH_REAL(dt, T, {
        for (int64_t r = 0; r < R; r++) {
            const T *xr = (const T *)x + r * N;
            T *zr = (T *)z + r * N;
            T mx = xr[0];
            for (int64_t j = 1; j < N; j++)
                mx = xr[j] > mx ? xr[j] : mx;
            for (int64_t j = 0; j < N; j++)
                zr[j] = xr[j] - mx;
        }
    });
}

/* x, y: [R, N] with N the last axis */
static void softmax_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t N = n->shape.dim[n->shape.rank - 1];
    int64_t R = shape_numel(&n->shape) / N;
    op_rows_minus_max((dtype)n->dt, in[0], out, R, N);
    DT_EACH_REAL(n->dt, T, {
        T *y = out;
        for (int64_t r = 0; r < R; r++) {
            T *yr = y + r * N;
            if (n->dt == DT_F32)
                vm_exp_f32((const float *)yr, (float *)yr, N);
            else
                vm_exp_f64((const double *)yr, (double *)yr, N);
            double s = 0;
            for (int64_t j = 0; j < N; j++)
                s += yr[j];
            for (int64_t j = 0; j < N; j++)
                yr[j] = (T)(yr[j] / s);
        }
    });
}

/* y, g, z: [R, N]; z = y * (g - <g, y>) per row */
static void softmax_grad_forward(const graph *g_, const gnode *n, void *const *in, void *out)
{
    (void)g_;
    int64_t N = n->shape.dim[n->shape.rank - 1];
    int64_t R = shape_numel(&n->shape) / N;
    DT_EACH_REAL(n->dt, T, {
        const T *y = in[0], *g = in[1];
        T *z = out;
        for (int64_t r = 0; r < R; r++) {
            double dot = 0;
            for (int64_t j = 0; j < N; j++)
                dot += (double)g[r * N + j] * y[r * N + j];
            for (int64_t j = 0; j < N; j++)
                z[r * N + j] = (T)(y[r * N + j] * (g[r * N + j] - dot));
        }
    });
}

static int32_t softmax_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    return op_binary(g, OP_SOFTMAX_GRAD, node, gout, e);
}

static int32_t softmax_example(graph *g, uerr *e)
{
    return op_unary(g, OP_SOFTMAX, op_example_param(g, shape_2(3, 5), e), e);
}

const op_def op_def_SOFTMAX = {.arity = 1,
                               .flags = OPF_INPLACE | OPF_CALL,
                               .infer = softmax_infer,
                               .rows = op_rows_same,
                               .forward = softmax_forward,
                               .bprop = softmax_bprop,
                               .example = softmax_example};
const op_def op_def_SOFTMAX_GRAD = {.arity = 2,
                                    .flags = OPF_BACKWARD_ONLY | OPF_INPLACE,
                                    .infer = op_infer_like_first,
                                    .rows = op_rows_same,
                                    .forward = softmax_grad_forward};
