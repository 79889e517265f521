/*
 * transpose_int.h - square blocks transposed in registers, for
 * kernels/transpose.c and the packing of op(B) = B^T in kernels/gemm.c:
 *
 *   d[k * ldd + c] = s[c * lds + k]   for c, k < the block's side
 *
 * AVX2 blocks of 8 floats or 4 doubles, AVX-512 ones of 16 floats or 8
 * doubles: a row of the largest is a whole cache line, so a block reads
 * and writes whole lines and nothing it touches need stay cached for the
 * next block (rows a power of two apart share a few cache sets, which
 * evicted the lines smaller blocks came back for: 1024 x 1024 floats
 * moved at 8 GB/s). Only data moves: any block gives the same result.
 *
 * Not a header of its own: GCC on x86-64 only (the includers guard it),
 * and each function carries its own target.
 */
#include <immintrin.h>
#include <stdint.h>

/* The first step of every block: its n rows of s loaded into r, then
 * each pair of rows interleaved element by element (LO, HI) into t */
#define TR_ROWS_PAIRED(n, LOAD, LO, HI)                                                            \
    for (int i = 0; i < (n); i++)                                                                  \
        r[i] = LOAD(s + i * lds);                                                                  \
    for (int i = 0; i < (n); i += 2) {                                                             \
        t[i] = LO(r[i], r[i + 1]);                                                                 \
        t[i + 1] = HI(r[i], r[i + 1]);                                                             \
    }

/* A middle step: in each group of 2g vectors of x, the q-th and the
 * (q + g)-th combined two ways into the same places of y */
#define TR_GROUPS(n, g, x, y, SHUF, lo, hi)                                                        \
    for (int i = 0; i < (n); i += 2 * (g))                                                         \
        for (int q = 0; q < (g); q++) {                                                            \
            y[i + q] = SHUF(x[i + q], x[i + q + (g)], lo);                                         \
            y[i + q + (g)] = SHUF(x[i + q], x[i + q + (g)], hi);                                   \
        }

/* The last step: rows q and q + n of the result from x[q] and x[q + n]
 * combined two ways (SHUF with lo, with hi) */
#define TR_STORE_HALVES(n, x, STORE, SHUF, lo, hi)                                                 \
    for (int q = 0; q < (n); q++) {                                                                \
        STORE(d + q * ldd, SHUF(x[q], x[q + (n)], lo));                                            \
        STORE(d + (q + (n)) * ldd, SHUF(x[q], x[q + (n)], hi));                                    \
    }

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* pairs, then quads, then the 128-bit halves of the rows swapped into
 * place */
static inline __attribute__((always_inline)) void trans8_f32_avx2(float *d, int64_t ldd,
                                                                  const float *s, int64_t lds)
{
    __m256 r[8], t[8], u[8];
    TR_ROWS_PAIRED(8, _mm256_loadu_ps, _mm256_unpacklo_ps, _mm256_unpackhi_ps)
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    TR_STORE_HALVES(4, u, _mm256_storeu_ps, _mm256_permute2f128_ps, 0x20, 0x31)
}

static inline __attribute__((always_inline)) void trans4_f64_avx2(double *d, int64_t ldd,
                                                                  const double *s, int64_t lds)
{
    __m256d r[4], t[4];
    TR_ROWS_PAIRED(4, _mm256_loadu_pd, _mm256_unpacklo_pd, _mm256_unpackhi_pd)
    TR_STORE_HALVES(2, t, _mm256_storeu_pd, _mm256_permute2f128_pd, 0x20, 0x31)
}

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")

/* Elements interleaved within 128-bit lanes (pairs of rows, then of pairs
 * as 64-bit units), then 128-bit lanes gathered across four rows at a
 * time, twice: row i of the result is column i of the block. */
static inline __attribute__((always_inline)) void trans16_f32_avx512(float *d, int64_t ldd,
                                                                     const float *s, int64_t lds)
{
    __m512 r[16], t[16];
    TR_ROWS_PAIRED(16, _mm512_loadu_ps, _mm512_unpacklo_ps, _mm512_unpackhi_ps)
    for (int i = 0; i < 16; i += 4)
        for (int h = 0; h < 2; h++) {
            __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + h + 2]);
            r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    TR_GROUPS(16, 4, r, t, _mm512_shuffle_f32x4, 0x88, 0xdd)
    TR_STORE_HALVES(8, t, _mm512_storeu_ps, _mm512_shuffle_f32x4, 0x88, 0xdd)
}

static inline __attribute__((always_inline)) void trans8_f64_avx512(double *d, int64_t ldd,
                                                                    const double *s, int64_t lds)
{
    __m512d r[8], t[8];
    TR_ROWS_PAIRED(8, _mm512_loadu_pd, _mm512_unpacklo_pd, _mm512_unpackhi_pd)
    TR_GROUPS(8, 2, t, r, _mm512_shuffle_f64x2, 0x88, 0xdd)
    TR_STORE_HALVES(4, r, _mm512_storeu_pd, _mm512_shuffle_f64x2, 0x88, 0xdd)
}

#pragma GCC pop_options

#undef TR_ROWS_PAIRED
#undef TR_STORE_HALVES
#undef TR_GROUPS
