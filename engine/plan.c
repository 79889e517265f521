/* plan.c - the planner's driver, its program and its buffers; see plan.h.
 *
 * The passes, in order:
 *   1. which nodes are needed (ancestors of the outputs), how many readers
 *      each has, which are outputs (plan_needs, here);
 *   2. (PLAN_FUSE_ALL) stacking: row groups and stacked sums are chosen,
 *      and the "next to each other in memory" constraints they need are
 *      merged into chains of nodes (plan_stack.c); then the products that
 *      read a copy W^T (plan_transpose.c);
 *   3. the schedule: index order, or, when something is stacked, a
 *      topological order of the units (a stacked group is one unit) that
 *      otherwise keeps index order (plan_schedule.c);
 *   4. (EXACT and ALL) in place and accumulate decisions (plan_inplace.c),
 *      then what products' instructions do besides the product
 *      (plan_fold.c);
 *   5. the program; every buffer's first write and last read; buffers
 *      assigned by a sweep over the program with exact-size free lists
 *      (here), a stack written over the stack it reads where it can be
 *      (plan_over.c). This stage reads the rewrites' plan_decisions only.
 */
#include "engine/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "ops/ops.h"

#define PLAN_ALIGN 64

int plan_fuse_from_name(const char *s, int *fuse)
{
    static const char *const names[] = {"all", "exact", "none"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *fuse = i;
            return 0;
        }
    return -1;
}

const char *plan_fuse_name(int fuse)
{
    return fuse == PLAN_FUSE_NONE ? "none" : fuse == PLAN_FUSE_EXACT ? "exact" : "all";
}

/* ---- free lists: buffers grouped by exact byte size ---------------------- */

typedef struct bucket {
    size_t size;
    size_t *off;
    int32_t n, cap;
} bucket;

typedef struct freelist {
    bucket *b;
    int nb, cap;
} freelist;

/* Few distinct sizes occur in an unrolled graph, so a linear scan of the
 * buckets is enough. */
static bucket *find_bucket(freelist *fl, size_t size, int create)
{
    for (int i = 0; i < fl->nb; i++)
        if (fl->b[i].size == size)
            return &fl->b[i];
    if (!create)
        return NULL;
    if (VEC_GROW(fl->b, fl->cap, fl->nb + 1))
        return NULL;
    fl->b[fl->nb] = (bucket){.size = size};
    return &fl->b[fl->nb++];
}

static int give_back(freelist *fl, size_t size, size_t off)
{
    bucket *b = find_bucket(fl, size, 1);
    if (!b)
        return -1;
    if (VEC_GROW(b->off, b->cap, b->n + 1))
        return -1;
    b->off[b->n++] = off;
    return 0;
}

static void freelist_free(freelist *fl)
{
    for (int i = 0; i < fl->nb; i++)
        free(fl->b[i].off);
    free(fl->b);
}

static size_t round_up(size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    return (bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* ---- what is needed, and the decisions' storage ------------------------------ */

/* A node reading w in two slots (mul(x, x)) is one reader. */
static int first_slot(const gnode *nd, int k)
{
    for (int j = 0; j < k; j++)
        if (nd->in[j] == nd->in[k])
            return 0;
    return 1;
}

int plan_oom(const plan_needs *n, uerr *e)
{
    return uerr_set(e, UERR_INTERNAL, "plan: out of memory for %d nodes", n->N);
}

static int needs_init(plan_needs *n, plan_decisions *d, const graph *g, const int32_t *outputs,
                      int nout, int fuse, plan *p, uerr *e)
{
    memset(n, 0, sizeof *n);
    memset(d, 0, sizeof *d);
    int32_t N = g->n;
    size_t sz = N ? (size_t)N : 1;
    n->g = g;
    n->fuse = fuse;
    n->N = N;
    n->outputs = outputs;
    n->nout = nout;
    p->nnodes = N;
    p->fuse = fuse;
    n->need = calloc(sz, 1);
    n->isout = calloc(sz, 1);
    n->nread = calloc(sz, sizeof(int32_t));
    d->role = calloc(sz, 1);
    d->alias_of = malloc(sz * sizeof(int32_t));
    d->accum_of = malloc(sz * sizeof(int32_t));
    d->replace = malloc(sz * sizeof(int32_t));
    if (!n->need || !n->isout || !d->role || !n->nread || !d->alias_of || !d->accum_of ||
        !d->replace)
        return plan_oom(n, e);
    for (int i = 0; i < nout; i++) {
        if (outputs[i] < 0 || outputs[i] >= N)
            return uerr_set(e, UERR_INTERNAL, "plan: output %d is not a node", outputs[i]);
        n->need[outputs[i]] = n->isout[outputs[i]] = 1;
    }
    int32_t nleaves = 0;
    for (int32_t v = N - 1; v >= 0; v--) {
        if (!n->need[v])
            continue;
        const gnode *nd = &g->nodes[v];
        if (nd->op == OP_INPUT) {
            nleaves++;
            continue;
        }
        for (int k = 0; k < nd->nin; k++) {
            n->need[nd->in[k]] = 1;
            if (first_slot(nd, k))
                n->nread[nd->in[k]]++;
        }
    }
    p->leaves = malloc(((size_t)nleaves + 1) * sizeof(int32_t));
    if (!p->leaves)
        return plan_oom(n, e);
    for (int32_t v = 0; v < N; v++) {
        d->alias_of[v] = d->accum_of[v] = d->replace[v] = -1;
        if (n->need[v] && g->nodes[v].op == OP_INPUT) {
            p->leaves[p->nleaves++] = v;
            n->need[v] = RW_LEAF;
        }
    }
    return graph_init(&p->vg, g->dt, e);
}

static void needs_free(plan_needs *n, plan_decisions *d)
{
    free(n->need);
    free(n->isout);
    free(n->nread);
    free(d->role);
    free(d->alias_of);
    free(d->accum_of);
    free(d->replace);
    free(d->pre);
    free(d->next);
    free(d->prev);
    free(d->slot_leaf);
    free(d->slot_vnode);
    free(d->groups);
    free(d->stacks);
    free(d->members);
    free(d->chunk_vop);
    free(d->unit_kind);
    free(d->unit_node);
    free(d->order);
    memset(n, 0, sizeof *n);
    memset(d, 0, sizeof *d);
}

/* ---- the plan's own graph: stacked views and operations ---------------------- */

int plan_vnode(plan *p, int32_t id, int32_t src, const plan_needs *n, uerr *e)
{
    /* vg grows one node at a time: vsrc doubles from 64 as ids reach each
     * power of two */
    if (id == 0 || (id >= 64 && (id & (id - 1)) == 0)) {
        size_t cap = id < 64 ? 64 : 2 * (size_t)id;
        int32_t *nv = realloc(p->vsrc, cap * sizeof *nv);
        if (!nv)
            return plan_oom(n, e);
        p->vsrc = nv;
    }
    p->vsrc[id] = src;
    return 0;
}

int32_t plan_vleaf(plan *p, shape s, dtype dt, int32_t src, const plan_needs *n, uerr *e)
{
    /* a view of a parameter is one too: a product keeps its packing of
     * one across runs (kernels/gemm.h) */
    uint32_t flags = src >= 0 && src < n->N ? n->g->nodes[src].flags & NODE_PARAM : 0;
    int32_t id;
    if (graph_leaf(&p->vg, NULL, dt, s, flags, -1, &id, e) || plan_vnode(p, id, src, n, e))
        return -1;
    return id;
}

int32_t plan_vmatmul(plan *p, int32_t a, int32_t b, int ta, int tb, const plan_needs *n, uerr *e)
{
    int32_t id = op_matmul(&p->vg, a, b, ta, tb, e);
    return id < 0 || plan_vnode(p, id, -1, n, e) ? -1 : id;
}

/* ---- the program ---------------------------------------------------------- */

/* What the last stage reads: the needs and the rewrites' decisions. */
typedef struct prog {
    const plan_needs *n;
    const plan_decisions *d;
    plan *p;
    int32_t instr_cap;
} prog;

static int emit(prog *c, uint8_t kind, int32_t node, int32_t out)
{
    plan *p = c->p;
    if (VEC_GROW(p->instr, c->instr_cap, p->ninstr + 1))
        return -1;
    p->instr[p->ninstr++] = (plan_instr){.kind = kind, .node = node, .out = out};
    return 0;
}

/* Emits the units in schedule order: copies of leaves into stacks first
 * (they depend on nothing), then each unit as one instruction. */
static int emit_program(prog *c)
{
    for (int32_t k = 0; k < c->d->nslots; k++)
        if (emit(c, PLAN_COPY, c->d->slot_leaf[k], c->n->N + c->d->slot_vnode[k]))
            return -1;
    for (int32_t k = 0; k < c->d->npre; k++)
        if (emit(c, PLAN_RUN, c->n->N + c->d->pre[k], c->n->N + c->d->pre[k]))
            return -1;
    for (int32_t i = 0; i < c->d->nunits; i++) {
        int32_t u = c->d->order[i];
        int32_t v = c->d->unit_node[u];
        if (c->d->unit_kind[u] == RW_UNIT_GROUP) {
            const rw_group *gr = &c->d->groups[v];
            if (emit(c, PLAN_RUN, c->n->N + gr->vop, gr->out_first))
                return -1;
            continue;
        }
        if (c->d->unit_kind[u] == RW_UNIT_STACK) {
            const rw_stack *st = &c->d->stacks[v];
            /* the first chunk written, the next ones added to it */
            for (int32_t k = 0; k < (st->nchunk ? st->nchunk : 1); k++)
                if (emit(c, k ? PLAN_ACCUM : PLAN_RUN,
                         c->n->N + (st->nchunk ? c->d->chunk_vop[st->chunk0 + k] : st->vop),
                         st->top))
                    return -1;
            /* then the terms that could not be stacked */
            for (int32_t k = 0; k < st->nleft; k++)
                if (emit(c, PLAN_ACCUM, c->d->members[st->first + st->nadds + k], st->top))
                    return -1;
            continue;
        }
        if (c->d->role[v] == RW_GONE || c->d->role[v] == RW_FOLDED)
            continue;
        /* a node may run as another (a product reading W^T) */
        int32_t y = c->d->accum_of[v];
        if (y >= 0) {
            if (emit(c, PLAN_ACCUM, plan_runs_as(c->d, y), v))
                return -1;
        } else if (emit(c, PLAN_RUN, plan_runs_as(c->d, v), v)) {
            return -1;
        }
    }
    return 0;
}

/* ---- buffers ---------------------------------------------------------------- */

typedef struct storage {
    size_t bytes; /* rounded up to PLAN_ALIGN */
    size_t raw;   /* what is written: the padding is never touched */
    size_t offset;
    int32_t def, end; /* first writing and last reading instruction */
    int fixed;        /* placed by plan_options.nfixed, not by the sweep */
    int borrowed;     /* lives in a fixed storage's place before it */
} storage;

static size_t gid_bytes(const prog *c, int32_t id)
{
    return op_value_bytes(plan_node(c->p, c->n->g, id));
}

/* Places the first nfixed outputs side by side from offset 0, when each
 * has a storage of its own that begins with it and holds nothing larger
 * (not a member of a stack, not shared with another output). Returns the
 * bytes they take, or 0 (and places nothing) when one cannot be placed. */
static size_t place_fixed(prog *c, int32_t nfixed, const int32_t *stor, const size_t *spos,
                          storage *st)
{
    size_t at = 0;
    int32_t i;
    for (i = 0; i < nfixed && i < c->n->nout; i++) {
        int32_t o = c->n->outputs[i], s = stor[o];
        if (s < 0 || spos[o] != 0 || st[s].fixed || st[s].bytes != round_up(gid_bytes(c, o)))
            break;
        st[s].fixed = 1;
        st[s].offset = at;
        at += st[s].bytes;
    }
    if (i == nfixed)
        return at;
    while (--i >= 0)
        st[stor[c->n->outputs[i]]].fixed = 0;
    return 0;
}

/* The storage a read of id touches: a view reads its source's. */
static int32_t storage_of(const prog *c, const int32_t *stor, int32_t id)
{
    if (id >= c->n->N && c->p->vsrc[id - c->n->N] >= 0)
        id = c->p->vsrc[id - c->n->N];
    return stor[id];
}

int plan_instr_reads(const plan *p, const graph *g, const plan_instr *pi, int32_t *buf, int cap)
{
    int n = 0;
    if (pi->kind == PLAN_COPY) {
        buf[n++] = pi->node;
        return n;
    }
    const gnode *nd = plan_node(p, g, pi->node);
    int base = pi->node < p->nnodes ? 0 : p->nnodes;
    for (int k = 0; k < nd->nin && n < cap; k++)
        buf[n++] = base + nd->in[k];
    return n;
}

int plan_reads_leaf(const plan *p, const graph *g, int32_t i, int32_t leaf)
{
    int32_t in[GRAPH_MAX_IN];
    for (int k = plan_instr_reads(p, g, &p->instr[i], in, GRAPH_MAX_IN) - 1; k >= 0; k--) {
        int32_t src = in[k];
        while (src >= p->nnodes && p->vsrc[src - p->nnodes] >= 0)
            src = p->vsrc[src - p->nnodes];
        if (src == leaf)
            return 1;
    }
    return 0;
}

/* The node whose storage o (written in place) lives in: its base, or,
 * past bases folded into their products, theirs. */
static int32_t base_of(const plan_decisions *d, int32_t o)
{
    int32_t b = d->alias_of[o];
    while (d->role[b] == RW_FOLDED)
        b = d->alias_of[b];
    return b;
}

/* fills this small never take a freed buffer (see below) */
#define FILL_OWN_BYTES 64

static int assign_buffers(prog *c, const plan_options *opt, uerr *e)
{
    plan *p = c->p;
    int32_t G = c->n->N + p->vg.n;
    int32_t *stor = malloc((size_t)G * sizeof *stor);
    size_t *spos = calloc((size_t)G, sizeof *spos);
    storage *st = NULL;
    int32_t nst = 0, cap = 0;
    int32_t *bydef = NULL, *byend = NULL, *dstart = NULL, *estart = NULL, *over = NULL;
    freelist fl = {0};
    int rc = 0;
    if (!stor || !spos)
        goto oom;
    for (int32_t i = 0; i < G; i++)
        stor[i] = -1;
#define NEW_STORAGE(bytes_)                                                                        \
    do {                                                                                           \
        if (VEC_GROW(st, cap, nst + 1))                                                            \
            goto oom;                                                                              \
        st[nst++] =                                                                                \
            (storage){.bytes = round_up(bytes_), .raw = (bytes_), .def = INT32_MAX, .end = -1};    \
    } while (0)

    /* stacks: one storage per chain of linked nodes, members at fixed
     * strides so that the chain reads as one [rows, N] matrix; a chain
     * written over another (plan_over.c) in that one's, made first */
    if (!(opt && (opt->no_reuse || opt->no_over)) && !(over = plan_stacks_over(c->n, c->d, p)))
        goto oom;
    for (int32_t id = 0; id < 2 * G; id++) {
        int32_t h = id % G, ah = over ? over[h] : -1;
        if (h >= c->d->nlinks || c->d->prev[h] >= 0 || c->d->next[h] < 0 || stor[h] >= 0 ||
            (ah >= 0 && stor[ah] < 0 && id < G))
            continue;
        if (ah >= 0 && stor[ah] >= 0) {
            for (int32_t m = h, a = ah; m >= 0; m = c->d->next[m], a = c->d->next[a]) {
                stor[m] = stor[a];
                spos[m] = spos[a];
            }
            p->n_over++;
            continue;
        }
        size_t mb = gid_bytes(c, h), pos = 0;
        int32_t len = 0;
        for (int32_t m = h; m >= 0; m = c->d->next[m])
            len++;
        NEW_STORAGE(mb * (size_t)len);
        for (int32_t m = h; m >= 0; m = c->d->next[m], pos += mb) {
            stor[m] = nst - 1;
            spos[m] = pos;
        }
    }
    /* every other written node: a storage of its own, or its in-place
     * base's (bases are written earlier in the program; a bias folded into
     * its product is no instruction's, and lives in its base's) */
    for (int32_t i = 0; i < p->ninstr; i++) {
        int32_t o = p->instr[i].out;
        if (stor[o] >= 0)
            continue;
        if (o < c->n->N && c->d->alias_of[o] >= 0) {
            int32_t b = base_of(c->d, o);
            stor[o] = stor[b];
            spos[o] = spos[b];
            continue;
        }
        NEW_STORAGE(gid_bytes(c, o));
        stor[o] = nst - 1;
    }
    for (int32_t v = 0; v < c->n->N; v++)
        if (c->d->role[v] == RW_FOLDED) {
            int32_t b = base_of(c->d, v);
            stor[v] = stor[b];
            spos[v] = spos[b];
        }
#undef NEW_STORAGE
    /* first write and last read of each storage */
    for (int32_t i = 0; i < p->ninstr; i++) {
        const plan_instr *pi = &p->instr[i];
        int32_t s = stor[pi->out];
        /* a buffer is alive where it is written, even if never read */
        if (s >= 0 && st[s].def > i)
            st[s].def = i;
        if (s >= 0 && st[s].end < i)
            st[s].end = i;
        /* in a row run, what is read whole lives to the run's end: a part
         * ahead must not write over it while another still reads it. A
         * buffer read by rows may be handed on within the run: to one of
         * its size, so of its rows (plan_rows.c), each written by the part
         * that read them */
        int32_t last = plan_rows_end(p, i);
        unsigned split = last > i ? plan_rows_split(p, c->n->g, i) : 0;
        int32_t rd[GRAPH_MAX_IN + 1];
        int nr = plan_instr_reads(p, c->n->g, pi, rd, GRAPH_MAX_IN + 1);
        for (int k = 0; k < nr; k++) {
            int32_t r = storage_of(c, stor, rd[k]), until = split >> k & 1 ? i : last;
            if (r >= 0 && st[r].end < until)
                st[r].end = until;
        }
    }
    for (int32_t i = 0; i < c->n->nout; i++) {
        int32_t s = stor[c->n->outputs[i]];
        if (s >= 0)
            st[s].end = INT32_MAX;
    }
    /* a copy kept across runs is no other value's place (plan_mirror.c) */
    for (int32_t i = 0; i < p->ninstr; i++) {
        int32_t s = plan_mirror_leaf(p, opt, i) >= 0 ? stor[p->instr[i].out] : -1;
        if (s >= 0)
            st[s].end = INT32_MAX;
    }
    for (int32_t s = 0; s < nst; s++) {
        if (st[s].def == INT32_MAX) {
            rc = uerr_set(e, UERR_INTERNAL, "plan: a buffer is never written");
            goto out;
        }
        if (st[s].end < st[s].def)
            st[s].end = st[s].def; /* a value nobody reads dies at once */
    }
    /* the sweep: at each instruction, its new buffers first (an output
     * never shares memory with an input, in place aside), then the
     * buffers whose last reader it is go back to the free lists */
    int32_t n = p->ninstr;
    bydef = malloc((size_t)(nst ? nst : 1) * sizeof *bydef);
    byend = malloc((size_t)(nst ? nst : 1) * sizeof *byend);
    dstart = calloc((size_t)n + 2, sizeof *dstart);
    estart = calloc((size_t)n + 2, sizeof *estart);
    if (!bydef || !byend || !dstart || !estart)
        goto oom;
    for (int32_t s = 0; s < nst; s++) {
        dstart[st[s].def + 1]++;
        if (st[s].end != INT32_MAX)
            estart[st[s].end + 1]++;
    }
    for (int32_t i = 0; i <= n; i++) {
        dstart[i + 1] += dstart[i];
        estart[i + 1] += estart[i];
    }
    for (int32_t s = 0; s < nst; s++) {
        bydef[dstart[st[s].def]++] = s;
        if (st[s].end != INT32_MAX)
            byend[estart[st[s].end]++] = s;
    }
    /* dstart[i] now ends group i: shift back */
    for (int32_t i = n; i > 0; i--) {
        dstart[i] = dstart[i - 1];
        estart[i] = estart[i - 1];
    }
    dstart[0] = estart[0] = 0;
    int reuse = !(opt && opt->no_reuse);
    size_t top = 0;
    if (opt && opt->nfixed > 0) {
        top = place_fixed(c, opt->nfixed, stor, spos, st);
        p->fixed = top > 0;
    }
    /* A fixed storage's place is free until it is first written: a buffer
     * of its size that dies before then may live there (the copy of W^T
     * in the place of W's gradient). The sizes must agree to the byte:
     * the padding between gradients is part of the flat gradient block,
     * and must stay zero. busy[f]: the end of its last tenant. */
    int32_t nfx = 0, *fx = NULL, *busy = NULL;
    if (p->fixed && reuse) {
        fx = malloc((size_t)opt->nfixed * sizeof *fx);
        busy = malloc((size_t)opt->nfixed * sizeof *busy);
        if (!fx || !busy) {
            free(fx);
            free(busy);
            goto oom;
        }
        for (int32_t s = 0; s < nst; s++)
            if (st[s].fixed) {
                fx[nfx] = s;
                busy[nfx++] = -1;
            }
    }
    for (int32_t i = 0; i < n; i++) {
        for (int32_t k = dstart[i]; k < dstart[i + 1]; k++) {
            storage *s = &st[bydef[k]];
            if (s->fixed)
                continue;
            /* With no row run (two lanes, plan_lanes.c) nothing borrows a
             * gradient's place: the gradient's first chunk, which runs
             * beside the backward, would wait for the last reader of
             * what lived there (a step's value, U^T), late or at the
             * backward's end. */
            for (int32_t f = 0; f < nfx && !s->borrowed && p->nruns; f++) {
                const storage *h = &st[fx[f]];
                if (h->raw == s->raw && busy[f] < i && s->end < h->def) {
                    s->offset = h->offset;
                    s->borrowed = 1;
                    busy[f] = s->end;
                }
            }
            if (s->borrowed)
                continue;
            /* A value made from nothing (a fill: the loss's seed gradient
             * 1) takes a buffer freed by the step's last reads, and so
             * would wait for them under two lanes (plan_lanes.c): given
             * memory of its own, when small, it waits for nothing. */
            int fresh = s->bytes <= FILL_OWN_BYTES && plan_rows_free(p, c->n->g, i);
            bucket *b = reuse && !fresh ? find_bucket(&fl, s->bytes, 0) : NULL;
            if (b && b->n > 0) {
                s->offset = b->off[--b->n];
            } else {
                s->offset = top;
                top += s->bytes;
            }
        }
        if (!reuse)
            continue;
        for (int32_t k = estart[i]; k < estart[i + 1]; k++)
            if (!st[byend[k]].borrowed && give_back(&fl, st[byend[k]].bytes, st[byend[k]].offset)) {
                free(fx);
                free(busy);
                goto oom;
            }
    }
    free(fx);
    free(busy);
    p->arena_bytes = top;
    /* the arena without reuse, rewrites or stacking: one buffer per node */
    for (int32_t v = 0; v < c->n->N; v++)
        if (c->n->need[v] == RW_COMPUTED)
            p->naive_bytes += round_up(gid_bytes(c, v));
    for (int32_t id = 0; id < G; id++)
        p->offset[id] = stor[id] >= 0 ? st[stor[id]].offset + spos[id] : PLAN_NO_BUFFER;
    goto out;
oom:
    rc = plan_oom(c->n, e);
out:
    free(stor);
    free(spos);
    free(st);
    free(over);
    free(bydef);
    free(byend);
    free(dstart);
    free(estart);
    freelist_free(&fl);
    return rc;
}

/* ---- plan_build ------------------------------------------------------------- */

/* The parameters' updates, after everything else: in program order each
 * comes after every read of its leaf, and they are left out of the
 * buffers' sweep and the row runs (they write no buffer; the gradients
 * they read are outputs, never freed). */
static int add_updates(prog *c, const int32_t *outputs, const plan_options *opt)
{
    for (int32_t i = 0; i < opt->nfixed; i++)
        if (emit(c, PLAN_UPDATE, opt->update_leaves[i], outputs[i]))
            return -1;
    c->p->nupdate = opt->nfixed;
    c->p->update_cycles = opt->update_cycles;
    return 0;
}

int plan_build(const graph *g, const int32_t *outputs, int nout, const plan_options *opt, plan *p,
               uerr *e)
{
    memset(p, 0, sizeof *p);
    plan_needs n;
    plan_decisions d;
    int fuse = opt ? opt->fuse : PLAN_FUSE_ALL;
    int rc = needs_init(&n, &d, g, outputs, nout, fuse, p, e);
    n.no_step_sums = opt && opt->no_step_sums;
    n.no_folds = opt && opt->no_folds;
    if (!rc && fuse == PLAN_FUSE_ALL)
        rc = plan_stacking(&n, &d, p, e);
    if (!rc && fuse == PLAN_FUSE_ALL)
        rc = plan_transposing(&n, &d, p, e);
    if (!rc)
        rc = plan_schedule(&n, &d, p, e);
    if (!rc && fuse != PLAN_FUSE_NONE) {
        plan_in_place(&n, &d, p);
        rc = plan_fold(&n, &d, p, e);
    }
    prog c = {.n = &n, .d = &d, .p = p};
    if (!rc && emit_program(&c))
        rc = plan_oom(&n, e);
    if (!rc) {
        p->offset = malloc(((size_t)n.N + (size_t)p->vg.n + 1) * sizeof *p->offset);
        if (!p->offset)
            rc = plan_oom(&n, e);
    }
    if (!rc)
        rc = plan_rows_find(g, p, e);
    if (!rc)
        rc = assign_buffers(&c, opt, e);
    if (!rc)
        rc = plan_rows_check(g, p, e);
    if (!rc && opt && opt->update_leaves && p->fixed &&
        (add_updates(&c, outputs, opt) || plan_mirrors_find(p, opt)))
        rc = plan_oom(&n, e);
    if (!rc && !(opt && opt->no_lanes))
        rc = plan_lanes(g, p, e);
    needs_free(&n, &d);
    if (rc)
        plan_free(p);
    return rc;
}

/* FNV-1a, fed field by field so that no padding byte is read */
static uint64_t fnv(uint64_t h, const void *v, size_t n)
{
    const unsigned char *b = v;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t digest_graph(uint64_t h, const graph *g)
{
    h = fnv(h, &g->n, sizeof g->n);
    for (int32_t i = 0; i < g->n; i++) {
        const gnode *nd = &g->nodes[i];
        h = fnv(h, nd->in, nd->nin * sizeof nd->in[0]);
        h = fnv(h, nd->ip, sizeof nd->ip);
        h = fnv(h, &nd->fp, sizeof nd->fp);
        h = fnv(h, &nd->shape.rank, sizeof nd->shape.rank);
        h = fnv(h, nd->shape.dim, (size_t)nd->shape.rank * sizeof nd->shape.dim[0]);
        h = fnv(h, &nd->op, sizeof nd->op);
        h = fnv(h, &nd->dt, sizeof nd->dt);
        h = fnv(h, &nd->nin, sizeof nd->nin);
        h = fnv(h, &nd->flags, sizeof nd->flags);
        h = fnv(h, &nd->t, sizeof nd->t);
    }
    return h;
}

uint64_t plan_digest(const plan *p, const graph *g)
{
    uint64_t h = digest_graph(digest_graph(0xcbf29ce484222325ULL, g), &p->vg);
    for (int32_t i = 0; i < p->ninstr; i++) {
        const plan_instr *in = &p->instr[i];
        h = fnv(h, &in->kind, sizeof in->kind);
        h = fnv(h, &in->node, sizeof in->node);
        h = fnv(h, &in->out, sizeof in->out);
    }
    h = fnv(h, p->offset, (size_t)(p->nnodes + p->vg.n) * sizeof p->offset[0]);
    for (int32_t k = 0; k < p->nruns; k++) {
        const plan_rows_run *r = &p->runs[k];
        h = fnv(h, &r->first, sizeof r->first);
        h = fnv(h, &r->n, sizeof r->n);
        h = fnv(h, &r->M, sizeof r->M);
    }
    return fnv(h, &p->arena_bytes, sizeof p->arena_bytes);
}

void plan_free(plan *p)
{
    free(p->instr);
    free(p->leaves);
    free(p->offset);
    free(p->vsrc);
    free(p->runs);
    free(p->tasks);
    free(p->regions);
    free(p->mirrors);
    if (p->vg.names)
        graph_free(&p->vg);
    memset(p, 0, sizeof *p);
}
