/*
 * store_stmt.c - errors, transactions and statements: what every part of
 * the store does around SQLite. One call per SQL statement: prepare, bind
 * by a format string, step, finalize (the idea of Fossil's
 * db_prepare/db_int; our own code). The parameters are bound as values,
 * never spliced into the SQL text, so a name or a tag can hold any
 * character.
 *
 * Invariants:
 * - Every write happens inside BEGIN IMMEDIATE ... COMMIT. IMMEDIATE takes
 *   the write lock up front, so the busy timeout applies to it; a deferred
 *   transaction that later upgrades to a writer can fail with SQLITE_BUSY
 *   at once, without waiting, when another process is writing.
 * - On any failure inside a transaction it is rolled back (unless SQLite
 *   already did so), so the file only ever holds whole operations.
 * - A statement is finalized on every path out of a one-shot call; a
 *   failed store_prepare leaves *st NULL, so store_final(*st) is harmless.
 * - Every failure is reported through store_fail or store_oom and its code
 *   is returned unchanged (never a hard-coded one).
 */
#include "store/store_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* ---- error helpers ---------------------------------------------------- */

/* The user can act on these (free space, wait, pick another file), so
 * they are not reported as internal errors. An I/O error is the disk's or
 * the file system's (a full or tiny one fails as SQLITE_IOERR when the
 * shared-memory file or the WAL cannot grow), never unroll's. */
static int store_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_IOERR:
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

/* Why an I/O error happened, when the system can say: SQLite keeps the
 * errno of the failed call only sometimes (sqlite3_system_errno reads
 * errno after the fact), so a file at ulimit -f and a nearly full disk
 * are also checked directly. Writes "" when nothing explains it. */
static void store_io_reason(const store *s, int sys, char *buf, size_t n)
{
    buf[0] = 0;
    if (sys == ENOSPC || sys == EDQUOT || sys == EFBIG || sys == EROFS) {
        snprintf(buf, n, ": %s", strerror(sys));
        return;
    }
    struct rlimit rl;
    const char *const tails[] = {"", "-wal", "-shm"};
    char f[4096];
    struct stat st;
    for (size_t i = 0; !getrlimit(RLIMIT_FSIZE, &rl) && rl.rlim_cur != RLIM_INFINITY && i < 3;
         i++) {
        snprintf(f, sizeof f, "%s%s", s->path, tails[i]);
        /* a write that would cross the limit fails: within a page of it */
        if (!stat(f, &st) && (uint64_t)st.st_size + 65536 >= (uint64_t)rl.rlim_cur) {
            snprintf(buf, n, ": %s reached the file size limit (ulimit -f, %llu bytes)", f,
                     (unsigned long long)rl.rlim_cur);
            return;
        }
    }
    snprintf(f, sizeof f, "%s", s->path);
    char *slash = strrchr(f, '/');
    if (slash)
        slash[slash == f] = 0; /* "/x.db" keeps "/" */
    struct statvfs v;
    if (!statvfs(slash ? f : ".", &v) && (uint64_t)v.f_bavail * v.f_frsize < 1048576)
        snprintf(buf, n, ": the disk is full (%llu KiB free)",
                 (unsigned long long)v.f_bavail * v.f_frsize / 1024);
    else if (sys)
        snprintf(buf, n, ": %s", strerror(sys));
}

/* "PATH: sqlite message (while what)" for the last failure on s->db. An
 * I/O error adds its reason ("disk I/O error" alone does not say the disk
 * is full or the file too large for ulimit -f). */
int store_fail(store *s, const char *what, uerr *e)
{
    int rc = sqlite3_extended_errcode(s->db);
    s->last_busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    char why[4200] = "";
    if ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL)
        store_io_reason(s, sqlite3_system_errno(s->db), why, sizeof why);
    if (what)
        return uerr_set(e, store_code(rc), "%s: %s%s (while %s)", s->path, sqlite3_errmsg(s->db),
                        why, what);
    return uerr_set(e, store_code(rc), "%s: %s%s", s->path, sqlite3_errmsg(s->db), why);
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
void store_final(sqlite3_stmt *st)
{
    (void)sqlite3_finalize(st);
}

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
int store_query_int(store *s, sqlite3_stmt *st, int64_t *val, int *found, const char *what, uerr *e)
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

int store_vbind(store *s, sqlite3_stmt *st, const char *what, uerr *e, const char *fmt, va_list ap)
{
    int b = SQLITE_OK;
    for (int i = 1; b == SQLITE_OK && fmt[i - 1]; i++) {
        switch (fmt[i - 1]) {
        case 'i':
            b = sqlite3_bind_int(st, i, va_arg(ap, int));
            break;
        case 'I':
            b = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'R': {
            int64_t v = va_arg(ap, int64_t);
            b = v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
            break;
        }
        case 't': {
            const char *v = va_arg(ap, const char *);
            b = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
            break;
        }
        case 'o': {
            const char *v = va_arg(ap, const char *);
            b = sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
            break;
        }
        case 'f': {
            double v = va_arg(ap, double);
            /* SQLite has no NaN: it would store NULL anyway, say so. */
            b = isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
            break;
        }
        case 'z':
            b = sqlite3_bind_zeroblob64(st, i, (sqlite3_uint64)va_arg(ap, int64_t));
            break;
        default:
            return uerr_set(e, UERR_INTERNAL, "%s: bad bind format '%s' (while %s)", s->path, fmt,
                            what);
        }
    }
    return store_bound(s, b, what, e);
}

int store_bind(store *s, sqlite3_stmt *st, const char *what, uerr *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = store_vbind(s, st, what, e, fmt, ap);
    va_end(ap);
    return rc;
}

static int store_vprepare(store *s, sqlite3_stmt **st, const char *what, uerr *e, const char *sql,
                          const char *fmt, va_list ap)
{
    int rc = store_prep(s, sql, st, what, e);
    if (!rc && (rc = store_vbind(s, *st, what, e, fmt, ap))) {
        store_final(*st);
        *st = NULL;
    }
    return rc;
}

int store_prepare(store *s, sqlite3_stmt **st, const char *what, uerr *e, const char *sql,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = store_vprepare(s, st, what, e, sql, fmt, ap);
    va_end(ap);
    return rc;
}

int store_step_done(store *s, sqlite3_stmt *st, const char *what, uerr *e)
{
    return sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, what, e);
}

int store_do(store *s, const char *what, uerr *e, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, fmt);
    int rc = store_vprepare(s, &st, what, e, sql, fmt, ap);
    va_end(ap);
    if (!rc)
        rc = store_step_done(s, st, what, e);
    store_final(st);
    return rc;
}

int store_lookup(store *s, int64_t *val, int *found, const char *what, uerr *e, const char *sql,
                 const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    *found = 0;
    va_start(ap, fmt);
    int rc = store_vprepare(s, &st, what, e, sql, fmt, ap);
    va_end(ap);
    if (!rc)
        rc = store_query_int(s, st, val, found, what, e);
    store_final(st);
    return rc;
}
