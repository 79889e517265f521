/*
 * test_resume.c - exact resume and its relatives, through the library:
 *
 * - N steps in one go, or k steps, a stop (the SIGINT path) and a resume
 *   to N: the final checkpoint's every tensor (parameters, optimiser
 *   slots and step count, carried state, cursor, RNG) and every logged
 *   metric are bit-identical. In float64 and float32, batch 1 and batch
 *   3 with carried state, Adagrad and Adam, text and shuffled
 *   classification minibatches, and resumed from an older checkpoint
 *   (whose later metrics are dropped).
 * - ckpt verify replays a checkpoint from its parent and finds it equal;
 *   a checkpoint altered behind the store's back fails verification.
 * - --from: a new run whose parent is the checkpoint, loading the
 *   parameters that fit and naming those that do not.
 * - A resume on changed data is refused unless forced.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"
#include "train/train.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[8][200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static const char *text_cfg =
    "name: r\n"
    "data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0.2}\n"
    "model: {cell: elman, hidden: 12}\n"
    "train: {dtype: float64, seq_len: 7, batch: 1, steps: 30, valid_every: 4,\n"
    "        optimizer: {name: adagrad, lr: 0.1}, clip: {value: 5}, seed: 11,\n"
    "        checkpoint: {every: 6}}\n";

/* Stops training after step `at`, as the SIGINT handler would. */
typedef struct stopper {
    int64_t at;
    volatile sig_atomic_t flag;
} stopper;

static void stop_at(void *ctx, const train_progress *p)
{
    stopper *s = ctx;
    if (p->step == s->at)
        s->flag = 1;
}

/* Trains cfg (+ sets) into db under name; stops after step stop (0: no
 * stop). Returns the run id, or 0 on failure (message printed). */
static int64_t train_into(const char *db, const char *cfg, const char *const *sets, int nsets,
                          const char *name, int64_t stop, train_result *r)
{
    uerr e = {0};
    spec s;
    if (spec_load_buffer(&s, "r.yaml", cfg, strlen(cfg), sets, nsets, &e)) {
        printf("  %s\n", e.msg);
        return 0;
    }
    store *st = NULL;
    stopper sp = {stop, 0};
    train_opts o = {
        .run_name = name, .progress = stop ? stop_at : NULL, .ctx = &sp, .stop = &sp.flag};
    int rc = store_open(&st, db, 0, &e);
    o.db = st;
    if (!rc)
        rc = train_run(&s, &o, r, &e);
    if (rc)
        printf("  %s\n", e.msg);
    store_close(st);
    spec_free(&s);
    return rc ? 0 : r->run;
}

/* Resumes checkpoint ref of db up to the run's (or overridden) steps. */
static int resume_into(const char *db, const char *ref, const char *const *sets, int nsets,
                       int force, train_result *r, uerr *e)
{
    store *st = NULL;
    store_loaded l = {0};
    store_run run = {0};
    spec s = {0};
    int64_t ck;
    int rc = store_open(&st, db, 0, e);
    if (!rc)
        rc = store_checkpoint_resolve(st, ref, &ck, e);
    if (!rc)
        rc = store_checkpoint_load(st, ck, &l, e);
    if (!rc)
        rc = store_run_get(st, l.run, &run, e);
    if (!rc)
        rc = spec_load_buffer(&s, "stored", run.config_text, strlen(run.config_text), sets, nsets,
                              e);
    train_opts o = {.db = st, .resume = &l, .force = force};
    if (!rc)
        rc = train_run(&s, &o, r, e);
    spec_free(&s);
    store_run_free(&run);
    store_loaded_free(&l);
    store_close(st);
    return rc;
}

/* Every tensor of the runs' latest checkpoints and every metric row:
 * the same bytes. */
static int same_runs(const char *dba, const char *runa, const char *dbb, const char *runb)
{
    uerr e = {0};
    store *a = NULL, *b = NULL;
    store_loaded la = {0}, lb = {0};
    int64_t ca, cb, ra, rb;
    int same = 0;
    if (store_open(&a, dba, 1, &e) || store_open(&b, dbb, 1, &e) ||
        store_checkpoint_resolve(a, runa, &ca, &e) || store_checkpoint_resolve(b, runb, &cb, &e) ||
        store_checkpoint_load(a, ca, &la, &e) || store_checkpoint_load(b, cb, &lb, &e) ||
        store_run_resolve(a, runa, &ra, &e) || store_run_resolve(b, runb, &rb, &e)) {
        printf("  %s\n", e.msg);
        goto out;
    }
    same = la.step == lb.step && la.n == lb.n;
    if (!same)
        printf("  step %lld vs %lld, %d vs %d tensors\n", (long long)la.step, (long long)lb.step,
               la.n, lb.n);
    for (int i = 0; same && i < la.n; i++) {
        const store_loaded_tensor *t = store_loaded_find(&lb, la.t[i].name);
        if (!t || strcmp(t->hash, la.t[i].hash)) {
            printf("  tensor '%s' differs\n", la.t[i].name);
            same = 0;
        }
    }
    if (same &&
        strcmp(la.metrics_json ? la.metrics_json : "", lb.metrics_json ? lb.metrics_json : "")) {
        printf("  checkpoint metrics %s vs %s\n", la.metrics_json, lb.metrics_json);
        same = 0;
    }
    char *ma = NULL, *mb = NULL;
    size_t na = 0, nb = 0;
    FILE *fa = open_memstream(&ma, &na), *fb = open_memstream(&mb, &nb);
    if (store_metrics_csv(a, ra, fa, &e) || store_metrics_csv(b, rb, fb, &e))
        printf("  %s\n", e.msg);
    fclose(fa);
    fclose(fb);
    if (same && (na != nb || memcmp(ma, mb, na))) {
        printf("  the logged metrics differ (%zu vs %zu bytes of CSV)\n", na, nb);
        same = 0;
    }
    if (same && na < 200) {
        printf("  too few metrics logged\n");
        same = 0;
    }
    free(ma);
    free(mb);
out:
    store_loaded_free(&la);
    store_loaded_free(&lb);
    store_close(a);
    store_close(b);
    return same;
}

static void rm_dbs(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.db %s/*.db-wal %s/*.db-shm", dir, dir, dir);
    if (system(cmd) != 0)
        printf("  cleanup failed\n");
}

/* Straight N vs stop at k + resume, for one variant of the config. */
static void straight_vs_resumed(const char *cfg, const char *const *sets, int nsets, int64_t k)
{
    rm_dbs();
    train_result r1, r2, r3;
    uerr e = {0};
    CHECK(train_into(path_in("a.db"), cfg, sets, nsets, "straight", 0, &r1) > 0);
    CHECK(train_into(path_in("b.db"), cfg, sets, nsets, "resumed", k, &r2) > 0);
    CHECKF(r2.interrupted && r2.steps_done == k, "stopped at %lld", (long long)r2.steps_done);
    CHECK_OK(resume_into(path_in("b.db"), "resumed", NULL, 0, 0, &r3, &e), &e);
    CHECK(r3.start_step == k && r3.steps_done == r1.steps_done && !r3.interrupted);
    CHECK(same_runs(path_in("a.db"), "straight", path_in("b.db"), "resumed"));
}

static void test_resume_float64_batch1(void)
{
    straight_vs_resumed(text_cfg, NULL, 0, 13);
}

static void test_resume_float32_batch1(void)
{
    const char *sets[] = {"train.dtype=float32"};
    straight_vs_resumed(text_cfg, sets, 1, 13);
}

static void test_resume_batch3_adam(void)
{
    const char *sets[] = {"train.batch=3", "train.optimizer.name=adam", "train.optimizer.lr=0.01",
                          "train.clip.value=0", "train.clip.norm=1"};
    straight_vs_resumed(text_cfg, sets, 5, 17);
    const char *sets32[] = {"train.batch=3", "train.dtype=float32", "train.optimizer.name=adam",
                            "train.optimizer.lr=0.01"};
    straight_vs_resumed(text_cfg, sets32, 4, 6);
}

/* Shuffled minibatches: the example order, the epoch and the RNG that
 * draws the next permutation are part of the state. Stopped mid-epoch. */
static void test_resume_shuffled_classify(void)
{
    const char *tsv = path_in("words.tsv");
    FILE *f = fopen(tsv, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    static const char *const words[] = {"cat",  "dog",   "bird",   "hund", "katze", "vogel",
                                        "chat", "chien", "oiseau", "gato", "perro", "ave"};
    static const char *const lang[] = {"en", "de", "fr", "es"};
    for (int i = 0; i < 12; i++)
        for (int rep = 0; rep < 3; rep++)
            fprintf(f, "%s%s\t%s\n", words[i], rep ? (rep == 1 ? "s" : "e") : "", lang[i / 3]);
    fclose(f);
    char cfg[600];
    snprintf(cfg, sizeof cfg,
             "name: c\n"
             "data: {kind: classify, path: %s, valid_fraction: 0.2}\n"
             "model: {cell: elman, hidden: 10, outputs: last_step}\n"
             "train: {dtype: float64, seq_len: 10, batch: 4, steps: 25, valid_every: 5,\n"
             "        optimizer: {name: adam, lr: 0.01}, seed: 5, checkpoint: {every: 4}}\n",
             tsv);
    /* 28 training examples, 7 batches an epoch: stop inside epoch 2 */
    straight_vs_resumed(cfg, NULL, 0, 10);
}

/* npy data (dense vectors with lengths, and ids): shuffled the same way,
 * through the same state. */
static void test_resume_shuffled_npy(void)
{
    static const char *const dirs[] = {"tests/data/parity_dense", "tests/data/parity_ids"};
    for (int i = 0; i < 2; i++) {
        char cfg[600];
        snprintf(cfg, sizeof cfg,
                 "name: p\n"
                 "data: {kind: npy, path: %s, valid_fraction: 0.2}\n"
                 "model: {cell: elman, hidden: 8}\n"
                 "train: {dtype: float64, batch: 5, steps: 40, valid_every: 10,\n"
                 "        optimizer: {name: adam, lr: 0.01}, seed: 9, checkpoint: {every: 7}}\n",
                 dirs[i]);
        straight_vs_resumed(cfg, NULL, 0, 23);
    }
}

/* Resuming from an older checkpoint: what the interrupted process logged
 * after it is dropped and logged again, identically. */
static void test_resume_from_older_checkpoint(void)
{
    rm_dbs();
    train_result r1, r2, r3;
    uerr e = {0};
    CHECK(train_into(path_in("a.db"), text_cfg, NULL, 0, "straight", 0, &r1) > 0);
    CHECK(train_into(path_in("b.db"), text_cfg, NULL, 0, "r", 20, &r2) > 0);
    CHECK_OK(resume_into(path_in("b.db"), "r@12", NULL, 0, 0, &r3, &e), &e);
    CHECKF(r3.metrics_dropped == 8 + 2, "dropped %lld rows", (long long)r3.metrics_dropped);
    CHECK(same_runs(path_in("a.db"), "straight", path_in("b.db"), "r"));
    /* the lineage of the new final checkpoint runs through step 12 */
    store *st = NULL;
    table t = {0};
    int64_t ck;
    CHECK_OK(store_open(&st, path_in("b.db"), 1, &e), &e);
    CHECK_OK(store_checkpoint_resolve(st, "r", &ck, &e), &e);
    CHECK_OK(store_lineage_table(st, ck, &t, &e), &e);
    int steps[8] = {0}, n = 0, resumed = 0;
    for (int64_t i = 0; i < t.nrows && n < 8; i++) {
        steps[n++] = (int)table_at(&t, i, 2)->i;
        const table_cell *ev = table_at(&t, i, 8);
        resumed += ev->type == TABLE_TEXT && !strncmp(ev->s, "resumed from", 12);
    }
    CHECKF(n == 5 && steps[0] == 30 && steps[1] == 24 && steps[2] == 18 && steps[3] == 12 &&
               steps[4] == 6,
           "lineage steps %d %d %d %d %d (%d rows)", steps[0], steps[1], steps[2], steps[3],
           steps[4], n);
    CHECK(resumed == 1);
    table_free(&t);
    store_close(st);
}

/* Extending a finished run with a new train.steps continues it exactly
 * like a run configured with the larger number from the start, except
 * for the validation a finished run makes at its last step. */
static void test_resume_extends_steps(void)
{
    rm_dbs();
    train_result r1, r2, r3;
    uerr e = {0};
    const char *s40[] = {"train.steps=40", "train.valid_every=0"};
    const char *s30[] = {"train.valid_every=0"};
    CHECK(train_into(path_in("a.db"), text_cfg, s40, 2, "long", 0, &r1) > 0);
    CHECK(train_into(path_in("b.db"), text_cfg, s30, 1, "short", 0, &r2) > 0);
    const char *more[] = {"train.steps=40"};
    CHECK_OK(resume_into(path_in("b.db"), "short", more, 1, 0, &r3, &e), &e);
    CHECK(same_runs(path_in("a.db"), "long", path_in("b.db"), "short"));
    /* a second resume of a finished run has nothing to do */
    train_result r4;
    CHECK_OK(resume_into(path_in("b.db"), "short", NULL, 0, 0, &r4, &e), &e);
    CHECK(r4.steps_done == 40 && r4.checkpoint == r3.checkpoint);
}

static void test_verify(void)
{
    rm_dbs();
    train_result r1, r2;
    uerr e = {0};
    CHECK(train_into(path_in("b.db"), text_cfg, NULL, 0, "v", 13, &r1) > 0);
    CHECK_OK(resume_into(path_in("b.db"), "v", NULL, 0, 0, &r2, &e), &e);
    store *st = NULL;
    CHECK_OK(store_open(&st, path_in("b.db"), 0, &e), &e);
    if (!st)
        return;
    /* every checkpoint of the lineage, the first one replayed from the
     * seed, the one after the resume from the interrupted process's */
    const char *refs[] = {"v@6", "v@12", "v@13", "v@18", "v"};
    for (int i = 0; i < 5; i++) {
        int64_t ck;
        train_verify_result vr;
        CHECK_OK(store_checkpoint_resolve(st, refs[i], &ck, &e), &e);
        CHECK_OK(train_verify(st, ck, NULL, NULL, &vr, &e), &e);
        CHECKF(vr.tensors > 10 && vr.tensors_differ == 0 && vr.losses > 0 && vr.losses_differ == 0,
               "%s: %d/%d tensors differ, %lld/%lld losses; %s", refs[i], vr.tensors_differ,
               vr.tensors, (long long)vr.losses_differ, (long long)vr.losses, vr.first_diff);
        if (i == 3)
            CHECK(vr.from_step == 13 && vr.to_step == 18);
        if (i == 0)
            CHECK(vr.from_ckpt == 0 && vr.from_step == 0);
    }
    /* Alter a stored optimiser slot consistently (new bytes, matching
     * hash), as a bug in a save would: verification must catch it. */
    store_close(st);
    int64_t ck = 0;
    store_open(&st, path_in("b.db"), 0, &e);
    store_checkpoint_resolve(st, "v@18", &ck, &e);
    store_loaded l = {0};
    CHECK_OK(store_checkpoint_load(st, ck, &l, &e), &e);
    store_tensor ts[40];
    int n = 0;
    for (int i = 0; i < l.n && n < 40; i++) {
        if (!strcmp(l.t[i].name, "adagrad.mem.W"))
            ((double *)l.t[i].data)[3] *= 1.0000001;
        ts[n++] = (store_tensor){l.t[i].name, l.t[i].role, l.t[i].dt, l.t[i].shape, l.t[i].data};
    }
    int64_t bad;
    CHECK_OK(
        store_checkpoint_save_from(st, l.run, l.step, l.parent, ts, n, l.metrics_json, &bad, &e),
        &e);
    train_verify_result vr;
    CHECK_OK(train_verify(st, bad, NULL, NULL, &vr, &e), &e);
    CHECKF(vr.tensors_differ == 1 && strstr(vr.first_diff, "adagrad.mem.W"), "%d differ: %s",
           vr.tensors_differ, vr.first_diff);
    printf("  altered checkpoint: %s\n", vr.first_diff);
    store_loaded_free(&l);
    store_close(st);
}

static void test_from(void)
{
    rm_dbs();
    train_result r1, r2;
    uerr e = {0};
    CHECK(train_into(path_in("a.db"), text_cfg, NULL, 0, "base", 0, &r1) > 0);
    store *st = NULL;
    store_loaded l = {0};
    int64_t ck;
    CHECK_OK(store_open(&st, path_in("a.db"), 0, &e), &e);
    CHECK_OK(store_checkpoint_resolve(st, "base@18", &ck, &e), &e);
    CHECK_OK(store_checkpoint_load(st, ck, &l, &e), &e);
    /* another hidden size: only the biases of the output fit */
    spec s;
    const char *sets[] = {"model.hidden=8", "train.steps=6", "train.dtype=float32"};
    CHECK_OK(spec_load_buffer(&s, "r.yaml", text_cfg, strlen(text_cfg), sets, 3, &e), &e);
    train_opts o = {.db = st, .from = &l, .run_name = "ft"};
    CHECK_OK(train_run(&s, &o, &r2, &e), &e);
    CHECKF(!strcmp(r2.from_loaded, "c"), "loaded '%s'", r2.from_loaded);
    CHECKF(strstr(r2.from_skipped, "W (float64 [12, 12] there, [8, 8] here)") != NULL,
           "skipped '%s'", r2.from_skipped);
    store_run run;
    CHECK_OK(store_run_get(st, r2.run, &run, &e), &e);
    CHECK(run.parent_checkpoint == ck && !strcmp(run.init, "from"));
    store_run_free(&run);
    spec_free(&s);
    /* nothing fits: an error */
    const char *none[] = {"model.hidden=8", "train.steps=6", "data.valid_fraction=0.5"};
    CHECK_OK(spec_load_buffer(&s, "r.yaml", text_cfg, strlen(text_cfg), none, 3, &e), &e);
    o.run_name = "ft2";
    CHECK(train_run(&s, &o, &r2, &e) == UERR_USER && strstr(e.msg, "fit this model"));
    spec_free(&s);
    store_loaded_free(&l);
    store_close(st);
}

static void test_resume_refuses_changed_data(void)
{
    rm_dbs();
    const char *txt = path_in("t.txt");
    FILE *f = fopen(txt, "w");
    for (int i = 0; i < 40; i++)
        fprintf(f, "the quick brown fox %d jumps over the lazy dog\n", i);
    fclose(f);
    char cfg[400];
    snprintf(cfg, sizeof cfg,
             "data: {kind: text, path: %s}\nmodel: {hidden: 6}\n"
             "train: {seq_len: 5, steps: 8, checkpoint: {every: 4}}\n",
             txt);
    train_result r;
    uerr e = {0};
    CHECK(train_into(path_in("a.db"), cfg, NULL, 0, "d", 0, &r) > 0);
    f = fopen(txt, "a");
    fputs("one more line\n", f);
    fclose(f);
    const char *more[] = {"train.steps=12"};
    CHECK(resume_into(path_in("a.db"), "d", more, 1, 0, &r, &e) == UERR_USER);
    CHECKF(strstr(e.msg, "the data changed since run 'd' was trained") != NULL, "got: %s", e.msg);
    uerr_clear(&e);
    CHECK_OK(resume_into(path_in("a.db"), "d", more, 1, 1, &r, &e), &e);
    CHECK(r.steps_done == 12);
}

int main(void)
{
    if (check_tmpdir(dir, sizeof dir, "resume"))
        return 1;
    RUN(test_resume_float64_batch1);
    RUN(test_resume_float32_batch1);
    RUN(test_resume_batch3_adam);
    RUN(test_resume_shuffled_classify);
    RUN(test_resume_shuffled_npy);
    RUN(test_resume_from_older_checkpoint);
    RUN(test_resume_extends_steps);
    RUN(test_verify);
    RUN(test_from);
    RUN(test_resume_refuses_changed_data);
    check_rmdir(dir);
    CHECK_EXIT();
}
