/*
 * dropout.c - model.dropout's mask leaves (see model.h): each is a data
 * leaf of its product's shape, recorded in the model so that the trainer
 * can fill it; the product is an ordinary mul, so autodiff, the plan and
 * its rewrites treat it as any other.
 */
#include <stdlib.h>

#include "base/vec.h"
#include "models/model.h"
#include "ops/ops.h"

int32_t model_dropout(model *m, int kind, int32_t node, int32_t t, int32_t slot, int per_row,
                      uerr *e)
{
    graph *g = &m->g;
    int32_t leaf;
    if (VEC_GROW(m->drop, m->capdrop, m->ndrop + 1)) {
        uerr_set(e, UERR_INTERNAL, "model: out of memory for dropout masks");
        return -1;
    }
    if (graph_leaf(g, "dropout", g->dt, g->nodes[node].shape, NODE_DATA, t, &leaf, e))
        return -1;
    m->drop[m->ndrop++] = (model_drop){leaf, kind, per_row, t, slot};
    return op_mul(g, node, leaf, e);
}
