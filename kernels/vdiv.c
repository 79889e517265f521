/*
 * vdiv.c - an array divided by one number, as the division rounds it,
 * with multiplies and fused multiply-adds; see vdiv.h.
 *
 * Why the quotient is exact: with y = RN(1/s) and q within an ulp of x/s,
 * the residual r = x - q s is a double (a fused multiply-add gives it
 * without rounding) and RN(q + r y) = RN(x/s) (Markstein, 1990; the
 * Handbook of Floating-Point Arithmetic, ch. 4). q0 = RN(x y) may be up
 * to an ulp and a half away, so one correction brings it within an ulp
 * (its error is the product of two errors of 2^-53 plus a rounding) and
 * the second gives the quotient. Both need the residual and r y to be
 * normal: x, s and x/s well inside the exponent range (safe below).
 */
#include "kernels/vdiv.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu.h"

/* The division itself: the generic path, the tails, and arrays that are
 * not safe */
static void div_f32(const float *x, float *y, int64_t n, double s, double g)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(g * ((double)x[i] / s));
}

static void div_f64(const double *x, double *y, int64_t n, double s, double g)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g * (x[i] / s);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VDIV_HAVE_VECTOR 1
#include <immintrin.h>

/* s such that 1/s and every quotient of a safe x stay normal, with room
 * for the residuals (about 2^-52 of the quotient) */
static int safe_divisor(double s)
{
    double a = fabs(s);
    return a >= 0x1p-60 && a <= 0x1p60;
}

/* Every float but -0, an infinity and NaN is safe: its quotient by a safe
 * s lies within 2^-210 .. 2^190. */
static int safe_f32(const float *x, int64_t n)
{
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= ((u & 0x7f800000u) == 0x7f800000u) | (u == 0x80000000u);
    }
    return !bad;
}

/* +0, or a magnitude within 2^-900 .. 2^900 (exponent fields 123 ..
 * 1923): quotients within 2^-960 .. 2^960 */
static int safe_f64(const double *x, int64_t n)
{
    uint64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        uint64_t e = u >> 52 & 0x7ff;
        bad |= (u != 0) & ((e < 123) | (e > 1923));
    }
    return !bad;
}

/* The quotient of a by s (r = RN(1/s)) on a width's vectors: q0 = a r,
 * then q = q + (a - q s) r twice; the same operations on every width */
#define VDIV_QUOT(V, pd)                                                                           \
    static inline V quot##pd(V a, V vs, V vr)                                                      \
    {                                                                                              \
        V q = pd##_mul_pd(a, vr);                                                                  \
        q = pd##_fmadd_pd(pd##_fnmadd_pd(q, vs, a), vr, q);                                        \
        return pd##_fmadd_pd(pd##_fnmadd_pd(q, vs, a), vr, q);                                     \
    }

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

VDIV_QUOT(__m512d, _mm512)

static void scale_f32_avx512(const float *x, float *y, int64_t n, double s, double g)
{
    __m512d vs = _mm512_set1_pd(s), vr = _mm512_set1_pd(1.0 / s), vg = _mm512_set1_pd(g);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        __m512d q = quot_mm512(a, vs, vr);
        _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(_mm512_mul_pd(vg, q)));
    }
    div_f32(x + i, y + i, n - i, s, g);
}

static void scale_f64_avx512(const double *x, double *y, int64_t n, double s, double g)
{
    __m512d vs = _mm512_set1_pd(s), vr = _mm512_set1_pd(1.0 / s), vg = _mm512_set1_pd(g);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d q = quot_mm512(_mm512_loadu_pd(x + i), vs, vr);
        _mm512_storeu_pd(y + i, _mm512_mul_pd(vg, q));
    }
    div_f64(x + i, y + i, n - i, s, g);
}

#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")

VDIV_QUOT(__m256d, _mm256)

static void scale_f32_avx2(const float *x, float *y, int64_t n, double s, double g)
{
    __m256d vs = _mm256_set1_pd(s), vr = _mm256_set1_pd(1.0 / s), vg = _mm256_set1_pd(g);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        __m256d q = quot_mm256(a, vs, vr);
        _mm_storeu_ps(y + i, _mm256_cvtpd_ps(_mm256_mul_pd(vg, q)));
    }
    div_f32(x + i, y + i, n - i, s, g);
}

static void scale_f64_avx2(const double *x, double *y, int64_t n, double s, double g)
{
    __m256d vs = _mm256_set1_pd(s), vr = _mm256_set1_pd(1.0 / s), vg = _mm256_set1_pd(g);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d q = quot_mm256(_mm256_loadu_pd(x + i), vs, vr);
        _mm256_storeu_pd(y + i, _mm256_mul_pd(vg, q));
    }
    div_f64(x + i, y + i, n - i, s, g);
}

#pragma GCC pop_options
#endif

void vdiv_scale_f32(const float *x, float *y, int64_t n, double s, double g)
{
#ifdef VDIV_HAVE_VECTOR
    int p = cpu_path();
    if (p != CPU_GENERIC && safe_divisor(s) && safe_f32(x, n)) {
        (p == CPU_AVX512 ? scale_f32_avx512 : scale_f32_avx2)(x, y, n, s, g);
        return;
    }
#endif
    div_f32(x, y, n, s, g);
}

void vdiv_scale_f64(const double *x, double *y, int64_t n, double s, double g)
{
#ifdef VDIV_HAVE_VECTOR
    int p = cpu_path();
    if (p != CPU_GENERIC && safe_divisor(s) && safe_f64(x, n)) {
        (p == CPU_AVX512 ? scale_f64_avx512 : scale_f64_avx2)(x, y, n, s, g);
        return;
    }
#endif
    div_f64(x, y, n, s, g);
}
