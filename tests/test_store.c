/*
 * test_store.c - SHA-256 against the FIPS 180-4 examples, and the
 * checkpoint store: creation and schema version, runs, unique names,
 * batched metrics, checkpoint round trips, deduplication, references,
 * corruption detection, refusal of foreign/newer/non-SQLite files, and
 * read-only use.
 *
 * Each test works in files under one mkdtemp directory. A second, raw
 * SQLite connection looks at (and tampers with) what the store wrote.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "store/sha256.h"
#include "store/store.h"

static char tmpdir[64];

static const char *tpath(const char *name)
{
    static char buf[8][160];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

/* Removes a database and its WAL companions, so each test starts clean. */
static void rm_db(const char *path)
{
    char b[200];
    unlink(path);
    snprintf(b, sizeof b, "%s-wal", path);
    unlink(b);
    snprintf(b, sizeof b, "%s-shm", path);
    unlink(b);
}

/* One integer from SQL on a separate raw connection; -1 on any failure. */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static char *raw_text(const char *path, const char *sql, char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* ---- sha256 ----------------------------------------------------------- */

static void test_sha256(void)
{
    char hex[SHA256_HEX_SIZE];
    sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m448, strlen(m448), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));

    /* One million 'a', fed in uneven pieces to cross block boundaries in
     * every way the streaming code handles. */
    char a[1000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    size_t left = 1000000, piece = 1;
    while (left) {
        size_t k = piece < left ? piece : left;
        sha256_update(&c, a, k);
        left -= k;
        piece = (piece * 7 + 13) % sizeof a + 1; /* 1..1000 */
    }
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));

    /* Lengths around the padding boundary (55, 56, 64 bytes). */
    sha256_hex(a, 55, hex);
    CHECK(!strcmp(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
    sha256_hex(a, 56, hex);
    CHECK(!strcmp(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
    sha256_hex(a, 64, hex);
    CHECK(!strcmp(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
}

/* ---- open, schema ----------------------------------------------------- */

static void test_create_and_schema(void)
{
    const char *p = tpath("create.db");
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    CHECK(s != NULL && !strcmp(store_path(s), p));
    store_close(s);
    char b[32];
    CHECK(raw_int(p, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    CHECK(raw_int(p, "PRAGMA application_id") == STORE_APPLICATION_ID);
    CHECK(!strcmp(raw_text(p, "PRAGMA journal_mode", b, sizeof b), "wal"));
    CHECK(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                     " ('runs', 'run_vocab', 'checkpoints', 'tensors', 'checkpoint_tensors',"
                     " 'metrics')") == 6);
    /* Reopening a current file changes nothing. */
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    store_close(s);
    CHECK(raw_int(p, "PRAGMA user_version") == STORE_SCHEMA_VERSION);

    /* An existing empty file is a fresh database. */
    const char *q = tpath("empty.db");
    rm_db(q);
    FILE *f = fopen(q, "w");
    if (f)
        fclose(f);
    CHECK_OK(store_open(&s, q, 0, &e), &e);
    store_close(s);
    CHECK(raw_int(q, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    rm_db(q);
    rm_db(p);
}

static void test_refusals(void)
{
    store *s = (store *)1;
    uerr e = {0};
    char want[300], b[32];

    /* A SQLite file of someone else's. */
    const char *p = tpath("foreign.db");
    rm_db(p);
    CHECK(raw_exec(p, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine')") ==
          SQLITE_OK);
    CHECK(store_open(&s, p, 0, &e) == UERR_USER && s == NULL);
    snprintf(want, sizeof want,
             "%s: not an unroll database (application_id 0, 1 schema objects); refusing to use "
             "it",
             p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    /* ... and left exactly as it was: not even switched to WAL. */
    CHECK(!strcmp(raw_text(p, "PRAGMA journal_mode", b, sizeof b), "delete"));
    CHECK(raw_int(p, "SELECT count(*) FROM sqlite_master") == 1);
    /* Another application's id, even with no tables. */
    rm_db(p);
    CHECK(raw_exec(p, "PRAGMA application_id = 42") == SQLITE_OK);
    uerr_clear(&e);
    CHECK(store_open(&s, p, 1, &e) == UERR_USER);
    snprintf(want, sizeof want,
             "%s: not an unroll database (application_id 42, 0 schema objects); refusing to use "
             "it",
             p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    rm_db(p);

    /* A text file. */
    p = tpath("text.db");
    FILE *f = fopen(p, "w");
    if (f) {
        for (int i = 0; i < 100; i++)
            fputs("this is not a database at all\n", f);
        fclose(f);
    }
    uerr_clear(&e);
    CHECK(store_open(&s, p, 0, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: file is not a database", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    rm_db(p);

    /* A newer schema. */
    p = tpath("newer.db");
    rm_db(p);
    uerr_clear(&e);
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    store_close(s);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
    CHECK(raw_exec(p, sql) == SQLITE_OK);
    CHECK(store_open(&s, p, 0, &e) == UERR_USER);
    snprintf(want, sizeof want,
             "%s: schema version %d is newer than this unroll understands (%d); use a newer "
             "unroll",
             p, STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    rm_db(p);

    /* A directory that does not exist. */
    p = tpath("nodir/x.db");
    uerr_clear(&e);
    CHECK(store_open(&s, p, 0, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: unable to open database file", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);

    /* Read-only on a file that has no store yet. */
    p = tpath("ro-empty.db");
    f = fopen(p, "w");
    if (f)
        fclose(f);
    uerr_clear(&e);
    CHECK(store_open(&s, p, 1, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: empty database, nothing to read", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    rm_db(p);
}

/* ---- runs ------------------------------------------------------------- */

static void test_runs(void)
{
    const char *p = tpath("runs.db");
    rm_db(p);
    store *s;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    const int32_t vocab[5] = {'\n', ' ', 'a', 'b', 0x1F600};
    store_run_info info = {
        .name = "elman",
        .config_text = "name: elman\nmodel: {cell: elman}\n",
        .command_line = "unroll train configs/elman.yaml",
        .program_version = "0.1",
        .data_hash = "ab12",
        .blas = "OpenBLAS",
        .threads = 2,
        .vocab = vocab,
        .nvocab = 5,
    };
    const char *const labels[3] = {"english", "german", "sch\xc3\xb6n"};
    info.labels = labels;
    info.nlabels = 3;
    int64_t r1 = 0, r2 = 0, r3 = 0, got = 0;
    CHECK_OK(store_run_begin(s, &info, &r1, &e), &e);
    CHECK(r1 > 0);

    store_run r;
    CHECK_OK(store_run_get(s, r1, &r, &e), &e);
    CHECK(r.id == r1 && !strcmp(r.name, "elman") && !strcmp(r.config_text, info.config_text));
    char h[SHA256_HEX_SIZE];
    sha256_hex(info.config_text, strlen(info.config_text), h);
    CHECK(!strcmp(r.config_hash, h));
    CHECK(!strcmp(r.status, "running") && r.finished == NULL && r.started &&
          strlen(r.started) == 24);
    CHECK(!strcmp(r.command_line, info.command_line) && !strcmp(r.program_version, "0.1"));
    CHECK(!strcmp(r.data_hash, "ab12") && !strcmp(r.blas, "OpenBLAS") && r.threads == 2);
    CHECK(r.parent_checkpoint == 0);
    CHECK(r.nvocab == 5 && r.vocab && !memcmp(r.vocab, vocab, sizeof vocab));
    CHECK(r.nlabels == 3 && r.labels && !strcmp(r.labels[0], "english") &&
          !strcmp(r.labels[2], labels[2]));
    store_run_free(&r);

    /* Taken names. */
    char want[300];
    uerr_clear(&e);
    CHECK(store_run_begin(s, &info, &r2, &e) == UERR_USER);
    snprintf(want, sizeof want, "run 'elman' already exists in %s; choose another --name", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    char name[64];
    uerr_clear(&e);
    CHECK_OK(store_unique_run_name(s, "elman", name, sizeof name, &e), &e);
    CHECK(!strcmp(name, "elman-2"));
    info.name = name;
    info.nvocab = 0;
    info.nlabels = 0;
    CHECK_OK(store_run_begin(s, &info, &r2, &e), &e);
    CHECK_OK(store_unique_run_name(s, "elman", name, sizeof name, &e), &e);
    CHECK(!strcmp(name, "elman-3"));
    CHECK_OK(store_unique_run_name(s, "gru", name, sizeof name, &e), &e);
    CHECK(!strcmp(name, "gru"));
    CHECK(store_unique_run_name(s, "elman", name, 7, &e) == UERR_USER);
    uerr_clear(&e);

    /* Unnamed runs get run, run-2, ... */
    info.name = NULL;
    CHECK_OK(store_run_begin(s, &info, &r3, &e), &e);
    CHECK_OK(store_run_get(s, r3, &r, &e), &e);
    CHECK(r.name && !strcmp(r.name, "run") && r.nvocab == 0 && r.vocab == NULL && r.nlabels == 0 &&
          r.labels == NULL);
    store_run_free(&r);
    info.name = "";
    CHECK_OK(store_run_begin(s, &info, &r3, &e), &e);
    CHECK_OK(store_run_get(s, r3, &r, &e), &e);
    CHECK(r.name && !strcmp(r.name, "run-2"));
    store_run_free(&r);

    /* Names that could be misread. */
    const char *bad[3] = {"123", "a@b", "x\ty"};
    const char *why[3] = {
        "run name '123' is all digits and would read as a run id",
        "run name 'a@b' contains '@', which separates RUN@STEP",
        "run name contains a control character",
    };
    for (int i = 0; i < 3; i++) {
        info.name = bad[i];
        uerr_clear(&e);
        CHECK(store_run_begin(s, &info, &r3, &e) == UERR_USER);
        snprintf(want, sizeof want, "%s: %s", p, why[i]);
        CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    }

    /* Resolve by name and id. */
    uerr_clear(&e);
    CHECK_OK(store_run_resolve(s, "elman-2", &got, &e), &e);
    CHECK(got == r2);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)r1);
    CHECK_OK(store_run_resolve(s, id, &got, &e), &e);
    CHECK(got == r1);
    CHECK(store_run_resolve(s, "nope", &got, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: no run named 'nope'", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    CHECK(store_run_resolve(s, "999", &got, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: no run with id 999", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);

    /* Finish, and reopen as running (a resume). */
    uerr_clear(&e);
    CHECK_OK(store_run_finish(s, r1, "interrupted", &e), &e);
    CHECK_OK(store_run_get(s, r1, &r, &e), &e);
    CHECK(!strcmp(r.status, "interrupted") && r.finished != NULL);
    store_run_free(&r);
    CHECK_OK(store_run_finish(s, r1, "running", &e), &e);
    CHECK_OK(store_run_get(s, r1, &r, &e), &e);
    CHECK(!strcmp(r.status, "running") && r.finished == NULL);
    store_run_free(&r);
    CHECK(store_run_finish(s, r1, "done", &e) == UERR_INTERNAL);
    uerr_clear(&e);
    CHECK(store_run_finish(s, 999, "failed", &e) == UERR_USER);
    uerr_clear(&e);

    /* A parent checkpoint must exist. */
    info.name = "child";
    info.parent_checkpoint = 77;
    CHECK(store_run_begin(s, &info, &r3, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: parent checkpoint 77 does not exist", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    store_close(s);
    rm_db(p);
}

/* ---- metrics ---------------------------------------------------------- */

static void test_metrics(void)
{
    const char *p = tpath("metrics.db");
    rm_db(p);
    store *s;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "m", .config_text = "x: 1\n"};
    int64_t run = 0, other = 0;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
    info.name = "other";
    CHECK_OK(store_run_begin(s, &info, &other, &e), &e);

    /* 2500 rows: two full batches go out by themselves, 452 wait. */
    for (int i = 0; i < 1250; i++) {
        CHECK_OK(store_metric(s, run, i, "loss", 1.0 / (i + 3), &e), &e);
        CHECK_OK(store_metric(s, run, i, "grad_norm", (double)i * 0.1, &e), &e);
    }
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 2 * STORE_METRIC_BATCH);
    CHECK_OK(store_flush(s, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 2500);
    CHECK_OK(store_flush(s, &e), &e); /* nothing pending: no-op */

    CHECK(store_metric(s, 12345, 0, "loss", 1, &e) == UERR_USER);
    char want[200];
    snprintf(want, sizeof want, "%s: no run with id 12345", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);

    /* The CSV: header, order by step then name, %.17g round-trips. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    CHECK_OK(store_metric(s, other, 2, "valid_loss", 0.1, &e), &e);
    CHECK_OK(store_metric(s, other, 1, "loss,odd \"name\"", NAN, &e), &e);
    CHECK_OK(store_metric(s, other, 2, "valid_loss", 0.25, &e), &e); /* the last value wins */
    CHECK_OK(store_metrics_csv(s, other, mf, &e), &e);
    fclose(mf);
    CHECKF(buf && !strcmp(buf,
                          "step,name,value\n1,\"loss,odd \"\"name\"\"\",nan\n2,valid_loss,0.25\n"),
           "csv: '%s'", buf ? buf : "");
    free(buf);

    buf = NULL;
    mf = open_memstream(&buf, &len);
    CHECK_OK(store_metrics_csv(s, run, mf, &e), &e);
    fclose(mf);
    int lines = 0;
    for (char *q = buf; q && *q; q++)
        lines += *q == '\n';
    CHECK(lines == 2501);
    const char *head = "step,name,value\n0,grad_norm,0\n0,loss,0.33333333333333331\n1,";
    CHECK(buf && !strncmp(buf, head, strlen(head)));
    /* Every value reads back bit-exact. */
    int exact = 1;
    char *line = buf ? strchr(buf, '\n') : NULL;
    while (line && line[1]) {
        long step;
        char nm[32];
        double v;
        if (sscanf(line + 1, "%ld,%31[^,],%lf", &step, nm, &v) != 3)
            exact = 0;
        else if (!strcmp(nm, "loss"))
            exact &= v == 1.0 / (step + 3);
        else
            exact &= v == (double)step * 0.1;
        line = strchr(line + 1, '\n');
    }
    CHECK(exact);
    free(buf);

    /* close writes what is still buffered. */
    CHECK_OK(store_metric(s, run, 5000, "loss", 9.5, &e), &e);
    store_close(s);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics WHERE step = 5000") == 1);
    rm_db(p);
}

/* Flushes of 1 to 40 rows (the rows go out 16 to a statement, then one by
 * one): every row is stored, in any group, a NaN as NULL, and a key given
 * twice in one flush (inside one statement of 16, or across) keeps the
 * value given last. */
static void test_metrics_groups(void)
{
    const char *p = tpath("groups.db");
    uerr e = {0};
    for (int n = 1; n <= 40; n++) {
        rm_db(p);
        store *s;
        CHECK_OK(store_open(&s, p, 0, &e), &e);
        if (!s)
            return;
        store_run_info info = {.name = "g", .config_text = "x: 1\n"};
        int64_t run = 0;
        CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
        for (int i = 0; i < n; i++)
            CHECK_OK(store_metric(s, run, i % 7 == 6 ? i - 3 : i, i % 5 == 4 ? "b" : "a",
                                  i == 9 ? NAN : 0.5 * i, &e),
                     &e);
        CHECK_OK(store_flush(s, &e), &e);
        store_close(s);
        /* what the rows leave, worked out here: the last write of each key */
        double want_sum = 0;
        int keys = 0, nulls = 0;
        for (int i = 0; i < n; i++) {
            int64_t step = i % 7 == 6 ? i - 3 : i;
            int last = 1;
            for (int j = i + 1; j < n; j++)
                last &= !((j % 7 == 6 ? j - 3 : j) == step && (j % 5 == 4) == (i % 5 == 4));
            if (!last)
                continue;
            keys++;
            if (i == 9)
                nulls++;
            else
                want_sum += 0.5 * i;
        }
        CHECKF(raw_int(p, "SELECT count(*) FROM metrics") == keys, "%d rows", n);
        CHECKF(raw_int(p, "SELECT count(*) FROM metrics WHERE value IS NULL") == nulls, "%d rows",
               n);
        CHECKF(raw_int(p, "SELECT CAST(2 * total(value) AS INTEGER) FROM metrics") ==
                   (int64_t)(2 * want_sum),
               "%d rows", n);
    }
    rm_db(p);
}

/* ---- checkpoints ------------------------------------------------------ */

typedef struct fixture {
    float W[12];
    double b[3];
    int32_t cursor[2];
    float h[3];
    double scalar;
} fixture;

static void fill(fixture *f, float k)
{
    for (int i = 0; i < 12; i++)
        f->W[i] = k * (float)i - 0.5f;
    for (int i = 0; i < 3; i++)
        f->b[i] = 1.0 / (i + k + 1);
    f->cursor[0] = 7;
    f->cursor[1] = (int32_t)k;
    for (int i = 0; i < 3; i++)
        f->h[i] = 0.25f * (float)i;
    f->scalar = 3.0;
}

static int make_tensors(store_tensor *t, const fixture *f)
{
    const int64_t d4[4] = {1, 2, 2, 3};
    t[0] = (store_tensor){"W", "param", DT_F32, shape_make(4, d4), f->W};
    t[1] = (store_tensor){"b", "param", DT_F64, shape_1(3), f->b};
    t[2] = (store_tensor){"cursor", "cursor", DT_I32, shape_1(2), f->cursor};
    t[3] = (store_tensor){"h0", "state", DT_F32, shape_2(1, 3), f->h};
    t[4] = (store_tensor){"lr_scale", "optim", DT_F64, shape_0(), &f->scalar};
    t[5] = (store_tensor){"empty", "rng", DT_I32, shape_2(0, 4), NULL};
    return 6;
}

static void test_checkpoints(void)
{
    const char *p = tpath("ckpt.db");
    rm_db(p);
    store *s;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "elman", .config_text = "a: 1\n"};
    int64_t run = 0, c1 = 0, c2 = 0, c3 = 0, got = 0;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);

    fixture f1, f2;
    fill(&f1, 1);
    fill(&f2, 2);
    store_tensor t[6];
    int n = make_tensors(t, &f1);
    CHECK_OK(store_metric(s, run, 100, "loss", 2.5, &e), &e);
    CHECK_OK(store_checkpoint_save(s, run, 100, t, n, "{\"valid_loss\": 1.5}", &c1, &e), &e);
    /* The save wrote the pending metric in its transaction. */
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 1);
    CHECK(raw_int(p, "SELECT count(*) FROM tensors") == 6);

    /* Second version: only W and cursor change; b, h0, lr_scale and the
     * empty tensor are shared with the first. */
    store_tensor t2[6];
    make_tensors(t2, &f1);
    t2[0].data = f2.W;
    t2[2].data = f2.cursor;
    CHECK_OK(store_checkpoint_save(s, run, 200, t2, n, NULL, &c2, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM tensors") == 8);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoint_tensors") == 12);
    /* Same step again (a resume re-saving): a new version, same data. */
    CHECK_OK(store_checkpoint_save(s, run, 200, t2, n, NULL, &c3, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM tensors") == 8);
    char b[64];
    CHECK(!strcmp(raw_text(p,
                           "SELECT group_concat(version, ',') FROM (SELECT version FROM"
                           " checkpoints ORDER BY id)",
                           b, sizeof b),
                  "1,2,3"));

    /* Load and compare everything. */
    store_loaded l;
    CHECK_OK(store_checkpoint_load(s, c1, &l, &e), &e);
    CHECK(l.id == c1 && l.run == run && l.step == 100 && l.version == 1);
    CHECK(l.metrics_json && !strcmp(l.metrics_json, "{\"valid_loss\": 1.5}"));
    CHECK(l.tag == NULL && l.note == NULL && l.created != NULL);
    CHECK(l.n == n);
    for (int i = 0; i < l.n && i < n; i++) {
        const store_loaded_tensor *x = &l.t[i];
        size_t nb = (size_t)shape_numel(&t[i].shape) * dtype_size(t[i].dt);
        CHECKF(!strcmp(x->name, t[i].name) && !strcmp(x->role, t[i].role) && x->dt == t[i].dt &&
                   shape_equal(&x->shape, &t[i].shape) && x->nbytes == nb && x->data &&
                   (nb == 0 || !memcmp(x->data, t[i].data, nb)),
               "tensor %d (%s) differs after load", i, t[i].name);
        char h[65];
        CHECK(store_tensor_hash(t[i].dt, &t[i].shape, t[i].data, h) == 0 && !strcmp(h, x->hash));
    }
    const store_loaded_tensor *lw = store_loaded_find(&l, "lr_scale");
    CHECK(lw && lw->shape.rank == 0 && *(double *)lw->data == 3.0);
    CHECK(store_loaded_find(&l, "nope") == NULL);
    store_loaded_free(&l);
    CHECK_OK(store_checkpoint_load(s, c2, &l, &e), &e);
    CHECK(l.version == 2 && l.metrics_json == NULL && l.n == n);
    CHECK(l.n == n && !memcmp(l.t[0].data, f2.W, sizeof f2.W) &&
          !memcmp(l.t[1].data, f1.b, sizeof f1.b));
    store_loaded_free(&l);

    /* The hash is defined on dtype, shape and bytes: same bytes under
     * another shape are another tensor. */
    char h1[65], h2[65];
    shape s12 = shape_1(12), s34 = shape_2(3, 4);
    CHECK(store_tensor_hash(DT_F32, &s12, f1.W, h1) == 0);
    CHECK(store_tensor_hash(DT_F32, &s34, f1.W, h2) == 0 && strcmp(h1, h2) != 0);
    CHECK(store_tensor_hash(DT_I32, &s34, f1.W, h1) == 0 && strcmp(h1, h2) != 0);

    /* A failed save leaves nothing behind, and keeps pending metrics. */
    int64_t before = raw_int(p, "SELECT count(*) FROM checkpoints");
    CHECK_OK(store_metric(s, run, 300, "loss", 1.0, &e), &e);
    int64_t bad;
    CHECK(store_checkpoint_save(s, run, 300, t, n, "{not json", &bad, &e) != 0);
    CHECK(strstr(e.msg, "CHECK constraint failed") != NULL);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == before);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics WHERE step = 300") == 0);
    uerr_clear(&e);
    CHECK_OK(store_flush(s, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics WHERE step = 300") == 1);

    /* Invalid tensor lists are refused before touching the file. */
    store_tensor dup[2] = {t[0], t[0]};
    CHECK(store_checkpoint_save(s, run, 1, dup, 2, NULL, &bad, &e) == UERR_INTERNAL);
    char want[300];
    snprintf(want, sizeof want, "%s: two tensors named 'W' in one checkpoint", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    store_tensor badrole = t[0];
    badrole.role = "weights";
    CHECK(store_checkpoint_save(s, run, 1, &badrole, 1, NULL, &bad, &e) == UERR_INTERNAL);
    uerr_clear(&e);
    CHECK(store_checkpoint_save(s, 4242, 1, t, 1, NULL, &bad, &e) == UERR_USER);
    uerr_clear(&e);

    /* References: id, tag, RUN@STEP, run name. */
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)c1);
    CHECK_OK(store_checkpoint_resolve(s, ref, &got, &e), &e);
    CHECK(got == c1);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE checkpoints SET tag = 'best' WHERE id = %lld", (long long)c1);
    CHECK(raw_exec(p, sql) == SQLITE_OK);
    CHECK_OK(store_checkpoint_resolve(s, "best", &got, &e), &e);
    CHECK(got == c1);
    CHECK_OK(store_checkpoint_resolve(s, "elman@100", &got, &e), &e);
    CHECK(got == c1);
    CHECK_OK(store_checkpoint_resolve(s, "elman@200", &got, &e), &e);
    CHECK(got == c3); /* the newest version at that step */
    snprintf(ref, sizeof ref, "%lld@100", (long long)run);
    CHECK_OK(store_checkpoint_resolve(s, ref, &got, &e), &e);
    CHECK(got == c1);
    CHECK_OK(store_checkpoint_resolve(s, "elman", &got, &e), &e);
    CHECK(got == c3);
    CHECK_OK(store_checkpoint_load(s, got, &l, &e), &e);
    CHECK(l.version == 3 && l.tag == NULL);
    store_loaded_free(&l);
    CHECK_OK(store_checkpoint_load(s, c1, &l, &e), &e);
    CHECK(l.tag && !strcmp(l.tag, "best"));
    store_loaded_free(&l);

    /* Tags and names that would be ambiguous are refused by the schema. */
    CHECK(raw_exec(p, "UPDATE checkpoints SET tag = '12' WHERE id = 2") == SQLITE_CONSTRAINT);
    CHECK(raw_exec(p, "UPDATE checkpoints SET tag = 'a@1' WHERE id = 2") == SQLITE_CONSTRAINT);

    struct {
        const char *ref, *msg;
    } bad_refs[] = {
        {"999", "no checkpoint with id 999"},
        {"nothing", "no checkpoint, tag or run named 'nothing'"},
        {"elman@7", "run 'elman' has no checkpoint at step 7"},
        {"elman@x", "bad checkpoint reference 'elman@x' (expected RUN@STEP with a numeric STEP, "
                    "or RUN@best)"},
        {"", "empty checkpoint reference"},
    };
    for (size_t i = 0; i < sizeof bad_refs / sizeof bad_refs[0]; i++) {
        uerr_clear(&e);
        CHECK(store_checkpoint_resolve(s, bad_refs[i].ref, &got, &e) == UERR_USER);
        snprintf(want, sizeof want, "%s: %s", p, bad_refs[i].msg);
        CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    }
    uerr_clear(&e);
    CHECK(store_checkpoint_resolve(s, "ghost@5", &got, &e) == UERR_USER);
    snprintf(want, sizeof want, "checkpoint 'ghost@5': %s: no run named 'ghost'", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    info.name = "fresh";
    int64_t fresh;
    CHECK_OK(store_run_begin(s, &info, &fresh, &e), &e);
    CHECK(store_checkpoint_resolve(s, "fresh", &got, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: run 'fresh' has no checkpoints yet", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    CHECK(store_checkpoint_load(s, 999, &l, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: no checkpoint with id 999", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);

    /* A parent checkpoint that exists is recorded. */
    info.name = "forked";
    info.parent_checkpoint = c2;
    int64_t forked;
    CHECK_OK(store_run_begin(s, &info, &forked, &e), &e);
    store_run r;
    CHECK_OK(store_run_get(s, forked, &r, &e), &e);
    CHECK(r.parent_checkpoint == c2);
    store_run_free(&r);

    /* Alter the bytes of b (shared by all three checkpoints) behind the
     * store's back: every load that includes it must notice. */
    CHECK(store_tensor_hash(DT_F64, &t[1].shape, f1.b, h1) == 0);
    snprintf(sql, sizeof sql, "UPDATE tensors SET data = zeroblob(24) WHERE hash = '%s'", h1);
    CHECK(raw_exec(p, sql) == SQLITE_OK);
    CHECK(store_checkpoint_load(s, c2, &l, &e) == UERR_USER);
    snprintf(want, sizeof want,
             "%s: tensor 'b' of checkpoint %lld: stored bytes do not match their hash", p,
             (long long)c2);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    CHECK(l.n == 0 && l.t == NULL);
    uerr_clear(&e);
    /* A truncated blob is caught before the hash. */
    snprintf(sql, sizeof sql, "UPDATE tensors SET data = zeroblob(5) WHERE hash = '%s'", h1);
    CHECK(raw_exec(p, sql) == SQLITE_OK);
    CHECK(store_checkpoint_load(s, c1, &l, &e) == UERR_USER);
    snprintf(want, sizeof want, "%s: tensor 'b' of checkpoint %lld: expected 24 bytes, found 5", p,
             (long long)c1);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    store_close(s);
    rm_db(p);
}

/* ---- read-only and two connections ------------------------------------ */

static void test_readonly_and_concurrent(void)
{
    const char *p = tpath("ro.db");
    rm_db(p);
    store *w, *r;
    uerr e = {0};
    CHECK_OK(store_open(&w, p, 0, &e), &e);
    if (!w)
        return;
    store_run_info info = {.name = "live", .config_text = "k: v\n"};
    int64_t run = 0, c = 0, got = 0;
    CHECK_OK(store_run_begin(w, &info, &run, &e), &e);
    float x[4] = {1, 2, 3, 4};
    store_tensor t = {"x", "param", DT_F32, shape_1(4), x};
    CHECK_OK(store_checkpoint_save(w, run, 10, &t, 1, NULL, &c, &e), &e);
    CHECK_OK(store_metric(w, run, 10, "loss", 0.5, &e), &e);
    CHECK_OK(store_flush(w, &e), &e);

    /* A reader while the writer stays open (WAL). */
    CHECK_OK(store_open(&r, p, 1, &e), &e);
    if (!r) {
        store_close(w);
        return;
    }
    store_loaded l;
    CHECK_OK(store_checkpoint_resolve(r, "live", &got, &e), &e);
    CHECK(got == c);
    CHECK_OK(store_checkpoint_load(r, c, &l, &e), &e);
    CHECK(l.n == 1 && !memcmp(l.t[0].data, x, sizeof x));
    store_loaded_free(&l);

    /* The writer goes on; the reader sees each commit. */
    x[0] = 9;
    int64_t c2 = 0;
    CHECK_OK(store_checkpoint_save(w, run, 20, &t, 1, NULL, &c2, &e), &e);
    CHECK_OK(store_checkpoint_resolve(r, "live", &got, &e), &e);
    CHECK(got == c2);

    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    CHECK_OK(store_metrics_csv(r, run, mf, &e), &e);
    fclose(mf);
    CHECK(buf && !strcmp(buf, "step,name,value\n10,loss,0.5\n"));
    free(buf);
    store_run rr;
    CHECK_OK(store_run_get(r, run, &rr, &e), &e);
    CHECK(rr.name && !strcmp(rr.name, "live"));
    store_run_free(&rr);

    /* Writes through a read-only handle are refused by us, not by SQLite
     * halfway through. */
    char want[200];
    snprintf(want, sizeof want, "%s: opened read-only", p);
    int64_t id;
    CHECK(store_run_begin(r, &info, &id, &e) == UERR_USER);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    CHECK(store_metric(r, run, 1, "loss", 1, &e) == UERR_USER);
    uerr_clear(&e);
    CHECK(store_checkpoint_save(r, run, 1, &t, 1, NULL, &id, &e) == UERR_USER);
    uerr_clear(&e);
    store_close(r);
    store_close(w);

    /* Read-only after the writer is gone. */
    CHECK_OK(store_open(&r, p, 1, &e), &e);
    if (r) {
        CHECK_OK(store_checkpoint_load(r, c2, &l, &e), &e);
        CHECK(l.n == 1 && ((float *)l.t[0].data)[0] == 9);
        store_loaded_free(&l);
        store_close(r);
    }
    /* Read-only on a file whose schema is older than this build. */
    CHECK(raw_exec(p, "PRAGMA user_version = 0") == SQLITE_OK);
    CHECK(store_open(&r, p, 1, &e) == UERR_USER);
    snprintf(want, sizeof want,
             "%s: schema version 0 is older than %d; open it once read-write to upgrade it", p,
             STORE_SCHEMA_VERSION);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    rm_db(p);
}

/* Another process holding the write lock: the store waits its busy
 * timeout, fails with SQLite's message, and keeps the buffered rows. */
static void test_locked(void)
{
    const char *p = tpath("locked.db");
    rm_db(p);
    store *s;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "r", .config_text = ""};
    int64_t run = 0;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
    CHECK_OK(store_busy_timeout(s, 50, &e), &e);
    sqlite3 *other = NULL;
    CHECK(sqlite3_open_v2(p, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_OK(store_metric(s, run, 1, "loss", 0.75, &e), &e);
    CHECK(store_flush(s, &e) == UERR_USER);
    char want[200];
    snprintf(want, sizeof want, "%s: database is locked (while writing metrics)", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    int64_t c;
    float x = 1;
    store_tensor t = {"x", "param", DT_F32, shape_0(), &x};
    CHECK(store_checkpoint_save(s, run, 1, &t, 1, NULL, &c, &e) == UERR_USER);
    uerr_clear(&e);
    CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(other);
    CHECK_OK(store_flush(s, &e), &e);
    store_close(s);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 1);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == 0);
    rm_db(p);
}

/* Reads a text file whole (NULL on failure). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    return b;
}

/* A file written by the schema-1 build (tests/golden/store_v1.sql) is
 * refused by a plain read-only open, upgraded by a read-write one (or a
 * STORE_READ_UPGRADE one) in place, and keeps every row: its checkpoints
 * load with their hashes, its run resolves, new columns have defaults. */
static void test_migrate_v1(void)
{
    const char *p = tpath("v1.db");
    rm_db(p);
    char *sql = slurp("tests/golden/store_v1.sql");
    CHECK(sql != NULL);
    if (!sql)
        return;
    CHECK(raw_exec(p, sql) == SQLITE_OK);
    free(sql);
    CHECK(raw_int(p, "PRAGMA user_version") == 1);
    store *s = NULL;
    uerr e = {0};
    CHECK(store_open(&s, p, STORE_READ_ONLY, &e) == UERR_USER && strstr(e.msg, "older than"));
    uerr_clear(&e);
    CHECK_OK(store_open(&s, p, STORE_READ_UPGRADE, &e), &e);
    CHECK(raw_int(p, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    CHECK(raw_int(p, "SELECT count(*) FROM sessions") == 0);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints WHERE parent IS NULL") == 2);
    CHECK(raw_int(p, "SELECT count(*) FROM runs WHERE init = ''") == 1);
    CHECK(raw_int(p, "SELECT count(*) FROM run_labels") == 0);
    int64_t ck = 0;
    store_loaded l = {0};
    if (s) {
        CHECK_OK(store_checkpoint_resolve(s, "legacy@2", &ck, &e), &e);
        CHECK_OK(store_checkpoint_load(s, ck, &l, &e), &e);
        CHECK(l.n == 14 && l.step == 2 && l.parent == 0);
        store_loaded_free(&l);
        table t;
        CHECK_OK(store_runs_table(s, NULL, &t, &e), &e);
        CHECK(t.nrows == 1 && !strcmp(table_at(&t, 0, 1)->s, "legacy"));
        table_free(&t);
        store_close(s);
    }
    /* opening again is a no-op */
    CHECK_OK(store_open(&s, p, STORE_READ_WRITE, &e), &e);
    store_close(s);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == 2);
    rm_db(p);
}

/* A run with checkpoints at 10..60, helpers for the listing tests. */
static int64_t fill_run(store *s, const char *name, int64_t *ck, int n, uerr *e)
{
    store_run_info info = {.name = name, .config_text = "k: v\n", .init = "seed"};
    int64_t run = 0, parent = 0;
    if (store_run_begin(s, &info, &run, e))
        return 0;
    for (int i = 0; i < n; i++) {
        float x[3] = {(float)i, 1, 2}, shared[2] = {7, 7};
        store_tensor t[2] = {{"x", "param", DT_F32, shape_1(3), x},
                             {"frozen", "param", DT_F32, shape_1(2), shared}};
        char m[64];
        /* valid_loss smallest at the third checkpoint */
        snprintf(m, sizeof m, "{\"loss\": %d, \"valid_loss\": %g}", 100 - i,
                 i == 2 ? 0.5 : 1.0 + i);
        if (store_metric(s, run, 10 * (i + 1), "loss", 100 - i, e) ||
            store_checkpoint_save_from(s, run, 10 * (i + 1), parent, t, 2, m, &ck[i], e))
            return 0;
        parent = ck[i];
    }
    return run;
}

static void test_listings_and_lineage(void)
{
    const char *p = tpath("list.db");
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    int64_t ck[6], ck2[6];
    int64_t run = fill_run(s, "alpha", ck, 6, &e);
    int64_t run2 = fill_run(s, "beta", ck2, 2, &e);
    CHECK(run && run2);
    CHECK_OK(store_run_finish(s, run, "finished", &e), &e);
    table t;
    store_run_filter f = {.name_glob = "al*"};
    CHECK_OK(store_runs_table(s, &f, &t, &e), &e);
    CHECK(t.nrows == 1 && table_at(&t, 0, 5)->i == 60 && table_at(&t, 0, 6)->i == 6);
    table_free(&t);
    f = (store_run_filter){.status = "running"};
    CHECK_OK(store_runs_table(s, &f, &t, &e), &e);
    CHECK(t.nrows == 1 && !strcmp(table_at(&t, 0, 1)->s, "beta"));
    table_free(&t);
    f = (store_run_filter){.since = "2999"};
    CHECK_OK(store_runs_table(s, &f, &t, &e), &e);
    CHECK(t.nrows == 0);
    table_free(&t);

    /* lineage through parents, newest first */
    CHECK_OK(store_lineage_table(s, ck[5], &t, &e), &e);
    CHECK(t.nrows == 6 && table_at(&t, 0, 0)->i == ck[5] && table_at(&t, 5, 0)->i == ck[0]);
    CHECK(!strcmp(table_at(&t, 5, 8)->s, "start"));
    table_free(&t);

    /* best: by the checkpoint's JSON, lowest; --max: highest */
    int64_t best;
    double v;
    CHECK_OK(store_checkpoint_best(s, run, "valid_loss", 0, &best, &v, &e), &e);
    CHECK(best == ck[2] && v == 0.5);
    CHECK_OK(store_checkpoint_best(s, 0, "loss", 1, &best, &v, &e), &e);
    CHECK(best == ck[0] && v == 100);
    CHECK(store_checkpoint_best(s, run, "bleu", 0, &best, &v, &e) == UERR_USER &&
          strstr(e.msg, "has a value of 'bleu'"));
    uerr_clear(&e);
    CHECK(store_checkpoint_best(s, run, "x'); DROP TABLE runs; --", 0, &best, &v, &e) == UERR_USER);
    uerr_clear(&e);

    /* tags: unique, not a run name, usable as references */
    CHECK_OK(store_checkpoint_tag(s, ck[1], "keep", &e), &e);
    CHECK(store_checkpoint_tag(s, ck[3], "keep", &e) == UERR_USER &&
          strstr(e.msg, "already on checkpoint"));
    uerr_clear(&e);
    CHECK(store_checkpoint_tag(s, ck[3], "beta", &e) == UERR_USER && strstr(e.msg, "name of run"));
    uerr_clear(&e);
    CHECK(store_checkpoint_tag(s, ck[3], "42", &e) == UERR_USER && strstr(e.msg, "all digits"));
    uerr_clear(&e);
    int64_t got;
    CHECK_OK(store_checkpoint_resolve(s, "keep", &got, &e), &e);
    CHECK(got == ck[1]);

    /* prune: keep the 2 newest + tagged (ck[1]) + best (ck[2]) */
    table removed;
    store_removed st;
    CHECK_OK(store_checkpoint_prune(s, run, 2, NULL, 1, &removed, &st, &e), &e);
    CHECK(st.checkpoints == 2 && removed.nrows == 2); /* dry run */
    table_free(&removed);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints WHERE run = 1") == 6);
    CHECK_OK(store_checkpoint_prune(s, run, 2, NULL, 0, &removed, &st, &e), &e);
    /* x of step 40 goes; x of step 10 is also beta's, and frozen is shared */
    CHECK(st.checkpoints == 2 && st.tensors == 1);
    table_free(&removed);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints WHERE run = 1") == 4);
    /* ck[4]'s parent ck[3] was pruned: relinked to ck[2] */
    CHECK(raw_int(p, "SELECT parent FROM checkpoints WHERE id = 5") == ck[2]);
    CHECK(store_checkpoint_prune(s, run, 0, NULL, 0, NULL, &st, &e) == UERR_USER);
    uerr_clear(&e);

    /* rename: the rules of names, and tags cannot be shadowed */
    CHECK(store_run_rename(s, run, "beta", &e) == UERR_USER && strstr(e.msg, "already exists"));
    uerr_clear(&e);
    CHECK(store_run_rename(s, run, "keep", &e) == UERR_USER &&
          strstr(e.msg, "is a checkpoint tag"));
    uerr_clear(&e);
    CHECK(store_run_rename(s, run, "a@b", &e) == UERR_USER);
    uerr_clear(&e);
    CHECK_OK(store_run_rename(s, run, "gamma", &e), &e);
    CHECK_OK(store_checkpoint_resolve(s, "gamma@60", &got, &e), &e);
    CHECK(got == ck[5]);

    /* rm: the shared tensor stays while beta uses it */
    CHECK_OK(store_run_delete(s, run, 0, &st, &e), &e);
    CHECK(st.runs == 1 && st.checkpoints == 4 && st.metrics == 6 && st.tensors == 3);
    CHECK(raw_int(p, "SELECT count(*) FROM tensors") == 3);
    CHECK(raw_int(p, "SELECT count(*) FROM sessions") == 1);
    store_loaded l;
    CHECK_OK(store_checkpoint_load(s, ck2[1], &l, &e), &e);
    store_loaded_free(&l);

    /* a live process's run is protected: this process is alive */
    CHECK_OK(store_run_delete(s, run2, 0, &st, &e), &e); /* own pid: not "another" */
    store_close(s);
    rm_db(p);
}

static void test_query(void)
{
    const char *p = tpath("query.db");
    rm_db(p);
    store *s = NULL, *r = NULL;
    uerr e = {0};
    int64_t ck[3];
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    CHECK(fill_run(s, "q", ck, 3, &e) > 0);
    store_close(s);
    CHECK_OK(store_open(&r, p, STORE_READ_ONLY, &e), &e);
    if (!r)
        return;
    table t;
    CHECK_OK(
        store_query(r, "SELECT name, 1.5 AS x, NULL AS n, data FROM runs, tensors LIMIT 1", &t, &e),
        &e);
    CHECK(t.nrows == 1 && t.ncols == 4 && table_at(&t, 0, 1)->type == TABLE_REAL &&
          table_at(&t, 0, 2)->type == TABLE_NULL && !strncmp(table_at(&t, 0, 3)->s, "<blob ", 6));
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    CHECK_OK(table_write(&t, m, TABLE_JSON, &e), &e);
    fclose(m);
    CHECKF(buf &&
               strstr(buf,
                      "{\"name\": \"q\", \"x\": 1.5, \"n\": null, \"data\": \"<blob 12 bytes>\"}"),
           "got %s", buf);
    free(buf);
    table_free(&t);
    CHECK_OK(store_query(r, "PRAGMA integrity_check", &t, &e), &e);
    CHECK(t.nrows == 1 && !strcmp(table_at(&t, 0, 0)->s, "ok"));
    table_free(&t);
    CHECK_OK(
        store_query(r, "WITH x AS (SELECT step FROM checkpoints) SELECT max(step) FROM x; -- done",
                    &t, &e),
        &e);
    CHECK(table_at(&t, 0, 0)->i == 30);
    table_free(&t);
    static const char *const refused[] = {
        "DELETE FROM runs",           "UPDATE runs SET name = 'x'", "DROP TABLE runs",
        "PRAGMA user_version = 9",    "SELECT 1; DELETE FROM runs", "ATTACH 'other.db' AS o",
        "VACUUM INTO '/tmp/copy.db'", "CREATE TEMP TABLE t(x)",     "",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        uerr_clear(&e);
        CHECKF(store_query(r, refused[i], &t, &e) == UERR_USER, "'%s' was allowed", refused[i]);
        CHECKF(!strncmp(e.msg, "query: ", 7), "'%s': %s", refused[i], e.msg);
    }
    uerr_clear(&e);
    CHECK(store_query(r, "SELECT nope FROM runs", &t, &e) == UERR_USER &&
          strstr(e.msg, "no such column: nope"));
    store_close(r);
    CHECK(raw_int(p, "SELECT count(*) FROM runs") == 1);
    rm_db(p);
}

/* A file that cannot hold the next checkpoint (the size cap stands in
 * for a full disk): a clear error, the earlier checkpoints intact, the
 * buffered metrics kept, and the save works once there is room. */
static void test_full(void)
{
    const char *p = tpath("full.db");
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "f", .config_text = ""};
    int64_t run = 0, c1 = 0, c2 = 0;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
    static double big[40000];
    for (int i = 0; i < 40000; i++)
        big[i] = i;
    store_tensor t = {"w", "param", DT_F64, shape_1(40000), big};
    CHECK_OK(store_checkpoint_save(s, run, 1, &t, 1, NULL, &c1, &e), &e);
    CHECK_OK(store_max_size(s, 400000, &e), &e);
    CHECK_OK(store_metric(s, run, 2, "loss", 0.25, &e), &e);
    big[0] = -1;
    CHECK(store_checkpoint_save(s, run, 2, &t, 1, NULL, &c2, &e) == UERR_USER);
    char want[300];
    snprintf(want, sizeof want,
             "%s: database or disk is full (while saving the checkpoint of run "
             "%lld at step 2)",
             p, (long long)run);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
    uerr_clear(&e);
    store_loaded l;
    CHECK_OK(store_checkpoint_load(s, c1, &l, &e), &e);
    CHECK(l.n == 1 && ((double *)l.t[0].data)[0] == 0);
    store_loaded_free(&l);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == 1);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 0);
    CHECK_OK(store_max_size(s, 1 << 30, &e), &e);
    CHECK_OK(store_checkpoint_save(s, run, 2, &t, 1, NULL, &c2, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == 2);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 1);
    store_close(s);
    rm_db(p);
}

/* Files this process may read but not write. Run as root, the checks run
 * in a child that became 'nobody' (root writes anything). */
static void test_permissions(void)
{
    char d[200];
    snprintf(d, sizeof d, "%s/perm", tmpdir);
    mkdir(d, 0755);
    chmod(tmpdir, 0755);
    char p[260], q[260];
    snprintf(p, sizeof p, "%s/ro.db", d);
    snprintf(q, sizeof q, "%s/ro.db-shm", d);
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    int64_t ck[2];
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    CHECK(fill_run(s, "r", ck, 2, &e) > 0);
    store_close(s); /* the last connection: -wal and -shm are removed */
    CHECK(access(q, F_OK) != 0);
    chmod(p, 0444);
    chmod(d, 0555);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(9);
        /* read-write: refused before anything is written */
        uerr e1 = {0};
        store *w = NULL;
        if (store_open(&w, p, 0, &e1) != UERR_USER || !strstr(e1.msg, "read-only for this user")) {
            printf("  read-write open: %d '%s'\n", e1.code, e1.msg);
            bad = 1;
        }
        store_close(w);
        /* read-only, with no -shm and no way to create one: immutable */
        uerr e2 = {0};
        store *r = NULL;
        table t;
        if (store_open(&r, p, 1, &e2) || store_runs_table(r, NULL, &t, &e2)) {
            printf("  read-only open: '%s'\n", e2.msg);
            bad = 1;
        } else {
            bad |= t.nrows != 1;
            table_free(&t);
            store_loaded l;
            if (store_checkpoint_load(r, ck[1], &l, &e2)) {
                printf("  load: '%s'\n", e2.msg);
                bad = 1;
            } else {
                store_loaded_free(&l);
            }
        }
        store_close(r);
        fflush(stdout);
        _exit(bad);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    chmod(d, 0755);
    chmod(p, 0644);
    CHECK(raw_int(p, "SELECT count(*) FROM checkpoints") == 2);
    rm_db(p);
    rmdir(d);
}

/* A run another live process is training cannot be resumed or deleted
 * by accident; once that process is gone (killed: its session still says
 * "running"), it can. */
static void test_live_run(void)
{
    const char *p = tpath("live.db");
    rm_db(p);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        store *s = NULL;
        uerr e = {0};
        int64_t ck[1];
        int ok = !store_open(&s, p, 0, &e) && fill_run(s, "busy", ck, 1, &e) > 0;
        char c = ok ? 'y' : 'n';
        if (write(fds[1], &c, 1) != 1)
            _exit(2);
        sleep(30);
        _exit(0);
    }
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1 && c == 'y');
    close(fds[0]);
    close(fds[1]);
    store *s = NULL;
    uerr e = {0};
    int64_t run = 0, ck = 0, dropped;
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    CHECK_OK(store_run_resolve(s, "busy", &run, &e), &e);
    CHECK_OK(store_checkpoint_resolve(s, "busy", &ck, &e), &e);
    store_resume_info ri = {.command_line = "test"};
    CHECK(store_run_resume(s, run, ck, &ri, &dropped, &e) == UERR_USER);
    char want[64];
    snprintf(want, sizeof want, "still being trained by process %d", (int)pid);
    CHECKF(strstr(e.msg, want) != NULL, "got '%s'", e.msg);
    uerr_clear(&e);
    store_removed st;
    CHECK(store_run_delete(s, run, 0, &st, &e) == UERR_USER && strstr(e.msg, "stop it first"));
    uerr_clear(&e);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK_OK(store_run_resume(s, run, ck, &ri, &dropped, &e), &e);
    CHECK(raw_int(p, "SELECT count(*) FROM sessions WHERE run = 1") == 2);
    CHECK_OK(store_run_finish(s, run, "interrupted", &e), &e);
    char buf[64];
    CHECK(!strcmp(
        raw_text(p, "SELECT status FROM sessions ORDER BY id DESC LIMIT 1", buf, sizeof buf),
        "interrupted"));
    store_close(s);
    rm_db(p);
}

/* A writer outlasts another process's transaction that is longer than one
 * busy timeout but shorter than STORE_BUSY_TRIES of them. */
static void test_busy_retry(void)
{
    const char *p = tpath("retry.db");
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "r", .config_text = ""};
    int64_t run = 0;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
    CHECK_OK(store_busy_timeout(s, 60, &e), &e);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *o = NULL;
        char c = 'n';
        if (sqlite3_open_v2(p, &o, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
            sqlite3_exec(o, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
            c = 'y';
        if (write(fds[1], &c, 1) != 1)
            _exit(2);
        usleep(150000); /* 2.5 busy timeouts */
        sqlite3_exec(o, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(o);
        _exit(0);
    }
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1 && c == 'y');
    close(fds[0]);
    close(fds[1]);
    CHECK_OK(store_metric(s, run, 1, "loss", 0.5, &e), &e);
    CHECK_OK(store_flush(s, &e), &e);
    int status;
    waitpid(pid, &status, 0);
    store_close(s);
    CHECK(raw_int(p, "SELECT count(*) FROM metrics") == 1);
    rm_db(p);
}

/* A failure returns the code it reported: a broken file (a table dropped
 * behind the store's back) is an internal error, not the user's. */
static void test_error_codes(void)
{
    const char *p = tpath("codes.db");
    rm_db(p);
    store *s = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&s, p, 0, &e), &e);
    if (!s)
        return;
    store_run_info info = {.name = "r", .config_text = ""};
    int64_t run = 0, *steps = NULL, n = 0;
    double *values = NULL;
    CHECK_OK(store_run_begin(s, &info, &run, &e), &e);
    CHECK(raw_exec(p, "DROP TABLE metrics") == SQLITE_OK);
    table t;
    uerr_clear(&e);
    int rc = store_metrics_table(s, run, NULL, &t, &e);
    CHECK(rc == UERR_INTERNAL && rc == e.code && strstr(e.msg, "no such table"));
    uerr_clear(&e);
    rc = store_metric_series(s, run, "loss", &steps, &values, &n, &e);
    CHECK(rc == UERR_INTERNAL && rc == e.code);
    uerr_clear(&e);
    FILE *devnull = fopen("/dev/null", "w");
    rc = devnull ? store_metrics_csv(s, run, devnull, &e) : -1;
    CHECK(rc == UERR_INTERNAL && rc == e.code);
    if (devnull)
        fclose(devnull);
    store_close(s);
    rm_db(p);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/unroll-store-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_sha256);
    RUN(test_create_and_schema);
    RUN(test_refusals);
    RUN(test_runs);
    RUN(test_metrics);
    RUN(test_metrics_groups);
    RUN(test_checkpoints);
    RUN(test_readonly_and_concurrent);
    RUN(test_locked);
    RUN(test_migrate_v1);
    RUN(test_listings_and_lineage);
    RUN(test_query);
    RUN(test_full);
    RUN(test_permissions);
    RUN(test_live_run);
    RUN(test_busy_retry);
    RUN(test_error_codes);
    rmdir(tmpdir);
    CHECK_EXIT();
}
