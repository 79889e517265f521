/*
 * peak.c - the machine's sgemm speed, the limit the targets are
 * stated against: a 2048^3 single-precision product on 1 and on 2
 * threads (OpenBLAS as the environment configures it), best of 5 after a
 * warm-up, as one line of JSON.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench/timing.h"

static double gflops(int n, int threads, const float *a, const float *b, float *c)
{
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = now_s() - t;
        best = t < best ? t : best;
    }
    return 2.0 * n * (double)n * n / best / 1e9;
}

int main(void)
{
    const int n = 2048;
    int pool = openblas_get_num_threads();
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c)
        return 1;
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (float)(i % 7) * 1e-3f;
        b[i] = (float)(i % 5) * 1e-3f;
    }
    double g1 = gflops(n, 1, a, b, c), g2 = gflops(n, 2, a, b, c);
    printf("{\"sgemm1\": %.1f, \"sgemm2\": %.1f, \"pool\": %d, \"core\": \"%s\"}\n", g1, g2, pool,
           openblas_get_corename());
    free(a);
    free(b);
    free(c);
    return 0;
}
