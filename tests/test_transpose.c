/*
 * test_transpose.c - the transpose kernel (kernels/transpose.c) against
 * the element loop on every CPU path this machine runs (blocks of 16 or
 * 8 on AVX-512, 8 or 4 on AVX2, 4 x 4 floats or 2 x 2 doubles in tiles
 * on the portable one): every shape up to 70 x 70 in steps that cut
 * blocks and tiles everywhere, and rows a power of two apart (the shapes
 * whose rows share cache sets), float64 and float32, input and output at
 * odd element offsets from an aligned address. The op (ops/transpose.c)
 * is checked through its forward, rows padded (a plan's copy) or not. transpose_rows, a parameter's
 * copy kept up to date a chunk of rows at a time (engine/exec.c), writes the columns of its rows
 * and nothing else, chunk boundaries anywhere.
 */
#include "check.h"

#include <stdlib.h>

#include "kernels/cpu.h"
#include "kernels/transpose.h"
#include "ops/ops.h"

/* x [R, C] through the op (op = 1; op = 2: its rows padded to R + 5
 * elements, as the plan pads a copy's, ip[0]) or the kernel, compared
 * with the element loop; the elements misplaced */
static int64_t misplaced(int dt, int64_t R, int64_t C, int op)
{
    size_t es = dt ? 8 : 4, off = (size_t)(R % 3) * es;
    int64_t ly = op == 2 ? R + 5 : R;
    char *xm = malloc((size_t)(R * C) * es + 64), *ym = malloc((size_t)(ly * C) * es + 64);
    if (!xm || !ym) {
        free(xm);
        free(ym);
        return -1;
    }
    void *x = xm + off, *y = ym + es;
    for (int64_t i = 0; i < R * C; i++) {
        if (dt)
            ((double *)x)[i] = (double)i + 0.25;
        else
            ((float *)x)[i] = (float)i + 0.25f;
    }
    if (op) {
        graph g;
        uerr e = {0};
        CHECK_OK(graph_init(&g, dt ? DT_F64 : DT_F32, &e), &e);
        int32_t a = op_example_param(&g, shape_2(R, C), &e);
        int32_t t = op_transpose(&g, a, &e);
        CHECK(a >= 0 && t >= 0);
        g.nodes[t].ip[0] = op == 2 ? ly : 0;
        CHECK(op_row_stride(&g.nodes[t]) == ly &&
              op_value_bytes(&g.nodes[t]) == (size_t)(ly * C) * es);
        void *in[1] = {x};
        op_table[OP_TRANSPOSE]->forward(&g, &g.nodes[t], in, y);
        graph_free(&g);
    } else {
        transpose_matrix(es, x, y, R, C);
    }
    int64_t bad = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            double v = dt ? ((double *)y)[c * ly + r] : ((float *)y)[c * ly + r];
            bad += v != (double)(r * C + c) + 0.25;
        }
    free(xm);
    free(ym);
    return bad;
}

/* y = x^T [C, R] built by transpose_rows in chunks of `chunk` rows over a
 * y holding -1 everywhere, each chunk checked to write its columns and
 * no other; the elements misplaced */
static int64_t rows_misplaced(int dt, int64_t R, int64_t C, int64_t chunk)
{
    size_t es = dt ? 8 : 4;
    char *xm = malloc((size_t)(R * C) * es + 64), *ym = malloc((size_t)(R * C) * es + 64);
    if (!xm || !ym) {
        free(xm);
        free(ym);
        return -1;
    }
    void *x = xm + es, *y = ym + (size_t)(C % 2) * es;
    for (int64_t i = 0; i < R * C; i++) {
        if (dt) {
            ((double *)x)[i] = (double)i + 0.5;
            ((double *)y)[i] = -1;
        } else {
            ((float *)x)[i] = (float)i + 0.5f;
            ((float *)y)[i] = -1;
        }
    }
    int64_t bad = 0;
    for (int64_t r0 = 0; r0 < R; r0 += chunk) {
        int64_t r1 = r0 + chunk < R ? r0 + chunk : R;
        transpose_rows(es, x, C, y, R, r0, r1);
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++) {
                double v = dt ? ((double *)y)[c * R + r] : ((float *)y)[c * R + r];
                bad += v != (r < r1 ? (double)(r * C + c) + 0.5 : -1.0);
            }
    }
    free(xm);
    free(ym);
    return bad;
}

static void test_every_shape(void)
{
    for (int path = CPU_AVX512; path >= CPU_GENERIC; path--) {
        int was = cpu_set_path(path);
        if (was < 0)
            continue;
        int64_t bad = 0, shapes = 0;
        for (int dt = 0; dt < 2; dt++) {
            for (int64_t R = 1; R <= 70; R += 3)
                for (int64_t C = 1; C <= 70; C += 5, shapes++)
                    bad += misplaced(dt, R, C, (R + C) % 3);
            const int64_t wide[][2] = {{256, 256}, {1024, 33}, {16, 512}, {97, 128}, {128, 100}};
            for (int k = 0; k < 5; k++, shapes++)
                bad += misplaced(dt, wide[k][0], wide[k][1], 0);
            /* and in chunks of rows */
            const int64_t chunked[][3] = {{100, 100, 8}, {100, 65, 13}, {65, 100, 48},
                                          {37, 45, 1},   {128, 96, 32}, {17, 256, 5}};
            for (int k = 0; k < 6; k++, shapes++)
                bad += rows_misplaced(dt, chunked[k][0], chunked[k][1], chunked[k][2]);
        }
        CHECKF(bad == 0, "%s: %lld misplaced elements", cpu_path_name(path), (long long)bad);
        printf("  %s: %lld shapes\n", cpu_path_name(path), (long long)shapes);
        cpu_set_path(was);
    }
}

int main(void)
{
    RUN(test_every_shape);
    CHECK_EXIT();
}
