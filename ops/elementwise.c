/*
 * elementwise.c - add, sub, mul, max and min (with broadcasting of the
 * second operand) and scale by a constant.
 *
 * Broadcasting is deliberately narrow: b has a's shape, or is a row vector
 * [N] matching a's last axis (a bias), or is a scalar. The gradient of a
 * broadcast operand is the sum over the axes it was repeated along.
 *
 * max and min pass the gradient to the operand that won; at a tie each
 * operand gets half of it (as PyTorch's max(a, b) and min(a, b)), with the
 * weights (1 +- sign(a - b)) / 2 built from ops, so that a gradient graph
 * through them can be differentiated again.
 */
#include "ops/ops.h"

#include <stdio.h>

#include "base/clones.h"

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

/* z[i] = F(x[i], y[j]), j = i, i mod nb (row vector) or 0 (scalar);
 * compiled for the widest vector unit (base/clones.h: one rounding per
 * element, so every version gives the same bits): an LSTM's step is
 * several of these over [B, H] rows */
#define BINARY_KERNEL(fname, F)                                                                    \
    UNROLL_CLONES static void fname(const graph *g, const gnode *n, void *const *in, void *out)    \
    {                                                                                              \
        int64_t total = shape_numel(&n->shape);                                                    \
        int64_t nb = shape_numel(&g->nodes[n->in[1]].shape);                                       \
        DT_EACH_REAL(n->dt, T, {                                                                   \
            const T *x = in[0], *y = in[1];                                                        \
            T *z = out;                                                                            \
            if (nb == total) {                                                                     \
                for (int64_t i = 0; i < total; i++)                                                \
                    z[i] = F(x[i], y[i]);                                                          \
            } else if (nb == 1) {                                                                  \
                T s = y[0];                                                                        \
                for (int64_t i = 0; i < total; i++)                                                \
                    z[i] = F(x[i], s);                                                             \
            } else {                                                                               \
                for (int64_t r = 0; r < total; r += nb)                                            \
                    for (int64_t j = 0; j < nb; j++)                                               \
                        z[r + j] = F(x[r + j], y[j]);                                              \
            }                                                                                      \
        });                                                                                        \
    }

#define ADD_(a, b) ((a) + (b))
#define SUB_(a, b) ((a) - (b))
#define MUL_(a, b) ((a) * (b))
/* NaN in either operand gives NaN: a NaN in training must be seen */
#define MAX_(a, b) ((a) > (b) || (a) != (a) ? (a) : (b))
#define MIN_(a, b) ((a) < (b) || (a) != (a) ? (a) : (b))
BINARY_KERNEL(add_forward, ADD_)
BINARY_KERNEL(sub_forward, SUB_)
BINARY_KERNEL(mul_forward, MUL_)
BINARY_KERNEL(max_forward, MAX_)
BINARY_KERNEL(min_forward, MIN_)

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

/* The weight of a's gradient in max (dir 1) or min (dir -1), and of b's
 * with the opposite dir: (1 + dir sign(a - b)) / 2, so 1 where the operand
 * wins, 0 where it loses and 1/2 at a tie. */
static int32_t minmax_weight(graph *g, int32_t sgn, double dir, uerr *e)
{
    return op_add(g, op_scale(g, sgn, 0.5 * dir, e), op_fill(g, shape_0(), 0.5, e), e);
}

static int32_t minmax_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)undefined;
    /* copied out: building nodes may move g->nodes */
    const gnode *n = &g->nodes[node];
    int32_t a = n->in[0], b = n->in[1];
    double dir = (n->op == OP_MAX ? 1.0 : -1.0) * (i == 0 ? 1.0 : -1.0);
    shape to = g->nodes[n->in[i]].shape;
    int32_t sgn = op_unary(g, OP_SIGN, op_sub(g, a, b, e), e);
    int32_t term = op_mul(g, gout, minmax_weight(g, sgn, dir, e), e);
    return op_unbroadcast(g, term, &to, e);
}

/* Which operand wins element k: 0 b, 1 a tie, 2 a. */
static int minmax_kink(const graph *g, const gnode *n, const void *const *in, const void *out,
                       int64_t k)
{
    (void)out;
    int64_t nb = shape_numel(&g->nodes[n->in[1]].shape);
    int64_t j = nb == 1 ? 0 : k % nb;
    int r = 0;
    DT_EACH_REAL(n->dt, T, {
        T a = ((const T *)in[0])[k], b = ((const T *)in[1])[j];
        r = a > b ? 2 : a == b ? 1 : 0;
    });
    return r;
}

/* max(a, b) and min(a, b): two per-step vectors, or a vector and a number
 * (max(v, 0) is relu); the number goes second, where it is broadcast
 * (max and min are symmetric, their ties included). */
static int32_t minmax_call(int op, op_args *a)
{
    char msg[96];
    if (a->n != 2) {
        snprintf(msg, sizeof msg, "%s takes two arguments: %s(a, b)", op_name(op), op_name(op));
        return a->fail(a, -1, msg);
    }
    int32_t v[2];
    int isnum[2];
    for (int i = 0; i < 2; i++) {
        double num;
        isnum[i] = a->number(a, i, &num);
        v[i] = isnum[i] ? op_fill(a->g, shape_0(), num, a->e) : a->vector(a, i);
        if (v[i] < 0)
            return -1;
    }
    if (isnum[0] && isnum[1]) {
        snprintf(msg, sizeof msg, "%s needs a per-step vector on one side", op_name(op));
        return a->fail(a, -1, msg);
    }
    if (isnum[0])
        return op_binary(a->g, op, v[1], v[0], a->e);
    return op_binary(a->g, op, v[0], v[1], a->e);
}

static int32_t max_example(graph *g, uerr *e)
{
    return binary_example(g, OP_MAX, e);
}
static int32_t min_example(graph *g, uerr *e)
{
    return binary_example(g, OP_MIN, e);
}

const op_def op_def_MAX = {.arity = 2,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = binary_infer,
                           .rows = op_rows_same,
                           .forward = max_forward,
                           .bprop = minmax_bprop,
                           .example = max_example,
                           .call_args = "a, b",
                           .call = minmax_call,
                           .kink = minmax_kink};
const op_def op_def_MIN = {.arity = 2,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = binary_infer,
                           .rows = op_rows_same,
                           .forward = min_forward,
                           .bprop = minmax_bprop,
                           .example = min_example,
                           .call_args = "a, b",
                           .call = minmax_call,
                           .kink = minmax_kink};
