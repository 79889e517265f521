/*
 * plan_fold.c - what follows a product folded into its instruction
 * (PLAN_FUSE_EXACT and ALL); see plan.h. A cell's gate is a product, a
 * bias and an activation,
 *
 *   X = op(A) op(B)            (an instruction of its own), or
 *   X = add(G, op(A) op(B))    (the product accumulated into G: the gather
 *                               of the step's input);
 *   Y = add(X, b)              b a bias vector (a leaf);
 *   Z = tanh(Y) or sigmoid(Y),
 *
 * each written over the one before (in place, plan_inplace.c). The
 * product's instruction then does it all: it runs as a product in p->vg
 * with b as a third input, which the kernels add to each element of C as
 * they store it (kernels/gemm.h, smallmm.h), and the activation in ip[2],
 * which ops/matmul.c applies to C before it returns, while C is in the
 * cache. The values are those of the nodes, computed by the same
 * arithmetic in the same order, so the bits do not change (`exact` stays
 * equal to `none`); what goes is a pass over the step's rows and an
 * instruction for each of Y and Z, per gate per step.
 *
 * Decides d->replace of the product (a new node of p->vg: views of its
 * operands, or the operands of what it ran as, the W^T copy's product)
 * and role RW_FOLDED for Y and Z: no instruction computes them, and they
 * live in X's buffer (alias_of leads there). A stacked product's bias
 * (fold_group) goes into the group's product instead.
 */
#include <stdlib.h>

#include "engine/plan_int.h"
#include "ops/ops.h"

/* The product whose instruction writes x last, or -1: x itself, the
 * product accumulated into it, or (x folded) the one that computes it. */
static int32_t last_product(const graph *g, const plan_decisions *d, int32_t x)
{
    while (d->role[x] == RW_FOLDED)
        x = d->alias_of[x];
    const gnode *xn = &g->nodes[x];
    if (xn->op == OP_MATMUL && d->role[x] == RW_NODE)
        return x;
    int32_t y = d->accum_of[x];
    return y >= 0 && g->nodes[y].op == OP_MATMUL ? y : -1;
}

/* A view in p->vg of global node src. */
static int32_t view_of(plan *p, const plan_needs *n, int32_t src, uerr *e)
{
    const gnode *s = plan_node(p, n->g, src);
    return plan_vleaf(p, s->shape, (dtype)s->dt, src, n, e);
}

/* proto pushed onto p->vg as a product of its own: its id, or -1 */
static int32_t push_product(plan *p, const plan_needs *n, gnode *proto, uerr *e)
{
    int32_t id;
    if (op_table[OP_MATMUL]->infer(&p->vg, proto, e) || graph_push(&p->vg, proto, NULL, &id, e) ||
        plan_vnode(p, id, -1, n, e))
        return -1;
    return id;
}

/* Product prod run as a new vg node: what it runs as now, plus bias b
 * (b >= 0) or the activation act (act > 0). */
static int fold(plan *p, const plan_needs *n, plan_decisions *d, int32_t prod, int32_t b, int act,
                uerr *e)
{
    int32_t now = d->replace[prod] >= 0 ? d->replace[prod] : prod;
    /* a copy: the views below may move p->vg's nodes */
    const gnode pn = *plan_node(p, n->g, now);
    int vg = now >= n->N;
    gnode proto = {.op = OP_MATMUL,
                   .nin = pn.nin,
                   .in = {pn.in[0], pn.in[1], pn.in[2]},
                   .ip = {pn.ip[0], pn.ip[1],
                          act  ? act
                          : vg ? pn.ip[2]
                               : 0},
                   .t = n->g->nodes[prod].t};
    for (int k = 0; !vg && k < 2; k++)
        if ((proto.in[k] = view_of(p, n, pn.in[k], e)) < 0)
            return e->code;
    if (b >= 0) {
        proto.nin = 3;
        if ((proto.in[2] = view_of(p, n, b, e)) < 0)
            return e->code;
    }
    int32_t id = push_product(p, n, &proto, e);
    if (id < 0)
        return e->code ? e->code : plan_oom(n, e);
    d->replace[prod] = n->N + id;
    return 0;
}

/* The bias y adds, written over a product's value x: b, or -1. */
static int32_t bias_of(const graph *g, int32_t y, int32_t x)
{
    const gnode *yn = &g->nodes[y], *xn = &g->nodes[x];
    if (yn->op != OP_ADD || yn->nin != 2 || yn->in[0] == yn->in[1])
        return -1;
    int32_t b = yn->in[0] == x ? yn->in[1] : yn->in[0];
    const gnode *bn = &g->nodes[b];
    return bn->op == OP_INPUT && bn->shape.rank == 1 && xn->shape.rank == 2 &&
                   bn->shape.dim[0] == xn->shape.dim[1] && shape_equal(&xn->shape, &yn->shape)
               ? b
               : -1;
}

/*
 * A stacked product's bias: the output projection of all steps, one
 * product (plan_stack.c), each step's rows read only by add(O_t, c) with
 * the same c. The product adds c as it stores, and each add's value is
 * its step's rows of the stack (the loss reads the logits there).
 */
static int fold_group(const plan_needs *n, plan_decisions *d, plan *p, rw_group *gr,
                      const int32_t *reader, uerr *e)
{
    const graph *g = n->g;
    int32_t b = -1;
    for (int32_t k = 0; k < gr->n; k++) {
        int32_t m = d->members[gr->first + k], y = m < n->N ? reader[m] : -1;
        int32_t c = y < 0 ? -1 : bias_of(g, y, m);
        if (c < 0 || (b >= 0 && c != b) || d->role[y] != RW_NODE || d->alias_of[y] >= 0 ||
            d->accum_of[y] >= 0 || plan_linked(d, y))
            return 0;
        b = c;
    }
    const gnode pn = p->vg.nodes[gr->vop];
    if (b < 0 || pn.nin > 2 || pn.op != OP_MATMUL)
        return 0;
    gnode proto = pn;
    proto.nin = 3;
    int32_t id = (proto.in[2] = view_of(p, n, b, e)) < 0 ? -1 : push_product(p, n, &proto, e);
    if (id < 0)
        return e->code ? e->code : plan_oom(n, e);
    gr->vop = id;
    for (int32_t k = 0; k < gr->n; k++) {
        int32_t m = d->members[gr->first + k];
        d->alias_of[reader[m]] = m;
        d->role[reader[m]] = RW_FOLDED;
        p->n_folded++;
    }
    return 0;
}

int plan_fold(const plan_needs *n, plan_decisions *d, plan *p, uerr *e)
{
    const graph *g = n->g;
    /* each node's only reader, if it has one */
    int32_t *reader = malloc((size_t)n->N * sizeof *reader);
    if (!reader)
        return plan_oom(n, e);
    for (int32_t v = 0; v < n->N; v++)
        reader[v] = -1;
    for (int32_t v = 0; v < n->N; v++)
        for (int k = 0; n->need[v] == RW_COMPUTED && k < g->nodes[v].nin; k++)
            if (n->nread[g->nodes[v].in[k]] == 1 && !n->isout[g->nodes[v].in[k]])
                reader[g->nodes[v].in[k]] = v;
    int rc = 0;
    for (int32_t k = 0; !rc && k < d->ngroups; k++)
        rc = fold_group(n, d, p, &d->groups[k], reader, e);
    free(reader);
    if (rc)
        return rc;
    for (int32_t i = 0; i < d->nunits; i++) {
        int32_t u = d->order[i];
        if (d->unit_kind[u] != RW_UNIT_NODE)
            continue;
        int32_t y = d->unit_node[u], x = d->alias_of[y];
        if (d->role[y] != RW_NODE || x < 0 || d->accum_of[y] >= 0)
            continue;
        int op = g->nodes[y].op, act = op == OP_TANH || op == OP_SIGMOID ? op : 0;
        int32_t b = act ? -1 : bias_of(g, y, x);
        int32_t prod = act || b >= 0 ? last_product(g, d, x) : -1;
        /* one bias, then an activation, which ends what a product does */
        const gnode *now =
            prod >= 0 && d->replace[prod] >= n->N ? plan_node(p, g, d->replace[prod]) : NULL;
        if (prod < 0 || (now && (now->ip[2] || (b >= 0 && now->nin > 2))))
            continue;
        if ((rc = fold(p, n, d, prod, b, act, e)))
            return rc;
        d->role[y] = RW_FOLDED;
        p->n_folded++;
    }
    return 0;
}
