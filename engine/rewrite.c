/* rewrite.c - the planner's rewrites; see rewrite_int.h and plan.h. */
#include "engine/rewrite_int.h"

#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static int oom(const rw_ctx *c, uerr *e)
{
    return uerr_set(e, UERR_INTERNAL, "plan: out of memory for %d nodes", c->N);
}

static int is_leaf(const graph *g, int32_t v) { return g->nodes[v].op == OP_INPUT; }

static int64_t numel_of(const gnode *n) { return shape_numel(&n->shape); }

/* A node reading w in two slots (mul(x, x)) is one reader. */
static int first_slot(const gnode *nd, int k)
{
    for (int j = 0; j < k; j++)
        if (nd->in[j] == nd->in[k])
            return 0;
    return 1;
}

int rw_init(rw_ctx *c, const graph *g, const int32_t *outputs, int nout, int fuse, plan *p,
            uerr *e)
{
    memset(c, 0, sizeof *c);
    int32_t N = g->n;
    size_t n = N ? (size_t)N : 1;
    c->g = g;
    c->p = p;
    c->fuse = fuse;
    c->N = N;
    c->outputs = outputs;
    c->nout = nout;
    p->nnodes = N;
    p->fuse = fuse;
    c->need = calloc(n, 1);
    c->isout = calloc(n, 1);
    c->role = calloc(n, 1);
    c->nread = calloc(n, sizeof(int32_t));
    c->alias_of = malloc(n * sizeof(int32_t));
    c->accum_of = malloc(n * sizeof(int32_t));
    c->replace = malloc(n * sizeof(int32_t));
    if (!c->need || !c->isout || !c->role || !c->nread || !c->alias_of || !c->accum_of ||
        !c->replace)
        return oom(c, e);
    for (int i = 0; i < nout; i++) {
        if (outputs[i] < 0 || outputs[i] >= N)
            return uerr_set(e, UERR_INTERNAL, "plan: output %d is not a node", outputs[i]);
        c->need[outputs[i]] = c->isout[outputs[i]] = 1;
    }
    int32_t nleaves = 0;
    for (int32_t v = N - 1; v >= 0; v--) {
        if (!c->need[v])
            continue;
        const gnode *nd = &g->nodes[v];
        if (nd->op == OP_INPUT) {
            nleaves++;
            continue;
        }
        for (int k = 0; k < nd->nin; k++) {
            c->need[nd->in[k]] = 1;
            if (first_slot(nd, k))
                c->nread[nd->in[k]]++;
        }
    }
    p->leaves = malloc(((size_t)nleaves + 1) * sizeof(int32_t));
    if (!p->leaves)
        return oom(c, e);
    for (int32_t v = 0; v < N; v++) {
        c->alias_of[v] = c->accum_of[v] = c->replace[v] = -1;
        if (c->need[v] && is_leaf(g, v)) {
            p->leaves[p->nleaves++] = v;
            c->need[v] = RW_LEAF;
        }
    }
    return graph_init(&p->vg, g->dt, e);
}

void rw_free(rw_ctx *c)
{
    free(c->need);
    free(c->isout);
    free(c->role);
    free(c->nread);
    free(c->alias_of);
    free(c->accum_of);
    free(c->replace);
    free(c->pre);
    free(c->next);
    free(c->prev);
    free(c->in_stack);
    free(c->leaf_slot);
    free(c->slot_leaf);
    free(c->slot_vnode);
    free(c->groups);
    free(c->stacks);
    free(c->members);
    free(c->unit_of);
    free(c->unit_kind);
    free(c->unit_node);
    free(c->order);
    memset(c, 0, sizeof *c);
}

/* ---- stacked memory: links between nodes that must be adjacent ----------- */

/* Union-find over global ids (no path compression, so that a tentative
 * set of links can be undone), plus the log that undoes it. */
typedef struct links {
    int32_t *parent, *size;
    struct undo {
        int32_t *arr;
        int32_t idx, old;
    } *log;
    int64_t nlog, logcap;
} links;

static int links_grow(rw_ctx *c, links *L, uerr *e)
{
    int32_t need = c->N + c->p->vg.n;
    if (need <= c->link_cap)
        return 0;
    int32_t ncap = c->link_cap ? c->link_cap : c->N + 64;
    while (ncap < need)
        ncap *= 2;
    int32_t *nx = realloc(c->next, (size_t)ncap * sizeof *nx);
    if (nx)
        c->next = nx;
    int32_t *pv = realloc(c->prev, (size_t)ncap * sizeof *pv);
    if (pv)
        c->prev = pv;
    uint8_t *is = realloc(c->in_stack, (size_t)ncap);
    if (is)
        c->in_stack = is;
    int32_t *pa = realloc(L->parent, (size_t)ncap * sizeof *pa);
    if (pa)
        L->parent = pa;
    int32_t *sz = realloc(L->size, (size_t)ncap * sizeof *sz);
    if (sz)
        L->size = sz;
    if (!nx || !pv || !is || !pa || !sz)
        return oom(c, e);
    for (int32_t i = c->link_cap; i < ncap; i++) {
        c->next[i] = c->prev[i] = -1;
        c->in_stack[i] = 0;
        L->parent[i] = i;
        L->size[i] = 1;
    }
    c->link_cap = ncap;
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
    if (L->nlog == L->logcap) {
        int64_t ncap = L->logcap ? L->logcap * 2 : 1024;
        struct undo *nl = realloc(L->log, (size_t)ncap * sizeof *nl);
        if (!nl)
            return -1;
        L->log = nl;
        L->logcap = ncap;
    }
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

static size_t gid_bytes(const rw_ctx *c, int32_t id)
{
    const gnode *n = plan_node(c->p, c->g, id);
    return (size_t)numel_of(n) * dtype_size((dtype)n->dt);
}

/* Links every consecutive pair of each sequence, all or nothing: a node
 * already linked to another neighbour, a cycle or members of different
 * sizes undo everything and return 1. */
static int try_links(rw_ctx *c, links *L, int32_t *const *seq, const int32_t *len, int nseq,
                     uerr *e)
{
    int64_t mark = L->nlog;
    for (int s = 0; s < nseq; s++) {
        size_t mb = gid_bytes(c, seq[s][0]);
        for (int32_t i = 0; i + 1 < len[s]; i++) {
            int32_t u = seq[s][i], w = seq[s][i + 1];
            if (gid_bytes(c, w) != mb)
                goto refuse;
            if (c->next[u] == w)
                continue;
            if (c->next[u] >= 0 || c->prev[w] >= 0)
                goto refuse;
            int32_t ru = uf_find(L, u), rv = uf_find(L, w);
            if (ru == rv)
                goto refuse;
            if (L->size[ru] < L->size[rv]) {
                int32_t t = ru;
                ru = rv;
                rv = t;
            }
            if (logged_set(L, c->next, u, w) || logged_set(L, c->prev, w, u) ||
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

/* A new node of p->vg: a view of src's memory, or (src = -1) a slot with
 * memory of its own. Returns its vg index, or -1. */
static int32_t vleaf(rw_ctx *c, links *L, shape s, dtype dt, int32_t src, uerr *e)
{
    int32_t id;
    if (graph_leaf(&c->p->vg, NULL, dt, s, 0, -1, &id, e))
        return -1;
    if (id >= c->vsrc_cap) {
        int32_t ncap = c->vsrc_cap ? c->vsrc_cap * 2 : 64;
        int32_t *nv = realloc(c->p->vsrc, (size_t)ncap * sizeof *nv);
        if (!nv)
            return oom(c, e), -1;
        c->p->vsrc = nv;
        c->vsrc_cap = ncap;
    }
    c->p->vsrc[id] = src;
    if (links_grow(c, L, e))
        return -1;
    return id;
}

static int32_t vmatmul(rw_ctx *c, links *L, int32_t a, int32_t b, int ta, int tb, uerr *e)
{
    int32_t id = op_matmul(&c->p->vg, a, b, ta, tb, e);
    if (id < 0)
        return -1;
    if (id >= c->vsrc_cap) {
        int32_t ncap = c->vsrc_cap ? c->vsrc_cap * 2 : 64;
        int32_t *nv = realloc(c->p->vsrc, (size_t)ncap * sizeof *nv);
        if (!nv)
            return oom(c, e), -1;
        c->p->vsrc = nv;
        c->vsrc_cap = ncap;
    }
    c->p->vsrc[id] = -1;
    if (links_grow(c, L, e))
        return -1;
    return id;
}

/* The member standing for x in a stack: x itself, or for a leaf (not in
 * the arena) a slot its value is copied into. Global id, or -1. */
static int32_t stackable(rw_ctx *c, links *L, int32_t x, uerr *e)
{
    if (!is_leaf(c->g, x))
        return x;
    if (!c->leaf_slot) {
        c->leaf_slot = malloc((size_t)c->N * sizeof *c->leaf_slot);
        if (!c->leaf_slot)
            return oom(c, e), -1;
        for (int32_t i = 0; i < c->N; i++)
            c->leaf_slot[i] = -1;
    }
    if (c->leaf_slot[x] >= 0)
        return c->N + c->slot_vnode[c->leaf_slot[x]];
    const gnode *nd = &c->g->nodes[x];
    if (nd->dt == DT_I32)
        return -1;
    int32_t v = vleaf(c, L, nd->shape, (dtype)nd->dt, -1, e);
    if (v < 0)
        return -1;
    if (c->nslots == c->slot_cap) {
        int32_t ncap = c->slot_cap ? c->slot_cap * 2 : 16;
        int32_t *a = realloc(c->slot_leaf, (size_t)ncap * sizeof *a);
        if (a)
            c->slot_leaf = a;
        int32_t *b = realloc(c->slot_vnode, (size_t)ncap * sizeof *b);
        if (b)
            c->slot_vnode = b;
        if (!a || !b)
            return oom(c, e), -1;
        c->slot_cap = ncap;
    }
    c->slot_leaf[c->nslots] = x;
    c->slot_vnode[c->nslots] = v;
    c->leaf_slot[x] = c->nslots++;
    return c->N + v;
}

static int push_members(rw_ctx *c, const int32_t *ids, int32_t n, uerr *e)
{
    if (c->nmembers + n > c->members_cap) {
        int64_t ncap = c->members_cap ? c->members_cap : 1024;
        while (ncap < c->nmembers + n)
            ncap *= 2;
        int32_t *m = realloc(c->members, (size_t)ncap * sizeof *m);
        if (!m)
            return oom(c, e);
        c->members = m;
        c->members_cap = ncap;
    }
    memcpy(c->members + c->nmembers, ids, (size_t)n * sizeof *ids);
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

/*
 * Stacked sums. build_grad sums a shared parameter's terms left to right:
 * add(add(add(t0, t1), t2), ...), each inner add read only by the next.
 * When every term is a product P_i^T Q_i read by nothing else, with all P_i
 * of one shape and all Q_i of one shape, the sum is [P_0; P_1; ...]^T
 * [Q_0; Q_1; ...]: one product over the stacked rows, if the P_i can lie
 * next to each other in memory and so can the Q_i (ordered by time step).
 */
static int find_stacks(rw_ctx *c, links *L, uerr *e)
{
    const graph *g = c->g;
    int32_t N = c->N;
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
        if (!c->need[r] || !same_add(g, r))
            continue;
        int32_t a = g->nodes[r].in[0];
        if (!is_leaf(g, a) && same_add(g, a) && c->nread[a] == 1 && !c->isout[a] &&
            g->nodes[a].in[0] != a)
            inner[a] = 1;
    }
    for (int32_t top = 0; top < N; top++) {
        if (!c->need[top] || inner[top] || !same_add(g, top) || c->role[top] != RW_NODE)
            continue;
        int32_t na = 0, nt = 0;
        for (int32_t cur = top;;) {
            adds[na++] = cur;
            terms[nt++] = g->nodes[cur].in[1];
            int32_t a = g->nodes[cur].in[0];
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
            ok = tn->op == OP_MATMUL && tn->ip[0] == 1 && tn->ip[1] == 0 && c->nread[y] == 1 &&
                 !c->isout[y] && c->role[y] == RW_NODE &&
                 shape_equal(&g->nodes[tn->in[0]].shape, &g->nodes[t0->in[0]].shape) &&
                 shape_equal(&g->nodes[tn->in[1]].shape, &g->nodes[t0->in[1]].shape);
            key[i] = step_key(g, y);
        }
        if (!ok)
            continue;
        qsort(key, (size_t)nt, sizeof *key, cmp_i64);
        for (int32_t i = 0; ok && i < nt; i++) {
            const gnode *tn = &g->nodes[(int32_t)(key[i] & 0xffffffff)];
            pseq[i] = stackable(c, L, tn->in[0], e);
            qseq[i] = stackable(c, L, tn->in[1], e);
            if (pseq[i] < 0 || qseq[i] < 0) {
                if (e->code) {
                    rc = e->code;
                    goto out;
                }
                ok = 0;
            }
        }
        if (!ok)
            continue;
        /* All the terms if their operands can be stacked; else without the
         * first or last step, whose operands are often shared otherwise
         * (a state's slice of h0 at t = 0, read by several products): the
         * terms left out are added into the sum one by one. */
        static const int32_t drop[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
        int32_t lo = 0, hi = 0;
        int r = 1;
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
        int32_t ns = hi - lo;
        const gnode *P = &g->nodes[t0->in[0]], *Q = &g->nodes[t0->in[1]];
        int64_t K = P->shape.dim[0] * ns;
        int32_t pv = vleaf(c, L, shape_2(K, P->shape.dim[1]), (dtype)P->dt, pseq[lo], e);
        int32_t qv = pv < 0 ? -1 : vleaf(c, L, shape_2(K, Q->shape.dim[1]), (dtype)Q->dt, qseq[lo], e);
        int32_t vop = qv < 0 ? -1 : vmatmul(c, L, pv, qv, 1, 0, e);
        if (vop < 0) {
            rc = e->code ? e->code : oom(c, e);
            goto out;
        }
        if (c->nstacks == c->stacks_cap) {
            int32_t ncap = c->stacks_cap ? c->stacks_cap * 2 : 16;
            rw_stack *nst = realloc(c->stacks, (size_t)ncap * sizeof *nst);
            if (!nst) {
                rc = oom(c, e);
                goto out;
            }
            c->stacks = nst;
            c->stacks_cap = ncap;
        }
        /* members: the adds, then the terms left out (in time order) */
        for (int32_t i = 0; i < nt; i++)
            terms[i] = (int32_t)(key[i] & 0xffffffff);
        int32_t nleft = 0;
        for (int32_t i = 0; i < nt; i++)
            if (i < lo || i >= hi)
                adds[na + nleft++] = terms[i];
        rw_stack *st = &c->stacks[c->nstacks++];
        *st = (rw_stack){.vop = vop, .top = top, .first = (int32_t)c->nmembers,
                         .n = na + nt, .nadds = na, .nleft = nleft};
        if ((rc = push_members(c, adds, na + nleft, e)))
            goto out;
        for (int32_t i = lo; i < hi; i++)
            if ((rc = push_members(c, &terms[i], 1, e)))
                goto out;
        for (int32_t i = 0; i < na; i++)
            c->role[adds[i]] = RW_STACKED;
        for (int32_t i = 0; i < nt; i++)
            c->role[terms[i]] = RW_STACKED;
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
static int members_depend(const rw_ctx *c, const int32_t *m, int32_t n, uint8_t *mark,
                          uint8_t *reach)
{
    const graph *g = c->g;
    int32_t lo = m[0], hi = m[0];
    for (int32_t i = 0; i < n; i++) {
        mark[m[i]] = 1;
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    int dep = 0;
    int32_t v;
    for (v = lo; v <= hi && !dep; v++) {
        if (!c->need[v])
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
 * Row groups. T products X_t S (or X_t S^T) with S the same node and the
 * X_t of one shape, none depending on another, are one product of the
 * stacked [X_0; X_1; ...] with S, written into the stacked outputs.
 */
static int find_groups(rw_ctx *c, links *L, uerr *e)
{
    const graph *g = c->g;
    int32_t N = c->N, nc = 0;
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
        if (!c->need[v] || nd->op != OP_MATMUL || nd->ip[0] != 0 || c->role[v] != RW_NODE)
            continue;
        const gnode *x = &g->nodes[nd->in[0]];
        cs[nc++] = (cand){nd->in[1], (int32_t)nd->ip[1], x->shape.dim[0], x->shape.dim[1],
                          step_key(g, v)};
    }
    qsort(cs, (size_t)nc, sizeof *cs, cmp_cand);
    for (int32_t i = 0, j; i < nc; i = j) {
        for (j = i + 1; j < nc && same_group(&cs[i], &cs[j]); j++)
            ;
        int32_t n = j - i;
        /* With RW_GROUP_ROWS rows or more a product already runs near
         * BLAS's best, and stacking would keep every step's output alive
         * at once (the gradient dO_t V of a large model: T B H floats) */
        if (n < 2 || cs[i].rows >= RW_GROUP_ROWS)
            continue;
        for (int32_t k = 0; k < n; k++)
            mem[k] = (int32_t)(cs[i + k].step & 0xffffffff);
        if (members_depend(c, mem, n, mark, reach))
            continue;
        int ok = 1;
        for (int32_t k = 0; k < n && ok; k++) {
            xseq[k] = stackable(c, L, g->nodes[mem[k]].in[0], e);
            if (xseq[k] < 0) {
                if (e->code) {
                    rc = e->code;
                    goto out;
                }
                ok = 0;
            }
        }
        if (!ok)
            continue;
        int32_t *seqs[2] = {xseq, mem}, lens[2] = {n, n};
        int r = try_links(c, L, seqs, lens, 2, e);
        if (r < 0) {
            rc = e->code;
            goto out;
        }
        if (r > 0)
            continue;
        const gnode *m0 = &g->nodes[mem[0]], *x0 = &g->nodes[m0->in[0]];
        const gnode *s = &g->nodes[m0->in[1]];
        int32_t xv = vleaf(c, L, shape_2(x0->shape.dim[0] * n, x0->shape.dim[1]),
                           (dtype)x0->dt, xseq[0], e);
        int32_t sv = xv < 0 ? -1 : vleaf(c, L, s->shape, (dtype)s->dt, m0->in[1], e);
        int32_t vop = sv < 0 ? -1 : vmatmul(c, L, xv, sv, 0, (int)m0->ip[1], e);
        if (vop < 0) {
            rc = e->code ? e->code : oom(c, e);
            goto out;
        }
        if (c->ngroups == c->groups_cap) {
            int32_t ncap = c->groups_cap ? c->groups_cap * 2 : 16;
            rw_group *ng = realloc(c->groups, (size_t)ncap * sizeof *ng);
            if (!ng) {
                rc = oom(c, e);
                goto out;
            }
            c->groups = ng;
            c->groups_cap = ncap;
        }
        c->groups[c->ngroups++] =
            (rw_group){.vop = vop, .out_first = mem[0], .first = (int32_t)c->nmembers, .n = n};
        if ((rc = push_members(c, mem, n, e)))
            goto out;
        for (int32_t k = 0; k < n; k++)
            c->role[mem[k]] = RW_GROUPED;
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

/*
 * Transposed weights. Products X_t W^T with the same leaf W that stay one
 * per step (the recurrence W h_{t-1}, which cannot be stacked) read W^T,
 * made once at the start of the program, without a transpose: OpenBLAS
 * packs an untransposed matrix faster (64 rows, 1024 units: 0.86 ms
 * instead of 0.99 on 2 threads), and so does kernels/smallmm.c, which takes
 * the products of a few rows (batch 1) only with B untransposed: there a
 * row of W^T is contiguous across the outputs, so a vector spans outputs
 * and each output's sum runs over k in order. Only where it pays: W of
 * at least RW_TRANSPOSE_MIN elements, read by at least two products.
 */
#define RW_TRANSPOSE_MIN 4096

static int32_t vtranspose(rw_ctx *c, links *L, int32_t w, uerr *e)
{
    const gnode *wn = &c->g->nodes[w];
    int32_t wv = vleaf(c, L, wn->shape, (dtype)wn->dt, w, e);
    int32_t id = wv < 0 ? -1 : op_transpose(&c->p->vg, wv, e);
    if (id < 0)
        return -1;
    if (id >= c->vsrc_cap) {
        int32_t ncap = c->vsrc_cap ? c->vsrc_cap * 2 : 64;
        int32_t *nv = realloc(c->p->vsrc, (size_t)ncap * sizeof *nv);
        if (!nv)
            return oom(c, e), -1;
        c->p->vsrc = nv;
        c->vsrc_cap = ncap;
    }
    c->p->vsrc[id] = -1;
    if (links_grow(c, L, e))
        return -1;
    return id;
}

static int find_transposed(rw_ctx *c, links *L, uerr *e)
{
    const graph *g = c->g;
    int32_t N = c->N;
    int32_t *cnt = calloc((size_t)N + 1, sizeof *cnt), *wt = malloc(((size_t)N + 1) * sizeof *wt);
    int rc = 0;
    if (!cnt || !wt) {
        rc = oom(c, e);
        goto out;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int32_t v = 0; v < N; v++) {
            const gnode *nd = &g->nodes[v];
            if (c->need[v] != RW_COMPUTED || nd->op != OP_MATMUL || nd->ip[0] != 0 ||
                nd->ip[1] != 1 || c->role[v] != RW_NODE)
                continue;
            int32_t w = nd->in[1];
            const gnode *x = &g->nodes[nd->in[0]], *wn = &g->nodes[w];
            if (!is_leaf(g, w) || numel_of(wn) < RW_TRANSPOSE_MIN)
                continue;
            if (pass == 0) {
                cnt[w]++;
                wt[w] = -1;
                continue;
            }
            if (cnt[w] < 2)
                continue;
            if (wt[w] < 0) {
                if ((wt[w] = vtranspose(c, L, w, e)) < 0) {
                    rc = e->code ? e->code : oom(c, e);
                    goto out;
                }
                if (c->npre == c->pre_cap) {
                    int32_t ncap = c->pre_cap ? c->pre_cap * 2 : 8;
                    int32_t *np = realloc(c->pre, (size_t)ncap * sizeof *np);
                    if (!np) {
                        rc = oom(c, e);
                        goto out;
                    }
                    c->pre = np;
                    c->pre_cap = ncap;
                }
                c->pre[c->npre++] = wt[w];
                c->p->n_transposed++;
            }
            int32_t xv = vleaf(c, L, x->shape, (dtype)x->dt, nd->in[0], e);
            int32_t mm = xv < 0 ? -1 : vmatmul(c, L, xv, wt[w], 0, 0, e);
            if (mm < 0) {
                rc = e->code ? e->code : oom(c, e);
                goto out;
            }
            c->replace[v] = N + mm;
        }
out:
    free(cnt);
    free(wt);
    return rc;
}

/* Forgets every stacking decision (links stay allocated, cleared). */
static void unstack(rw_ctx *c)
{
    for (int32_t v = 0; v < c->N; v++)
        if (c->role[v] == RW_GROUPED || c->role[v] == RW_STACKED)
            c->role[v] = RW_NODE;
    for (int32_t i = 0; i < c->link_cap; i++) {
        c->next[i] = c->prev[i] = -1;
        c->in_stack[i] = 0;
    }
    c->ngroups = c->nstacks = 0;
    c->nmembers = 0;
    c->nslots = 0;
    c->p->n_stacked = c->p->n_stacked_nodes = 0;
}

int rw_stacking(rw_ctx *c, uerr *e)
{
    links L = {0};
    int rc = links_grow(c, &L, e);
    if (!rc)
        rc = find_stacks(c, &L, e);
    if (!rc)
        rc = find_groups(c, &L, e);
    if (!rc)
        rc = find_transposed(c, &L, e);
    if (!rc && (rc = links_grow(c, &L, e)) == 0) {
        for (int32_t i = 0; i < c->link_cap; i++)
            c->in_stack[i] = c->next[i] >= 0 || c->prev[i] >= 0;
        /* slots no stack ended up using are not copied */
        int32_t k = 0;
        for (int32_t s = 0; s < c->nslots; s++)
            if (c->in_stack[c->N + c->slot_vnode[s]]) {
                c->slot_leaf[k] = c->slot_leaf[s];
                c->slot_vnode[k++] = c->slot_vnode[s];
            }
        c->nslots = k;
    }
    free(L.parent);
    free(L.size);
    free(L.log);
    return rc;
}

/* ---- the schedule ---------------------------------------------------------- */

static void heap_push(int32_t *h, int32_t *n, const int32_t *prio, int32_t u)
{
    int32_t i = (*n)++;
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (prio[h[parent]] <= prio[u])
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = u;
}

static int32_t heap_pop(int32_t *h, int32_t *n, const int32_t *prio)
{
    int32_t top = h[0], last = h[--(*n)], i = 0;
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        int32_t pm = prio[last];
        if (l < *n && prio[h[l]] < pm)
            m = l, pm = prio[h[l]];
        if (r < *n && prio[h[r]] < pm)
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Units in index order: every computed node its own unit. */
static int schedule_in_order(rw_ctx *c, uerr *e)
{
    int32_t n = 0;
    for (int32_t v = 0; v < c->N; v++)
        n += c->need[v] == RW_COMPUTED;
    c->unit_kind = calloc((size_t)n + 1, 1);
    c->unit_node = malloc(((size_t)n + 1) * sizeof(int32_t));
    c->order = malloc(((size_t)n + 1) * sizeof(int32_t));
    if (!c->unit_kind || !c->unit_node || !c->order)
        return oom(c, e);
    c->nunits = 0;
    for (int32_t v = 0; v < c->N; v++)
        if (c->need[v] == RW_COMPUTED) {
            c->unit_node[c->nunits] = v;
            c->order[c->nunits] = c->nunits;
            c->nunits++;
        }
    return 0;
}

/*
 * A stacked group runs when all its members' inputs are ready, and before
 * any reader of a member: the program is a topological order of units. A
 * binary heap keyed by each unit's smallest node index keeps everything
 * else in index order (the order the graph was built in, which keeps
 * buffers short-lived). Returns 1 when the units form a cycle.
 */
static int schedule_units(rw_ctx *c, uerr *e)
{
    const graph *g = c->g;
    int32_t N = c->N, U = c->ngroups + c->nstacks;
    int rc = 0;
    c->unit_of = malloc((size_t)N * sizeof(int32_t));
    if (!c->unit_of)
        return oom(c, e);
    for (int32_t i = 0; i < c->ngroups; i++)
        for (int32_t k = 0; k < c->groups[i].n; k++)
            c->unit_of[c->members[c->groups[i].first + k]] = i;
    for (int32_t i = 0; i < c->nstacks; i++)
        for (int32_t k = 0; k < c->stacks[i].n; k++)
            c->unit_of[c->members[c->stacks[i].first + k]] = c->ngroups + i;
    for (int32_t v = 0; v < N; v++) {
        if (c->need[v] != RW_COMPUTED)
            continue;
        if (c->role[v] != RW_GROUPED && c->role[v] != RW_STACKED)
            c->unit_of[v] = U++;
    }
    c->nunits = U;
    c->unit_kind = calloc((size_t)U + 1, 1);
    c->unit_node = malloc(((size_t)U + 1) * sizeof(int32_t));
    c->order = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *prio = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *indeg = calloc((size_t)U + 1, sizeof(int32_t));
    int32_t *estart = calloc((size_t)U + 2, sizeof(int32_t));
    int32_t *heap = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *adj = NULL;
    if (!c->unit_kind || !c->unit_node || !c->order || !prio || !indeg || !estart || !heap) {
        rc = oom(c, e);
        goto out;
    }
    for (int32_t u = 0; u < U; u++)
        prio[u] = INT32_MAX;
    for (int32_t i = 0; i < c->ngroups; i++)
        c->unit_kind[i] = RW_UNIT_GROUP, c->unit_node[i] = i;
    for (int32_t i = 0; i < c->nstacks; i++)
        c->unit_kind[c->ngroups + i] = RW_UNIT_STACK, c->unit_node[c->ngroups + i] = i;
    int64_t nedges = 0;
    for (int32_t v = 0; v < N; v++) {
        if (c->need[v] != RW_COMPUTED)
            continue;
        int32_t u = c->unit_of[v];
        if (c->role[v] != RW_GROUPED && c->role[v] != RW_STACKED)
            c->unit_kind[u] = RW_UNIT_NODE, c->unit_node[u] = v;
        prio[u] = v < prio[u] ? v : prio[u];
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++) {
            int32_t w = nd->in[k];
            if (c->need[w] != RW_COMPUTED || c->unit_of[w] == u)
                continue;
            estart[c->unit_of[w] + 1]++;
            indeg[u]++;
            nedges++;
        }
    }
    for (int32_t u = 0; u < U; u++)
        estart[u + 1] += estart[u];
    adj = malloc((size_t)(nedges ? nedges : 1) * sizeof(int32_t));
    if (!adj) {
        rc = oom(c, e);
        goto out;
    }
    for (int32_t v = 0; v < N; v++) {
        if (c->need[v] != RW_COMPUTED)
            continue;
        int32_t u = c->unit_of[v];
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++) {
            int32_t w = nd->in[k];
            if (c->need[w] != RW_COMPUTED || c->unit_of[w] == u)
                continue;
            adj[estart[c->unit_of[w]]++] = u;
        }
    }
    for (int32_t u = U; u > 0; u--)
        estart[u] = estart[u - 1];
    estart[0] = 0;
    /* Kahn's algorithm choosing the ready unit of smallest priority, done
     * as a scan over the priorities (node indices): a unit that is ready
     * when the scan reaches it runs then; one that is not waits, and when
     * its last dependency runs it goes to a heap of late units, which
     * always come first (their priorities are below the scan's). Only
     * units held back by a stacked group ever enter the heap. */
    int32_t nh = 0, done = 0, pos = 0;
    for (;;) {
        int32_t u = -1;
        if (nh > 0) {
            u = heap_pop(heap, &nh, prio);
        } else {
            while (pos < N && (c->need[pos] != RW_COMPUTED ||
                               prio[c->unit_of[pos]] != pos || indeg[c->unit_of[pos]] != 0))
                pos++;
            if (pos == N)
                break;
            u = c->unit_of[pos++];
        }
        c->order[done++] = u;
        for (int32_t k = estart[u]; k < estart[u + 1]; k++)
            if (--indeg[adj[k]] == 0 && prio[adj[k]] < pos)
                heap_push(heap, &nh, prio, adj[k]);
    }
    if (done < U)
        rc = 1;
out:
    free(prio);
    free(indeg);
    free(estart);
    free(heap);
    free(adj);
    return rc;
}

int rw_schedule(rw_ctx *c, uerr *e)
{
    if (c->ngroups + c->nstacks == 0)
        return schedule_in_order(c, e);
    int rc = schedule_units(c, e);
    if (rc <= 0 || e->code)
        return rc;
    /* a cycle: stacking these groups together is impossible; plan
     * without stacking rather than fail */
    unstack(c);
    free(c->unit_of);
    free(c->unit_kind);
    free(c->unit_node);
    free(c->order);
    c->unit_of = NULL;
    c->unit_kind = NULL;
    c->unit_node = NULL;
    c->order = NULL;
    return schedule_in_order(c, e);
}

/* ---- in place and accumulate ---------------------------------------------- */

static int stacked(const rw_ctx *c, int32_t v)
{
    return c->in_stack && v < c->link_cap && c->in_stack[v];
}

/* x can be overwritten by v: computed by an instruction of its own, read
 * by v alone, not an output, not in a stack, of v's size and type. */
static int can_base(const rw_ctx *c, int32_t x, int32_t v)
{
    const graph *g = c->g;
    const gnode *xn = &g->nodes[x], *vn = &g->nodes[v];
    return !is_leaf(g, x) && c->role[x] == RW_NODE && c->nread[x] == 1 && !c->isout[x] &&
           !stacked(c, x) && !stacked(c, v) && xn->dt == vn->dt &&
           numel_of(xn) == numel_of(vn);
}

/* y can be added straight into its reader v instead of being stored. */
static int can_accum(const rw_ctx *c, int32_t y, int32_t v)
{
    const graph *g = c->g;
    const gnode *yn = &g->nodes[y];
    if (is_leaf(g, y) || !op_accumulate_fn(yn->op) || c->role[y] != RW_NODE || c->nread[y] != 1 ||
        c->isout[y] || stacked(c, y) || !shape_equal(&yn->shape, &g->nodes[v].shape))
        return 0;
    /* BLAS adds a product into its output one block of K at a time: not
     * the rounding of the product added once. A pad adds only its own
     * columns: the sum would have added +0 to the others, which turns a
     * -0.0 into +0.0 */
    return (yn->op != OP_MATMUL && yn->op != OP_PAD) || c->fuse == PLAN_FUSE_ALL;
}

int rw_in_place(rw_ctx *c, uerr *e)
{
    (void)e;
    const graph *g = c->g;
    for (int32_t i = 0; i < c->nunits; i++) {
        int32_t u = c->order[i];
        if (c->unit_kind[u] != RW_UNIT_NODE)
            continue;
        int32_t v = c->unit_node[u];
        if (c->role[v] != RW_NODE || stacked(c, v))
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
                if (can_base(c, base, v) && can_accum(c, term, v)) {
                    c->alias_of[v] = base;
                    c->accum_of[v] = term;
                    c->role[term] = RW_GONE;
                    c->p->n_accum++;
                    c->p->n_inplace++;
                    break;
                }
            }
            if (c->accum_of[v] >= 0)
                continue;
        }
        if (!(op_table[nd->op]->flags & OPF_INPLACE))
            continue;
        for (int k = 0; k < nd->nin; k++)
            if (can_base(c, nd->in[k], v)) {
                c->alias_of[v] = nd->in[k];
                c->p->n_inplace++;
                break;
            }
    }
    return 0;
}
