/*
 * test_busy.c - a busy store never ends a run: another connection holding
 * the write lock (past the busy timeout) while training runs leaves the
 * metrics buffered for a later batch, makes a checkpoint wait until the
 * lock frees (said once), and only a lock held past
 * train.checkpoint.wait stops the run. The busy timeout is cut to a few
 * milliseconds so that the test takes about a second.
 */
#include "check.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"
#include "train/train.h"

static const char *cfg_text = "name: busy\n"
                              "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\n"
                              "model: {hidden: 8}\n"
                              "train: {seq_len: 5, steps: 2500, seed: 3}\n";

typedef struct locker {
    sqlite3 *other;     /* the other process's connection */
    int64_t take, give; /* steps at which it takes and releases the lock */
    double hold_s;      /* or: released this long after taking it, by a thread */
    int taken, notes;
    pthread_t th;
} locker;

static void *release_later(void *arg)
{
    locker *l = arg;
    usleep((useconds_t)(l->hold_s * 1e6));
    sqlite3_exec(l->other, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

static void on_progress(void *ctx, const train_progress *p)
{
    locker *l = ctx;
    if (p->step == l->take) {
        CHECK(sqlite3_exec(l->other, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
        l->taken = 1;
        if (l->hold_s > 0)
            pthread_create(&l->th, NULL, release_later, l);
    }
    if (p->step == l->give)
        sqlite3_exec(l->other, "COMMIT", NULL, NULL, NULL);
}

static void on_note(void *ctx, const char *msg)
{
    locker *l = ctx;
    l->notes++;
    CHECKF(strstr(msg, "the checkpoint waits") != NULL, "note: %s", msg);
}

/* One integer from the file at path, read through a connection of its own. */
static int64_t count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Trains with l's lock schedule; returns train_run's status, e filled. */
static int train_locked(const char *path, const char *every, const char *wait, locker *l, uerr *e)
{
    spec s;
    const char *sets[2] = {every, wait};
    if (spec_load_buffer(&s, "t.yaml", cfg_text, strlen(cfg_text), sets, 2, e))
        return -1;
    store *db = NULL;
    int rc = store_open(&db, path, 0, e);
    if (!rc)
        rc = store_busy_timeout(db, 5, e);
    if (!rc && sqlite3_open(path, &l->other) != SQLITE_OK)
        rc = -1;
    train_opts o = {.db = db, .progress = on_progress, .note = on_note, .ctx = l};
    train_result r;
    if (!rc)
        rc = train_run(&s, &o, &r, e);
    if (l->hold_s > 0 && l->taken)
        pthread_join(l->th, NULL);
    sqlite3_exec(l->other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(l->other);
    store_close(db);
    CHECKF(rc || count(path, "SELECT count(*) FROM metrics WHERE name = 'loss'") == 2500,
           "every loss row written");
    spec_free(&s);
    return rc;
}

/* The lock held over two metric batches (steps 1024 and 2048): the rows
 * wait, and are all written at the end. */
static void test_metrics_wait_for_the_lock(void)
{
    char dir[] = "/tmp/unroll-busy-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/b.db", dir);
    locker l = {.take = 100, .give = 2100};
    uerr e = {0};
    CHECK_OK(train_locked(path, "train.checkpoint.every=0", "train.checkpoint.wait=600", &l, &e),
             &e);
    CHECK(l.taken && l.notes == 0);
    unlink(path);
    rmdir(dir);
}

/* The lock held across a checkpoint for a second: it waits, says so
 * once, and every checkpoint is stored. */
static void test_checkpoint_waits_for_the_lock(void)
{
    char dir[] = "/tmp/unroll-busy-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/b.db", dir);
    locker l = {.take = 450, .hold_s = 1.0};
    uerr e = {0};
    CHECK_OK(train_locked(path, "train.checkpoint.every=500", "train.checkpoint.wait=600", &l, &e),
             &e);
    CHECK(l.taken && l.notes == 1);
    CHECK(count(path, "SELECT count(*) FROM checkpoints") == 5);
    unlink(path);
    rmdir(dir);
}

/* Past train.checkpoint.wait the run stops with the lock's message; the
 * checkpoint before it stands. */
static void test_lock_past_the_wait_stops_the_run(void)
{
    char dir[] = "/tmp/unroll-busy-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/b.db", dir);
    locker l = {.take = 600, .hold_s = 1.5};
    uerr e = {0};
    CHECK(train_locked(path, "train.checkpoint.every=500", "train.checkpoint.wait=0", &l, &e) ==
          UERR_USER);
    CHECKF(strstr(e.msg, "locked") != NULL, "got: %s", e.msg);
    CHECK(count(path, "SELECT max(step) FROM checkpoints") == 500);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(test_metrics_wait_for_the_lock);
    RUN(test_checkpoint_waits_for_the_lock);
    RUN(test_lock_past_the_wait_stops_the_run);
    CHECK_EXIT();
}
