/*
 * store_open.c - opening and closing the store: the file's identity
 * check, WAL mode, the read-only and immutable fallbacks.
 *
 * Invariants:
 * - The first statements on a newly opened file only read. Nothing is
 *   written (not even the journal mode) until the file is known to be a
 *   fresh or an unroll database of a version we understand.
 * - A read-write open of a file this process cannot write is refused up
 *   front, not at the first checkpoint of a long run.
 */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the store keeps tensors in host byte order, which must be little-endian"
#endif

/* ---- the handle: struct store is in store_int.h ----------------------- */

const char *store_path(const store *s)
{
    return s->path;
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
            : uerr_set(e, UERR_USER, "%s: cannot use WAL mode (journal mode stays '%s')", s->path,
                       mode ? mode : "?");
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
                        "%s: not an unroll database (application_id %" PRId64 ", %" PRId64
                        " schema objects); refusing to use it",
                        s->path, appid, ntables);
    /* unroll's mark with no tables: a file cut short, or tables dropped */
    if (appid == STORE_APPLICATION_ID && ntables == 0)
        return uerr_set(e, UERR_USER,
                        "%s: damaged unroll store (its mark is there, its tables are not); "
                        "refusing to use it",
                        s->path);
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
    /* 64 KiB of page cache instead of SQLite's 2 MB: a training process
     * writes each page once (metrics, a checkpoint's tensors, spilled to
     * the WAL as the cache fills) and reads back little, and its memory is
     * for the model; the OS caches the file for the listings. 512 KiB
     * cost S3's `unroll train` 0.5 MB of its peak and saved nothing
     * measurable: 100 checkpoints of 5 MB took as long with 64. */
    if ((rc = store_exec(s, "PRAGMA cache_size = -64", "setting the cache size", e)))
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

void store_init_process(void)
{
    /* SQLITE_MISUSE once SQLite is initialised: then nothing changes */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

int store_open(store **out, const char *path, int mode, uerr *e)
{
    *out = NULL;
    /* SQLite would make "" and ":memory:" a database that vanishes on
     * close, block on a FIFO, and report a directory or a device as an
     * I/O error: none is a store */
    struct stat st0;
    if (!*path || !strcmp(path, ":memory:"))
        return uerr_set(e, UERR_USER, "'%s': not a database file (a store is kept in a file)",
                        path);
    if (stat(path, &st0) == 0 && !S_ISREG(st0.st_mode))
        return uerr_set(e, UERR_USER, "%s: not a regular file (a store is kept in a file)", path);
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = store_strdup(path))) {
        free(s);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    }
    int readonly = mode != STORE_READ_WRITE, src;
    uerr e1 = {0};
    int rc = store_open_mode(s, readonly, 0, &src, &e1);
    if (rc && readonly && s->too_old && mode == STORE_READ_UPGRADE && access(path, W_OK) == 0) {
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

int store_busy(const store *s)
{
    return s->last_busy;
}

int store_busy_timeout(store *s, int ms, uerr *e)
{
    s->busy_ms = ms;
    if (sqlite3_busy_timeout(s->db, ms) != SQLITE_OK)
        return store_fail(s, "setting the busy timeout", e);
    return 0;
}
