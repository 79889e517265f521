/*
 * plan_bias.c - biases folded into their products (PLAN_FUSE_EXACT and
 * ALL); see plan.h. A cell's pre-activation is a product plus a bias,
 *
 *   Y = add(X, b),  X = op(A) op(B)              (its own instruction), or
 *                   X = add(G, op(A) op(B))      (the product accumulated
 *                                                 into G: the input's gather)
 *
 * and with Y written over X (in place, plan_inplace.c) and b a leaf row
 * vector, the product's instruction can add b itself: the product node is
 * run as a product with b as a third input (ops/matmul.c), whose kernels
 * add b[j] to each element of C as they store it (kernels/gemm.h,
 * smallmm.h). That is the add Y would have done, on the same value and
 * rounded the same way, so the bits do not change (`exact` stays equal to
 * `none`); what goes is a pass over the step's rows, made while C is in
 * registers instead of read back, and an instruction per gate per step.
 *
 * Decides d->replace of the product (a product in p->vg: views of its
 * operands, or of the W^T copy's product, and of b) and role RW_FOLDED for
 * Y: no instruction computes Y, and it lives in X's buffer (its alias_of).
 */
#include "engine/plan_int.h"
#include "ops/ops.h"

/* The product whose instruction writes x last, or -1: x itself, or the
 * product accumulated into it. */
static int32_t last_product(const graph *g, const plan_decisions *d, int32_t x)
{
    const gnode *xn = &g->nodes[x];
    if (xn->op == OP_MATMUL && d->role[x] == RW_NODE && xn->nin == 2)
        return x;
    int32_t y = d->accum_of[x];
    return y >= 0 && g->nodes[y].op == OP_MATMUL && g->nodes[y].nin == 2 ? y : -1;
}

/* A view in p->vg of global node src (a leaf or a computed node). */
static int32_t view_of(plan *p, const plan_needs *n, int32_t src, uerr *e)
{
    const gnode *s = plan_node(p, n->g, src);
    return plan_vleaf(p, s->shape, (dtype)s->dt, src, n, e);
}

/* Product prod run with bias b as vg node N + id: its inputs those of what
 * it runs as now (the W^T copy's product) or views of its own. */
static int fold(plan *p, const plan_needs *n, plan_decisions *d, int32_t prod, int32_t b, uerr *e)
{
    int32_t now = d->replace[prod] >= 0 ? d->replace[prod] : prod;
    /* a copy: the views below may move p->vg's nodes */
    const gnode pn = *plan_node(p, n->g, now);
    int32_t in0 = now >= n->N ? pn.in[0] : view_of(p, n, pn.in[0], e);
    int32_t in1 = in0 < 0 ? -1 : now >= n->N ? pn.in[1] : view_of(p, n, pn.in[1], e);
    int32_t bias = in1 < 0 ? -1 : view_of(p, n, b, e);
    if (bias < 0)
        return e->code ? e->code : plan_oom(n, e);
    gnode proto = {.op = OP_MATMUL,
                   .nin = 3,
                   .in = {in0, in1, bias},
                   .ip = {pn.ip[0], pn.ip[1]},
                   .t = n->g->nodes[prod].t};
    int32_t id;
    if (op_table[OP_MATMUL]->infer(&p->vg, &proto, e) || graph_push(&p->vg, &proto, NULL, &id, e) ||
        plan_vnode(p, id, -1, n, e))
        return e->code ? e->code : plan_oom(n, e);
    d->replace[prod] = n->N + id;
    return 0;
}

int plan_fold_biases(const plan_needs *n, plan_decisions *d, plan *p, uerr *e)
{
    const graph *g = n->g;
    for (int32_t i = 0; i < d->nunits; i++) {
        int32_t u = d->order[i];
        if (d->unit_kind[u] != RW_UNIT_NODE)
            continue;
        int32_t y = d->unit_node[u], x = d->alias_of[y];
        const gnode *yn = &g->nodes[y];
        if (yn->op != OP_ADD || d->role[y] != RW_NODE || x < 0 || d->accum_of[y] >= 0 ||
            yn->in[0] == yn->in[1])
            continue;
        int32_t b = yn->in[0] == x ? yn->in[1] : yn->in[0];
        const gnode *xn = &g->nodes[x], *bn = &g->nodes[b];
        if (bn->op != OP_INPUT || bn->shape.rank != 1 || xn->shape.rank != 2 ||
            bn->shape.dim[0] != xn->shape.dim[1] || !shape_equal(&xn->shape, &yn->shape))
            continue;
        int32_t prod = last_product(g, d, x);
        if (prod < 0)
            continue;
        int rc = fold(p, n, d, prod, b, e);
        if (rc)
            return rc;
        d->role[y] = RW_FOLDED;
        p->n_folded++;
    }
    return 0;
}
