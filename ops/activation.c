/*
 * activation.c - tanh, sigmoid, relu and their fused gradients.
 *
 * The gradient kernels take the activation's OUTPUT y (not its input):
 * tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = [y > 0], so the forward
 * input need not be kept alive for the backward pass. The fused gradients
 * z = g * f'(y) have gradient builders of their own, so a backward graph
 * can be differentiated again.
 */
#include "ops/ops.h"

#include <math.h>

#include "base/clones.h"
#include "kernels/vmath.h"

/* z = g * f'(y) elementwise; in[0] = y, in[1] = g; compiled for the
 * widest vector unit (base/clones.h: multiplies and subtractions, each
 * rounded once, in the order written) */
#define GRAD_KERNEL(fname, EXPR)                                                                   \
    UNROLL_CLONES static void fname(const graph *g_, const gnode *n, void *const *in, void *out)   \
    {                                                                                              \
        (void)g_;                                                                                  \
        int64_t total = shape_numel(&n->shape);                                                    \
        DT_EACH_REAL(n->dt, T, {                                                                   \
            const T *ys = in[0], *gs = in[1];                                                      \
            T *zs = out;                                                                           \
            for (int64_t i = 0; i < total; i++) {                                                  \
                T y = ys[i], g = gs[i];                                                            \
                zs[i] = (EXPR);                                                                    \
            }                                                                                      \
        });                                                                                        \
    }

/* tanh and sigmoid: the vector forms of kernels/vmath.h (libm's one call per
 * element dominated a small model's step) */
static void tanh_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t total = shape_numel(&n->shape);
    if (n->dt == DT_F32)
        vm_tanh_f32(in[0], out, total);
    else
        vm_tanh_f64(in[0], out, total);
}

static void sigmoid_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t total = shape_numel(&n->shape);
    if (n->dt == DT_F32)
        vm_sigmoid_f32(in[0], out, total);
    else
        vm_sigmoid_f64(in[0], out, total);
}

OP_UNARY_KERNEL(relu_forward, x > 0 ? x : (T)0)
GRAD_KERNEL(tanh_grad_forward, g *(1 - y * y))
GRAD_KERNEL(sigmoid_grad_forward, g *y *(1 - y))
GRAD_KERNEL(relu_grad_forward, y > 0 ? g : (T)0)

static int32_t act_bprop(graph *g, int op_grad, int32_t node, int32_t gout, uerr *e)
{
    return op_binary(g, op_grad, node, gout, e);
}

static int32_t tanh_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    return act_bprop(g, OP_TANH_GRAD, node, gout, e);
}

static int32_t sigmoid_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    return act_bprop(g, OP_SIGMOID_GRAD, node, gout, e);
}

static int32_t relu_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    return act_bprop(g, OP_RELU_GRAD, node, gout, e);
}

/*
 * Second derivatives, with z = g f'(y) and G = dL/dz:
 *   dL/dg = G f'(y)              (the same fused op)
 *   tanh:    dL/dy = -2 y g G
 *   sigmoid: dL/dy = (1 - 2y) g G
 *   relu:    dL/dy = 0
 */
static int32_t tanh_grad_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)u;
    int32_t y = g->nodes[node].in[0], gg = g->nodes[node].in[1];
    if (i == 1)
        return op_binary(g, OP_TANH_GRAD, y, gout, e);
    return op_scale(g, op_mul(g, op_mul(g, y, gg, e), gout, e), -2.0, e);
}

static int32_t sigmoid_grad_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)u;
    int32_t y = g->nodes[node].in[0], gg = g->nodes[node].in[1];
    if (i == 1)
        return op_binary(g, OP_SIGMOID_GRAD, y, gout, e);
    int32_t one_minus_2y = op_add(g, op_scale(g, y, -2.0, e), op_fill(g, shape_0(), 1.0, e), e);
    return op_mul(g, op_mul(g, gg, gout, e), one_minus_2y, e);
}

static int32_t relu_grad_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)u;
    int32_t y = g->nodes[node].in[0];
    if (i == 1)
        return op_binary(g, OP_RELU_GRAD, y, gout, e);
    return op_fill(g, g->nodes[y].shape, 0.0, e);
}

static int32_t unary_example(graph *g, int op, uerr *e)
{
    return op_unary(g, op, op_example_param(g, shape_2(3, 5), e), e);
}

static int32_t grad_example(graph *g, int op, uerr *e)
{
    int32_t y = op_example_param(g, shape_2(3, 5), e);
    return op_binary(g, op, y, op_example_param(g, shape_2(3, 5), e), e);
}

static int32_t tanh_example(graph *g, uerr *e)
{
    return unary_example(g, OP_TANH, e);
}
static int32_t sigmoid_example(graph *g, uerr *e)
{
    return unary_example(g, OP_SIGMOID, e);
}
static int32_t relu_example(graph *g, uerr *e)
{
    return unary_example(g, OP_RELU, e);
}
static int32_t tanh_grad_example(graph *g, uerr *e)
{
    return grad_example(g, OP_TANH_GRAD, e);
}
static int32_t sigmoid_grad_example(graph *g, uerr *e)
{
    return grad_example(g, OP_SIGMOID_GRAD, e);
}
static int32_t relu_grad_example(graph *g, uerr *e)
{
    return grad_example(g, OP_RELU_GRAD, e);
}

const op_def op_def_TANH = {.arity = 1,
                            .flags = OPF_INPLACE | OPF_CALL | OPF_ACTIVATION,
                            .infer = op_infer_like_first,
                            .rows = op_rows_same,
                            .forward = tanh_forward,
                            .bprop = tanh_bprop,
                            .example = tanh_example};
const op_def op_def_SIGMOID = {.arity = 1,
                               .flags = OPF_INPLACE | OPF_CALL | OPF_ACTIVATION,
                               .infer = op_infer_like_first,
                               .rows = op_rows_same,
                               .forward = sigmoid_forward,
                               .bprop = sigmoid_bprop,
                               .example = sigmoid_example};
/* relu is not differentiable at 0: y > 0 exactly where x > 0 */
static int relu_kink(const graph *g, const gnode *n, const void *const *in, const void *out,
                     int64_t k)
{
    (void)g;
    (void)in;
    if (n->dt == DT_F32)
        return ((const float *)out)[k] > 0;
    return ((const double *)out)[k] > 0;
}

const op_def op_def_RELU = {.arity = 1,
                            .flags = OPF_INPLACE | OPF_CALL | OPF_ACTIVATION,
                            .infer = op_infer_like_first,
                            .rows = op_rows_same,
                            .forward = relu_forward,
                            .bprop = relu_bprop,
                            .example = relu_example,
                            .kink = relu_kink};
const op_def op_def_TANH_GRAD = {.arity = 2,
                                 .flags = OPF_INPLACE,
                                 .infer = op_infer_like_first,
                                 .rows = op_rows_same,
                                 .forward = tanh_grad_forward,
                                 .bprop = tanh_grad_bprop,
                                 .example = tanh_grad_example};
const op_def op_def_SIGMOID_GRAD = {.arity = 2,
                                    .flags = OPF_INPLACE,
                                    .infer = op_infer_like_first,
                                    .rows = op_rows_same,
                                    .forward = sigmoid_grad_forward,
                                    .bprop = sigmoid_grad_bprop,
                                    .example = sigmoid_grad_example};
const op_def op_def_RELU_GRAD = {.arity = 2,
                                 .flags = OPF_INPLACE,
                                 .infer = op_infer_like_first,
                                 .rows = op_rows_same,
                                 .forward = relu_grad_forward,
                                 .bprop = relu_grad_bprop,
                                 .example = relu_grad_example};
