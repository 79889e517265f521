/*
 * explog.c - exp, log and softplus, elementwise.
 *
 * Gradients, each built from ops so that it can be differentiated again:
 *   exp:      g * y              (y the output: exp is its own derivative)
 *   log:      g * pow(x, -1)
 *   softplus: g * sigmoid(x)     (softplus(x) = log(1 + exp(x)))
 * log of a negative number is NaN and log(0) is -inf, as in C; training
 * stops on the NaN.
 */
#include "ops/ops.h"

#include <math.h>

#include "kernels/vmath.h"

/* the vector exp of kernels/vmath.h: the same bits at every width */
static void exp_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t total = shape_numel(&n->shape);
    if (n->dt == DT_F32)
        vm_exp_f32(in[0], out, total);
    else
        vm_exp_f64(in[0], out, total);
}

OP_UNARY_KERNEL(log_forward, (T)log((double)x))
/* log1p(exp(-|x|)) + max(x, 0): no overflow for large x */
OP_UNARY_KERNEL(softplus_forward,
                (T)(x > 0 ? (double)x + log1p(exp(-(double)x)) : log1p(exp((double)x))))

static int32_t exp_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    return op_mul(g, gout, node, e);
}

static int32_t log_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    return op_mul(g, gout, op_pow(g, g->nodes[node].in[0], -1.0, e), e);
}

static int32_t softplus_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    return op_mul(g, gout, op_unary(g, OP_SIGMOID, g->nodes[node].in[0], e), e);
}

static int32_t exp_example(graph *g, uerr *e)
{
    return op_unary(g, OP_EXP, op_example_param(g, shape_2(3, 5), e), e);
}
static int32_t log_example(graph *g, uerr *e)
{
    return op_unary(g, OP_LOG, op_example_positive(g, shape_2(3, 5), e), e);
}
static int32_t softplus_example(graph *g, uerr *e)
{
    /* both branches of the kernel: inputs in [-3, 3) */
    return op_unary(g, OP_SOFTPLUS, op_scale(g, op_example_param(g, shape_2(3, 5), e), 3.0, e), e);
}

const op_def op_def_EXP = {.arity = 1,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = op_infer_like_first,
                           .rows = op_rows_same,
                           .forward = exp_forward,
                           .bprop = exp_bprop,
                           .example = exp_example};
const op_def op_def_LOG = {.arity = 1,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = op_infer_like_first,
                           .rows = op_rows_same,
                           .forward = log_forward,
                           .bprop = log_bprop,
                           .example = log_example};
const op_def op_def_SOFTPLUS = {.arity = 1,
                                .flags = OPF_INPLACE | OPF_CALL | OPF_ACTIVATION,
                                .infer = op_infer_like_first,
                                .rows = op_rows_same,
                                .forward = softplus_forward,
                                .bprop = softplus_bprop,
                                .example = softplus_example};
