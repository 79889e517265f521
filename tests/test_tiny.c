/*
 * test_tiny.c - every kernel at the smallest legal shapes, each operand in
 * a heap block of exactly its size, so that under make asan a read or
 * write one element out of bounds is a report, not a silent neighbour.
 * (exec's arena would hide it: its buffers sit side by side.)
 *
 * Ops: for each forward op a graph of 1-element operands (1x1 products,
 * K = 1, N = 1, one class, one row, a scalar where one is legal, an empty
 * batch where the op takes one), differentiated, so that the gradient ops
 * (tanh_grad, softmax_xent_grad, ...) appear too; every node's forward
 * kernel, and its accumulating kernel where it has one, runs on exact
 * buffers, in float32 and float64. Every op of the table must have run, or
 * the test names it. Kernels: gemm (every transpose, K = 0 and 1, an
 * empty M or N), smallmm (1x1, both vector widths) and vmath (0 to 3
 * elements, both widths), each against its reference.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autodiff.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/smallmm.h"
#include "kernels/vmath.h"
#include "ops/ops.h"

static uint64_t rng = 99;

static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int ran_forward[OP_COUNT], ran_accumulate[OP_COUNT];

/* A heap block of exactly n bytes (malloc(0) is a block ASan guards too). */
static void *exact(size_t n)
{
    void *p = malloc(n);
    CHECK(p != NULL || n == 0);
    return p;
}

/* Runs every node of g in index order (inputs come first), each on
 * buffers of exactly its size; leaves get random values, indices within
 * their bound. */
static void run_exact(const graph *g)
{
    void **v = calloc((size_t)g->n, sizeof *v);
    CHECK(v != NULL);
    for (int32_t i = 0; v && i < g->n; i++) {
        const gnode *nd = &g->nodes[i];
        int64_t n = shape_numel(&nd->shape);
        size_t bytes = (size_t)n * dtype_size((dtype)nd->dt);
        v[i] = exact(bytes);
        if (nd->op == OP_INPUT) {
            for (int64_t k = 0; k < n; k++) {
                double r = urand();
                if (nd->dt == DT_I32)
                    ((int32_t *)v[i])[k] = (int32_t)(r * (double)(nd->ip[0] > 0 ? nd->ip[0] : 1));
                else if (nd->dt == DT_F32)
                    ((float *)v[i])[k] = (float)(2 * r - 1);
                else
                    ((double *)v[i])[k] = 2 * r - 1;
            }
            continue;
        }
        const op_def *d = op_table[nd->op];
        void *in[GRAPH_MAX_IN];
        for (int k = 0; k < nd->nin; k++)
            in[k] = v[nd->in[k]];
        CHECKF(d->forward != NULL, "op %s has no forward kernel", op_name(nd->op));
        if (!d->forward)
            continue;
        d->forward(g, nd, in, v[i]);
        ran_forward[nd->op] = 1;
        op_forward_fn acc = op_accumulate_fn(nd->op);
        if (acc) {
            void *sum = exact(bytes);
            if (sum || !bytes) {
                if (bytes)
                    memcpy(sum, v[i], bytes);
                acc(g, nd, in, sum);
                ran_accumulate[nd->op] = 1;
            }
            free(sum);
        }
    }
    for (int32_t i = 0; v && i < g->n; i++)
        free(v[i]);
    free(v);
}

typedef int32_t (*tiny_fn)(graph *g, uerr *e);

static int32_t p1(graph *g, uerr *e)
{
    return op_example_param(g, shape_1(1), e);
}
static int32_t p11(graph *g, uerr *e)
{
    return op_example_param(g, shape_2(1, 1), e);
}

static int32_t t_matmul(graph *g, uerr *e)
{
    int32_t r = -1;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int32_t m = op_matmul(g, p11(g, e), p11(g, e), ta, tb, e);
            r = r < 0 ? m : op_add(g, r, m, e);
        }
    return r;
}
static int32_t t_binary(graph *g, uerr *e)
{
    /* same shape, a row vector and a scalar broadcast, scalar with scalar */
    int32_t a = op_add(g, p11(g, e), p11(g, e), e);
    a = op_sub(g, a, p1(g, e), e);
    a = op_mul(g, a, op_example_param(g, shape_0(), e), e);
    int32_t s = op_mul(g, op_example_param(g, shape_0(), e), op_example_param(g, shape_0(), e), e);
    return op_add(g, op_scale(g, a, 0.5, e), s, e);
}
static int32_t t_activations(graph *g, uerr *e)
{
    int32_t x = p11(g, e);
    x = op_unary(g, OP_TANH, x, e);
    x = op_unary(g, OP_SIGMOID, x, e);
    x = op_unary(g, OP_RELU, x, e);
    return op_unary(g, OP_SOFTMAX, x, e);
}
static int32_t t_functions(graph *g, uerr *e)
{
    /* abs (sign in its gradient), and max, min broadcasting [1] and a scalar */
    int32_t m = op_binary(g, OP_MAX, op_unary(g, OP_ABS, p11(g, e), e), p1(g, e), e);
    m = op_binary(g, OP_MIN, m, op_example_param(g, shape_0(), e), e);
    int32_t b = op_unary(g, OP_SQRT, op_example_positive(g, shape_2(1, 1), e), e);
    b = op_pow(g, op_unary(g, OP_LOG, b, e), 2.0, e);
    b = op_unary(g, OP_EXP, op_unary(g, OP_SOFTPLUS, b, e), e);
    return op_add(g, m, op_pow(g, b, -0.5, e), e);
}
static int32_t t_xent(graph *g, uerr *e)
{
    /* one class: the smallest legal output */
    return op_softmax_xent(g, p11(g, e), op_example_index(g, shape_1(1), 1, e), e);
}
static int32_t t_real_loss(graph *g, uerr *e)
{
    int32_t m = op_real_loss(g, OP_MSE, p11(g, e), p11(g, e), -1, e);
    int32_t b = op_real_loss(g, OP_SIGMOID_BCE, p11(g, e), p11(g, e),
                             op_example_index(g, shape_1(1), 2, e), e);
    return op_add(g, m, b, e);
}
static int32_t t_reduce(graph *g, uerr *e)
{
    int32_t s = op_sum(g, op_sum(g, p11(g, e), 0, e), -1, e);
    int32_t b = op_broadcast(g, op_example_param(g, shape_0(), e), shape_1(1), e);
    b = op_broadcast(g, b, shape_2(1, 1), e);
    return op_add(g, b, s, e);
}
static int32_t t_gather(graph *g, uerr *e)
{
    int32_t idx = op_example_index(g, shape_1(1), 1, e);
    int32_t r = op_gather(g, p11(g, e), idx, e);
    return op_scatter(g, r, idx, 1, e);
}
static int32_t t_shape(graph *g, uerr *e)
{
    int32_t parts[2] = {p11(g, e), p11(g, e)};
    int32_t c = op_concat(g, parts, 2, e); /* [1, 2] */
    int32_t s = op_slice(g, c, 1, 1, e);   /* [1, 1] */
    int32_t pd = op_pad(g, s, 0, 1, e);    /* [1, 1] */
    return op_transpose(g, op_add(g, pd, op_fill(g, shape_2(1, 1), 0.25, e), e), e);
}
static int32_t t_where(graph *g, uerr *e)
{
    return op_where(g, op_example_index(g, shape_1(1), 2, e), p11(g, e), p11(g, e), e);
}
static int32_t t_choose(graph *g, uerr *e)
{
    return op_choose(g, p11(g, e), op_example_index(g, shape_1(1), 1, e),
                     op_example_index(g, shape_1(1), 2, e), e);
}
/* An empty batch: zero rows through a product, an activation and a sum. */
static int32_t t_empty_batch(graph *g, uerr *e)
{
    int32_t x = op_example_param(g, shape_2(0, 1), e);
    int32_t h = op_unary(g, OP_TANH, op_matmul(g, x, p11(g, e), 0, 1, e), e);
    return op_add(g, op_sum(g, h, -1, e), op_example_param(g, shape_0(), e), e);
}

static const struct {
    const char *name;
    tiny_fn build;
} cases[] = {
    {"matmul 1x1, every transpose", t_matmul},
    {"add, sub, mul, scale: 1x1, [1], scalars", t_binary},
    {"tanh, sigmoid, relu, softmax: 1x1", t_activations},
    {"exp, log, softplus, sqrt, pow, abs, sign, max, min: 1x1, [1], scalars", t_functions},
    {"softmax_xent: one class, one row", t_xent},
    {"mse, sigmoid_bce: 1x1, with and without a mask", t_real_loss},
    {"sum, broadcast: 1x1 and scalars", t_reduce},
    {"gather, scatter: one row of one column", t_gather},
    {"concat, slice, pad, fill, transpose: width 1", t_shape},
    {"where: one row", t_where},
    {"choose: one row, one class", t_choose},
    {"an empty batch: matmul, tanh, sum", t_empty_batch},
};

/* Builds the case, makes a scalar loss of a float output (projected on a
 * leaf u), differentiates it with respect to every parameter and runs
 * forward and backward on exact buffers. */
static void run_case(int c, dtype dt)
{
    graph g;
    uerr e = {0};
    CHECK_OK(graph_init(&g, dt, &e), &e);
    int32_t out = cases[c].build(&g, &e);
    CHECKF(out >= 0, "%s (%s): %s", cases[c].name, dtype_name(dt), e.msg);
    if (out < 0) {
        graph_free(&g);
        return;
    }
    if (g.nodes[out].dt != DT_I32) {
        int32_t u;
        CHECK_OK(graph_leaf(&g, "u", dt, g.nodes[out].shape, NODE_DATA, -1, &u, &e), &e);
        int32_t loss = op_sum(&g, op_mul(&g, out, u, &e), -1, &e);
        CHECKF(loss >= 0, "%s: %s", cases[c].name, e.msg);
        int32_t params[32];
        int np = 0;
        for (int32_t v = 0; v < g.n && np < 32; v++)
            if (g.nodes[v].flags & NODE_PARAM)
                params[np++] = v;
        grad_table gt;
        CHECKF(loss >= 0 && !autodiff_grad(&g, loss, params, np, &gt, &e), "%s: %s", cases[c].name,
               e.msg);
        grad_table_free(&gt);
    }
    run_exact(&g);
    graph_free(&g);
}

static void test_every_op_tiny(void)
{
    for (int d = 0; d < 2; d++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            run_case((int)c, d ? DT_F64 : DT_F32);
    for (int op = 0; op < OP_COUNT; op++) {
        if (op_table[op]->flags & OPF_NO_KERNEL)
            continue;
        CHECKF(ran_forward[op], "op %s never ran at the smallest shapes: add it to a case",
               op_name(op));
        CHECKF(!op_accumulate_fn(op) || ran_accumulate[op],
               "op %s's accumulating kernel never ran at the smallest shapes", op_name(op));
    }
}

/* Fills n elements of a block of exactly that many (float or double). */
static void *exact_rand(int64_t n, size_t elem)
{
    void *p = exact((size_t)n * elem);
    for (int64_t k = 0; p && k < n; k++) {
        double r = 2 * urand() - 1;
        if (elem == sizeof(float))
            ((float *)p)[k] = (float)r;
        else
            ((double *)p)[k] = r;
    }
    return p;
}

/* One product at M, N, K (any of them 0 or 1) against the reference. */
static void gemm_case(int ta, int tb, int64_t M, int64_t N, int64_t K, int acc)
{
    /* leading dimensions: the stored row length, at least 1 */
    int64_t lda = ta ? (M ? M : 1) : (K ? K : 1), ldb = tb ? (K ? K : 1) : (N ? N : 1);
    int64_t na = ta ? K * lda : M * lda, nb = tb ? N * ldb : K * ldb, nc = M * N;
    float *a = exact_rand(na, 4), *b = exact_rand(nb, 4), *c = exact_rand(nc, 4),
          *r = exact_rand(nc, 4);
    double *ad = exact_rand(na, 8), *bd = exact_rand(nb, 8), *cd = exact_rand(nc, 8),
           *rd = exact_rand(nc, 8);
    if (nc) {
        memcpy(r, c, (size_t)nc * 4);
        memcpy(rd, cd, (size_t)nc * 8);
    }
    gemm_f32(ta, tb, M, N, K, a, lda, b, ldb, c, N ? N : 1, acc, NULL);
    gemm_ref_f32(ta, tb, M, N, K, a, lda, b, ldb, r, N ? N : 1, acc, NULL);
    gemm_f64(ta, tb, M, N, K, ad, lda, bd, ldb, cd, N ? N : 1, acc, NULL);
    gemm_ref_f64(ta, tb, M, N, K, ad, lda, bd, ldb, rd, N ? N : 1, acc, NULL);
    CHECKF(!nc || (!memcmp(c, r, (size_t)nc * 4) && !memcmp(cd, rd, (size_t)nc * 8)),
           "gemm ta %d tb %d M %lld N %lld K %lld acc %d differs from the reference", ta, tb,
           (long long)M, (long long)N, (long long)K, acc);
    free(a), free(b), free(c), free(r), free(ad), free(bd), free(cd), free(rd);
}

static void test_gemm_tiny(void)
{
    static const int64_t mnk[][3] = {{1, 1, 1}, {1, 1, 0}, {0, 1, 1}, {1, 0, 1},
                                     {2, 1, 1}, {1, 2, 1}, {1, 1, 2}, {0, 0, 0}};
    for (size_t s = 0; s < sizeof mnk / sizeof *mnk; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++)
                    gemm_case(ta, tb, mnk[s][0], mnk[s][1], mnk[s][2], acc);
}

static void test_smallmm_tiny(void)
{
    static const int widths[] = {64, 32};
    int was = smm_set_width(widths[0]);
    for (size_t w = 0; w < 2; w++) {
        smm_set_width(widths[w]);
        for (int ta = 0; ta < 2; ta++)
            for (int acc = 0; acc < 2; acc++)
                for (int64_t K = 1; K <= 2; K++) {
                    float *a = exact_rand(K, 4), *b = exact_rand(K, 4), *c = exact_rand(1, 4),
                          *r = exact_rand(1, 4);
                    double *ad = exact_rand(K, 8), *bd = exact_rand(K, 8), *cd = exact_rand(1, 8),
                           *rd = exact_rand(1, 8);
                    *r = *c;
                    *rd = *cd;
                    /* M = N = 1: A is [1, K] (or [K, 1] transposed), B [K, 1] */
                    int64_t lda = ta ? 1 : K;
                    int did = smm_f32(ta, 1, 1, K, a, lda, b, 1, c, 1, acc, NULL);
                    smm_ref_f32(ta, 1, 1, K, a, lda, b, 1, r, 1, acc, NULL);
                    int didd = smm_f64(ta, 1, 1, K, ad, lda, bd, 1, cd, 1, acc, NULL);
                    smm_ref_f64(ta, 1, 1, K, ad, lda, bd, 1, rd, 1, acc, NULL);
                    CHECKF((!did || *c == *r) && (!didd || *cd == *rd),
                           "smallmm 1x1, K %lld, ta %d, width %d differs from the reference",
                           (long long)K, ta, widths[w]);
                    free(a), free(b), free(c), free(r), free(ad), free(bd), free(cd), free(rd);
                }
    }
    smm_set_width(was);
}

static void test_vmath_tiny(void)
{
    static const int widths[] = {64, 32, 16};
    int was = vm_set_width(widths[0]);
    for (size_t w = 0; w < 3; w++) {
        vm_set_width(widths[w]);
        for (int64_t n = 0; n <= 3; n++) {
            float *x = exact_rand(n, 4), *y = exact(4 * (size_t)n);
            double *xd = exact_rand(n, 8), *yd = exact(8 * (size_t)n);
            vm_exp_f32(x, y, n);
            vm_tanh_f32(x, y, n);
            vm_sigmoid_f32(x, y, n);
            vm_exp_f64(xd, yd, n);
            vm_tanh_f64(xd, yd, n);
            vm_sigmoid_f64(xd, yd, n);
            for (int64_t k = 0; k < n; k++)
                CHECKF(fabs(yd[k] - 1 / (1 + exp(-xd[k]))) < 1e-12 &&
                           fabsf(y[k] - 1 / (1 + expf(-x[k]))) < 1e-6f,
                       "vmath sigmoid at n %lld, width %d", (long long)n, widths[w]);
            /* in place */
            vm_tanh_f32(x, x, n);
            vm_tanh_f64(xd, xd, n);
            free(x), free(y), free(xd), free(yd);
        }
    }
    vm_set_width(was);
}

int main(void)
{
    uerr e = {0};
    CHECK_OK(cpu_init(&e), &e);
    RUN(test_every_op_tiny);
    RUN(test_gemm_tiny);
    RUN(test_smallmm_tiny);
    RUN(test_vmath_tiny);
    CHECK_EXIT();
}
