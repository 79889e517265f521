/*
 * sign.c - abs(x) and sign(x), elementwise.
 *
 * abs' is sign, with sign(0) = 0: abs passes no gradient at 0, as
 * PyTorch's. sign is flat wherever it is differentiable, so its gradient
 * is 0 (a node, so that abs's gradient graph can be differentiated
 * again); equations do not call it, abs and the ties of max and min use
 * it. Both are kinked at 0: gradcheck skips an element whose step
 * crosses it.
 */
#include "ops/ops.h"

/* NaN stays NaN through both */
OP_UNARY_KERNEL(abs_forward, x < 0 ? -x : x)
OP_UNARY_KERNEL(sign_forward, x > 0 ? (T)1 : x < 0 ? (T)-1 : x)

static int32_t abs_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)i, (void)undefined;
    int32_t x = g->nodes[node].in[0];
    return op_mul(g, gout, op_unary(g, OP_SIGN, x, e), e);
}

static int32_t sign_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    (void)gout, (void)undefined;
    return op_fill(g, g->nodes[g->nodes[node].in[i]].shape, 0.0, e);
}

/* the side of 0 the input lies on */
static int sign_kink(const graph *g, const gnode *n, const void *const *in, const void *out,
                     int64_t k)
{
    (void)g, (void)out;
    return op_zero_side(n, in[0], k);
}

static int32_t abs_example(graph *g, uerr *e)
{
    return op_unary(g, OP_ABS, op_example_param(g, shape_2(3, 5), e), e);
}

static int32_t sign_example(graph *g, uerr *e)
{
    return op_unary(g, OP_SIGN, op_example_param(g, shape_2(3, 5), e), e);
}

const op_def op_def_ABS = {.arity = 1,
                           .flags = OPF_INPLACE | OPF_CALL,
                           .infer = op_infer_like_first,
                           .rows = op_rows_same,
                           .forward = abs_forward,
                           .bprop = abs_bprop,
                           .example = abs_example,
                           .kink = sign_kink};
const op_def op_def_SIGN = {.arity = 1,
                            .flags = OPF_INPLACE,
                            .infer = op_infer_like_first,
                            .rows = op_rows_same,
                            .forward = sign_forward,
                            .bprop = sign_bprop,
                            .example = sign_example,
                            .kink = sign_kink};
