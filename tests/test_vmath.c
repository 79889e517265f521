/*
 * test_vmath.c - the vector exp, tanh and sigmoid of kernels/vmath.c against
 * libm: the largest error in units in the last place over a million
 * arguments spread over each function's whole range, the special values
 * (NaN, infinities, signed zeros, overflow and underflow), and the same
 * bits for a value wherever it sits in an array and at either vector width.
 */
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/vmath.h"

static uint64_t seed = 42;

static double uniform(double lo, double hi)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * ((double)(seed >> 11) / 9007199254740992.0);
}

/* |got - want| in units of the last place of want (as float or double) */
static double ulps(double got, double want, int f32)
{
    if (isnan(want))
        return isnan(got) ? 0 : INFINITY;
    if (isinf(want) || isinf(got))
        return got == want ? 0 : INFINITY;
    double w = fabs(want);
    int ex;
    frexp(w, &ex);
    double ulp = ldexp(1.0, ex - (f32 ? 24 : 53));
    double tiny = f32 ? FLT_MIN : DBL_MIN;
    if (ulp < tiny * (f32 ? FLT_EPSILON : DBL_EPSILON))
        ulp = tiny * (f32 ? FLT_EPSILON : DBL_EPSILON);
    return fabs(got - want) / ulp;
}

enum { F_EXP, F_TANH, F_SIG };

static double ref(int f, long double x)
{
    switch (f) {
    case F_EXP:
        return (double)expl(x);
    case F_TANH:
        return (double)tanhl(x);
    default:
        return (double)(1.0L / (1.0L + expl(-x)));
    }
}

static void run(int f, int f32, const double *x, double *y, int64_t n)
{
    if (f32) {
        float *xf = malloc((size_t)n * sizeof *xf), *yf = malloc((size_t)n * sizeof *yf);
        for (int64_t i = 0; i < n; i++)
            xf[i] = (float)x[i];
        if (f == F_EXP)
            vm_exp_f32(xf, yf, n);
        else if (f == F_TANH)
            vm_tanh_f32(xf, yf, n);
        else
            vm_sigmoid_f32(xf, yf, n);
        for (int64_t i = 0; i < n; i++)
            y[i] = yf[i];
        free(xf);
        free(yf);
    } else if (f == F_EXP) {
        vm_exp_f64(x, y, n);
    } else if (f == F_TANH) {
        vm_tanh_f64(x, y, n);
    } else {
        vm_sigmoid_f64(x, y, n);
    }
}

static void check_accuracy(int f, int f32, double lo, double hi, double max_ulps)
{
    static const char *names[] = {"exp", "tanh", "sigmoid"};
    enum { N = 1000000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) {
        /* half uniform over the range, half log-uniform near 0 */
        double v = i % 2 ? uniform(lo, hi) : copysign(exp(uniform(-30, 3)), uniform(-1, 1));
        x[i] = f32 ? (double)(float)v : v;
    }
    run(f, f32, x, y, N);
    double worst = 0, at = 0;
    for (int i = 0; i < N; i++) {
        double want = ref(f, (long double)x[i]);
        if (f32)
            want = (double)(float)want;
        /* results below the smallest normal are flushed to zero */
        if (fabs(want) < (f32 ? FLT_MIN : DBL_MIN) && y[i] == 0)
            continue;
        double u = ulps(y[i], want, f32);
        if (u > worst)
            worst = u, at = x[i];
    }
    printf("  %-7s %s over [%g, %g]: max error %.2f ulp (at %.9g)\n", names[f],
           f32 ? "float32" : "float64", lo, hi, worst, at);
    CHECKF(worst <= max_ulps, "%s %s: %.2f ulp at %.17g", names[f], f32 ? "f32" : "f64", worst, at);
    free(x);
    free(y);
}

static void test_accuracy(void)
{
    for (int f32 = 0; f32 < 2; f32++) {
        check_accuracy(F_EXP, f32, f32 ? -87 : -708, f32 ? 88.7 : 709.7, 3);
        check_accuracy(F_TANH, f32, -25, 25, 3);
        check_accuracy(F_SIG, f32, -80, 80, 3);
    }
}

static void test_special_values(void)
{
    double x[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1000, -1000, 88.8, -104, 710, -746, 1e-30};
    int n = (int)(sizeof x / sizeof *x);
    double y[16];
    for (int f32 = 0; f32 < 2; f32++) {
        run(F_EXP, f32, x, y, n);
        CHECK(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && y[3] == 1 && y[4] == 1);
        CHECK(y[5] == INFINITY && y[6] == 0 && y[9] == INFINITY && y[10] == 0);
        CHECK(y[11] == 1);
        run(F_TANH, f32, x, y, n);
        CHECK(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && !signbit(y[3]));
        CHECK(y[4] == 0 && signbit(y[4]) && y[5] == 1 && y[6] == -1);
        CHECK(f32 ? fabs(y[11] - 1e-30) < 1e-36 : y[11] == 1e-30);
        run(F_SIG, f32, x, y, n);
        CHECK(isnan(y[0]) && y[1] == 1 && y[2] == 0 && y[3] == 0.5 && y[6] == 0);
    }
}

/* an array's elements do not depend on their neighbours or position:
 * every length 1..40, every offset, the same bits as one long call */
static void test_position_independent(void)
{
    double x[64], whole[64], part[64];
    for (int i = 0; i < 64; i++)
        x[i] = uniform(-6, 6);
    for (int f = 0; f < 3; f++) {
        run(f, 0, x, whole, 64);
        for (int off = 0; off < 8; off++)
            for (int n = 1; n <= 40; n++) {
                run(f, 0, x + off, part, n);
                CHECK(!memcmp(part, whole + off, (size_t)n * sizeof(double)));
            }
        float xf[64], wf[64], pf[64];
        for (int i = 0; i < 64; i++)
            xf[i] = (float)x[i];
        if (f == F_EXP)
            vm_exp_f32(xf, wf, 64);
        else if (f == F_TANH)
            vm_tanh_f32(xf, wf, 64);
        else
            vm_sigmoid_f32(xf, wf, 64);
        for (int off = 0; off < 8; off++)
            for (int n = 1; n <= 40; n++) {
                if (f == F_EXP)
                    vm_exp_f32(xf + off, pf, n);
                else if (f == F_TANH)
                    vm_tanh_f32(xf + off, pf, n);
                else
                    vm_sigmoid_f32(xf + off, pf, n);
                CHECK(!memcmp(pf, wf + off, (size_t)n * sizeof(float)));
            }
    }
}

/* At every width the CPU has, an array's last elements (fewer than a
 * vector: loaded and stored through a lane mask where the width has one)
 * get the bits they get inside a longer array, and nothing past the
 * array's end is read into a result or written: the element after it,
 * a NaN in the input and a sentinel in the output, stays as it was. */
static void test_tails_stay_inside(void)
{
    static const int widths[] = {64, 32, 16};
    double x[48], whole[48], y[48];
    float xf[48], wf[48], yf[48];
    for (int i = 0; i < 48; i++)
        xf[i] = (float)(x[i] = uniform(-6, 6));
    int was = vm_set_width(16);
    for (int k = 0; k < 3; k++) {
        vm_set_width(widths[k]);
        if (vm_set_width(widths[k]) != widths[k])
            continue; /* a width the path lacks stays unset */
        for (int f = 0; f < 3; f++) {
            void (*fn)(const float *, float *, int64_t) = f == F_EXP    ? vm_exp_f32
                                                          : f == F_TANH ? vm_tanh_f32
                                                                        : vm_sigmoid_f32;
            run(f, 0, x, whole, 32);
            fn(xf, wf, 32);
            for (int n = 1; n <= 17; n++) {
                double xn[48];
                float xfn[48];
                memcpy(xn, x, sizeof x);
                memcpy(xfn, xf, sizeof xf);
                xn[n] = NAN;
                xfn[n] = NAN;
                y[n] = -7.0;
                run(f, 0, xn, y, n);
                CHECKF(!memcmp(y, whole, (size_t)n * sizeof *y) && y[n] == -7.0,
                       "width %d function %d float64, %d elements", widths[k], f, n);
                yf[n] = -7.0f;
                fn(xfn, yf, n);
                CHECKF(!memcmp(yf, wf, (size_t)n * sizeof *yf) && yf[n] == -7.0f,
                       "width %d function %d float32, %d elements", widths[k], f, n);
            }
        }
    }
    vm_set_width(was);
}

/* the SSE2, AVX2 and AVX-512 versions give the same bits (the widths the
 * CPU has) */
static void test_widths_agree(void)
{
    enum { N = 100003 };
    static const int widths[] = {64, 32};
    double *x = malloc(N * sizeof *x), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int i = 0; i < N; i++)
        x[i] = i % 3 ? uniform(-30, 30) : uniform(-800, 800);
    int was = vm_set_width(16);
    for (int k = 0; k < 2; k++) {
        vm_set_width(widths[k]);
        if (vm_set_width(widths[k]) != widths[k]) {
            printf("  this CPU's path has no %d-byte vectors\n", widths[k]);
            vm_set_width(16);
            continue;
        }
        for (int f = 0; f < 3; f++)
            for (int f32 = 0; f32 < 2; f32++) {
                vm_set_width(widths[k]);
                run(f, f32, x, a, N);
                vm_set_width(16);
                run(f, f32, x, b, N);
                CHECKF(!memcmp(a, b, N * sizeof *a), "function %d %s: %d and 16 bytes differ", f,
                       f32 ? "f32" : "f64", widths[k]);
            }
    }
    vm_set_width(was);
    free(x);
    free(a);
    free(b);
}

/* exp and sigmoid take a shorter body over an array whose every element
 * is within +-80 (float) or +-700 (double), kernels/vmath_body.h: it must
 * give the bits of the full one, which the same values get in an array
 * with one NaN more. At each width the CPU has, with the ties of the
 * rounding of x log2(e) and the bounds themselves among the values. */
static void test_safe_body_same_bits(void)
{
    enum { N = 200003 };
    double *x = malloc((N + 1) * sizeof *x), *a = malloc((N + 1) * sizeof *a);
    double *b = malloc((N + 1) * sizeof *b);
    static const int widths[] = {64, 32, 16};
    int was = vm_set_width(16);
    for (int f32 = 0; f32 < 2; f32++) {
        double safe = f32 ? 80 : 700;
        for (int i = 0; i < N; i++)
            x[i] =
                i % 4 ? uniform(-safe, safe) : (i / 4 % 2 ? -1 : 1) * (i / 8 % 1000 + 0.5) * M_LN2;
        x[0] = safe, x[1] = -safe, x[2] = 0, x[3] = -0.0, x[5] = 1e-300;
        for (int i = 0; i < N; i++)
            if (fabs(x[i]) > safe)
                x[i] = fmod(x[i], safe);
        x[N] = NAN;
        for (int k = 0; k < 3; k++) {
            if (vm_set_width(widths[k]) != widths[k] && vm_set_width(widths[k]) != widths[k])
                continue; /* a width this CPU's path lacks */
            for (int f = 0; f < 3; f += 2) {
                run(f, f32, x, a, N);
                run(f, f32, x, b, N + 1);
                int64_t bad = -1;
                for (int64_t i = 0; i < N && bad < 0; i++)
                    if (memcmp(&a[i], &b[i], sizeof *a))
                        bad = i;
                CHECKF(bad < 0, "%s %s, %d bytes: x = %.17g gives %.17g alone, %.17g beside a NaN",
                       f == F_EXP ? "exp" : "sigmoid", f32 ? "f32" : "f64", widths[k],
                       bad < 0 ? 0 : x[bad], bad < 0 ? 0 : a[bad], bad < 0 ? 0 : b[bad]);
            }
        }
    }
    vm_set_width(was);
    free(x);
    free(a);
    free(b);
}

int main(void)
{
    RUN(test_accuracy);
    RUN(test_special_values);
    RUN(test_position_independent);
    RUN(test_tails_stay_inside);
    RUN(test_widths_agree);
    RUN(test_safe_body_same_bits);
    CHECK_EXIT();
}
