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

#include "graph/err.h"
#include "graph/tensor.h"

/* PRAGMA user_version written by this build; older files are migrated
 * forward on a read-write open, newer ones refused. */
#define STORE_SCHEMA_VERSION 1
/* PRAGMA application_id of every unroll store: "UnRl" in ASCII. */
#define STORE_APPLICATION_ID 0x556e526c
/* Buffered metric rows written per transaction. */
#define STORE_METRIC_BATCH 1024

typedef struct store store;

/* Opens (read-write: creating and migrating if needed) the store at path.
 * readonly opens an existing, current store for queries only; it never
 * writes, so it works on files the process may not modify. */
int store_open(store **out, const char *path, int readonly, uerr *e);
/* Flushes buffered metrics (an error there is lost: call store_flush
 * first to see it), then closes. NULL is allowed. */
void store_close(store *s);
const char *store_path(const store *s);
/* How long a write waits for another process's transaction before
 * failing with "PATH: database is locked"; store_open sets 5000 ms. */
int store_busy_timeout(store *s, int ms, uerr *e);

/* ---- runs ------------------------------------------------------------- */

typedef struct store_run_info {
    const char *name;            /* NULL or "": "run", else run-2, run-3... */
    const char *config_text;     /* the YAML as read; hashed into config_hash */
    const char *command_line;
    const char *program_version;
    const char *data_hash;       /* sha256 hex of the training data, or NULL */
    const char *blas;            /* e.g. "OpenBLAS 0.3.21", or NULL */
    int threads;                 /* 0: unknown */
    const int32_t *vocab;        /* vocab[i] = codepoint of token i */
    int nvocab;
    int64_t parent_checkpoint;   /* 0: none */
} store_run_info;

/* Run names are unique, non-empty, at most 200 bytes, not all digits (so
 * they never read as an id), without '@' (RUN@STEP) or control
 * characters. */

/* Writes into out base itself if no run has that name, else the first
 * free one of base-2, base-3, ... NULL or "" base means "run". */
int store_unique_run_name(store *s, const char *base, char *out, size_t n, uerr *e);

/* Creates a run with status "running". A name already taken is an error
 * ("run 'x' already exists in PATH; choose another --name"). */
int store_run_begin(store *s, const store_run_info *info, int64_t *run_id, uerr *e);

/* Sets status to "finished", "interrupted" or "failed" and stamps the
 * finish time; "running" clears it again (a resumed run). Flushes the
 * buffered metrics first, so a finished run's log is complete. */
int store_run_finish(store *s, int64_t run, const char *status, uerr *e);

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
    int32_t *vocab;
    int nvocab;
} store_run;

/* Fills out (owned strings and vocab; free with store_run_free). */
int store_run_get(store *s, int64_t id, store_run *out, uerr *e);
void store_run_free(store_run *r);

/* ---- metrics ---------------------------------------------------------- */

/* Buffers one (run, step, name) = value row; the buffer is written in one
 * transaction when it holds STORE_METRIC_BATCH rows, on store_flush, on
 * every checkpoint save, run finish and close. Logging a row twice keeps
 * the last value. NaN is stored as SQL NULL (SQLite has no NaN). On a
 * failed write the rows stay buffered for the next attempt. */
int store_metric(store *s, int64_t run, int64_t step, const char *name, double value, uerr *e);
int store_flush(store *s, uerr *e);

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

/* A reference, tried in this order: a checkpoint id (all digits), a tag,
 * RUN@STEP (RUN a name or id; the latest version at that step), a run
 * name (its latest checkpoint). */
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

/* One line per run (id, name, status, start, last checkpoint step, last
 * loss), as a table or as CSV with a header. */
int store_runs_list(store *s, FILE *out, int csv, uerr *e);

#endif
