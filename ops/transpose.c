/*
 * transpose.c - the transpose of a matrix, [R, C] -> [C, R]. Its gradient
 * is the transpose of the incoming gradient.
 *
 * The plan uses it on a weight read by many products X W^T that cannot be
 * stacked (the recurrence h_{t-1} W^T): W^T is made once per run and each
 * product reads it untransposed, which OpenBLAS runs faster (at 64 rows
 * and 1024 units: 0.86 ms instead of 0.99 ms on 2 threads).
 */
#include "ops/ops.h"

#include <string.h>

static int transpose_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt || a->shape.rank != 2)
        return op_shape_error(g, n, e, "expected a floating matrix");
    n->dt = a->dt;
    n->shape = shape_2(a->shape.dim[1], a->shape.dim[0]);
    return 0;
}

/*
 * x [R, C] -> y [C, R], in TILE x TILE blocks so that both the rows read
 * and the rows written stay in cache, and inside them in blocks of 2 x 2
 * doubles or 4 x 4 floats moved as 16-byte vectors (SSE2, every x86-64;
 * wider vectors need shuffles across their halves that SSE2 builds
 * through memory): the plan transposes a recurrent weight once per step,
 * before every product that reads it, and a scatter's sums go through
 * here (ops/gather.c). Only data moves, so the result is
 * the same whichever way it is done.
 */
#define TILE 32

typedef double tr_v2d __attribute__((vector_size(16)));
typedef int64_t tr_v2l __attribute__((vector_size(16)));
typedef float tr_v4f __attribute__((vector_size(16)));
typedef int32_t tr_v4i __attribute__((vector_size(16)));

/* the same lane selection in GCC's and clang's spelling (make fuzz builds
 * with clang) */
#ifdef __clang__
#define TR_SHUF2(a, b, i, j) __builtin_shufflevector(a, b, i, j)
#define TR_SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define TR_SHUF2(a, b, i, j) __builtin_shuffle(a, b, (tr_v2l){i, j})
#define TR_SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, (tr_v4i){i, j, k, l})
#endif

/* rows r, r+1 by columns c, c+1 */
static inline void tr_2x2(const double *x, double *y, int64_t r, int64_t c, int64_t R, int64_t C)
{
    tr_v2d a0, a1;
    memcpy(&a0, &x[r * C + c], sizeof a0);
    memcpy(&a1, &x[(r + 1) * C + c], sizeof a1);
    tr_v2d b0 = TR_SHUF2(a0, a1, 0, 2);
    tr_v2d b1 = TR_SHUF2(a0, a1, 1, 3);
    memcpy(&y[c * R + r], &b0, sizeof b0);
    memcpy(&y[(c + 1) * R + r], &b1, sizeof b1);
}

/* rows r .. r+3 by columns c .. c+3 */
static inline void tr_4x4(const float *x, float *y, int64_t r, int64_t c, int64_t R, int64_t C)
{
    tr_v4f a0, a1, a2, a3;
    memcpy(&a0, &x[r * C + c], sizeof a0);
    memcpy(&a1, &x[(r + 1) * C + c], sizeof a1);
    memcpy(&a2, &x[(r + 2) * C + c], sizeof a2);
    memcpy(&a3, &x[(r + 3) * C + c], sizeof a3);
    tr_v4f t0 = TR_SHUF4(a0, a1, 0, 4, 1, 5);
    tr_v4f t1 = TR_SHUF4(a0, a1, 2, 6, 3, 7);
    tr_v4f t2 = TR_SHUF4(a2, a3, 0, 4, 1, 5);
    tr_v4f t3 = TR_SHUF4(a2, a3, 2, 6, 3, 7);
    tr_v4f b0 = TR_SHUF4(t0, t2, 0, 1, 4, 5);
    tr_v4f b1 = TR_SHUF4(t0, t2, 2, 3, 6, 7);
    tr_v4f b2 = TR_SHUF4(t1, t3, 0, 1, 4, 5);
    tr_v4f b3 = TR_SHUF4(t1, t3, 2, 3, 6, 7);
    memcpy(&y[c * R + r], &b0, sizeof b0);
    memcpy(&y[(c + 1) * R + r], &b1, sizeof b1);
    memcpy(&y[(c + 2) * R + r], &b2, sizeof b2);
    memcpy(&y[(c + 3) * R + r], &b3, sizeof b3);
}

void op_transpose_into(dtype dt, const void *xv, void *yv, int64_t R, int64_t C)
{
    DT_EACH_REAL(dt, T, {
        const T *x = xv;
        T *y = yv;
        const int64_t B = 16 / (int64_t)sizeof(T);
        for (int64_t r0 = 0; r0 < R; r0 += TILE)
            for (int64_t c0 = 0; c0 < C; c0 += TILE) {
                int64_t r1 = r0 + TILE < R ? r0 + TILE : R, c1 = c0 + TILE < C ? c0 + TILE : C;
                /* whole blocks, then the edges of the tile one by one */
                int64_t rb = r0 + (r1 - r0) / B * B, cb = c0 + (c1 - c0) / B * B;
                for (int64_t r = r0; r < rb; r += B)
                    for (int64_t c = c0; c < cb; c += B) {
                        if (sizeof(T) == 8)
                            tr_2x2((const double *)x, (double *)y, r, c, R, C);
                        else
                            tr_4x4((const float *)x, (float *)y, r, c, R, C);
                    }
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = r < rb ? cb : c0; c < c1; c++)
                        y[c * R + r] = x[r * C + c];
            }
    });
}

static void transpose_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    const gnode *a = &g->nodes[n->in[0]];
    op_transpose_into((dtype)n->dt, in[0], out, a->shape.dim[0], a->shape.dim[1]);
}

static int32_t transpose_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)node, (void)i, (void)u;
    return op_transpose(g, gout, e);
}

/* larger than a tile, not square, sides not multiples of 4: every edge
 * case of the blocking */
static int32_t transpose_example(graph *g, uerr *e)
{
    return op_transpose(g, op_example_param(g, shape_2(37, 45), e), e);
}

const op_def op_def_TRANSPOSE = {.arity = 1,
                                 .infer = transpose_infer,
                                 .forward = transpose_forward,
                                 .bprop = transpose_bprop,
                                 .example = transpose_example};
