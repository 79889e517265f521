/* recompute.c - checkpointed BPTT as a graph rewrite; see recompute.h.
 *
 * Ranks: segment j of nseg is processed (r)anked nseg-1-j, so the last
 * segment's backward nodes come first. A backward node's rank is the
 * largest of its own step's rank and its backward inputs' ranks, which
 * makes the emission order (rank, then old index) topological.
 */
#include "engine/recompute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

/* Time steps spanned by the graph's nodes: 1 + the largest t. */
static int32_t graph_steps(const graph *g)
{
    int32_t tmax = -1;
    for (int32_t v = 0; v < g->n; v++)
        if (g->nodes[v].t > tmax)
            tmax = g->nodes[v].t;
    return tmax + 1;
}

typedef struct rc_ctx {
    const graph *g;
    int32_t nf, seg, nseg;
    uint8_t *needed; /* [n] an ancestor of an output */
    int32_t *rank;   /* [n] backward: its rank; forward: its step's rank or -1 */
    uint8_t *clone;  /* [nf] a copy of it is made for its segment */
} rc_ctx;

static int32_t step_rank(const rc_ctx *c, int32_t t)
{
    return t < 0 ? -1 : c->nseg - 1 - t / c->seg;
}

/* A computed forward node that belongs to a time step (leaves are bound
 * memory, and step-less nodes are shared by all segments). */
static int per_step(const rc_ctx *c, int32_t v)
{
    const gnode *nd = &c->g->nodes[v];
    return v < c->nf && nd->op != OP_INPUT && nd->t >= 0;
}

static void mark_needed(rc_ctx *c, const int32_t *outs, int nout)
{
    const graph *g = c->g;
    for (int i = 0; i < nout; i++)
        c->needed[outs[i]] = 1;
    for (int32_t v = g->n - 1; v >= 0; v--)
        if (c->needed[v])
            for (int i = 0; i < g->nodes[v].nin; i++)
                c->needed[g->nodes[v].in[i]] = 1;
}

static void assign_ranks(rc_ctx *c)
{
    const graph *g = c->g;
    for (int32_t v = 0; v < c->nf; v++)
        c->rank[v] = step_rank(c, g->nodes[v].t);
    for (int32_t v = c->nf; v < g->n; v++) {
        const gnode *nd = &g->nodes[v];
        int32_t r = step_rank(c, nd->t);
        if (r < 0)
            r = 0;
        for (int i = 0; i < nd->nin; i++)
            if (nd->in[i] >= c->nf && c->rank[nd->in[i]] > r)
                r = c->rank[nd->in[i]];
        c->rank[v] = r;
    }
    /* which forward nodes need a copy: those a backward node of their own
     * segment reads, then, within the segment, what those read */
    for (int32_t v = c->nf; v < g->n; v++) {
        if (!c->needed[v])
            continue;
        const gnode *nd = &g->nodes[v];
        for (int i = 0; i < nd->nin; i++) {
            int32_t u = nd->in[i];
            if (per_step(c, u) && c->rank[u] == c->rank[v])
                c->clone[u] = 1;
        }
    }
    for (int32_t u = c->nf - 1; u >= 0; u--) {
        if (!c->clone[u])
            continue;
        const gnode *nd = &g->nodes[u];
        for (int i = 0; i < nd->nin; i++) {
            int32_t w = nd->in[i];
            if (per_step(c, w) && c->rank[w] == c->rank[u])
                c->clone[w] = 1;
        }
    }
}

/* The nodes v in [lo, hi) with sel[v - lo] set, sorted by rank (stable:
 * index order within a rank): (*order)[(*start)[r] .. (*start)[r+1]). */
static int by_rank(const rc_ctx *c, int32_t lo, int32_t hi, const uint8_t *sel, int32_t **order,
                   int32_t **start, uerr *e)
{
    *start = calloc((size_t)c->nseg + 2, sizeof **start);
    *order = malloc(((size_t)(hi - lo) + 1) * sizeof **order);
    if (!*start || !*order)
        return uerr_set(e, UERR_INTERNAL, "recompute: out of memory for %d nodes", hi - lo);
    int32_t *at = *start + 1;
    for (int32_t v = lo; v < hi; v++)
        if (sel[v - lo])
            at[c->rank[v]]++;
    for (int32_t r = 0; r < c->nseg; r++)
        at[r] += (*start)[r];
    /* at[r] is now where rank r ends; fill from the rank's start */
    int32_t *fill = calloc((size_t)c->nseg + 1, sizeof *fill);
    if (!fill)
        return uerr_set(e, UERR_INTERNAL, "recompute: out of memory");
    memcpy(fill, *start, (size_t)c->nseg * sizeof *fill);
    for (int32_t v = lo; v < hi; v++)
        if (sel[v - lo])
            (*order)[fill[c->rank[v]]++] = v;
    free(fill);
    return 0;
}

/* The graph's first nf nodes and its whole name pool, as a new graph with
 * room for cap nodes. Names of later nodes keep their offsets. */
static int copy_prefix(const graph *g, int32_t nf, int32_t cap, graph *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    out->dt = g->dt;
    out->cur_t = -1;
    out->limit_bytes = g->limit_bytes;
    out->nodes = malloc((size_t)cap * sizeof(gnode));
    out->names = malloc(g->names_cap);
    if (!out->nodes || !out->names) {
        graph_free(out);
        return uerr_set(e, UERR_INTERNAL, "recompute: out of memory for %d nodes", cap);
    }
    memcpy(out->nodes, g->nodes, (size_t)nf * sizeof(gnode));
    memcpy(out->names, g->names, g->names_len);
    out->n = nf;
    out->cap = cap;
    out->names_len = g->names_len;
    out->names_cap = g->names_cap;
    out->used_bytes = (size_t)cap * sizeof(gnode) + g->names_cap;
    if (out->limit_bytes && out->used_bytes > out->limit_bytes) {
        graph_free(out);
        return uerr_set(e, UERR_USER,
                        "graph: memory limit of %zu bytes reached recomputing %d nodes",
                        g->limit_bytes, cap);
    }
    return 0;
}

static void emit(graph *out, const gnode *proto, const int32_t *in)
{
    gnode *nd = &out->nodes[out->n];
    *nd = *proto;
    for (int i = 0; i < nd->nin; i++)
        nd->in[i] = in[i];
    out->n++;
}

int recompute_graph(const graph *g, int32_t nforward, const int32_t *outs, int nout, int32_t seg,
                    graph *out, int32_t *map, uerr *e)
{
    memset(out, 0, sizeof *out);
    int32_t T = graph_steps(g);
    if (seg < 1 || T < 1 || nforward < 0 || nforward > g->n)
        return uerr_set(e, UERR_INTERNAL, "recompute: segment %d of %d steps", seg, T);
    rc_ctx c = {.g = g, .nf = nforward, .seg = seg, .nseg = (T + seg - 1) / seg};
    int32_t *fwd = NULL, *fstart = NULL, *bwd = NULL, *bstart = NULL;
    int32_t *copy = malloc((size_t)(nforward ? nforward : 1) * sizeof(int32_t));
    c.needed = calloc((size_t)g->n + 1, 1);
    c.rank = malloc(((size_t)g->n + 1) * sizeof(int32_t));
    c.clone = calloc((size_t)nforward + 1, 1);
    int rc = 0;
    if (!copy || !c.needed || !c.rank || !c.clone) {
        rc = uerr_set(e, UERR_INTERNAL, "recompute: out of memory for %d nodes", g->n);
        goto out;
    }
    mark_needed(&c, outs, nout);
    assign_ranks(&c);

    int64_t total = nforward;
    for (int32_t v = 0; v < nforward; v++)
        total += c.clone[v];
    for (int32_t v = nforward; v < g->n; v++)
        total += c.needed[v];
    if (total >= INT32_MAX) {
        rc = uerr_set(e, UERR_USER, "graph: more than %d nodes after recomputation", INT32_MAX - 1);
        goto out;
    }
    if ((rc = copy_prefix(g, nforward, (int32_t)total, out, e)))
        goto out;
    for (int32_t v = 0; v < g->n; v++)
        map[v] = v < nforward ? v : -1;

    /* Per rank: the segment's copies, then its backward nodes, each in
     * index order. The nodes are sorted by rank once (a counting sort):
     * there are about sqrt(T) ranks, too many for a pass over the graph
     * each when T is large. */
    if ((rc = by_rank(&c, 0, nforward, c.clone, &fwd, &fstart, e)) ||
        (rc = by_rank(&c, nforward, g->n, c.needed + nforward, &bwd, &bstart, e)))
        goto out;
    for (int32_t r = 0; r < c.nseg; r++) {
        for (int32_t k = fstart[r]; k < fstart[r + 1]; k++) {
            int32_t u = fwd[k];
            const gnode *nd = &g->nodes[u];
            int32_t in[GRAPH_MAX_IN];
            for (int i = 0; i < nd->nin; i++) {
                int32_t w = nd->in[i];
                in[i] = c.clone[w] && c.rank[w] == r ? copy[w] : w;
            }
            copy[u] = out->n;
            emit(out, nd, in);
        }
        for (int32_t k = bstart[r]; k < bstart[r + 1]; k++) {
            int32_t v = bwd[k];
            const gnode *nd = &g->nodes[v];
            int32_t in[GRAPH_MAX_IN];
            for (int i = 0; i < nd->nin; i++) {
                int32_t w = nd->in[i];
                if (w >= nforward)
                    in[i] = map[w];
                else
                    in[i] = c.clone[w] && c.rank[w] == r ? copy[w] : w;
            }
            map[v] = out->n;
            emit(out, nd, in);
        }
    }
    for (int i = 0; i < nout; i++)
        if (map[outs[i]] < 0) {
            rc = uerr_set(e, UERR_INTERNAL, "recompute: output %d was dropped", outs[i]);
            break;
        }
out:
    if (rc && out->nodes)
        graph_free(out);
    free(fwd);
    free(fstart);
    free(bwd);
    free(bstart);
    free(copy);
    free(c.needed);
    free(c.rank);
    free(c.clone);
    return rc;
}

/* ---- choosing the segment length ------------------------------------------ */

typedef struct candidate {
    int32_t seg;
    graph g;
    plan p;
    int32_t *map;
    int ok;
} candidate;

static void cand_free(candidate *k)
{
    if (k->ok) {
        graph_free(&k->g);
        plan_free(&k->p);
    }
    free(k->map);
    memset(k, 0, sizeof *k);
}

static int cand_build(const graph *g, int32_t nf, const int32_t *outs, int nout, int32_t seg,
                      const plan_options *opt, candidate *k, uerr *e)
{
    memset(k, 0, sizeof *k);
    k->seg = seg;
    k->map = malloc(((size_t)g->n + 1) * sizeof(int32_t));
    int32_t *o = malloc(((size_t)nout + 1) * sizeof(int32_t));
    if (!k->map || !o) {
        free(o);
        cand_free(k);
        return uerr_set(e, UERR_INTERNAL, "recompute: out of memory");
    }
    int rc = recompute_graph(g, nf, outs, nout, seg, &k->g, k->map, e);
    if (!rc) {
        for (int i = 0; i < nout; i++)
            o[i] = k->map[outs[i]];
        rc = plan_build(&k->g, o, nout, opt, &k->p, e);
        if (rc)
            graph_free(&k->g);
    }
    free(o);
    if (rc) {
        cand_free(k);
        return rc;
    }
    k->ok = 1;
    return 0;
}

int recompute_plan(const graph *g, int32_t nforward, const int32_t *outs, int nout, size_t budget,
                   const plan_options *opt, graph *out, plan *p, int32_t *map, recompute_info *info,
                   uerr *e)
{
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    info->steps = graph_steps(g);
    int rc = plan_build(g, outs, nout, opt, p, e);
    if (rc)
        return rc;
    info->full_bytes = info->arena_bytes = p->arena_bytes;
    int forced = opt && opt->recompute_seg > 0 && nforward < g->n;
    if (p->arena_bytes <= budget && !forced)
        return 0;
    plan_options ex = opt ? *opt : (plan_options){0};
    if (ex.fuse != PLAN_FUSE_ALL && nforward == g->n)
        goto plain; /* a forward-only graph stacks nothing: no other plan */
    plan_free(p);

    /* stacking makes every step's rows live at once: without it, a plan
     * may fit with no recomputation at all */
    if (ex.fuse == PLAN_FUSE_ALL) {
        ex.fuse = PLAN_FUSE_EXACT;
        if ((rc = plan_build(g, outs, nout, &ex, p, e)))
            return rc;
        info->arena_bytes = p->arena_bytes;
        if ((p->arena_bytes <= budget && !forced) || nforward == g->n)
            goto plain;
        plan_free(p);
    }
    int32_t T = info->steps;
    candidate best = {0};
    if (ex.recompute_seg > 0) {
        if ((rc = cand_build(g, nforward, outs, nout, ex.recompute_seg, &ex, &best, e)))
            return rc;
        goto chosen;
    }
    /* arena(seg) falls, then rises: T/seg checkpoints against one seg-long
     * segment of activations. Start near sqrt(T) and walk downhill, up
     * then down, to the first length that fits. Any length recomputes
     * about one forward pass, so the first that fits is as fast as any.
     * Only the candidate last built is kept: a long unroll's graph is
     * large, and it would be copied once per candidate otherwise. */
    int32_t seg = 1;
    while ((int64_t)seg * seg < T)
        seg++;
    if ((rc = cand_build(g, nforward, outs, nout, seg, &ex, &best, e)))
        return rc;
    size_t least = best.p.arena_bytes;
    int32_t least_seg = seg;
    for (int dir = 1; dir >= -1 && least > budget; dir -= 2) {
        while (least > budget) {
            int32_t next = dir > 0 ? (least_seg > T / 2 ? T : least_seg * 2) : least_seg / 2;
            if (next < 1 || next == least_seg)
                break;
            cand_free(&best);
            if ((rc = cand_build(g, nforward, outs, nout, next, &ex, &best, e)))
                return rc;
            if (best.p.arena_bytes >= least)
                break;
            least = best.p.arena_bytes;
            least_seg = next;
        }
    }
    if (least > budget) {
        char b1[BYTES_STR_MAX], b2[BYTES_STR_MAX], b3[BYTES_STR_MAX];
        rc = uerr_set(e, UERR_USER,
                      "train.memory_budget: %s is too small for this model: it needs %s "
                      "storing every step, and at least %s recomputing segments of %d steps",
                      bytes_str(budget, b1), bytes_str(info->full_bytes, b2), bytes_str(least, b3),
                      least_seg);
        cand_free(&best);
        return rc;
    }
    if (best.seg != least_seg) {
        cand_free(&best);
        if ((rc = cand_build(g, nforward, outs, nout, least_seg, &ex, &best, e)))
            return rc;
    }
chosen:
    *out = best.g;
    *p = best.p;
    memcpy(map, best.map, (size_t)g->n * sizeof(int32_t));
    free(best.map);
    info->seg = best.seg;
    info->arena_bytes = p->arena_bytes;
    info->extra_nodes = out->n - g->n;
    for (int32_t v = nforward; v < g->n; v++)
        if (map[v] < 0)
            info->extra_nodes++;
    return 0;
plain:
    /* nothing to recompute (a forward-only graph) or no need to */
    if (p->arena_bytes <= budget)
        return 0;
    {
        char b1[BYTES_STR_MAX], b2[BYTES_STR_MAX];
        rc = uerr_set(e, UERR_USER,
                      "train.memory_budget: %s is too small for this model: its forward "
                      "pass alone needs %s",
                      bytes_str(budget, b1), bytes_str(p->arena_bytes, b2));
        plan_free(p);
        return rc;
    }
}
