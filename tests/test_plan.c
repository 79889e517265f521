/*
 * test_plan.c - the planner's rewrites change where values are stored and
 * how BLAS is called, never what is computed:
 *
 * - PLAN_FUSE_EXACT gives bit-identical losses, gradients and final
 *   states to PLAN_FUSE_NONE (one kernel per node, in index order), for
 *   every op's gradient-check graph and for unrolled Elman, Jordan, LSTM
 *   and GRU nets in float32 and float64, batch 1 and batch 5 with repeated
 *   token ids (a scatter adding two rows into one column);
 * - PLAN_FUSE_ALL agrees with them to 1e-12 (float64) and 1e-5 (float32)
 *   relative to each tensor's largest element: it sums over time inside
 *   one BLAS product, and adds products into their sums block by block;
 * - buffer reuse changes nothing, bit for bit, at every level;
 * - running a plan twice gives the same bits (accumulating buffers are
 *   reset by the program itself);
 * - the rewrites happen: the sums over time of W and V become stacked
 *   products, the output projection one product over all steps, and a
 *   large recurrent weight is read as W^T;
 * - a step at S3's widths keeps one packing of each weight it reads per
 *   step, W read both ways included (kernels/gemm.c), on 1 and 3 threads.
 */
#include "check.h"
#include "leaves.h"

#include <math.h>
#include <stdlib.h>

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/grad_sum.h"
#include "engine/plan.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "ops/ops.h"
#include "train/net.h"
#include "train/rng.h"

/* max |a - b| / max |a| over n elements */
static double rel_diff(dtype dt, const void *a, const void *b, int64_t n)
{
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = dt == DT_F32 ? ((const float *)a)[i] : ((const double *)a)[i];
        double y = dt == DT_F32 ? ((const float *)b)[i] : ((const double *)b)[i];
        diff = fmax(diff, fabs(x - y));
        scale = fmax(scale, fabs(x));
        if (isnan(x) != isnan(y))
            return INFINITY;
    }
    return diff / fmax(scale, 1e-300);
}

/* ---- every op's gradient-check graph -------------------------------------- */

typedef struct opfix {
    graph g;
    grad_table gt;
    plan p;
    exec x;
    void **vals;
    int32_t loss;
} opfix;

static uint64_t lcg = 1;

static double urand(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static int opfix_build(opfix *f, const op_def *d, const plan_options *po, uerr *e)
{
    lcg = 7;
    graph *g = &f->g;
    if (graph_init(g, DT_F64, e))
        return e->code;
    int32_t out = d->example(g, e), u;
    if (out < 0 || graph_leaf(g, "u", DT_F64, g->nodes[out].shape, NODE_DATA, -1, &u, e))
        return e->code ? e->code : -1;
    f->loss = op_sum(g, op_mul(g, out, u, e), -1, e);
    int32_t params[64], outs[65];
    int np = 0;
    for (int32_t v = 0; v < g->n && np < 64; v++)
        if (g->nodes[v].flags & NODE_PARAM)
            params[np++] = v;
    if (f->loss < 0 || autodiff_grad(g, f->loss, params, np, &f->gt, e))
        return e->code ? e->code : -1;
    outs[0] = f->loss;
    for (int i = 0; i < np; i++)
        outs[i + 1] = f->gt.param_grad[i];
    if (plan_build(g, outs, np + 1, po, &f->p, e) || exec_init(&f->x, g, &f->p, e))
        return e->code;
    f->vals = random_leaves(g, urand);
    for (int32_t v = 0; v < g->n; v++)
        if (f->vals[v]) {
            exec_bind(&f->x, v, f->vals[v]);
        }
    return exec_run(&f->x, e);
}

static void opfix_free(opfix *f)
{
    free_leaves(f->vals, f->g.n);
    exec_free(&f->x);
    plan_free(&f->p);
    grad_table_free(&f->gt);
    graph_free(&f->g);
}

static void test_every_op_same_at_every_level(void)
{
    const plan_options none = {.fuse = PLAN_FUSE_NONE}, exact = {.fuse = PLAN_FUSE_EXACT},
                       all = {.fuse = PLAN_FUSE_ALL}, all_noreuse = {.no_reuse = 1};
    for (int op = 0; op < OP_COUNT; op++) {
        const op_def *d = op_table[op];
        if (!d->example)
            continue;
        opfix a = {0}, b = {0}, c = {0}, r = {0};
        uerr e = {0};
        int ok = !opfix_build(&a, d, &none, &e) && !opfix_build(&b, d, &exact, &e) &&
                 !opfix_build(&c, d, &all, &e) && !opfix_build(&r, d, &all_noreuse, &e);
        CHECKF(ok, "op %s: %s", op_name(op), e.msg);
        for (int i = 0; ok && i <= a.gt.nparams; i++) {
            int32_t na = i ? a.gt.param_grad[i - 1] : a.loss;
            int32_t nb = i ? b.gt.param_grad[i - 1] : b.loss;
            int32_t nc = i ? c.gt.param_grad[i - 1] : c.loss;
            int64_t n = shape_numel(&a.g.nodes[na].shape);
            const void *va = exec_value(&a.x, na), *vb = exec_value(&b.x, nb);
            const void *vc = exec_value(&c.x, nc), *vr = exec_value(&r.x, nc);
            CHECKF(!memcmp(va, vb, (size_t)n * 8), "op %s: exact differs from none", op_name(op));
            CHECKF(!memcmp(vc, vr, (size_t)n * 8), "op %s: reuse changes all", op_name(op));
            double rel = rel_diff(DT_F64, va, vc, n);
            CHECKF(rel <= 1e-12, "op %s: all differs from none by %.3e", op_name(op), rel);
        }
        opfix_free(&a);
        opfix_free(&b);
        opfix_free(&c);
        opfix_free(&r);
    }
}

/* ---- unrolled nets ----------------------------------------------------------- */

typedef struct result {
    double loss;
    void *grads, *hT;
    int32_t n_stacked, n_accum, n_inplace, n_transposed, nruns, n_step_sums, n_folded;
    int32_t n_steps_ops; /* instructions of sums over steps (a chunk each) */
    int32_t n_over;      /* stacks written over the stacks they read */
    size_t gbytes;       /* of grads */
    size_t arena;        /* the plan's arena bytes */
    int64_t copy_ld;     /* the elements between rows of a transposed copy, or 0 */
} result;

static const char *cfg_fmt = "name: t\n"
                             "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\n"
                             "model: {cell: %s, hidden: %d, activation: %s, init: {std: 0.4}}\n"
                             "train: {dtype: %s, seq_len: %d, batch: %d, steps: 1}\n";

/* the same loss and gradients, bit for bit */
static int same_result(const result *a, const result *b)
{
    return a->grads && b->grads && a->loss == b->loss && a->gbytes == b->gbytes &&
           !memcmp(a->grads, b->grads, b->gbytes);
}

/* Runs one training step of the net twice (same inputs); returns the
 * second run's loss, gradients and final state. */
static int hidden = 6;

static int run_net(const char *cell, const char *act, dtype dt, int T, int B, int V,
                   const plan_options *po, result *r, uerr *e)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, cfg_fmt, cell, hidden, act, dtype_name(dt), T, B);
    spec s;
    int rc = spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, e);
    if (rc)
        return rc;
    net n;
    if ((rc = net_init(&n, &s, V, B, T, NET_TRAIN, po, e))) {
        spec_free(&s);
        return rc;
    }
    net_init_params(&n, 11, 0.4);
    rng g;
    /* the biases too: a zero bias would hide where a fold adds it */
    rng_seed(&g, 13);
    for (int64_t i = 0; i < n.nparam; i++) {
        double v = 0.4 * rng_normal(&g);
        if (dt == DT_F32)
            ((float *)n.params)[i] = (float)v;
        else
            ((double *)n.params)[i] = v;
    }
    rng_seed(&g, 5);
    /* V small next to B: a step's ids repeat, so scatters add rows into
     * shared columns */
    for (int64_t i = 0; i < (int64_t)T * B; i++) {
        n.xs[i] = (int32_t)rng_below(&g, (uint64_t)V);
        n.ys[i] = (int32_t)rng_below(&g, (uint64_t)V);
    }
    for (int64_t i = 0; i < n.m.B * n.m.S; i++) {
        double h = 0.3 * rng_normal(&g);
        if (dt == DT_F32)
            ((float *)n.h0)[i] = (float)h;
        else
            ((double *)n.h0)[i] = h;
    }
    for (int64_t b = 0; b < B; b++)
        n.yprev[b] = (int32_t)rng_below(&g, (uint64_t)V);
    size_t gb = (size_t)n.nparam * n.es;
    r->gbytes = gb;
    r->grads = malloc(gb);
    r->hT = malloc(n.state_bytes ? n.state_bytes : 1);
    double first = 0;
    void *g1 = malloc(gb);
    rc = net_run(&n, &first, e);
    if (!rc)
        memcpy(g1, n.grads, gb);
    if (!rc)
        rc = net_run(&n, &r->loss, e);
    if (!rc) {
        memcpy(r->grads, n.grads, gb);
        if (n.state_bytes)
            memcpy(r->hT, exec_value(&n.x, n.m.hT), n.state_bytes);
        if (first != r->loss || memcmp(g1, r->grads, gb))
            rc = uerr_set(e, UERR_INTERNAL, "a second run differs from the first");
    }
    r->n_stacked = n.p.n_stacked;
    r->n_accum = n.p.n_accum;
    r->n_inplace = n.p.n_inplace;
    r->n_transposed = n.p.n_transposed;
    r->nruns = n.p.nruns;
    r->n_step_sums = n.p.n_step_sums;
    r->n_folded = n.p.n_folded;
    r->n_over = n.p.n_over;
    r->arena = n.p.arena_bytes;
    for (int32_t i = 0; i < n.p.ninstr; i++) {
        const gnode *nd = plan_node(&n.p, &n.m.g, n.p.instr[i].node);
        r->n_steps_ops += (nd->op == OP_SUM || nd->op == OP_SCATTER) && nd->ip[1] > 0;
        if (nd->op == OP_TRANSPOSE && op_row_stride(nd) > r->copy_ld)
            r->copy_ld = op_row_stride(nd);
    }
    free(g1);
    net_free(&n);
    spec_free(&s);
    return rc;
}

static void result_free(result *r)
{
    free(r->grads);
    free(r->hT);
}

static void compare_levels(const char *cell, const char *act, dtype dt, int T, int B)
{
    const int V = 4;
    uerr e = {0};
    result none = {0}, exact = {0}, all = {0}, noreuse = {0}, nofold = {0};
    const plan_options pn = {.fuse = PLAN_FUSE_NONE}, pe = {.fuse = PLAN_FUSE_EXACT},
                       pa = {.fuse = PLAN_FUSE_ALL}, pr = {.fuse = PLAN_FUSE_ALL, .no_reuse = 1},
                       pf = {.fuse = PLAN_FUSE_ALL, .no_folds = 1};
    int ok = !run_net(cell, act, dt, T, B, V, &pn, &none, &e) &&
             !run_net(cell, act, dt, T, B, V, &pe, &exact, &e) &&
             !run_net(cell, act, dt, T, B, V, &pa, &all, &e) &&
             !run_net(cell, act, dt, T, B, V, &pr, &noreuse, &e) &&
             !run_net(cell, act, dt, T, B, V, &pf, &nofold, &e);
    CHECKF(ok, "%s %s T=%d B=%d: %s", cell, dtype_name(dt), T, B, e.msg);
    if (ok) {
        /* the same net sizes at every level */
        char cfg[512];
        snprintf(cfg, sizeof cfg, cfg_fmt, cell, hidden, act, dtype_name(dt), T, B);
        spec s;
        net n;
        CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
        CHECK_OK(net_init(&n, &s, V, B, T, NET_TRAIN, &pn, &e), &e);
        size_t gb = (size_t)n.nparam * n.es;
        int64_t nh = n.m.B * n.m.S;
        double tol = dt == DT_F32 ? 1e-5 : 1e-12;
        CHECKF(none.loss == exact.loss && !memcmp(none.grads, exact.grads, gb) &&
                   !memcmp(none.hT, exact.hT, (size_t)nh * n.es),
               "%s %s T=%d B=%d: exact is not bit-identical to none", cell, dtype_name(dt), T, B);
        CHECKF(all.loss == noreuse.loss && !memcmp(all.grads, noreuse.grads, gb),
               "%s %s T=%d B=%d: buffer reuse changes the result", cell, dtype_name(dt), T, B);
        /* the gathers, biases and activations folded into all's products */
        CHECKF(all.loss == nofold.loss && !memcmp(all.grads, nofold.grads, gb) &&
                   !memcmp(all.hT, nofold.hT, (size_t)nh * n.es) && all.n_folded > 0 &&
                   !nofold.n_folded,
               "%s %s T=%d B=%d: %d folds change the result", cell, dtype_name(dt), T, B,
               all.n_folded);
        double worst = fabs(all.loss - none.loss) / fabs(none.loss);
        for (int i = 0; i < n.m.nparams; i++) {
            int64_t k = shape_numel(&n.m.param[i].shape);
            size_t off = (size_t)n.off[i] * n.es;
            double rel = rel_diff(dt, (char *)none.grads + off, (char *)all.grads + off, k);
            CHECKF(rel <= tol, "%s %s T=%d B=%d: gradient of %s differs by %.3e", cell,
                   dtype_name(dt), T, B, n.m.param[i].name, rel);
            worst = fmax(worst, rel);
        }
        double rh = nh ? rel_diff(dt, none.hT, all.hT, nh) : 0;
        CHECKF(rh <= tol, "%s: final state differs by %.3e", cell, rh);
        /* every cell adds a bias after a product at each step: exact's
         * bits above include the biases its products add (under all, a
         * product stacked over the steps keeps its adds) */
        CHECKF(exact.n_folded >= T && !none.n_folded,
               "%s: %d biases and activations folded into products", cell, exact.n_folded);
        printf(
            "  %-6s %s H=%d T=%d B=%d: exact == none bit for bit; all within %.1e "
            "(%d stacked, %d accumulated, %d in place, %d transposed, %d folded into products)\n",
            cell, dtype_name(dt), hidden, T, B, fmax(worst, rh), all.n_stacked, all.n_accum,
            all.n_inplace, all.n_transposed, all.n_folded);
        net_free(&n);
        spec_free(&s);
    }
    result_free(&none);
    result_free(&exact);
    result_free(&all);
    result_free(&noreuse);
    result_free(&nofold);
}

static void test_nets_same_at_every_level(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 < 2; f32++) {
            dtype dt = f32 ? DT_F32 : DT_F64;
            compare_levels(cells[c], "tanh", dt, 5, 5);
            compare_levels(cells[c], "tanh", dt, 6, 1);
            compare_levels(cells[c], "tanh", dt, 1, 3);
        }
    compare_levels("elman", "relu", DT_F64, 4, 2);
    compare_levels("elman", "sigmoid", DT_F64, 4, 2);
    /* 64 units: the recurrent weight is large enough to be read as W^T */
    hidden = 64;
    for (int f32 = 0; f32 < 2; f32++) {
        compare_levels("elman", "tanh", f32 ? DT_F32 : DT_F64, 4, 3);
        compare_levels("lstm", "tanh", f32 ? DT_F32 : DT_F64, 3, 2);
        compare_levels("gru", "tanh", f32 ? DT_F32 : DT_F64, 3, 2);
    }
    hidden = 6;
}

/* Row runs (plan.h): at batch 32 the forward recurrence and its backward
 * are runs split by rows among the threads, and a product of a run whose
 * weight outgrows the L2 by columns (engine/exec_rows.c: forced here
 * from any size, at 80 units: parts of 32, 32 and 16 columns on three
 * threads). 1 thread, 3 by rows and 3 with columns give the same bits at
 * every level, and exact stays bit-identical to none. */
static void test_row_runs_same_on_any_threads(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    const plan_options po[3] = {
        {.fuse = PLAN_FUSE_NONE}, {.fuse = PLAN_FUSE_EXACT}, {.fuse = PLAN_FUSE_ALL}};
    const char *ways[3] = {"1 thread", "3 threads", "3 threads with columns"};
    const int T = 6, B = 32, V = 5;
    hidden = 80;
    int was = cpu_set_threads(1);
    pool_stats_reset();
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 < 2; f32++) {
            dtype dt = f32 ? DT_F32 : DT_F64;
            result r[3][3];
            memset(r, 0, sizeof r);
            for (int lv = 0; lv < 3; lv++)
                for (int w = 0; w < 3; w++) {
                    uerr e = {0};
                    cpu_set_threads(w ? 3 : 1);
                    exec_test_cols_bytes(w == 2);
                    CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &po[lv], &r[lv][w], &e), &e);
                    exec_test_cols_bytes(0);
                }
            size_t gb = 0;
            char cfg[512];
            snprintf(cfg, sizeof cfg, cfg_fmt, cells[c], hidden, "tanh", dtype_name(dt), T, B);
            spec s;
            net n;
            uerr e = {0};
            CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
            CHECK_OK(net_init(&n, &s, V, B, T, NET_TRAIN, &po[0], &e), &e);
            gb = (size_t)n.nparam * n.es;
            for (int lv = 0; lv < 3; lv++) {
                for (int w = 1; w < 3; w++)
                    CHECKF(r[lv][0].grads && r[lv][w].grads && r[lv][0].loss == r[lv][w].loss &&
                               !memcmp(r[lv][0].grads, r[lv][w].grads, gb) &&
                               !memcmp(r[lv][0].hT, r[lv][w].hT, n.state_bytes),
                           "%s %s %s: 1 thread and %s differ", cells[c], dtype_name(dt),
                           plan_fuse_name(po[lv].fuse), ways[w]);
                /* the forward recurrence and its backward, at least (without
                 * stacking, each step's loss ends a forward run); Jordan's
                 * teacher-forced steps have no product to split */
                int least = c == 1 ? 0 : 2;
                CHECKF(r[lv][1].nruns >= least, "%s %s %s: %d row runs", cells[c], dtype_name(dt),
                       plan_fuse_name(po[lv].fuse), r[lv][1].nruns);
            }
            CHECKF(r[0][1].grads && r[1][1].grads && r[0][1].loss == r[1][1].loss &&
                       !memcmp(r[0][1].grads, r[1][1].grads, gb),
                   "%s %s: exact differs from none on 3 threads", cells[c], dtype_name(dt));
            printf("  %-6s %s H=%d T=%d B=%d: 1 thread, 3 by rows and 3 with columns agree bit "
                   "for bit; row runs: none %d, exact %d, all %d\n",
                   cells[c], dtype_name(dt), hidden, T, B, r[0][1].nruns, r[1][1].nruns,
                   r[2][1].nruns);
            net_free(&n);
            spec_free(&s);
            for (int lv = 0; lv < 3; lv++)
                for (int w = 0; w < 3; w++)
                    result_free(&r[lv][w]);
        }
    /* which thread claims a part depends on the load: counted over all */
    pool_stat st;
    int multi = 0;
    for (int i = 0; pool_stats(i, &st); i++)
        if (!strcmp(st.name, "per-step columns"))
            multi = st.multi > 0;
    CHECKF(multi, "no product of a row run ran by columns on more than one thread");
    cpu_set_threads(was);
    hidden = 6;
}

/* The gradient through the output projection, dO_t V (K = V = 5, N =
 * H = 64), widens its rows: from 16 rows a step (a row run splits it) it
 * stays in its step instead of a row group, below that it is grouped.
 * The projection itself (K = 64, N = 5) is grouped at both. Either way
 * 1 and 3 threads agree (test_row_runs_same_on_any_threads, at 32). */
static void test_widening_product_stays_in_its_step(void)
{
    const plan_options pa = {.fuse = PLAN_FUSE_ALL};
    hidden = 64;
    result r8 = {0}, r32 = {0};
    uerr e = {0};
    CHECK_OK(run_net("elman", "tanh", DT_F32, 4, 8, 5, &pa, &r8, &e), &e);
    CHECK_OK(run_net("elman", "tanh", DT_F32, 4, 32, 5, &pa, &r32, &e), &e);
    CHECKF(r8.n_stacked == r32.n_stacked + 1 && r32.n_stacked >= 1,
           "stacks at 8 rows a step %d, at 32 %d: expected one fewer at 32", r8.n_stacked,
           r32.n_stacked);
    printf("  elman H=64 V=5: %d stacks at 8 rows a step, %d at 32\n", r8.n_stacked, r32.n_stacked);
    result_free(&r8);
    result_free(&r32);
    hidden = 6;
}

/* At 64 rows a step a product stays in its step, unless its weight is
 * past the L2 (engine/plan_stack.c; the size forced here): then the output
 * projection h_t V^T (K = H = 16, N = V = 1400) is one product over the
 * steps, and so is its gradient dO_t V, which narrows its rows. Elman,
 * LSTM and GRU in both dtypes, on 1 and 3 threads: the same bits as in
 * the steps, two more stacks, and the logits' gradients written over the
 * stacked logits (over 1 MiB: plan_over.c) rather than beside them. */
static void test_big_weight_grouped(void)
{
    const char *cells[] = {"elman", "lstm", "gru"};
    const plan_options pa = {.fuse = PLAN_FUSE_ALL};
    const int T = 3, B = 64, V = 1400;
    hidden = 16;
    int was = cpu_set_threads(1);
    for (int c = 0; c < 3; c++)
        for (int f32 = 0; f32 < 2; f32++)
            for (int th = 1; th <= 3; th += 2) {
                dtype dt = f32 ? DT_F32 : DT_F64;
                result in_steps = {0}, grouped = {0};
                uerr e = {0};
                cpu_set_threads(th);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &pa, &in_steps, &e), &e);
                plan_test_group_bytes(1);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &pa, &grouped, &e), &e);
                plan_test_group_bytes(0);
                size_t logits = (size_t)(T * B * V) * dtype_size(dt);
                CHECKF(same_result(&in_steps, &grouped) &&
                           grouped.n_stacked == in_steps.n_stacked + 2 && grouped.n_over >= 1 &&
                           grouped.arena < in_steps.arena + logits / 2,
                       "%s %s %d threads: %d stacks in steps, %d grouped (%d written over), "
                       "arena %zu -> %zu; bits %s",
                       cells[c], dtype_name(dt), th, in_steps.n_stacked, grouped.n_stacked,
                       grouped.n_over, in_steps.arena, grouped.arena,
                       same_result(&in_steps, &grouped) ? "equal" : "differ");
                if (c == 0 && f32 && th == 3)
                    printf("  elman H=16 V=1400 B=64: %d stacks in steps, %d grouped; the same "
                           "bits; arena %zu -> %zu bytes\n",
                           in_steps.n_stacked, grouped.n_stacked, in_steps.arena, grouped.arena);
                result_free(&in_steps);
                result_free(&grouped);
            }
    cpu_set_threads(was);
    hidden = 6;
}

/* a = tanh(x) and c = y w are each row-wise over 64 rows. With w a leaf
 * they are one run; with w = a, c reads a whole, which another part may
 * not have written yet: the run is dropped, and c is still right. */
static void test_row_run_dropped_when_rows_meet(void)
{
    int was = cpu_set_threads(3);
    for (int meet = 0; meet < 2; meet++) {
        uerr e = {0};
        graph g;
        int32_t x, y, w;
        CHECK_OK(graph_init(&g, DT_F64, &e), &e);
        CHECK_OK(graph_leaf(&g, "x", DT_F64, shape_2(64, 512), NODE_DATA, -1, &x, &e), &e);
        CHECK_OK(graph_leaf(&g, "y", DT_F64, shape_2(64, 64), NODE_DATA, -1, &y, &e), &e);
        CHECK_OK(graph_leaf(&g, "w", DT_F64, shape_2(64, 512), NODE_DATA, -1, &w, &e), &e);
        int32_t a = op_unary(&g, OP_TANH, x, &e);
        int32_t outs[2] = {a, op_matmul(&g, y, meet ? a : w, 0, 0, &e)};
        plan p;
        exec xe;
        CHECK_OK(plan_build(&g, outs, 2, NULL, &p, &e), &e);
        CHECKF(p.nruns == !meet, "meet=%d: %d row runs", meet, p.nruns);
        CHECK_OK(exec_init(&xe, &g, &p, &e), &e);
        lcg = 3;
        void **vals = random_leaves(&g, urand);
        for (int32_t v = 0; v < g.n; v++)
            if (vals[v])
                exec_bind(&xe, v, vals[v]);
        CHECK_OK(exec_run(&xe, &e), &e);
        double *ref = malloc(64 * 512 * sizeof *ref);
        const double *b = meet ? exec_value(&xe, a) : vals[w];
        gemm_ref_f64(0, 0, 64, 512, 64, vals[y], 64, b, 512, ref, 512, 0, NULL);
        CHECKF(!memcmp(ref, exec_value(&xe, outs[1]), 64 * 512 * sizeof *ref),
               "meet=%d: the product differs from the reference loop", meet);
        free(ref);
        free_leaves(vals, g.n);
        exec_free(&xe);
        plan_free(&p);
        graph_free(&g);
    }
    cpu_set_threads(was);
}

/*
 * The kept packings of a step at S3's widths (H = 1024, V = 128, B = 64;
 * fewer steps): the forward reads W^T and the backward W, and one slot
 * holds both in turn (kernels/gemm.c), so a step keeps one packing of W
 * and one of the 128 x 1024 weight a step reads, 4.5 MiB. Two slots for
 * W, 8 MiB, put S3's peak RSS over issue 10's limit. On 1 thread (no row
 * runs) and 3 (the forward and the backward each one run, whose products
 * by W read it by columns, a third a thread: a slot for each third, both
 * ways in turn; engine/exec_rows.c).
 */
static void test_kept_packings_one_per_weight(void)
{
    const int T = 3, B = 64, V = 128, H = 1024;
    const plan_options pa = {.fuse = PLAN_FUSE_ALL};
    int was = cpu_set_threads(1);
    hidden = H;
    /* the table's slots from the tests before are reused, never added to */
    size_t before = gemm_keep_bytes(), w = (size_t)H * H * sizeof(float);
    size_t most = before + w + (size_t)V * H * sizeof(float);
    for (int th = 1; th <= 3; th += 2) {
        uerr e = {0};
        result r = {0};
        cpu_set_threads(th);
        CHECK_OK(run_net("elman", "tanh", DT_F32, T, B, V, &pa, &r, &e), &e);
        size_t after = gemm_keep_bytes();
        CHECKF(after >= w && after <= most,
               "%d threads: %.2f MiB kept after a step (%.2f before), want at least %.2f (W) "
               "and at most %.2f (W and the 128 x 1024 weight once each)",
               th, after / 1048576.0, before / 1048576.0, w / 1048576.0, most / 1048576.0);
        printf("  %d threads: %.2f MiB of packings kept (%.2f before the first)\n", th,
               after / 1048576.0, before / 1048576.0);
        result_free(&r);
    }
    hidden = 6;
    cpu_set_threads(was);
}

/* The forward-only net (validation, sampling) plans every step's logits
 * as outputs: the output projection still runs as one product. */
static void test_forward_net(void)
{
    uerr e = {0};
    char cfg[512];
    snprintf(cfg, sizeof cfg, cfg_fmt, "elman", hidden, "tanh", "float64", 7, 2);
    spec s;
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
    net a, b;
    const plan_options pn = {.fuse = PLAN_FUSE_NONE};
    CHECK_OK(net_init(&a, &s, 5, 2, 7, NET_FORWARD, &pn, &e), &e);
    CHECK_OK(net_init(&b, &s, 5, 2, 7, NET_FORWARD, NULL, &e), &e);
    net_init_params(&a, 3, 0.5);
    net_init_params(&b, 3, 0.5);
    for (int i = 0; i < 14; i++)
        a.xs[i] = b.xs[i] = i % 5, a.ys[i] = b.ys[i] = (i * 3) % 5;
    double la, lb;
    CHECK_OK(net_run(&a, &la, &e), &e);
    CHECK_OK(net_run(&b, &lb, &e), &e);
    CHECKF(fabs(la - lb) <= 1e-12 * fabs(la), "loss %.17g vs %.17g", la, lb);
    for (int t = 0; t < 7; t++) {
        double r =
            rel_diff(DT_F64, exec_value(&a.x, a.m.logits[t]), exec_value(&b.x, b.m.logits[t]), 10);
        CHECKF(r <= 1e-12, "logits at t=%d differ by %.3e", t, r);
    }
    CHECKF(b.p.n_stacked >= 1, "the output projection is not stacked (%d)", b.p.n_stacked);
    net_free(&a);
    net_free(&b);
    spec_free(&s);
}

/* One product for four gates, taken apart by chunk (tests/cells/
 * fused_gates.yaml): build_grad sums the pads of the four slices'
 * gradients, which the plan adds into one buffer (in `all`: a pad adds
 * only its columns, and skipping the +0 of the others keeps a -0.0). */
static void test_fused_gates(void)
{
    uerr e = {0};
    const int fuses[] = {PLAN_FUSE_NONE, PLAN_FUSE_EXACT, PLAN_FUSE_ALL};
    void *g[3] = {0};
    double loss[3] = {0};
    size_t gb = 0;
    int n_accum_all = 0, n_accum_exact = 0;
    for (int f = 0; f < 3; f++) {
        spec s;
        net n;
        plan_options po = {.fuse = fuses[f]};
        CHECK_OK(spec_load(&s, "tests/cells/fused_gates.yaml", NULL, 0, &e), &e);
        CHECK_OK(net_init(&n, &s, 5, 3, 6, NET_TRAIN, &po, &e), &e);
        net_init_params(&n, 4, 0.4);
        for (int i = 0; i < 18; i++)
            n.xs[i] = (i * 7) % 5, n.ys[i] = (i * 3) % 5;
        CHECK_OK(net_run(&n, &loss[f], &e), &e);
        gb = (size_t)n.nparam * n.es;
        g[f] = malloc(gb);
        memcpy(g[f], n.grads, gb);
        int pads = 0;
        for (int32_t k = 0; k < n.p.ninstr; k++)
            pads += n.p.instr[k].kind == PLAN_ACCUM &&
                    plan_node(&n.p, &n.m.g, n.p.instr[k].node)->op == OP_PAD;
        if (fuses[f] == PLAN_FUSE_ALL)
            n_accum_all = pads;
        if (fuses[f] == PLAN_FUSE_EXACT)
            n_accum_exact = pads;
        net_free(&n);
        spec_free(&s);
    }
    CHECKF(loss[0] == loss[1] && !memcmp(g[0], g[1], gb), "exact differs from none");
    double r = rel_diff(DT_F64, g[0], g[2], (int64_t)(gb / sizeof(double)));
    CHECKF(r <= 1e-12 && fabs(loss[0] - loss[2]) <= 1e-12 * fabs(loss[0]),
           "all differs from none by %.3e", r);
    /* three of the four pads of each step's gate gradient are added in */
    /* of each step's four pads, one starts the sum, two are added in, and
     * the last add writes the sum into its place in the stack that makes
     * dW one product (a stacked node is never computed in place) */
    CHECKF(n_accum_all == 2 * 6 && n_accum_exact == 0, "pads added in: %d in all, %d in exact",
           n_accum_all, n_accum_exact);
    printf("  fused gates: all within %.1e of none; %d pads added in (exact: %d)\n", r, n_accum_all,
           n_accum_exact);
    for (int f = 0; f < 3; f++)
        free(g[f]);
}

/* A training net's gradients are placed side by side at the start of the
 * arena, so the plan writes the flat gradient block itself, at every
 * level and under recomputation; when an output cannot be placed so (two
 * outputs sharing one buffer) the plan says it, and places it anywhere. */
static void test_gradients_are_the_arena(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    const int fuses[] = {PLAN_FUSE_ALL, PLAN_FUSE_EXACT, PLAN_FUSE_NONE};
    uerr e = {0};
    for (int c = 0; c < 4; c++)
        for (int f = 0; f < 4; f++) {
            char cfg[512];
            snprintf(cfg, sizeof cfg, cfg_fmt, cells[c], hidden, "tanh", "float32", 6, 3);
            spec s;
            net n;
            plan_options po = {.fuse = f < 3 ? fuses[f] : PLAN_FUSE_ALL,
                               .recompute_seg = f == 3 ? 2 : 0};
            CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
            CHECK_OK(net_init(&n, &s, 5, 3, 6, NET_TRAIN, &po, &e), &e);
            CHECKF(n.grads_in_arena && n.grads == n.x.arena,
                   "%s, %s: the gradients are copied out of the arena", cells[c],
                   f < 3 ? plan_fuse_name(fuses[f]) : "recomputed");
            /* the padding between gradients stays zero: clipping by norm,
             * the optimiser and MPI's sum read the whole block */
            net_init_params(&n, 1, 0.5);
            for (int i = 0; i < 18; i++)
                n.xs[i] = i % 5, n.ys[i] = (i * 2) % 5;
            double loss;
            CHECK_OK(net_run(&n, &loss, &e), &e);
            int64_t nonzero = 0;
            for (int i = 0; i < n.m.nparams; i++) {
                int64_t from = n.off[i] + shape_numel(&n.m.param[i].shape);
                int64_t to = i + 1 < n.m.nparams ? n.off[i + 1] : n.nparam;
                for (int64_t j = from; j < to; j++)
                    nonzero += ((float *)n.grads)[j] != 0;
            }
            CHECKF(nonzero == 0, "%s: %lld padding floats of the gradient block are not zero",
                   cells[c], (long long)nonzero);
            net_free(&n);
            spec_free(&s);
        }
    /* the fixed places cost nothing: buffers that die before a gradient is
     * written live in its place (64 units: W^T is copied, W's gradient is
     * written last). At a batch of 32: below a row run's rows (two lanes)
     * nothing lives there, lest a gradient's first chunk wait for it. */
    int saved = hidden;
    hidden = 64;
    for (int c = 0; c < 4; c++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg, cfg_fmt, cells[c], hidden, "tanh", "float32", 6, 32);
        spec s;
        net n;
        CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
        CHECK_OK(net_init(&n, &s, 5, 32, 6, NET_TRAIN, NULL, &e), &e);
        /* Jordan's step has no product of the state: no row run */
        CHECKF(n.p.nruns > 0 || c == 1, "%s: no row run at batch 32", cells[c]);
        int32_t outs[MODEL_MAX_PARAMS + 2];
        int k = 0;
        for (int i = 0; i < n.m.nparams; i++)
            outs[k++] = n.gt.param_grad[i];
        outs[k++] = n.m.loss;
        if (n.m.hT >= 0)
            outs[k++] = n.m.hT;
        plan free_plan;
        plan_options po = {.fuse = PLAN_FUSE_ALL};
        CHECK_OK(plan_build(&n.m.g, outs, k, &po, &free_plan, &e), &e);
        CHECKF(!n.p.nruns || n.p.arena_bytes <= free_plan.arena_bytes + 64 * (size_t)n.m.nparams,
               "%s: gradients side by side take the arena from %zu to %zu bytes", cells[c],
               free_plan.arena_bytes, n.p.arena_bytes);
        plan_free(&free_plan);
        net_free(&n);
        spec_free(&s);
    }
    hidden = saved;

    /* the fallback: one node asked for twice */
    graph g;
    CHECK_OK(graph_init(&g, DT_F64, &e), &e);
    int32_t x, y;
    CHECK_OK(graph_leaf(&g, "x", DT_F64, shape_1(3), NODE_DATA, -1, &x, &e), &e);
    y = op_unary(&g, OP_TANH, x, &e);
    int32_t outs[2] = {y, y};
    plan p;
    plan_options po = {.fuse = PLAN_FUSE_ALL, .nfixed = 2};
    CHECK_OK(plan_build(&g, outs, 2, &po, &p, &e), &e);
    CHECKF(!p.fixed && p.offset[y] != PLAN_NO_BUFFER, "fixed %d", p.fixed);
    plan_free(&p);
    po.nfixed = 1;
    CHECK_OK(plan_build(&g, outs, 1, &po, &p, &e), &e);
    CHECKF(p.fixed && p.offset[y] == 0, "fixed %d at %zu", p.fixed, p.offset[y]);
    plan_free(&p);
    graph_free(&g);
}

/* The copies W^T the plan makes (plan_transpose.c) for an Elman net of
 * h units at batch B and vocabulary V, one step of 8 under `all`. */
static int32_t copies_of_w(int h, int B, int V)
{
    const plan_options pa = {.fuse = PLAN_FUSE_ALL};
    uerr e = {0};
    result r = {0};
    int was = hidden;
    hidden = h;
    CHECK_OK(run_net("elman", "tanh", DT_F32, 8, B, V, &pa, &r, &e), &e);
    hidden = was;
    int32_t n = r.n_transposed;
    result_free(&r);
    return n;
}

/* What the rewrites did to an Elman net: W's and V's sums over time are
 * stacked products, as are the output projection and its gradient; U's
 * scatters and the biases' row sums are accumulated. */
static void test_rewrites_happen(void)
{
    uerr e = {0};
    result all = {0}, exact = {0};
    const plan_options pa = {.fuse = PLAN_FUSE_ALL}, pe = {.fuse = PLAN_FUSE_EXACT};
    CHECK_OK(run_net("elman", "tanh", DT_F32, 8, 4, 6, &pa, &all, &e), &e);
    CHECK_OK(run_net("elman", "tanh", DT_F32, 8, 4, 6, &pe, &exact, &e), &e);
    printf("  all: %d stacked, %d accumulated, %d in place; exact: %d, %d, %d\n", all.n_stacked,
           all.n_accum, all.n_inplace, exact.n_stacked, exact.n_accum, exact.n_inplace);
    CHECK(all.n_stacked == 4);
    CHECK(exact.n_stacked == 0);
    CHECK(all.n_transposed == 0 && exact.n_transposed == 0); /* W is 6 x 6 */
    CHECK(copies_of_w(64, 4, 6) == 1);
    /* more rows than kernels/smallmm.c takes: gemm packs W^T from W */
    CHECK(copies_of_w(64, 5, 6) == 0);
    /* so does a W larger than it takes at batch 2 (520 x 520 > SMM_MAX_KN);
     * at batch 1 it takes one (SMM_MAX_KN1) */
    CHECK(copies_of_w(520, 2, 3) == 0);
    CHECK(copies_of_w(520, 1, 3) == 1);
    /* U: 7 scatters, b: 7 sums, c: 7 sums, 8 gathers */
    CHECK(exact.n_accum >= 29);
    CHECK(exact.n_inplace > exact.n_accum);
    result_free(&all);
    result_free(&exact);
}

/* A copy W^T's rows padded to whole cache lines where they are not
 * (plan_transpose.c: pad_rows), and not a power of two of 512 bytes or
 * more: the products read the same values, so the forward's, and the
 * loss, are those of the plan without rewrites, bit for bit */
static void test_copies_padded(void)
{
    uerr e = {0};
    const plan_options pa = {.fuse = PLAN_FUSE_ALL}, pn = {.fuse = PLAN_FUSE_NONE};
    const int units[] = {100, 100, 64, 128, 37};
    const dtype dts[] = {DT_F32, DT_F64, DT_F32, DT_F32, DT_F64};
    const int64_t ld[] = {112, 104, 64, 144, 40};
    int was = hidden;
    for (int k = 0; k < 5; k++) {
        result all = {0}, none = {0};
        hidden = units[k];
        CHECK_OK(run_net("elman", "tanh", dts[k], 6, 1, 5, &pa, &all, &e), &e);
        CHECK_OK(run_net("elman", "tanh", dts[k], 6, 1, 5, &pn, &none, &e), &e);
        CHECKF(all.n_transposed > 0 && all.copy_ld == ld[k] && all.loss == none.loss,
               "%d units, %s: %d copies, rows %lld apart (%lld expected), loss %.17g against "
               "%.17g",
               units[k], dtype_name(dts[k]), (int)all.n_transposed, (long long)all.copy_ld,
               (long long)ld[k], all.loss, none.loss);
        result_free(&all);
        result_free(&none);
    }
    hidden = was;
}

/* Gathers of one-hot inputs read rows of a copy U^T once the step
 * gathers enough rows (plan_transpose.c): the forward's values, so the
 * loss, are those of the plan without rewrites, bit for bit. */
static void test_gathers_read_transposed_table(void)
{
    uerr e = {0};
    const plan_options pa = {.fuse = PLAN_FUSE_ALL}, pn = {.fuse = PLAN_FUSE_NONE};
    const char *cells[] = {"elman", "lstm"};
    const int gates[] = {1, 4};
    hidden = 64;
    for (int c = 0; c < 2; c++)
        for (int d = 0; d < 2; d++) {
            dtype dt = d ? DT_F64 : DT_F32;
            result all = {0}, none = {0}, few = {0};
            /* H x V = 5120 elements; 48 rows gathered a step per table */
            CHECK_OK(run_net(cells[c], "tanh", dt, 6, 8, 80, &pa, &all, &e), &e);
            CHECK_OK(run_net(cells[c], "tanh", dt, 6, 8, 80, &pn, &none, &e), &e);
            CHECK(all.n_transposed == gates[c]);
            CHECK(all.loss == none.loss);
            /* 6 rows against 80 symbols: U's copy would not pay (batch
             * 1 copies W^T for kernels/smallmm.c) */
            CHECK_OK(run_net(cells[c], "tanh", dt, 6, 1, 80, &pa, &few, &e), &e);
            CHECK(few.n_transposed == gates[c]);
            result_free(&all);
            result_free(&none);
            result_free(&few);
        }
    hidden = 6;
}

/* ---- sums over steps ---------------------------------------------------------- */

/* The pool's count of class name: calls that ran on more than one
 * thread, or -1 when it never ran. */
static long class_multi(const char *name)
{
    pool_stat s;
    for (int i = 0; pool_stats(i, &s); i++)
        if (!strcmp(s.name, name))
            return s.multi;
    return -1;
}

/*
 * A bias's gradient (per-step row sums) and U's (per-step scatters
 * through one-hot ids) run as sums over steps split by hidden unit among
 * the threads (plan.h, "steps"), and so does the sum of the losses:
 * every gradient and the loss are bit for bit those of the per-step
 * chains, on 1 and on 3 threads, for each cell and dtype, and the output
 * projection's bias is still folded into its product. The sizes give each such sum 3 parts (T B H =
 * 2^17 elements, 64 units); V = 5 repeats ids within a step. Which thread claims a part depends on
 * the load, so the net runs again until one was shared.
 */
static void test_step_sums_same_bits(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    const plan_options chains = {.fuse = PLAN_FUSE_ALL, .no_step_sums = 1},
                       steps = {.fuse = PLAN_FUSE_ALL};
    const int T = 64, B = 32, V = 5;
    hidden = 64;
    int was = cpu_set_threads(1);
    long shared = 0;
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 < 2; f32++) {
            dtype dt = f32 ? DT_F32 : DT_F64;
            uerr e = {0};
            result ref = {0}, one = {0}, three = {0};
            cpu_set_threads(1);
            CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &chains, &ref, &e), &e);
            CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &steps, &one, &e), &e);
            cpu_set_threads(3);
            pool_stats_reset();
            for (int k = 0; k < 200 && !e.code; k++) {
                result_free(&three);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &steps, &three, &e), &e);
                if ((shared = class_multi("stacked step sums")) > 0)
                    break;
            }
            CHECKF(ref.n_step_sums == 0 && one.n_step_sums >= 3 && three.n_step_sums >= 3,
                   "%s %s: %d, %d sums over steps", cells[c], dtype_name(dt), ref.n_step_sums,
                   one.n_step_sums);
            /* the losses' sum reads the output projection's stack, whose
             * product still adds the bias (plan_stack_sum.c: loss_rows) */
            CHECKF(one.n_folded == ref.n_folded, "%s %s: %d nodes folded, %d without the sums",
                   cells[c], dtype_name(dt), one.n_folded, ref.n_folded);
            const result *r[2] = {&one, &three};
            for (int i = 0; i < 2; i++)
                CHECKF(same_result(r[i], &ref),
                       "%s %s, %d threads: sums over steps differ from the per-step chains",
                       cells[c], dtype_name(dt), i ? 3 : 1);
            CHECKF(shared > 0, "%s %s: no sum over steps ran on more than one thread", cells[c],
                   dtype_name(dt));
            printf("  %-6s %s H=%d T=%d B=%d: %d sums over steps, bit for bit the chains' on 1 "
                   "and 3 threads\n",
                   cells[c], dtype_name(dt), hidden, T, B, three.n_step_sums);
            result_free(&ref);
            result_free(&one);
            result_free(&three);
        }
    cpu_set_threads(was);
    hidden = 6;
}

/*
 * With more classes than twice the hidden units, the softmax's gradient
 * is stacked over the steps for the output weight's gradient, beside the
 * logits' stack it reads: it is written over the logits (engine/
 * plan_over.c). Each cell, in both dtypes, on 1 and 3 threads: the same
 * bits as with every buffer in memory of its own, in a smaller arena by
 * the logits' bytes (V x B x T elements).
 */
static void test_softmax_gradient_over_logits(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    const plan_options pa = {.fuse = PLAN_FUSE_ALL}, pr = {.fuse = PLAN_FUSE_ALL, .no_reuse = 1},
                       po = {.fuse = PLAN_FUSE_ALL, .no_over = 1};
    const int T = 8, B = 32, V = 40;
    hidden = 16;
    int was = cpu_threads();
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 < 2; f32++)
            for (int th = 1; th <= 3; th += 2) {
                dtype dt = f32 ? DT_F32 : DT_F64;
                uerr e = {0};
                result over = {0}, own = {0}, apart = {0};
                cpu_set_threads(th);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &pa, &over, &e), &e);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &pr, &own, &e), &e);
                CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &po, &apart, &e), &e);
                size_t logits = (size_t)(V * B * T) * dtype_size(dt);
                CHECKF(over.n_over == 1 && !own.n_over && !apart.n_over,
                       "%s %s: %d stacks written over", cells[c], dtype_name(dt), over.n_over);
                CHECKF(same_result(&over, &own) && same_result(&over, &apart),
                       "%s %s, %d threads: writing over the logits changes the result", cells[c],
                       dtype_name(dt), th);
                CHECKF(over.arena + logits <= apart.arena,
                       "%s %s: arena %zu bytes, %zu with the two stacks apart", cells[c],
                       dtype_name(dt), over.arena, apart.arena);
                if (th == 1)
                    printf("  %-6s %s H=%d V=%d B=%d T=%d: the softmax's gradient over the logits, "
                           "arena %zu bytes (%zu apart)\n",
                           cells[c], dtype_name(dt), hidden, V, B, T, over.arena, apart.arena);
                result_free(&over);
                result_free(&own);
                result_free(&apart);
            }
    cpu_set_threads(was);
    hidden = 6;
}

/*
 * Below a row run's rows a long sum over steps is cut into chunks for the
 * two lanes, each going on with the chain (engine/plan_stack_sum.c): at
 * batch 2 over 300 steps every gradient and the loss are still bit for
 * bit the per-step chains', for each cell and dtype, on 1 and 2 threads.
 */
static void test_step_sums_chunked_same_bits(void)
{
    const char *cells[] = {"elman", "jordan", "lstm", "gru"};
    const plan_options chains = {.fuse = PLAN_FUSE_ALL, .no_step_sums = 1},
                       steps = {.fuse = PLAN_FUSE_ALL};
    const int T = 300, B = 2, V = 5;
    hidden = 24;
    int was = cpu_threads();
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 < 2; f32++) {
            dtype dt = f32 ? DT_F32 : DT_F64;
            uerr e = {0};
            result ref = {0}, one = {0}, two = {0};
            cpu_set_threads(1);
            CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &chains, &ref, &e), &e);
            CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &steps, &one, &e), &e);
            cpu_set_threads(2);
            CHECK_OK(run_net(cells[c], "tanh", dt, T, B, V, &steps, &two, &e), &e);
            CHECKF(one.n_step_sums >= 2 && one.n_steps_ops > one.n_step_sums,
                   "%s %s: %d sums over steps in %d ops: not cut", cells[c], dtype_name(dt),
                   one.n_step_sums, one.n_steps_ops);
            const result *r[2] = {&one, &two};
            for (int i = 0; i < 2; i++)
                CHECKF(same_result(r[i], &ref),
                       "%s %s, %d threads: chunked sums over steps differ from the chains",
                       cells[c], dtype_name(dt), i + 1);
            result_free(&ref);
            result_free(&one);
            result_free(&two);
        }
    cpu_set_threads(was);
    hidden = 6;
}

/*
 * The ops alone, against PLAN_FUSE_NONE's per-step kernels: two chains
 * each of row sums, of scatters and of losses over the same 9 steps, one
 * adding them first to last and one last to first, so that one sum over
 * steps reads its stacked rows backwards; odd sizes (units not a multiple
 * of 16), padding ids (-1), ids repeated within and across steps, 3
 * threads. A scatter into 7 columns adds along units in its scratch; into
 * 1500 in float64, too many for the scratch, it adds into the output's
 * columns. The losses' chain cut in two (the lanes' chunks: the second
 * part going on with the first's sum) keeps its bits too.
 */
static void test_step_sums_ops(void)
{
    enum { S = 9, R = 150, H = 101, CUT = 4 }; /* 3 parts: 2^17 elements at least */
    int was = cpu_set_threads(3);
    for (int f32 = 0; f32 < 4; f32++) {
        dtype dt = f32 & 1 ? DT_F32 : DT_F64;
        size_t es = dtype_size(dt);
        int64_t V = f32 & 2 ? 1500 : 7;
        uerr e = {0};
        graph g;
        CHECK_OK(graph_init(&g, dt, &e), &e);
        int32_t G[S], X[S], Y[S], out[6], L[2], T[2];
        for (int t = 0; t < S; t++) {
            CHECK_OK(graph_leaf(&g, "g", dt, shape_2(R, H), NODE_DATA, t, &G[t], &e), &e);
            CHECK_OK(graph_leaf(&g, "x", DT_I32, shape_1(R), NODE_DATA, t, &X[t], &e), &e);
            CHECK_OK(graph_leaf(&g, "y", DT_I32, shape_1(R), NODE_DATA, t, &Y[t], &e), &e);
            g.nodes[X[t]].ip[0] = V;
            g.nodes[Y[t]].ip[0] = H;
        }
        /* the losses' steps stacked, in two parts */
        for (int k = 0; k < 2; k++) {
            int64_t rows = (k ? S - CUT : CUT) * R;
            CHECK_OK(graph_leaf(&g, "l", dt, shape_2(rows, H), NODE_DATA, -1, &L[k], &e), &e);
            CHECK_OK(graph_leaf(&g, "t", DT_I32, shape_1(rows), NODE_DATA, -1, &T[k], &e), &e);
        }
        for (int k = 0; k < 6; k++) {
            out[k] = -1;
            for (int i = 0; i < S; i++) {
                int t = k & 1 ? S - 1 - i : i;
                int32_t term = k < 2   ? op_sum(&g, G[t], 0, &e)
                               : k < 4 ? op_scatter(&g, G[t], X[t], V, &e)
                                       : op_softmax_xent(&g, G[t], Y[t], &e);
                out[k] = grad_sum_append(&g, out[k], term, &e);
            }
            CHECK(out[k] >= 0);
        }
        int32_t q0 = op_xent_steps(&g, L[0], T[0], R, 0, &e),
                q1 = op_xent_steps(&g, L[1], T[1], R, 0, &e);
        CHECK_OK(q0 < 0 || q1 < 0, &e);
        if (check_failed_)
            return;
        lcg = 3;
        void **vals = random_leaves(&g, urand);
        for (int t = 0; t < S; t++)
            for (int r = 0; r < R; r++) {
                int32_t *x = vals[X[t]], *y = vals[Y[t]];
                x[r] = r % 11 == 3 ? -1 : r % 3 == 1 ? 5 : x[r];
                y[r] = r % 13 == 5 ? -1 : y[r];
                if (dt == DT_F32)
                    for (int j = 0; j < H; j++)
                        ((float *)vals[G[t]])[r * H + j] = (float)((double *)vals[G[t]])[r * H + j];
            }
        for (int t = 0; t < S; t++) {
            int k = t >= CUT, t0 = k ? t - CUT : t;
            memcpy((char *)vals[L[k]] + (size_t)t0 * R * H * es, vals[G[t]], (size_t)R * H * es);
            memcpy((int32_t *)vals[T[k]] + t0 * R, vals[Y[t]], R * sizeof(int32_t));
        }
        const plan_options po[2] = {{.fuse = PLAN_FUSE_NONE}, {.fuse = PLAN_FUSE_ALL}};
        plan p[2];
        exec x[2];
        for (int l = 0; l < 2; l++) {
            CHECK_OK(plan_build(&g, out, 6, &po[l], &p[l], &e), &e);
            CHECK_OK(exec_init(&x[l], &g, &p[l], &e), &e);
            for (int t = 0; t < S; t++) {
                exec_bind(&x[l], G[t], vals[G[t]]);
                exec_bind(&x[l], X[t], vals[X[t]]);
                exec_bind(&x[l], Y[t], vals[Y[t]]);
            }
            CHECK_OK(exec_run(&x[l], &e), &e);
        }
        CHECKF(p[1].n_step_sums == 6, "%s: %d sums over steps", dtype_name(dt), p[1].n_step_sums);
        static const char *const kinds[3] = {"sum", "scatter", "loss"};
        for (int k = 0; k < 6; k++) {
            size_t bytes = (size_t)shape_numel(&g.nodes[out[k]].shape) * es;
            CHECKF(!memcmp(exec_value(&x[0], out[k]), exec_value(&x[1], out[k]), bytes),
                   "%s V=%lld: %s chain %d differs from the per-step kernels", dtype_name(dt),
                   (long long)V, kinds[k / 2], k);
        }
        double cut = 0;
        void *in0[2] = {vals[L[0]], vals[T[0]]}, *in1[2] = {vals[L[1]], vals[T[1]]};
        op_table[OP_SOFTMAX_XENT]->forward(&g, &g.nodes[q0], in0, &cut);
        op_accumulate_fn(OP_SOFTMAX_XENT)(&g, &g.nodes[q1], in1, &cut);
        CHECKF(!memcmp(&cut, exec_value(&x[0], out[4]), es),
               "%s: the losses' chain cut in two differs from the per-step kernels",
               dtype_name(dt));
        for (int l = 0; l < 2; l++) {
            exec_free(&x[l]);
            plan_free(&p[l]);
        }
        free_leaves(vals, g.n);
        graph_free(&g);
    }
    cpu_set_threads(was);
}

int main(void)
{
    RUN(test_every_op_same_at_every_level);
    RUN(test_nets_same_at_every_level);
    RUN(test_forward_net);
    RUN(test_gradients_are_the_arena);
    RUN(test_softmax_gradient_over_logits);
    RUN(test_fused_gates);
    RUN(test_rewrites_happen);
    RUN(test_row_runs_same_on_any_threads);
    RUN(test_row_run_dropped_when_rows_meet);
    RUN(test_widening_product_stays_in_its_step);
    RUN(test_big_weight_grouped);
    RUN(test_gathers_read_transposed_table);
    RUN(test_copies_padded);
    RUN(test_step_sums_same_bits);
    RUN(test_step_sums_chunked_same_bits);
    RUN(test_step_sums_ops);
    RUN(test_kept_packings_one_per_weight);
    CHECK_EXIT();
}
