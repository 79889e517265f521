/*
 * power.c - pow(x, p) with a constant exponent p (the node's fp), and
 * sqrt(x), elementwise.
 *
 * Gradients, built from ops so that they can be differentiated again:
 *   pow:  g * p * pow(x, p - 1)      (0 for p = 0)
 *   sqrt: g * 0.5 * pow(y, -1)       (y the output, sqrt(x))
 * As in C, a negative x gives NaN unless p is an integer, and pow(0, p)
 * for p < 0 and sqrt's gradient at 0 are infinite. Where p is not a
 * whole number >= 0 (sqrt included), 0 is a kink: gradcheck skips an
 * element whose step crosses it.
 */
#include "ops/ops.h"

#include <math.h>

static void pow_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t total = shape_numel(&n->shape);
    double p = n->fp;
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        /* exact and fast for the common squares */
        if (p == 2.0) {
            for (int64_t i = 0; i < total; i++)
                y[i] = x[i] * x[i];
        } else {
            for (int64_t i = 0; i < total; i++)
                y[i] = (T)pow((double)x[i], p);
        }
    });
}

OP_UNARY_KERNEL(sqrt_forward, (T)sqrt((double)x))

int32_t op_pow(graph *g, int32_t a, double p, uerr *e)
{
    if (a < 0)
        return -1;
    gnode n = {.op = OP_POW, .nin = 1, .in = {a}, .fp = p};
    return op_build(g, n, e);
}

static int32_t pow_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    int32_t x = g->nodes[node].in[0];
    double p = g->nodes[node].fp;
    if (p == 0)
        return op_fill(g, g->nodes[x].shape, 0.0, e);
    if (p == 1)
        return gout;
    return op_mul(g, gout, op_scale(g, op_pow(g, x, p - 1, e), p, e), e);
}

static int32_t sqrt_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    return op_mul(g, gout, op_scale(g, op_pow(g, node, -1.0, e), 0.5, e), e);
}

/* the side of 0 the input lies on (0 below, 1 at, 2 above), or 0 for an
 * exponent where pow is smooth everywhere */
static int zero_kink(const graph *g, const gnode *n, const void *const *in, const void *out,
                     int64_t k)
{
    (void)g, (void)out;
    if (n->op == OP_POW && n->fp >= 0 && n->fp == floor(n->fp))
        return 0;
    return op_zero_side(n, in[0], k);
}

/* pow(v, p): p must be a number written in the equation */
static int32_t pow_call(int op, op_args *a)
{
    (void)op;
    if (a->n != 2)
        return a->fail(a, -1, "pow takes two arguments: pow(v, p)");
    int32_t v = a->vector(a, 0);
    if (v < 0)
        return -1;
    double p;
    if (!a->number(a, 1, &p))
        return a->fail(a, 1, "pow's exponent must be a number, as in pow(v, 2) or pow(v, -0.5)");
    return op_pow(a->g, v, p, a->e);
}

/* every path of the kernel and the gradient: squares, an odd power of
 * signed inputs, a negative fractional power of positive ones */
static int32_t pow_example(graph *g, uerr *e)
{
    int32_t a = op_pow(g, op_example_param(g, shape_2(3, 5), e), 2.0, e);
    int32_t b = op_pow(g, op_example_param(g, shape_2(3, 5), e), 3.0, e);
    int32_t c = op_pow(g, op_example_positive(g, shape_2(3, 5), e), -1.5, e);
    return op_mul(g, op_add(g, a, b, e), c, e);
}

static int32_t sqrt_example(graph *g, uerr *e)
{
    return op_unary(g, OP_SQRT, op_example_positive(g, shape_2(3, 5), e), e);
}

const op_def op_def_POW = {.arity = 1,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = op_infer_like_first,
                           .rows = op_rows_same,
                           .forward = pow_forward,
                           .bprop = pow_bprop,
                           .example = pow_example,
                           .call_args = "v, p",
                           .call = pow_call,
                           .kink = zero_kink};
const op_def op_def_SQRT = {.arity = 1,
                            .flags = OPF_INPLACE | OPF_CALL,
                            .infer = op_infer_like_first,
                            .rows = op_rows_same,
                            .forward = sqrt_forward,
                            .bprop = sqrt_bprop,
                            .example = sqrt_example,
                            .kink = zero_kink};
