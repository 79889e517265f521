/*
 * test_vdiv.c - kernels/vdiv.c's quotients without a division against the
 * division, bit for bit, on every path this CPU runs: millions of
 * quotients of random numbers over whole binades and of the softmax's
 * own (exponentials by their sum), divisors whose significand is all ones
 * or a power of two, lengths that leave every tail, starts off alignment,
 * and the arrays the fast path must hand to the division (a -0, an
 * infinity, a NaN, a tiny double, a divisor out of range).
 */
#include "check.h"

#include <stdint.h>

#include "kernels/cpu.h"
#include "kernels/vdiv.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* a divisor: one of the shapes the proof's edges are made of */
static double divisor(int kind)
{
    switch (kind % 5) {
    case 0: /* a softmax's sum: 1 .. 1000 */
        return 1 + (double)(next() >> 11) * 0x1p-53 * 999;
    case 1: /* any significand, exponents -50 .. 49 */
        return ldexp(from_bits(0x3ff0000000000000ull | (next() >> 12)), (int)(next() % 100) - 50);
    case 2: /* significands of all ones and just below */
        return ldexp(from_bits(0x3fffffffffffffffull - next() % 64), (int)(next() % 20) - 10);
    case 3: /* powers of two and their neighbours */
        return from_bits((0x3ff0000000000000ull + ((next() % 40) << 52)) + next() % 3 - 1);
    default: /* small integers and their fractions */
        return (double)(next() % 2000 + 1) / (double)(1 + next() % 7);
    }
}

enum { N = 1031 }; /* not a multiple of any vector */

/* float32 and float64 arrays of n against the division; the number of
 * elements that differ (the first printed) */
static int64_t compare(const float *xf, const double *xd, int64_t n, double s, double g)
{
    static float yf[N];
    static double yd[N];
    int64_t bad = 0;
    vdiv_scale_f32(xf, yf, n, s, g);
    vdiv_scale_f64(xd, yd, n, s, g);
    for (int64_t i = 0; i < n; i++) {
        float ef = (float)(g * ((double)xf[i] / s));
        double ed = g * (xd[i] / s);
        if (memcmp(&ef, &yf[i], sizeof ef) && !bad++)
            printf("  f32: %a / %a * %a gives %a, the division %a\n", (double)xf[i], s, g,
                   (double)yf[i], (double)ef);
        if (memcmp(&ed, &yd[i], sizeof ed) && !bad++)
            printf("  f64: %a / %a * %a gives %a, the division %a\n", xd[i], s, g, yd[i], ed);
    }
    return bad;
}

/* random safe arrays: floats of every exponent (and of the exponentials'
 * range 2^-40 .. 1), doubles within 2^-900 .. 2^900 */
static void fill_random(float *xf, double *xd, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)next();
        if (next() & 1)
            u = (u & 0x007fffffu) | (uint32_t)(127 - next() % 40) << 23;
        if ((u & 0x7f800000u) == 0x7f800000u || u == 0x80000000u)
            u = 0x3f000000u;
        memcpy(&xf[i], &u, sizeof u);
        uint64_t v = next();
        uint64_t e = next() & 1 ? 1023 - next() % 60 : 123 + next() % 1800;
        xd[i] = from_bits((v & 0x800fffffffffffffull) | e << 52);
    }
}

static void test_division_bits_every_path(void)
{
    static float xf[N];
    static double xd[N];
    int was = cpu_path();
    for (int path = CPU_GENERIC; path < CPU_NPATHS; path++) {
        if (cpu_set_path(path) < 0)
            continue; /* a path this CPU lacks */
        int64_t bad = 0;
        for (int round = 0; round < 2000 && !bad; round++) {
            double s = divisor(round), g = round % 3 ? 1 : (double)(float)(divisor(0) / 500 - 1);
            fill_random(xf, xd, N);
            /* every tail length, and starts off the vectors' alignment */
            int64_t at = round % 5;
            bad += compare(xf + at, xd + at, N - at - round % 17, s, g);
        }
        CHECKF(!bad, "path %s: quotients differ from the division", cpu_path_name(path));
    }
    cpu_set_path(was);
}

/* exponentials by their sum, as softmax_xent_grad divides them */
static void test_softmax_rows(void)
{
    static float xf[N];
    static double xd[N];
    int64_t bad = 0;
    for (int round = 0; round < 300; round++) {
        int64_t n = 1 + (int64_t)(next() % N);
        double sf = 0, sd = 0;
        for (int64_t i = 0; i < n; i++) {
            xd[i] = exp(-(double)(next() % 4000) / 100);
            xf[i] = (float)xd[i];
            sf += xf[i];
            sd += xd[i];
        }
        bad += compare(xf, xd, n, round % 2 ? sf : sd, 1);
    }
    CHECK(!bad);
}

/* values outside the proof's range go to the division: the same bits */
static void test_unsafe_arrays(void)
{
    static float xf[N];
    static double xd[N];
    const float fbad[] = {-0.0f, INFINITY, -INFINITY, NAN};
    const double dbad[] = {-0.0, INFINITY, NAN, 0x1p-1000, 0x1p-1060, 0x1p950};
    const double sbad[] = {0x1p-70, 0x1p70, 0, INFINITY, NAN};
    int64_t bad = 0;
    for (int k = 0; k < 6; k++) {
        fill_random(xf, xd, N);
        xf[k * 100] = fbad[k % 4];
        xd[k * 100 + 1] = dbad[k];
        bad += compare(xf, xd, N, divisor(k), 1);
    }
    for (int k = 0; k < 5; k++) {
        fill_random(xf, xd, N);
        bad += compare(xf, xd, N, sbad[k], 1);
    }
    CHECK(!bad);
}

int main(void)
{
    RUN(test_division_bits_every_path);
    RUN(test_softmax_rows);
    RUN(test_unsafe_arrays);
    CHECK_EXIT();
}
