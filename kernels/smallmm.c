/*
 * smallmm.c - small matrix products without BLAS; see smallmm.h.
 *
 * The tiles (kernels/smallmm_int.h) are compiled four times: float64 and
 * float32, each for AVX-512 (8 or 16 lanes, 32 registers: a one-row tile
 * holds up to 16 vectors) and for AVX2 with FMA (4 or 8 lanes, 16
 * registers: 12 vectors, the fused adds reading B from memory). The last vector of a row is loaded
 * and stored through a lane mask, so no element outside C or B is touched, and a partial vector
 * computes its lanes exactly as a full one would. Only GCC on x86-64
 * builds the vector paths (as in vmath.c); elsewhere smm_* return 0 and
 * the caller uses BLAS.
 */
#include "kernels/smallmm.h"

#include <math.h>

#define SMM_REF(name, T, FMAF)                                                                     \
    void name(int ta, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B,        \
              int64_t ldb, T *C, int64_t ldc, int acc, const T *bias)                              \
    {                                                                                              \
        for (int64_t i = 0; i < M; i++)                                                            \
            for (int64_t j = 0; j < N; j++) {                                                      \
                T s = 0;                                                                           \
                for (int64_t k = 0; k < K; k++)                                                    \
                    s = FMAF(ta ? A[k * lda + i] : A[i * lda + k], B[k * ldb + j], s);             \
                T c = acc ? C[i * ldc + j] + s : s;                                                \
                C[i * ldc + j] = bias ? c + bias[j] : c;                                           \
            }                                                                                      \
    }
SMM_REF(smm_ref_f64, double, fma)
SMM_REF(smm_ref_f32, float, fmaf)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SMM_HAVE_VECTOR 1
#include <immintrin.h>

/* ---- AVX-512 --------------------------------------------------------------- */

#pragma GCC push_options
#pragma GCC target("avx512f")

#define NVMAX 16
#define W 8
#define ST double
#define VT __m512d
#define MT __mmask8
#define MASK(n) ((__mmask8)((1u << (n)) - 1u))
#define ZERO() _mm512_setzero_pd()
#define LOAD(p) _mm512_loadu_pd(p)
#define LOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define STORE(p, v) _mm512_storeu_pd(p, v)
#define STOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define SET1(x) _mm512_set1_pd(x)
#define FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define ADD(a, b) _mm512_add_pd(a, b)
#define SMM_FN(name) smm_##name##_f64_512
#include "kernels/smallmm_int.h"

#define W 16
#define ST float
#define VT __m512
#define MT __mmask16
#define MASK(n) ((__mmask16)((1u << (n)) - 1u))
#define ZERO() _mm512_setzero_ps()
#define LOAD(p) _mm512_loadu_ps(p)
#define LOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#define STOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define SET1(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ADD(a, b) _mm512_add_ps(a, b)
#define SMM_FN(name) smm_##name##_f32_512
#include "kernels/smallmm_int.h"
#undef NVMAX

#pragma GCC pop_options

/* ---- AVX2 + FMA ------------------------------------------------------------ */

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define NVMAX 12
#define W 4
#define ST double
#define VT __m256d
#define MT __m256i
#define MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define ZERO() _mm256_setzero_pd()
#define LOAD(p) _mm256_loadu_pd(p)
#define LOADM(p, m) _mm256_maskload_pd(p, m)
#define STORE(p, v) _mm256_storeu_pd(p, v)
#define STOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define SET1(x) _mm256_set1_pd(x)
#define FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define ADD(a, b) _mm256_add_pd(a, b)
#define SMM_FN(name) smm_##name##_f64_256
#include "kernels/smallmm_int.h"

#define W 8
#define ST float
#define VT __m256
#define MT __m256i
#define MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define ZERO() _mm256_setzero_ps()
#define LOAD(p) _mm256_loadu_ps(p)
#define LOADM(p, m) _mm256_maskload_ps(p, m)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define STOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define SET1(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ADD(a, b) _mm256_add_ps(a, b)
#define SMM_FN(name) smm_##name##_f32_256
#include "kernels/smallmm_int.h"
#undef NVMAX

#pragma GCC pop_options
#endif

/* ---- dispatch ---------------------------------------------------------------- */

/* -1 until the first call asks the CPU */
static int smm_width = -1;

static int cpu_width(void)
{
#ifdef SMM_HAVE_VECTOR
    if (__builtin_cpu_supports("avx512f"))
        return 64;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 32;
#endif
    return 0;
}

static int width(void)
{
    if (smm_width < 0)
        smm_width = cpu_width();
    return smm_width;
}

int smm_set_width(int bytes)
{
    int was = width(), have = cpu_width();
    if (bytes == 0 || (bytes == 32 && have >= 32) || (bytes == 64 && have == 64))
        smm_width = bytes;
    return was;
}

int smm_size_fits(int64_t M, int64_t N, int64_t K)
{
    if (M == 1)
        return N >= 1 && K >= 1 && K <= SMM_MAX_K1 && K * N <= SMM_MAX_KN1;
    return M >= 1 && N >= 1 && K >= 1 && M <= SMM_MAX_M && K <= SMM_MAX_K && K * N <= SMM_MAX_KN;
}

int smm_takes(int64_t M, int64_t N, int64_t K)
{
    return smm_size_fits(M, N, K) && width() > 0;
}

/* The entry points of one element type: the widest vector path the CPU
 * has, or 0 (the caller uses gemm) */
#ifdef SMM_HAVE_VECTOR
#define SMM_RUN(SFX, ...)                                                                          \
    case 64:                                                                                       \
        smm_run_##SFX##_512(__VA_ARGS__);                                                          \
        return 1;                                                                                  \
    case 32:                                                                                       \
        smm_run_##SFX##_256(__VA_ARGS__);                                                          \
        return 1;
#else
/* no vector paths in this build */
#define SMM_RUN(SFX, ...)
#endif
#define SMM_ENTRY(SFX, T)                                                                          \
    int smm_##SFX(int ta, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B,    \
                  int64_t ldb, T *C, int64_t ldc, int acc, const T *bias)                          \
    {                                                                                              \
        if (!smm_size_fits(M, N, K))                                                               \
            return 0;                                                                              \
        (void)ta, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc;           \
        (void)bias;                                                                                \
        switch (width()) {                                                                         \
            SMM_RUN(SFX, ta, M, N, K, A, lda, B, ldb, C, ldc, acc, bias)                           \
        default:                                                                                   \
            return 0;                                                                              \
        }                                                                                          \
    }
SMM_ENTRY(f64, double)
SMM_ENTRY(f32, float)
