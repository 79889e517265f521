/*
 * transpose.c - matrix transposes by CPU path; see transpose.h.
 *
 * Blocks of a vector's side (16 floats or 8 doubles on AVX-512, 8 or 4 on
 * AVX2, and on AVX-512 where neither matrix's rows start on cache lines):
 * each row of a block read and written whole. The portable path
 * moves 4 x 4 floats or 2 x 2 doubles as 16-byte vectors (GCC's vector
 * extensions), in TILE x TILE tiles so that the lines a tile reads and
 * writes stay cached while its blocks come back to them. Measured on
 * AVX-512 (Zen 4), floats: 1024 x 1024 took 1.0 ms in tiles of 4 x 4
 * blocks (rows 4 KiB apart share a cache set, which evicted the lines the
 * next block came back for) and 100 x 100 2.1 us.
 */
#include "kernels/transpose.h"

#include <string.h>

#include "kernels/cpu.h"

/* the elements of rows r0 .. r1-1 and columns c0 .. c1-1, one by one
 * (x's rows lx elements apart, y's ly) */
static void tr_each(size_t es, const void *xv, int64_t lx, void *yv, int64_t ly, int64_t r0,
                    int64_t r1, int64_t c0, int64_t c1)
{
    const char *x = xv;
    char *y = yv;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++)
            memcpy(y + (size_t)(c * ly + r) * es, x + (size_t)(r * lx + c) * es, es);
}

/* ---- portable: 16-byte vectors in tiles -------------------------------------------- */

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
static inline void tr_2x2(const double *x, int64_t lx, double *y, int64_t ly, int64_t r, int64_t c)
{
    tr_v2d a0, a1;
    memcpy(&a0, &x[r * lx + c], sizeof a0);
    memcpy(&a1, &x[(r + 1) * lx + c], sizeof a1);
    tr_v2d b0 = TR_SHUF2(a0, a1, 0, 2);
    tr_v2d b1 = TR_SHUF2(a0, a1, 1, 3);
    memcpy(&y[c * ly + r], &b0, sizeof b0);
    memcpy(&y[(c + 1) * ly + r], &b1, sizeof b1);
}

/* rows r .. r+3 by columns c .. c+3 */
static inline void tr_4x4(const float *x, int64_t lx, float *y, int64_t ly, int64_t r, int64_t c)
{
    tr_v4f a0, a1, a2, a3;
    memcpy(&a0, &x[r * lx + c], sizeof a0);
    memcpy(&a1, &x[(r + 1) * lx + c], sizeof a1);
    memcpy(&a2, &x[(r + 2) * lx + c], sizeof a2);
    memcpy(&a3, &x[(r + 3) * lx + c], sizeof a3);
    tr_v4f t0 = TR_SHUF4(a0, a1, 0, 4, 1, 5);
    tr_v4f t1 = TR_SHUF4(a0, a1, 2, 6, 3, 7);
    tr_v4f t2 = TR_SHUF4(a2, a3, 0, 4, 1, 5);
    tr_v4f t3 = TR_SHUF4(a2, a3, 2, 6, 3, 7);
    tr_v4f b0 = TR_SHUF4(t0, t2, 0, 1, 4, 5);
    tr_v4f b1 = TR_SHUF4(t0, t2, 2, 3, 6, 7);
    tr_v4f b2 = TR_SHUF4(t1, t3, 0, 1, 4, 5);
    tr_v4f b3 = TR_SHUF4(t1, t3, 2, 3, 6, 7);
    memcpy(&y[c * ly + r], &b0, sizeof b0);
    memcpy(&y[(c + 1) * ly + r], &b1, sizeof b1);
    memcpy(&y[(c + 2) * ly + r], &b2, sizeof b2);
    memcpy(&y[(c + 3) * ly + r], &b3, sizeof b3);
}

static void tr_portable(size_t es, const void *x, int64_t lx, void *y, int64_t ly, int64_t R,
                        int64_t C)
{
    const int64_t B = 16 / (int64_t)es;
    for (int64_t r0 = 0; r0 < R; r0 += TILE)
        for (int64_t c0 = 0; c0 < C; c0 += TILE) {
            int64_t r1 = r0 + TILE < R ? r0 + TILE : R, c1 = c0 + TILE < C ? c0 + TILE : C;
            /* whole blocks, then the tile's edges */
            int64_t rb = r0 + (r1 - r0) / B * B, cb = c0 + (c1 - c0) / B * B;
            for (int64_t r = r0; r < rb; r += B)
                for (int64_t c = c0; c < cb; c += B) {
                    if (es == 8)
                        tr_2x2(x, lx, y, ly, r, c);
                    else
                        tr_4x4(x, lx, y, ly, r, c);
                }
            tr_each(es, x, lx, y, ly, r0, rb, cb, c1);
            tr_each(es, x, lx, y, ly, rb, r1, c0, c1);
        }
}

/* ---- vector paths: blocks of whole lines ------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TR_HAVE_VECTOR 1
#include "kernels/transpose_int.h"

/* rows by blocks of S, and in them columns by blocks of S: a row of x is
 * read in order, and each block writes S rows of y; then the edges */
#define TR_BLOCKS(NAME, TARGET, T, S, BLOCK)                                                       \
    __attribute__((target(TARGET))) static void NAME(const void *xv, int64_t lx, void *yv,         \
                                                     int64_t ly, int64_t R, int64_t C)             \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        int64_t rb = R / S * S, cb = C / S * S;                                                    \
        for (int64_t r = 0; r < rb; r += S)                                                        \
            for (int64_t c = 0; c < cb; c += S)                                                    \
                BLOCK(y + c * ly + r, ly, x + r * lx + c, lx);                                     \
        tr_each(sizeof(T), x, lx, y, ly, 0, rb, cb, C);                                            \
        tr_each(sizeof(T), x, lx, y, ly, rb, R, 0, C);                                             \
    }
TR_BLOCKS(tr_f32_512, "avx512f", float, 16, trans16_f32_avx512)
TR_BLOCKS(tr_f64_512, "avx512f", double, 8, trans8_f64_avx512)
TR_BLOCKS(tr_f32_256, "avx2,fma", float, 8, trans8_f32_avx2)
TR_BLOCKS(tr_f64_256, "avx2,fma", double, 4, trans4_f64_avx2)
#endif

/* x's R rows (lx elements apart) by C columns into y's C rows (ly apart) */
static void tr_strided(size_t es, const void *x, int64_t lx, void *y, int64_t ly, int64_t R,
                       int64_t C)
{
#ifdef TR_HAVE_VECTOR
    switch (cpu_path()) {
    case CPU_AVX512:
        /* Where neither matrix's rows are a whole number of cache lines
         * apart, most rows of a 64-byte block cross a line, and the
         * AVX2 blocks do better (100 x 100 doubles 2.7 -> 1.8 us, floats
         * 1.9 -> 1.4; shuffles of 32 bytes also run on a second port). */
        if ((size_t)lx * es % 64 && (size_t)ly * es % 64)
            (es == 4 ? tr_f32_256 : tr_f64_256)(x, lx, y, ly, R, C);
        else
            (es == 4 ? tr_f32_512 : tr_f64_512)(x, lx, y, ly, R, C);
        return;
    case CPU_AVX2:
        (es == 4 ? tr_f32_256 : tr_f64_256)(x, lx, y, ly, R, C);
        return;
    default:
        break;
    }
#endif
    tr_portable(es, x, lx, y, ly, R, C);
}

void transpose_matrix(size_t es, const void *x, void *y, int64_t R, int64_t C)
{
    tr_strided(es, x, C, y, R, R, C);
}

void transpose_rows(size_t es, const void *x, int64_t C, void *y, int64_t ly, int64_t r0,
                    int64_t r1)
{
    tr_strided(es, (const char *)x + (size_t)(r0 * C) * es, C, (char *)y + (size_t)r0 * es, ly,
               r1 - r0, C);
}
