/*
 * choose.c - choose(o [B, C], y int32 [B], coin int32 [B]) -> int32 [B]:
 * row b is argmax o[b] (the model's own prediction) where coin[b] != 0,
 * else y[b] (the target). This is scheduled sampling's y[t-1]: the
 * previous step's target, or, with a scheduled probability, what the model
 * itself predicted there. An index has no gradient: autodiff does not
 * differentiate integer nodes, as in the usual formulation where the
 * sampled path is not back-propagated through.
 */
#include "ops/ops.h"

static int choose_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *o = &g->nodes[n->in[0]], *y = &g->nodes[n->in[1]], *c = &g->nodes[n->in[2]];
    if (o->dt != g->dt || o->shape.rank != 2)
        return op_shape_error(g, n, e, "expected floating scores [B, C]");
    if (y->dt != DT_I32 || c->dt != DT_I32 || y->shape.rank != 1 || c->shape.rank != 1 ||
        y->shape.dim[0] != o->shape.dim[0] || c->shape.dim[0] != o->shape.dim[0])
        return op_shape_error(g, n, e, "expected int32 targets and coins, one per row");
    n->dt = DT_I32;
    n->shape = y->shape;
    n->ip[0] = o->shape.dim[1]; /* the bound of its values, for checks downstream */
    return 0;
}

/* o [B, C], y [B], coin [B] -> out [B] */
static void choose_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    const gnode *o = &g->nodes[n->in[0]];
    int64_t B = o->shape.dim[0], C = o->shape.dim[1];
    const int32_t *y = in[1], *coin = in[2];
    int32_t *r = out;
    DT_EACH_REAL(o->dt, T, {
        const T *s = in[0];
        for (int64_t b = 0; b < B; b++) {
            if (!coin[b]) {
                r[b] = y[b];
                continue;
            }
            int64_t best = 0;
            for (int64_t j = 1; j < C; j++)
                if (s[b * C + j] > s[b * C + best])
                    best = j;
            r[b] = (int32_t)best;
        }
    });
}

/* Two rows, three classes. Row 0 flips its coin: the model's own argmax,
 * class 1 (0.9 beats 0.3 and 0.1). Row 1 keeps its target, class 0, though
 * its argmax is class 2. A tie goes to the first class: row 2's scores are
 * equal and its coin is up, so it picks class 0, not its target 2. */
static int choose_worked(uerr *e)
{
    static const double o[3][3] = {{0.1, 0.9, 0.3}, {0.2, 0.1, 0.7}, {0.5, 0.5, 0.5}};
    static const int32_t y[3] = {2, 0, 2}, coin[3] = {1, 0, 1}, want[3] = {1, 0, 0};
    graph g;
    int32_t io, iy, ic;
    if (graph_init(&g, DT_F64, e))
        return e->code;
    int rc = graph_leaf(&g, "o", DT_F64, shape_2(3, 3), NODE_DATA, -1, &io, e) ||
             graph_leaf(&g, "y", DT_I32, shape_1(3), NODE_DATA, -1, &iy, e) ||
             graph_leaf(&g, "coin", DT_I32, shape_1(3), NODE_DATA, -1, &ic, e);
    int32_t v = rc ? -1 : op_choose(&g, io, iy, ic, e);
    if (v >= 0) {
        int32_t got[3] = {-1, -1, -1};
        void *const in[3] = {(void *)o, (void *)y, (void *)coin};
        choose_forward(&g, &g.nodes[v], in, got);
        for (int b = 0; b < 3 && !e->code; b++)
            if (got[b] != want[b])
                uerr_set(e, UERR_INTERNAL, "choose: row %d is %d, expected %d", b, got[b], want[b]);
    }
    graph_free(&g);
    if (v < 0 && !e->code)
        uerr_set(e, UERR_INTERNAL, "choose: the worked example did not build");
    return e->code;
}

/* The loss jumps where an argmax changes: each chosen index is a region. */
static int choose_kink(const graph *g, const gnode *n, const void *const *in, const void *out,
                       int64_t k)
{
    (void)g;
    (void)n;
    (void)in;
    return ((const int32_t *)out)[k];
}

const op_def op_def_CHOOSE = {
    .arity = 3,
    .flags = OPF_INDEX,
    .infer = choose_infer,
    .forward = choose_forward,
    .worked = choose_worked,
    .kink = choose_kink,
};
