/*
 * test_update.c - the optimiser's update inside the step's plan
 * (plan.h: PLAN_UPDATE; train/optim.h: optim_job). At a batch of one row
 * the updates are tasks of the two lanes, each parameter's rows in
 * chunks, run beside the backward; at a batch the row runs split, they
 * run in order after it. Either way three steps leave every parameter,
 * every optimiser state and every loss with the bits of the update run
 * after the plan, on 1, 2 and 3 threads and with one thread running both
 * lanes, for each cell, dtype and optimiser. The transposed copies of
 * parameters the updates keep for the next step (plan.h: plan_mirror)
 * are read in the runs after the first, and give the same bits; a
 * parameter written outside the runs is copied again. A NaN gradient is
 * reported as it is there, and a plan with updates does not run without
 * its function.
 */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/plan.h"
#include "kernels/cpu.h"
#include "models/spec.h"
#include "train/net.h"
#include "train/optim.h"

enum { V = 70, H = 40, T = 30, STEPS = 3 };

static const char *const optimisers[] = {
    "{name: sgd, lr: 0.1}",
    "{name: momentum, lr: 0.05, momentum: 0.9}, weight_decay: 0.01",
    "{name: adagrad, lr: 0.1}, clip: {value: 0.05}",
    "{name: adam, lr: 0.01}, weight_decay: 0.1",
};

static int load_spec(spec *s, const char *cell, const char *dt, int64_t B, const char *opt, uerr *e)
{
    char cfg[640];
    snprintf(cfg, sizeof cfg,
             "name: update\ndata: {kind: text, path: x}\n"
             "model: {cell: %s, hidden: %d, init: {std: 0.3}}\n"
             "train: {dtype: %s, seq_len: %d, batch: %lld, steps: 1,\n"
             "        optimizer: %s, seed: 3}\n",
             cell, H, dt, T, (long long)B, opt);
    return spec_load_buffer(s, "update.yaml", cfg, strlen(cfg), NULL, 0, e);
}

/* A training net and its optimiser; with the update in its plan when
 * in_plan */
typedef struct stepper {
    net n;
    optim o;
    optim_job job;
    double clip;
} stepper;

static int stepper_init(stepper *st, const spec *s, int64_t B, int in_plan, uerr *e)
{
    memset(st, 0, sizeof *st);
    plan_options po = {.update_cycles =
                           in_plan ? optim_cycles(s->train.optimizer.name, s->train.dtype) : 0};
    if (net_init(&st->n, s, V, B, T, NET_TRAIN, &po, e) || optim_init(&st->o, s, st->n.nparam, e))
        return -1;
    st->clip = s->train.clip.value;
    net_init_params(&st->n, 5, 0.3);
    int32_t *xs = malloc((size_t)(B * T) * sizeof *xs), *ys = malloc((size_t)(B * T) * sizeof *ys);
    for (int64_t i = 0; i < B * T; i++) {
        xs[i] = (int32_t)((i * 37 + 11) % V);
        ys[i] = (int32_t)((i * 53 + 29) % V);
    }
    net_set_batch(&st->n, xs, ys);
    free(xs);
    free(ys);
    return 0;
}

/* One step; 1 when a gradient was NaN or infinite */
static int stepper_step(stepper *st, double *loss, uerr *e)
{
    return net_train_step(&st->n, &st->o, &st->job, st->clip, loss, e);
}

static void stepper_free(stepper *st)
{
    optim_free(&st->o);
    net_free(&st->n);
}

static int same_state(const stepper *a, const stepper *b)
{
    size_t bytes = (size_t)a->n.nparam * a->n.es;
    return !memcmp(a->n.params, b->n.params, bytes) &&
           (!a->o.m || !memcmp(a->o.m, b->o.m, bytes)) &&
           (!a->o.v || !memcmp(a->o.v, b->o.v, bytes)) && a->o.t == b->o.t;
}

/* Tasks of the lanes that update a parameter: whole, and in chunks */
static void count_update_tasks(const plan *p, int32_t *whole, int32_t *chunks)
{
    *whole = *chunks = 0;
    for (int32_t k = 0; k < p->ntasks; k++)
        if (p->instr[p->tasks[k].instr].kind == PLAN_UPDATE)
            ++*(p->tasks[k].r1 ? chunks : whole);
}

/* In every region, each task that reads a parameter has ended before a
 * task updating it starts, by the waits alone (exec.c): the same list
 * earlier; lane 0 before what lane 1 waits for of it; lane 1's needed
 * list before what lane 0 or the rest wait for of it. */
static void check_update_waits(const plan *p, const graph *g)
{
    for (int32_t ri = 0; ri < p->nregions; ri++) {
        const plan_region *r = &p->regions[ri];
        const plan_task *t = p->tasks + r->task0;
        int32_t n0 = r->ntask[0], nn = r->nneeded, nt = n0 + r->ntask[1];
        for (int32_t u = 0; u < nt; u++) {
            if (p->instr[t[u].instr].kind != PLAN_UPDATE)
                continue;
            int ul = u < n0 ? 0 : u < n0 + nn ? 1 : 2; /* lane 0, needed, rest */
            for (int32_t q = 0; q < nt; q++) {
                if (!plan_reads_leaf(p, g, t[q].instr, p->instr[t[u].instr].node))
                    continue;
                int ql = q < n0 ? 0 : q < n0 + nn ? 1 : 2;
                int32_t qpos = ql == 0 ? q : ql == 1 ? q - n0 : q - n0 - nn;
                int ok = ql == ul  ? q < u
                         : ql == 0 ? t[u].wait > qpos
                         : ql == 1 ? (ul == 0 ? t[u].wait : t[u].wait2) > qpos
                                   : 0;
                CHECKF(ok,
                       "region %d: task %d (instruction %d) updates a parameter that task %d "
                       "(instruction %d) may still read",
                       (int)ri, (int)u, (int)t[u].instr, (int)q, (int)t[q].instr);
            }
        }
    }
}

/* STEPS steps of the reference (the update after the plan, one thread)
 * against the update in the plan on `threads` threads (0: one thread
 * running both lanes; -1: two threads, the regions run in order as after
 * contention) */
static void run_case(const char *cell, const char *dt, int64_t B, const char *opt, int threads)
{
    uerr e = {0};
    spec s;
    stepper ref, x;
    int was = cpu_threads();
    CHECK_OK(load_spec(&s, cell, dt, B, opt, &e), &e);
    CHECK_OK(stepper_init(&ref, &s, B, 0, &e), &e);
    CHECK_OK(stepper_init(&x, &s, B, 1, &e), &e);
    if (check_failed_)
        return;
    CHECKF(ref.n.p.nupdate == 0 && x.n.p.nupdate == ref.n.m.nparams,
           "%s %s B=%lld: %d updates planned, %d parameters", cell, dt, (long long)B,
           (int)x.n.p.nupdate, ref.n.m.nparams);
    check_update_waits(&x.n.p, &x.n.m.g);
    x.n.x.lanes_alone = threads == 0;
    x.n.x.lanes_skip = threads < 0 ? 1 << 30 : 0;
    for (int step = 1; step <= STEPS && !check_failed_; step++) {
        double l0 = 0, l1 = 0;
        cpu_set_threads(1);
        CHECK(stepper_step(&ref, &l0, &e) == 0);
        cpu_set_threads(threads > 0 ? threads : 2);
        exec_params_kept(&x.n.x);
        CHECK(stepper_step(&x, &l1, &e) == 0);
        CHECKF(!memcmp(&l0, &l1, sizeof l0) && same_state(&ref, &x),
               "%s %s B=%lld %s, %d threads, step %d: loss %.17g against %.17g", cell, dt,
               (long long)B, opt, threads, step, l1, l0);
    }
    /* every step after the first read the copies the updates kept */
    CHECKF(x.n.x.mirror_skips == (int64_t)(STEPS - 1) * x.n.p.nmirrors,
           "%s %s B=%lld: %lld copies skipped, %d kept", cell, dt, (long long)B,
           (long long)x.n.x.mirror_skips, (int)x.n.p.nmirrors);
    cpu_set_threads(was);
    stepper_free(&ref);
    stepper_free(&x);
    spec_free(&s);
}

static void run_cell(const char *cell)
{
    const char *dts[] = {"float32", "float64"};
    const int threads[] = {1, 2, 3, 0, -1};
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < 4; o++)
            for (int k = 0; k < 5; k++) {
                run_case(cell, dts[d], 1, optimisers[o], threads[k]);
                if (k % 2)
                    run_case(cell, dts[d], 20, optimisers[o], threads[k]);
            }
}

static void test_elman(void)
{
    run_cell("elman");
}

static void test_jordan(void)
{
    run_cell("jordan");
}

static void test_lstm(void)
{
    run_cell("lstm");
}

static void test_gru(void)
{
    run_cell("gru");
}

/* At a batch of one row the lanes run the updates, large ones in chunks
 * of rows; at 20 rows the row runs split the step and the updates run in
 * order */
static void test_where_updates_run(void)
{
    uerr e = {0};
    const int64_t batches[] = {1, 20};
    for (int b = 0; b < 2; b++) {
        spec s;
        stepper st;
        CHECK_OK(load_spec(&s, "elman", "float64", batches[b], optimisers[2], &e), &e);
        CHECK_OK(stepper_init(&st, &s, batches[b], 1, &e), &e);
        if (check_failed_)
            return;
        int32_t whole, chunks;
        count_update_tasks(&st.n.p, &whole, &chunks);
        check_update_waits(&st.n.p, &st.n.m.g);
        if (b == 0)
            CHECKF(st.n.p.nregions > 0 && chunks > 0 && whole > 0 && st.n.p.nmirrors == 2,
                   "batch 1: %d regions, %d update tasks whole and %d in chunks, %d copies "
                   "kept",
                   (int)st.n.p.nregions, (int)whole, (int)chunks, (int)st.n.p.nmirrors);
        else
            CHECKF(st.n.p.nruns > 0 && whole + chunks == 0,
                   "batch 20: %d row runs, %d update tasks", (int)st.n.p.nruns,
                   (int)(whole + chunks));
        stepper_free(&st);
        spec_free(&s);
    }
}

/* A plan with updates does not run without the function that runs them;
 * with it, NaN parameters (so NaN gradients) are reported by the update
 * in the plan, as by optim_step_clip */
static void test_failures_reported(void)
{
    uerr e = {0};
    spec s;
    stepper st;
    CHECK_OK(load_spec(&s, "elman", "float32", 1, optimisers[2], &e), &e);
    CHECK_OK(stepper_init(&st, &s, 1, 1, &e), &e);
    if (check_failed_)
        return;
    double loss;
    CHECK(net_run(&st.n, &loss, &e) != 0);
    CHECKF(strstr(e.msg, "no update is set") != NULL, "error: %s", e.msg);
    CHECK(stepper_step(&st, &loss, &e) == 0);
    for (int64_t i = 0; i < st.n.nparam; i++)
        ((float *)st.n.params)[i] = NAN;
    CHECK(stepper_step(&st, &loss, &e) == 1);
    stepper_free(&st);
    spec_free(&s);
}

/* The parameters of both steppers scaled by 0.5 (exact), outside any run */
static void halve_params(stepper *a, stepper *b)
{
    for (int64_t i = 0; i < a->n.nparam; i++) {
        ((double *)a->n.params)[i] *= 0.5;
        ((double *)b->n.params)[i] *= 0.5;
    }
}

/* The copies an update keeps are read only as promised: parameters
 * written outside the runs, with no promise or after a rebinding, are
 * copied again, and every step keeps the reference's bits */
static void test_kept_copies_follow_writes(void)
{
    uerr e = {0};
    spec s;
    stepper ref, x;
    CHECK_OK(load_spec(&s, "elman", "float64", 1, optimisers[3], &e), &e);
    CHECK_OK(stepper_init(&ref, &s, 1, 0, &e), &e);
    CHECK_OK(stepper_init(&x, &s, 1, 1, &e), &e);
    if (check_failed_)
        return;
    CHECK(x.n.p.nmirrors > 0);
    /* 1: promised; 0: written outside and not promised; 2: written,
     * promised, but the parameter rebound (to the same memory) */
    const int how[] = {1, 1, 0, 1, 2, 1};
    int64_t skips = 0;
    for (int k = 0; k < 6 && !check_failed_; k++) {
        double l0 = 0, l1 = 0;
        if (how[k] != 1)
            halve_params(&ref, &x);
        if (how[k] == 2)
            exec_bind(&x.n.x, x.n.m.param[0].node, net_param(&x.n, 0));
        if (how[k])
            exec_params_kept(&x.n.x);
        CHECK(stepper_step(&ref, &l0, &e) == 0);
        CHECK(stepper_step(&x, &l1, &e) == 0);
        skips += k > 0 && how[k] == 1 ? x.n.p.nmirrors : 0;
        CHECKF(!memcmp(&l0, &l1, sizeof l0) && same_state(&ref, &x),
               "step %d: loss %.17g against %.17g", k + 1, l1, l0);
        CHECKF(x.n.x.mirror_skips == skips, "step %d: %lld copies skipped, %lld expected", k + 1,
               (long long)x.n.x.mirror_skips, (long long)skips);
    }
    stepper_free(&ref);
    stepper_free(&x);
    spec_free(&s);
}

int main(void)
{
    RUN(test_elman);
    RUN(test_jordan);
    RUN(test_lstm);
    RUN(test_gru);
    RUN(test_where_updates_run);
    RUN(test_kept_copies_follow_writes);
    RUN(test_failures_reported);
    CHECK_EXIT();
}
