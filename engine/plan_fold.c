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
 *
 * Two more under PLAN_FUSE_ALL, where a product is accumulated: the
 * gather G the product is added into runs inside the product's
 * instruction (fold_gather), and an activation written elsewhere than
 * its input (Elman's h_t, a row of the stack of states) takes the
 * product's instruction to itself (fold_out). A step of Elman's forward
 * is then one instruction instead of three, and so is a step of its
 * backward (fold_back: da_{t+1} W, the output's share added, tanh's
 * gradient).
 */
#include <stdlib.h>

#include "engine/plan_int.h"
#include "ops/ops.h"

/* The product whose instruction writes x last, or -1: x itself (or what
 * x runs as: a gather's sum, fold_gather), the product accumulated into
 * it, or (x folded) the one that computes it. */
static int32_t last_product(const plan *p, const plan_needs *n, const plan_decisions *d, int32_t x)
{
    while (d->role[x] == RW_FOLDED)
        x = d->alias_of[x];
    const gnode *xn = plan_node(p, n->g, plan_runs_as(d, x));
    if (xn->op == OP_MATMUL && d->role[x] == RW_NODE)
        return x;
    int32_t y = d->accum_of[x];
    return y >= 0 && n->g->nodes[y].op == OP_MATMUL ? y : -1;
}

/* A view in p->vg of global node src. */
static int32_t view_of(plan *p, const plan_needs *n, int32_t src, uerr *e)
{
    const gnode *s = plan_node(p, n->g, src);
    return plan_vleaf(p, s->shape, (dtype)s->dt, src, n, e);
}

/* Input in of node now (a global id), as an input of a new node of
 * p->vg: a vg node's inputs are vg's already; a graph node's are viewed. */
static int32_t operand(plan *p, const plan_needs *n, int32_t now, int32_t in, uerr *e)
{
    return now >= n->N ? in : view_of(p, n, in, e);
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

/* proto, pushed onto p->vg, becomes the instruction of node at, which
 * the nodes gone[0 .. ngone-1] are folded into (and then live in) */
static int take_over(plan *p, const plan_needs *n, plan_decisions *d, gnode *proto, int32_t at,
                     const int32_t *gone, int ngone, uerr *e)
{
    int32_t id = push_product(p, n, proto, e);
    if (id < 0)
        return e->code ? e->code : plan_oom(n, e);
    d->replace[at] = n->N + id;
    d->accum_of[at] = d->alias_of[at] = -1;
    for (int k = 0; k < ngone; k++) {
        d->role[gone[k]] = RW_FOLDED;
        d->alias_of[gone[k]] = at;
        p->n_folded++;
    }
    return 0;
}

/* Product prod run as a new vg node: what it runs as now, plus bias b
 * (b >= 0) or the activation act (act > 0). */
static int fold(plan *p, const plan_needs *n, plan_decisions *d, int32_t prod, int32_t b, int act,
                uerr *e)
{
    int32_t now = plan_runs_as(d, prod);
    /* a copy: the views below may move p->vg's nodes */
    const gnode pn = *plan_node(p, n->g, now);
    int vg = now >= n->N;
    gnode proto = {.op = OP_MATMUL,
                   .nin = vg ? pn.nin : 2,
                   .ip = {pn.ip[0], pn.ip[1],
                          act  ? act
                          : vg ? pn.ip[2]
                               : 0,
                          vg ? pn.ip[3] : 0},
                   .t = n->g->nodes[prod].t};
    for (int k = 0; k < proto.nin; k++)
        if ((proto.in[k] = operand(p, n, now, pn.in[k], e)) < 0)
            return e->code;
    if (b >= 0 && (proto.in[proto.nin++] = view_of(p, n, b, e)) < 0)
        return e->code;
    int32_t id = push_product(p, n, &proto, e);
    if (id < 0)
        return e->code ? e->code : plan_oom(n, e);
    d->replace[prod] = n->N + id;
    return 0;
}

/*
 * v = add(X, P) with product P added into X's buffer (plan_inplace.c), X =
 * gather(table, idx) of its own instruction and read by v alone (the
 * step's input): v's instruction becomes the product, which writes X's
 * rows and then adds itself into them (ops/matmul.c's ip[3]): the
 * arithmetic of the two instructions it replaces. X is folded into it.
 * At batch 1 the gather was a task of its own on the critical path.
 */
static int fold_gather(plan *p, const plan_needs *n, plan_decisions *d, int32_t v, uerr *e)
{
    const graph *g = n->g;
    int32_t x = d->alias_of[v], prod = d->accum_of[v];
    if (x < 0 || prod < 0 || g->nodes[x].op != OP_GATHER || g->nodes[prod].op != OP_MATMUL ||
        d->role[x] != RW_NODE || n->isout[x] || plan_linked(d, x))
        return 0;
    int32_t pnow = plan_runs_as(d, prod), xnow = plan_runs_as(d, x);
    const gnode pn = *plan_node(p, g, pnow), xn = *plan_node(p, g, xnow);
    if (pn.nin != 2 || pn.ip[2] || pn.ip[3])
        return 0;
    gnode proto = {.op = OP_MATMUL,
                   .nin = 4,
                   .ip = {pn.ip[0], pn.ip[1], 0, 1 + xn.ip[0]},
                   .t = g->nodes[prod].t};
    for (int k = 0; k < 4; k++)
        if ((proto.in[k] = k < 2 ? operand(p, n, pnow, pn.in[k], e)
                                 : operand(p, n, xnow, xn.in[k - 2], e)) < 0)
            return e->code;
    return take_over(p, n, d, &proto, v, &x, 1, e);
}

/*
 * Z = act(Y) written elsewhere than Y (Elman's h_t: a row of the stack of
 * states), where Y is a product's value (with its bias folded in), read
 * by Z alone: the product's instruction moves to Z and writes Z, the
 * activation applied (the same values: only where they are stored
 * changes), and the product's own node is folded into Z. Nothing between
 * the two reads the product's value, so running it later changes nothing.
 */
static int fold_out(plan *p, const plan_needs *n, plan_decisions *d, int32_t z, uerr *e)
{
    const graph *g = n->g;
    int32_t y = g->nodes[z].in[0], root = y;
    if (n->nread[y] != 1 || n->isout[y])
        return 0;
    while (d->role[root] == RW_FOLDED)
        root = d->alias_of[root];
    const gnode *now = plan_node(p, g, plan_runs_as(d, root));
    if (d->role[root] != RW_NODE || d->accum_of[root] >= 0 || d->alias_of[root] >= 0 ||
        n->isout[root] || plan_linked(d, root) || now->op != OP_MATMUL || now->ip[2] ||
        (root != y && n->nread[root] != 1))
        return 0;
    int rc = fold(p, n, d, root, -1, g->nodes[z].op, e);
    if (rc)
        return rc;
    d->replace[z] = d->replace[root];
    d->replace[root] = -1;
    d->role[root] = RW_FOLDED;
    d->alias_of[root] = z;
    p->n_folded++;
    return 0;
}

/*
 * D = tanh_grad(Y, S) (or sigmoid's) with S = add(P, Q) written over P
 * (plan_inplace.c), P a product read by S alone and S by D alone: a step
 * of Elman's backward, P being da_{t+1} W and Q the output's share of the
 * gradient. D's instruction becomes P added onto Q (the add's sum; the
 * product reads Q where it would read C), then the activation's gradient
 * (ops/matmul.c: MM_ADDEND, ip[2]);
 * P and S are folded into D, which they then live in. Nothing between P
 * and D reads P or S, so running P at D's place changes nothing.
 */
static int fold_back(plan *p, const plan_needs *n, plan_decisions *d, int32_t dz, uerr *e)
{
    const graph *g = n->g;
    const gnode dn = g->nodes[dz];
    int32_t y = dn.in[0], s = dn.in[1], prod = d->alias_of[s];
    const gnode *sn = &g->nodes[s];
    if (y == s || (d->alias_of[dz] >= 0 && d->alias_of[dz] != s) || sn->op != OP_ADD ||
        sn->in[0] == sn->in[1] || d->role[s] != RW_NODE || n->nread[s] != 1 || n->isout[s] ||
        d->accum_of[s] >= 0 || plan_linked(d, s) || prod < 0 || d->role[prod] != RW_NODE ||
        n->nread[prod] != 1 || n->isout[prod] || d->alias_of[prod] >= 0 || d->accum_of[prod] >= 0 ||
        plan_linked(d, prod))
        return 0;
    int32_t now = plan_runs_as(d, prod);
    const gnode pn = *plan_node(p, g, now);
    if (pn.op != OP_MATMUL || pn.nin != 2 || pn.ip[2] || pn.ip[3])
        return 0;
    int32_t src[4] = {pn.in[0], pn.in[1], sn->in[0] == prod ? sn->in[1] : sn->in[0], y};
    gnode proto = {
        .op = OP_MATMUL, .nin = 4, .ip = {pn.ip[0], pn.ip[1], dn.op, MM_ADDEND}, .t = dn.t};
    for (int k = 0; k < 4; k++)
        if ((proto.in[k] = k < 2 ? operand(p, n, now, src[k], e) : view_of(p, n, src[k], e)) < 0)
            return e->code;
    int32_t gone[2] = {prod, s};
    return take_over(p, n, d, &proto, dz, gone, 2, e);
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
int32_t plan_group_bias(const plan_needs *n, const plan_decisions *d, const plan *p,
                        const rw_group *gr, const int32_t *reader)
{
    const gnode *pn = &p->vg.nodes[gr->vop];
    if (n->no_folds || pn->nin > 2 || pn->op != OP_MATMUL)
        return -1;
    int32_t b = -1;
    for (int32_t k = 0; k < gr->n; k++) {
        int32_t m = d->members[gr->first + k], y = m < n->N ? reader[m] : -1;
        int32_t c = y < 0 ? -1 : bias_of(n->g, y, m);
        if (c < 0 || (b >= 0 && c != b) || d->role[y] != RW_NODE || d->alias_of[y] >= 0 ||
            d->accum_of[y] >= 0 || plan_linked(d, y))
            return -1;
        b = c;
    }
    return b;
}

int32_t *plan_readers(const plan_needs *n)
{
    const graph *g = n->g;
    int32_t *reader = malloc((size_t)n->N * sizeof *reader);
    if (!reader)
        return NULL;
    for (int32_t v = 0; v < n->N; v++)
        reader[v] = -1;
    for (int32_t v = 0; v < n->N; v++)
        for (int k = 0; n->need[v] == RW_COMPUTED && k < g->nodes[v].nin; k++)
            if (n->nread[g->nodes[v].in[k]] == 1 && !n->isout[g->nodes[v].in[k]])
                reader[g->nodes[v].in[k]] = v;
    return reader;
}

static int fold_group(const plan_needs *n, plan_decisions *d, plan *p, rw_group *gr,
                      const int32_t *reader, uerr *e)
{
    int32_t b = plan_group_bias(n, d, p, gr, reader);
    if (b < 0)
        return 0;
    const gnode pn = p->vg.nodes[gr->vop];
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
    if (n->no_folds)
        return 0;
    int32_t *reader = plan_readers(n);
    if (!reader)
        return plan_oom(n, e);
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
        int32_t y = d->unit_node[u];
        if (d->role[y] == RW_NODE && (rc = fold_gather(p, n, d, y, e)))
            return rc;
        int op = g->nodes[y].op, act = op == OP_TANH || op == OP_SIGMOID ? op : 0;
        if ((op == OP_TANH_GRAD || op == OP_SIGMOID_GRAD) && d->role[y] == RW_NODE &&
            (rc = fold_back(p, n, d, y, e)))
            return rc;
        int32_t x = d->alias_of[y];
        if (act && d->role[y] == RW_NODE && x < 0 && d->accum_of[y] < 0 &&
            (rc = fold_out(p, n, d, y, e)))
            return rc;
        if (d->role[y] != RW_NODE || x < 0 || d->accum_of[y] >= 0)
            continue;
        int32_t b = act ? -1 : bias_of(g, y, x);
        int32_t prod = act || b >= 0 ? last_product(p, n, d, x) : -1;
        /* one bias, then an activation, which ends what a product does */
        const gnode *now =
            prod >= 0 && d->replace[prod] >= n->N ? plan_node(p, g, d->replace[prod]) : NULL;
        if (prod < 0 || (now && (now->ip[2] || (b >= 0 && op_matmul_bias_input(now) >= 0))))
            continue;
        if ((rc = fold(p, n, d, prod, b, act, e)))
            return rc;
        d->role[y] = RW_FOLDED;
        p->n_folded++;
    }
    return 0;
}
