/*
 * vmath.c - vector exp, tanh and sigmoid; see vmath.h.
 *
 * exp(x) = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 computed in
 * two steps (ln 2 = LN2_HI + LN2_LO, LN2_HI short enough that n LN2_HI is
 * exact), so |r| <= ln 2 / 2 and the Taylor polynomial of e^r of degree 7
 * (float) or 13 (double) is accurate to well under an ulp. 2^n is built in
 * the exponent bits, in two factors so that n = 128 (or 1024) does not
 * overflow the exponent field.
 *
 * tanh(x) = sign(x) m / (m + 2) with m = expm1(2|x|): expm1 = 2^n (e^r - 1)
 * + (2^n - 1) with e^r - 1 as a polynomial without its constant term, so
 * tanh keeps full relative accuracy near 0 (no 1 - 2/(e^2x + 1)
 * cancellation).
 *
 * The bodies (kernels/vmath_body.h, once per element type, inside
 * kernels/vmath_int.h, once per width) work on GCC vector extensions: 16 bytes
 * (SSE2, every x86-64) and, compiled again for AVX2 and for AVX-512, 32 and
 * 64 bytes, chosen at run time by the kernels' path (kernels/cpu.h). All
 * give the same bits: the same IEEE operations in the same order, and no
 * fused multiply-add (C11 mode does not contract).
 * Vectors never cross a function boundary (that would change the calling
 * convention). A tail shorter than a vector is padded and computed the
 * same way, so a value never depends on where it sits in an array.
 */
#include "kernels/vmath.h"

#include <stdatomic.h>
#include <string.h>

#include "kernels/cpu.h"

/* a where m (all ones), else b */
#define SEL(VT, VI, m, a, b) ((VT)((((VI)(a)) & (m)) | (((VI)(b)) & ~(m))))

/* ---- float ---------------------------------------------------------------- */

#define F_LOG2E 1.44269502162933349609375f
#define F_LN2_HI 0.693359375f
#define F_LN2_LO (-2.12194440e-4f)
#define F_MAGIC 12582912.0f              /* 1.5 * 2^23: adding it rounds to an integer */
#define F_BIG 88.72283172607421875f      /* the largest float with a finite exp */
#define F_SMALL (-87.33654022216796875f) /* exp below: not a normal float */
#define F_SAFE 80.0f /* |x| below: exp needs no clamp and 2^n is one normal float */

/* e^r for |r| <= ln 2 / 2, and 2^n from the rounded n (t = x log2e + MAGIC) */
#define F_POLY_EXP(r)                                                                              \
    (1.0f +                                                                                        \
     (r) * (1.0f + (r) * (0.5f + (r) * (0.16666667163372039795f +                                  \
                                        (r) * (0.041666667908430099487f +                          \
                                               (r) * (0.0083333337679505348206f +                  \
                                                      (r) * (0.0013888889225199818611f +           \
                                                             (r)*0.00019841270113829523325f)))))))
/* e^r - 1 */
#define F_POLY_EXPM1(r)                                                                            \
    ((r) * (1.0f + (r) * (0.5f + (r) * (0.16666667163372039795f +                                  \
                                        (r) * (0.041666667908430099487f +                          \
                                               (r) * (0.0083333337679505348206f +                  \
                                                      (r) * (0.0013888889225199818611f +           \
                                                             (r)*0.00019841270113829523325f)))))))

/* ---- double --------------------------------------------------------------- */

#define D_LOG2E 1.4426950408889634
#define D_LN2_HI 6.93147180369123816490e-01
#define D_LN2_LO 1.90821492927058770002e-10
#define D_MAGIC 6755399441055744.0 /* 1.5 * 2^52 */
#define D_BIG 709.782712893384
#define D_SMALL (-708.3964185322641)
#define D_SAFE 700.0

#define D_TAIL(r)                                                                                  \
    (0.5 +                                                                                         \
     (r) *                                                                                         \
         (0.16666666666666666 +                                                                    \
          (r) *                                                                                    \
              (0.041666666666666664 +                                                              \
               (r) *                                                                               \
                   (0.008333333333333333 +                                                         \
                    (r) *                                                                          \
                        (0.001388888888888889 +                                                    \
                         (r) *                                                                     \
                             (0.0001984126984126984 +                                              \
                              (r) *                                                                \
                                  (2.48015873015873e-05 +                                          \
                                   (r) *                                                           \
                                       (2.7557319223985893e-06 +                                   \
                                        (r) * (2.755731922398589e-07 +                             \
                                               (r) * (2.505210838544172e-08 +                      \
                                                      (r) * (2.08767569878681e-09 +                \
                                                             (r)*1.6059043836821613e-10)))))))))))
#define D_POLY_EXP(r) (1.0 + (r) * (1.0 + (r)*D_TAIL(r)))
#define D_POLY_EXPM1(r) ((r) * (1.0 + (r)*D_TAIL(r)))

/* ---- 16 bytes: SSE2 ------------------------------------------------------- */

#define VM_BYTES 16
#define VM_FN(name) name##_sse2
#define VM_TAIL_IN(T, buf, src, m)                                                                 \
    (memset(buf, 0, sizeof(buf)), memcpy(buf, src, (size_t)(m) * sizeof(T)))
#define VM_TAIL_OUT(T, dst, buf, m) memcpy(dst, buf, (size_t)(m) * sizeof(T))
#include "kernels/vmath_int.h"

/* ---- 32 bytes: AVX2 ---------------------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VM_HAVE_WIDE 1
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2")

/* the first m lanes (maskload reads no other: a tail may end a page) */
static inline __m256i tail_lanes_f32_256(int m)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i tail_lanes_f64_256(int m)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3));
}
static inline void tail_in_f32_256(float *buf, const float *src, int m)
{
    _mm256_storeu_ps(buf, _mm256_maskload_ps(src, tail_lanes_f32_256(m)));
}
static inline void tail_in_f64_256(double *buf, const double *src, int m)
{
    _mm256_storeu_pd(buf, _mm256_maskload_pd(src, tail_lanes_f64_256(m)));
}
static inline void tail_out_f32_256(float *dst, const float *buf, int m)
{
    _mm256_maskstore_ps(dst, tail_lanes_f32_256(m), _mm256_loadu_ps(buf));
}
static inline void tail_out_f64_256(double *dst, const double *buf, int m)
{
    _mm256_maskstore_pd(dst, tail_lanes_f64_256(m), _mm256_loadu_pd(buf));
}

#define VM_BYTES 32
#define VM_FN(name) name##_avx2
#define VM_TAIL_IN(T, buf, src, m)                                                                 \
    _Generic((buf) + 0, float * : tail_in_f32_256, double * : tail_in_f64_256)(buf, src, m)
#define VM_TAIL_OUT(T, dst, buf, m)                                                                \
    _Generic((dst) + 0, float * : tail_out_f32_256, double * : tail_out_f64_256)(dst, buf, m)
#include "kernels/vmath_int.h"

#pragma GCC pop_options

/* ---- 64 bytes: AVX-512 --------------------------------------------------------- */

#pragma GCC push_options
#pragma GCC target("avx512f")

static inline void tail_in_f32_512(float *buf, const float *src, int m)
{
    _mm512_storeu_ps(buf, _mm512_maskz_loadu_ps((__mmask16)((1u << m) - 1u), src));
}
static inline void tail_in_f64_512(double *buf, const double *src, int m)
{
    _mm512_storeu_pd(buf, _mm512_maskz_loadu_pd((__mmask8)((1u << m) - 1u), src));
}
static inline void tail_out_f32_512(float *dst, const float *buf, int m)
{
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << m) - 1u), _mm512_loadu_ps(buf));
}
static inline void tail_out_f64_512(double *dst, const double *buf, int m)
{
    _mm512_mask_storeu_pd(dst, (__mmask8)((1u << m) - 1u), _mm512_loadu_pd(buf));
}

#define VM_BYTES 64
#define VM_FN(name) name##_avx512
#define VM_TAIL_IN(T, buf, src, m)                                                                 \
    _Generic((buf) + 0, float * : tail_in_f32_512, double * : tail_in_f64_512)(buf, src, m)
#define VM_TAIL_OUT(T, dst, buf, m)                                                                \
    _Generic((dst) + 0, float * : tail_out_f32_512, double * : tail_out_f64_512)(dst, buf, m)
#include "kernels/vmath_int.h"

#pragma GCC pop_options
#endif

/* ---- dispatch ---------------------------------------------------------------- */

/* The widest width the CPU's path has (kernels/cpu.h: UNROLL_ISA forces
 * it), or 16 where only SSE2 is built (clang). */
static int path_width(void)
{
#ifdef VM_HAVE_WIDE
    int p = cpu_path();
    return p == CPU_AVX512 ? 64 : p == CPU_AVX2 ? 32 : 16;
#else
    return 16;
#endif
}

/* 0 until the first call asks the CPU */
static _Atomic int vm_width;

static int width(void)
{
    int w = atomic_load_explicit(&vm_width, memory_order_relaxed);
    if (!w) {
        w = path_width();
        atomic_store_explicit(&vm_width, w, memory_order_relaxed);
    }
    return w;
}

int vm_set_width(int bytes)
{
    int was = width(), most = path_width();
    if ((bytes == 16 || bytes == 32 || bytes == 64) && bytes <= most)
        atomic_store_explicit(&vm_width, bytes, memory_order_relaxed);
    return was;
}

#ifdef VM_HAVE_WIDE
#define VM_DISPATCH(name, T)                                                                       \
    void vm_##name(const T *x, T *y, int64_t n)                                                    \
    {                                                                                              \
        int w = width();                                                                           \
        if (w == 64)                                                                               \
            name##_avx512(x, y, n);                                                                \
        else if (w == 32)                                                                          \
            name##_avx2(x, y, n);                                                                  \
        else                                                                                       \
            name##_sse2(x, y, n);                                                                  \
    }
#else
#define VM_DISPATCH(name, T)                                                                       \
    void vm_##name(const T *x, T *y, int64_t n)                                                    \
    {                                                                                              \
        (void)width();                                                                             \
        name##_sse2(x, y, n);                                                                      \
    }
#endif

VM_DISPATCH(exp_f32, float)
VM_DISPATCH(exp_f64, double)
VM_DISPATCH(tanh_f32, float)
VM_DISPATCH(tanh_f64, double)
VM_DISPATCH(sigmoid_f32, float)
VM_DISPATCH(sigmoid_f64, double)
