/*
 * test_recompute.c - checkpointed BPTT (train.memory_budget) changes how
 * much is stored, never what is computed:
 *
 * - recomputing forward segments of any length gives losses, gradients
 *   and final states bit-identical to the plan that stores every step
 *   (PLAN_FUSE_EXACT), for Elman, Jordan (teacher forced), LSTM, GRU, two
 *   stacked layers, masked variable-length batches and a bidirectional
 *   classifier, in float32 and float64;
 * - a budget is kept: the arena fits it, shrinks with the budget, and
 *   the gradients are still those of the unbudgeted plan;
 * - a budget below what any segment length needs is a user error that
 *   says how much is needed;
 * - text validation (NET_LOSS) stores no step: its arena does not grow
 *   with T.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

#include "engine/recompute.h"
#include "train/net.h"
#include "train/rng.h"

typedef struct result {
    double loss;
    void *grads, *hT;
    size_t gbytes, hbytes, arena;
    int32_t seg, extra;
} result;

static void result_free(result *r)
{
    free(r->grads);
    free(r->hT);
    memset(r, 0, sizeof *r);
}

/* One training step of the net a config and io describe, on inputs drawn
 * from a fixed seed (lengths too, for a masked model). */
static int run_net(const char *cfg, const model_io *io, int64_t B, int64_t T,
                   const plan_options *po, result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    spec s;
    int rc = spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, e);
    if (rc)
        return rc;
    net n;
    if ((rc = net_init_io(&n, &s, io, B, T, NET_TRAIN, po, e))) {
        spec_free(&s);
        return rc;
    }
    net_init_params(&n, 3, 0.5);
    rng g;
    rng_seed(&g, 9);
    int32_t *in = malloc((size_t)(B * T) * sizeof(int32_t));
    int32_t *tg = malloc((size_t)(B * T) * sizeof(int32_t));
    int32_t *mask = malloc((size_t)(B * T) * sizeof(int32_t));
    for (int64_t b = 0; b < B; b++) {
        int64_t len = io->masked ? 1 + (int64_t)rng_below(&g, (uint64_t)T) : T;
        for (int64_t t = 0; t < T; t++) {
            in[b * T + t] = (int32_t)rng_below(&g, (uint64_t)io->input);
            tg[b * T + t] = (int32_t)rng_below(&g, (uint64_t)io->output);
            mask[b * T + t] = t < len;
        }
    }
    net_set_batch(&n, in, tg);
    if (io->masked)
        net_set_mask(&n, mask);
    for (int64_t i = 0; i < n.m.B * n.m.S; i++) {
        double h = 0.3 * rng_normal(&g);
        if (n.dt == DT_F32)
            ((float *)n.h0)[i] = (float)h;
        else
            ((double *)n.h0)[i] = h;
    }
    r->gbytes = (size_t)n.nparam * n.es;
    r->hbytes = n.state_bytes;
    r->grads = malloc(r->gbytes);
    r->hT = malloc(r->hbytes ? r->hbytes : 1);
    if (!(rc = net_run(&n, &r->loss, e))) {
        memcpy(r->grads, n.grads, r->gbytes);
        if (n.m.hT >= 0)
            memcpy(r->hT, exec_value(&n.x, n.m.hT), r->hbytes);
    }
    r->arena = n.p.arena_bytes;
    r->seg = n.rc.seg;
    r->extra = n.rc.extra_nodes;
    free(in);
    free(tg);
    free(mask);
    net_free(&n);
    spec_free(&s);
    return rc;
}

static int same(const result *a, const result *b)
{
    if (!a->grads || !b->grads || !a->hT || !b->hT)
        return 0;
    return a->loss == b->loss && a->gbytes == b->gbytes && !memcmp(a->grads, b->grads, a->gbytes) &&
           a->hbytes == b->hbytes && !memcmp(a->hT, b->hT, a->hbytes);
}

typedef struct model_case {
    const char *name, *cfg;
    model_io io;
} model_case;

#define TEXT_DATA "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\n"
#define CLS_DATA "data: {kind: classify, path: x.tsv}\n"
#define NPY_DATA "data: {kind: npy, path: x}\n"

static const model_case cases[] = {
    {"elman", TEXT_DATA "model: {cell: elman, hidden: 5}\ntrain: {dtype: %s}\n", {6, 6, 0, 0, 0}},
    {"jordan", TEXT_DATA "model: {cell: jordan, hidden: 5}\ntrain: {dtype: %s}\n", {6, 6, 0, 0, 0}},
    {"lstm", TEXT_DATA "model: {cell: lstm, hidden: 4}\ntrain: {dtype: %s}\n", {6, 6, 0, 0, 0}},
    {"gru", TEXT_DATA "model: {cell: gru, hidden: 4}\ntrain: {dtype: %s}\n", {6, 6, 0, 0, 0}},
    {"2 layers",
     TEXT_DATA "model: {cell: elman, hidden: 4, layers: 2}\ntrain: {dtype: %s}\n",
     {6, 6, 0, 0, 0}},
    {"masked lstm",
     NPY_DATA "model: {cell: lstm, hidden: 4}\ntrain: {dtype: %s}\n",
     {6, 3, 1, 0, 0}},
    {"bidirectional",
     CLS_DATA "model: {cell: gru, hidden: 3, bidirectional: true, outputs: "
              "last_step}\ntrain: {dtype: %s}\n",
     {6, 3, 1, 0, 0}},
};

/* Every segment length, down to one step: the same bits as storing all. */
static void test_segments_bit_identical(void)
{
    const int64_t B = 3, T = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int f32 = 0; f32 < 2; f32++) {
            char cfg[512];
            snprintf(cfg, sizeof cfg, cases[c].cfg, f32 ? "float32" : "float64");
            uerr e = {0};
            result full, seg;
            plan_options pe = {.fuse = PLAN_FUSE_EXACT};
            CHECK_OK(run_net(cfg, &cases[c].io, B, T, &pe, &full, &e), &e);
            int all_same = 1, recomputed = 1;
            const int32_t segs[] = {1, 2, 3, 7};
            for (int k = 0; k < 4; k++) {
                plan_options pr = {.fuse = PLAN_FUSE_ALL, .recompute_seg = segs[k]};
                CHECK_OK(run_net(cfg, &cases[c].io, B, T, &pr, &seg, &e), &e);
                all_same &= same(&full, &seg);
                recomputed &= seg.seg == segs[k] && seg.extra > 0;
                result_free(&seg);
            }
            CHECKF(all_same, "%s %s: recomputing segments changes the gradients", cases[c].name,
                   f32 ? "float32" : "float64");
            CHECKF(recomputed, "%s: the forward pass was not recomputed", cases[c].name);
            result_free(&full);
        }
}

/* A long unroll under shrinking budgets: each is kept, recomputing, and
 * the gradients are those of storing every step. */
static void test_budget_kept(void)
{
    const int64_t B = 4, T = 400;
    const model_io io = {12, 12, 0, 0, 0};
    const char *fmt = TEXT_DATA "model: {cell: lstm, hidden: 16}\n"
                                "train: {dtype: float64, memory_budget: %zu}\n";
    char cfg[512];
    uerr e = {0};
    result full, r;
    snprintf(cfg, sizeof cfg, fmt, (size_t)0);
    plan_options pe = {.fuse = PLAN_FUSE_EXACT};
    CHECK_OK(run_net(cfg, &io, B, T, &pe, &full, &e), &e);
    for (int div = 2; div <= 8; div *= 2) {
        size_t budget = full.arena / (size_t)div;
        snprintf(cfg, sizeof cfg, fmt, budget);
        CHECK_OK(run_net(cfg, &io, B, T, NULL, &r, &e), &e);
        CHECKF(r.arena <= budget && r.seg > 0, "budget %zu: arena %zu, segments of %d", budget,
               r.arena, r.seg);
        CHECKF(same(&full, &r), "budget 1/%d: the gradients changed", div);
        printf("  lstm H=16 B=4 T=400 float64: budget 1/%-2d of %zu bytes -> arena %zu "
               "(segments of %d steps, %d nodes recomputed)\n",
               div, full.arena, r.arena, r.seg, r.extra);
        result_free(&r);
    }
    /* between the least arena and sqrt(T)'s: the search walks to shorter
     * segments */
    snprintf(cfg, sizeof cfg, fmt, (size_t)105000);
    CHECK_OK(run_net(cfg, &io, B, T, NULL, &r, &e), &e);
    CHECKF(r.arena <= 105000 && r.seg > 0 && r.seg < 20 && same(&full, &r),
           "budget 105000: arena %zu, segments of %d", r.arena, r.seg);
    printf("  budget 105000 bytes -> arena %zu (segments of %d steps)\n", r.arena, r.seg);
    result_free(&r);
    /* far too small: a user error naming what is needed */
    snprintf(cfg, sizeof cfg, fmt, (size_t)1000);
    int rc = run_net(cfg, &io, B, T, NULL, &r, &e);
    CHECKF(rc == UERR_USER && strstr(e.msg, "too small") && strstr(e.msg, "at least"),
           "a budget of 1000 bytes: rc %d, %s", rc, e.msg);
    result_free(&r);
    result_free(&full);
}

/* Text validation keeps no step's activations (planned without stacking,
 * as it is under a budget). */
static void test_loss_net_flat_in_T(void)
{
    const char *cfg = TEXT_DATA "model: {cell: elman, hidden: 16}\n";
    spec s;
    uerr e = {0};
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e), &e);
    size_t arena[2];
    const int64_t Ts[2] = {50, 500};
    for (int i = 0; i < 2; i++) {
        net n;
        plan_options pe = {.fuse = PLAN_FUSE_EXACT};
        CHECK_OK(net_init(&n, &s, 10, 4, Ts[i], NET_LOSS, &pe, &e), &e);
        arena[i] = n.p.arena_bytes;
        net_free(&n);
    }
    CHECKF(arena[1] < 2 * arena[0], "NET_LOSS arena grows with T: %zu at T=50, %zu at T=500",
           arena[0], arena[1]);
    spec_free(&s);
}

int main(void)
{
    RUN(test_segments_bit_identical);
    RUN(test_budget_kept);
    RUN(test_loss_net_flat_in_T);
    CHECK_EXIT();
}
