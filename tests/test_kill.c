/*
 * test_kill.c - the store under SIGKILL and under two writers.
 *
 * Kill test: one run is trained, killed with SIGKILL, resumed from its
 * latest checkpoint, killed again... 50 times. Half of the kills come at
 * a random instant; the other half are aimed inside a checkpoint's write
 * transaction (the store's test hook holds the transaction open for a
 * moment so the aim can land). After every kill:
 *   - PRAGMA integrity_check is "ok";
 *   - every checkpoint the killed process had committed is there and
 *     loads (each tensor verified against its hash), and one killed
 *     inside its transaction left nothing of itself.
 * Then the run is resumed to a final step and compared with a run
 * trained straight to that step: every tensor of the final checkpoint and
 * every logged loss bit-identical, 50 kills notwithstanding. The figures
 * (kills inside a transaction, checkpoints, steps) are printed.
 *
 * Two writers: two processes train two runs into one file at once, a
 * checkpoint at every step, while this process reads; both finish and
 * every checkpoint loads.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"
#include "train/train.h"

#define KILLS 50

static char dir[64];

static const char *cfg =
    "name: k\n"
    "data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0}\n"
    "model: {cell: elman, hidden: 6}\n"
    "train: {dtype: float64, seq_len: 5, batch: 2, steps: 100000000,\n"
    "        optimizer: {name: adam, lr: 0.01}, seed: 3, checkpoint: {every: 20}}\n";

/* Shared with the child: where it is in a checkpoint save. */
typedef struct shared {
    volatile int phase;         /* 0 outside, 1 writing, 2 about to COMMIT, 3 committed */
    volatile int64_t committed; /* checkpoints this child committed */
    volatile int hold_us;       /* sleep inside the transaction (aimed kills) */
    volatile int started;       /* the child is training */
} shared;

static shared *sh;

static void hook(void *ctx, store_event ev, int64_t run, int64_t step)
{
    (void)ctx;
    (void)run;
    (void)step;
    if (ev == STORE_EV_CKPT_BEGIN) {
        sh->phase = 1;
    } else if (ev == STORE_EV_CKPT_COMMIT) {
        sh->phase = 2;
        if (sh->hold_us)
            usleep((useconds_t)sh->hold_us);
    } else {
        sh->committed++;
        sh->phase = 3;
    }
}

static void note_started(void *ctx, const train_progress *p)
{
    (void)ctx;
    (void)p;
    sh->started = 1;
}

/* The child: resume run "k" from its latest checkpoint, or start it. */
static void child_train(const char *db, int resume, const char *steps)
{
    uerr e = {0};
    store *st = NULL;
    spec s;
    store_loaded l = {0};
    int rc = store_open(&st, db, 0, &e);
    if (!rc)
        store_set_hook(st, hook, NULL);
    const char *sets[1] = {steps};
    if (!rc && resume) {
        int64_t ck;
        store_run run;
        rc = store_checkpoint_resolve(st, "k", &ck, &e);
        if (!rc)
            rc = store_checkpoint_load(st, ck, &l, &e);
        if (!rc && !(rc = store_run_get(st, l.run, &run, &e))) {
            rc = spec_load_buffer(&s, "k", run.config_text, strlen(run.config_text), sets,
                                  steps ? 1 : 0, &e);
            store_run_free(&run);
        }
    } else if (!rc) {
        rc = spec_load_buffer(&s, "k.yaml", cfg, strlen(cfg), sets, steps ? 1 : 0, &e);
    }
    train_opts o = {.db = st,
                    .run_name = resume ? NULL : "k",
                    .resume = resume ? &l : NULL,
                    .progress = note_started};
    train_result r;
    if (!rc)
        rc = train_run(&s, &o, &r, &e);
    if (rc)
        printf("  child: %s\n", e.msg);
    fflush(stdout);
    _exit(rc ? 1 : 0);
}

/* Checks the file after a kill; returns the number of checkpoints of run
 * "k" (-1 on a failure, reported). */
static int64_t check_file(const char *db, int64_t *latest_step)
{
    sqlite3 *raw = NULL;
    sqlite3_stmt *q = NULL;
    char ok[64] = "";
    if (sqlite3_open_v2(db, &raw, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        snprintf(ok, sizeof ok, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(raw);
    if (strcmp(ok, "ok")) {
        printf("  integrity_check: '%s'\n", ok);
        return -1;
    }
    uerr e = {0};
    store *st = NULL;
    table t;
    int64_t n = -1, run;
    if (store_open(&st, db, 0, &e) || store_run_resolve(st, "k", &run, &e) ||
        store_checkpoints_table(st, run, &t, &e)) {
        printf("  %s\n", e.msg);
        store_close(st);
        return -1;
    }
    n = t.nrows;
    *latest_step = 0;
    for (int64_t i = 0; i < t.nrows; i++) {
        store_loaded l;
        if (store_checkpoint_load(st, table_at(&t, i, 0)->i, &l, &e)) {
            printf("  checkpoint %lld: %s\n", (long long)table_at(&t, i, 0)->i, e.msg);
            n = -1;
            break;
        }
        if (l.step > *latest_step)
            *latest_step = l.step;
        store_loaded_free(&l);
    }
    table_free(&t);
    store_close(st);
    return n;
}

/* A run without a checkpoint (killed before its first) is removed so the
 * next child starts it afresh. */
static int has_checkpoint(const char *db)
{
    uerr e = {0};
    store *st = NULL;
    int64_t ck = 0, run;
    int rc = store_open(&st, db, 0, &e);
    if (rc) {
        printf("  %s\n", e.msg);
        return -1;
    }
    int found = store_run_resolve(st, "k", &run, &e) == 0;
    uerr_clear(&e);
    int ok = found && store_checkpoint_resolve(st, "k", &ck, &e) == 0;
    if (found && !ok) {
        store_removed rm;
        uerr_clear(&e);
        if (store_run_delete(st, run, 1, &rm, &e))
            printf("  %s\n", e.msg);
    }
    store_close(st);
    return ok;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_fifty_kills(void)
{
    char db[128];
    snprintf(db, sizeof db, "%s/kill.db", dir);
    srand(12345);
    int inside = 0, aimed_inside = 0, random_inside = 0, before_first = 0, lost = 0;
    int64_t count = 0, prev_committed_total = 0, latest = 0;
    double t0 = now_s();
    for (int k = 0; k < KILLS; k++) {
        int resume = has_checkpoint(db);
        CHECK(resume >= 0);
        int aimed = k % 2 == 1;
        memset((void *)sh, 0, sizeof *sh);
        sh->hold_us = aimed ? 1500 : 0;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            child_train(db, resume, NULL);
        CHECK(pid > 0);
        double start = now_s();
        if (aimed) {
            /* wait for a transaction, then kill at a random moment in it */
            while (sh->phase != 1 && sh->phase != 2 && now_s() - start < 5)
                usleep(50);
            usleep((useconds_t)(rand() % 1200));
        } else {
            /* wait until it trains, then a random instant */
            while (!sh->started && now_s() - start < 5)
                usleep(100);
            usleep((useconds_t)(rand() % 15000));
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "kill %d: the child was not killed (status %d)", k, status);
        int in = sh->phase == 1 || sh->phase == 2;
        inside += in;
        aimed_inside += in && aimed;
        random_inside += in && !aimed;
        int64_t n = check_file(db, &latest);
        CHECKF(n >= 0, "kill %d: the file is damaged", k);
        if (n < 0)
            break;
        if (n == 0 || !resume)
            before_first += n == 0;
        /* Every commit the child saw is there; a save killed at phase 2
         * may have committed too (COMMIT ran, the hook after it did not). */
        int64_t want = (resume ? prev_committed_total : 0) + sh->committed;
        if (!(n == want || (sh->phase == 2 && n == want + 1))) {
            lost++;
            printf("  kill %d: %lld checkpoints, expected %lld (phase %d)\n", k, (long long)n,
                   (long long)want, sh->phase);
        }
        prev_committed_total = n;
        count = n;
    }
    CHECKF(lost == 0, "%d kills lost or invented a checkpoint", lost);
    CHECKF(aimed_inside >= KILLS / 4, "only %d aimed kills landed inside a transaction",
           aimed_inside);
    printf("  %d SIGKILLs in %.1f s: %d inside a checkpoint transaction (%d of %d aimed, %d of %d "
           "at random), %d before the run's first checkpoint; %lld checkpoints survive, the "
           "latest at step %lld; integrity_check ok after every kill, every checkpoint loads\n",
           KILLS, now_s() - t0, inside, aimed_inside, KILLS / 2, random_inside, KILLS / 2,
           before_first, (long long)count, (long long)latest);

    /* Resume once more to a fixed step; a straight run must match it. */
    int64_t final = latest + 23;
    char steps[64];
    snprintf(steps, sizeof steps, "train.steps=%lld", (long long) final);
    memset((void *)sh, 0, sizeof *sh);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        child_train(db, 1, steps);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char db2[128];
    snprintf(db2, sizeof db2, "%s/straight.db", dir);
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        child_train(db2, 0, steps);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uerr e = {0};
    store *a = NULL, *b = NULL;
    store_loaded la = {0}, lb = {0};
    int64_t ca, cb, ra, rb;
    CHECK_OK(store_open(&a, db, 1, &e), &e);
    CHECK_OK(store_open(&b, db2, 1, &e), &e);
    if (!a || !b)
        return;
    CHECK_OK(store_checkpoint_resolve(a, "k", &ca, &e), &e);
    CHECK_OK(store_checkpoint_resolve(b, "k", &cb, &e), &e);
    CHECK_OK(store_checkpoint_load(a, ca, &la, &e), &e);
    CHECK_OK(store_checkpoint_load(b, cb, &lb, &e), &e);
    CHECK(la.step == final && lb.step == final && la.n == lb.n && la.n > 0);
    int differ = 0;
    for (int i = 0; i < la.n && la.n == lb.n; i++)
        differ += strcmp(la.t[i].hash, lb.t[i].hash) != 0;
    CHECKF(differ == 0, "%d tensors differ from the straight run", differ);
    char *ma = NULL, *mb = NULL;
    size_t na = 0, nb = 0;
    FILE *fa = open_memstream(&ma, &na), *fb = open_memstream(&mb, &nb);
    CHECK_OK(store_run_resolve(a, "k", &ra, &e), &e);
    CHECK_OK(store_run_resolve(b, "k", &rb, &e), &e);
    CHECK_OK(store_metrics_csv(a, ra, fa, &e), &e);
    CHECK_OK(store_metrics_csv(b, rb, fb, &e), &e);
    fclose(fa);
    fclose(fb);
    CHECKF(na == nb && na > 0 && !memcmp(ma, mb, na),
           "the logged losses differ from the straight run (%zu vs %zu bytes)", na, nb);
    printf("  resumed after the kills to step %lld: %d tensors and %lld logged losses "
           "bit-identical to a straight run\n",
           (long long) final, la.n, (long long) final);
    free(ma);
    free(mb);
    store_loaded_free(&la);
    store_loaded_free(&lb);
    store_close(a);
    store_close(b);
}

static void writer(const char *db, const char *name)
{
    uerr e = {0};
    spec s;
    const char *sets[] = {"train.steps=60", "train.checkpoint.every=1"};
    store *st = NULL;
    int rc = spec_load_buffer(&s, "w.yaml", cfg, strlen(cfg), sets, 2, &e);
    if (!rc)
        rc = store_open(&st, db, 0, &e);
    train_opts o = {.db = st, .run_name = name};
    train_result r;
    if (!rc)
        rc = train_run(&s, &o, &r, &e);
    if (!rc)
        rc = store_flush(st, &e);
    if (rc)
        printf("  writer %s: %s\n", name, e.msg);
    fflush(stdout);
    _exit(rc ? 1 : 0);
}

static void test_two_writers(void)
{
    char db[128];
    snprintf(db, sizeof db, "%s/two.db", dir);
    /* create the file first, so both writers open a current store */
    uerr e = {0};
    store *st = NULL;
    CHECK_OK(store_open(&st, db, 0, &e), &e);
    store_close(st);
    fflush(stdout);
    pid_t p1 = fork();
    if (p1 == 0)
        writer(db, "one");
    pid_t p2 = fork();
    if (p2 == 0)
        writer(db, "two");
    /* read while they write: listings must keep working */
    int reads = 0, read_fail = 0;
    for (int i = 0; i < 400; i++) {
        int status;
        if (p1 && waitpid(p1, &status, WNOHANG) == p1) {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            p1 = 0;
        }
        if (p2 && waitpid(p2, &status, WNOHANG) == p2) {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            p2 = 0;
        }
        if (!p1 && !p2)
            break;
        store *r = NULL;
        table t;
        uerr e2 = {0};
        if (store_open(&r, db, 1, &e2) || store_checkpoints_table(r, 0, &t, &e2)) {
            read_fail++;
            printf("  reader: %s\n", e2.msg);
        } else {
            reads++;
            table_free(&t);
        }
        store_close(r);
        usleep(2000);
    }
    int status;
    if (p1) {
        waitpid(p1, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    if (p2) {
        waitpid(p2, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(read_fail == 0);
    CHECK_OK(store_open(&st, db, 1, &e), &e);
    if (!st)
        return;
    table t;
    CHECK_OK(store_checkpoints_table(st, 0, &t, &e), &e);
    CHECKF(t.nrows == 120, "%lld checkpoints, expected 120", (long long)t.nrows);
    int bad = 0;
    for (int64_t i = 0; i < t.nrows; i++) {
        store_loaded l;
        if (store_checkpoint_load(st, table_at(&t, i, 0)->i, &l, &e))
            bad++;
        else
            store_loaded_free(&l);
    }
    CHECK(bad == 0);
    table_free(&t);
    table q;
    CHECK_OK(store_query(st, "SELECT count(*) FROM metrics WHERE name = 'loss'", &q, &e), &e);
    CHECK(q.nrows == 1 && table_at(&q, 0, 0)->i == 120);
    table_free(&q);
    printf("  two writers, a checkpoint per step each: 120 checkpoints, 120 losses; %d reads "
           "meanwhile\n",
           reads);
    store_close(st);
}

int main(void)
{
    if (check_tmpdir(dir, sizeof dir, "kill"))
        return 1;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        printf("FAIL mmap\n");
        return 1;
    }
    RUN(test_fifty_kills);
    RUN(test_two_writers);
    check_rmdir(dir);
    CHECK_EXIT();
}
