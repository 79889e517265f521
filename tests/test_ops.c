/*
 * test_ops.c - every op in the table, gradient-checked in float64.
 *
 * The loop walks op_table, so an op added to graph/ops.def is checked
 * without touching this file: each op's example output is projected on a
 * random tensor u (loss = sum(u * f)), differentiated by build_grad and
 * compared with central differences. Backward-only ops must say so in the
 * table; an op computing integers (OPF_INDEX) has no gradient and is
 * checked by its worked example instead; any other op without an example
 * or a gradient, or an integer op without a worked example, fails here.
 */
#include "check.h"
#include "leaves.h"

#include <stdlib.h>

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/gradcheck.h"
#include "engine/plan.h"
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
    grad_table gt;
    plan pfull, ploss;
    exec xfull, xloss;
    void **vals;
} fixture;

static void fixture_free(fixture *f)
{
    free_leaves(f->vals, f->g.n);
    exec_free(&f->xfull);
    exec_free(&f->xloss);
    plan_free(&f->pfull);
    plan_free(&f->ploss);
    grad_table_free(&f->gt);
    graph_free(&f->g);
}

/* Projects f->out on a random u, differentiates, plans and binds. */
static int fixture_finish(fixture *f, const plan_options *po, uerr *e)
{
    graph *g = &f->g;
    int32_t u;
    if (graph_leaf(g, "u", DT_F64, g->nodes[f->out].shape, NODE_DATA, -1, &u, e))
        return e->code;
    f->loss = op_sum(g, op_mul(g, f->out, u, e), -1, e);
    if (f->loss < 0)
        return e->code;
    int32_t params[64];
    int np = 0;
    for (int32_t v = 0; v < g->n && np < 64; v++)
        if (g->nodes[v].flags & NODE_PARAM)
            params[np++] = v;
    if (autodiff_grad(g, f->loss, params, np, &f->gt, e))
        return e->code;
    int32_t outs[65];
    outs[0] = f->loss;
    for (int i = 0; i < np; i++)
        outs[i + 1] = f->gt.param_grad[i];
    if (plan_build(g, outs, np + 1, po, &f->pfull, e) || plan_build(g, outs, 1, po, &f->ploss, e))
        return e->code;
    if (exec_init(&f->xfull, g, &f->pfull, e) || exec_init(&f->xloss, g, &f->ploss, e))
        return e->code;
    f->vals = random_leaves(g, urand);
    for (int32_t v = 0; v < g->n; v++)
        if (f->vals[v]) {
            exec_bind(&f->xfull, v, f->vals[v]);
            exec_bind(&f->xloss, v, f->vals[v]);
        }
    return 0;
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
        if (d->flags & (OPF_BACKWARD_ONLY | OPF_NO_KERNEL) || op == OP_FILL) {
            printf("  %-18s %s\n", op_name(op),
                   d->flags & OPF_BACKWARD_ONLY
                       ? "backward-only: its values are checked by the gradient check of its op"
                       : "no inputs to differentiate: a leaf, nothing to check");
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
            gradcheck_report rep[64];
            CHECK_OK(gradcheck_run(&f.xfull, &f.xloss, f.loss, &f.gt, 1000, 1, rep, &e), &e);
            double worst = 0;
            for (int i = 0; i < f.gt.nparams; i++)
                worst = rep[i].ratio > worst ? rep[i].ratio : worst;
            printf("  %-18s %d params, max diff/tol %.2e\n", op_name(op), f.gt.nparams, worst);
            CHECKF(worst <= 1, "op %s: diff/tol %.3e", op_name(op), worst);
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

/* A backward-only op differentiated again is an error naming it. */
static void test_missing_gradient_is_an_error(void)
{
    graph g;
    uerr e = {0};
    graph_init(&g, DT_F64, &e);
    int32_t x = op_example_param(&g, shape_2(2, 3), &e);
    int32_t y = op_unary(&g, OP_SOFTMAX, x, &e);
    int32_t gy = op_example_param(&g, shape_2(2, 3), &e);
    int32_t z = op_binary(&g, OP_SOFTMAX_GRAD, y, gy, &e);
    int32_t loss = op_sum(&g, z, -1, &e);
    grad_table gt;
    int32_t params[1] = {x};
    CHECK(autodiff_grad(&g, loss, params, 1, &gt, &e) != 0);
    CHECKF(strstr(e.msg, "no gradient for op softmax_grad input 0") != NULL, "got: %s", e.msg);
    graph_free(&g);
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

int main(void)
{
    RUN(test_every_op_gradient);
    RUN(test_reuse_changes_nothing);
    RUN(test_missing_gradient_is_an_error);
    RUN(test_shape_error);
    RUN(test_xent_class_bound);
    RUN(test_graph_limit);
    RUN(test_repeated_input);
    CHECK_EXIT();
}
