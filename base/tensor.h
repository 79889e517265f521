/*
 * tensor.h - element types and shapes shared by the graph, the ops, the
 * data loaders and the store. A tensor here is only a description
 * (dtype + shape); who owns the bytes is decided by the plan, the
 * parameter block or the caller.
 *
 * Shapes are row-major (C order). A rank-0 shape is a scalar.
 */
#ifndef UNROLL_TENSOR_H
#define UNROLL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum dtype {
    DT_F32 = 0,
    DT_F64 = 1,
    DT_I32 = 2,
} dtype;

#define TENSOR_MAX_RANK 4

typedef struct shape {
    int rank;
    int64_t dim[TENSOR_MAX_RANK];
} shape;

size_t dtype_size(dtype dt);
const char *dtype_name(dtype dt);               /* "float32", "float64", "int32" */
int dtype_from_name(const char *s, dtype *out); /* 0 on success */

int64_t shape_numel(const shape *s);
int shape_equal(const shape *a, const shape *b);
shape shape_make(int rank, const int64_t *dim);
shape shape_0(void);
shape shape_1(int64_t a);
shape shape_2(int64_t a, int64_t b);
/* "[3, 4]" into buf; returns buf. */
char *shape_str(const shape *s, char *buf, size_t n);

/* Copies n reals from src (dtype from) to dst (dtype to), converting
 * between float32 and float64 as C's casts do (float64 to float32 rounds
 * to nearest). Both dtypes must be real: callers refuse int32 first. */
void dtype_convert(void *dst, dtype to, const void *src, dtype from, int64_t n);

/* Runs body with T typedef'd to the C type of a floating dtype, so one
 * kernel loop serves float32 and float64 without a copy per type. The body
 * is variadic so that commas inside it need no extra parentheses. */
#define DT_EACH_REAL(dt, T, ...)                                                                   \
    do {                                                                                           \
        if ((dt) == DT_F32) {                                                                      \
            typedef float T;                                                                       \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            typedef double T;                                                                      \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)

#endif
