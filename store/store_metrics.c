/*
 * store_metrics.c - the metric log: rows buffered in the handle, written
 * in batches, read back as CSV.
 *
 * Invariants:
 * - The metric buffer is cleared only after the transaction that wrote it
 *   committed; a failed write keeps the rows for the next attempt.
 * - A value is written as NULL for NaN (SQLite has none) and read back as
 *   NaN; CSV values use %.17g so they read back bit-exact, and names are
 *   quoted as every CSV of the store is (table_csv_field).
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"

/* ---- metrics ---------------------------------------------------------- */

/* Rows per INSERT: SQLite's cost per statement (step, reset, the
 * program's start) shared by 16 rows. Measured alone (1024-row
 * transactions, this schema): 2480 cycles a row one at a time, 1300 in
 * statements of 16, 1440 of 64. */
#define METRIC_ROWS 16

/* Row m as the k-th (run, step, name, value) of st; NaN as NULL (SQLite
 * has none). */
static int bind_row(store *s, sqlite3_stmt *st, int k, const store_metric_row *m, const char *what,
                    uerr *e)
{
    int i = 4 * k + 1, b = sqlite3_bind_int64(st, i, m->run);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, i + 1, m->step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, i + 2, s->mnames + m->name_off, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = isnan(m->value) ? sqlite3_bind_null(st, i + 3)
                            : sqlite3_bind_double(st, i + 3, m->value);
    return store_bound(s, b, what, e);
}

/* Writes the buffered rows inside the caller's transaction, in their
 * order: METRIC_ROWS to a statement, then the rest one by one; the caller
 * clears the buffer once that transaction commits. */
int store_flush_rows(store *s, uerr *e)
{
    const char *what = "writing metrics";
    int rc = 0, i = 0;
    for (int per = METRIC_ROWS; !rc && i < s->nm; per = 1) {
        if (s->nm - i < per)
            continue;
        /* A step logged twice (a resumed run re-running a step) keeps the
         * newest value rather than failing the whole batch. */
        char sql[512] = "INSERT INTO metrics (run, step, name, value) VALUES ";
        for (int k = 0; k < per; k++)
            strcat(sql, k ? ", (?, ?, ?, ?)" : "(?, ?, ?, ?)");
        strcat(sql, " ON CONFLICT (run, step, name) DO UPDATE SET value = excluded.value");
        sqlite3_stmt *st;
        rc = store_prep(s, sql, &st, what, e);
        for (; !rc && s->nm - i >= per; i += per) {
            for (int k = 0; !rc && k < per; k++)
                rc = bind_row(s, st, k, &s->mrows[i + k], what, e);
            if (!rc)
                rc = store_step_done(s, st, what, e);
            if (!rc && sqlite3_reset(st) != SQLITE_OK)
                rc = store_fail(s, what, e);
        }
        store_final(st);
    }
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
    /* a batch at first; more only while another process holds the lock */
    if (s->nm >= STORE_METRIC_MAX ||
        VEC_GROW(s->mrows, s->mcap, s->nm < STORE_METRIC_BATCH ? STORE_METRIC_BATCH : s->nm + 1))
        return store_oom(s, "buffering metrics", e);
    size_t len = strlen(name) + 1;
    if (VEC_GROW(s->mnames, s->mnames_cap, s->mnames_len + len))
        return store_oom(s, "buffering metrics", e);
    memcpy(s->mnames + s->mnames_len, name, len);
    s->mrows[s->nm++] = (store_metric_row){run, step, s->mnames_len, value};
    s->mnames_len += len;
    if (s->nm % STORE_METRIC_BATCH)
        return 0;
    /* Another process holding the lock past the busy timeout must not end
     * a run over its metrics: the rows stay buffered and the next batch,
     * checkpoint or close tries again. */
    if ((rc = store_flush(s, e)) && s->last_busy) {
        uerr_clear(e);
        return 0;
    }
    return rc;
}

int store_metrics_ready(store *s, int64_t run, uerr *e)
{
    int rc;
    if (!s->readonly && (rc = store_flush(s, e)))
        return rc;
    return store_run_exists(s, run, e);
}

int store_metrics_csv(store *s, int64_t run, FILE *out, uerr *e)
{
    const char *what = "reading metrics";
    int rc = store_metrics_ready(s, run, e);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if ((rc = store_prepare(s, &st, what, e,
                            "SELECT step, name, value FROM metrics WHERE run = ?"
                            " ORDER BY step, name",
                            "I", run)))
        return rc;
    fputs("step,name,value\n", out);
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        fprintf(out, "%" PRId64 ",", (int64_t)sqlite3_column_int64(st, 0));
        table_csv_field(out, name ? name : "");
        if (sqlite3_column_type(st, 2) == SQLITE_NULL)
            fputs(",nan\n", out);
        else
            fprintf(out, ",%.17g\n", sqlite3_column_double(st, 2));
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = uerr_set(e, UERR_USER, "writing metrics of run %" PRId64 ": %s", run, strerror(errno));
    return rc;
}

int store_metric_names(store *s, int64_t run, const char *prefix, char ***names, int *n, uerr *e)
{
    const char *what = "reading metric names";
    *names = NULL;
    *n = 0;
    int rc = store_metrics_ready(s, run, e);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    /* a range, not LIKE: '_' and '%' in a prefix mean themselves */
    char hi[256];
    snprintf(hi, sizeof hi, "%s\x7f", prefix);
    if ((rc = store_prepare(s, &st, what, e,
                            "SELECT DISTINCT name FROM metrics WHERE run = ? AND name >= ?"
                            " AND name < ? ORDER BY name",
                            "Itt", run, prefix, hi)))
        return rc;
    int64_t cap = 0;
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        char *dup = strdup((const char *)sqlite3_column_text(st, 0));
        if (!dup || VEC_GROW(*names, cap, *n + 1)) {
            free(dup);
            rc = store_oom(s, what, e);
            break;
        }
        (*names)[(*n)++] = dup;
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    if (rc) {
        store_names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

void store_names_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
