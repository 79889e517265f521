/*
 * dot.h - Graphviz DOT of a graph: nodes clustered by time step,
 * parameters drawn once outside the clusters with an edge to every step
 * that reads them, gradient nodes in another colour, and each
 * parameter's summed gradient marked with its name; the second-order
 * nodes of a Hessian-vector product (NODE_GRAD2) in a third colour, each
 * parameter's H v marked.
 */
#ifndef UNROLL_DOT_H
#define UNROLL_DOT_H

#include <stdio.h>

#include "engine/autodiff.h"

/* gt may be NULL (forward graph only); with gt, backward adds the
 * gradient nodes; hv (autodiff_hvp's table, or NULL) marks each H v.
 * Returns 0, or -1 when f reports a write error. */
int graph_write_dot(const graph *g, const grad_table *gt, const grad_table *hv, int backward,
                    FILE *f);

#endif
