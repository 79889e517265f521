/*
 * store_stmt.c - one call per SQL statement: prepare, bind by a format
 * string, step, finalize (the idea of Fossil's db_prepare/db_int; our own
 * code). The parameters are bound as values, never spliced into the SQL
 * text, so a name or a tag can hold any character.
 *
 * Invariants:
 * - A statement is finalized on every path out of a one-shot call; a
 *   failed store_prepare leaves *st NULL, so store_final(*st) is harmless.
 * - Every failure is reported through store_fail or store_oom and its code
 *   is returned unchanged (never a hard-coded one).
 */
#include "store/store_int.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

int store_vbind(store *s, sqlite3_stmt *st, const char *what, uerr *e, const char *fmt,
                va_list ap)
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
            return uerr_set(e, UERR_INTERNAL, "%s: bad bind format '%s' (while %s)", s->path,
                            fmt, what);
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

static int store_vprepare(store *s, sqlite3_stmt **st, const char *what, uerr *e,
                          const char *sql, const char *fmt, va_list ap)
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
