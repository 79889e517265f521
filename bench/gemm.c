/*
 * gemm.c - kernels/gemm.c's speed alone: GFLOP/s of C = A B at a few
 * sizes, float32 and float64, on each vector path the CPU has and on 1 and
 * 2 threads, best of 5 after a warm-up (wall clock: run it on a quiet
 * machine, or read it as a lower bound). OpenBLAS's sgemm/dgemm on the
 * same operands for scale (its core as it detects it; set
 * OPENBLAS_CORETYPE to see its best). `make bench-gemm`; never part of
 * make test.
 *
 *   bench/gemm [M N K ...]     default: 1024 1024 1024  64 1024 1024
 *   BENCH_TA=1 bench/gemm ...  A transposed (unroll's kernels only)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/cpu.h"
#include "kernels/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* BENCH_TA=1: A stored transposed ([K, M]), as in the weight gradients */
static int ta;

/* which: 0 unroll float32, 1 unroll float64, 2 OpenBLAS sgemm, 3 dgemm */
static double run(int which, int M, int N, int K, const void *a, const void *b, void *c)
{
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t = now_s();
        switch (which) {
        case 0: gemm_f32(ta, 0, M, N, K, a, ta ? M : K, b, N, c, N, 0, NULL); break;
        case 1: gemm_f64(ta, 0, M, N, K, a, ta ? M : K, b, N, c, N, 0, NULL); break;
        case 2:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 0,
                        c, N);
            break;
        default:
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 0,
                        c, N);
        }
        t = now_s() - t;
        if (r > 0 && t < best) /* the first run warms up */
            best = t;
    }
    return 2.0 * M * (double)N * K / best / 1e9;
}

int main(int argc, char **argv)
{
    int dflt[] = {1024, 1024, 1024, 64, 1024, 1024};
    int n = argc > 1 ? (argc - 1) / 3 : 2;
    ta = getenv("BENCH_TA") && atoi(getenv("BENCH_TA"));
    char desc[160];
    printf("%s; OpenBLAS core %s\n", cpu_describe(desc, sizeof desc), openblas_get_corename());
    for (int s = 0; s < n; s++) {
        int M = argc > 1 ? atoi(argv[1 + 3 * s]) : dflt[3 * s];
        int N = argc > 1 ? atoi(argv[2 + 3 * s]) : dflt[3 * s + 1];
        int K = argc > 1 ? atoi(argv[3 + 3 * s]) : dflt[3 * s + 2];
        double *a = malloc(sizeof(double) * M * K), *b = malloc(sizeof(double) * K * N);
        double *c = malloc(sizeof(double) * M * N);
        if (!a || !b || !c)
            return 1;
        for (long i = 0; i < (long)M * K; i++)
            a[i] = (double)(i % 7) * 1e-3;
        for (long i = 0; i < (long)K * N; i++)
            b[i] = (double)(i % 5) * 1e-3;
        for (int th = 1; th <= 2; th++) {
            cpu_set_threads(th);
            openblas_set_num_threads(th);
            for (int p = cpu_get()->best; p >= 0; p--) {
                if (cpu_set_path(p) < 0 || (p == CPU_GENERIC && M * (double)N * K > 1e8))
                    continue;
                printf("%5d x %5d x %5d  %d thread%s  %-8s f32 %7.1f  f64 %7.1f GFLOP/s\n", M, N,
                       K, th, th > 1 ? "s" : " ", cpu_path_name(p), run(0, M, N, K, a, b, c),
                       run(1, M, N, K, a, b, c));
            }
            printf("%5d x %5d x %5d  %d thread%s  %-8s f32 %7.1f  f64 %7.1f GFLOP/s\n", M, N, K,
                   th, th > 1 ? "s" : " ", "OpenBLAS", run(2, M, N, K, a, b, c),
                   run(3, M, N, K, a, b, c));
        }
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
