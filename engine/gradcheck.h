/*
 * gradcheck.h - build_grad's gradients against central differences.
 *
 * For each parameter, each checked element p is moved to p +- eps and
 * p +- 2 eps, and the fourth-order central difference
 *   (8 (L(p+eps) - L(p-eps)) - (L(p+2eps) - L(p-2eps))) / 12 eps
 * is compared with the analytic gradient. Its O(eps^4) truncation error
 * allows a step of 1e-3, where the rounding error of a loss summed over
 * many tokens (|L| / eps times machine epsilon) stays near 1e-12; the plain
 * two-point difference would need eps near 1e-5 and lose four digits. The
 * relative error of a tensor is
 *   max |numeric - analytic| / max(max |analytic|, 1e-8)
 * over its checked elements. Float64 graphs only: in float32 the
 * differences would measure rounding, not the gradient.
 */
#ifndef UNROLL_GRADCHECK_H
#define UNROLL_GRADCHECK_H

#include "engine/autodiff.h"
#include "engine/exec.h"

#define GRADCHECK_EPS 1e-3
#define GRADCHECK_TOL 1e-6

typedef struct gradcheck_report {
    int32_t param;        /* the parameter node */
    int64_t numel;
    int64_t checked;      /* elements compared */
    int64_t worst;        /* element index of the largest difference */
    double max_abs_err;
    double max_abs_grad;
    double rel;
} gradcheck_report;

/* full computes the loss and every gt->param_grad; loss_only computes the
 * loss. Both have their leaves bound to the same memory, which is modified
 * and restored. Checks every element of a parameter with at most sample
 * elements, else sample elements drawn with the seed. out has
 * gt->nparams entries. */
int gradcheck_run(exec *full, exec *loss_only, int32_t loss, const grad_table *gt,
                  int64_t sample, uint64_t seed, gradcheck_report *out, uerr *e);

#endif
