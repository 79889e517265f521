/*
 * leaf.c - nodes without a kernel of their own inputs: leaves (parameters
 * and data, bound by the caller) and fill (a constant, e.g. the seed
 * gradient d loss / d loss = 1).
 */
#include "ops/ops.h"

#include <string.h>

static int leaf_infer(const graph *g, gnode *n, uerr *e)
{
    (void)g;
    (void)n;
    (void)e;
    return 0;
}

const op_def op_def_INPUT = {
    .arity = 0,
    .flags = OPF_NO_KERNEL,
    .infer = leaf_infer,
};

static int fill_infer(const graph *g, gnode *n, uerr *e)
{
    (void)e;
    n->dt = (uint8_t)g->dt;
    return 0;
}

/* out: n->shape, every element n->fp */
static void fill_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    (void)in;
    int64_t total = shape_numel(&n->shape);
    DT_EACH_REAL(n->dt, T, {
        T *y = out;
        for (int64_t i = 0; i < total; i++)
            y[i] = (T)n->fp;
    });
}

/* A constant has no inputs, so nothing to differentiate; the gradient
 * check has nothing to check either, hence no example. */
const op_def op_def_FILL = {
    .arity = 0,
    .infer = fill_infer,
    .forward = fill_forward,
};
