/*
 * test_transpose.c - the transpose kernel (ops/transpose.c: tiles, and
 * blocks of 2 x 2 doubles or 4 x 4 floats moved as vectors) against the
 * element loop: every shape up to 70 x 70 in steps that cut blocks and
 * tiles everywhere, float64 and float32, input and output at odd element
 * offsets from an aligned address.
 */
#include "check.h"

#include <stdlib.h>

#include "ops/ops.h"

static void test_every_shape(void)
{
    int64_t bad = 0, shapes = 0;
    for (int dt = 0; dt < 2; dt++)
        for (int64_t R = 1; R <= 70; R += 3)
            for (int64_t C = 1; C <= 70; C += 5) {
                graph g;
                uerr e = {0};
                CHECK_OK(graph_init(&g, dt ? DT_F64 : DT_F32, &e), &e);
                int32_t a = op_example_param(&g, shape_2(R, C), &e);
                int32_t t = op_transpose(&g, a, &e);
                CHECK(a >= 0 && t >= 0);
                size_t es = dt ? 8 : 4, off = (size_t)(R % 3) * es;
                char *xm = malloc((size_t)(R * C) * es + 64),
                     *ym = malloc((size_t)(R * C) * es + 64);
                void *x = xm + off, *y = ym + es;
                for (int64_t i = 0; i < R * C; i++) {
                    if (dt)
                        ((double *)x)[i] = (double)i + 0.25;
                    else
                        ((float *)x)[i] = (float)i + 0.25f;
                }
                void *in[1] = {x};
                op_table[OP_TRANSPOSE]->forward(&g, &g.nodes[t], in, y);
                for (int64_t r = 0; r < R; r++)
                    for (int64_t c = 0; c < C; c++) {
                        double v = dt ? ((double *)y)[c * R + r] : ((float *)y)[c * R + r];
                        bad += v != (double)(r * C + c) + 0.25;
                    }
                shapes++;
                free(xm);
                free(ym);
                graph_free(&g);
            }
    CHECKF(bad == 0, "%lld misplaced elements", (long long)bad);
    printf("  %lld shapes\n", (long long)shapes);
}

int main(void)
{
    RUN(test_every_shape);
    CHECK_EXIT();
}
