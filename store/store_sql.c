/*
 * store_sql.c - read-only free SQL on the store (unroll query; see
 * store.h): one statement that reads, its rows collected or handed out in
 * parts as they come.
 *
 * Invariants:
 * - Nothing that could write runs: sqlite3_stmt_readonly, ATTACH and
 *   DETACH refused, one statement at a time.
 * - Memory is bounded by the part size when rows are handed out, and by
 *   the row limit when they are collected; a result that never ends (a
 *   recursive CTE) stops at the limit, an allocation failure stops the
 *   stepping at once: neither steps on.
 */
#include <string.h>

#include "store/store_int.h"

/* Refuses what a read-only statement could still do outside this file. */
static int store_query_auth(void *ctx, int action, const char *a, const char *b, const char *c,
                            const char *d)
{
    (void)ctx;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

/* Whether only blanks, semicolons and comments remain. */
static int store_only_trailer(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return 1;
            p = end + 2;
        } else {
            return *p == '\0';
        }
    }
}

/* Prepares sql as one read-only statement with columns. */
static int store_query_prepare(store *s, const char *sql, sqlite3_stmt **out, uerr *e)
{
    const char *tail = NULL;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    (void)sqlite3_set_authorizer(s->db, store_query_auth, NULL);
    int r = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
    (void)sqlite3_set_authorizer(s->db, NULL, NULL);
    if (r != SQLITE_OK)
        return uerr_set(e, UERR_USER, "query: %s", sqlite3_errmsg(s->db));
    if (!st)
        return uerr_set(e, UERR_USER, "query: no SQL statement given");
    if (tail && !store_only_trailer(tail))
        r = uerr_set(e, UERR_USER, "query: one statement at a time (found more after '%.40s')",
                     sql);
    else if (!sqlite3_stmt_readonly(st))
        r = uerr_set(e, UERR_USER,
                     "query: only statements that read are allowed (SELECT, WITH, EXPLAIN, "
                     "read-only PRAGMA); use the unroll commands to change the store");
    else if (sqlite3_column_count(st) == 0)
        r = uerr_set(e, UERR_USER, "query: the statement returns no columns");
    if (r) {
        store_final(st);
        return r;
    }
    *out = st;
    return 0;
}

int store_query(store *s, const char *sql, table *out, uerr *e)
{
    return store_query_limit(s, sql, STORE_QUERY_LIMIT, out, e);
}

int store_query_limit(store *s, const char *sql, int64_t limit, table *out, uerr *e)
{
    int rc = store_query_each(s, sql, limit, 0, out, NULL, NULL, e);
    if (rc)
        table_free(out);
    return rc;
}

int store_query_each(store *s, const char *sql, int64_t limit, int64_t part, table *t,
                     store_part_fn fn, void *ctx, uerr *e)
{
    memset(t, 0, sizeof *t);
    sqlite3_stmt *st;
    int rc = store_query_prepare(s, sql, &st, e);
    if (rc)
        return rc;
    int n = sqlite3_column_count(st);
    if ((rc = store_table_for(st, n, t, e))) {
        store_final(st);
        return rc;
    }
    int64_t before = 0;
    int k = SQLITE_DONE;
    while (!t->oom && (k = sqlite3_step(st)) == SQLITE_ROW) {
        if (before + t->nrows >= limit) {
            /* the rows up to the limit are handed out, then the error */
            if (fn && (rc = fn(ctx, t, before, 0, e)))
                break;
            rc = uerr_set(e, UERR_USER,
                          "query: more than %lld rows; add a LIMIT to the SQL or raise --limit",
                          (long long)limit);
            break;
        }
        if (fn && part > 0 && t->nrows >= part) {
            if ((rc = fn(ctx, t, before, 0, e)))
                break;
            before += t->nrows;
            table_clear_rows(t);
        }
        for (int i = 0; i < n; i++)
            store_cell(t, st, i);
    }
    if (!rc && t->oom)
        rc = uerr_set(e, UERR_INTERNAL,
                      "query: out of memory for row %lld; select fewer or "
                      "shorter columns",
                      (long long)(before + t->nrows));
    else if (!rc && k != SQLITE_DONE)
        rc = uerr_set(e, UERR_USER, "query: %s", sqlite3_errmsg(s->db));
    if (!rc && fn)
        rc = fn(ctx, t, before, 1, e);
    store_final(st);
    return rc;
}
