/*
 * plan_inplace.c - the in place and accumulate rewrites (PLAN_FUSE_EXACT
 * and ALL); see plan.h. Over the scheduled nodes, in program order:
 * d->alias_of (a node written over an input it is the only reader of) and
 * d->accum_of (an add whose term is added straight into it; the term's
 * role becomes RW_GONE). Nothing stacked takes part.
 *
 * Invariant: both keep every value's arithmetic; only an accumulated
 * product or pad (PLAN_FUSE_ALL only) rounds differently.
 */
#include "engine/plan_int.h"
#include "ops/ops.h"

static int is_leaf(const graph *g, int32_t v)
{
    return g->nodes[v].op == OP_INPUT;
}

static int64_t numel_of(const gnode *n)
{
    return shape_numel(&n->shape);
}

/* x can be overwritten by v: computed by an instruction of its own, read
 * by v alone, not an output, not in a stack, of v's size and type. */
static int can_base(const plan_needs *n, const plan_decisions *d, int32_t x, int32_t v)
{
    const graph *g = n->g;
    const gnode *xn = &g->nodes[x], *vn = &g->nodes[v];
    return !is_leaf(g, x) && d->role[x] == RW_NODE && n->nread[x] == 1 && !n->isout[x] &&
           !plan_linked(d, x) && !plan_linked(d, v) && xn->dt == vn->dt &&
           numel_of(xn) == numel_of(vn);
}

/* y can be added straight into its reader v instead of being stored. */
static int can_accum(const plan_needs *n, const plan_decisions *d, int32_t y, int32_t v)
{
    const graph *g = n->g;
    const gnode *yn = &g->nodes[y];
    if (is_leaf(g, y) || !op_accumulate_fn(yn->op) || d->role[y] != RW_NODE || n->nread[y] != 1 ||
        n->isout[y] || plan_linked(d, y) || !shape_equal(&yn->shape, &g->nodes[v].shape))
        return 0;
    /* BLAS adds a product into its output one block of K at a time: not
     * the rounding of the product added once. A pad adds only its own
     * columns: the sum would have added +0 to the others, which turns a
     * -0.0 into +0.0 */
    return (yn->op != OP_MATMUL && yn->op != OP_PAD) || n->fuse == PLAN_FUSE_ALL;
}

void plan_in_place(const plan_needs *n, plan_decisions *d, plan *p)
{
    const graph *g = n->g;
    for (int32_t i = 0; i < d->nunits; i++) {
        int32_t u = d->order[i];
        if (d->unit_kind[u] != RW_UNIT_NODE)
            continue;
        int32_t v = d->unit_node[u];
        if (d->role[v] != RW_NODE || plan_linked(d, v))
            continue;
        const gnode *nd = &g->nodes[v];
        if (nd->op == OP_ADD && nd->in[0] != nd->in[1]) {
            int32_t a = nd->in[0], b = nd->in[1];
            /* add is commutative in IEEE arithmetic: either input can be
             * the one overwritten. A product is the better term: BLAS adds
             * it into the buffer in the same pass that computes it. */
            int first = g->nodes[a].op == OP_MATMUL ? 1 : 0;
            for (int k = 0; k < 2; k++) {
                int side = k ? !first : first;
                int32_t base = side ? b : a, term = side ? a : b;
                if (can_base(n, d, base, v) && can_accum(n, d, term, v)) {
                    d->alias_of[v] = base;
                    d->accum_of[v] = term;
                    d->role[term] = RW_GONE;
                    p->n_accum++;
                    p->n_inplace++;
                    break;
                }
            }
            if (d->accum_of[v] >= 0)
                continue;
        }
        if (!(op_table[nd->op]->flags & OPF_INPLACE))
            continue;
        for (int k = 0; k < nd->nin; k++)
            if (can_base(n, d, nd->in[k], v)) {
                d->alias_of[v] = nd->in[k];
                p->n_inplace++;
                break;
            }
    }
}
