/*
 * test_lanes.c - the two-lane schedule (engine/plan_lanes.c) and its
 * executor. At a batch of one row every cell's training plan gets a region
 * whose tasks cover each of its instructions once (whole, or its rows in
 * disjoint chunks), whose waits name tasks of the other lane and always
 * leave one lane free to go on; and running the lanes gives the loss and
 * every gradient the bits of the program run in order, on 2 and 3
 * threads and with one thread running both lanes, in both dtypes; traced
 * too (exec_trace_next), with every instruction in the trace.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "models/spec.h"
#include "train/net.h"

enum { V = 90, H = 48, T = 40 };

static int load_spec(spec *s, const char *cell, const char *dt, uerr *e)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "name: lanes\ndata: {kind: text, path: x}\n"
             "model: {cell: %s, hidden: %d, init: {std: 0.3}}\n"
             "train: {dtype: %s, seq_len: %d, batch: 1, steps: 1,\n"
             "        optimizer: {name: sgd, lr: 0.1}, seed: 3}\n",
             cell, H, dt, T);
    return spec_load_buffer(s, "lanes.yaml", cfg, strlen(cfg), NULL, 0, e);
}

static int build(net *n, const spec *s, int no_lanes, uerr *e)
{
    plan_options po = {.no_lanes = no_lanes};
    if (net_init(n, s, V, 1, T, NET_TRAIN, &po, e))
        return -1;
    net_init_params(n, 5, 0.3);
    int32_t xs[T], ys[T];
    for (int t = 0; t < T; t++) {
        xs[t] = (t * 37 + 11) % V;
        ys[t] = (t * 53 + 29) % V;
    }
    net_set_batch(n, xs, ys);
    return 0;
}

/* Each instruction of region r is computed once: by one whole task, or by
 * chunks that tile its rows. */
static void check_cover(const plan *p, const plan_region *r)
{
    int32_t nt = r->ntask[0] + r->ntask[1];
    int64_t *rows = calloc((size_t)r->n, sizeof *rows);
    int *whole = calloc((size_t)r->n, sizeof *whole);
    int64_t *last = calloc((size_t)r->n, sizeof *last);
    for (int32_t k = 0; k < nt; k++) {
        const plan_task *t = &p->tasks[r->task0 + k];
        CHECK(t->instr >= r->first && t->instr < r->first + r->n);
        int32_t i = t->instr - r->first;
        if (!t->r1) {
            whole[i]++;
            continue;
        }
        CHECK(t->r0 < t->r1);
        rows[i] += t->r1 - t->r0;
        if (t->r1 > last[i])
            last[i] = t->r1;
    }
    for (int32_t i = 0; i < r->n; i++)
        CHECKF(whole[i] == 1 ? rows[i] == 0 : whole[i] == 0 && rows[i] > 0 && rows[i] == last[i],
               "instruction %d: %d whole tasks, %lld rows of %lld", r->first + i, whole[i],
               (long long)rows[i], (long long)last[i]);
    free(rows);
    free(whole);
    free(last);
}

/* One thread running, of lane 0's next task and lane 1's next needed
 * one, one whose wait is met, never finds both waiting; then the rest of
 * lane 1 runs in order. Every wait names tasks the lists have. */
static void check_waits(const plan *p, const plan_region *r)
{
    const plan_task *lane0 = p->tasks + r->task0, *needed = lane0 + r->ntask[0],
                    *rest = needed + r->nneeded;
    int32_t n0 = r->ntask[0], nn = r->nneeded, nr = r->ntask[1] - r->nneeded, k0 = 0, u = 0;
    CHECK(nn >= 0 && nr >= 0);
    for (int32_t i = 0; i < n0; i++)
        CHECK(lane0[i].wait >= 0 && lane0[i].wait <= nn);
    for (int32_t i = 0; i < nn; i++)
        CHECK(needed[i].wait >= 0 && needed[i].wait <= n0 && needed[i].wait2 == 0);
    for (int32_t i = 0; i < nr; i++)
        CHECK(rest[i].wait >= 0 && rest[i].wait <= n0 && rest[i].wait2 <= nn);
    while (k0 < n0 || u < nn) {
        if (k0 < n0 && lane0[k0].wait <= u)
            k0++;
        else if (u < nn && needed[u].wait <= k0)
            u++;
        else {
            CHECKF(0, "lane 0 and the needed list wait for each other: at tasks %d and %d", k0, u);
            return;
        }
    }
}

static int same(const net *a, const net *b, double la, double lb)
{
    return !memcmp(&la, &lb, sizeof la) && !memcmp(a->grads, b->grads, (size_t)a->nparam * a->es);
}

/* A region's window of runs (exec.c: pick_lanes) starts on two lanes,
 * then runs in order, then the way that won: every run the bits of the
 * program in order, and each counted once, one way or the other. Runs
 * that met contention run in order uncounted (lanes_backoff). */
static void check_picks(net *x, const net *ref, double l0, const char *cell, const char *dt)
{
    uerr e = {0};
    double l1 = 0;
    cpu_set_threads(2);
    x->x.lanes_skip = 0;
    for (int32_t r = 0; r < x->p.nregions; r++)
        x->x.picks[r] = (exec_pick){0};
    int nrun = 2 * (EXEC_PICK_TRIES + 1) + 2;
    for (int rep = 0; rep < nrun; rep++) {
        CHECK_OK(net_run(x, &l1, &e), &e);
        CHECKF(same(ref, x, l0, l1), "%s %s, run %d of a window of picks", cell, dt, rep);
    }
    for (int32_t r = 0; r < x->p.nregions; r++) {
        const exec_pick *k = &x->x.picks[r];
        int tried = k->tries[0] > EXEC_PICK_TRIES && k->tries[1] > EXEC_PICK_TRIES;
        CHECKF(k->tries[0] + k->tries[1] <= nrun,
               "%s %s region %d: %d runs counted of %d, %d in order and %d on two lanes", cell, dt,
               r, k->tries[0] + k->tries[1], nrun, k->tries[0], k->tries[1]);
        CHECKF(k->tries[0] == 0 || k->tries[1] > EXEC_PICK_TRIES,
               "%s %s region %d: in order (%d) before %d runs on two lanes (%d)", cell, dt, r,
               k->tries[0], EXEC_PICK_TRIES + 1, k->tries[1]);
        CHECKF(k->tries[1] <= EXEC_PICK_TRIES + 1 || (tried && k->lanes),
               "%s %s region %d: two lanes again (%d) before %d runs in order (%d) or after "
               "losing",
               cell, dt, r, k->tries[1], EXEC_PICK_TRIES + 1, k->tries[0]);
        CHECKF(k->tries[0] <= EXEC_PICK_TRIES + 1 || (tried && !k->lanes),
               "%s %s region %d: in order again (%d) though two lanes won", cell, dt, r,
               k->tries[0]);
    }
}

/* A traced run (exec_trace_next), on two lanes and then in order: the
 * same bits; each instruction in a span, none whole twice; spans of both
 * lanes, or all in order; and the run after it not traced. */
static void check_trace(net *x, const net *ref, double l0, const char *cell, const char *dt)
{
    uerr e = {0};
    int32_t ni = x->p.ninstr;
    exec_trace tr = {.cap = 4 * ni + 64};
    tr.span = calloc((size_t)tr.cap, sizeof *tr.span);
    uint8_t *whole = calloc((size_t)ni, 1), *seen = calloc((size_t)ni, 1);
    CHECK(tr.span && whole && seen);
    cpu_set_threads(2);
    for (int in_order = 0; tr.span && whole && seen && in_order < 2; in_order++) {
        double l1 = 0;
        x->x.lanes_skip = in_order ? 1 << 20 : 0;
        for (int32_t r = 0; r < x->p.nregions; r++)
            x->x.picks[r] = (exec_pick){0};
        memset(whole, 0, (size_t)ni);
        memset(seen, 0, (size_t)ni);
        exec_trace_next(&x->x, &tr);
        CHECK_OK(net_run(x, &l1, &e), &e);
        CHECKF(same(ref, x, l0, l1), "%s %s traced, %s", cell, dt, in_order ? "in order" : "lanes");
        int32_t n = atomic_load(&tr.n), lanes[3] = {0, 0, 0};
        CHECKF(n > 0 && n <= tr.cap, "%s %s: %d spans", cell, dt, n);
        for (int32_t k = 0; k < n && k < tr.cap; k++) {
            const exec_span *sp = &tr.span[k];
            CHECK(sp->instr >= 0 && sp->ninstr >= 1 && sp->instr + sp->ninstr <= ni);
            CHECK(sp->lane >= -1 && sp->lane <= 1 && sp->t0 >= 0 && sp->t0 <= sp->t1);
            lanes[sp->lane + 1]++;
            for (int32_t i = sp->instr; i < sp->instr + sp->ninstr && i < ni; i++) {
                CHECKF(sp->r1 || !whole[i], "%s %s: instruction %d whole twice", cell, dt, i);
                whole[i] |= !sp->r1;
                seen[i] = 1;
            }
        }
        for (int32_t i = 0; i < ni; i++)
            CHECKF(seen[i], "%s %s: instruction %d in no span", cell, dt, i);
        if (in_order)
            CHECKF(!lanes[1] && !lanes[2], "%s %s in order: %d, %d spans on lanes", cell, dt,
                   lanes[1], lanes[2]);
        else
            CHECKF(lanes[1] && lanes[2], "%s %s: lanes 0 and 1 ran %d and %d spans", cell, dt,
                   lanes[1], lanes[2]);
        CHECK_OK(net_run(x, &l1, &e), &e);
        CHECKF(atomic_load(&tr.n) == n, "%s %s: the run after the traced one traced", cell, dt);
    }
    x->x.lanes_skip = 0;
    free(tr.span);
    free(whole);
    free(seen);
}

static void run_cell(const char *cell, const char *dt)
{
    uerr e = {0};
    spec s;
    net ref, x;
    int was = cpu_threads();
    CHECK_OK(load_spec(&s, cell, dt, &e), &e);
    CHECK_OK(build(&ref, &s, 1, &e), &e);
    CHECK_OK(build(&x, &s, 0, &e), &e);
    if (check_failed_)
        return;
    CHECKF(ref.p.nregions == 0, "%s %s: no_lanes plans none", cell, dt);
    CHECKF(x.p.nregions > 0, "%s %s: a batch of one row gets two lanes", cell, dt);
    int32_t split = 0;
    for (int32_t k = 0; k < x.p.ntasks; k++)
        split += x.p.tasks[k].r1 > 0;
    CHECKF(split > 0, "%s %s: some instruction runs as chunks of rows", cell, dt);
    for (int32_t r = 0; r < x.p.nregions; r++) {
        check_cover(&x.p, &x.p.regions[r]);
        check_waits(&x.p, &x.p.regions[r]);
        CHECK(x.p.regions[r].ntask[0] > 0 && x.p.regions[r].ntask[1] > 0);
    }
    double l0 = 0, l1 = 0;
    cpu_set_threads(1);
    CHECK_OK(net_run(&ref, &l0, &e), &e);
    const int threads[] = {2, 3, 1};
    for (int i = 0; i < 3; i++) {
        cpu_set_threads(threads[i]);
        for (int rep = 0; rep < 3; rep++) {
            CHECK_OK(net_run(&x, &l1, &e), &e);
            CHECKF(same(&ref, &x, l0, l1), "%s %s on %d threads: loss %.17g against %.17g", cell,
                   dt, threads[i], l1, l0);
        }
    }
    cpu_set_threads(2);
    x.x.lanes_alone = 1;
    CHECK_OK(net_run(&x, &l1, &e), &e);
    CHECKF(same(&ref, &x, l0, l1), "%s %s, both lanes on one thread", cell, dt);
    /* regions run in order after contention (exec.c: lanes_backoff),
     * each counted by --verbose as a call on one thread */
    x.x.lanes_alone = 0;
    x.x.lanes_skip = 2 * x.p.nregions;
    pool_stats_reset();
    CHECK_OK(net_run(&x, &l1, &e), &e);
    CHECKF(same(&ref, &x, l0, l1), "%s %s, regions in order after contention", cell, dt);
    CHECKF(x.x.lanes_skip == x.p.nregions, "%s %s: %d regions left to run in order", cell, dt,
           (int)x.x.lanes_skip);
    pool_stat st = {0};
    for (int i = 0; pool_stats(i, &st) && strcmp(st.name, "two lanes"); i++)
        ;
    CHECKF(st.name && !strcmp(st.name, "two lanes") && st.calls == x.p.nregions && st.multi == 0,
           "%s %s: two lanes %ld calls, %ld on two threads", cell, dt, st.calls, st.multi);
    check_picks(&x, &ref, l0, cell, dt);
    check_trace(&x, &ref, l0, cell, dt);
    cpu_set_threads(was);
    net_free(&ref);
    net_free(&x);
    spec_free(&s);
}

static void test_elman(void)
{
    run_cell("elman", "float32");
    run_cell("elman", "float64");
}

static void test_jordan(void)
{
    run_cell("jordan", "float32");
    run_cell("jordan", "float64");
}

static void test_lstm(void)
{
    run_cell("lstm", "float32");
    run_cell("lstm", "float64");
}

static void test_gru(void)
{
    run_cell("gru", "float32");
    run_cell("gru", "float64");
}

/* a batch whose rows the row runs split gets no lanes */
static void test_batches_split_rows_instead(void)
{
    uerr e = {0};
    spec s;
    net n;
    CHECK_OK(load_spec(&s, "elman", "float32", &e), &e);
    plan_options po = {0};
    CHECK_OK(net_init(&n, &s, V, 32, T, NET_TRAIN, &po, &e), &e);
    if (check_failed_)
        return;
    CHECK(n.p.nruns > 0);
    CHECK(n.p.nregions == 0);
    net_free(&n);
    spec_free(&s);
}

int main(void)
{
    RUN(test_elman);
    RUN(test_jordan);
    RUN(test_lstm);
    RUN(test_gru);
    RUN(test_batches_split_rows_instead);
    CHECK_EXIT();
}
