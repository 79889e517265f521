/*
 * store_query.c - what users ask the store (see store.h): listings as
 * tables, lineage, the best checkpoint, tags, pruning, deleting and
 * renaming runs (free SQL: store_sql.c).
 *
 * Invariants:
 * - Listings only read, and read one snapshot: each is one statement.
 * - Deletions run in one BEGIN IMMEDIATE transaction that also sweeps
 *   the tensors nothing references any more, so no crash can leave a
 *   checkpoint without its tensors or an orphan tensor behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "store/store_int.h"

/* ---- rows into tables ---------------------------------------------------- */

void store_cell(table *t, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        table_int(t, sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        table_real(t, sqlite3_column_double(st, i));
        break;
    case SQLITE_TEXT:
        table_text(t, (const char *)sqlite3_column_text(st, i));
        break;
    case SQLITE_BLOB: {
        char b[64];
        snprintf(b, sizeof b, "<blob %d bytes>", sqlite3_column_bytes(st, i));
        table_text(t, b);
        break;
    }
    default:
        table_null(t);
    }
}

/* Steps st to the end, appending its first ncols columns to t. */
static int store_rows(store *s, sqlite3_stmt *st, int ncols, table *t, const char *what, uerr *e)
{
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        for (int i = 0; i < ncols; i++)
            store_cell(t, st, i);
    if (r != SQLITE_DONE)
        return store_fail(s, what, e);
    return table_check(t, e);
}

int store_table_for(sqlite3_stmt *st, int ncols, table *t, uerr *e)
{
    const char *names[64];
    if (ncols > 64)
        return uerr_set(e, UERR_USER, "a result of more than 64 columns");
    for (int i = 0; i < ncols; i++)
        names[i] = sqlite3_column_name(st, i);
    return table_init(t, ncols, names, e);
}

/* Runs a prepared, bound statement into a new table. Frees st. */
static int store_select(store *s, sqlite3_stmt *st, table *t, const char *what, uerr *e)
{
    int n = sqlite3_column_count(st);
    int rc = store_table_for(st, n, t, e);
    if (!rc)
        rc = store_rows(s, st, n, t, what, e);
    store_final(st);
    if (rc)
        table_free(t);
    return rc;
}

/* ---- runs -------------------------------------------------------------- */

int store_runs_table(store *s, const store_run_filter *f, table *out, uerr *e)
{
    const char *what = "listing runs";
    static const store_run_filter none = {0};
    if (!f)
        f = &none;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    /* The ORDER BY ... LIMIT 1 forms walk the (run, step, name) key
     * backwards from the end instead of scanning a long run's log. */
    int rc = store_prep(s,
                        "SELECT r.id, r.name, r.status, r.started, r.finished,"
                        " (SELECT step FROM metrics m WHERE m.run = r.id AND m.name = 'loss'"
                        "  ORDER BY step DESC LIMIT 1) AS steps,"
                        " (SELECT count(*) FROM checkpoints c WHERE c.run = r.id) AS ckpts,"
                        " (SELECT value FROM metrics m WHERE m.run = r.id AND m.name = 'loss'"
                        "  ORDER BY step DESC LIMIT 1) AS last_loss,"
                        " (SELECT min(value) FROM metrics m WHERE m.run = r.id"
                        "  AND m.name = 'valid_loss') AS best_valid_loss,"
                        /* the parent as a checkpoint reference every
                         * command takes: RUN@STEP (a bare id reads as a run
                         * id here), or the id where RUN@STEP names a later
                         * version at that step (a resume from before it) */
                        " (SELECT CASE WHEN pc.id = (SELECT id FROM checkpoints v"
                        "  WHERE v.run = pc.run AND v.step = pc.step ORDER BY version DESC"
                        "  LIMIT 1) THEN pr.name || '@' || pc.step ELSE CAST(pc.id AS TEXT) END"
                        "  FROM checkpoints pc JOIN runs pr ON pr.id = pc.run"
                        "  WHERE pc.id = r.parent_checkpoint) AS parent, r.config_text"
                        " FROM runs r WHERE (?1 IS NULL OR r.name GLOB ?1)"
                        " AND (?2 IS NULL OR r.status = ?2) AND (?3 IS NULL OR r.started >= ?3)"
                        " AND (?4 IS NULL OR r.started < ?4) ORDER BY r.id",
                        &st, what, e);
    if (rc)
        return rc;
    int want_lost = f->status && !strcmp(f->status, "lost");
    rc = store_bind(s, st, what, e, "tttt", f->name_glob, want_lost ? "running" : f->status,
                    f->since, f->before);
    const int ncols = 10; /* config_text is for f->keep, not shown */
    if (!rc)
        rc = store_table_for(st, ncols, out, e);
    if (!rc)
        rc = table_set_format(out, 7, "%.4f", e);
    if (!rc)
        rc = table_set_format(out, 8, "%.4f", e);
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (f->keep) {
            const char *cfg = (const char *)sqlite3_column_text(st, 10);
            int k = f->keep(f->ctx, sqlite3_column_int64(st, 0), cfg ? cfg : "", e);
            if (k < 0) {
                rc = e && e->code ? e->code : UERR_INTERNAL;
                break;
            }
            if (!k)
                continue;
        }
        int lost = 0;
        const char *status = (const char *)sqlite3_column_text(st, 2);
        if (status && !strcmp(status, "running") &&
            (rc = store_run_lost(s, sqlite3_column_int64(st, 0), &lost, e)))
            break;
        int by_liveness = want_lost || (f->status && !strcmp(f->status, "running"));
        if (by_liveness && lost != want_lost)
            continue;
        for (int i = 0; i < ncols; i++) {
            if (i == 2 && lost)
                table_text(out, "lost");
            else
                store_cell(out, st, i);
        }
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    if (!rc)
        rc = table_check(out, e);
    store_final(st);
    if (rc)
        table_free(out);
    return rc;
}

int store_metrics_table(store *s, int64_t run, const char *name, table *out, uerr *e)
{
    const char *what = "reading metrics";
    memset(out, 0, sizeof *out);
    int rc = store_metrics_ready(s, run, e);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if ((rc = store_prepare(s, &st, what, e,
                            "SELECT step, name, value FROM metrics WHERE run = ?1"
                            " AND (?2 IS NULL OR name = ?2) ORDER BY step, name",
                            "It", run, name)))
        return rc;
    if ((rc = store_select(s, st, out, what, e)))
        return rc;
    /* SQLite has no NaN: the store wrote it as NULL; give it back. */
    for (int64_t r = 0; r < out->nrows; r++) {
        table_cell *c = (table_cell *)table_at(out, r, 2);
        if (c && c->type == TABLE_NULL) {
            c->type = TABLE_REAL;
            c->r = NAN;
        }
    }
    return 0;
}

int store_metric_series(store *s, int64_t run, const char *name, int64_t **steps, double **values,
                        int64_t *n, uerr *e)
{
    const char *what = "reading metrics";
    *steps = NULL;
    *values = NULL;
    *n = 0;
    int rc = store_metrics_ready(s, run, e);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if ((rc = store_prepare(s, &st, what, e,
                            "SELECT step, value FROM metrics WHERE run = ? AND name = ?"
                            " ORDER BY step",
                            "It", run, name)))
        return rc;
    int64_t cap = 0;
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t vcap = cap; /* values grow with the steps */
        if (VEC_GROW(*values, vcap, *n + 1) || VEC_GROW(*steps, cap, *n + 1)) {
            rc = store_oom(s, what, e);
            break;
        }
        (*steps)[*n] = sqlite3_column_int64(st, 0);
        (*values)[*n] =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        (*n)++;
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    if (rc) {
        free(*steps);
        free(*values);
        *steps = NULL;
        *values = NULL;
        *n = 0;
    }
    return rc;
}

/* A listing whose query takes one id as ?1. */
static int select_with_id(store *s, const char *sql, int64_t id, table *out, const char *what,
                          uerr *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc = store_prepare(s, &st, what, e, sql, "I", id);
    if (rc)
        return rc;
    return store_select(s, st, out, what, e);
}

int store_sessions_table(store *s, int64_t run, table *out, uerr *e)
{
    return select_with_id(s,
                          "SELECT id AS session, kind, from_checkpoint AS from_ckpt, from_step,"
                          " started, finished, status, metrics_dropped AS dropped, host, pid,"
                          " command_line AS command FROM sessions WHERE run = ? ORDER BY id",
                          run, out, "listing sessions", e);
}

/* ---- checkpoints ----------------------------------------------------------- */

int store_checkpoints_table(store *s, int64_t run, table *out, uerr *e)
{
    int rc = select_with_id(
        s,
        "SELECT c.id, r.name AS run, c.step, c.version, c.parent, c.created,"
        " json_extract(c.metrics, '$.loss') AS loss,"
        " json_extract(c.metrics, '$.valid_loss') AS valid_loss, c.tag,"
        " (SELECT count(*) FROM checkpoint_tensors ct WHERE ct.checkpoint = c.id) AS tensors,"
        " (SELECT sum(t.nbytes) FROM checkpoint_tensors ct"
        "  JOIN tensors t ON t.hash = ct.tensor WHERE ct.checkpoint = c.id) AS bytes"
        " FROM checkpoints c JOIN runs r ON r.id = c.run"
        " WHERE ?1 = 0 OR c.run = ?1 ORDER BY c.id",
        run, out, "listing checkpoints", e);
    if (rc)
        return rc;
    if ((rc = table_set_format(out, 6, "%.4f", e)) || (rc = table_set_format(out, 7, "%.4f", e)))
        table_free(out);
    return rc;
}

int store_lineage_table(store *s, int64_t ckpt, table *out, uerr *e)
{
    const char *what = "following the lineage";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    /* Parents are always older rows (a parent exists before its child is
     * inserted), so the walk cannot cycle; the depth cap is a guard
     * against a hand-edited file. */
    int rc =
        store_prep(s,
                   "WITH RECURSIVE lin(id, depth) AS (SELECT ?1, 0 UNION ALL"
                   " SELECT c.parent, lin.depth + 1 FROM checkpoints c JOIN lin ON c.id = lin.id"
                   " WHERE c.parent IS NOT NULL AND lin.depth < 10000000)"
                   " SELECT c.id, r.name, c.step, c.version, c.created,"
                   " json_extract(c.metrics, '$.loss'), json_extract(c.metrics, '$.valid_loss'),"
                   " c.tag, c.parent, c.run, c.session, coalesce(ss.kind, ''),"
                   " (SELECT kind FROM sessions WHERE run = r.id ORDER BY id LIMIT 1)"
                   " FROM lin JOIN checkpoints c ON c.id = lin.id JOIN runs r ON r.id = c.run"
                   " LEFT JOIN sessions ss ON ss.id = c.session ORDER BY lin.depth",
                   &st, what, e);
    if (rc)
        return rc;
    static const char *const cols[] = {"id",   "run",        "step", "version", "created",
                                       "loss", "valid_loss", "tag",  "event"};
    rc = store_bind(s, st, what, e, "I", ckpt);
    if (!rc)
        rc = table_init(out, 9, cols, e);
    if (!rc)
        rc = table_set_format(out, 5, "%.4f", e);
    if (!rc)
        rc = table_set_format(out, 6, "%.4f", e);
    /* Each row's event compares it with the next row (its parent), so
     * rows are kept one behind. */
    typedef struct row {
        int64_t id, step, parent, run, session;
        char kind[16], first_kind[16];
    } row;
    row prev = {0};
    int have = 0, r = SQLITE_DONE;
    char ev[160];
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        row cur = {sqlite3_column_int64(st, 0),
                   sqlite3_column_int64(st, 2),
                   sqlite3_column_int64(st, 8),
                   sqlite3_column_int64(st, 9),
                   sqlite3_column_int64(st, 10),
                   "",
                   ""};
        const char *k = (const char *)sqlite3_column_text(st, 11);
        const char *fk = (const char *)sqlite3_column_text(st, 12);
        snprintf(cur.kind, sizeof cur.kind, "%s", k ? k : "");
        snprintf(cur.first_kind, sizeof cur.first_kind, "%s", fk ? fk : "");
        if (have) {
            /* the previous row's event, now that its parent is known */
            const char *name = (const char *)sqlite3_column_text(st, 1);
            if (prev.run != cur.run)
                snprintf(ev, sizeof ev, "from %s@%" PRId64 " (ckpt %" PRId64 ")", name ? name : "?",
                         cur.step, cur.id);
            else if (prev.session && prev.session != cur.session && !strcmp(prev.kind, "resume"))
                snprintf(ev, sizeof ev, "resumed from ckpt %" PRId64, cur.id);
            else
                ev[0] = '\0';
            table_text(out, ev);
        }
        for (int i = 0; i < 8; i++)
            store_cell(out, st, i);
        prev = cur;
        have = 1;
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    if (!rc && have)
        table_text(out, !strcmp(prev.first_kind, "import") ? "import" : "start");
    if (!rc && !have)
        rc = uerr_set(e, UERR_USER, "%s: no checkpoint with id %" PRId64, s->path, ckpt);
    if (!rc)
        rc = table_check(out, e);
    store_final(st);
    if (rc)
        table_free(out);
    return rc;
}

/* Metric names go into a JSON path: letters, digits, '_' and '.' only. */
static int store_metric_name_ok(const char *m)
{
    if (!m || !*m || strlen(m) > 100)
        return 0;
    for (const char *p = m; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* The best checkpoint of run (0: any) by metric; *found 0 if none has it. */
static int store_best(store *s, int64_t run, const char *metric, int maximize, int64_t *ckpt,
                      double *value, int *found, uerr *e)
{
    const char *what = "finding the best checkpoint";
    *found = 0;
    if (!store_metric_name_ok(metric))
        return uerr_set(e, UERR_USER,
                        "%s: bad metric name '%s' (letters, digits, '_' and '.' only)", s->path,
                        metric ? metric : "");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT id, v FROM (SELECT c.id AS id, coalesce("
             "  json_extract(c.metrics, '$.\"' || ?2 || '\"'),"
             "  (SELECT value FROM metrics m WHERE m.run = c.run AND m.step = c.step"
             "   AND m.name = ?2)) AS v FROM checkpoints c WHERE ?1 = 0 OR c.run = ?1)"
             " WHERE v IS NOT NULL ORDER BY v %s, id LIMIT 1",
             maximize ? "DESC" : "ASC");
    sqlite3_stmt *st;
    int rc = store_prepare(s, &st, what, e, sql, "It", run, metric);
    if (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *ckpt = sqlite3_column_int64(st, 0);
            *value = sqlite3_column_double(st, 1);
            *found = 1;
        } else if (r != SQLITE_DONE) {
            rc = store_fail(s, what, e);
        }
    }
    store_final(st);
    return rc;
}

int store_best_loss(store *s, int64_t run, int64_t *ckpt, int *found, uerr *e)
{
    static const char *const tries[2] = {"valid_loss", "loss"};
    int rc = 0;
    *found = 0;
    for (int i = 0; i < 2 && !rc && !*found; i++) {
        double v;
        rc = store_best(s, run, tries[i], 0, ckpt, &v, found, e);
    }
    return rc;
}

int store_checkpoint_best(store *s, int64_t run, const char *metric, int maximize, int64_t *ckpt,
                          double *value, uerr *e)
{
    int found, rc;
    if ((rc = store_best(s, run, metric, maximize, ckpt, value, &found, e)))
        return rc;
    if (!found) {
        if (run)
            return uerr_set(e, UERR_USER,
                            "%s: no checkpoint of run %" PRId64 " has a value of '%s'", s->path,
                            run, metric);
        return uerr_set(e, UERR_USER, "%s: no checkpoint has a value of '%s'", s->path, metric);
    }
    return 0;
}

int store_checkpoint_tag(store *s, int64_t ckpt, const char *tag, uerr *e)
{
    const char *what = "tagging a checkpoint";
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (tag && (rc = store_check_label(s, "tag", tag, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        return rc;
    int64_t other = 0;
    int found = 0;
    if (!(rc = store_lookup(s, &other, &found, what, e, "SELECT id FROM checkpoints WHERE id = ?",
                            "I", ckpt)) &&
        !found)
        rc = uerr_set(e, UERR_USER, "%s: no checkpoint with id %" PRId64, s->path, ckpt);
    if (!rc && tag &&
        !(rc = store_lookup(s, &other, &found, what, e, "SELECT id FROM runs WHERE name = ?", "t",
                            tag)) &&
        found)
        rc = uerr_set(e, UERR_USER,
                      "%s: '%s' is the name of run %" PRId64
                      "; a tag with that name would hide the run in checkpoint references",
                      s->path, tag, other);
    if (!rc && tag &&
        !(rc = store_lookup(s, &other, &found, what, e,
                            "SELECT id FROM checkpoints WHERE tag = ? AND id <> ?", "tI", tag,
                            ckpt)) &&
        found)
        rc = uerr_set(e, UERR_USER,
                      "%s: tag '%s' is already on checkpoint %" PRId64
                      " (remove it there first: ckpt tag %" PRId64 " --remove)",
                      s->path, tag, other, other);
    if (!rc)
        rc = store_do(s, what, e, "UPDATE checkpoints SET tag = ? WHERE id = ?", "tI", tag, ckpt);
    return store_end(s, rc, what, e);
}

/* ---- deleting ------------------------------------------------------------ */

/* Deletes the tensors no checkpoint uses, counting them into st. Inside
 * the caller's transaction. */
static int store_sweep(store *s, store_removed *st, uerr *e)
{
    const char *what = "removing unused tensors";
    sqlite3_stmt *q;
    /* NOT EXISTS walks the checkpoint_tensors(tensor) index once per
     * tensor instead of building the whole list. */
    int rc = store_prep(s,
                        "SELECT count(*), coalesce(sum(nbytes), 0) FROM tensors t WHERE NOT EXISTS"
                        " (SELECT 1 FROM checkpoint_tensors ct WHERE ct.tensor = t.hash)",
                        &q, what, e);
    if (rc)
        return rc;
    if (sqlite3_step(q) == SQLITE_ROW) {
        st->tensors += sqlite3_column_int64(q, 0);
        st->bytes += sqlite3_column_int64(q, 1);
    } else {
        rc = store_fail(s, what, e);
    }
    store_final(q);
    if (!rc)
        rc = store_exec(s,
                        "DELETE FROM tensors WHERE NOT EXISTS"
                        " (SELECT 1 FROM checkpoint_tensors ct WHERE ct.tensor = tensors.hash)",
                        what, e);
    return rc;
}

/* One id-bound statement that must complete; *changes gets its count. */
static int store_exec_id(store *s, const char *sql, int64_t id, int64_t *changes, const char *what,
                         uerr *e)
{
    int rc = store_do(s, what, e, sql, "I", id);
    if (!rc && changes)
        *changes = sqlite3_changes(s->db);
    return rc;
}

/* Ends a deleting transaction: commit, or roll back a dry run. */
static int store_finish_delete(store *s, int rc, int dry_run, const char *what, uerr *e)
{
    if (rc || dry_run) {
        if (rc)
            store_rollback(s, e);
        else
            store_rollback(s, NULL);
        return rc;
    }
    return store_commit(s, what, e);
}

int store_checkpoint_prune(store *s, int64_t run, int64_t keep_last, const char *metric,
                           int dry_run, table *removed, store_removed *stats, uerr *e)
{
    const char *what = "pruning checkpoints";
    memset(stats, 0, sizeof *stats);
    if (removed)
        memset(removed, 0, sizeof *removed);
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (keep_last < 1)
        return uerr_set(e, UERR_USER,
                        "%s: --keep-last must be at least 1 (the newest checkpoint is what a "
                        "resume starts from)",
                        s->path);
    static const char *const cols[] = {"id", "step", "version"};
    if (removed && (rc = table_init(removed, 3, cols, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        goto out;
    int64_t best = 0;
    if (!(rc = store_run_exists(s, run, e))) {
        /* The best by the asked metric; by default valid_loss, else loss. */
        double v;
        int found;
        int64_t id;
        rc = metric ? store_best(s, run, metric, 0, &id, &v, &found, e)
                    : store_best_loss(s, run, &id, &found, e);
        if (!rc && found)
            best = id;
    }
    sqlite3_stmt *st = NULL;
    /* Everything not kept, newest first; kept: the keep_last newest
     * versions, tagged, the best, and any checkpoint another run started
     * from or a session resumed from elsewhere. */
    if (!rc &&
        !(rc = store_prep(s,
                          "SELECT id, step, version FROM checkpoints c WHERE run = ?1"
                          " AND tag IS NULL AND id <> ?3"
                          " AND id NOT IN (SELECT id FROM checkpoints WHERE run = ?1"
                          "  ORDER BY version DESC LIMIT ?2)"
                          " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.parent_checkpoint = c.id"
                          "  AND r.id <> ?1)"
                          " AND NOT EXISTS (SELECT 1 FROM checkpoints k WHERE k.parent = c.id"
                          "  AND k.run <> ?1)"
                          " ORDER BY version DESC",
                          &st, what, e)))
        rc = store_bind(s, st, what, e, "III", run, keep_last, best);
    int64_t *ids = NULL, n = 0, cap = 0;
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (VEC_GROW(ids, cap, n + 1)) {
            rc = store_oom(s, what, e);
            break;
        }
        ids[n++] = sqlite3_column_int64(st, 0);
        if (removed)
            for (int i = 0; i < 3; i++)
                store_cell(removed, st, i);
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    for (int64_t i = 0; !rc && i < n; i++)
        rc = store_exec_id(s, "DELETE FROM checkpoints WHERE id = ?", ids[i], NULL, what, e);
    free(ids);
    stats->checkpoints = n;
    if (!rc)
        rc = store_sweep(s, stats, e);
    if (!rc && removed)
        rc = table_check(removed, e);
    rc = store_finish_delete(s, rc, dry_run, what, e);
out:
    if (rc) {
        if (removed)
            table_free(removed);
        memset(stats, 0, sizeof *stats);
    }
    return rc;
}

int store_run_delete(store *s, int64_t run, int force, store_removed *stats, uerr *e)
{
    const char *what = "deleting a run";
    memset(stats, 0, sizeof *stats);
    int rc;
    if ((rc = store_writable(s, e)) || (rc = store_flush(s, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        return rc;
    if (!(rc = store_run_exists(s, run, e)) && !force) {
        int alive;
        int64_t pid;
        char host[256];
        if (!(rc = store_run_alive(s, run, &alive, &pid, host, e)) && alive)
            rc = uerr_set(e, UERR_USER,
                          "%s: run %" PRId64 " is being trained by process %" PRId64
                          " on %s; stop it first (or pass --force)",
                          s->path, run, pid, host);
    }
    if (!rc)
        rc = store_exec_id(s, "DELETE FROM metrics WHERE run = ?", run, &stats->metrics, what, e);
    if (!rc)
        rc = store_exec_id(s, "DELETE FROM checkpoints WHERE run = ?", run, &stats->checkpoints,
                           what, e);
    if (!rc)
        rc = store_exec_id(s, "DELETE FROM runs WHERE id = ?", run, &stats->runs, what, e);
    if (!rc)
        rc = store_sweep(s, stats, e);
    rc = store_finish_delete(s, rc, 0, what, e);
    if (rc)
        memset(stats, 0, sizeof *stats);
    return rc;
}

int store_run_rename(store *s, int64_t run, const char *name, uerr *e)
{
    const char *what = "renaming a run";
    int rc;
    if ((rc = store_writable(s, e)) || (rc = store_check_label(s, "run name", name, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        return rc;
    int64_t other;
    int found = 0;
    if (!(rc = store_run_exists(s, run, e)) &&
        !(rc = store_lookup(s, &other, &found, what, e,
                            "SELECT 1 FROM runs WHERE name = ?1 AND id <> ?2 UNION ALL"
                            " SELECT 2 FROM checkpoints WHERE tag = ?1",
                            "tI", name, run)) &&
        found)
        rc = uerr_set(e, UERR_USER,
                      other == 1 ? "%s: run '%s' already exists; choose another name"
                                 : "%s: '%s' is a checkpoint tag; a run with that name "
                                   "would be hidden by it in checkpoint references",
                      s->path, name);
    if (!rc)
        rc = store_do(s, what, e, "UPDATE runs SET name = ? WHERE id = ?", "tI", name, run);
    return store_end(s, rc, what, e);
}
