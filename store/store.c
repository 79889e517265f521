/*
 * store.c - the SQLite checkpoint store (see store.h, docs/store.md).
 *
 * Invariants:
 * - Every write happens inside BEGIN IMMEDIATE ... COMMIT. IMMEDIATE takes
 *   the write lock up front, so the busy timeout applies to it; a deferred
 *   transaction that later upgrades to a writer can fail with SQLITE_BUSY
 *   at once, without waiting, when another process is writing.
 * - On any failure inside a transaction it is rolled back (unless SQLite
 *   already did so), so the file only ever holds whole operations.
 * - The metric buffer is cleared only after the transaction that wrote it
 *   committed; a failed write keeps the rows for the next attempt.
 * - The first statements on a newly opened file only read. Nothing is
 *   written (not even the journal mode) until the file is known to be a
 *   fresh or an unroll database of a version we understand.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the store keeps tensors in host byte order, which must be little-endian"
#endif

/* ---- schema ----------------------------------------------------------- */

/* store_migrations[v] upgrades a file from user_version v to v + 1. Append
 * a step for each schema change and bump STORE_SCHEMA_VERSION; never edit
 * a step that has shipped, since files already carry its result. */
static const char *const store_migrations[] = {
    /* 0 -> 1: the initial schema. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE"
    "    CHECK (name <> '' AND name GLOB '*[^0-9]*' AND instr(name, '@') = 0),"
    "  config_text TEXT NOT NULL,"
    "  config_hash TEXT NOT NULL,"
    "  parent_checkpoint INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,"
    "  command_line TEXT NOT NULL DEFAULT '',"
    "  program_version TEXT NOT NULL DEFAULT '',"
    "  started TEXT NOT NULL,"
    "  finished TEXT,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),"
    "  data_hash TEXT NOT NULL DEFAULT '',"
    "  blas TEXT NOT NULL DEFAULT '',"
    "  threads INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX runs_parent ON runs(parent_checkpoint);"
    "CREATE TABLE run_vocab ("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,"
    "  codepoint INTEGER NOT NULL,"
    "  PRIMARY KEY (run, id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE checkpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL CHECK (step >= 0),"
    "  version INTEGER NOT NULL,"
    "  created TEXT NOT NULL,"
    "  metrics TEXT CHECK (metrics IS NULL OR json_valid(metrics)),"
    "  tag TEXT UNIQUE"
    "    CHECK (tag IS NULL OR (tag GLOB '*[^0-9]*' AND instr(tag, '@') = 0)),"
    "  note TEXT,"
    "  UNIQUE (run, version)"
    ");"
    "CREATE INDEX checkpoints_run_step ON checkpoints(run, step);"
    "CREATE TABLE tensors ("
    "  hash TEXT PRIMARY KEY,"
    "  dtype TEXT NOT NULL CHECK (dtype IN ('float32', 'float64', 'int32')),"
    "  shape TEXT NOT NULL,"
    "  nbytes INTEGER NOT NULL,"
    "  data BLOB NOT NULL"
    ");"
    "CREATE TABLE checkpoint_tensors ("
    "  checkpoint INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('param', 'optim', 'state', 'rng', 'cursor')),"
    "  tensor TEXT NOT NULL REFERENCES tensors(hash),"
    "  PRIMARY KEY (checkpoint, name)"
    ") WITHOUT ROWID;"
    "CREATE INDEX checkpoint_tensors_tensor ON checkpoint_tensors(tensor);"
    "CREATE TABLE metrics ("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value REAL,"
    "  PRIMARY KEY (run, step, name)"
    ") WITHOUT ROWID;",

    /* 1 -> 2: lineage and sessions. A checkpoint records the checkpoint it
     * descends from (parent) and the session (process) that saved it; a
     * run records how its parameters started (init). One session per
     * training process on a run: its start or a resume, with the pid and
     * host that tell whether it is still alive. Deleting a checkpoint
     * relinks its children in the same run to its own parent, so a pruned
     * lineage still leads back to where it started; children in other
     * runs (started --from it) lose the link. */
    "ALTER TABLE runs ADD COLUMN init TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('start', 'resume', 'import')),"
    "  from_checkpoint INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,"
    "  from_step INTEGER,"
    "  started TEXT NOT NULL,"
    "  finished TEXT,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),"
    "  metrics_dropped INTEGER NOT NULL DEFAULT 0,"
    "  command_line TEXT NOT NULL DEFAULT '',"
    "  program_version TEXT NOT NULL DEFAULT '',"
    "  blas TEXT NOT NULL DEFAULT '',"
    "  threads INTEGER NOT NULL DEFAULT 0,"
    "  host TEXT NOT NULL DEFAULT '',"
    "  pid INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX sessions_run ON sessions(run);"
    "CREATE INDEX sessions_from ON sessions(from_checkpoint);"
    "ALTER TABLE checkpoints ADD COLUMN parent INTEGER"
    "  REFERENCES checkpoints(id) ON DELETE SET NULL;"
    "ALTER TABLE checkpoints ADD COLUMN session INTEGER"
    "  REFERENCES sessions(id) ON DELETE SET NULL;"
    "CREATE INDEX checkpoints_parent ON checkpoints(parent);"
    "CREATE INDEX checkpoints_session ON checkpoints(session);"
    "CREATE TRIGGER checkpoints_relink BEFORE DELETE ON checkpoints BEGIN"
    "  UPDATE checkpoints SET parent = OLD.parent WHERE parent = OLD.id AND run = OLD.run;"
    "END;",
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* ---- the handle: struct store is in store_int.h ----------------------- */

const char *store_path(const store *s) { return s->path; }

/* ---- error helpers ---------------------------------------------------- */

/* The user can act on these (free space, wait, pick another file), so
 * they are not reported as internal errors. */
static int store_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_CORRUPT:
    case SQLITE_TOOBIG:
        return UERR_USER;
    default:
        return UERR_INTERNAL;
    }
}

/* "PATH: sqlite message (while what)" for the last failure on s->db. */
int store_fail(store *s, const char *what, uerr *e)
{
    int rc = sqlite3_extended_errcode(s->db);
    if (what)
        return uerr_set(e, store_code(rc), "%s: %s (while %s)", s->path, sqlite3_errmsg(s->db),
                        what);
    return uerr_set(e, store_code(rc), "%s: %s", s->path, sqlite3_errmsg(s->db));
}

int store_exec(store *s, const char *sql, const char *what, uerr *e)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(s, what, e);
    return 0;
}

int store_prep(store *s, const char *sql, sqlite3_stmt **st, const char *what, uerr *e)
{
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return store_fail(s, what, e);
    return 0;
}

/* sqlite3_finalize only repeats the error of the last step, which was
 * already reported, so its result carries no new information. */
void store_final(sqlite3_stmt *st) { (void)sqlite3_finalize(st); }

int store_writable(store *s, uerr *e)
{
    if (s->readonly)
        return uerr_set(e, UERR_USER, "%s: opened read-only", s->path);
    return 0;
}

int store_begin(store *s, const char *what, uerr *e)
{
    /* Each attempt already waits the busy timeout; a few more let a
     * trainer outlast another process's long transaction (a prune, a
     * large import) instead of failing a run over it. */
    for (int attempt = 0;; attempt++) {
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
            break;
        if ((sqlite3_errcode(s->db) & 0xff) != SQLITE_BUSY || attempt + 1 >= STORE_BUSY_TRIES) {
            return store_fail(s, what, e);
        }
    }
    s->in_txn = 1;
    return 0;
}

int store_commit(store *s, const char *what, uerr *e)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = store_fail(s, what, e);
        if (!sqlite3_get_autocommit(s->db))
            (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = 0;
        return rc;
    }
    s->in_txn = 0;
    return 0;
}

/* Undoes the open transaction after a failure already in e. SQLite may
 * have rolled back by itself (full disk, I/O error); then there is
 * nothing left to undo and ROLLBACK would only fail. */
void store_rollback(store *s, uerr *e)
{
    if (s->in_txn && !sqlite3_get_autocommit(s->db) &&
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        store_fail(s, "rolling back", e);
    s->in_txn = 0;
}

int store_end(store *s, int rc, const char *what, uerr *e)
{
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    return store_commit(s, what, e);
}

/* A single-row integer query; *found says whether a row came back. */
int store_query_int(store *s, sqlite3_stmt *st, int64_t *val, int *found, const char *what,
                           uerr *e)
{
    int rc = sqlite3_step(st);
    *found = 0;
    if (rc == SQLITE_ROW) {
        *val = sqlite3_column_int64(st, 0);
        *found = 1;
        return 0;
    }
    if (rc == SQLITE_DONE)
        return 0;
    return store_fail(s, what, e);
}

char *store_strdup(const char *p)
{
    if (!p)
        return NULL;
    size_t n = strlen(p) + 1;
    char *q = malloc(n);
    if (q)
        memcpy(q, p, n);
    return q;
}

int store_oom(store *s, const char *what, uerr *e)
{
    return uerr_set(e, UERR_INTERNAL, "%s: out of memory (while %s)", s->path, what);
}

/* A value written by the sqlite3_bind_* family must not be silently lost:
 * a text or blob too large fails here. */
int store_bound(store *s, int rc, const char *what, uerr *e)
{
    return rc == SQLITE_OK ? 0 : store_fail(s, what, e);
}

int store_is_digits(const char *p)
{
    if (!*p)
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* All digits and small enough for int64; *v gets the value. */
int store_parse_id(const char *p, int64_t *v)
{
    if (!store_is_digits(p) || strlen(p) > 18)
        return 0;
    *v = strtoll(p, NULL, 10);
    return 1;
}

/* ---- open / close ----------------------------------------------------- */

/* Reads what the file says about itself before anything writes to it.
 * This is also where a non-SQLite file shows: the first read of the
 * header fails with SQLITE_NOTADB "file is not a database". */
static int store_identify(store *s, int64_t *appid, int64_t *version, int64_t *ntables, uerr *e)
{
    /* One statement, so one snapshot: read apart, another process's
     * migration could commit in between and pair "application_id 0" with
     * its new tables, which reads as a foreign database. */
    static const char *const q = "SELECT a.application_id, v.user_version,"
                                 " (SELECT count(*) FROM sqlite_master)"
                                 " FROM pragma_application_id() a, pragma_user_version() v";
    sqlite3_stmt *st;
    int rc = store_prep(s, q, &st, NULL, e);
    if (rc)
        return rc;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *appid = sqlite3_column_int64(st, 0);
        *version = sqlite3_column_int64(st, 1);
        *ntables = sqlite3_column_int64(st, 2);
    } else if (r == SQLITE_DONE) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: reading the file's identity returned no row",
                      s->path);
    } else {
        rc = store_fail(s, NULL, e);
    }
    store_final(st);
    return rc;
}

/* Brings a file at user_version `from` up to STORE_SCHEMA_VERSION. Runs in
 * one transaction, re-reading the version inside it: another process may
 * have migrated (or created) the file while this one waited for the lock. */
static int store_migrate(store *s, uerr *e)
{
    int rc = store_begin(s, "upgrading the schema", e);
    if (rc)
        return rc;
    int64_t appid, version, ntables;
    rc = store_identify(s, &appid, &version, &ntables, e);
    if (!rc && appid != STORE_APPLICATION_ID && (appid != 0 || ntables != 0 || version != 0))
        rc = uerr_set(e, UERR_USER, "%s: not an unroll database (changed while opening)",
                      s->path);
    for (int64_t v = version; !rc && v < STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "upgrading the schema from version %d to %d", (int)v,
                 (int)v + 1);
        rc = store_exec(s, store_migrations[v], what, e);
    }
    if (!rc && version < STORE_SCHEMA_VERSION) {
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 STORE_SCHEMA_VERSION, STORE_APPLICATION_ID);
        rc = store_exec(s, sql, "writing the schema version", e);
    }
    return store_end(s, rc, "upgrading the schema", e);
}

static int store_set_wal(store *s, uerr *e)
{
    sqlite3_stmt *st;
    int rc = store_prep(s, "PRAGMA journal_mode = WAL", &st, "enabling WAL", e);
    if (rc)
        return rc;
    /* Switching a new file to WAL needs an exclusive lock. When another
     * process is creating the same file at that moment, SQLite reports
     * SQLITE_BUSY at once instead of calling the busy handler (waiting
     * could deadlock a reader that wants to write), so wait here, up to
     * the busy timeout, in short sleeps. */
    int waited = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_BUSY && waited < s->busy_ms) {
        (void)sqlite3_reset(st);
        sqlite3_sleep(5);
        waited += 5;
    }
    if (rc != SQLITE_ROW) {
        rc = store_fail(s, "enabling WAL", e);
        store_final(st);
        return rc;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    /* An in-memory database reports "memory" and cannot use WAL. */
    int ok = mode && (!strcmp(mode, "wal") || !strcmp(mode, "memory"));
    rc = ok ? 0
            : uerr_set(e, UERR_USER, "%s: cannot use WAL mode (journal mode stays '%s')",
                       s->path, mode ? mode : "?");
    store_final(st);
    return rc;
}

static int store_setup(store *s, uerr *e)
{
    int64_t appid, version, ntables;
    if (sqlite3_extended_result_codes(s->db, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(s->db, s->busy_ms = 5000) != SQLITE_OK)
        return store_fail(s, "configuring the connection", e);
    int rc = store_exec(s, "PRAGMA foreign_keys = ON", "enabling foreign keys", e);
    if (!rc)
        rc = store_identify(s, &appid, &version, &ntables, e);
    if (rc)
        return rc;
    int fresh = appid == 0 && ntables == 0 && version == 0;
    if (appid != STORE_APPLICATION_ID && !fresh)
        return uerr_set(e, UERR_USER,
                        "%s: not an unroll database (application_id %" PRId64
                        ", %" PRId64 " schema objects); refusing to use it",
                        s->path, appid, ntables);
    if (version > STORE_SCHEMA_VERSION)
        return uerr_set(e, UERR_USER,
                        "%s: schema version %" PRId64
                        " is newer than this unroll understands (%d); use a newer unroll",
                        s->path, version, STORE_SCHEMA_VERSION);
    if (s->readonly) {
        if (fresh)
            return uerr_set(e, UERR_USER, "%s: empty database, nothing to read", s->path);
        if (version < STORE_SCHEMA_VERSION) {
            s->too_old = 1;
            return uerr_set(e, UERR_USER,
                            "%s: schema version %" PRId64
                            " is older than %d; open it once read-write to upgrade it",
                            s->path, version, STORE_SCHEMA_VERSION);
        }
    } else if ((rc = store_set_wal(s, e))) {
        return rc;
    }
    /* NORMAL is durable in WAL mode except for the last commits before a
     * power loss; a crash of the process itself loses nothing. */
    if ((rc = store_exec(s, "PRAGMA synchronous = NORMAL", "setting synchronous", e)))
        return rc;
    /* 512 KiB of page cache instead of SQLite's 2 MB: a training process
     * writes each page once (metrics, a checkpoint's tensors) and reads
     * back little, and its memory is for the model; the OS caches the
     * file for the listings */
    if ((rc = store_exec(s, "PRAGMA cache_size = -512", "setting the cache size", e)))
        return rc;
    if (!s->readonly && version < STORE_SCHEMA_VERSION)
        return store_migrate(s, e);
    return 0;
}

/* "file:PATH?immutable=1" with the characters a URI gives meaning to
 * escaped; NULL when out of memory. */
static char *store_immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *u = malloc(3 * n + 32);
    if (!u)
        return NULL;
    size_t k = (size_t)sprintf(u, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            k += (size_t)sprintf(u + k, "%%%02X", (unsigned char)*p);
        else
            u[k++] = *p;
    }
    sprintf(u + k, "?immutable=1");
    return u;
}

/* Whether PATH's directory exists but cannot take new files (SQLite's
 * -wal, -shm). */
static int store_dir_readonly(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) != 0;
}

/* Opens s->db in one mode and checks the file. *sqlite_rc gets the primary
 * SQLite code of a failure inside SQLite (0 otherwise). */
static int store_open_mode(store *s, int readonly, int immutable, int *sqlite_rc, uerr *e)
{
    s->readonly = readonly;
    s->immutable = immutable;
    *sqlite_rc = 0;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    char *uri = NULL;
    if (immutable) {
        if (!(uri = store_immutable_uri(s->path)))
            return store_oom(s, "opening", e);
        flags |= SQLITE_OPEN_URI;
    }
    int rc = sqlite3_open_v2(uri ? uri : s->path, &s->db, flags, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        *sqlite_rc = rc & 0xff;
        if (s->db)
            return store_fail(s, NULL, e);
        return uerr_set(e, UERR_INTERNAL, "%s: %s", s->path, sqlite3_errstr(rc));
    }
    /* SQLite quietly opens a write-protected file read-only; refusing here
     * beats failing at the first checkpoint of a long run. */
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1)
        return uerr_set(e, UERR_USER,
                        "%s: the file is read-only for this user; nothing was written "
                        "(read-only queries still work)",
                        s->path);
    rc = store_setup(s, e);
    if (rc && e && e->code && sqlite3_errcode(s->db) != SQLITE_OK)
        *sqlite_rc = sqlite3_errcode(s->db) & 0xff;
    return rc;
}

static void store_close_db(store *s)
{
    (void)sqlite3_close(s->db);
    s->db = NULL;
}

int store_open(store **out, const char *path, int mode, uerr *e)
{
    *out = NULL;
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = store_strdup(path))) {
        free(s);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    }
    int readonly = mode != STORE_READ_WRITE, src;
    uerr e1 = {0};
    int rc = store_open_mode(s, readonly, 0, &src, &e1);
    if (rc && readonly && s->too_old && mode == STORE_READ_UPGRADE &&
        access(path, W_OK) == 0) {
        /* Migrate through a read-write handle, then read as asked. */
        store_close_db(s);
        store *w = NULL;
        uerr_clear(&e1);
        if (!(rc = store_open(&w, path, STORE_READ_WRITE, &e1))) {
            store_close(w);
            rc = store_open_mode(s, 1, 0, &src, &e1);
        }
    } else if (rc && readonly && (src == SQLITE_READONLY || src == SQLITE_CANTOPEN)) {
        /* A WAL file needs its -shm even to read. When it is missing and
         * cannot be created, no writer has the file open (a writer would
         * have made it), and without a -wal holding unmerged commits the
         * main file is the whole database: immutable mode reads it. */
        char wal[4200];
        struct stat st;
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (stat(wal, &st) != 0 || st.st_size == 0) {
            store_close_db(s);
            uerr e2 = {0};
            /* If that fails too, the first error is the one to report. */
            if (!store_open_mode(s, 1, 1, &src, &e2))
                rc = 0;
        }
    } else if (rc && !readonly && src == SQLITE_CANTOPEN && store_dir_readonly(path)) {
        uerr_clear(&e1);
        uerr_set(&e1, UERR_USER,
                 "%s: cannot create its -wal and -shm files (the directory is not writable); "
                 "nothing was written",
                 path);
    }
    if (rc) {
        if (e && !e->code)
            *e = e1;
        store_close_db(s);
        free(s->path);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    if (!s->readonly)
        (void)store_flush(s, NULL);
    /* Every statement is finalized where it was prepared, so close cannot
     * be kept busy by one; its result has nowhere to go. */
    (void)sqlite3_close(s->db);
    free(s->mrows);
    free(s->mnames);
    free(s->path);
    free(s);
}

int store_busy_timeout(store *s, int ms, uerr *e)
{
    s->busy_ms = ms;
    if (sqlite3_busy_timeout(s->db, ms) != SQLITE_OK)
        return store_fail(s, "setting the busy timeout", e);
    return 0;
}

/* ---- names ------------------------------------------------------------ */

int store_check_label(store *s, const char *what, const char *name, uerr *e)
{
    size_t n = strlen(name);
    /* A tag that read as digits would shadow a checkpoint id, a run name a
     * run id: references try ids first. */
    const char *idkind = strcmp(what, "tag") ? "a run id" : "a checkpoint id";
    if (n == 0)
        return uerr_set(e, UERR_USER, "%s: a %s cannot be empty", s->path, what);
    if (n > STORE_NAME_MAX)
        return uerr_set(e, UERR_USER, "%s: %s '%.40s...' is longer than %d bytes", s->path, what,
                        name, STORE_NAME_MAX);
    if (store_is_digits(name))
        return uerr_set(e, UERR_USER, "%s: %s '%s' is all digits and would read as %s", s->path,
                        what, name, idkind);
    for (const char *p = name; *p; p++) {
        if (*p == '@')
            return uerr_set(e, UERR_USER, "%s: %s '%s' contains '@', which separates RUN@STEP",
                            s->path, what, name);
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return uerr_set(e, UERR_USER, "%s: %s contains a control character", s->path, what);
    }
    return 0;
}

static int store_check_run_name(store *s, const char *name, uerr *e)
{
    return store_check_label(s, "run name", name, e);
}

/* Whether a run called name exists. */
static int store_name_taken(store *s, const char *name, int *taken, uerr *e)
{
    int64_t id;
    return store_lookup(s, &id, taken, "looking up a run name", e,
                        "SELECT id FROM runs WHERE name = ?", "t", name);
}

int store_unique_run_name(store *s, const char *base, char *out, size_t n, uerr *e)
{
    if (!base || !*base)
        base = "run";
    int rc = store_check_run_name(s, base, e);
    for (long i = 1; !rc; i++) {
        int k = i == 1 ? snprintf(out, n, "%s", base) : snprintf(out, n, "%s-%ld", base, i);
        if (k < 0 || (size_t)k >= n || k > STORE_NAME_MAX)
            return uerr_set(e, UERR_USER, "%s: no room for a run name based on '%s'", s->path,
                            base);
        int taken;
        if ((rc = store_name_taken(s, out, &taken, e)))
            break;
        if (!taken)
            return 0;
    }
    return rc;
}

/* ---- runs ------------------------------------------------------------- */

int store_run_exists(store *s, int64_t run, uerr *e)
{
    int64_t id;
    int found;
    int rc = store_lookup(s, &id, &found, "looking up a run", e,
                          "SELECT id FROM runs WHERE id = ?", "I", run);
    if (!rc && !found)
        rc = uerr_set(e, UERR_USER, "%s: no run with id %" PRId64, s->path, run);
    return rc;
}

/* ---- sessions ---------------------------------------------------------- */

typedef struct store_session_info {
    int64_t run;
    const char *kind; /* start, resume, import */
    int64_t from;     /* checkpoint, 0: none */
    const char *command_line, *program_version, *blas;
    int threads;
    int64_t dropped;
} store_session_info;

static void store_hostname(char *host, size_t n)
{
    if (gethostname(host, n) != 0)
        snprintf(host, n, "?");
    host[n - 1] = '\0';
}

/* Inserts a session row for this process, inside the caller's
 * transaction. */
static int store_session_insert(store *s, const store_session_info *si, int64_t *id, uerr *e)
{
    const char *what = "recording the session";
    char host[256];
    store_hostname(host, sizeof host);
    int rc = store_do(s, what, e,
                      "INSERT INTO sessions (run, kind, from_checkpoint, from_step, started,"
                      " status, metrics_dropped, command_line, program_version, blas, threads,"
                      " host, pid) VALUES (?1, ?2, ?3, (SELECT step FROM checkpoints WHERE"
                      " id = ?3), " STORE_NOW ", 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                      "ItRIoooitI", si->run, si->kind, si->from, si->dropped, si->command_line,
                      si->program_version, si->blas, si->threads, host, (int64_t)getpid());
    if (!rc)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_run_alive(store *s, int64_t run, int *alive, int64_t *pid, char *host, uerr *e)
{
    const char *what = "looking up the run's sessions";
    sqlite3_stmt *st;
    *alive = 0;
    *pid = 0;
    host[0] = '\0';
    int rc = store_prepare(
        s, &st, what, e,
        "SELECT status, host, pid FROM sessions WHERE run = ? ORDER BY id DESC LIMIT 1", "I", run);
    if (rc)
        return rc;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        char me[256];
        store_hostname(me, sizeof me);
        snprintf(host, 256, "%s", h ? h : "");
        *pid = sqlite3_column_int64(st, 2);
        /* kill(pid, 0) only asks whether the process exists; EPERM means
         * it does, under another user. A reused pid reads as alive: the
         * caller offers --force for that. */
        if (status && !strcmp(status, "running") && h && !strcmp(h, me) && *pid > 0 &&
            *pid != (int64_t)getpid() && (kill((pid_t)*pid, 0) == 0 || errno == EPERM))
            *alive = 1;
    } else if (r != SQLITE_DONE) {
        rc = store_fail(s, what, e);
    }
    store_final(st);
    return rc;
}


int store_run_lost(store *s, int64_t run, int *lost, uerr *e)
{
    int alive;
    int64_t pid;
    char host[256], me[256];
    *lost = 0;
    int rc = store_run_alive(s, run, &alive, &pid, host, e);
    if (rc || alive || pid <= 0 || pid == (int64_t)getpid())
        return rc;
    store_hostname(me, sizeof me);
    /* store_run_alive() answered "not alive" for a running session of this
     * host only when its process is gone; other hosts cannot be asked */
    if (!strcmp(host, me) && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        sqlite3_stmt *st;
        rc = store_prepare(s, &st, "reading a run", e, "SELECT status FROM runs WHERE id = ?", "I",
                           run);
        if (!rc && sqlite3_step(st) == SQLITE_ROW) {
            const char *status = (const char *)sqlite3_column_text(st, 0);
            *lost = status && !strcmp(status, "running");
        }
        store_final(st);
    }
    return rc;
}

int store_run_begin(store *s, const store_run_info *info, int64_t *run_id, uerr *e)
{
    const char *what = "creating a run";
    char name[STORE_NAME_MAX + 1];
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (info->threads < 0 || info->nvocab < 0 || (info->nvocab > 0 && !info->vocab))
        return uerr_set(e, UERR_INTERNAL, "%s: invalid run description", s->path);
    int named = info->name && *info->name;
    if (named && (rc = store_check_run_name(s, info->name, e)))
        return rc;
    char config_hash[SHA256_HEX_SIZE];
    const char *config = info->config_text ? info->config_text : "";
    sha256_hex(config, strlen(config), config_hash);

    if ((rc = store_begin(s, what, e)))
        return rc;
    /* Choosing a fresh name inside the transaction makes choose-and-insert
     * atomic, so two processes starting unnamed runs cannot collide. */
    if (named) {
        int taken;
        snprintf(name, sizeof name, "%s", info->name);
        if (!(rc = store_name_taken(s, name, &taken, e)) && taken)
            rc = uerr_set(e, UERR_USER, "run '%s' already exists in %s; choose another --name",
                          name, s->path);
    } else {
        rc = store_unique_run_name(s, "run", name, sizeof name, e);
    }
    if (!rc && info->parent_checkpoint) {
        int64_t id;
        int found = 0;
        rc = store_lookup(s, &id, &found, what, e, "SELECT id FROM checkpoints WHERE id = ?", "I",
                          info->parent_checkpoint);
        if (!rc && !found)
            rc = uerr_set(e, UERR_USER, "%s: parent checkpoint %" PRId64 " does not exist",
                          s->path, info->parent_checkpoint);
    }
    if (!rc)
        rc = store_do(s, what, e,
                      "INSERT INTO runs (name, config_text, config_hash, parent_checkpoint,"
                      " command_line, program_version, started, status, data_hash, blas,"
                      " threads, init) VALUES (?, ?, ?, ?, ?, ?, " STORE_NOW
                      ", 'running', ?, ?, ?, ?)",
                      "tttRooooio", name, config, config_hash, info->parent_checkpoint,
                      info->command_line, info->program_version, info->data_hash, info->blas,
                      info->threads, info->init);
    int64_t id = sqlite3_last_insert_rowid(s->db);
    sqlite3_stmt *st = NULL;
    if (!rc && info->nvocab > 0 &&
        !(rc = store_prep(s, "INSERT INTO run_vocab (run, id, codepoint) VALUES (?, ?, ?)", &st,
                          "storing the vocabulary", e))) {
        for (int i = 0; !rc && i < info->nvocab; i++) {
            rc = store_bind(s, st, "storing the vocabulary", e, "Iii", id, i, (int)info->vocab[i]);
            if (!rc)
                rc = store_step_done(s, st, "storing the vocabulary", e);
            if (!rc && sqlite3_reset(st) != SQLITE_OK)
                rc = store_fail(s, "storing the vocabulary", e);
        }
    }
    store_final(st);
    int64_t session = 0;
    if (!rc) {
        store_session_info si = {.run = id,
                                 .kind = !strcmp(info->init ? info->init : "", "import")
                                             ? "import"
                                             : "start",
                                 .from = info->parent_checkpoint,
                                 .command_line = info->command_line,
                                 .program_version = info->program_version,
                                 .blas = info->blas,
                                 .threads = info->threads};
        rc = store_session_insert(s, &si, &session, e);
    }
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    if ((rc = store_commit(s, what, e)))
        return rc;
    s->session = session;
    s->session_run = id;
    *run_id = id;
    return 0;
}


int store_run_finish(store *s, int64_t run, const char *status, uerr *e)
{
    const char *what = "recording the run's status";
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (!status || (strcmp(status, "running") && strcmp(status, "finished") &&
                    strcmp(status, "interrupted") && strcmp(status, "failed")))
        return uerr_set(e, UERR_INTERNAL, "%s: invalid run status '%s'", s->path,
                        status ? status : "(null)");
    if ((rc = store_begin(s, what, e)))
        return rc;
    if (!(rc = store_run_exists(s, run, e)) && !(rc = store_flush_rows(s, e)))
        rc = store_do(s, what, e,
                      "UPDATE runs SET status = ?1,"
                      " finished = CASE WHEN ?1 = 'running' THEN NULL ELSE " STORE_NOW
                      " END WHERE id = ?2",
                      "tI", status, run);
    if (!rc && s->session && s->session_run == run)
        rc = store_do(s, what, e,
                      "UPDATE sessions SET status = ?1,"
                      " finished = CASE WHEN ?1 = 'running' THEN NULL ELSE " STORE_NOW
                      " END WHERE id = ?2",
                      "tI", status, s->session);
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    if ((rc = store_commit(s, what, e)))
        return rc;
    s->nm = 0;
    s->mnames_len = 0;
    return 0;
}

int store_run_resume(store *s, int64_t run, int64_t ckpt, const store_resume_info *ri,
                     int64_t *dropped, uerr *e)
{
    const char *what = "resuming the run";
    int rc;
    *dropped = 0;
    if ((rc = store_writable(s, e)) || (rc = store_flush(s, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        return rc;
    int64_t step = 0, session = 0;
    int found = 0;
    if (!(rc = store_run_exists(s, run, e)) &&
        !(rc = store_lookup(s, &step, &found, what, e,
                            "SELECT step FROM checkpoints WHERE id = ? AND run = ?", "II", ckpt,
                            run)) &&
        !found)
        rc = uerr_set(e, UERR_USER, "%s: checkpoint %" PRId64 " is not one of run %" PRId64,
                      s->path, ckpt, run);
    if (!rc && !ri->force) {
        int alive;
        int64_t pid;
        char host[256];
        if (!(rc = store_run_alive(s, run, &alive, &pid, host, e)) && alive)
            rc = uerr_set(e, UERR_USER,
                          "%s: run %" PRId64 " is still being trained by process %" PRId64
                          " on %s; stop it first (or pass --force if that process is not "
                          "unroll)",
                          s->path, run, pid, host);
    }
    /* The interrupted process may have logged (and flushed) steps past
     * the checkpoint; the resumed process logs them again. */
    if (!rc && !(rc = store_do(s, what, e, "DELETE FROM metrics WHERE run = ? AND step > ?",
                               "II", run, step)))
        *dropped = sqlite3_changes(s->db);
    if (!rc) {
        char hash[SHA256_HEX_SIZE];
        if (ri->config_text)
            sha256_hex(ri->config_text, strlen(ri->config_text), hash);
        rc = store_do(s, what, e,
                      "UPDATE runs SET status = 'running', finished = NULL,"
                      " config_text = coalesce(?1, config_text),"
                      " config_hash = coalesce(?2, config_hash) WHERE id = ?3",
                      "ttI", ri->config_text, ri->config_text ? hash : NULL, run);
    }
    if (!rc) {
        store_session_info si = {.run = run,
                                 .kind = "resume",
                                 .from = ckpt,
                                 .command_line = ri->command_line,
                                 .program_version = ri->program_version,
                                 .blas = ri->blas,
                                 .threads = ri->threads,
                                 .dropped = *dropped};
        rc = store_session_insert(s, &si, &session, e);
    }
    if (rc) {
        store_rollback(s, e);
        *dropped = 0;
        return rc;
    }
    if ((rc = store_commit(s, what, e))) {
        *dropped = 0;
        return rc;
    }
    s->session = session;
    s->session_run = run;
    return 0;
}

int store_run_resolve(store *s, const char *name_or_id, int64_t *run, uerr *e)
{
    int64_t id;
    if (store_parse_id(name_or_id, &id)) {
        int rc = store_run_exists(s, id, e);
        if (!rc)
            *run = id;
        return rc;
    }
    int found;
    int rc = store_lookup(s, &id, &found, "looking up a run", e,
                          "SELECT id FROM runs WHERE name = ?", "t", name_or_id);
    if (!rc && !found)
        rc = uerr_set(e, UERR_USER, "%s: no run named '%s'", s->path, name_or_id);
    if (!rc)
        *run = id;
    return rc;
}

/* An owned copy of a text column; NULL stays NULL. *oom is set when the
 * copy of a non-NULL value failed. */
char *store_col_text(sqlite3_stmt *st, int i, int *oom)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *c = store_strdup(t);
    if (!c)
        *oom = 1;
    return c;
}

void store_run_free(store_run *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->config_text);
    free(r->config_hash);
    free(r->command_line);
    free(r->program_version);
    free(r->started);
    free(r->finished);
    free(r->status);
    free(r->data_hash);
    free(r->blas);
    free(r->init);
    free(r->vocab);
    memset(r, 0, sizeof *r);
}

int store_run_get(store *s, int64_t id, store_run *out, uerr *e)
{
    const char *what = "reading a run";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc = store_prepare(s, &st, what, e,
                           "SELECT name, config_text, config_hash, command_line, program_version,"
                           " started, finished, status, data_hash, blas, threads,"
                           " coalesce(parent_checkpoint, 0), init FROM runs WHERE id = ?",
                           "I", id);
    if (rc)
        return rc;
    int oom = 0;
    if (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            out->id = id;
            out->name = store_col_text(st, 0, &oom);
            out->config_text = store_col_text(st, 1, &oom);
            out->config_hash = store_col_text(st, 2, &oom);
            out->command_line = store_col_text(st, 3, &oom);
            out->program_version = store_col_text(st, 4, &oom);
            out->started = store_col_text(st, 5, &oom);
            out->finished = store_col_text(st, 6, &oom);
            out->status = store_col_text(st, 7, &oom);
            out->data_hash = store_col_text(st, 8, &oom);
            out->blas = store_col_text(st, 9, &oom);
            out->threads = sqlite3_column_int(st, 10);
            out->parent_checkpoint = sqlite3_column_int64(st, 11);
            out->init = store_col_text(st, 12, &oom);
        } else if (r == SQLITE_DONE) {
            rc = uerr_set(e, UERR_USER, "%s: no run with id %" PRId64, s->path, id);
        } else {
            rc = store_fail(s, what, e);
        }
    }
    store_final(st);
    if (!rc && oom)
        rc = store_oom(s, what, e);
    if (!rc && !(rc = store_prepare(s, &st, what, e,
                                    "SELECT id, codepoint FROM run_vocab WHERE run = ? ORDER BY id",
                                    "I", id))) {
        int cap = 0, r = SQLITE_DONE;
        while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_int64(st, 0) != out->nvocab) {
                rc = uerr_set(e, UERR_USER, "%s: run %" PRId64 ": vocabulary ids are not 0..N-1",
                              s->path, id);
                break;
            }
            if (out->nvocab == cap) {
                int ncap = cap ? 2 * cap : 256;
                int32_t *v = realloc(out->vocab, (size_t)ncap * sizeof *v);
                if (!v) {
                    rc = store_oom(s, what, e);
                    break;
                }
                out->vocab = v;
                cap = ncap;
            }
            out->vocab[out->nvocab++] = (int32_t)sqlite3_column_int64(st, 1);
        }
        if (!rc && r != SQLITE_DONE)
            rc = store_fail(s, what, e);
        store_final(st);
    }
    if (rc)
        store_run_free(out);
    return rc;
}

/* ---- metrics ---------------------------------------------------------- */

/* Writes the buffered rows inside the caller's transaction; the caller
 * clears the buffer once that transaction commits. */
int store_flush_rows(store *s, uerr *e)
{
    const char *what = "writing metrics";
    if (s->nm == 0)
        return 0;
    sqlite3_stmt *st;
    /* A step logged twice (a resumed run re-running a step) keeps the
     * newest value rather than failing the whole batch. */
    int rc = store_prep(s,
                        "INSERT INTO metrics (run, step, name, value) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (run, step, name) DO UPDATE SET value = excluded.value",
                        &st, what, e);
    for (int i = 0; !rc && i < s->nm; i++) {
        const store_metric_row *m = &s->mrows[i];
        rc = store_bind(s, st, what, e, "IItf", m->run, m->step, s->mnames + m->name_off,
                        m->value);
        if (!rc)
            rc = store_step_done(s, st, what, e);
        if (!rc && sqlite3_reset(st) != SQLITE_OK)
            rc = store_fail(s, what, e);
    }
    store_final(st);
    return rc;
}

int store_flush(store *s, uerr *e)
{
    int rc;
    if (s->nm == 0)
        return 0;
    if ((rc = store_writable(s, e)) || (rc = store_begin(s, "writing metrics", e)))
        return rc;
    if ((rc = store_flush_rows(s, e))) {
        store_rollback(s, e);
        return rc;
    }
    if ((rc = store_commit(s, "writing metrics", e)))
        return rc;
    s->nm = 0;
    s->mnames_len = 0;
    return 0;
}

int store_metric(store *s, int64_t run, int64_t step, const char *name, double value, uerr *e)
{
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (!name || !*name || step < 0)
        return uerr_set(e, UERR_INTERNAL, "%s: invalid metric (name '%s', step %" PRId64 ")",
                        s->path, name ? name : "(null)", step);
    /* Checked here, once per run, so a bad run id fails at the call that
     * made it instead of poisoning a whole batch later. */
    if (run != s->metric_run_ok) {
        if ((rc = store_run_exists(s, run, e)))
            return rc;
        s->metric_run_ok = run;
    }
    if (s->nm == STORE_METRIC_BATCH && (rc = store_flush(s, e)))
        return rc;
    if (!s->mrows && !(s->mrows = malloc(STORE_METRIC_BATCH * sizeof *s->mrows)))
        return store_oom(s, "buffering metrics", e);
    size_t len = strlen(name) + 1;
    if (s->mnames_len + len > s->mnames_cap) {
        size_t cap = s->mnames_cap ? s->mnames_cap : 16384;
        while (cap < s->mnames_len + len)
            cap *= 2;
        char *p = realloc(s->mnames, cap);
        if (!p)
            return store_oom(s, "buffering metrics", e);
        s->mnames = p;
        s->mnames_cap = cap;
    }
    memcpy(s->mnames + s->mnames_len, name, len);
    s->mrows[s->nm++] = (store_metric_row){run, step, s->mnames_len, value};
    s->mnames_len += len;
    if (s->nm == STORE_METRIC_BATCH)
        return store_flush(s, e);
    return 0;
}

/* Quotes a CSV field only when it needs it (RFC 4180). */
void store_csv_field(FILE *out, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

int store_metrics_csv(store *s, int64_t run, FILE *out, uerr *e)
{
    const char *what = "reading metrics";
    int rc;
    if (!s->readonly && (rc = store_flush(s, e)))
        return rc;
    if ((rc = store_run_exists(s, run, e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = store_prepare(s, &st, what, e,
                            "SELECT step, name, value FROM metrics WHERE run = ? ORDER BY step, name",
                            "I", run)))
        return rc;
    fputs("step,name,value\n", out);
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        fprintf(out, "%" PRId64 ",", (int64_t)sqlite3_column_int64(st, 0));
        store_csv_field(out, name ? name : "");
        if (sqlite3_column_type(st, 2) == SQLITE_NULL)
            fputs(",nan\n", out);
        else
            fprintf(out, ",%.17g\n", sqlite3_column_double(st, 2));
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = uerr_set(e, UERR_USER, "writing metrics of run %" PRId64 ": %s", run,
                      strerror(errno));
    return rc;
}
