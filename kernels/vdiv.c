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

/* One width's bodies: the quotient of a by s (vr = RN(1/s)) as q0 = a vr,
 * then q = q + (a - q s) vr twice, the same operations on every width;
 * float32 elements widened to double as they are loaded (LOADF) and
 * rounded back as they are stored (STOREF); the tail of fewer than L
 * elements divides. */
#define VDIV_BODIES(W, V, pd, LOADF, STOREF, L)                                                    \
    static inline V quot_##W(V a, V vs, V vr)                                                      \
    {                                                                                              \
        V q = pd##_mul_pd(a, vr);                                                                  \
        q = pd##_fmadd_pd(pd##_fnmadd_pd(q, vs, a), vr, q);                                        \
        return pd##_fmadd_pd(pd##_fnmadd_pd(q, vs, a), vr, q);                                     \
    }                                                                                              \
    static void scale_f32_##W(const float *x, float *y, int64_t n, double s, double g)             \
    {                                                                                              \
        V vs = pd##_set1_pd(s), vr = pd##_set1_pd(1.0 / s), vg = pd##_set1_pd(g);                  \
        int64_t i = 0;                                                                             \
        for (; i + L <= n; i += L)                                                                 \
            STOREF(y + i, pd##_mul_pd(vg, quot_##W(LOADF(x + i), vs, vr)));                        \
        div_f32(x + i, y + i, n - i, s, g);                                                        \
    }                                                                                              \
    static void scale_f64_##W(const double *x, double *y, int64_t n, double s, double g)           \
    {                                                                                              \
        V vs = pd##_set1_pd(s), vr = pd##_set1_pd(1.0 / s), vg = pd##_set1_pd(g);                  \
        int64_t i = 0;                                                                             \
        for (; i + L <= n; i += L)                                                                 \
            pd##_storeu_pd(y + i, pd##_mul_pd(vg, quot_##W(pd##_loadu_pd(x + i), vs, vr)));        \
        div_f64(x + i, y + i, n - i, s, g);                                                        \
    }

#define LOADF_512(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define STOREF_512(p, v) _mm256_storeu_ps(p, _mm512_cvtpd_ps(v))
#define LOADF_256(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define STOREF_256(p, v) _mm_storeu_ps(p, _mm256_cvtpd_ps(v))

#pragma GCC push_options
#pragma GCC target("avx512f,fma")
VDIV_BODIES(avx512, __m512d, _mm512, LOADF_512, STOREF_512, 8)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
VDIV_BODIES(avx2, __m256d, _mm256, LOADF_256, STOREF_256, 4)
#pragma GCC pop_options
#endif

/* The public entry for type T: the vector body where the path has one
 * and the array and s are safe, else the division */
#ifdef VDIV_HAVE_VECTOR
#define VDIV_ENTRY(T, sfx)                                                                         \
    void vdiv_scale_##sfx(const T *x, T *y, int64_t n, double s, double g)                         \
    {                                                                                              \
        int p = cpu_path();                                                                        \
        if (p != CPU_GENERIC && safe_divisor(s) && safe_##sfx(x, n))                               \
            (p == CPU_AVX512 ? scale_##sfx##_avx512 : scale_##sfx##_avx2)(x, y, n, s, g);          \
        else                                                                                       \
            div_##sfx(x, y, n, s, g);                                                              \
    }
#else
#define VDIV_ENTRY(T, sfx)                                                                         \
    void vdiv_scale_##sfx(const T *x, T *y, int64_t n, double s, double g)                         \
    {                                                                                              \
        div_##sfx(x, y, n, s, g);                                                                  \
    }
#endif

VDIV_ENTRY(float, f32)
VDIV_ENTRY(double, f64)
