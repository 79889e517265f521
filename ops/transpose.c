/*
 * transpose.c - the transpose of a matrix, [R, C] -> [C, R]. Its gradient
 * is the transpose of the incoming gradient.
 *
 * The plan uses it on a weight read by many products X W^T that cannot be
 * stacked (the recurrence h_{t-1} W^T at batch 1): W^T is made once per
 * run and kernels/smallmm.c reads it untransposed (engine/
 * plan_transpose.c). The kernel is kernels/transpose.c.
 */
#include "ops/ops.h"

#include "kernels/transpose.h"

static int transpose_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt || a->shape.rank != 2)
        return op_shape_error(g, n, e, "expected a floating matrix");
    n->dt = a->dt;
    n->shape = shape_2(a->shape.dim[1], a->shape.dim[0]);
    return 0;
}

int64_t op_row_stride(const gnode *n)
{
    if (n->op == OP_TRANSPOSE && n->ip[0] > 0)
        return n->ip[0];
    return n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1;
}

size_t op_value_bytes(const gnode *n)
{
    int64_t numel =
        n->op == OP_TRANSPOSE && n->ip[0] > 0 ? n->shape.dim[0] * n->ip[0] : shape_numel(&n->shape);
    return (size_t)numel * dtype_size((dtype)n->dt);
}

static void transpose_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    const gnode *a = &g->nodes[n->in[0]];
    transpose_rows(dtype_size((dtype)n->dt), in[0], a->shape.dim[1], out, op_row_stride(n), 0,
                   a->shape.dim[0]);
}

static int32_t transpose_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)node, (void)i, (void)u;
    return op_transpose(g, gout, e);
}

/* larger than a tile, not square, sides not multiples of 4: every edge
 * case of the blocking */
static int32_t transpose_example(graph *g, uerr *e)
{
    return op_transpose(g, op_example_param(g, shape_2(37, 45), e), e);
}

const op_def op_def_TRANSPOSE = {.arity = 1,
                                 .infer = transpose_infer,
                                 .forward = transpose_forward,
                                 .bprop = transpose_bprop,
                                 .example = transpose_example};
