/*
 * autodiff.h - symbol-to-symbol reverse mode: build_grad and grad_table
 * (Goodfellow, Bengio & Courville, Deep Learning, algorithms 6.5 and 6.6).
 *
 * autodiff_grad() adds the gradient of a scalar loss with respect to each
 * requested parameter to the SAME graph, as ordinary op nodes. Only G' is
 * differentiated: the ancestors of the loss that depend on a requested
 * parameter. Each consumer C of a node V in G' contributes
 * C.op.bprop(inputs, V, grad(C)); grad(V) is the sum of the contributions,
 * added in decreasing consumer index (the order backpropagation through
 * time meets them: step T-1 first, as min-char-rnn and PyTorch
 * accumulate), so the result never depends on memory addresses. A
 * parameter consumed at every time step therefore receives the sum over
 * time of its per-step terms; those terms are kept in the table
 * (parameter, t, node) for diagnostics.
 *
 * The book's build_grad recurses into consumers; here the graph's index
 * order is a topological order, so visiting nodes from the loss down to
 * index 0 meets every consumer before the node it consumes: the
 * memoisation of the recursive form becomes a loop, and a 100,000-step
 * unroll needs no deep stack.
 */
#ifndef UNROLL_AUTODIFF_H
#define UNROLL_AUTODIFF_H

#include "graph/graph.h"

typedef struct grad_term {
    int32_t param; /* index into the requested parameters */
    int32_t t;     /* time step of the consumer that contributed it */
    int32_t node;  /* the contribution */
} grad_term;

typedef struct grad_table {
    int32_t n;     /* nodes of the graph before differentiation */
    int32_t *grad; /* [n]: node -> its gradient node, or -1 */
    int32_t nparams;
    int32_t *param;      /* [nparams]: the requested parameter nodes */
    int32_t *param_grad; /* [nparams]: d loss / d param nodes */
    grad_term *terms;    /* the per-consumer terms of every parameter's sum */
    int64_t nterms;
} grad_table;

/* Differentiates loss (a scalar node) with respect to params. Fails with
 * "no gradient for op X input i" when a rule is missing. A parameter the
 * loss does not depend on gets a gradient of zeros. */
int autodiff_grad(graph *g, int32_t loss, const int32_t *params, int nparams, grad_table *gt,
                  uerr *e);

/*
 * Hessian-vector products, symbolically: the gradient graph is itself
 * differentiated (Pearlmutter's R-operator as a second build_grad). With
 * s = <grad L, v> = sum over i of sum(gt->param_grad[i] * v[i]),
 * hv->param_grad[i] = d s / d param i = (H v)_i, H the Hessian of L. v[i]
 * is a node of parameter i's shape and dtype (a data leaf the caller
 * binds), or -1 for a zero direction. Every node added here is flagged
 * NODE_GRAD2. Fails, like autodiff_grad, when an op of the gradient graph
 * has no rule.
 */
int autodiff_hvp(graph *g, const grad_table *gt, const int32_t *v, grad_table *hv, uerr *e);

void grad_table_free(grad_table *gt);

#endif
