/*
 * fmapeak.c - the machine's arithmetic peak, measured by unroll itself:
 * independent chains of fused multiply-adds in vector registers, one
 * thread per core, each pinned to its core, float32 and float64, with
 * AVX-512 where the CPU (and OS) has it and AVX2+FMA too. One JSON line:
 * GFLOP/s on 1 core and on every core, per dtype and vector path, and the
 * best of each ("f32_1", "f32_all", "f64_1", "f64_all"), which the report
 * divides a step's FLOPs per second by.
 *
 *   fmapeak [MILLISECONDS]      time per measurement (default 30)
 *
 * 12 accumulators per thread: enough to hide an FMA latency of 4 cycles
 * on 2 FMA ports (8 in flight), few enough that they and the two operands
 * stay in AVX2's 16 registers (16 chains spilled: a third slower). An FMA counts 2 FLOPs
 * per lane. Best of 9 short runs of each measurement: on a busy machine
 * some short run still finds its cores free, where a long one would
 * average the other processes in.
 */
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench/timing.h"

#define NACC 12

static volatile double sink;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One kernel per vector path and dtype: iters x NACC FMAs of LANES lanes.
 * a is just under 1 and b tiny, so the chains neither overflow nor go
 * subnormal. Returns FLOPs done. */
#define CHAINS(NAME, TARGET, VT, SET1, FMA, ADD, STORE, ELT, LANES)                             \
    __attribute__((target(TARGET))) static double NAME(long iters)                              \
    {                                                                                            \
        VT acc[NACC];                                                                            \
        VT a = SET1((ELT)0.9999999), b = SET1((ELT)1e-7);                                        \
        for (int j = 0; j < NACC; j++)                                                           \
            acc[j] = SET1((ELT)j);                                                               \
        for (long i = 0; i < iters; i++) {                                                       \
            /* unrolled, so that the chains live in registers */                                 \
            _Pragma("GCC unroll 12") for (int j = 0; j < NACC; j++)                              \
                acc[j] = FMA(acc[j], a, b);                                                      \
        }                                                                                        \
        for (int j = 1; j < NACC; j++)                                                           \
            acc[0] = ADD(acc[0], acc[j]);                                                        \
        ELT out[LANES];                                                                          \
        STORE(out, acc[0]);                                                                      \
        sink = sink + (double)out[0];                                                            \
        return 2.0 * NACC * LANES * (double)iters;                                               \
    }

CHAINS(f32_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
       _mm512_storeu_ps, float, 16)
CHAINS(f64_avx512, "avx512f", __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
       _mm512_storeu_pd, double, 8)
CHAINS(f32_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
       _mm256_storeu_ps, float, 8)
CHAINS(f64_avx2, "avx2,fma", __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd,
       _mm256_storeu_pd, double, 4)

typedef double (*kernel)(long);

typedef struct worker {
    pthread_t th;
    int cpu;
    kernel k;
    long iters;
    pthread_barrier_t *bar;
    double t0, t1; /* this thread's CPU time before and after its chains */
    double flops;
} worker;

static void *work(void *p)
{
    worker *w = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    w->k(w->iters / 64); /* warm the core up (clocks, vector unit) */
    pthread_barrier_wait(w->bar);
    w->t0 = cpu_s();
    w->flops = w->k(w->iters);
    w->t1 = cpu_s();
    return NULL;
}

/* GFLOP/s of kernel k on the first n CPUs of the affinity
 * mask, one thread each, started together: the sum of each thread's
 * FLOPs over its own CPU time. CPU time, not the wall clock: on a shared
 * machine a thread that is preempted does not count the other process's
 * slice as its own, so the figure is what the cores do while they run
 * (a clock that drops with every core busy shows when they do run
 * together, as they do on a quiet machine). */
static double run(kernel k, const int *cpus, int n, long iters)
{
    worker *w = calloc((size_t)n, sizeof *w);
    pthread_barrier_t bar;
    if (!w || pthread_barrier_init(&bar, NULL, (unsigned)n)) {
        free(w);
        return 0;
    }
    int started = 0;
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.cpu = cpus[i], .k = k, .iters = iters, .bar = &bar};
        if (pthread_create(&w[i].th, NULL, work, &w[i]))
            break;
        started++;
    }
    /* a thread that could not start leaves the others at the barrier:
     * nothing is measured then (n = 1 cannot fail that way) */
    for (int i = 0; i < started; i++)
        pthread_join(w[i].th, NULL);
    double sum = 0;
    for (int i = 0; i < started; i++)
        sum += w[i].t1 > w[i].t0 ? w[i].flops / (w[i].t1 - w[i].t0) / 1e9 : 0;
    pthread_barrier_destroy(&bar);
    free(w);
    return started == n ? sum : 0;
}

/* iterations of k that take about ms milliseconds on one core, so every
 * measurement is long enough to time and short enough to repeat */
static long calibrate(kernel k, double ms)
{
    long it = 1 << 16;
    for (;;) {
        double t0 = now_s();
        k(it);
        double t = now_s() - t0;
        if (t > 0.02 || it > (1L << 40))
            return (long)((double)it * (ms * 1e-3) / (t > 0 ? t : 1e-3)) + 1;
        it *= 4;
    }
}

static double best_of(kernel k, const int *cpus, int n, long iters)
{
    double best = 0;
    for (int r = 0; r < 9; r++) {
        double g = run(k, cpus, n, iters);
        best = g > best ? g : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    double ms = argc > 1 ? atof(argv[1]) : 30;
    cpu_set_t set;
    int cpus[CPU_SETSIZE], n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    if (n == 0)
        cpus[n++] = 0;
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!has2) {
        printf("{\"error\": \"no AVX2+FMA: no FMA peak measured\", \"cores\": %d}\n", n);
        return 0;
    }
    struct {
        const char *name;
        kernel k;
        int on;
    } paths[] = {
        {"f32_avx512", f32_avx512, has512},
        {"f64_avx512", f64_avx512, has512},
        {"f32_avx2", f32_avx2, 1},
        {"f64_avx2", f64_avx2, 1},
    };
    double best[2][2] = {{0, 0}, {0, 0}}; /* [f64][all] */
    printf("{\"cores\": %d, \"isa\": \"%s\"", n, has512 ? "avx512" : "avx2");
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (!paths[p].on)
            continue;
        long iters = calibrate(paths[p].k, ms);
        double one = best_of(paths[p].k, cpus, 1, iters);
        double all = best_of(paths[p].k, cpus, n, iters);
        int f64 = paths[p].name[1] == '6';
        best[f64][0] = one > best[f64][0] ? one : best[f64][0];
        best[f64][1] = all > best[f64][1] ? all : best[f64][1];
        printf(", \"%s_1\": %.1f, \"%s_all\": %.1f", paths[p].name, one, paths[p].name, all);
    }
    printf(", \"f32_1\": %.1f, \"f32_all\": %.1f, \"f64_1\": %.1f, \"f64_all\": %.1f}\n",
           best[0][0], best[0][1], best[1][0], best[1][1]);
    return 0;
}
