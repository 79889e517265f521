/*
 * vdiv.h - an array divided by one number and scaled, rounded exactly as
 * the division would be, for the kernels of ops/ (the softmax's
 * normalisation).
 *
 *   y[i] = (float)(g * ((double)x[i] / s))     vdiv_scale_f32
 *   y[i] = g * (x[i] / s)                      vdiv_scale_f64
 *
 * each operation rounded to double as written. A vector division takes
 * about 25 cycles for 8 doubles here (3.2 cycles an element, more than
 * the softmax's exponential, maximum and sum together), so on the avx512
 * and avx2 paths (kernels/cpu.h) the quotient is the reciprocal 1/s,
 * rounded once, times x, then corrected twice with the exact residual
 * x - q s of a fused multiply-add: q' = q + (x - q s) (1/s). Once q is
 * within an ulp of x/s, the correction gives the correctly rounded x/s
 * (Markstein's theorem; the first correction brings q that close): the
 * bits of the division, on every path. That needs x/s and the residuals
 * away from underflow and overflow: an array with an element or s outside
 * the range the proof covers (vdiv.c: safe), or a -0 (whose sign the
 * residual loses), is divided element by element instead. The generic
 * path always divides. tests/test_vmath.c holds every path to the
 * division, bit for bit.
 *
 * y may be x (in place).
 */
#ifndef UNROLL_VDIV_H
#define UNROLL_VDIV_H

#include <stdint.h>

void vdiv_scale_f32(const float *x, float *y, int64_t n, double s, double g);
void vdiv_scale_f64(const double *x, double *y, int64_t n, double s, double g);

#endif
