/*
 * store.h - the checkpoint store: one SQLite file holding runs, their
 * configs and vocabularies, per-step metrics, and versioned checkpoints
 * whose tensors are stored once per distinct content (SHA-256).
 *
 * Invariants the rest of unroll may rely on:
 * - A checkpoint is written in one transaction: a process killed at any
 *   instant leaves either the whole checkpoint or none of it, and every
 *   earlier checkpoint intact.
 * - A tensor's bytes are checked against their hash whenever they are
 *   loaded; altered bytes are an error naming the tensor.
 * - Every function returns 0 or a UERR_* code with one line in the uerr
 *   ("PATH: what (while doing what)"); nothing here prints or exits.
 * - Files are refused, never modified, when they are not SQLite, belong to
 *   another application, or have a newer schema than this build knows.
 * - Data is stored in the host's byte order, which must be little-endian
 *   (as .npy and safetensors expect); checked at compile time.
 *
 * The schema, the version policy and the concurrency model are described
 * in docs/store.md.
 */
#ifndef UNROLL_STORE_H
#define UNROLL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/tensor.h"
#include "store/table.h"

/* PRAGMA user_version written by this build; older files are migrated
 * forward on a read-write open, newer ones refused. */
#define STORE_SCHEMA_VERSION 4
/* PRAGMA application_id of every unroll store: "UnRl" in ASCII. */
#define STORE_APPLICATION_ID 0x556e526c
/* Buffered metric rows written per transaction. */
#define STORE_METRIC_BATCH 1024
/* the most metric rows buffered while another process holds the lock */
#define STORE_METRIC_MAX (1 << 24)

typedef struct store store;

/* The modes of store_open. */
enum {
    STORE_READ_WRITE = 0,   /* create if missing, migrate an older file forward */
    STORE_READ_ONLY = 1,    /* an existing, current store; never writes */
    STORE_READ_UPGRADE = 2, /* read-only, but an older file is first migrated
                             * (read-write, then reopened) when it is writable */
};

/* Opens the store at path in one of the modes above. A read-write open of
 * a file this process cannot write is refused ("PATH: the file is
 * read-only ..."), rather than failing later halfway through a run. A
 * read-only open of a WAL file whose -shm companion cannot be created
 * (read-only directory) falls back to SQLite's immutable mode when no
 * -wal file holds unmerged commits, so queries still work there. */
int store_open(store **out, const char *path, int readonly, uerr *e);
/* For a program's start, before any thread uses SQLite (SQLite's global
 * configuration is not thread-safe): page caches then grow a page at a
 * time up to their size instead of starting with a block of 20 pages
 * (87 KB for each connection and each temporary table, which stayed in a
 * training process's peak). Without it everything works as well. */
void store_init_process(void);
/* Flushes buffered metrics (an error there is lost: call store_flush
 * first to see it), then closes. NULL is allowed. */
void store_close(store *s);
const char *store_path(const store *s);
/* How long a write waits for another process's transaction, per
 * attempt: a write tries STORE_BUSY_TRIES times before failing with
 * "PATH: database is locked". store_open sets 5000 ms. */
#define STORE_BUSY_TRIES 4
int store_busy_timeout(store *s, int ms, uerr *e);

/* ---- runs ------------------------------------------------------------- */

typedef struct store_run_info {
    const char *name;        /* NULL or "": "run", else run-2, run-3... */
    const char *config_text; /* the YAML as read; hashed into config_hash */
    const char *command_line;
    const char *program_version;
    const char *data_hash; /* sha256 hex of the training data, or NULL */
    const char *blas;      /* e.g. "OpenBLAS 0.3.21", or NULL */
    int threads;           /* 0: unknown */
    const int32_t *vocab;  /* vocab[i] = codepoint of token i */
    int nvocab;
    const char *const *labels; /* a classifier's labels[i] = name of class i */
    int nlabels;
    int64_t parent_checkpoint; /* 0: none */
    const char *init;          /* how the parameters started: "seed", "params"
                                * (--params DIR), "from" (--from CKPT) or
                                * "import"; NULL: "" (unknown) */
} store_run_info;

/* Run names are unique, non-empty, at most 200 bytes, not all digits (so
 * they never read as an id), without '@' (RUN@STEP) or control
 * characters. */

/* Writes into out base itself if no run has that name, else the first
 * free one of base-2, base-3, ... NULL or "" base means "run". */
int store_unique_run_name(store *s, const char *base, char *out, size_t n, uerr *e);

/* Creates a run with status "running", and its first session (this
 * process: pid, host, command line). A name already taken is an error
 * ("run 'x' already exists in PATH; choose another --name"). */
int store_run_begin(store *s, const store_run_info *info, int64_t *run_id, uerr *e);

typedef struct store_resume_info {
    const char *command_line;
    const char *program_version;
    const char *blas;
    int threads;
    const char *config_text; /* the run's config from now on; NULL: unchanged */
    int force;               /* even if another live process trains the run */
} store_resume_info;

/* Continues run from its checkpoint ckpt, in one transaction: the run is
 * "running" again, a new session is recorded, and every metric the run
 * logged after ckpt's step is deleted (*dropped gets how many), so that
 * the log reads like one uninterrupted run. Refused, unless ri->force,
 * while the run's newest session is still running in a live process on
 * this host. */
int store_run_resume(store *s, int64_t run, int64_t ckpt, const store_resume_info *ri,
                     int64_t *dropped, uerr *e);

/* The config the session that saved ckpt trained with (a resume may have
 * changed the learning rate), malloc'd into *text; NULL when the session
 * did not record one (saved before schema 3, or imported). */
int store_checkpoint_config(store *s, int64_t ckpt, char **text, uerr *e);

/* Sets status to "finished", "interrupted" or "failed" and stamps the
 * finish time; "running" clears it again (a resumed run). Flushes the
 * buffered metrics first, so a finished run's log is complete. The
 * session this handle began or resumed gets the same status. */
int store_run_finish(store *s, int64_t run, const char *status, uerr *e);

/* *lost = 1 when run is marked running but the process of its newest
 * session, on this host, is gone (killed, or the machine restarted):
 * listings show it as "lost", and --resume continues it. A run started on
 * another host is never called lost: its process cannot be asked. */
int store_run_lost(store *s, int64_t run, int *lost, uerr *e);

/* All digits: a run id; otherwise a run name. */
int store_run_resolve(store *s, const char *name_or_id, int64_t *run, uerr *e);

typedef struct store_run {
    int64_t id;
    char *name;
    char *config_text;
    char *config_hash;
    char *command_line;
    char *program_version;
    char *started;  /* UTC, ISO 8601 with milliseconds */
    char *finished; /* NULL while running */
    char *status;
    char *data_hash;
    char *blas;
    int threads;
    int64_t parent_checkpoint; /* 0: none */
    char *init;                /* "" for runs recorded before schema 2 */
    int32_t *vocab;
    int nvocab;
    char **labels; /* a classifier's class names; 0: none stored (not a
                    * classifier, or recorded before schema 3) */
    int nlabels;
} store_run;

/* Fills out (owned strings and vocab; free with store_run_free). */
int store_run_get(store *s, int64_t id, store_run *out, uerr *e);
void store_run_free(store_run *r);

/* ---- metrics ---------------------------------------------------------- */

/* Buffers one (run, step, name) = value row; the buffer is written in one
 * transaction when it holds STORE_METRIC_BATCH rows, on store_flush, on
 * every checkpoint save, run finish and close. Logging a row twice keeps
 * the last value. NaN is stored as SQL NULL (SQLite has no NaN). On a
 * failed write the rows stay buffered for the next attempt; a batch that
 * finds the lock held elsewhere past the busy timeout is no error: its
 * rows wait for the next batch (up to STORE_METRIC_MAX rows). */
int store_metric(store *s, int64_t run, int64_t step, const char *name, double value, uerr *e);
int store_flush(store *s, uerr *e);
/* 1 when the last failure on s was another connection holding the lock
 * (past the busy timeout): waiting and trying again may succeed. */
int store_busy(const store *s);

/* Whether name can be a run name or tag (what: "run name", "tag"): not
 * empty, not all digits (ids are tried first), no '@' (RUN@STEP), no
 * control character, at most STORE_NAME_MAX bytes. */
int store_name_check(const char *what, const char *name, uerr *e);

/* "step,name,value" then one row per metric ordered by step, name; values
 * with %.17g (so they read back bit-exact), NULL as "nan". */
int store_metrics_csv(store *s, int64_t run, FILE *out, uerr *e);

/* ---- checkpoints ------------------------------------------------------ */

/* Roles: "param" (trained parameter), "optim" (optimiser state), "state"
 * (carried hidden state), "rng" (random generator state), "cursor"
 * (data position). */
typedef struct store_tensor {
    const char *name; /* unique within the checkpoint */
    const char *role;
    dtype dt;
    shape shape;
    const void *data; /* shape_numel(&shape) elements, C order */
} store_tensor;

/* Saves a new version (1 + the run's latest) of run at step, in one
 * transaction that also writes the buffered metrics. Tensors whose
 * content already exists in the file are not stored again.
 * metrics_json: NULL or a JSON text (e.g. {"valid_loss": 1.93}). */
int store_checkpoint_save(store *s, int64_t run, int64_t step, const store_tensor *t, int n,
                          const char *metrics_json, int64_t *ckpt, uerr *e);

/* The same, recording parent: the checkpoint this state descends from
 * (the previous save of the same process, the checkpoint a resume or a
 * --from started from; 0: none). Parents make the lineage that `ckpt log`
 * shows and `ckpt verify` replays. A parent deleted meanwhile (pruned by
 * another process) is recorded as none rather than failing the save. */
int store_checkpoint_save_from(store *s, int64_t run, int64_t step, int64_t parent,
                               const store_tensor *t, int n, const char *metrics_json,
                               int64_t *ckpt, uerr *e);

/* A reference, tried in this order: a checkpoint id (all digits), a tag,
 * RUN@STEP (RUN a name or id; the latest version at that step), RUN@best
 * (the lowest valid_loss, else the lowest loss), a run name (its latest
 * checkpoint). */
int store_checkpoint_resolve(store *s, const char *ref, int64_t *ckpt, uerr *e);

typedef struct store_loaded_tensor {
    char *name;
    char *role;
    dtype dt;
    shape shape;
    void *data; /* nbytes bytes, at least 1 allocated */
    size_t nbytes;
    char hash[65];
} store_loaded_tensor;

typedef struct store_loaded {
    int64_t id, run, step, version;
    int64_t parent;  /* 0: none */
    int64_t session; /* 0: unknown (saved before schema 2) */
    char *created;
    char *metrics_json; /* NULL if none */
    char *tag;          /* NULL if none */
    char *note;         /* NULL if none */
    int n;
    store_loaded_tensor *t; /* in the order they were saved */
} store_loaded;

/* Loads checkpoint ckpt, verifying every tensor against its hash.
 * On failure out holds nothing to free (but freeing it is harmless). */
int store_checkpoint_load(store *s, int64_t ckpt, store_loaded *out, uerr *e);
void store_loaded_free(store_loaded *l);
/* The tensor called name, or NULL. */
const store_loaded_tensor *store_loaded_find(const store_loaded *l, const char *name);

/* The content hash the store keys tensors by: SHA-256 over the dtype name
 * ("float32"), one space, the shape as JSON ("[3,4]", "[]" for a scalar),
 * '\n', then the raw data bytes. out gets 64 hex digits. Returns 0, or
 * non-zero for an invalid dtype or shape. */
int store_tensor_hash(dtype dt, const shape *s, const void *data, char out[65]);

/* The most recently saved checkpoint of the database; an error naming the
 * file when there is none. */
int store_checkpoint_latest(store *s, int64_t *ckpt, uerr *e);

/* ---- test and safety hooks --------------------------------------------- */

typedef enum store_event {
    STORE_EV_CKPT_BEGIN,  /* the checkpoint's write transaction has begun */
    STORE_EV_CKPT_COMMIT, /* everything is written; COMMIT comes next */
    STORE_EV_CKPT_DONE,   /* committed */
} store_event;

/* Called at each event above (NULL: none). Tests use it to kill a process
 * inside a checkpoint transaction on purpose. */
typedef void (*store_hook_fn)(void *ctx, store_event ev, int64_t run, int64_t step);
void store_set_hook(store *s, store_hook_fn fn, void *ctx);

/* Caps the file at about bytes (PRAGMA max_page_count); a write that
 * would grow it further fails as on a full disk. For tests, and for users
 * who want a hard limit. */
int store_max_size(store *s, int64_t bytes, uerr *e);

/* ---- listings (store_query.c) -------------------------------------------- */

typedef struct store_run_filter {
    const char *name_glob; /* SQL GLOB on the name, or NULL */
    const char *status;    /* or NULL */
    const char *since;     /* started at or after this ISO 8601 prefix, or NULL */
    const char *before;    /* started before it, or NULL */
    /* Called with each remaining run's config text; a run is listed if it
     * returns 1 (0: left out, < 0: error in e). NULL: all. */
    int (*keep)(void *ctx, int64_t run, const char *config_text, uerr *e);
    void *ctx;
} store_run_filter;

/* Columns: id, name, status, started, finished, steps (last logged step),
 * ckpts, last_loss, best_valid_loss, parent (checkpoint). status is the
 * stored one, or "lost" (see store_run_lost); the filter's status may be
 * "lost" too, and "running" then lists only the runs still alive. */
int store_runs_table(store *s, const store_run_filter *f, table *out, uerr *e);

/* Columns: step, name, value. name NULL: every metric. */
int store_metrics_table(store *s, int64_t run, const char *name, table *out, uerr *e);

/* The steps and values of one metric of run, ordered by step (NaN where
 * NULL). *steps and *values are malloc'd, or NULL when *n is 0. */
int store_metric_series(store *s, int64_t run, const char *name, int64_t **steps, double **values,
                        int64_t *n, uerr *e);

/* The names of run's metrics that start with prefix, sorted (malloc'd;
 * free with store_names_free). */
int store_metric_names(store *s, int64_t run, const char *prefix, char ***names, int *n, uerr *e);
void store_names_free(char **names, int n);

/* Columns: session, kind, from_ckpt, from_step, started, finished, status,
 * dropped (metric rows a resume deleted), host, pid, command. */
int store_sessions_table(store *s, int64_t run, table *out, uerr *e);

/* Columns: id, run, step, version, parent, created, loss, valid_loss, tag,
 * tensors, bytes. run 0: every run. */
int store_checkpoints_table(store *s, int64_t run, table *out, uerr *e);

/* The lineage of ckpt, newest first, following parents back to the first
 * checkpoint (across runs for a run started --from another). Columns: id,
 * run, step, version, created, loss, valid_loss, tag, event (how the
 * checkpoint relates to the one below it: "start", "resumed from N",
 * "from RUN@STEP" or ""). */
int store_lineage_table(store *s, int64_t ckpt, table *out, uerr *e);

/* The checkpoint with the lowest (maximize: highest) value of metric:
 * its value in the checkpoint's metrics JSON, else the run's logged value
 * at the checkpoint's step. run 0: any run. Ties go to the earlier
 * checkpoint. An error naming the metric when no checkpoint has it. */
int store_checkpoint_best(store *s, int64_t run, const char *metric, int maximize, int64_t *ckpt,
                          double *value, uerr *e);

/* Sets (tag NULL: removes) the tag of a checkpoint. Tags are unique,
 * follow the run-name rules, and may not equal a run name (a reference
 * tries tags before run names, so it would hide the run). */
int store_checkpoint_tag(store *s, int64_t ckpt, const char *tag, uerr *e);

/* Puts tag on ckpt, taking it off another checkpoint of the same run
 * first (a tag that follows a run's best checkpoint). */
int store_checkpoint_retag(store *s, int64_t run, int64_t ckpt, const char *tag, uerr *e);

typedef struct store_removed {
    int64_t checkpoints, metrics, runs;
    int64_t tensors, bytes; /* tensor rows no longer used by anything, and their bytes */
} store_removed;

/* Deletes the checkpoints of run except: the keep_last newest versions
 * (keep_last >= 1), tagged ones, the best by metric (when any checkpoint
 * of the run has it; NULL: "valid_loss", then "loss"), and those another
 * run started from. Tensors no other checkpoint uses are deleted too. One
 * transaction; dry_run rolls it back after counting. removed (if not
 * NULL) gets the deleted checkpoints' ids and steps. */
int store_checkpoint_prune(store *s, int64_t run, int64_t keep_last, const char *metric,
                           int dry_run, table *removed, store_removed *st, uerr *e);

/* Deletes run with its checkpoints, metrics, vocabulary and sessions, and
 * the tensors nothing else uses (shared ones stay). Runs started from its
 * checkpoints keep their own data; their parent becomes none. Refused
 * while a live process trains the run, unless force. */
int store_run_delete(store *s, int64_t run, int force, store_removed *st, uerr *e);

int store_run_rename(store *s, int64_t run, const char *name, uerr *e);

/* Runs one read-only SQL statement and collects its rows. Statements that
 * could write (sqlite3_stmt_readonly), ATTACH and more than one statement
 * are refused. BLOB values appear as "<blob N bytes>". */
int store_query(store *s, const char *sql, table *out, uerr *e);
/* The same, stopping with an error at more than limit rows (a recursive
 * query may never end) or when memory for the rows runs out. */
#define STORE_QUERY_LIMIT 100000
int store_query_limit(store *s, const char *sql, int64_t limit, table *out, uerr *e);

/* Receives the rows of store_query_each in parts: t holds the next rows
 * (before of them came earlier), last is set on the final part (which may
 * be empty). A non-zero return (its error in e) stops the query. */
typedef int (*store_part_fn)(void *ctx, const table *t, int64_t before, int last, uerr *e);

/* The same, streaming: every part rows (and the rest at the end) go to fn,
 * then t is emptied for the next part, so memory holds one part, not the
 * result. t is the caller's to table_free in every case. With fn NULL the
 * rows collect in t (store_query_limit). Stops at more than limit rows,
 * after handing out the rows before it. */
int store_query_each(store *s, const char *sql, int64_t limit, int64_t part, table *t,
                     store_part_fn fn, void *ctx, uerr *e);

#endif
