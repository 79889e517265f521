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

/* Rows r0 .. r1-1 of x [R, C] into the same columns of y = x^T [C, R]
 * whose rows lie ly >= R elements apart, the rest of y left as it is: a
 * parameter's transposed copy made whole, or kept up to date a chunk of
 * updated rows at a time (engine/exec.c: mirrors), in rows padded to
 * whole cache lines (ops/transpose.c). */
void transpose_rows(size_t es, const void *x, int64_t C, void *y, int64_t ly, int64_t r0,
                    int64_t r1);

#endif
