/* plan.c - schedule, liveness and buffer assignment; see plan.h. */
#include "graph/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_ALIGN 64

/* Free buffers grouped by exact byte size; few distinct sizes occur in an
 * unrolled graph, so a linear scan of the buckets is enough. */
typedef struct bucket {
    size_t size;
    size_t *off;
    int32_t n, cap;
} bucket;

typedef struct freelist {
    bucket *b;
    int nb, cap;
} freelist;

static bucket *find_bucket(freelist *fl, size_t size, int create)
{
    for (int i = 0; i < fl->nb; i++)
        if (fl->b[i].size == size)
            return &fl->b[i];
    if (!create)
        return NULL;
    if (fl->nb == fl->cap) {
        int ncap = fl->cap ? fl->cap * 2 : 16;
        bucket *nb = realloc(fl->b, (size_t)ncap * sizeof *nb);
        if (!nb)
            return NULL;
        fl->b = nb;
        fl->cap = ncap;
    }
    fl->b[fl->nb] = (bucket){.size = size};
    return &fl->b[fl->nb++];
}

static int give_back(freelist *fl, size_t size, size_t off)
{
    bucket *b = find_bucket(fl, size, 1);
    if (!b)
        return -1;
    if (b->n == b->cap) {
        int32_t ncap = b->cap ? b->cap * 2 : 8;
        size_t *p = realloc(b->off, (size_t)ncap * sizeof *p);
        if (!p)
            return -1;
        b->off = p;
        b->cap = ncap;
    }
    b->off[b->n++] = off;
    return 0;
}

static void freelist_free(freelist *fl)
{
    for (int i = 0; i < fl->nb; i++)
        free(fl->b[i].off);
    free(fl->b);
}

static size_t node_bytes(const gnode *n)
{
    size_t bytes = (size_t)shape_numel(&n->shape) * dtype_size((dtype)n->dt);
    if (bytes == 0)
        bytes = 1;
    return (bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

int plan_build(const graph *g, const int32_t *outputs, int nout, const plan_options *opt,
               plan *p, uerr *e)
{
    memset(p, 0, sizeof *p);
    int32_t n = g->n;
    p->nnodes = n;
    uint8_t *need = calloc((size_t)n ? (size_t)n : 1, 1);
    int32_t *last = malloc(((size_t)n ? (size_t)n : 1) * sizeof(int32_t));
    p->offset = malloc(((size_t)n ? (size_t)n : 1) * sizeof(size_t));
    freelist fl = {0};
    int rc = 0;
    if (!need || !last || !p->offset)
        goto oom;
    for (int i = 0; i < nout; i++) {
        if (outputs[i] < 0 || outputs[i] >= n) {
            rc = uerr_set(e, UERR_INTERNAL, "plan: output %d is not a node", outputs[i]);
            goto out;
        }
        need[outputs[i]] = 1;
    }
    int32_t nsched = 0, nleaves = 0;
    for (int32_t v = n - 1; v >= 0; v--) {
        if (!need[v])
            continue;
        const gnode *nd = &g->nodes[v];
        if (nd->op == OP_INPUT) {
            nleaves++;
            continue;
        }
        nsched++;
        for (int k = 0; k < nd->nin; k++)
            need[nd->in[k]] = 1;
    }
    p->sched = malloc(((size_t)nsched + 1) * sizeof(int32_t));
    p->leaves = malloc(((size_t)nleaves + 1) * sizeof(int32_t));
    if (!p->sched || !p->leaves)
        goto oom;
    for (int32_t v = 0; v < n; v++) {
        p->offset[v] = PLAN_NO_BUFFER;
        last[v] = -1;
        if (!need[v])
            continue;
        if (g->nodes[v].op == OP_INPUT)
            p->leaves[p->nleaves++] = v;
        else
            p->sched[p->nsched++] = v;
    }
    for (int32_t s = 0; s < p->nsched; s++) {
        const gnode *nd = &g->nodes[p->sched[s]];
        for (int k = 0; k < nd->nin; k++)
            last[nd->in[k]] = s;
    }
    for (int i = 0; i < nout; i++)
        last[outputs[i]] = INT32_MAX;

    size_t top = 0;
    for (int32_t s = 0; s < p->nsched; s++) {
        int32_t v = p->sched[s];
        const gnode *nd = &g->nodes[v];
        size_t bytes = node_bytes(nd);
        p->naive_bytes += bytes;
        bucket *b = opt && opt->no_reuse ? NULL : find_bucket(&fl, bytes, 0);
        if (b && b->n > 0) {
            p->offset[v] = b->off[--b->n];
        } else {
            p->offset[v] = top;
            top += bytes;
        }
        if (opt && opt->no_reuse)
            continue;
        /* inputs whose last reader is this node die now; a value nobody
         * reads dies at once */
        for (int k = 0; k < nd->nin; k++) {
            int32_t u = nd->in[k];
            if (last[u] == s && p->offset[u] != PLAN_NO_BUFFER) {
                if (give_back(&fl, node_bytes(&g->nodes[u]), p->offset[u]))
                    goto oom;
                last[u] = -1; /* an input read twice is returned once */
            }
        }
        if (last[v] == -1 && give_back(&fl, bytes, p->offset[v]))
            goto oom;
    }
    p->arena_bytes = top;
    goto out;
oom:
    rc = uerr_set(e, UERR_INTERNAL, "plan: out of memory for %d nodes", n);
out:
    free(need);
    free(last);
    freelist_free(&fl);
    if (rc)
        plan_free(p);
    return rc;
}

void plan_free(plan *p)
{
    free(p->sched);
    free(p->leaves);
    free(p->offset);
    memset(p, 0, sizeof *p);
}
