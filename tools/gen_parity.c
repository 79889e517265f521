/*
 * gen_parity.c - writes the running-parity transduction task as numpy
 * arrays: DIR/inputs.npy int32 [N, T] random bits x_t, DIR/targets.npy
 * int32 [N, T] with y_t = x_t XOR y_{t-1}, y_{-1} = 0.
 *
 * A task where the output-to-hidden (Jordan) model is the right one: the
 * answer at t is a function of x_t and y_{t-1}, which teacher forcing
 * hands it, while a hidden-to-hidden model must learn to carry the parity
 * in its state. usage: gen_parity DIR [N] [T] [SEED] [dense] [lengths]
 * "dense" writes the bits as float32 [N, T, 1] vectors instead of ids;
 * "lengths" adds lengths.npy with random lengths from T/2 to T (the
 * steps past them are padding). "real" writes float32 targets of two
 * labels per step [N, T, 2]: the parity and the current bit (for linear +
 * mse or sigmoid + bce); "lastreal" the same per sequence [N, 2]: the
 * final parity and the share of ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/npy.h"
#include "train/rng.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_parity DIR [N] [T] [SEED]\n");
        return 2;
    }
    const char *dir = argv[1];
    long N = argc > 2 ? atol(argv[2]) : 4000, T = argc > 3 ? atol(argv[3]) : 20;
    unsigned long long seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 7;
    int dense = 0, lengths = 0, real = 0, lastreal = 0;
    for (int i = 5; i < argc; i++) {
        dense |= !strcmp(argv[i], "dense");
        lengths |= !strcmp(argv[i], "lengths");
        real |= !strcmp(argv[i], "real");
        lastreal |= !strcmp(argv[i], "lastreal");
    }
    if (N < 1 || T < 1 || N * T > 100000000L) {
        fprintf(stderr, "gen_parity: N and T must be positive (N x T at most 1e8)\n");
        return 2;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "gen_parity: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int32_t *x = malloc((size_t)(N * T) * sizeof *x), *y = malloc((size_t)(N * T) * sizeof *y);
    int32_t *len = malloc((size_t)N * sizeof *len);
    float *xf = malloc((size_t)(N * T) * sizeof *xf);
    float *yf = malloc((size_t)(N * T * 2) * sizeof *yf);
    if (!x || !y || !len || !xf || !yf) {
        fprintf(stderr, "gen_parity: out of memory\n");
        return 1;
    }
    rng r;
    rng_seed(&r, seed);
    for (long n = 0; n < N; n++) {
        int32_t p = 0;
        for (long t = 0; t < T; t++) {
            x[n * T + t] = (int32_t)rng_below(&r, 2);
            p ^= x[n * T + t];
            y[n * T + t] = p;
            xf[n * T + t] = (float)x[n * T + t];
        }
        len[n] = (int32_t)(T - (long)rng_below(&r, (uint64_t)(T / 2 + 1)));
        int32_t end = lengths ? len[n] : (int32_t)T, ones = 0;
        for (long t = 0; t < T; t++) {
            yf[(n * T + t) * 2] = (float)y[n * T + t];
            yf[(n * T + t) * 2 + 1] = (float)x[n * T + t];
            ones += t < end ? x[n * T + t] : 0;
        }
        if (lastreal) {
            yf[n * 2] = (float)y[n * T + end - 1];
            yf[n * 2 + 1] = (float)ones / (float)end;
        }
    }
    char path[4200];
    shape s = shape_2(N, T);
    uerr e = {0};
    shape s3 = shape_make(3, (int64_t[]){N, T, 1}), sn = shape_1(N);
    snprintf(path, sizeof path, "%s/inputs.npy", dir);
    int rc = dense ? npy_write(path, DT_F32, &s3, xf, &e) : npy_write(path, DT_I32, &s, x, &e);
    shape sy3 = shape_make(3, (int64_t[]){N, T, 2}), sy2 = shape_2(N, 2);
    snprintf(path, sizeof path, "%s/targets.npy", dir);
    if (!rc && lastreal)
        rc = npy_write(path, DT_F32, &sy2, yf, &e);
    else if (!rc && real)
        rc = npy_write(path, DT_F32, &sy3, yf, &e);
    else if (!rc)
        rc = npy_write(path, DT_I32, &s, y, &e);
    snprintf(path, sizeof path, "%s/lengths.npy", dir);
    if (!rc && lengths)
        rc = npy_write(path, DT_I32, &sn, len, &e);
    free(x);
    free(y);
    free(len);
    free(xf);
    free(yf);
    if (rc) {
        fprintf(stderr, "gen_parity: %s\n", e.msg);
        return 1;
    }
    return 0;
}
