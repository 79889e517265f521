/*
 * plan_schedule.c - the order the program runs its units in; see plan.h.
 *
 * A unit is a node computed by its own instruction, or a stacked group or
 * stacked sum (one instruction for many nodes). Without stacking the order
 * is the graph's index order (a topological order, the one the graph was
 * built in). With it, a topological order of the units that otherwise
 * keeps index order; when the stacking would make the units a cycle, it
 * is undone (plan_unstack) and the index order kept.
 */
#include <stdlib.h>

#include "engine/plan_int.h"

typedef struct sched {
    const plan_needs *n;
    plan_decisions *d;
    int32_t *unit_of; /* [N] the unit computing each node */
} sched;

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
static int schedule_in_order(sched *c, uerr *e)
{
    int32_t n = 0;
    for (int32_t v = 0; v < c->n->N; v++)
        n += c->n->need[v] == RW_COMPUTED;
    c->d->unit_kind = calloc((size_t)n + 1, 1);
    c->d->unit_node = malloc(((size_t)n + 1) * sizeof(int32_t));
    c->d->order = malloc(((size_t)n + 1) * sizeof(int32_t));
    if (!c->d->unit_kind || !c->d->unit_node || !c->d->order)
        return plan_oom(c->n, e);
    c->d->nunits = 0;
    for (int32_t v = 0; v < c->n->N; v++)
        if (c->n->need[v] == RW_COMPUTED) {
            c->d->unit_node[c->d->nunits] = v;
            c->d->order[c->d->nunits] = c->d->nunits;
            c->d->nunits++;
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
static int schedule_units(sched *c, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N, U = c->d->ngroups + c->d->nstacks;
    int rc = 0;
    c->unit_of = malloc((size_t)N * sizeof(int32_t));
    if (!c->unit_of)
        return plan_oom(c->n, e);
    for (int32_t i = 0; i < c->d->ngroups; i++)
        for (int32_t k = 0; k < c->d->groups[i].n; k++)
            c->unit_of[c->d->members[c->d->groups[i].first + k]] = i;
    for (int32_t i = 0; i < c->d->nstacks; i++)
        for (int32_t k = 0; k < c->d->stacks[i].n; k++)
            c->unit_of[c->d->members[c->d->stacks[i].first + k]] = c->d->ngroups + i;
    for (int32_t v = 0; v < N; v++) {
        if (c->n->need[v] != RW_COMPUTED)
            continue;
        if (c->d->role[v] != RW_GROUPED && c->d->role[v] != RW_STACKED)
            c->unit_of[v] = U++;
    }
    c->d->nunits = U;
    c->d->unit_kind = calloc((size_t)U + 1, 1);
    c->d->unit_node = malloc(((size_t)U + 1) * sizeof(int32_t));
    c->d->order = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *prio = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *indeg = calloc((size_t)U + 1, sizeof(int32_t));
    int32_t *estart = calloc((size_t)U + 2, sizeof(int32_t));
    int32_t *heap = malloc(((size_t)U + 1) * sizeof(int32_t));
    int32_t *adj = NULL;
    if (!c->d->unit_kind || !c->d->unit_node || !c->d->order || !prio || !indeg || !estart ||
        !heap) {
        rc = plan_oom(c->n, e);
        goto out;
    }
    for (int32_t u = 0; u < U; u++)
        prio[u] = INT32_MAX;
    for (int32_t i = 0; i < c->d->ngroups; i++)
        c->d->unit_kind[i] = RW_UNIT_GROUP, c->d->unit_node[i] = i;
    for (int32_t i = 0; i < c->d->nstacks; i++)
        c->d->unit_kind[c->d->ngroups + i] = RW_UNIT_STACK, c->d->unit_node[c->d->ngroups + i] = i;
    int64_t nedges = 0;
    for (int32_t v = 0; v < N; v++) {
        if (c->n->need[v] != RW_COMPUTED)
            continue;
        int32_t u = c->unit_of[v];
        if (c->d->role[v] != RW_GROUPED && c->d->role[v] != RW_STACKED)
            c->d->unit_kind[u] = RW_UNIT_NODE, c->d->unit_node[u] = v;
        prio[u] = v < prio[u] ? v : prio[u];
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++) {
            int32_t w = nd->in[k];
            if (c->n->need[w] != RW_COMPUTED || c->unit_of[w] == u)
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
        rc = plan_oom(c->n, e);
        goto out;
    }
    for (int32_t v = 0; v < N; v++) {
        if (c->n->need[v] != RW_COMPUTED)
            continue;
        int32_t u = c->unit_of[v];
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++) {
            int32_t w = nd->in[k];
            if (c->n->need[w] != RW_COMPUTED || c->unit_of[w] == u)
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
            while (pos < N && (c->n->need[pos] != RW_COMPUTED || prio[c->unit_of[pos]] != pos ||
                               indeg[c->unit_of[pos]] != 0))
                pos++;
            if (pos == N)
                break;
            u = c->unit_of[pos++];
        }
        c->d->order[done++] = u;
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

int plan_schedule(const plan_needs *n, plan_decisions *d, plan *p, uerr *e)
{
    sched c = {.n = n, .d = d};
    if (d->ngroups + d->nstacks == 0)
        return schedule_in_order(&c, e);
    int rc = schedule_units(&c, e);
    free(c.unit_of);
    if (rc <= 0 || e->code)
        return rc;
    /* a cycle: stacking these groups together is impossible; plan
     * without stacking rather than fail */
    plan_unstack(n, d, p);
    free(d->unit_kind);
    free(d->unit_node);
    free(d->order);
    d->unit_kind = NULL;
    d->unit_node = NULL;
    d->order = NULL;
    return schedule_in_order(&c, e);
}
