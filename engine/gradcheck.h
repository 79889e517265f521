/*
 * gradcheck.h - build_grad's gradients against central differences.
 *
 * For each parameter, each checked element p is moved to p +- h and
 * p +- 2h, and the fourth-order central difference
 *   n = (8 (L(p+h) - L(p-h)) - (L(p+2h) - L(p-2h))) / 12 h
 * is compared with the analytic gradient a. Its O(h^4) truncation error
 * allows h = 1e-3, where the rounding error of the differences stays near
 * eps |L| / h; the plain two-point difference would need h near 1e-5 and
 * lose four digits.
 *
 * An element passes when
 *   |a - n| <= atol + rtol max(|a|, |n|),
 *   rtol = 1e-6,  atol = 10 eps max(1, |L|) / h   (eps: the dtype's epsilon)
 * so a tiny correct gradient is not failed on the differences' rounding
 * (atol), and a large one is held to six digits (rtol). An element that
 * disagrees at h = 1e-3 is tried again at h / 10, h / 100, ... while
 * atol(h) stays within rtol max(|a|, |n|): the truncation error of a
 * steep loss vanishes at smaller steps, a wrong gradient's error does not.
 * An element whose perturbation moves some op across a point where it is
 * not differentiable (op_def.kink: relu at 0, an argmax between two
 * scores) at every step tried is skipped and counted, never failed:
 * central differences across a kink measure no derivative. Float64 graphs
 * only: in float32 the differences would measure rounding, not the
 * gradient.
 */
#ifndef UNROLL_GRADCHECK_H
#define UNROLL_GRADCHECK_H

#include <stddef.h>

#include "engine/autodiff.h"
#include "engine/exec.h"

#define GRADCHECK_EPS 1e-3 /* the step h */
#define GRADCHECK_RTOL 1e-6

typedef struct gradcheck_report {
    int32_t param; /* the parameter node */
    int64_t numel;
    int64_t checked;     /* elements compared (skipped ones not included) */
    int64_t skipped;     /* elements whose perturbation crossed a kink */
    int64_t failed;      /* elements outside atol + rtol max(|a|, |n|) */
    int64_t worst;       /* element index of the largest err/tol */
    double max_abs_err;  /* max |a - n| over the checked elements */
    double max_abs_grad; /* max |a| over the checked elements */
    double ratio;        /* max |a - n| / (atol + rtol max(|a|, |n|)): <= 1 passes */
    double atol, rtol;   /* the tolerances at the step 1e-3 */
    double min_step;     /* the smallest step an element needed */
    double loss;         /* L at the unperturbed parameters (gradcheck_hvp:
                            S = max(|L|, max |gradient|) ||v||, which atol
                            scales with) */
} gradcheck_report;

/* full computes the loss and every gt->param_grad; loss_only computes the
 * loss. Both have their leaves bound to the same memory, which is modified
 * and restored. Checks every element of a parameter with at most sample
 * elements, else sample elements drawn with the seed. out has
 * gt->nparams entries. */
int gradcheck_run(exec *full, exec *loss_only, int32_t loss, const grad_table *gt, int64_t sample,
                  uint64_t seed, gradcheck_report *out, uerr *e);

/* Second order: hv->param_grad[i] (H v, built by autodiff_hvp) against
 * the fourth-order central difference of the symbolic gradients along v,
 *   n = ||v|| (8 (g(p + h u) - g(p - h u)) - (g(p + 2h u) - g(p - 2h u))) / 12h
 * with u = v / ||v|| (Euclidean norm over every parameter: the step moves
 * the parameters a distance h, as the first-order check moves one), for
 * every element of every parameter. full computes gt's and hv's
 * param_grads; loss_only and loss are as above (a step at which some op
 * crosses a kink is not used; an element never compared is skipped).
 * v[i] is the direction of parameter i as bound (NULL: zero). The rule
 * and the retries at smaller steps are the first-order check's, atol
 * scaled by S = max(|L|, G) ||v||, G the largest |gradient| element (the
 * quantity differenced, and the factor n is multiplied by):
 * atol = 10 eps max(1, S) / h; each report's loss field holds S. */
int gradcheck_hvp(exec *full, exec *loss_only, int32_t loss, const grad_table *gt,
                  const grad_table *hv, const double *const *v, gradcheck_report *out, uerr *e);

/* The verdict line of n reports: "passed: 5 of 5 parameters (rtol 1e-06,
 * atol 7.9e-11); 3 skipped at kinks" or "FAILED: 2 of 5 parameters (...)",
 * counting the failed parameters. Returns how many failed. */
int gradcheck_summary(const gradcheck_report *r, int n, char *buf, size_t len);

#endif
