/*
 * store_int.h - what the files of the store share: the handle, errors,
 * transactions and statements (store_stmt.c), the schema
 * (store_schema.c), open (store_open.c), runs and sessions
 * (store_runs.c), metrics (store_metrics.c), checkpoints (store_ckpt.c),
 * listings and deletion (store_query.c).
 * Private to store/: nothing outside includes it; the API is store.h.
 */
#ifndef UNROLL_STORE_INT_H
#define UNROLL_STORE_INT_H

#include <sqlite3.h>
#include <stdarg.h>

#include "store/store.h"

#define STORE_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
#define STORE_NAME_MAX 200

typedef struct store_metric_row {
    int64_t run, step;
    size_t name_off; /* into store.mnames */
    double value;
} store_metric_row;

struct store {
    sqlite3 *db;
    char *path;
    int readonly;
    int immutable;           /* read through ?immutable=1 (see store_open) */
    int too_old;             /* setup found an older schema (read-only open) */
    int busy_ms;             /* the busy timeout */
    int in_txn;              /* inside store_begin ... store_commit */
    store_metric_row *mrows; /* mcap slots, allocated on first use */
    int nm, mcap;            /* more than a batch only while the lock is held elsewhere */
    int last_busy;           /* the last failure: another connection held the lock */
    char *mnames;            /* NUL-terminated names of the buffered rows, back to back */
    size_t mnames_len, mnames_cap;
    int64_t metric_run_ok; /* last run store_metric found to exist; 0: none */
    int64_t session;       /* the session row this handle's run_begin/resume made */
    int64_t session_run;
    store_hook_fn hook;
    void *hook_ctx;
};

/* "PATH: sqlite message (while what)" for the last failure on s->db. */
int store_fail(store *s, const char *what, uerr *e);
int store_exec(store *s, const char *sql, const char *what, uerr *e);
int store_prep(store *s, const char *sql, sqlite3_stmt **st, const char *what, uerr *e);
void store_final(sqlite3_stmt *st);
int store_writable(store *s, uerr *e);
/* BEGIN IMMEDIATE; store_commit; store_rollback after a failure in e. */
int store_begin(store *s, const char *what, uerr *e);
int store_commit(store *s, const char *what, uerr *e);
void store_rollback(store *s, uerr *e);
/* Ends a transaction: rolled back when rc (the error already in e) is
 * not 0, else committed. Returns rc, or the commit's error. */
int store_end(store *s, int rc, const char *what, uerr *e);
int store_query_int(store *s, sqlite3_stmt *st, int64_t *val, int *found, const char *what,
                    uerr *e);
/* Appends result column i of st's current row to t by its SQLite type. */
void store_cell(table *t, sqlite3_stmt *st, int i);
/* A table whose columns are st's first ncols result columns. */
int store_table_for(sqlite3_stmt *st, int ncols, table *t, uerr *e);
char *store_strdup(const char *p);
int store_oom(store *s, const char *what, uerr *e);
int store_bound(store *s, int rc, const char *what, uerr *e);
int store_is_digits(const char *p);
int store_run_exists(store *s, int64_t run, uerr *e);
/* The checkpoint of run with the lowest valid_loss, else the lowest loss
 * (RUN@best, and what prune keeps); *found 0 when none has either. */
int store_best_loss(store *s, int64_t run, int64_t *ckpt, int *found, uerr *e);
/* The file's application_id, user_version and number of schema objects,
 * read in one snapshot before anything writes (store_schema.c). */
int store_identify(store *s, int64_t *appid, int64_t *version, int64_t *ntables, uerr *e);
/* Brings the file up to STORE_SCHEMA_VERSION in one transaction. */
int store_migrate(store *s, uerr *e);
int store_parse_id(const char *p, int64_t *v);
int store_flush_rows(store *s, uerr *e);
/* Before reading the metrics of run: this handle's buffered rows are
 * written (a read-only handle has none), and the run must exist. */
int store_metrics_ready(store *s, int64_t run, uerr *e);
/* Run names and tags follow the same rules; what is "run name" or "tag". */
int store_check_label(store *s, const char *what, const char *name, uerr *e);
char *store_col_text(sqlite3_stmt *st, int i, int *oom);
/* Whether the newest session of run is still running in a live process
 * on this host; *pid and host (>= 256 bytes) describe it. */
int store_run_alive(store *s, int64_t run, int *alive, int64_t *pid, char *host, uerr *e);

/* ---- one call per statement (store_stmt.c) ----------------------------
 * fmt has one letter per parameter ?1, ?2, ... and the values follow:
 *   i int      I int64_t   R int64_t, 0 binds NULL (an optional row id)
 *   t text, NULL binds NULL   o text, NULL binds '' (an optional field)
 *   f double, NaN binds NULL  z int64_t: a zero-filled blob of that size
 * Text is bound without a copy: it must outlive the statement's steps. */
int store_vbind(store *s, sqlite3_stmt *st, const char *what, uerr *e, const char *fmt, va_list ap);
int store_bind(store *s, sqlite3_stmt *st, const char *what, uerr *e, const char *fmt, ...);
/* store_prep then store_bind; on failure *st is NULL. */
int store_prepare(store *s, sqlite3_stmt **st, const char *what, uerr *e, const char *sql,
                  const char *fmt, ...);
/* One step that must finish the statement (an INSERT, UPDATE, DELETE). */
int store_step_done(store *s, sqlite3_stmt *st, const char *what, uerr *e);
/* Prepares, binds, steps to the end, finalizes: sqlite3_changes() and
 * sqlite3_last_insert_rowid() on s->db tell the result. */
int store_do(store *s, const char *what, uerr *e, const char *sql, const char *fmt, ...);
/* The first column of the first row as an integer; *found = 0: no row. */
int store_lookup(store *s, int64_t *val, int *found, const char *what, uerr *e, const char *sql,
                 const char *fmt, ...);

#endif
