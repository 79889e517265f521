/*
 * where.c - where(mask int32 [B], a [B, N], b [B, N]): row r is a's when
 * mask[r] != 0, else b's. It freezes the state of the sequences of a
 * minibatch that have ended (padding): h_t = where(m_t, h_new, h_{t-1}).
 * Its gradient routes g to a's rows or to b's: where(m, g, 0) and
 * where(m, 0, g).
 */
#include "ops/ops.h"

#include <string.h>

static int where_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *m = &g->nodes[n->in[0]], *a = &g->nodes[n->in[1]], *b = &g->nodes[n->in[2]];
    if (a->dt != g->dt || b->dt != g->dt || a->shape.rank != 2 ||
        !shape_equal(&a->shape, &b->shape))
        return op_shape_error(g, n, e, "expected two floating matrices of one shape");
    if (m->dt != DT_I32 || m->shape.rank != 1 || m->shape.dim[0] != a->shape.dim[0])
        return op_shape_error(g, n, e, "expected an int32 mask with one entry per row");
    n->dt = a->dt;
    n->shape = a->shape;
    return 0;
}

/* mask [B], a [B, N], b [B, N] -> [B, N] */
static void where_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    (void)g;
    int64_t B = n->shape.dim[0];
    size_t row = (size_t)n->shape.dim[1] * dtype_size((dtype)n->dt);
    const int32_t *m = in[0];
    for (int64_t r = 0; r < B; r++)
        memcpy((char *)out + (size_t)r * row,
               (const char *)(m[r] ? in[1] : in[2]) + (size_t)r * row, row);
}

static int32_t where_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    const gnode *n = &g->nodes[node];
    if (i == 0) {
        *undefined = 1;
        return -1;
    }
    int32_t mask = n->in[0], zero = op_fill(g, n->shape, 0.0, e);
    return i == 1 ? op_where(g, mask, gout, zero, e) : op_where(g, mask, zero, gout, e);
}

static int32_t where_example(graph *g, uerr *e)
{
    int32_t a = op_example_param(g, shape_2(5, 3), e);
    int32_t b = op_example_param(g, shape_2(5, 3), e);
    return op_where(g, op_example_index(g, shape_1(5), 2, e), a, b, e);
}

/* row r from mask[r] and row r of a or b */
static unsigned where_rows(const graph *g, const gnode *n)
{
    (void)g;
    return n->shape.rank == 2 ? 7u : 0;
}

const op_def op_def_WHERE = {.arity = 3,
                             .infer = where_infer,
                             .rows = where_rows,
                             .forward = where_forward,
                             .bprop = where_bprop,
                             .example = where_example};
