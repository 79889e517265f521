/*
 * jacobian.h - the vanishing-gradient ledger: how much of step t's loss
 * reaches the hidden state of an earlier step k, and how the state of step
 * k moves that of step t (seed 001's product of Jacobians W^T diag(1 - h^2)
 * over t - k steps, for whatever cell the config has).
 *
 * Both are [T, T] float64 matrices, row t, column k, zero above the
 * diagonal (k > t):
 *   dl_dh[t, k] = || dL_t / dh_k ||: L_t step t's loss alone (summed over
 *                 the batch, as the model's loss is), the Frobenius norm
 *                 over the batch and the units of h_k
 *   dh_dh[t, k] = max over batch rows b of the spectral norm of the H x H
 *                 Jacobian d h_t[b] / d h_k[b]; 1 on the diagonal
 * h is one layer's h[t] (the forward direction of a bidirectional layer),
 * and the derivatives are the graph's total ones: every path from the node
 * h_k to h_t or L_t counts (an LSTM's through its cell state too), while
 * other nodes of step k (that cell state) are held fixed. The rows of a
 * batch never mix, so one backward pass seeded with unit i at every row
 * gives row i of every row's Jacobian.
 *
 * Exact, not estimated: the model is rebuilt in float64, the source net's
 * parameters, data and initial state are copied into it, and a seed loss
 * sum_t (w_t L_t + <u_t, h_t>) is differentiated symbolically with respect
 * to every h_k. One run with w = e_t gives row t of dl_dh; H runs with
 * u_t = e_i give the Jacobians of row t of dh_dh, whose spectral norms come
 * from cyclic Jacobi on J^T J. Cost: T (H + 1) forward and backward passes.
 */
#ifndef UNROLL_JACOBIAN_H
#define UNROLL_JACOBIAN_H

#include "models/spec.h"
#include "train/net.h"

/* Fills dl_dh and dh_dh ([T*T] each, T = src->m.T) for layer `layer` (0 =
 * the lowest; -1 = the top) of src's model at its bound data and
 * parameters. */
int jacobian_ledger(const spec *s, const model_io *io, const net *src, int layer, double *dl_dh,
                    double *dh_dh, uerr *e);

/* The largest singular value of the R x C matrix a (row-major): exact to
 * rounding (Jacobi). Scratch: C*C doubles. */
double jacobian_spectral_norm(const double *a, int64_t R, int64_t C, double *scratch);

/* The largest singular value of parameter i of n (a matrix [R, C], or a
 * vector as [1, C]) in n's parameter block; scratch holds
 * jacobian_sigma_scratch(n) doubles. train.ledger_every stores it for each
 * recurrent matrix (model_param.recurrent): ledger.sigma.<name>. With
 * sigma(W) < 1 and |tanh'| <= 1, ||dh_t/dh_k|| <= sigma(W)^(t-k) for Elman. */
double jacobian_param_sigma(const net *n, int i, double *scratch);
int64_t jacobian_sigma_scratch(const net *n);

/* The decay of a ledger matrix m [T, T] with the distance d = t - k:
 * prof[d] = the mean of log10 m[t, t - d] over the t where it is > 0, or
 * NAN where there is none. */
void jacobian_decay_profile(const double *m, int64_t T, double *prof);

/* The least-squares line prof[d] ~ intercept + slope d through the d where
 * prof is a number (each distance weighs the same): slope in decades per
 * step, 10^slope the factor per step. Returns how many distances it used
 * (under 2: no line, slope and intercept NAN). */
int jacobian_decay_fit(const double *prof, int64_t T, double *slope, double *intercept);

#endif
