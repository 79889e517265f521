/*
 * test_ops.c - every op in the table, gradient-checked in float64, to the
 * first and the second order.
 *
 * The loop walks op_table, so an op added to graph/ops.def is checked
 * without touching this file: each op's example output is projected on a
 * random tensor u (loss = sum(u f + w f^2), w random too), differentiated by build_grad and
 * compared with central differences; then the gradient graph is
 * differentiated again (autodiff_hvp: H v for a random v) and compared
 * with central differences of the symbolic gradients along v, so a wrong
 * second-order rule fails too. An op computing integers (OPF_INDEX) has no
 * gradient and is checked by its worked example instead; any other op
 * without an example or a gradient, or an integer op without a worked
 * example, fails here.
 */
#include "check.h"
#include "leaves.h"

#include <stdlib.h>
#include <string.h>

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/gradcheck.h"
#include "engine/plan.h"
#include "kernels/cpu.h"
#include "kernels/vmath.h"
#include "ops/ops.h"

static uint64_t rng_state = 12345;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A graph with its leaves' values: everything a check needs, freed at once. */
typedef struct fixture {
    graph g;
    int32_t out, loss;
    grad_table gt, hv;
    int32_t v[64]; /* the direction's leaves, one per parameter */
    plan pfull, ploss;
    exec xfull, xloss;
    void **vals;
    int32_t nvals; /* nodes when vals was made */
} fixture;

static void fixture_free(fixture *f)
{
    free_leaves(f->vals, f->nvals);
    exec_free(&f->xfull);
    exec_free(&f->xloss);
    plan_free(&f->pfull);
    plan_free(&f->ploss);
    grad_table_free(&f->gt);
    grad_table_free(&f->hv);
    graph_free(&f->g);
}

/* Projects f->out on random u and w, differentiates twice (the gradients and
 * H v for a random direction v), plans and binds. */
static int fixture_finish(fixture *f, const plan_options *po, uerr *e)
{
    graph *g = &f->g;
    int32_t u, w;
    if (graph_leaf(g, "u", DT_F64, g->nodes[f->out].shape, NODE_DATA, -1, &u, e) ||
        graph_leaf(g, "w", DT_F64, g->nodes[f->out].shape, NODE_DATA, -1, &w, e))
        return e->code;
    /* sum(u f + w f^2): the square makes H v of a linear op nonzero
     * (2 J^T diag(w) J v), so every op's gradient rule is differentiated
     * in the second-order check, not only the nonlinear ones' */
    f->loss = op_sum(g, op_mul(g, f->out, op_add(g, u, op_mul(g, w, f->out, e), e), e), -1, e);
    if (f->loss < 0)
        return e->code;
    int32_t params[64];
    int np = 0;
    for (int32_t v = 0; v < g->n && np < 64; v++)
        if (g->nodes[v].flags & NODE_PARAM)
            params[np++] = v;
    if (autodiff_grad(g, f->loss, params, np, &f->gt, e))
        return e->code;
    for (int i = 0; i < np; i++)
        if (graph_leaf(g, "v", DT_F64, g->nodes[params[i]].shape, NODE_DATA, -1, &f->v[i], e))
            return e->code;
    if (autodiff_hvp(g, &f->gt, f->v, &f->hv, e))
        return e->code;
    int32_t outs[129];
    outs[0] = f->loss;
    for (int i = 0; i < np; i++) {
        outs[i + 1] = f->gt.param_grad[i];
        outs[np + i + 1] = f->hv.param_grad[i];
    }
    if (plan_build(g, outs, 2 * np + 1, po, &f->pfull, e) ||
        plan_build(g, outs, 1, po, &f->ploss, e))
        return e->code;
    if (exec_init(&f->xfull, g, &f->pfull, e) || exec_init(&f->xloss, g, &f->ploss, e))
        return e->code;
    f->vals = random_leaves(g, urand);
    f->nvals = g->n;
    for (int32_t v = 0; v < g->n; v++)
        if (f->vals[v]) {
            exec_bind(&f->xfull, v, f->vals[v]);
            exec_bind(&f->xloss, v, f->vals[v]);
        }
    return 0;
}

/* H v against central differences of the gradients along v. */
static int hvp_check(fixture *f, gradcheck_report *rep, uerr *e)
{
    const double *v[64];
    for (int i = 0; i < f->gt.nparams; i++)
        v[i] = f->vals[f->v[i]];
    return gradcheck_hvp(&f->xfull, &f->xloss, f->loss, &f->gt, &f->hv, v, rep, e);
}

static void test_every_op_gradient(void)
{
    for (int op = 0; op < OP_COUNT; op++) {
        const op_def *d = op_table[op];
        if (d->flags & OPF_INDEX) {
            /* no gradient to check: its kernel against a worked example */
            uerr e = {0};
            CHECKF(d->worked, "op %s computes integers and has no worked example", op_name(op));
            if (d->worked) {
                CHECKF(!d->worked(&e), "op %s: %s", op_name(op), e.msg);
                printf("  %-18s integer output: its worked example holds\n", op_name(op));
            }
            continue;
        }
        if (d->flags & OPF_NO_KERNEL || op == OP_FILL) {
            printf("  %-18s no inputs to differentiate: a leaf, nothing to check\n", op_name(op));
            continue;
        }
        CHECKF(d->example && d->bprop, "op %s has no example or no gradient", op_name(op));
        if (!d->example)
            continue;
        fixture f = {0};
        uerr e = {0};
        graph_init(&f.g, DT_F64, &e);
        f.out = d->example(&f.g, &e);
        int ok = f.out >= 0 && !fixture_finish(&f, NULL, &e);
        CHECKF(ok, "op %s: %s", op_name(op), e.msg);
        if (ok) {
            gradcheck_report rep[64], rep2[64];
            CHECK_OK(gradcheck_run(&f.xfull, &f.xloss, f.loss, &f.gt, 1000, 1, rep, &e), &e);
            CHECK_OK(hvp_check(&f, rep2, &e), &e);
            double worst = 0, worst2 = 0;
            for (int i = 0; i < f.gt.nparams; i++) {
                worst = rep[i].ratio > worst ? rep[i].ratio : worst;
                worst2 = rep2[i].ratio > worst2 ? rep2[i].ratio : worst2;
                CHECKF(rep2[i].failed == 0 && rep2[i].skipped == 0,
                       "op %s: H v of parameter %d: %lld failed, %lld skipped", op_name(op), i,
                       (long long)rep2[i].failed, (long long)rep2[i].skipped);
            }
            printf("  %-18s %d params, max diff/tol %.2e, H v %.2e\n", op_name(op), f.gt.nparams,
                   worst, worst2);
            CHECKF(worst <= 1, "op %s: diff/tol %.3e", op_name(op), worst);
            CHECKF(worst2 <= 1, "op %s: second order diff/tol %.3e", op_name(op), worst2);
        }
        fixture_free(&f);
    }
}

/* The same gradients with and without buffer reuse, bit for bit. */
static void test_reuse_changes_nothing(void)
{
    const plan_options reuse = {0}, none = {.no_reuse = 1};
    for (int op = 0; op < OP_COUNT; op++) {
        const op_def *d = op_table[op];
        if (!d->example)
            continue;
        fixture a = {0}, b = {0};
        uerr e = {0};
        rng_state = 99;
        graph_init(&a.g, DT_F64, &e);
        a.out = d->example(&a.g, &e);
        CHECK(a.out >= 0 && !fixture_finish(&a, &reuse, &e));
        rng_state = 99;
        graph_init(&b.g, DT_F64, &e);
        b.out = d->example(&b.g, &e);
        CHECK(b.out >= 0 && !fixture_finish(&b, &none, &e));
        CHECK(!exec_run(&a.xfull, &e) && !exec_run(&b.xfull, &e));
        CHECK(a.pfull.arena_bytes <= b.pfull.arena_bytes);
        for (int i = 0; i < a.gt.nparams; i++) {
            int64_t n = shape_numel(&a.g.nodes[a.gt.param[i]].shape);
            CHECK(!memcmp(exec_value(&a.xfull, a.gt.param_grad[i]),
                          exec_value(&b.xfull, b.gt.param_grad[i]), (size_t)n * 8));
        }
        fixture_free(&a);
        fixture_free(&b);
    }
}

/* The case: H v through softmax cross-entropy, padding rows (a
 * negative target) included, which add nothing to the loss, the gradient
 * or H v. */
static void test_hvp_through_xent_padding(void)
{
    fixture f = {0};
    uerr e = {0};
    graph_init(&f.g, DT_F64, &e);
    int32_t l = op_example_param(&f.g, shape_2(4, 6), &e);
    int32_t t = op_example_index(&f.g, shape_1(4), 6, &e);
    f.out = op_softmax_xent(&f.g, op_unary(&f.g, OP_TANH, l, &e), t, &e);
    CHECK_OK(fixture_finish(&f, NULL, &e), &e);
    static const int32_t targets[4] = {2, -1, 0, 5};
    memcpy(f.vals[t], targets, sizeof targets);
    gradcheck_report rep[1];
    CHECK_OK(hvp_check(&f, rep, &e), &e);
    CHECKF(rep[0].failed == 0 && rep[0].checked == 24, "diff/tol %.3e, %lld checked", rep[0].ratio,
           (long long)rep[0].checked);
    const double *hv = exec_value(&f.xfull, f.hv.param_grad[0]);
    for (int j = 0; j < 6; j++)
        CHECKF(hv[6 + j] == 0, "padding row: H v[1][%d] = %g", j, hv[6 + j]);
    fixture_free(&f);
}

/* A wrong second-order rule fails the check: H v planted 1% too large. */
static void test_wrong_hvp_fails(void)
{
    fixture f = {0};
    uerr e = {0};
    graph_init(&f.g, DT_F64, &e);
    f.out = op_table[OP_SOFTMAX]->example(&f.g, &e);
    CHECK_OK(fixture_finish(&f, NULL, &e), &e);
    plan_free(&f.pfull);
    exec_free(&f.xfull);
    f.hv.param_grad[0] = op_scale(&f.g, f.hv.param_grad[0], 1.01, &e);
    int32_t outs[3] = {f.loss, f.gt.param_grad[0], f.hv.param_grad[0]};
    CHECK_OK(plan_build(&f.g, outs, 3, NULL, &f.pfull, &e), &e);
    CHECK_OK(exec_init(&f.xfull, &f.g, &f.pfull, &e), &e);
    for (int32_t v = 0; v < f.nvals; v++)
        if (f.vals[v])
            exec_bind(&f.xfull, v, f.vals[v]);
    gradcheck_report rep[1];
    CHECK_OK(hvp_check(&f, rep, &e), &e);
    CHECKF(rep[0].failed > 0, "a wrong H v passed: diff/tol %.3e", rep[0].ratio);
    fixture_free(&f);
}

/* Shape errors name the op and the inputs. */
static void test_shape_error(void)
{
    graph g;
    uerr e = {0};
    graph_init(&g, DT_F64, &e);
    int32_t a = op_example_param(&g, shape_2(2, 3), &e);
    int32_t b = op_example_param(&g, shape_2(2, 3), &e);
    CHECK(op_matmul(&g, a, b, 0, 0, &e) < 0);
    CHECKF(!strcmp(e.msg,
                   "op matmul: inner dimensions differ (inputs: float64 [2, 3], float64 [2, 3])"),
           "got: %s", e.msg);
    graph_free(&g);
}

/* Targets that range over more classes than the logits' rows hold would
 * be read and written past each row: refused when the loss is built. */
static void test_xent_class_bound(void)
{
    graph g;
    uerr e = {0};
    graph_init(&g, DT_F64, &e);
    int32_t l = op_example_param(&g, shape_2(3, 4), &e);
    CHECK(op_softmax_xent(&g, l, op_example_index(&g, shape_1(3), 47, &e), &e) < 0);
    CHECKF(strstr(e.msg, "more classes than the logits have") != NULL, "got: %s", e.msg);
    e = (uerr){0};
    CHECK(op_softmax_xent(&g, l, op_example_index(&g, shape_1(3), 4, &e), &e) >= 0);
    graph_free(&g);
}

/* The arena's limit is an error, never an abort. */
static void test_graph_limit(void)
{
    graph g;
    uerr e = {0};
    graph_init(&g, DT_F64, &e);
    g.limit_bytes = 64 * 1024;
    int32_t x = op_example_param(&g, shape_2(2, 2), &e);
    for (int i = 0; i < 100000 && x >= 0; i++)
        x = op_unary(&g, OP_TANH, x, &e);
    CHECK(x < 0);
    CHECKF(strstr(e.msg, "memory limit") != NULL, "got: %s", e.msg);
    graph_free(&g);
}

/* mul(x, x): one consumer reading a node twice adds both terms. */
static void test_repeated_input(void)
{
    fixture f = {0};
    uerr e = {0};
    graph_init(&f.g, DT_F64, &e);
    int32_t x = op_example_param(&f.g, shape_2(2, 2), &e);
    f.out = op_mul(&f.g, x, x, &e);
    CHECK(!fixture_finish(&f, NULL, &e));
    gradcheck_report rep[1];
    CHECK_OK(gradcheck_run(&f.xfull, &f.xloss, f.loss, &f.gt, 100, 1, rep, &e), &e);
    CHECKF(rep[0].failed == 0, "diff/tol %.3e", rep[0].ratio);
    fixture_free(&f);
}

/* A new graph g of dtype dt with two data leaves: rows [R, N] (returned)
 * and int32 ids [R] (*ids) */
static int32_t rows_and_ids(graph *g, dtype dt, int64_t R, int64_t N, int32_t *ids, uerr *e)
{
    int32_t x = -1;
    CHECK_OK(graph_init(g, dt, e), e);
    CHECK_OK(graph_leaf(g, "x", dt, shape_2(R, N), NODE_DATA, -1, &x, e) ||
                 graph_leaf(g, "ids", DT_I32, shape_1(R), NODE_DATA, -1, ids, e),
             e);
    return x;
}

/* A scatter against the plain loop it stands for: each column the sum,
 * from 0 and in row order, of its rows (padding, -1, left out), written or
 * added once to what is there; float32 and float64, bit for bit, with
 * ids repeated many times, linked or scanned (ops/gather.c). */
static void test_scatter_against_loop(void)
{
    /* {8, 4, 100}: too few rows for the links to pay, so each row scans
     * the others (ops/gather.c) */
    static const int64_t sizes[][3] = {
        {7, 3, 4}, {64, 300, 65}, {40, 5, 900}, {1, 1, 1}, {8, 4, 100}};
    for (int d = 0; d < 2; d++)
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            dtype dt = d ? DT_F64 : DT_F32;
            int64_t B = sizes[z][0], H = sizes[z][1], V = sizes[z][2];
            graph g;
            uerr e = {0};
            int32_t idx, G = rows_and_ids(&g, dt, B, H, &idx, &e);
            int32_t s = op_scatter(&g, G, idx, V, &e);
            CHECK(s >= 0);
            double *gv = malloc((size_t)(B * H) * sizeof *gv);
            double *want = calloc((size_t)(H * V), sizeof *want),
                   *acc = calloc((size_t)(H * V), sizeof *acc);
            void *gd = malloc((size_t)(B * H) * 8), *out = malloc((size_t)(H * V) * 8);
            int32_t *ids = malloc((size_t)B * sizeof *ids);
            for (int64_t b = 0; b < B; b++)
                ids[b] = (int32_t)(urand() * 8) == 0 ? -1 : (int32_t)(urand() * (V < 9 ? V : 9));
            for (int64_t i = 0; i < B * H; i++)
                gv[i] = urand() - 0.5;
            for (int64_t i = 0; i < H * V; i++)
                acc[i] = urand();
            for (int pass = 0; pass < 2; pass++) {
                /* the plain loop, in the dtype's own arithmetic */
                for (int64_t j = 0; j < H; j++)
                    for (int64_t k = 0; k < V; k++) {
                        double sd = 0;
                        float sf = 0;
                        int any = 0;
                        for (int64_t b = 0; b < B; b++)
                            if (ids[b] == k) {
                                sd += gv[b * H + j];
                                sf += (float)gv[b * H + j];
                                any = 1;
                            }
                        double o = pass ? acc[j * V + k] : 0;
                        want[j * V + k] = d ? (pass && any ? o + sd
                                               : pass      ? o
                                                           : sd)
                                            : (pass && any ? (double)((float)o + sf)
                                               : pass      ? (double)(float)o
                                                           : (double)sf);
                    }
                for (int64_t i = 0; i < B * H; i++) {
                    if (d)
                        ((double *)gd)[i] = gv[i];
                    else
                        ((float *)gd)[i] = (float)gv[i];
                }
                for (int64_t i = 0; i < H * V; i++) {
                    if (d)
                        ((double *)out)[i] = pass ? acc[i] : 7;
                    else
                        ((float *)out)[i] = pass ? (float)acc[i] : 7;
                }
                void *in[2] = {gd, ids};
                if (pass)
                    op_table[OP_SCATTER]->accumulate(&g, &g.nodes[s], in, out);
                else
                    op_table[OP_SCATTER]->forward(&g, &g.nodes[s], in, out);
                int same = 1;
                for (int64_t i = 0; i < H * V && same; i++)
                    same = d ? ((double *)out)[i] == want[i] : ((float *)out)[i] == (float)want[i];
                CHECKF(same, "%s B=%lld H=%lld V=%lld %s", d ? "float64" : "float32", (long long)B,
                       (long long)H, (long long)V, pass ? "added" : "written");
            }
            free(gv), free(want), free(acc), free(gd), free(out), free(ids);
            graph_free(&g);
        }
}

/* n logits drawn from [-4, 4): doubles when d, else floats */
static void fill_logits(void *lv, int d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = 8 * urand() - 4;
        if (d)
            ((double *)lv)[i] = v;
        else
            ((float *)lv)[i] = (float)v;
    }
}

/* softmax_xent's loss of rows longer than its chunk of exponentials (1024)
 * against the order documented for every row (ops/loss.c): the max, the
 * exponentials of x - max, four partial sums in double over the elements k
 * mod 4 (the last N mod 4 into the first), (s0 + s1) + (s2 + s3), then
 * max + log(sum) - x[target], rows added in order; bit for bit, in both
 * dtypes, short rows and long. */
static void test_xent_long_rows(void)
{
    static const int64_t widths[] = {65, 1024, 1025, 2500, 4099};
    enum { R = 3 };
    for (int d = 0; d < 2; d++)
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            dtype dt = d ? DT_F64 : DT_F32;
            int64_t N = widths[w];
            graph g;
            uerr e = {0};
            int32_t t, l = rows_and_ids(&g, dt, R, N, &t, &e);
            int32_t x = op_softmax_xent(&g, l, t, &e);
            CHECK(x >= 0);
            size_t es = d ? 8 : 4;
            char *lv = malloc((size_t)(R * N) * es), *buf = malloc((size_t)N * es);
            int32_t tg[R] = {(int32_t)(N - 1), -1, 7};
            fill_logits(lv, d, R * N);
            double want = 0;
            for (int r = 0; r < R; r++) {
                if (tg[r] < 0)
                    continue;
                double mx = -INFINITY, s[4] = {0}, xt;
                for (int64_t j = 0; j < N; j++)
                    mx = fmax(mx, d ? ((double *)lv)[r * N + j] : ((float *)lv)[r * N + j]);
                for (int64_t j = 0; j < N; j++) {
                    if (d)
                        ((double *)buf)[j] = ((double *)lv)[r * N + j] - mx;
                    else
                        ((float *)buf)[j] = ((float *)lv)[r * N + j] - (float)mx;
                }
                if (d)
                    vm_exp_f64((double *)buf, (double *)buf, N);
                else
                    vm_exp_f32((float *)buf, (float *)buf, N);
                for (int64_t j = 0; j < N; j++) {
                    double v = d ? ((double *)buf)[j] : ((float *)buf)[j];
                    s[j < N / 4 * 4 ? j % 4 : 0] += v;
                }
                xt = d ? ((double *)lv)[r * N + tg[r]] : ((float *)lv)[r * N + tg[r]];
                want += mx + log((s[0] + s[1]) + (s[2] + s[3])) - xt;
            }
            char out[8];
            void *in[2] = {lv, tg};
            op_table[OP_SOFTMAX_XENT]->forward(&g, &g.nodes[x], in, out);
            double got = d ? *(double *)out : *(float *)out;
            CHECKF(got == (d ? want : (double)(float)want), "%s N=%lld: loss %.17g, want %.17g",
                   d ? "float64" : "float32", (long long)N, got, d ? want : (double)(float)want);
            free(lv), free(buf);
            graph_free(&g);
        }
}

/* From 16384 elements softmax_xent and its gradient split a step's rows
 * among the threads (ops/loss.c): 1 and 3 threads give the same bits, in
 * both dtypes, with padding rows, rows long and short, more rows than a
 * chunk of terms (1024) and fewer rows than threads. */
static void test_xent_rows_split_same_bits(void)
{
    static const int64_t sizes[][2] = {{9, 2500}, {2, 9000}, {33, 517}, {1100, 65}};
    for (int d = 0; d < 2; d++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            dtype dt = d ? DT_F64 : DT_F32;
            int64_t R = sizes[k][0], N = sizes[k][1];
            size_t es = d ? 8 : 4, bytes = (size_t)(R * N) * es;
            graph g;
            uerr e = {0};
            int32_t t, l = rows_and_ids(&g, dt, R, N, &t, &e);
            int32_t gs = op_example_param(&g, shape_0(), &e);
            int32_t x = op_softmax_xent(&g, l, t, &e);
            gnode p = {.op = OP_SOFTMAX_XENT_GRAD, .nin = 3, .in = {l, t, gs}};
            int32_t dx = op_build(&g, p, &e);
            CHECK_OK(x < 0 || dx < 0, &e);
            char *lv = malloc(bytes), *grad[2] = {malloc(bytes), malloc(bytes)};
            int32_t *tg = malloc((size_t)R * sizeof *tg);
            double scale = 0.75, loss[2];
            fill_logits(lv, d, R * N);
            for (int64_t r = 0; r < R; r++)
                tg[r] = r % 5 == 3 ? -1 : (int32_t)((r * 7919) % N);
            float scale32 = (float)scale;
            void *in[3] = {lv, tg, d ? (void *)&scale : (void *)&scale32};
            int was = cpu_set_threads(1);
            for (int w = 0; w < 2; w++) {
                char out[8];
                cpu_set_threads(w ? 3 : 1);
                op_table[OP_SOFTMAX_XENT]->forward(&g, &g.nodes[x], in, out);
                loss[w] = d ? *(double *)out : *(float *)out;
                op_table[OP_SOFTMAX_XENT_GRAD]->forward(&g, &g.nodes[dx], in, grad[w]);
            }
            cpu_set_threads(was);
            CHECKF(loss[0] == loss[1] && !memcmp(grad[0], grad[1], bytes),
                   "%s %lld x %lld: 1 and 3 threads differ (loss %.17g, %.17g)", dtype_name(dt),
                   (long long)R, (long long)N, loss[0], loss[1]);
            free(lv), free(grad[0]), free(grad[1]), free(tg);
            graph_free(&g);
        }
}

/* At a tie max and min pass half of the gradient to each operand, and
 * abs passes none at 0, as PyTorch: values set to tie exactly. */
static void test_ties_and_abs_at_zero(void)
{
    const int ops[3] = {OP_MAX, OP_MIN, OP_ABS};
    for (int o = 0; o < 3; o++) {
        fixture f = {0};
        uerr e = {0};
        graph_init(&f.g, DT_F64, &e);
        int32_t a = op_example_param(&f.g, shape_1(6), &e), b = -1;
        if (ops[o] == OP_ABS) {
            f.out = op_unary(&f.g, OP_ABS, a, &e);
        } else {
            b = op_example_param(&f.g, shape_1(6), &e);
            f.out = op_binary(&f.g, ops[o], a, b, &e);
        }
        CHECK(!fixture_finish(&f, NULL, &e));
        /* the fixture's loss is sum(u f + w f^2): d loss / d f = u + 2 w f,
         * up to the rounding of the graph's own sum */
        double *va = f.vals[a], *vb = b >= 0 ? f.vals[b] : NULL, *u = NULL, *w = NULL;
        for (int32_t v = 0; v < f.g.n; v++) {
            const char *nm = graph_name(&f.g, v);
            if (f.g.nodes[v].op == OP_INPUT && nm && !strcmp(nm, "u"))
                u = f.vals[v];
            if (f.g.nodes[v].op == OP_INPUT && nm && !strcmp(nm, "w"))
                w = f.vals[v];
        }
        CHECK(u && w);
        if (!u || !w) {
            fixture_free(&f);
            continue;
        }
        /* elements 0..2 tie (abs: sit at 0), 3..5 are what they are */
        for (int k = 0; k < 3; k++) {
            if (vb)
                vb[k] = va[k];
            else
                va[k] = k == 1 ? -0.0 : 0.0;
        }
        CHECK_OK(exec_run(&f.xfull, &e), &e);
        const double *ga = exec_value(&f.xfull, f.gt.param_grad[0]);
        const double *gb = vb ? exec_value(&f.xfull, f.gt.param_grad[1]) : NULL;
        for (int k = 0; k < 3; k++) {
            double gf = u[k] + 2 * w[k] * va[k];
            if (gb)
                CHECKF(ga[k] == gb[k] && fabs(ga[k] - 0.5 * gf) <= 1e-14 * fabs(gf),
                       "%s tie %d: %g %g of %g", op_name(ops[o]), k, ga[k], gb[k], gf);
            else
                CHECKF(ga[k] == 0, "abs'(0) is %g", ga[k]);
        }
        fixture_free(&f);
    }
}

int main(void)
{
    RUN(test_every_op_gradient);
    RUN(test_reuse_changes_nothing);
    RUN(test_hvp_through_xent_padding);
    RUN(test_wrong_hvp_fails);
    RUN(test_shape_error);
    RUN(test_xent_class_bound);
    RUN(test_xent_long_rows);
    RUN(test_xent_rows_split_same_bits);
    RUN(test_graph_limit);
    RUN(test_repeated_input);
    RUN(test_scatter_against_loop);
    RUN(test_ties_and_abs_at_zero);
    CHECK_EXIT();
}
