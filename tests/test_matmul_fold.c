/*
 * test_matmul_fold.c - the plan's folded products (ops/matmul.c, engine/
 * plan_fold.c) against the nodes they replace, bit for bit: a gate
 *
 *   Z = act(add(add(gather(U^T, idx), A W^T), b))
 *
 * computed node by node, each by its own kernel, and as one product that
 * adds the gathered rows (ip[3]), then the bias, then applies the
 * activation (ip[2]); and the same without the bias, without the
 * activation, and with the table as stored (a column per symbol). A
 * padding index (-1) gathers a zero row. Rows from 1 (the recurrence at
 * batch 1: kernels/smallmm.c) to 37 (kernels/gemm.c's tiles and their
 * edges), float32 and float64. And a step of the backward: a product
 * added into a copy of another node, then an activation's gradient.
 * Each also computed by ranges of columns (op_matmul_cols, as a row run
 * splits a product whose weight outgrows the L2: engine/exec_rows.c),
 * cut at odd places: the same bits as one call.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "ops/ops.h"

static uint64_t rng = 7;

static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* a node's value, in a block of its own size */
static void *value(const graph *g, int32_t v)
{
    const gnode *n = &g->nodes[v];
    return calloc((size_t)shape_numel(&n->shape), dtype_size((dtype)n->dt));
}

static void fill(const graph *g, int32_t v, void *p, int64_t bound)
{
    const gnode *n = &g->nodes[v];
    for (int64_t k = 0; k < shape_numel(&n->shape); k++) {
        double r = urand();
        if (n->dt == DT_I32)
            ((int32_t *)p)[k] = k % 5 == 3 ? -1 : (int32_t)(r * (double)bound);
        else if (n->dt == DT_F32)
            ((float *)p)[k] = (float)(2 * r - 1);
        else
            ((double *)p)[k] = 2 * r - 1;
    }
}

/* runs node v of g on the values vals (one per node) */
static void run(const graph *g, int32_t v, void **vals)
{
    const gnode *n = &g->nodes[v];
    void *in[GRAPH_MAX_IN];
    for (int k = 0; k < n->nin; k++)
        in[k] = vals[n->in[k]];
    op_table[n->op]->forward(g, n, in, vals[v]);
}

/* Every node of g run in index order, the leaves filled first: one value
 * per node (free_values frees them). */
static void **run_graph(const graph *g, int64_t bound)
{
    void **vals = calloc((size_t)g->n, sizeof *vals);
    for (int32_t v = 0; v < g->n; v++) {
        vals[v] = value(g, v);
        if (g->nodes[v].op == OP_INPUT)
            fill(g, v, vals[v], bound);
    }
    for (int32_t v = 0; v < g->n; v++)
        if (g->nodes[v].op != OP_INPUT)
            run(g, v, vals);
    return vals;
}

/* a folded product pushed as the plan pushes it (op_matmul builds
 * products of two inputs): its id, or -1 */
static int32_t push_folded(graph *g, gnode *proto)
{
    uerr e = {0};
    int32_t id = -1;
    CHECK_OK(op_table[OP_MATMUL]->infer(g, proto, &e) || graph_push(g, proto, NULL, &id, &e), &e);
    return id;
}

/* Whether node F of g, computed by the ranges of columns cut at
 * cuts[0] = 0 < ... < cuts[n] = N into out (holding what the whole call
 * started from: acc, or an addend written over), gives the bytes want. */
static int same_by_cols(const graph *g, int32_t F, void **vals, void *out, int acc,
                        const int64_t *cuts, int n, const void *want)
{
    const gnode *f = &g->nodes[F];
    void *in[GRAPH_MAX_IN];
    for (int k = 0; k < f->nin; k++)
        in[k] = vals[f->in[k]] == vals[F] ? out : vals[f->in[k]];
    for (int c = 0; c < n; c++)
        op_matmul_cols(g, f, in, out, acc, cuts[c], cuts[c + 1]);
    return !memcmp(out, want, (size_t)shape_numel(&f->shape) * dtype_size((dtype)f->dt));
}

static void free_values(const graph *g, void **vals)
{
    for (int32_t v = 0; v < g->n; v++)
        free(vals[v]);
    free(vals);
}

/* One case: M rows, K inputs, N units, V symbols; with_bias, act (0,
 * OP_TANH, OP_SIGMOID), stored_t (the table transposed, [V, N]). */
static int one_case(dtype dt, int64_t M, int64_t K, int64_t N, int64_t V, int with_bias, int act,
                    int stored_t)
{
    graph g;
    uerr e = {0};
    CHECK_OK(graph_init(&g, dt, &e), &e);
    int32_t A = op_example_param(&g, shape_2(M, K), &e);
    int32_t Wt = op_example_param(&g, shape_2(K, N), &e);
    int32_t U = op_example_param(&g, stored_t ? shape_2(V, N) : shape_2(N, V), &e);
    int32_t b = op_example_param(&g, shape_1(N), &e);
    int32_t idx;
    CHECK_OK(graph_leaf(&g, "idx", DT_I32, shape_1(M), NODE_DATA, -1, &idx, &e), &e);
    g.nodes[idx].ip[0] = V;
    int32_t G = stored_t ? op_gather_t(&g, U, idx, &e) : op_gather(&g, U, idx, &e);
    int32_t S = op_add(&g, G, op_matmul(&g, A, Wt, 0, 0, &e), &e);
    int32_t Y = with_bias ? op_add(&g, S, b, &e) : S;
    int32_t Z = act ? op_unary(&g, act, Y, &e) : Y;
    gnode proto = {.op = OP_MATMUL,
                   .nin = with_bias ? 5 : 4,
                   .in = {A, Wt, U, idx, b},
                   .ip = {0, 0, act, 1 + stored_t}};
    int32_t F = push_folded(&g, &proto);
    CHECK(Z >= 0 && F >= 0);
    if (Z < 0 || F < 0) {
        graph_free(&g);
        return 1;
    }
    void **vals = run_graph(&g, V);
    size_t bytes = (size_t)(M * N) * dtype_size(dt);
    int same = !memcmp(vals[Z], vals[F], bytes);
    const int64_t cuts[] = {0, 1, 8, 21, N};
    void *out = calloc(1, bytes);
    same = same && same_by_cols(&g, F, vals, out, 0, cuts, 4, vals[Z]);
    free(out);
    CHECKF(same, "%s M=%lld K=%lld N=%lld bias %d act %d table %s: the folded product differs",
           dtype_name(dt), (long long)M, (long long)K, (long long)N, with_bias, act,
           stored_t ? "transposed" : "as stored");
    free_values(&g, vals);
    graph_free(&g);
    return !same;
}

/* The backward of a step: D = act_grad(Y, add(A W^T, Q)) node by node,
 * and as one product added into a copy of Q (MM_ADDEND) with the
 * activation's gradient applied (ip[2]); once more with Q's copy already
 * in the output (the product written over its addend). */
static int one_back(dtype dt, int64_t M, int64_t K, int64_t N, int grad)
{
    graph g;
    uerr e = {0};
    CHECK_OK(graph_init(&g, dt, &e), &e);
    int32_t A = op_example_param(&g, shape_2(M, K), &e);
    int32_t W = op_example_param(&g, shape_2(N, K), &e);
    int32_t Q = op_example_param(&g, shape_2(M, N), &e);
    int32_t Y = op_example_param(&g, shape_2(M, N), &e);
    int32_t D = op_binary(&g, grad, Y, op_add(&g, op_matmul(&g, A, W, 0, 1, &e), Q, &e), &e);
    gnode proto = {.op = OP_MATMUL, .nin = 4, .in = {A, W, Q, Y}, .ip = {0, 1, grad, MM_ADDEND}};
    int32_t F = push_folded(&g, &proto);
    CHECK(D >= 0 && F >= 0);
    if (D < 0 || F < 0) {
        graph_free(&g);
        return 1;
    }
    void **vals = run_graph(&g, 0);
    size_t bytes = (size_t)(M * N) * dtype_size(dt);
    int same = !memcmp(vals[D], vals[F], bytes);
    /* by columns, onto its addend and over it */
    const int64_t cuts[] = {0, 5, 6, 16, N};
    void *out = calloc(1, bytes);
    same = same && same_by_cols(&g, F, vals, out, 0, cuts, 4, vals[D]);
    memcpy(out, vals[Q], bytes);
    int32_t q = g.nodes[F].in[2];
    void *was = vals[q];
    vals[q] = vals[F];
    same = same && same_by_cols(&g, F, vals, out, 0, cuts, 4, vals[D]);
    vals[q] = was;
    /* the plain product accumulated (PLAN_ACCUM), whole and by columns */
    int32_t P = g.nodes[g.nodes[D].in[1]].in[0];
    void *pin[2] = {vals[A], vals[W]}, *acc = malloc(bytes);
    memcpy(acc, vals[Q], bytes);
    op_table[OP_MATMUL]->accumulate(&g, &g.nodes[P], pin, acc);
    memcpy(out, vals[Q], bytes);
    same = same && same_by_cols(&g, P, vals, out, 1, cuts, 4, acc);
    free(acc);
    free(out);
    /* over its addend */
    memcpy(vals[F], vals[Q], bytes);
    void *in[4] = {vals[A], vals[W], vals[F], vals[Y]};
    op_table[OP_MATMUL]->forward(&g, &g.nodes[F], in, vals[F]);
    same = same && !memcmp(vals[D], vals[F], bytes);
    CHECKF(same, "%s M=%lld K=%lld N=%lld %s: the folded product differs", dtype_name(dt),
           (long long)M, (long long)K, (long long)N, op_name(grad));
    free_values(&g, vals);
    graph_free(&g);
    return !same;
}

static void test_addend_activation_gradient_folded(void)
{
    static const int64_t rows[] = {1, 2, 8, 9, 37};
    int cases = 0, bad = 0;
    for (int dt = 0; dt < 2; dt++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (int a = 0; a < 2; a++) {
                bad += one_back(dt ? DT_F64 : DT_F32, rows[r], 29, 21,
                                a ? OP_SIGMOID_GRAD : OP_TANH_GRAD);
                cases++;
            }
    printf("  %d cases, %d differ\n", cases, bad);
}

static void test_gather_bias_activation_folded(void)
{
    static const int64_t rows[] = {1, 2, 3, 8, 9, 37};
    static const int acts[] = {0, OP_TANH, OP_SIGMOID};
    int cases = 0, bad = 0;
    for (int dt = 0; dt < 2; dt++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (int a = 0; a < 3; a++)
                for (int mask = 0; mask < 4; mask++) {
                    bad += one_case(dt ? DT_F64 : DT_F32, rows[r], 19, 33, 11, mask & 1, acts[a],
                                    mask >> 1);
                    cases++;
                }
    printf("  %d cases, %d differ\n", cases, bad);
}

int main(void)
{
    uerr e = {0};
    CHECK_OK(cpu_init(&e), &e);
    RUN(test_gather_bias_activation_folded);
    RUN(test_addend_activation_gradient_folded);
    CHECK_EXIT();
}
