/*
 * leaves.h - random values for every leaf of a test graph: floats in
 * [-1, 1), int32 indices in [0, ip[0]). Shared by the op and plan tests,
 * which then bind vals[v] to their executors. Free with free_leaves.
 */
#ifndef UNROLL_TEST_LEAVES_H
#define UNROLL_TEST_LEAVES_H

#include <stdlib.h>

#include "graph/graph.h"

static void **random_leaves(const graph *g, double (*urand)(void))
{
    void **vals = calloc((size_t)g->n, sizeof(void *));
    for (int32_t v = 0; vals && v < g->n; v++) {
        const gnode *nd = &g->nodes[v];
        if (nd->op != OP_INPUT)
            continue;
        int64_t n = shape_numel(&nd->shape);
        vals[v] = malloc((size_t)(n ? n : 1) * 8);
        for (int64_t k = 0; vals[v] && k < n; k++) {
            if (nd->dt == DT_I32)
                ((int32_t *)vals[v])[k] = (int32_t)(urand() * (double)nd->ip[0]);
            else
                ((double *)vals[v])[k] = 2 * urand() - 1;
        }
    }
    return vals;
}

static void free_leaves(void **vals, int32_t n)
{
    for (int32_t v = 0; vals && v < n; v++)
        free(vals[v]);
    free(vals);
}

#endif
