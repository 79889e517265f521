/*
 * plan_stack.c - stacking (PLAN_FUSE_ALL): sums over time of products run
 * as one product over stacked rows, and row groups (T products sharing one
 * matrix run as one); see plan.h for what they change and plan_int.h for
 * the decisions they record.
 *
 * Invariants: stacked operands must lie next to each other in memory, so
 * every decision is a set of links (next/prev over global ids) that is
 * taken whole or not at all (try_links); the links never form a cycle
 * and a node has at most one neighbour on each side. The sums recognised
 * are build_grad's (engine/grad_sum.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/grad_sum.h"
#include "engine/plan_int.h"
#include "engine/plan_stack_int.h"
#include "kernels/cpu.h"
#include "ops/ops.h"

static int oom(const stk *c, uerr *e)
{
    return plan_oom(c->n, e);
}

static int is_leaf(const graph *g, int32_t v)
{
    return g->nodes[v].op == OP_INPUT;
}

static int64_t numel_of(const gnode *n)
{
    return shape_numel(&n->shape);
}

/* ---- links between nodes that must be adjacent ---------------------------- */

static int links_grow(stk *c, links *L, uerr *e)
{
    int32_t need = c->n->N + c->p->vg.n;
    if (need <= c->d->nlinks)
        return 0;
    /* four arrays of one capacity; the first sizing leaves room for 64
     * new nodes, as stacking adds a few */
    int32_t ncap =
        (int32_t)vec_next_cap((size_t)c->d->nlinks, (size_t)need + (c->d->nlinks ? 0 : 64));
    if (vec_realloc(&c->d->next, (size_t)ncap, sizeof *c->d->next) ||
        vec_realloc(&c->d->prev, (size_t)ncap, sizeof *c->d->prev) ||
        vec_realloc(&L->parent, (size_t)ncap, sizeof *L->parent) ||
        vec_realloc(&L->size, (size_t)ncap, sizeof *L->size))
        return oom(c, e);
    for (int32_t i = c->d->nlinks; i < ncap; i++) {
        c->d->next[i] = c->d->prev[i] = -1;
        L->parent[i] = i;
        L->size[i] = 1;
    }
    c->d->nlinks = ncap;
    return 0;
}

static int32_t uf_find(const links *L, int32_t x)
{
    while (L->parent[x] != x)
        x = L->parent[x];
    return x;
}

static int logged_set(links *L, int32_t *arr, int32_t idx, int32_t v)
{
    if (VEC_GROW(L->log, L->logcap, L->nlog + 1))
        return -1;
    L->log[L->nlog++] = (struct undo){arr, idx, arr[idx]};
    arr[idx] = v;
    return 0;
}

static void links_undo(links *L, int64_t mark)
{
    while (L->nlog > mark) {
        struct undo *u = &L->log[--L->nlog];
        u->arr[u->idx] = u->old;
    }
}

static size_t gid_bytes(const stk *c, int32_t id)
{
    const gnode *n = plan_node(c->p, c->n->g, id);
    return (size_t)numel_of(n) * dtype_size((dtype)n->dt);
}

/* Links every consecutive pair of each sequence, all or nothing: a node
 * already linked to another neighbour, a cycle or members of different
 * sizes undo everything and return 1. */
static int try_links(stk *c, links *L, int32_t *const *seq, const int32_t *len, int nseq, uerr *e)
{
    int64_t mark = L->nlog;
    for (int s = 0; s < nseq; s++) {
        size_t mb = gid_bytes(c, seq[s][0]);
        for (int32_t i = 0; i + 1 < len[s]; i++) {
            int32_t u = seq[s][i], w = seq[s][i + 1];
            if (gid_bytes(c, w) != mb)
                goto refuse;
            if (c->d->next[u] == w)
                continue;
            if (c->d->next[u] >= 0 || c->d->prev[w] >= 0)
                goto refuse;
            int32_t ru = uf_find(L, u), rv = uf_find(L, w);
            if (ru == rv)
                goto refuse;
            if (L->size[ru] < L->size[rv]) {
                int32_t t = ru;
                ru = rv;
                rv = t;
            }
            if (logged_set(L, c->d->next, u, w) || logged_set(L, c->d->prev, w, u) ||
                logged_set(L, L->parent, rv, ru) ||
                logged_set(L, L->size, ru, L->size[ru] + L->size[rv]))
                return -oom(c, e);
        }
    }
    return 0;
refuse:
    links_undo(L, mark);
    return 1;
}

/* plan_vleaf and plan_vmatmul, with links that cover the new node. */
static int32_t vleaf(stk *c, links *L, shape s, dtype dt, int32_t src, uerr *e)
{
    int32_t id = plan_vleaf(c->p, s, dt, src, c->n, e);
    return id < 0 || links_grow(c, L, e) ? -1 : id;
}

static int32_t vmatmul(stk *c, links *L, int32_t a, int32_t b, int ta, int tb, uerr *e)
{
    int32_t id = plan_vmatmul(c->p, a, b, ta, tb, c->n, e);
    return id < 0 || links_grow(c, L, e) ? -1 : id;
}

/* The member standing for x in a stack: x itself, or for a leaf (not in
 * the arena) a slot its value is copied into (int32 indices too: a
 * scatter over steps reads them stacked). Global id, or -1. */
static int32_t stackable(stk *c, links *L, int32_t x, uerr *e)
{
    if (!is_leaf(c->n->g, x))
        return x;
    if (!c->leaf_slot) {
        c->leaf_slot = malloc((size_t)c->n->N * sizeof *c->leaf_slot);
        if (!c->leaf_slot)
            return oom(c, e), -1;
        for (int32_t i = 0; i < c->n->N; i++)
            c->leaf_slot[i] = -1;
    }
    if (c->leaf_slot[x] >= 0)
        return c->n->N + c->d->slot_vnode[c->leaf_slot[x]];
    const gnode *nd = &c->n->g->nodes[x];
    int32_t v = vleaf(c, L, nd->shape, (dtype)nd->dt, -1, e);
    if (v < 0)
        return -1;
    int32_t cap = c->slot_cap; /* the two arrays grow alike */
    if (VEC_GROW(c->d->slot_leaf, cap, c->d->nslots + 1) ||
        VEC_GROW(c->d->slot_vnode, c->slot_cap, c->d->nslots + 1))
        return oom(c, e), -1;
    c->d->slot_leaf[c->d->nslots] = x;
    c->d->slot_vnode[c->d->nslots] = v;
    c->leaf_slot[x] = c->d->nslots++;
    return c->n->N + v;
}

/* out[s][i]: the member standing for input s of nodes[i], for the first
 * nslot inputs, node by node. 0 when every one can be stacked, 1 when one
 * cannot (the nodes after it are not looked at), -1 on an error. */
static int stack_inputs(stk *c, links *L, const int32_t *nodes, int32_t n, int nslot,
                        int32_t *const *out, uerr *e)
{
    for (int32_t i = 0; i < n; i++) {
        int bad = 0;
        for (int s = 0; s < nslot; s++) {
            out[s][i] = stackable(c, L, c->n->g->nodes[nodes[i]].in[s], e);
            bad |= out[s][i] < 0;
        }
        if (bad)
            return e->code ? -1 : 1;
    }
    return 0;
}

static int push_members(stk *c, const int32_t *ids, int32_t n, uerr *e)
{
    if (VEC_GROW(c->d->members, c->members_cap, c->nmembers + n))
        return oom(c, e);
    memcpy(c->d->members + c->nmembers, ids, (size_t)n * sizeof *ids);
    c->nmembers += n;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* sort key: time step (the graph's order of steps), then index */
static int64_t step_key(const graph *g, int32_t v)
{
    return ((int64_t)(g->nodes[v].t + 1) << 32) | (int64_t)(uint32_t)v;
}

static int same_add(const graph *g, int32_t v)
{
    const gnode *n = &g->nodes[v];
    return n->op == OP_ADD && shape_equal(&g->nodes[n->in[0]].shape, &n->shape) &&
           shape_equal(&g->nodes[n->in[1]].shape, &n->shape);
}

/* Stacked sums over a batch of fewer rows than a row run needs are cut
 * into chunks of steps of at least this many rows: with no row run, the
 * lanes (plan_lanes.c) run a chunk as soon as the backward has made its
 * steps, beside the rest of it, where one product over all steps waited
 * for the end. Each chunk is added to the sum in turn, the latest steps
 * first: the bits depend on the chunks, which depend on the sizes only.
 * (The sums over steps, plan_stack_sum.c, are cut the same way, and keep
 * their bits: each chunk goes on with the chain.) */
#define CHUNK_BELOW_ROWS 16
#define CHUNK_MIN_ROWS 128

int stk_lanes_rows(int64_t rows)
{
    return rows < CHUNK_BELOW_ROWS;
}

int32_t stk_chunk_steps(int64_t rows, int32_t ns)
{
    if (rows >= CHUNK_BELOW_ROWS || rows * ns < 2 * CHUNK_MIN_ROWS)
        return ns;
    return (int32_t)((CHUNK_MIN_ROWS + rows - 1) / rows);
}

/* The product [P_0; ..; P_n-1]^T [Q_0; ..; Q_n-1] over n stacked steps
 * from pseq[0], qseq[0] in p->vg, like the terms' t0 (-1, e set). */
static int32_t stacked_product(stk *c, links *L, const gnode *t0, const int32_t *pseq,
                               const int32_t *qseq, int32_t n, uerr *e)
{
    const graph *g = c->n->g;
    const gnode *P = &g->nodes[t0->in[0]], *Q = &g->nodes[t0->in[1]];
    int64_t K = P->shape.dim[0] * n;
    int32_t pv = vleaf(c, L, shape_2(K, P->shape.dim[1]), (dtype)P->dt, pseq[0], e);
    int32_t qv = pv < 0 ? -1 : vleaf(c, L, shape_2(K, Q->shape.dim[1]), (dtype)Q->dt, qseq[0], e);
    return qv < 0 ? -1 : vmatmul(c, L, pv, qv, 1, 0, e);
}

/*
 * Stacked sums. build_grad sums a shared parameter's terms left to right
 * (engine/grad_sum.h): add(add(add(t0, t1), t2), ...), each inner add
 * read only by the next.
 * When every term is a product P_i^T Q_i read by nothing else, with all P_i
 * of one shape and all Q_i of one shape, the sum is [P_0; P_1; ...]^T
 * [Q_0; Q_1; ...]: one product over the stacked rows, if the P_i can lie
 * next to each other in memory and so can the Q_i (ordered by time step).
 */
static int find_stacks(stk *c, links *L, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N;
    uint8_t *inner = calloc((size_t)N + 1, 1);
    int32_t *adds = malloc(((size_t)2 * N + 1) * sizeof *adds);
    int32_t *terms = malloc(((size_t)N + 1) * sizeof *terms);
    int64_t *key = malloc(((size_t)N + 1) * sizeof *key);
    int32_t *pseq = malloc(((size_t)N + 1) * sizeof *pseq);
    int32_t *qseq = malloc(((size_t)N + 1) * sizeof *qseq);
    int rc = 0;
    if (!inner || !adds || !terms || !key || !pseq || !qseq) {
        rc = oom(c, e);
        goto out;
    }
    for (int32_t r = 0; r < N; r++) {
        if (!c->n->need[r] || !same_add(g, r))
            continue;
        int32_t a = g->nodes[r].in[GRAD_SUM_PARTIAL];
        if (!is_leaf(g, a) && same_add(g, a) && c->n->nread[a] == 1 && !c->n->isout[a] &&
            g->nodes[a].in[GRAD_SUM_PARTIAL] != a)
            inner[a] = 1;
    }
    for (int32_t top = 0; top < N; top++) {
        if (!c->n->need[top] || inner[top] || !same_add(g, top) || c->d->role[top] != RW_NODE)
            continue;
        int32_t na = 0, nt = 0;
        for (int32_t cur = top;;) {
            adds[na++] = cur;
            terms[nt++] = g->nodes[cur].in[GRAD_SUM_TERM];
            int32_t a = g->nodes[cur].in[GRAD_SUM_PARTIAL];
            if (!inner[a]) {
                terms[nt++] = a;
                break;
            }
            cur = a;
        }
        const gnode *t0 = &g->nodes[terms[0]];
        int ok = nt >= 2;
        for (int32_t i = 0; ok && i < nt; i++) {
            int32_t y = terms[i];
            const gnode *tn = &g->nodes[y];
            ok = tn->op == OP_MATMUL && tn->ip[0] == 1 && tn->ip[1] == 0 && c->n->nread[y] == 1 &&
                 !c->n->isout[y] && c->d->role[y] == RW_NODE &&
                 shape_equal(&g->nodes[tn->in[0]].shape, &g->nodes[t0->in[0]].shape) &&
                 shape_equal(&g->nodes[tn->in[1]].shape, &g->nodes[t0->in[1]].shape);
            key[i] = step_key(g, y);
        }
        if (!ok)
            continue;
        qsort(key, (size_t)nt, sizeof *key, cmp_i64);
        for (int32_t i = 0; i < nt; i++)
            terms[i] = (int32_t)(key[i] & 0xffffffff);
        int32_t *pq[2] = {pseq, qseq};
        int r = stack_inputs(c, L, terms, nt, 2, pq, e);
        if (r < 0) {
            rc = e->code;
            goto out;
        }
        if (r > 0)
            continue;
        /* All the terms if their operands can be stacked; else without the
         * first or last step, whose operands are often shared otherwise
         * (a state's slice of h0 at t = 0, read by several products): the
         * terms left out are added into the sum one by one. */
        static const int32_t drop[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
        int32_t lo = 0, hi = 0;
        r = 1;
        for (int w = 0; w < 4 && r > 0; w++) {
            lo = drop[w][0];
            hi = nt - drop[w][1];
            if (hi - lo < 2)
                break;
            int32_t *seqs[2] = {pseq + lo, qseq + lo}, lens[2] = {hi - lo, hi - lo};
            r = try_links(c, L, seqs, lens, 2, e);
        }
        if (r < 0) {
            rc = e->code;
            goto out;
        }
        if (r > 0)
            continue;
        int32_t ns = hi - lo, chunk0 = c->d->nchunk_vop;
        const gnode *P = &g->nodes[t0->in[0]];
        int32_t spc = stk_chunk_steps(P->shape.dim[0], ns), vop = -1;
        /* the chunks, the latest steps first (the backward makes them so) */
        for (int32_t s1 = hi; s1 > lo; s1 -= spc) {
            int32_t s0 = s1 - spc > lo ? s1 - spc : lo;
            vop = stacked_product(c, L, t0, pseq + s0, qseq + s0, s1 - s0, e);
            if (vop < 0 ||
                (spc < ns && VEC_GROW(c->d->chunk_vop, c->chunks_cap, c->d->nchunk_vop + 1))) {
                rc = e->code ? e->code : oom(c, e);
                goto out;
            }
            if (spc < ns)
                c->d->chunk_vop[c->d->nchunk_vop++] = vop;
        }
        if (VEC_GROW(c->d->stacks, c->stacks_cap, c->d->nstacks + 1)) {
            rc = oom(c, e);
            goto out;
        }
        /* members: the adds, then the terms left out (in time order) */
        int32_t nleft = 0;
        for (int32_t i = 0; i < nt; i++)
            if (i < lo || i >= hi)
                adds[na + nleft++] = terms[i];
        rw_stack *st = &c->d->stacks[c->d->nstacks++];
        *st = (rw_stack){.vop = vop,
                         .top = top,
                         .first = (int32_t)c->nmembers,
                         .n = na + nt,
                         .nadds = na,
                         .nleft = nleft,
                         .chunk0 = chunk0,
                         .nchunk = c->d->nchunk_vop - chunk0};
        if ((rc = push_members(c, adds, na + nleft, e)))
            goto out;
        for (int32_t i = lo; i < hi; i++)
            if ((rc = push_members(c, &terms[i], 1, e)))
                goto out;
        for (int32_t i = 0; i < na; i++)
            c->d->role[adds[i]] = RW_STACKED;
        for (int32_t i = 0; i < nt; i++)
            c->d->role[terms[i]] = RW_STACKED;
        c->p->n_stacked++;
        c->p->n_stacked_nodes += ns;
    }
out:
    free(inner);
    free(adds);
    free(terms);
    free(key);
    free(pseq);
    free(qseq);
    return rc;
}

#define RW_GROUP_ROWS 64

/* Row-group candidates: products X S whose S is shared, sorted so that
 * equal (S, transpose, shapes) are adjacent, then by time step. */
typedef struct cand {
    int32_t s, tb;
    int64_t rows, k;
    int64_t step;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    if (x->tb != y->tb)
        return x->tb < y->tb ? -1 : 1;
    if (x->rows != y->rows)
        return x->rows < y->rows ? -1 : 1;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    return (x->step > y->step) - (x->step < y->step);
}

static int same_group(const cand *x, const cand *y)
{
    return x->s == y->s && x->tb == y->tb && x->rows == y->rows && x->k == y->k;
}

/* Whether some member depends on another: then they cannot run as one
 * product (the recurrence W h_{t-1} is the usual case, found at once). */
static int members_depend(const stk *c, const int32_t *m, int32_t n, uint8_t *mark, uint8_t *reach)
{
    const graph *g = c->n->g;
    int32_t lo = m[0], hi = m[0];
    for (int32_t i = 0; i < n; i++) {
        mark[m[i]] = 1;
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    int dep = 0;
    int32_t v;
    for (v = lo; v <= hi && !dep; v++) {
        if (!c->n->need[v])
            continue;
        const gnode *nd = &g->nodes[v];
        uint8_t r = 0;
        for (int k = 0; k < nd->nin; k++) {
            int32_t w = nd->in[k];
            if (w >= lo && (mark[w] || reach[w]))
                r = 1;
        }
        if (r && mark[v])
            dep = 1;
        reach[v] = r;
    }
    for (int32_t u = lo; u < v && u <= hi; u++)
        reach[u] = 0;
    for (int32_t i = 0; i < n; i++)
        mark[m[i]] = 0;
    return dep;
}

/*
 * Whether candidate c, a product by a weight s larger than a core's L2 (2
 * MiB when its size is unknown), is grouped however many rows a step has
 * and whether it widens them. In its steps, such a product streams the
 * whole weight from the L3 at every step (the output projection at V =
 * 5000, H = 512: 10 MiB); grouped, each block of the weight is packed
 * once and kept while all steps' rows pass (64 x 512 x 5000 ran at 279
 * GFLOP/s here, 2048 rows at 350; its gradient dO_t V, 64 x 5000 x 512,
 * at 238 and 365).
 *
 * In the forward, the grouped outputs (the logits) are then written over
 * by their gradients, stack over stack (plan_over.c), as the steps' were:
 * no memory is added. A gradient's product is grouped only if it narrows
 * its rows RW_GROUP_NARROW times: its stacked output, T B H, is new
 * memory, and narrowing bounds it by a fraction of its inputs (the steps'
 * dO_t, T B V), kept together anyway for dV = dO^T H. Grouped without
 * that bound (V = 520, H = 1024, T = 100) the peak memory passed 1.5
 * times the step's own tensors.
 */
#define RW_GROUP_NARROW 4

static _Atomic size_t group_bytes_test;

size_t plan_test_group_bytes(size_t bytes)
{
    return atomic_exchange(&group_bytes_test, bytes);
}

static int big_weight_grouped(const graph *g, const cand *c, const gnode *s)
{
    const gnode *m = &g->nodes[(int32_t)(c->step & 0xffffffff)];
    size_t least = atomic_load(&group_bytes_test);
    size_t bytes = (size_t)shape_numel(&s->shape) * dtype_size((dtype)s->dt);
    if (bytes < (least ? least : cpu_past_l2()))
        return 0;
    return !(m->flags & NODE_GRAD) || c->k >= RW_GROUP_NARROW * s->shape.dim[c->tb ? 0 : 1];
}

/*
 * Row groups. T products X_t S (or X_t S^T) with S the same node and the
 * X_t of one shape, none depending on another, are one product of the
 * stacked [X_0; X_1; ...] with S, written into the stacked outputs.
 */
static int find_groups(stk *c, links *L, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N, nc = 0;
    cand *cs = malloc(((size_t)N + 1) * sizeof *cs);
    int32_t *mem = malloc(((size_t)N + 1) * sizeof *mem);
    int32_t *xseq = malloc(((size_t)N + 1) * sizeof *xseq);
    uint8_t *mark = calloc((size_t)N + 1, 1), *reach = calloc((size_t)N + 1, 1);
    int rc = 0;
    if (!cs || !mem || !xseq || !mark || !reach) {
        rc = oom(c, e);
        goto out;
    }
    for (int32_t v = 0; v < N; v++) {
        const gnode *nd = &g->nodes[v];
        if (!c->n->need[v] || nd->op != OP_MATMUL || nd->ip[0] != 0 || c->d->role[v] != RW_NODE)
            continue;
        const gnode *x = &g->nodes[nd->in[0]];
        cs[nc++] =
            (cand){nd->in[1], (int32_t)nd->ip[1], x->shape.dim[0], x->shape.dim[1], step_key(g, v)};
    }
    qsort(cs, (size_t)nc, sizeof *cs, cmp_cand);
    for (int32_t i = 0, j; i < nc; i = j) {
        for (j = i + 1; j < nc && same_group(&cs[i], &cs[j]); j++)
            ;
        int32_t n = j - i;
        const gnode *sn = &g->nodes[cs[i].s];
        int big = big_weight_grouped(g, &cs[i], sn);
        /* With RW_GROUP_ROWS rows or more a product already runs near
         * BLAS's best, and stacking would keep every step's output alive
         * at once (the gradient dO_t V of a large model: T B H floats);
         * unless its weight is larger than the L2 (big_weight_grouped) */
        if (n < 2 || (cs[i].rows >= RW_GROUP_ROWS && !big))
            continue;
        /* A product that widens its rows (K under half of N: dO_t V at
         * V = 65, H = 256) stays in its step where a row run splits it
         * (not below a row run's rows, stk_lanes_rows):
         * stacked, its T B N floats went out to the L3 and came back as
         * the backward row run read each step's; in the step, its rows
         * are made next to where they are read. S2 (B = 32): 6.04 -> 5.70
         * ms a step, 2 MiB less arena; the same bits either way. Not
         * a product by a weight past the L2 (big_weight_grouped). */
        int64_t width = sn->shape.dim[cs[i].tb ? 0 : 1];
        if (!stk_lanes_rows(cs[i].rows) && 2 * cs[i].k < width && !big)
            continue;
        for (int32_t k = 0; k < n; k++)
            mem[k] = (int32_t)(cs[i + k].step & 0xffffffff);
        if (members_depend(c, mem, n, mark, reach))
            continue;
        int r = stack_inputs(c, L, mem, n, 1, &xseq, e);
        if (r < 0) {
            rc = e->code;
            goto out;
        }
        if (r > 0)
            continue;
        int32_t *seqs[2] = {xseq, mem}, lens[2] = {n, n};
        r = try_links(c, L, seqs, lens, 2, e);
        if (r < 0) {
            rc = e->code;
            goto out;
        }
        if (r > 0)
            continue;
        const gnode *m0 = &g->nodes[mem[0]], *x0 = &g->nodes[m0->in[0]];
        const gnode *s = &g->nodes[m0->in[1]];
        int32_t xv =
            vleaf(c, L, shape_2(x0->shape.dim[0] * n, x0->shape.dim[1]), (dtype)x0->dt, xseq[0], e);
        int32_t sv = xv < 0 ? -1 : vleaf(c, L, s->shape, (dtype)s->dt, m0->in[1], e);
        int32_t vop = sv < 0 ? -1 : vmatmul(c, L, xv, sv, 0, (int)m0->ip[1], e);
        if (vop < 0 || VEC_GROW(c->d->groups, c->groups_cap, c->d->ngroups + 1)) {
            rc = e->code ? e->code : oom(c, e);
            goto out;
        }
        c->d->groups[c->d->ngroups++] =
            (rw_group){.vop = vop, .out_first = mem[0], .first = (int32_t)c->nmembers, .n = n};
        if ((rc = push_members(c, mem, n, e)))
            goto out;
        for (int32_t k = 0; k < n; k++)
            c->d->role[mem[k]] = RW_GROUPED;
        c->p->n_stacked++;
        c->p->n_stacked_nodes += n;
    }
out:
    free(cs);
    free(mem);
    free(xseq);
    free(mark);
    free(reach);
    return rc;
}

void plan_unstack(const plan_needs *n, plan_decisions *d, plan *p)
{
    for (int32_t v = 0; v < n->N; v++)
        if (d->role[v] == RW_GROUPED || d->role[v] == RW_STACKED)
            d->role[v] = RW_NODE;
    for (int32_t i = 0; i < d->nlinks; i++)
        d->next[i] = d->prev[i] = -1;
    d->ngroups = d->nstacks = 0;
    d->nslots = 0;
    p->n_stacked = p->n_stacked_nodes = p->n_step_sums = 0;
}

int plan_stacking(const plan_needs *n, plan_decisions *d, plan *p, uerr *e)
{
    stk c = {.n = n, .d = d, .p = p};
    links L = {0};
    int rc = links_grow(&c, &L, e);
    if (!rc)
        rc = find_stacks(&c, &L, e);
    if (!rc)
        rc = find_groups(&c, &L, e);
    if (!rc && !n->no_step_sums)
        rc = plan_stack_steps(&c, &L, e);
    if (!rc) {
        /* slots no stack ended up using are not copied */
        int32_t k = 0;
        for (int32_t s = 0; s < d->nslots; s++)
            if (plan_linked(d, n->N + d->slot_vnode[s])) {
                d->slot_leaf[k] = d->slot_leaf[s];
                d->slot_vnode[k++] = d->slot_vnode[s];
            }
        d->nslots = k;
    }
    free(c.leaf_slot);
    free(L.parent);
    free(L.size);
    free(L.log);
    return rc;
}

/* ---- for plan_stack_sum.c (plan_stack_int.h) ------------------------------ */

int stk_cover(stk *c, links *L, uerr *e)
{
    return links_grow(c, L, e);
}

int stk_try_links(stk *c, links *L, int32_t *const *seq, const int32_t *len, int nseq, uerr *e)
{
    return try_links(c, L, seq, len, nseq, e);
}

int32_t stk_vleaf(stk *c, links *L, shape s, dtype dt, int32_t src, uerr *e)
{
    return vleaf(c, L, s, dt, src, e);
}

int32_t stk_member(stk *c, links *L, int32_t x, uerr *e)
{
    return stackable(c, L, x, e);
}

int stk_push_members(stk *c, const int32_t *ids, int32_t n, uerr *e)
{
    return push_members(c, ids, n, e);
}

int stk_same_add(const graph *g, int32_t v)
{
    return same_add(g, v);
}
