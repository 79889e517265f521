/*
 * transpose.h - y = x^T for a row-major matrix x [R, C], y [C, R], of
 * floats (es = 4) or doubles (es = 8), on the widest vector path the CPU
 * has (kernels/cpu.h): square blocks of whole cache lines moved through
 * registers (kernels/transpose_int.h), the edges one by one. Only data
 * moves, so every path gives the same result. Not an op: ops/transpose.c
 * is the op, and a scatter's sums use it too (ops/gather.c).
 */
#ifndef UNROLL_TRANSPOSE_H
#define UNROLL_TRANSPOSE_H

#include <stddef.h>
#include <stdint.h>

void transpose_matrix(size_t es, const void *x, void *y, int64_t R, int64_t C);

#endif
