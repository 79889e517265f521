/*
 * test_optim.c - optim_step_clip (clipping inside the update's one pass)
 * against what it replaces: clip_by_value on a copy of the gradients, then
 * the plain element loop written out here. Same bits for every optimiser,
 * float64 and float32, sizes that are not multiples of a vector, runs of
 * +0 gradients, -0, parameters of -0, NaN and infinite gradients, eps = 0
 * with a zero accumulator (0 / 0: NaN), and several steps in a row; each
 * with and without weight decay (L2 in the gradient; adam's decoupled).
 * The flag it returns (a NaN or infinite gradient, before the clamp) is
 * first_nonfinite's answer. And the learning-rate schedule's values at
 * the steps that define it.
 */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "train/optim.h"

static uint64_t seed = 3;

static double uniform(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* the reference: clip_by_value, then the textbook loop of each optimiser */
#define REF_STEP(T)                                                                                \
    static void ref_step_##T(optim *o, T *p, const T *g0, int64_t n, double clip)                  \
    {                                                                                              \
        T *g = malloc((size_t)n * sizeof(T));                                                      \
        memcpy(g, g0, (size_t)n * sizeof(T));                                                      \
        if (clip > 0)                                                                              \
            clip_by_value(o->dt, g, n, clip);                                                      \
        o->t++;                                                                                    \
        T *m = o->m, *v = o->v, lr = (T)o->lr, eps = (T)o->eps, wd = (T)o->wd;                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            if (wd > 0 && o->kind != SPEC_OPT_ADAM)                                                \
                g[i] += wd * p[i];                                                                 \
            if (wd > 0 && o->kind == SPEC_OPT_ADAM)                                                \
                p[i] -= lr * wd * p[i];                                                            \
            switch (o->kind) {                                                                     \
            case SPEC_OPT_SGD:                                                                     \
                p[i] -= lr * g[i];                                                                 \
                break;                                                                             \
            case SPEC_OPT_MOMENTUM:                                                                \
                m[i] = (T)o->mu * m[i] + g[i];                                                     \
                p[i] -= lr * m[i];                                                                 \
                break;                                                                             \
            case SPEC_OPT_ADAGRAD:                                                                 \
                m[i] += g[i] * g[i];                                                               \
                p[i] -= lr * g[i] / (T)sqrt(m[i] + eps);                                           \
                break;                                                                             \
            case SPEC_OPT_ADAM: {                                                                  \
                T b1 = (T)o->b1, b2 = (T)o->b2;                                                    \
                T c1 = (T)(1 - pow(o->b1, (double)o->t)), c2 = (T)(1 - pow(o->b2, (double)o->t));  \
                m[i] = b1 * m[i] + (1 - b1) * g[i];                                                \
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];                                         \
                p[i] -= lr * (m[i] / c1) / ((T)sqrt(v[i] / c2) + eps);                             \
                break;                                                                             \
            }                                                                                      \
            }                                                                                      \
        }                                                                                          \
        free(g);                                                                                   \
    }
REF_STEP(double)
REF_STEP(float)

static double weight_decay;

static void init(optim *o, spec_optim kind, dtype dt, int64_t n, double eps)
{
    memset(o, 0, sizeof *o);
    o->wd = weight_decay;
    o->kind = kind;
    o->lr = 0.1;
    o->eps = eps;
    o->mu = 0.9;
    o->b1 = 0.9;
    o->b2 = 0.999;
    o->dt = dt;
    o->n = n;
    o->m = calloc((size_t)n, 8);
    o->v = calloc((size_t)n, 8);
}

/* gradients: blocks of +0 (whole and cut by the block boundaries), -0,
 * values beyond the clip, and (if bad) a NaN and an infinity */
static double grad_value(int64_t i, int step, int bad)
{
    int64_t r = i % 45;
    if (r < 19 + step % 3)
        return 0.0;
    if (r == 25)
        return -0.0;
    if (bad && i == 7)
        return NAN;
    if (bad && i == 30)
        return -INFINITY;
    return 8.0 * uniform();
}

#define CHECK_SAME(T)                                                                              \
    static void same_##T(spec_optim kind, dtype dt, int64_t n, double clip, double eps, int bad)   \
    {                                                                                              \
        optim a, b;                                                                                \
        init(&a, kind, dt, n, eps);                                                                \
        init(&b, kind, dt, n, eps);                                                                \
        T *pa = malloc((size_t)n * sizeof(T)), *pb = malloc((size_t)n * sizeof(T));                \
        T *g = malloc((size_t)n * sizeof(T)), *g2 = malloc((size_t)n * sizeof(T));                 \
        for (int64_t i = 0; i < n; i++)                                                            \
            pa[i] = pb[i] = i % 11 == 3 ? (T)-0.0 : (T)uniform();                                  \
        for (int step = 0; step < 6; step++) {                                                     \
            for (int64_t i = 0; i < n; i++)                                                        \
                g[i] = g2[i] = (T)grad_value(i, step, bad);                                        \
            int flag = optim_step_clip(&a, pa, g, clip);                                           \
            CHECKF(flag == (first_nonfinite(dt, g, n) >= 0), "%s kind %d n %lld: flag %d", #T,     \
                   (int)kind, (long long)n, flag);                                                 \
            ref_step_##T(&b, pb, g, n, clip);                                                      \
            CHECKF(!memcmp(g, g2, (size_t)n * sizeof(T)), "the gradients were changed");           \
        }                                                                                          \
        int same = !memcmp(pa, pb, (size_t)n * sizeof(T)) &&                                       \
                   !memcmp(a.m, b.m, (size_t)n * sizeof(T)) &&                                     \
                   !memcmp(a.v, b.v, (size_t)n * sizeof(T));                                       \
        CHECKF(same, "%s kind %d n %lld clip %g eps %g bad %d: differs from the reference", #T,    \
               (int)kind, (long long)n, clip, eps, bad);                                           \
        free(pa), free(pb), free(g), free(g2);                                                     \
        free(a.m), free(a.v), free(b.m), free(b.v);                                                \
    }
CHECK_SAME(double)
CHECK_SAME(float)

static void test_same_bits(void)
{
    spec_optim kinds[] = {SPEC_OPT_SGD, SPEC_OPT_MOMENTUM, SPEC_OPT_ADAGRAD, SPEC_OPT_ADAM};
    /* the last: split among the kernels' threads in both dtypes */
    int64_t sizes[] = {1, 7, 8, 15, 16, 17, 45, 100, 1001, OPTIM_SPLIT_BYTES / 4 + 3};
    int was = cpu_set_threads(3);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 4; k++)
            for (int s = 0; s < 10; s++)
                for (int c = 0; c < 2; c++)
                    for (int bad = 0; bad < 2; bad++) {
                        double clip = c ? 5.0 : 0.0;
                        weight_decay = w ? 0.01 : 0;
                        same_double(kinds[k], DT_F64, sizes[s], clip, 1e-8, bad);
                        same_float(kinds[k], DT_F32, sizes[s], clip, 1e-8, bad);
                    }
    weight_decay = 0;
    cpu_set_threads(was);
}

/* A NaN in the last part of an update split among threads is flagged, on
 * 1, 2 and 3 threads */
static void test_nonfinite_flag_split(void)
{
    enum { N = OPTIM_SPLIT_BYTES / 4 + 3 }; /* split among the threads */
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    int was = cpu_set_threads(1);
    for (int th = 1; th <= 3; th++) {
        cpu_set_threads(th);
        for (int at = 0; at < 2; at++) {
            optim o;
            init(&o, SPEC_OPT_ADAM, DT_F32, N, 1e-8);
            for (int64_t i = 0; i < N; i++)
                p[i] = (float)uniform(), g[i] = (float)uniform();
            if (at)
                g[N - 3] = NAN;
            CHECKF(optim_step_clip(&o, p, g, 0) == at, "%d threads, NaN %d: wrong flag", th, at);
            free(o.m);
            free(o.v);
        }
    }
    cpu_set_threads(was);
    free(p);
    free(g);
}

/* One NaN or infinity anywhere among finite gradients (the largest
 * finite ones included), clamped or not, is flagged by every optimiser;
 * none is not, whatever the parameters hold. */
static void test_nonfinite_flag(void)
{
    double odd[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 4; k++)
        for (int f64 = 0; f64 < 2; f64++)
            for (int64_t j = -1; j < 37; j++)
                for (int c = 0; c < 3; c++) {
                    optim o;
                    int64_t n = 37;
                    init(&o, (spec_optim)k, f64 ? DT_F64 : DT_F32, n, 1e-8);
                    double pd[37], gd[37];
                    float pf[37], gf[37];
                    for (int64_t i = 0; i < n; i++) {
                        gd[i] = i % 5 ? 8.0 * uniform() : f64 ? 1.7e308 : 3.4e38;
                        pd[i] = i == 3 ? NAN : uniform();
                        if (i == j)
                            gd[i] = odd[c];
                        gf[i] = (float)gd[i];
                        pf[i] = (float)pd[i];
                    }
                    int flag = f64 ? optim_step_clip(&o, pd, gd, c ? 5.0 : 0)
                                   : optim_step_clip(&o, pf, gf, c ? 5.0 : 0);
                    CHECKF(flag == (j >= 0), "kind %d f64 %d at %lld (%g): flag %d", k, f64,
                           (long long)j, odd[c], flag);
                    free(o.m);
                    free(o.v);
                }
}

/* clip_by_norm against the order it documents (blocks of 4096, 8
 * interleaved partial sums in double each, the blocks added in order),
 * bit for bit, on 1, 2 and 3 threads, both dtypes, sizes around a block
 * and a vector, with and without the scaling */
static double ref_sumsq(const double *x, int64_t n)
{
    double ss = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 4096) {
        int64_t m = n - b0 < 4096 ? n - b0 : 4096;
        double s[8] = {0};
        for (int64_t i = 0; i < m; i++)
            s[i < m / 8 * 8 ? i % 8 : 0] += x[b0 + i] * x[b0 + i];
        ss += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
    return ss;
}

static void test_clip_by_norm_order(void)
{
    static const int64_t sizes[] = {0, 1, 7, 4096, 4097, 16385, 100003};
    int was = cpu_set_threads(1);
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (int f64 = 0; f64 < 2; f64++)
            for (int th = 1; th <= 3; th++) {
                int64_t n = sizes[z];
                double *want = malloc((size_t)(n + 1) * sizeof *want);
                float *gf = malloc((size_t)(n + 1) * sizeof *gf);
                double *gd = malloc((size_t)(n + 1) * sizeof *gd);
                for (int64_t i = 0; i < n; i++) {
                    gf[i] = (float)(uniform() - 0.5);
                    gd[i] = f64 ? uniform() - 0.5 : gf[i];
                }
                double ss = ref_sumsq(gd, n), norm = sqrt(ss), max = 0.25 * norm;
                for (int64_t i = 0; i < n; i++)
                    want[i] = f64 ? gd[i] * (max / norm) : (double)(gf[i] * (float)(max / norm));
                cpu_set_threads(th);
                double got =
                    f64 ? clip_by_norm(DT_F64, gd, n, max) : clip_by_norm(DT_F32, gf, n, max);
                int same = got == norm;
                for (int64_t i = 0; i < n && same; i++)
                    same = f64 ? gd[i] == want[i] : (double)gf[i] == want[i];
                CHECKF(same, "n %lld %s %d threads: norm %.17g, want %.17g", (long long)n,
                       f64 ? "float64" : "float32", th, got, norm);
                free(want), free(gf), free(gd);
            }
    cpu_set_threads(was);
}

/* weight decay shrinks a weight with a zero gradient: sgd by lr wd p per
 * step, adam (decoupled) by the same, its moments untouched */
static void test_weight_decay(void)
{
    spec_optim kinds[] = {SPEC_OPT_SGD, SPEC_OPT_ADAM};
    for (int k = 0; k < 2; k++) {
        optim o;
        weight_decay = 0.5;
        init(&o, kinds[k], DT_F64, 1, 1e-8);
        weight_decay = 0;
        double p = 2, g = 0;
        optim_step_clip(&o, &p, &g, 0);
        CHECKF(p == 2 - 0.1 * 0.5 * 2, "kind %d: %.17g", (int)kinds[k], p);
        CHECK(((double *)o.m)[0] == 0);
        free(o.m);
        free(o.v);
    }
}

/* train.lr_schedule: the warm-up's line, then each schedule at its
 * defining steps, and held after the span */
static void test_schedule(void)
{
    spec s;
    memset(&s, 0, sizeof s);
    s.train.optimizer.lr = 0.1;
    s.train.lr_schedule.every = 10;
    s.train.lr_schedule.gamma = 0.5;
    CHECK(optim_lr_at(&s, 100, 1) == 0.1 && optim_lr_at(&s, 100, 1000) == 0.1);
    s.train.lr_schedule.warmup = 4;
    CHECK(optim_lr_at(&s, 100, 1) == 0.1 * 1 / 4 && optim_lr_at(&s, 100, 2) == 0.1 * 2 / 4);
    CHECK(optim_lr_at(&s, 100, 4) == 0.1 && optim_lr_at(&s, 100, 5) == 0.1);
    s.train.lr_schedule.name = SPEC_SCHED_STEP;
    /* decays counted from the warm-up's end: steps 5..14 at lr, 15.. at lr/2 */
    CHECK(optim_lr_at(&s, 100, 14) == 0.1 && optim_lr_at(&s, 100, 15) == 0.05);
    CHECK(optim_lr_at(&s, 100, 35) == 0.1 * 0.125);
    CHECK(optim_lr_at(&s, 30, 35) == optim_lr_at(&s, 30, 31)); /* held after the span */
    s.train.lr_schedule.name = SPEC_SCHED_COSINE;
    s.train.lr_schedule.min_lr = 0.01;
    CHECK(optim_lr_at(&s, 104, 5) == 0.1);
    CHECKF(fabs(optim_lr_at(&s, 104, 55) - 0.055) < 1e-15, "%.17g", optim_lr_at(&s, 104, 55));
    CHECK(optim_lr_at(&s, 104, 105) == 0.01 && optim_lr_at(&s, 104, 1000) == 0.01);
    double prev = 1;
    for (int64_t k = 5; k <= 104; k++) {
        double lr = optim_lr_at(&s, 104, k);
        CHECKF(lr <= prev && lr >= 0.01, "step %lld: %g after %g", (long long)k, lr, prev);
        prev = lr;
    }
}

/* eps = 0: a zero gradient over a zero accumulator is 0 / 0, NaN, as in
 * the reference */
static void test_adagrad_zero_over_zero(void)
{
    same_double(SPEC_OPT_ADAGRAD, DT_F64, 100, 5.0, 0.0, 0);
    same_float(SPEC_OPT_ADAGRAD, DT_F32, 100, 0.0, 0.0, 0);
    optim o;
    init(&o, SPEC_OPT_ADAGRAD, DT_F64, 16, 0.0);
    double p[16] = {0}, g[16] = {0};
    optim_step_clip(&o, p, g, 0);
    CHECK(isnan(p[0]) && isnan(p[15]));
    free(o.m);
    free(o.v);
}

int main(void)
{
    RUN(test_same_bits);
    RUN(test_adagrad_zero_over_zero);
    RUN(test_nonfinite_flag);
    RUN(test_nonfinite_flag_split);
    RUN(test_weight_decay);
    RUN(test_clip_by_norm_order);
    RUN(test_schedule);
    CHECK_EXIT();
}
