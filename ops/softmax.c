/*
 * softmax.c - row-wise softmax over the last axis, and its gradient.
 *
 * softmax_grad(y, g) = y * (g - sum_row(g * y)) is the fused gradient that
 * softmax's builder produces. It has a gradient builder of its own, made
 * of differentiable ops (mul, sub, matmul and itself), so a backward graph
 * through a softmax can be differentiated again (Hessian-vector products).
 */
#include "ops/ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/clones.h"
#include "kernels/vmath.h"

static int softmax_infer(const graph *g, gnode *n, uerr *e)
{
    if (g->nodes[n->in[0]].shape.rank < 1)
        return op_shape_error(g, n, e, "expected at least one axis");
    return op_infer_like_first(g, n, e);
}

/*
 * The max of each row in lanes: lane l starts from the row's first element
 * and takes elements l+1, l+1+ROW_LANES, ... in order, then the lanes meet
 * in halves (lane l with lane l + w, w = 8, 4, 2, 1), each step the
 * select m = a > m ? a : m. So the vector units run it (one maximum after
 * another was a chain of dependent selects, 3 cycles each: two thirds of
 * softmax_xent's time at 65 classes). The value
 * is the row's maximum, as in one pass; only which zero (-0 or +0) wins a
 * tie between zeros may differ from one pass, and x - max is then +-0, whose
 * exponential is 1 either way. A NaN first element stays the maximum; a
 * later NaN is passed over, as in one pass.
 */
#define ROW_LANES 16

/* The lanes' whole passes in float32 as one vector of ROW_LANES floats,
 * the select written with masks (C has no ?: on vectors): GCC left the
 * loop above in scalar selects, 24 ns a row of 65 floats, 14 so. In
 * float64 the same vector took three times longer than the loop, which
 * stays. Returns the element after the last pass. */
typedef float row_lanes_f32 __attribute__((vector_size(ROW_LANES * sizeof(float))));
typedef int32_t row_mask_f32 __attribute__((vector_size(ROW_LANES * sizeof(float))));

static inline __attribute__((always_inline)) int64_t row_lanes_max_f32(float *mv, const float *xr,
                                                                       int64_t N)
{
    row_lanes_f32 m, a;
    memcpy(&m, mv, sizeof m);
    int64_t j = 1;
    for (; j + ROW_LANES <= N; j += ROW_LANES) {
        memcpy(&a, xr + j, sizeof a);
        row_mask_f32 gt = a > m;
        m = (row_lanes_f32)(((row_mask_f32)a & gt) | ((row_mask_f32)m & ~gt));
    }
    memcpy(mv, &m, sizeof m);
    return j;
}

UNROLL_CLONES void op_rows_minus_max(dtype dt, const void *x, void *z, int64_t R, int64_t N,
                                     void *maxima)
{
    DT_EACH_REAL(dt, T, {
        for (int64_t r = 0; r < R; r++) {
            const T *xr = (const T *)x + r * N;
            T *zr = z ? (T *)z + r * N : NULL;
            T m[ROW_LANES];
            for (int l = 0; l < ROW_LANES; l++)
                m[l] = xr[0];
            int64_t j = 1;
            if (sizeof(T) == sizeof(float))
                j = row_lanes_max_f32((float *)m, (const float *)xr, N);
            for (; j + ROW_LANES <= N; j += ROW_LANES)
                for (int l = 0; l < ROW_LANES; l++)
                    m[l] = xr[j + l] > m[l] ? xr[j + l] : m[l];
            for (int l = 0; j < N; j++, l++)
                m[l] = xr[j] > m[l] ? xr[j] : m[l];
            for (int w = ROW_LANES / 2; w > 0; w /= 2)
                for (int l = 0; l < w; l++)
                    m[l] = m[l + w] > m[l] ? m[l + w] : m[l];
            T mx = m[0];
            if (zr)
                for (j = 0; j < N; j++)
                    zr[j] = xr[j] - mx;
            if (maxima)
                ((T *)maxima)[r] = mx;
        }
    });
}

/* x, y: [R, N] with N the last axis */
static void softmax_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t N = n->shape.dim[n->shape.rank - 1];
    int64_t R = shape_numel(&n->shape) / N;
    op_rows_minus_max((dtype)n->dt, in[0], out, R, N, NULL);
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

int32_t op_row_dot(graph *g, int32_t a, int32_t b, uerr *e)
{
    if (a < 0 || b < 0)
        return -1;
    shape s = g->nodes[a].shape;
    if (s.rank != 2) {
        uerr_set(e, UERR_USER,
                 "a row-wise dot product (second-order gradient of a softmax) needs "
                 "matrices [R, N], not rank %d",
                 s.rank);
        return -1;
    }
    /* [R, N] @ ones [N, 1] -> [R, 1] row sums, @ ones [1, N] -> [R, N]:
     * two thin products rather than an N x N matrix of ones */
    int32_t col = op_fill(g, shape_2(s.dim[1], 1), 1.0, e);
    int32_t row = op_fill(g, shape_2(1, s.dim[1]), 1.0, e);
    int32_t sums = op_matmul(g, op_mul(g, a, b, e), col, 0, 0, e);
    return op_matmul(g, sums, row, 0, 0, e);
}

/*
 * The gradient of z = y * (g - s), s = <g, y> per row, given G = dL/dz:
 *   dL/dg = y * (G - <G, y>) = softmax_grad(y, G)      (it is self-adjoint)
 *   dL/dy = G * (g - s) - g * <G, y>
 */
static int32_t softmax_grad_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)u;
    int32_t y = g->nodes[node].in[0], gg = g->nodes[node].in[1];
    if (i == 1)
        return op_binary(g, OP_SOFTMAX_GRAD, y, gout, e);
    int32_t s = op_row_dot(g, gg, y, e), r = op_row_dot(g, gout, y, e);
    return op_sub(g, op_mul(g, gout, op_sub(g, gg, s, e), e), op_mul(g, gg, r, e), e);
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
/* y a softmax's output (rows summing to 1), as softmax's builder gives it */
static int32_t softmax_grad_example(graph *g, uerr *e)
{
    int32_t y = op_unary(g, OP_SOFTMAX, op_example_param(g, shape_2(3, 5), e), e);
    return op_binary(g, OP_SOFTMAX_GRAD, y, op_example_param(g, shape_2(3, 5), e), e);
}

const op_def op_def_SOFTMAX_GRAD = {.arity = 2,
                                    .flags = OPF_INPLACE,
                                    .infer = op_infer_like_first,
                                    .rows = op_rows_same,
                                    .forward = softmax_grad_forward,
                                    .bprop = softmax_grad_bprop,
                                    .example = softmax_grad_example};
