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

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* pairs, then quads, then the 128-bit halves of the rows swapped into
 * place */
static inline __attribute__((always_inline)) void trans8_f32_avx2(float *d, int64_t ldd,
                                                                  const float *s, int64_t lds)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(s + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(d + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(d + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

static inline __attribute__((always_inline)) void trans4_f64_avx2(double *d, int64_t ldd,
                                                                  const double *s, int64_t lds)
{
    __m256d r[4], t[4];
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_loadu_pd(s + i * lds);
    for (int i = 0; i < 4; i += 2) {
        t[i] = _mm256_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        _mm256_storeu_pd(d + i * ldd, _mm256_permute2f128_pd(t[i], t[i + 2], 0x20));
        _mm256_storeu_pd(d + (i + 2) * ldd, _mm256_permute2f128_pd(t[i], t[i + 2], 0x31));
    }
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
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(s + i * lds);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int h = 0; h < 2; h++) {
            __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + h + 2]);
            r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int i = 0; i < 16; i += 8)
        for (int q = 0; q < 4; q++) {
            t[i + q] = _mm512_shuffle_f32x4(r[i + q], r[i + q + 4], 0x88);
            t[i + q + 4] = _mm512_shuffle_f32x4(r[i + q], r[i + q + 4], 0xdd);
        }
    for (int q = 0; q < 8; q++) {
        _mm512_storeu_ps(d + q * ldd, _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88));
        _mm512_storeu_ps(d + (q + 8) * ldd, _mm512_shuffle_f32x4(t[q], t[q + 8], 0xdd));
    }
}

static inline __attribute__((always_inline)) void trans8_f64_avx512(double *d, int64_t ldd,
                                                                    const double *s, int64_t lds)
{
    __m512d r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_loadu_pd(s + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            r[i + h] = _mm512_shuffle_f64x2(t[i + h], t[i + h + 2], 0x88);
            r[i + h + 2] = _mm512_shuffle_f64x2(t[i + h], t[i + h + 2], 0xdd);
        }
    for (int q = 0; q < 4; q++) {
        _mm512_storeu_pd(d + q * ldd, _mm512_shuffle_f64x2(r[q], r[q + 4], 0x88));
        _mm512_storeu_pd(d + (q + 4) * ldd, _mm512_shuffle_f64x2(r[q], r[q + 4], 0xdd));
    }
}

#pragma GCC pop_options
