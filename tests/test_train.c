/*
 * test_train.c - the runtime end to end, through the library API:
 * shared-parameter gradients are the sum of per-step terms, a fixed seed
 * gives bit-identical parameters, a NaN stops training with a message
 * naming the step and tensor, and a 100,000-step unroll builds, runs
 * forward and backward and frees (its build time is printed, never
 * asserted); model.dropout's masks exist in training nets only and are
 * drawn per global row.
 */
#include "check.h"

#include <malloc.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/plan.h"
#include "models/model.h"
#include "store/store.h"
#include "kernels/cpu.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/ckpt_state.h"
#include "train/data.h"
#include "train/text.h"
#include "train/train.h"

static const char *cfg_text =
    "name: t\n"
    "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\n"
    "model: {cell: elman, hidden: 16}\n"
    "train: {dtype: float64, seq_len: 8, batch: 2, steps: 30,\n"
    "        optimizer: {name: adagrad, lr: 0.1}, clip: {value: 5}, seed: 7}\n";

/* CPU time of this process: another process on the machine slows the
 * wall clock, not this (the build being timed runs on one thread) */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The gradient of W equals the sum of its T per-step terms, each kept
 * addressable in the grad table with its time step. */
static void test_shared_weight_is_sum_of_steps(void)
{
    uerr e = {0};
    spec s;
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), NULL, 0, &e), &e);
    net n;
    data_source c;
    CHECK_OK(train_first_step(&s, NULL, NET_TRAIN, &n, &c, &e), &e);
    /* a non-zero initial state so that step 0's term is not zero */
    for (int64_t i = 0; i < n.m.B * n.m.S; i++)
        ((double *)n.h0)[i] = 0.1 * sin((double)i);
    /* every term must be an output to be read: plan them all */
    int32_t *outs = malloc((size_t)(n.gt.nterms + 1) * sizeof(int32_t));
    for (int64_t k = 0; k < n.gt.nterms; k++)
        outs[k] = n.gt.terms[k].node;
    outs[n.gt.nterms] = n.gt.param_grad[1];
    plan p;
    exec x;
    CHECK_OK(plan_build(&n.m.g, outs, (int)n.gt.nterms + 1, NULL, &p, &e), &e);
    CHECK_OK(exec_init(&x, &n.m.g, &p, &e), &e);
    for (int32_t i = 0; i < p.nleaves; i++)
        exec_bind(&x, p.leaves[i], exec_value(&n.x, p.leaves[i]));
    CHECK_OK(exec_run(&x, &e), &e);
    int64_t HH = n.m.H * n.m.H;
    double *sum = calloc((size_t)HH, sizeof(double));
    int seen[64] = {0}, nterms = 0;
    for (int64_t k = 0; k < n.gt.nterms; k++) {
        if (n.gt.terms[k].param != 1) /* W */
            continue;
        nterms++;
        seen[n.gt.terms[k].t] = 1;
        const double *tv = exec_value(&x, n.gt.terms[k].node);
        for (int64_t i = 0; i < HH; i++)
            sum[i] += tv[i];
    }
    CHECKF(nterms == n.m.T, "W has %d terms for T = %lld", nterms, (long long)n.m.T);
    for (int t = 0; t < n.m.T; t++)
        CHECKF(seen[t], "no term for t = %d", t);
    const double *dW = exec_value(&x, n.gt.param_grad[1]);
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < HH; i++) {
        diff = fmax(diff, fabs(sum[i] - dW[i]));
        scale = fmax(scale, fabs(dW[i]));
    }
    CHECKF(diff <= 1e-12 * fmax(scale, 1e-300) + 1e-300, "sum of terms differs by %.3e", diff);
    CHECK(scale > 0);
    free(sum);
    free(outs);
    exec_free(&x);
    plan_free(&p);
    net_free(&n);
    data_free(&c);
    spec_free(&s);
}

static int train_into(const char *db, const char *extra, store_loaded *ck, train_result *r)
{
    uerr e = {0};
    spec s;
    const char *sets[2] = {extra, NULL};
    if (spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, extra ? 1 : 0, &e)) {
        printf("  %s\n", e.msg);
        return -1;
    }
    store *st = NULL;
    int rc = store_open(&st, db, 0, &e);
    train_opts o = {.db = st};
    if (!rc)
        rc = train_run(&s, &o, r, &e);
    if (!rc && ck)
        rc = store_checkpoint_load(st, r->checkpoint, ck, &e);
    if (rc)
        printf("  %s\n", e.msg);
    store_close(st);
    spec_free(&s);
    return rc;
}

/* Same seed, same config: the same bytes (the store hashes every tensor). */
static void test_same_seed_bit_identical(void)
{
    char dir[] = "/tmp/unroll-train-XXXXXX", db1[300], db2[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(db1, sizeof db1, "%s/a.db", dir);
    snprintf(db2, sizeof db2, "%s/b.db", dir);
    for (int f32 = 0; f32 < 2; f32++) {
        store_loaded a = {0}, b = {0};
        train_result ra, rb;
        const char *set = f32 ? "train.dtype=float32" : NULL;
        CHECK(train_into(db1, set, &a, &ra) == 0);
        CHECK(train_into(db2, set, &b, &rb) == 0);
        CHECK(a.n > 0 && a.n == b.n);
        int params = 0;
        for (int i = 0; i < a.n && a.n == b.n; i++) {
            CHECKF(!strcmp(a.t[i].hash, b.t[i].hash), "tensor %s differs", a.t[i].name);
            params += !strcmp(a.t[i].role, "param");
        }
        CHECK(params == 5);
        CHECK(ra.last_loss == rb.last_loss);
        store_loaded_free(&a);
        store_loaded_free(&b);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* on_state runs after the final checkpoint, before the run's status is
 * written: a write lock taken here by another connection makes that
 * write fail. */
typedef struct locker {
    const char *path;
    sqlite3 *db;
} locker;

static void lock_store(void *ctx, const store_tensor *t, int n)
{
    locker *k = ctx;
    (void)t;
    (void)n;
    if (sqlite3_open_v2(k->path, &k->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(k->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        printf("  could not lock %s\n", k->path);
}

/* A run whose final status cannot be recorded fails: the store would
 * still say "running" while the caller heard success. */
static void test_unrecorded_finish_fails(void)
{
    char dir[] = "/tmp/unroll-train-XXXXXX", db[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof db, "%s/f.db", dir);
    uerr e = {0};
    spec s;
    store *st = NULL;
    locker k = {db, NULL};
    train_result r;
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), NULL, 0, &e), &e);
    CHECK_OK(store_open(&st, db, 0, &e), &e);
    CHECK_OK(store_busy_timeout(st, 10, &e), &e);
    train_opts o = {.db = st, .on_state = lock_store, .ctx = &k};
    int rc = train_run(&s, &o, &r, &e);
    CHECKF(rc == UERR_USER && strstr(e.msg, "locked") && strstr(e.msg, "run's status"),
           "train_run returned %d: %s", rc, e.msg);
    sqlite3_exec(k.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(k.db);
    store_run sr;
    CHECK_OK(store_run_get(st, 1, &sr, &e), &e);
    CHECK(sr.status && !strcmp(sr.status, "running"));
    store_run_free(&sr);
    store_close(st);
    spec_free(&s);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* Every tensor of a training state, under each optimiser, has the role
 * ckpt_role reads from its name: what an --all export and an import
 * rely on to give a checkpoint back as it was. */
static void check_roles(void *ctx, const store_tensor *t, int n)
{
    int *bad = ctx;
    for (int i = 0; i < n; i++)
        if (strcmp(ckpt_role(t[i].name), t[i].role)) {
            printf("  %s: role %s, ckpt_role says %s\n", t[i].name, t[i].role,
                   ckpt_role(t[i].name));
            (*bad)++;
        }
    *bad += n == 0;
}

static void test_roles_from_names(void)
{
    static const char *const opts[] = {"train.optimizer.name=sgd", "train.optimizer.name=momentum",
                                       "train.optimizer.name=adagrad", "train.optimizer.name=adam"};
    for (int k = 0; k < 4; k++) {
        uerr e = {0};
        spec s;
        const char *sets[2] = {"train.steps=2", opts[k]};
        int bad = 0;
        train_result r;
        CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 2, &e), &e);
        train_opts o = {.on_state = check_roles, .ctx = &bad};
        CHECK_OK(train_run(&s, &o, &r, &e), &e);
        CHECKF(bad == 0, "%s: %d tensors with another role", opts[k], bad);
        spec_free(&s);
    }
    /* accumulated blocks' state and early stopping's record */
    uerr e = {0};
    spec s;
    const char *sets[] = {"train.steps=2", "data.valid_fraction=0.2", "train.valid_every=1",
                          "train.early_stop.patience=5", "train.accumulate=2"};
    int bad = 0;
    train_result r;
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 5, &e), &e);
    train_opts o = {.on_state = check_roles, .ctx = &bad};
    CHECK_OK(train_run(&s, &o, &r, &e), &e);
    CHECKF(bad == 0, "accumulate, early_stop: %d tensors with another role", bad);
    spec_free(&s);
    CHECK(!strcmp(ckpt_role("adam.m.W"), "optim") && !strcmp(ckpt_role("adam.W"), "param") &&
          !strcmp(ckpt_role("momentum.velocityW"), "param"));
}

/* The masks of net n as doubles: mask i, row b, column j. */
static double mask_at(const net *n, int i, int64_t b, int64_t j)
{
    const double *x = n->drops;
    for (int k = 0; k < i; k++)
        x += shape_numel(&n->m.g.nodes[n->m.drop[k].node].shape);
    return x[b * n->m.g.nodes[n->m.drop[i].node].shape.dim[1] + j];
}

/* model.dropout: masks in training nets only; each element 0 or
 * 1 / (1 - p), about p of them 0, a one-hot input's mask constant along
 * its row; a net of rows 2..3 (an accumulated block, a rank) draws what
 * the whole batch's net draws for those rows; another step draws anew. */
static void test_dropout_masks(void)
{
    uerr e = {0};
    spec s;
    const char *sets[] = {"model.dropout.input=0.5", "model.dropout.output=0.25",
                          "model.dropout.state=0.5", "train.batch=4"};
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 4, &e), &e);
    net all, part, ev;
    CHECK_OK(net_init(&all, &s, 20, 4, 8, NET_TRAIN, NULL, &e), &e);
    CHECK_OK(net_init(&part, &s, 20, 2, 8, NET_TRAIN, NULL, &e), &e);
    CHECK_OK(net_init(&ev, &s, 20, 4, 8, NET_FORWARD, NULL, &e), &e);
    CHECK(ev.m.ndrop == 0 && !ev.drops);
    /* x[t]'s lookups (U) and the output's h[t] per step, h[t-1] once */
    CHECKF(all.m.ndrop == 8 + 8 + 1 && part.m.ndrop == all.m.ndrop, "%d masks", all.m.ndrop);
    CHECK(mask_at(&all, 0, 0, 0) == 1); /* ones until drawn */
    net_set_dropout(&all, 7, 3, 0);
    net_set_dropout(&part, 7, 3, 2);
    int64_t zeros[MODEL_DROP_KINDS] = {0}, count[MODEL_DROP_KINDS] = {0}, odd = 0, differ = 0;
    int64_t rowwise = 0;
    for (int i = 0; i < all.m.ndrop; i++) {
        const model_drop *d = &all.m.drop[i];
        double p = all.m.pdrop[d->kind];
        int64_t w = all.m.g.nodes[d->node].shape.dim[1];
        for (int64_t b = 0; b < 4; b++)
            for (int64_t j = 0; j < w; j++) {
                double v = mask_at(&all, i, b, j);
                odd += v != 0 && v != 1 / (1 - p);
                zeros[d->kind] += v == 0;
                count[d->kind]++;
                rowwise += d->per_row && v != mask_at(&all, i, b, 0);
                if (b >= 2)
                    differ += v != mask_at(&part, i, b - 2, j);
            }
    }
    CHECK(odd == 0 && rowwise == 0 && differ == 0);
    for (int k = 0; k < MODEL_DROP_KINDS; k++) {
        double share = (double)zeros[k] / (double)count[k], p = all.m.pdrop[k];
        CHECKF(fabs(share - p) < 0.1, "kind %d: %.3f dropped, p %.2f", k, share, p);
    }
    /* the state mask, one for every step: rows 2..3 at step 3, then 4 */
    int last = 0;
    while (last < all.m.ndrop - 1 && all.m.drop[last].kind != MODEL_DROP_STATE)
        last++;
    CHECK(all.m.drop[last].kind == MODEL_DROP_STATE && all.m.drop[last].t == -1);
    int64_t same = 0;
    net_set_dropout(&all, 7, 4, 0);
    for (int64_t j = 0; j < 16; j++)
        same += mask_at(&all, last, 2, j) == mask_at(&part, last, 0, j);
    CHECKF(same < 16, "step 4 drew step 3's state mask (%lld of 16 the same)", (long long)same);
    net_free(&all);
    net_free(&part);
    net_free(&ev);
    spec_free(&s);
}

/* A learning rate that blows up: stopped with the step and the tensor named. */
static void test_nan_stops_training(void)
{
    uerr e = {0};
    spec s;
    const char *sets[] = {"train.optimizer.name=sgd", "train.optimizer.lr=1e308",
                          "train.clip.value=0"};
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 3, &e), &e);
    train_opts o = {0};
    train_result r;
    CHECK(train_run(&s, &o, &r, &e) == UERR_USER);
    CHECKF(strstr(e.msg, "step ") && (strstr(e.msg, "non-finite") || strstr(e.msg, "loss is")),
           "got: %s", e.msg);
    printf("  %s\n", e.msg);
    spec_free(&s);
}

/* Unrolls T steps of a hidden-8 Elman net, differentiates, plans; returns
 * the build time (unroll + build_grad + plan). */
static double build_long(int64_t T, int run, int32_t *nodes)
{
    uerr e = {0};
    spec s;
    const char *sets[] = {"model.hidden=8", "train.batch=1"};
    if (spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 2, &e))
        return -1;
    double t0 = now_s();
    net n;
    if (net_init(&n, &s, 10, 1, T, NET_TRAIN, NULL, &e)) {
        printf("  %s\n", e.msg);
        spec_free(&s);
        return -1;
    }
    double dt = now_s() - t0;
    *nodes = n.m.g.n;
    if (run) {
        net_init_params(&n, 1, 0.1);
        for (int64_t i = 0; i < T; i++)
            n.xs[i] = (int32_t)(i % 10), n.ys[i] = (int32_t)((i + 1) % 10);
        double loss;
        double t1 = now_s();
        if (net_run(&n, &loss, &e))
            printf("  %s\n", e.msg);
        printf("  T=%lld forward+backward %.3f s, loss/token %.4f, "
               "arena %.1f MiB (no reuse: %.1f MiB)\n",
               (long long)T, now_s() - t1, loss / (double)T, (double)n.p.arena_bytes / 1048576.0,
               (double)n.p.naive_bytes / 1048576.0);
        if (!isfinite(loss))
            dt = -1;
    }
    net_free(&n);
    spec_free(&s);
    return dt;
}

static void test_100k_step_unroll(void)
{
    int32_t n1 = 0, n2 = 0;
    double t1 = build_long(10000, 0, &n1);
    double t2 = build_long(100000, 1, &n2);
    CHECK(t1 > 0 && t2 > 0);
    printf("  build+autodiff+plan: T=10,000 %.3f s (%d nodes), T=100,000 %.3f s (%d nodes), "
           "ratio %.1f\n",
           t1, n1, t2, n2, t2 / t1);
    /* the times are printed, not asserted: make test never fails on the
     * load of the machine (make bench measures) */
    CHECK(n2 > 9 * n1 && n2 < 11 * n1);
}

/* A training step (run, clip, update) allocates nothing: the heap's
 * in-use bytes are the same after 20 steps as after the first. On one
 * thread: under two lanes (this batch of 2 has them) which thread runs a
 * lane, and so when a worker's scratch first grows (once, kept for the
 * thread's life), depends on the load. */
static void test_step_allocates_nothing(void)
{
    uerr e = {0};
    spec s;
    int was = cpu_threads();
    cpu_set_threads(1);
    CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), NULL, 0, &e), &e);
    net n;
    data_source c;
    optim o;
    CHECK_OK(train_first_step(&s, NULL, NET_TRAIN, &n, &c, &e), &e);
    CHECK_OK(optim_init(&o, &s, n.nparam, &e), &e);
    double loss;
    CHECK_OK(net_run(&n, &loss, &e), &e);
    optim_step(&o, n.params, n.grads);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 20; i++) {
        net_run(&n, &loss, &e);
        clip_by_value(n.dt, n.grads, n.nparam, 5);
        optim_step(&o, n.params, n.grads);
    }
    struct mallinfo2 after = mallinfo2();
    CHECKF(before.uordblks == after.uordblks && before.hblkhd == after.hblkhd,
           "heap in use went from %zu + %zu to %zu + %zu bytes", before.uordblks, before.hblkhd,
           after.uordblks, after.hblkhd);
    cpu_set_threads(was);
    optim_free(&o);
    net_free(&n);
    data_free(&c);
    spec_free(&s);
}

/* A text's ids are held for the run in the fewest bytes its vocabulary
 * allows (1 for the golden text, 2 for 300 symbols), never also as int32;
 * the chunks are the ids read back (train/batch.h). */
static void test_text_ids_narrow(void)
{
    char path[] = "/tmp/unroll_narrow_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    for (int k = 0; f && k < 3000; k++) { /* U+0100 .. U+022B, 2 bytes each */
        int c = 0x100 + (k * 7) % 300;
        fputc(0xC0 | c >> 6, f);
        fputc(0x80 | (c & 0x3F), f);
    }
    if (f)
        fclose(f);
    const char *paths[] = {"tests/golden/min_char_rnn/text.txt", path};
    for (int w = 0; w < 2; w++) {
        uerr e = {0};
        spec s;
        char set[96];
        snprintf(set, sizeof set, "data.path=%s", paths[w]);
        const char *sets[] = {set};
        CHECK_OK(spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 1, &e), &e);
        data_source d;
        CHECK_OK(data_open(&d, &s, &e), &e);
        CHECK_OK(data_prepare(&d, &e), &e);
        CHECKF(d.width == 1 + w && d.ids && !d.text.train, "%s: width %d", paths[w], d.width);
        CHECK(w == 0 || d.text.vocab.size == 300);
        int32_t in[16], tg[16];
        data_next(&d, in, tg);
        CHECK(in[1] == tg[0] && in[0] >= 0 && in[0] < d.text.vocab.size);
        CHECK(w == 0 || (in[0] == 0 && in[1] == 7)); /* U+0100, U+0107 */
        data_free(&d);
        spec_free(&s);
    }
    unlink(path);
}

int main(void)
{
    RUN(test_step_allocates_nothing);
    RUN(test_shared_weight_is_sum_of_steps);
    RUN(test_same_seed_bit_identical);
    RUN(test_unrecorded_finish_fails);
    RUN(test_roles_from_names);
    RUN(test_nan_stops_training);
    RUN(test_dropout_masks);
    RUN(test_100k_step_unroll);
    RUN(test_text_ids_narrow);
    CHECK_EXIT();
}
