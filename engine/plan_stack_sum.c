/*
 * plan_stack_sum.c - sums over steps (PLAN_FUSE_ALL): build_grad's sum
 * over time of per-step row sums sum(G_t) (a bias's gradient) or of
 * per-step scatters scatter(G_t, x_t) (an input weight's, through one-hot
 * inputs) runs as ONE op_sum_steps / op_scatter_steps over the steps'
 * rows stacked in memory, which the kernels split by hidden unit among
 * their threads. Before, such a chain ran as T instructions on one thread
 * after the backward recurrence.
 *
 * Below a row run's rows (a batch under 16) a long chain is cut into
 * chunks of steps for the two lanes (stk_chunk_steps): the first chunk's
 * op writes, the next ones go on with the chain (their accumulating
 * kernels add each step in turn), so the additions stay the same.
 *
 * Invariant: the bits are those of the chain replaced. build_grad's chain
 * (engine/grad_sum.h) is add(add(s_0, s_1), s_2)...: each element is
 * s_0 + s_1 + ... left to right, each s_i one step's rows summed from 0
 * in row order (a scatter: the rows of one index). The op takes the steps
 * in exactly that order and sums each step's rows as the per-step kernel
 * does, so only which thread computes which element changes. The G_t are
 * usually linked in time order already (the stacked weight gradients read
 * them so), while the chain runs from the last step down: the op then
 * reads the stacked steps last to first.
 */
#include <stdlib.h>

#include "base/vec.h"
#include "engine/grad_sum.h"
#include "engine/plan_stack_int.h"
#include "ops/ops.h"

/* y can stand in a chain whose last term is t0: a row sum (or a scatter
 * into as many columns, or a loss over as many classes) of a matrix of
 * t0's shape, read by its add alone */
static int term_ok(const stk *c, int32_t y, int32_t t0)
{
    const graph *g = c->n->g;
    const gnode *tn = &g->nodes[y], *f = &g->nodes[t0];
    if (tn->op != f->op ||
        (tn->op != OP_SUM && tn->op != OP_SCATTER && tn->op != OP_SOFTMAX_XENT) || tn->ip[1] ||
        c->n->nread[y] != 1 || c->n->isout[y] || c->d->role[y] != RW_NODE)
        return 0;
    const gnode *x = &g->nodes[tn->in[0]];
    if (x->shape.rank != 2 || !shape_equal(&x->shape, &g->nodes[f->in[0]].shape))
        return 0;
    if (tn->op == OP_SOFTMAX_XENT)
        return !stk_lanes_rows(x->shape.dim[0]);
    return tn->op == OP_SUM ? tn->ip[0] == 0 && tn->shape.rank == 1 : tn->ip[0] == f->ip[0];
}

/* Scratch of one search, each array [N + 1]. */
typedef struct chain {
    int32_t *adds, *terms, na, nt;
    int32_t *g, *x; /* the terms' matrices and indices, as stack members */
} chain;

/* The adds from top down and their terms, last term first (the first
 * term is the innermost add's partial sum). 0 when every term is one
 * term_ok accepts and there are two at least. */
static int walk(const stk *c, const uint8_t *inner, int32_t top, chain *ch)
{
    const graph *g = c->n->g;
    ch->na = ch->nt = 0;
    int32_t cur = top;
    while (cur >= 0) {
        const gnode *nd = &g->nodes[cur];
        ch->adds[ch->na++] = cur;
        ch->terms[ch->nt++] = nd->in[GRAD_SUM_TERM];
        int32_t a = nd->in[GRAD_SUM_PARTIAL];
        cur = inner[a] ? a : -1;
        if (cur < 0)
            ch->terms[ch->nt++] = a;
    }
    for (int32_t i = 0; i < ch->nt; i++)
        if (!term_ok(c, ch->terms[i], ch->terms[0]))
            return 1;
    return 0;
}

static void reverse(int32_t *a, int32_t n)
{
    for (int32_t i = 0, j = n - 1; i < j; i++, j--) {
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The group whose members include m, or NULL. */
static const rw_group *group_of(const plan_decisions *d, int32_t m)
{
    for (int32_t k = 0; k < d->ngroups; k++)
        for (int32_t i = 0; i < d->groups[k].n; i++)
            if (d->members[d->groups[k].first + i] == m)
                return &d->groups[k];
    return NULL;
}

/* The rows each loss of ch reads, into ch->g: its logits, or, where
 * plan_fold is to add the output projection's bias in its stacked product
 * (plan_group_bias: every step's rows O_t read alone by add(O_t, c)), the
 * product's rows O_t, whose stack then holds the logits. Linking the adds
 * would keep that fold from happening: it folds only adds not linked.
 * mark: N zeros, left so. */
static void loss_rows(const stk *c, const int32_t *reader, uint8_t *mark, chain *ch)
{
    const graph *g = c->n->g;
    const plan_decisions *d = c->d;
    for (int32_t i = 0; i < ch->nt; i++)
        ch->g[i] = g->nodes[ch->terms[i]].in[0];
    int32_t m0 = -1;
    for (int k = 0; k < 2 && m0 < 0; k++) {
        int32_t a = g->nodes[ch->g[0]].in[k];
        m0 = g->nodes[ch->g[0]].op == OP_ADD && d->role[a] == RW_GROUPED ? a : -1;
    }
    const rw_group *gr = m0 < 0 ? NULL : group_of(d, m0);
    if (!gr || gr->n != ch->nt || plan_group_bias(c->n, d, c->p, gr, reader) < 0)
        return;
    for (int32_t k = 0; k < gr->n; k++)
        mark[d->members[gr->first + k]] = 1;
    /* each step's member into ch->x (written over when linking) */
    int all = 1;
    for (int32_t i = 0; i < ch->nt && all; i++) {
        const gnode *y = &g->nodes[ch->g[i]];
        int32_t m = mark[y->in[0]] && reader[y->in[0]] == ch->g[i] ? y->in[0] : y->in[1];
        all = mark[m] && reader[m] == ch->g[i];
        ch->x[i] = m;
    }
    for (int32_t k = 0; k < gr->n; k++)
        mark[d->members[gr->first + k]] = 0;
    for (int32_t i = 0; i < ch->nt && all; i++)
        ch->g[i] = ch->x[i];
}

/* Links the terms' matrices (and indices) in memory, last term first
 * (the order the walk found them in: the op then reads the steps from the
 * last in memory) or else first term first; a loss's the other way
 * round. 0 and *rev set when linked, 1 when neither order can be, -1 on
 * an error. */
static int link_terms(stk *c, links *L, const int32_t *reader, uint8_t *mark, chain *ch, int *rev,
                      uerr *e)
{
    const graph *g = c->n->g;
    /* a scatter's indices, a loss's targets */
    int scatter = g->nodes[ch->terms[0]].op != OP_SUM;
    if (g->nodes[ch->terms[0]].op == OP_SOFTMAX_XENT)
        loss_rows(c, reader, mark, ch);
    else
        for (int32_t i = 0; i < ch->nt; i++)
            ch->g[i] = g->nodes[ch->terms[i]].in[0];
    for (int32_t i = 0; i < ch->nt; i++) {
        const gnode *tn = &g->nodes[ch->terms[i]];
        ch->g[i] = stk_member(c, L, ch->g[i], e);
        ch->x[i] = scatter ? stk_member(c, L, tn->in[1], e) : 0;
        if (ch->g[i] < 0 || ch->x[i] < 0)
            return e->code ? -1 : 1;
    }
    int32_t *seqs[2] = {ch->g, ch->x}, lens[2] = {ch->nt, ch->nt};
    /* a loss's logits first step first where they can be: so lies the
     * softmax's gradient, which the output weight's stacked gradient
     * reads beside the states, and the plan writes it over them
     * (plan_over.c) */
    int loss = g->nodes[ch->terms[0]].op == OP_SOFTMAX_XENT;
    for (int k = 0; k < 2; k++) {
        if (k || loss) {
            reverse(ch->g, ch->nt);
            reverse(ch->x, ch->nt);
        }
        int r = stk_try_links(c, L, seqs, lens, 1 + scatter, e);
        if (r <= 0) {
            *rev = (k == 0) != loss;
            return r;
        }
    }
    return 1;
}

/* One sum over steps of the chain's terms at memory indices m0 ..
 * m0+n-1, read in the chain's order (rev: the last in memory first): the
 * op's vg id, or -1 with e set. */
static int32_t chain_op(stk *c, links *L, const chain *ch, int32_t m0, int32_t n, int rev, uerr *e)
{
    const graph *g = c->n->g;
    plan *p = c->p;
    const gnode *t0 = &g->nodes[ch->terms[0]], *x0 = &g->nodes[t0->in[0]];
    int64_t R = x0->shape.dim[0];
    int32_t gv = stk_vleaf(c, L, shape_2(R * n, x0->shape.dim[1]), (dtype)x0->dt, ch->g[m0], e);
    int32_t vop = -1;
    if (gv >= 0 && t0->op == OP_SUM) {
        vop = op_sum_steps(&p->vg, gv, R, rev, e);
    } else if (gv >= 0) {
        int32_t iv = stk_vleaf(c, L, shape_1(R * n), DT_I32, ch->x[m0], e);
        vop = iv < 0                      ? -1
              : t0->op == OP_SOFTMAX_XENT ? op_xent_steps(&p->vg, gv, iv, R, rev, e)
                                          : op_scatter_steps(&p->vg, gv, iv, t0->ip[0], R, rev, e);
    }
    if (vop < 0 || plan_vnode(p, vop, -1, c->n, e) || stk_cover(c, L, e))
        return e->code ? -1 : (plan_oom(c->n, e), -1);
    return vop;
}

/* The chain as sums over steps into top's buffer: an rw_stack whose
 * product is one op, or (below a row run's rows, stk_chunk_steps) ops
 * over chunks of steps in the chain's order, the first writing and the
 * next going on with the chain: the same additions in the same order. */
static int stack_chain(stk *c, links *L, int32_t top, const chain *ch, int rev, uerr *e)
{
    const graph *g = c->n->g;
    const gnode *x0 = &g->nodes[g->nodes[ch->terms[0]].in[0]];
    int32_t spc = stk_chunk_steps(x0->shape.dim[0], ch->nt), chunk0 = c->d->nchunk_vop, vop = -1;
    for (int32_t i0 = 0; i0 < ch->nt; i0 += spc) {
        int32_t i1 = i0 + spc < ch->nt ? i0 + spc : ch->nt;
        /* chain position i is at memory index nt - 1 - i when rev */
        vop = chain_op(c, L, ch, rev ? ch->nt - i1 : i0, i1 - i0, rev, e);
        if (vop < 0)
            return e->code;
        if (spc < ch->nt && VEC_GROW(c->d->chunk_vop, c->chunks_cap, c->d->nchunk_vop + 1))
            return plan_oom(c->n, e);
        if (spc < ch->nt)
            c->d->chunk_vop[c->d->nchunk_vop++] = vop;
    }
    if (VEC_GROW(c->d->stacks, c->stacks_cap, c->d->nstacks + 1))
        return plan_oom(c->n, e);
    c->d->stacks[c->d->nstacks++] = (rw_stack){.vop = vop,
                                               .top = top,
                                               .first = (int32_t)c->nmembers,
                                               .n = ch->na + ch->nt,
                                               .nadds = ch->na,
                                               .nleft = 0,
                                               .chunk0 = chunk0,
                                               .nchunk = c->d->nchunk_vop - chunk0};
    int rc = stk_push_members(c, ch->adds, ch->na, e);
    if (!rc)
        rc = stk_push_members(c, ch->terms, ch->nt, e);
    for (int32_t i = 0; !rc && i < ch->na; i++)
        c->d->role[ch->adds[i]] = RW_STACKED;
    for (int32_t i = 0; !rc && i < ch->nt; i++)
        c->d->role[ch->terms[i]] = RW_STACKED;
    c->p->n_step_sums += !rc;
    return rc;
}

int plan_stack_steps(stk *c, links *L, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N;
    size_t sz = (size_t)N + 1;
    uint8_t *inner = calloc(sz, 1), *mark = calloc(sz, 1);
    int32_t *reader = plan_readers(c->n);
    chain ch = {malloc(sz * sizeof(int32_t)), malloc(sz * sizeof(int32_t)), 0, 0,
                malloc(sz * sizeof(int32_t)), malloc(sz * sizeof(int32_t))};
    int rc = 0;
    if (!inner || !mark || !reader || !ch.adds || !ch.terms || !ch.g || !ch.x) {
        rc = plan_oom(c->n, e);
        goto out;
    }
    /* an add that continues into another, read by it alone, is no top */
    for (int32_t r = 0; r < N; r++) {
        int32_t a = g->nodes[r].in[GRAD_SUM_PARTIAL];
        if (c->n->need[r] && stk_same_add(g, r) && stk_same_add(g, a) && c->n->nread[a] == 1 &&
            !c->n->isout[a])
            inner[a] = 1;
    }
    for (int32_t top = 0; top < N && !rc; top++) {
        if (!c->n->need[top] || inner[top] || !stk_same_add(g, top) || c->d->role[top] != RW_NODE ||
            walk(c, inner, top, &ch))
            continue;
        int rev = 0;
        int r = link_terms(c, L, reader, mark, &ch, &rev, e);
        if (r < 0)
            rc = e->code;
        else if (r == 0)
            rc = stack_chain(c, L, top, &ch, rev, e);
    }
out:
    free(inner);
    free(mark);
    free(reader);
    free(ch.adds);
    free(ch.terms);
    free(ch.g);
    free(ch.x);
    return rc;
}
