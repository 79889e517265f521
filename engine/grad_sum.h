/*
 * grad_sum.h - how build_grad adds up a node's gradient terms: the one
 * contract between autodiff, which builds the sums, and the planner's
 * rewrites, which recognise them. Both sides include this header and
 * build or walk a sum only through it.
 *
 * The terms t_0, t_1, ..., t_k of a node's gradient, in the order
 * build_grad meets them (decreasing consumer index: step T-1 first), are
 * summed as the left fold
 *
 *     add(add(add(t_0, t_1), t_2), ..., t_k)
 *
 * one add per term (grad_sum_append), input GRAD_SUM_PARTIAL the sum so
 * far, input GRAD_SUM_TERM the new term, every term of the node's shape
 * and dtype (build_grad checks it before appending).
 *
 * What autodiff may assume: the plan never changes the graph, and under
 * PLAN_FUSE_NONE and PLAN_FUSE_EXACT every sum is computed as written,
 * left to right: a term added straight into the partial sum's buffer (the
 * accumulate rewrite) is the same addition in the same order.
 *
 * What the rewrites may assume: an add whose GRAD_SUM_PARTIAL input is
 * another add of the same shape, read by nothing else, continues that
 * sum; walking GRAD_SUM_PARTIAL inputs down from the last add meets the
 * terms from last to first, and the first term is the PARTIAL input of
 * the innermost add. Only under PLAN_FUSE_ALL may the stacking rewrite
 * add a chain's terms in another order (by time step, inside one product):
 * that level promises closeness, not bits (see plan.h).
 */
#ifndef UNROLL_GRAD_SUM_H
#define UNROLL_GRAD_SUM_H

#include "ops/ops.h"

enum grad_sum_slot {
    GRAD_SUM_PARTIAL = 0, /* the sum of the terms before */
    GRAD_SUM_TERM = 1,    /* the term added by this add */
};

/* The sum so far (or -1 before the first term) with term added: the
 * node of the new sum, or -1 with e set. */
static inline int32_t grad_sum_append(graph *g, int32_t sum, int32_t term, uerr *e)
{
    return sum < 0 ? term : op_add(g, sum, term, e);
}

#endif
