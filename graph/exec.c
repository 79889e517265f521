/* exec.c - the executor; see exec.h. */
#include "graph/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

int exec_init(exec *x, const graph *g, const plan *p, uerr *e)
{
    memset(x, 0, sizeof *x);
    x->g = g;
    x->p = p;
    x->ptr = calloc((size_t)p->nnodes ? (size_t)p->nnodes : 1, sizeof(void *));
    /* aligned for the widest vector loads; zeroed so an unplanned read is
     * deterministic rather than garbage */
    size_t bytes = p->arena_bytes ? p->arena_bytes : 64;
    x->arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!x->ptr || !x->arena) {
        exec_free(x);
        return uerr_set(e, UERR_USER, "exec: cannot allocate %zu bytes of activations",
                        p->arena_bytes);
    }
    memset(x->arena, 0, bytes);
    for (int32_t s = 0; s < p->nsched; s++) {
        int32_t v = p->sched[s];
        x->ptr[v] = (char *)x->arena + p->offset[v];
    }
    return 0;
}

void exec_free(exec *x)
{
    free(x->arena);
    free(x->ptr);
    memset(x, 0, sizeof *x);
}

void exec_bind(exec *x, int32_t leaf, void *data)
{
    x->ptr[leaf] = data;
}

void *exec_value(const exec *x, int32_t node)
{
    return node >= 0 && node < x->p->nnodes ? x->ptr[node] : NULL;
}

static int check_leaves(const exec *x, uerr *e)
{
    const graph *g = x->g;
    for (int32_t i = 0; i < x->p->nleaves; i++) {
        int32_t v = x->p->leaves[i];
        const gnode *nd = &g->nodes[v];
        char lb[96];
        if (!x->ptr[v])
            return uerr_set(e, UERR_INTERNAL, "exec: leaf %s is not bound",
                            graph_label(g, v, lb, sizeof lb));
        if (nd->dt != DT_I32 || nd->ip[0] <= 0)
            continue;
        const int32_t *idx = x->ptr[v];
        int64_t n = shape_numel(&nd->shape);
        for (int64_t k = 0; k < n; k++)
            if (idx[k] < -1 || idx[k] >= nd->ip[0])
                return uerr_set(e, UERR_USER, "input %s holds index %d, expected 0 to %lld",
                                graph_label(g, v, lb, sizeof lb), idx[k],
                                (long long)nd->ip[0] - 1);
    }
    return 0;
}

int exec_run(exec *x, uerr *e)
{
    int rc = check_leaves(x, e);
    if (rc)
        return rc;
    const graph *g = x->g;
    void *in[GRAPH_MAX_IN];
    for (int32_t s = 0; s < x->p->nsched; s++) {
        int32_t v = x->p->sched[s];
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++)
            in[k] = x->ptr[nd->in[k]];
        op_table[nd->op]->forward(g, nd, in, x->ptr[v]);
    }
    return 0;
}
