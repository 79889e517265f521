/*
 * elementwise.c - add, sub, mul (with broadcasting of the second operand)
 * and scale by a constant.
 *
 * Broadcasting is deliberately narrow: b has a's shape, or is a row vector
 * [N] matching a's last axis (a bias), or is a scalar. The gradient of a
 * broadcast operand is the sum over the axes it was repeated along.
 */
#include "ops/ops.h"

static int binary_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    if (a->dt != g->dt || b->dt != g->dt)
        return op_shape_error(g, n, e, "expected floating inputs of the graph's dtype");
    int same = shape_equal(&a->shape, &b->shape);
    int row = b->shape.rank == 1 && a->shape.rank >= 1 &&
              b->shape.dim[0] == a->shape.dim[a->shape.rank - 1];
    int scalar = b->shape.rank == 0;
    if (!same && !row && !scalar)
        return op_shape_error(g, n, e,
                              "second input must have the first's shape, be a row vector "
                              "of its last dimension, or be a scalar");
    n->dt = a->dt;
    n->shape = a->shape;
    return 0;
}

/* z[i] = x[i] OP y[j], j = i, i mod nb (row vector) or 0 (scalar) */
#define BINARY_KERNEL(fname, OPER)                                                                 \
    static void fname(const graph *g, const gnode *n, void *const *in, void *out)                  \
    {                                                                                              \
        int64_t total = shape_numel(&n->shape);                                                    \
        int64_t nb = shape_numel(&g->nodes[n->in[1]].shape);                                       \
        DT_EACH_REAL(n->dt, T, {                                                                   \
            const T *x = in[0], *y = in[1];                                                        \
            T *z = out;                                                                            \
            if (nb == total) {                                                                     \
                for (int64_t i = 0; i < total; i++)                                                \
                    z[i] = x[i] OPER y[i];                                                         \
            } else if (nb == 1) {                                                                  \
                T s = y[0];                                                                        \
                for (int64_t i = 0; i < total; i++)                                                \
                    z[i] = x[i] OPER s;                                                            \
            } else {                                                                               \
                for (int64_t r = 0; r < total; r += nb)                                            \
                    for (int64_t j = 0; j < nb; j++)                                               \
                        z[r + j] = x[r + j] OPER y[j];                                             \
            }                                                                                      \
        });                                                                                        \
    }

BINARY_KERNEL(add_forward, +)
BINARY_KERNEL(sub_forward, -)
BINARY_KERNEL(mul_forward, *)

static int32_t add_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)undefined;
    const shape *to = &g->nodes[g->nodes[node].in[i]].shape;
    return op_unbroadcast(g, gout, to, e);
}

static int32_t sub_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)undefined;
    const shape *to = &g->nodes[g->nodes[node].in[i]].shape;
    if (i == 0)
        return gout;
    return op_scale(g, op_unbroadcast(g, gout, to, e), -1.0, e);
}

static int32_t mul_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)undefined;
    int32_t a = g->nodes[node].in[0], b = g->nodes[node].in[1];
    if (i == 0)
        return op_mul(g, gout, b, e);
    shape to = g->nodes[b].shape;
    return op_unbroadcast(g, op_mul(g, gout, a, e), &to, e);
}

/* each of the three broadcast forms, in one expression */
static int32_t binary_example(graph *g, int op, uerr *e)
{
    int32_t a = op_example_param(g, shape_2(3, 4), e);
    int32_t b = op_example_param(g, shape_2(3, 4), e);
    int32_t r = op_example_param(g, shape_1(4), e);
    int32_t s = op_example_param(g, shape_0(), e);
    int32_t x = op_binary(g, op, a, b, e);
    x = op_binary(g, op, x, r, e);
    return op_binary(g, op, x, s, e);
}

static int32_t add_example(graph *g, uerr *e)
{
    return binary_example(g, OP_ADD, e);
}
static int32_t sub_example(graph *g, uerr *e)
{
    return binary_example(g, OP_SUB, e);
}
static int32_t mul_example(graph *g, uerr *e)
{
    return binary_example(g, OP_MUL, e);
}

const op_def op_def_ADD = {.arity = 2,
                           .flags = OPF_INPLACE,
                           .infer = binary_infer,
                           .rows = op_rows_same,
                           .forward = add_forward,
                           .bprop = add_bprop,
                           .example = add_example};
const op_def op_def_SUB = {.arity = 2,
                           .flags = OPF_INPLACE,
                           .infer = binary_infer,
                           .rows = op_rows_same,
                           .forward = sub_forward,
                           .bprop = sub_bprop,
                           .example = sub_example};
const op_def op_def_MUL = {.arity = 2,
                           .flags = OPF_INPLACE,
                           .infer = binary_infer,
                           .rows = op_rows_same,
                           .forward = mul_forward,
                           .bprop = mul_bprop,
                           .example = mul_example};

static void scale_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t total = shape_numel(&n->shape);
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        T s = (T)n->fp;
        for (int64_t i = 0; i < total; i++)
            y[i] = s * x[i];
    });
}

static int32_t scale_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i;
    (void)undefined;
    return op_scale(g, gout, g->nodes[node].fp, e);
}

static int32_t scale_example(graph *g, uerr *e)
{
    return op_scale(g, op_example_param(g, shape_2(2, 3), e), -2.5, e);
}

const op_def op_def_SCALE = {.arity = 1,
                             .flags = OPF_INPLACE,
                             .infer = op_infer_like_first,
                             .rows = op_rows_same,
                             .forward = scale_forward,
                             .bprop = scale_bprop,
                             .example = scale_example};
