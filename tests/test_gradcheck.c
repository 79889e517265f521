/*
 * test_gradcheck.c - gradcheck is right both ways: it fails wrong
 * gradients and passes right ones.
 *
 * - A planted wrong rule: after build_grad, every tanh_grad node of an
 *   Elman model is turned into sigmoid_grad (tanh's derivative replaced by
 *   the sigmoid's). The parameters upstream of tanh (U, W, b) must fail,
 *   V and c must pass, and the verdict must count the failures:
 *   "FAILED: 3 of 5 parameters".
 * - A small wrong rule: the seed d L / d L = 1 made 1 + 1e-4, so every
 *   gradient is 1e-4 too large in relative terms: all five fail (rtol 1e-6).
 * - The untouched graph passes, with the tolerances the report prints.
 * - Kinks: relu at exactly 0 is skipped and counted; relu 5e-4 away from
 *   0 (crossed by the perturbations at h = 1e-3, not at 1e-4) is checked
 *   at the smaller step.
 */
#include "check.h"
#include "leaves.h"

#include <float.h>

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/gradcheck.h"
#include "engine/plan.h"
#include "models/model.h"
#include "ops/ops.h"

static uint64_t rng_state = 777;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

enum { PLANT_NONE, PLANT_TANH_RULE, PLANT_SEED };

/* An Elman model (V 5, hidden 4, B 2, T 3) differentiated, optionally with
 * a planted wrong rule, then gradchecked. */
static int check_elman(int plant, gradcheck_report *rep, int *np, char *verdict, size_t len)
{
    static const char cfg[] = "data: {kind: text, path: x}\nmodel: {cell: elman, hidden: 4}\n"
                              "train: {dtype: float64}\n";
    uerr e = {0};
    spec s;
    model m = {0};
    grad_table gt = {0};
    plan pfull = {0}, ploss = {0};
    exec xfull = {0}, xloss = {0};
    void **vals = NULL;
    int rc = spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e);
    if (!rc)
        rc = model_build_io(&m, &s, &(model_io){.input = 5, .output = 5}, 2, 3, &e);
    int32_t params[MODEL_MAX_PARAMS], outs[MODEL_MAX_PARAMS + 1];
    for (int i = 0; !rc && i < m.nparams; i++)
        params[i] = m.param[i].node;
    if (!rc)
        rc = autodiff_grad(&m.g, m.loss, params, m.nparams, &gt, &e);
    int planted = 0;
    for (int32_t v = gt.n; !rc && v < m.g.n; v++) {
        gnode *nd = &m.g.nodes[v];
        if (plant == PLANT_TANH_RULE && nd->op == OP_TANH_GRAD)
            nd->op = OP_SIGMOID_GRAD, planted++;
        if (plant == PLANT_SEED && nd->op == OP_FILL && nd->fp == 1.0 && !planted)
            nd->fp = 1.0 + 1e-4, planted++;
    }
    if (plant != PLANT_NONE && !planted)
        printf("  nothing planted\n"), rc = 1;
    outs[0] = m.loss;
    for (int i = 0; !rc && i < m.nparams; i++)
        outs[i + 1] = gt.param_grad[i];
    if (!rc)
        rc = plan_build(&m.g, outs, m.nparams + 1, NULL, &pfull, &e) ||
             plan_build(&m.g, outs, 1, NULL, &ploss, &e) || exec_init(&xfull, &m.g, &pfull, &e) ||
             exec_init(&xloss, &m.g, &ploss, &e);
    if (!rc) {
        vals = random_leaves(&m.g, urand);
        for (int32_t v = 0; v < m.g.n; v++)
            if (vals[v]) {
                exec_bind(&xfull, v, vals[v]);
                exec_bind(&xloss, v, vals[v]);
            }
        rc = gradcheck_run(&xfull, &xloss, m.loss, &gt, 1000, 1, rep, &e);
    }
    if (rc && e.code)
        printf("  %s\n", e.msg);
    *np = m.nparams;
    if (!rc)
        gradcheck_summary(rep, m.nparams, verdict, len);
    free_leaves(vals, m.g.n);
    exec_free(&xfull);
    exec_free(&xloss);
    plan_free(&pfull);
    plan_free(&ploss);
    grad_table_free(&gt);
    model_free(&m);
    spec_free(&s);
    return rc;
}

static void show(const gradcheck_report *rep, int np, const char *verdict)
{
    for (int i = 0; i < np; i++)
        printf("  param %d: checked %lld, failed %lld, max|diff| %.3e, diff/tol %.3g\n", i,
               (long long)rep[i].checked, (long long)rep[i].failed, rep[i].max_abs_err,
               rep[i].ratio);
    printf("  %s\n", verdict);
}

/* check_elman, shown; returns the number of parameters (5) or 0 */
static int planted(int plant, gradcheck_report *rep, char *verdict, size_t len)
{
    int np = 0;
    CHECK(check_elman(plant, rep, &np, verdict, len) == 0);
    show(rep, np, verdict);
    CHECK(np == 5);
    return np == 5 ? np : 0;
}

static void test_right_gradients_pass(void)
{
    gradcheck_report rep[MODEL_MAX_PARAMS];
    char verdict[256] = "";
    int np = planted(PLANT_NONE, rep, verdict, sizeof verdict);
    for (int i = 0; i < np; i++) {
        CHECK(rep[i].failed == 0 && rep[i].checked == rep[i].numel && rep[i].skipped == 0);
        /* the rule's constants, as printed */
        CHECK(rep[i].rtol == 1e-6);
        CHECK(rep[i].atol == 10 * DBL_EPSILON * fmax(1, fabs(rep[i].loss)) / 1e-3);
    }
    CHECKF(!strncmp(verdict, "passed: 5 of 5 parameters agree", 31), "%s", verdict);
}

/* U W b are upstream of tanh, V c are not (model order: U W b V c); the
 * seed scales all five */
static void test_planted_wrong_rules_fail(void)
{
    static const struct {
        int plant;
        unsigned failing; /* bit i: parameter i must fail */
        const char *verdict;
    } cases[] = {{PLANT_TANH_RULE, 0x07, "FAILED: 3 of 5 parameters disagree"},
                 {PLANT_SEED, 0x1f, "FAILED: 5 of 5 parameters disagree"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gradcheck_report rep[MODEL_MAX_PARAMS];
        char verdict[256] = "";
        int np = planted(cases[c].plant, rep, verdict, sizeof verdict);
        for (int i = 0; i < np; i++)
            CHECKF((rep[i].failed > 0) == ((cases[c].failing >> i) & 1),
                   "case %zu param %d: %lld failed", c, i, (long long)rep[i].failed);
        CHECKF(!strncmp(verdict, cases[c].verdict, strlen(cases[c].verdict)), "%s", verdict);
    }
}

/* loss = sum(u * relu(x)), x = [0, 5e-4, 0.7, -0.3] */
static void test_kinks_skipped_and_counted(void)
{
    graph g;
    uerr e = {0};
    graph_init(&g, DT_F64, &e);
    int32_t x = op_example_param(&g, shape_1(4), &e), u;
    graph_leaf(&g, "u", DT_F64, shape_1(4), NODE_DATA, -1, &u, &e);
    int32_t loss = op_sum(&g, op_mul(&g, op_unary(&g, OP_RELU, x, &e), u, &e), -1, &e);
    grad_table gt = {0};
    plan pf = {0}, pl = {0};
    exec xf = {0}, xl = {0};
    CHECK_OK(autodiff_grad(&g, loss, &x, 1, &gt, &e), &e);
    int32_t outs[2] = {loss, gt.param_grad[0]};
    CHECK_OK(plan_build(&g, outs, 2, NULL, &pf, &e), &e);
    CHECK_OK(plan_build(&g, outs, 1, NULL, &pl, &e), &e);
    CHECK_OK(exec_init(&xf, &g, &pf, &e), &e);
    CHECK_OK(exec_init(&xl, &g, &pl, &e), &e);
    double xv[4] = {0, 5e-4, 0.7, -0.3}, uv[4] = {1.5, -2, 0.5, 3};
    exec_bind(&xf, x, xv);
    exec_bind(&xl, x, xv);
    exec_bind(&xf, u, uv);
    exec_bind(&xl, u, uv);
    gradcheck_report rep[1];
    char verdict[256] = "";
    CHECK_OK(gradcheck_run(&xf, &xl, loss, &gt, 100, 1, rep, &e), &e);
    gradcheck_summary(rep, 1, verdict, sizeof verdict);
    show(rep, 1, verdict);
    CHECK(rep[0].skipped == 1 && rep[0].checked == 3 && rep[0].failed == 0);
    CHECK(rep[0].min_step <= 1.0001e-4);
    CHECKF(strstr(verdict, "passed: 1 of 1") && strstr(verdict, "; 1 skipped at kinks"), "%s",
           verdict);
    exec_free(&xf);
    exec_free(&xl);
    plan_free(&pf);
    plan_free(&pl);
    grad_table_free(&gt);
    graph_free(&g);
}

int main(void)
{
    RUN(test_right_gradients_pass);
    RUN(test_planted_wrong_rules_fail);
    RUN(test_kinks_skipped_and_counted);
    CHECK_EXIT();
}
