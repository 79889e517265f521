/*
 * vmath.h - exp, tanh and the logistic sigmoid over arrays, for the
 * kernels of ops/ (not ops themselves).
 *
 * libm computes one element per call (about 20 ns for tanh); these work on
 * vectors of up to 16 floats or 8 doubles at a time with a polynomial after
 * Cody-Waite range reduction, and without fused multiply-adds, so every
 * machine and every position in an array gives the same bits. Accuracy:
 * within 3 units in the last place of the correctly rounded result over
 * the whole range (tests/test_vmath.c measures it against libm).
 *
 *   exp:     x > log(max) gives +inf; x below the smallest normal's log
 *            gives 0 (no subnormal results); NaN gives NaN
 *   tanh:    odd, tanh(-0) = -0, exactly +-1 for |x| beyond 10 (float)
 *            or 22 (double), NaN gives NaN
 *   sigmoid: 1 / (1 + exp(-x))
 *
 * y may be x (in place).
 */
#ifndef UNROLL_VMATH_H
#define UNROLL_VMATH_H

#include <stdint.h>

void vm_exp_f32(const float *x, float *y, int64_t n);
void vm_exp_f64(const double *x, double *y, int64_t n);
void vm_tanh_f32(const float *x, float *y, int64_t n);
void vm_tanh_f64(const double *x, double *y, int64_t n);
void vm_sigmoid_f32(const float *x, float *y, int64_t n);
void vm_sigmoid_f64(const double *x, double *y, int64_t n);

/* The vector width in bytes the functions use: 64 on the kernels' AVX-512
 * path, 32 on AVX2, else 16 (kernels/cpu.h). Tests set the others to
 * check that all give the same bits; returns the previous width. A width
 * the path lacks is not set. */
int vm_set_width(int bytes);

#endif
