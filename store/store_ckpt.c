/*
 * store_ckpt.c - tensors and checkpoints in the store (see store.h):
 * content-hashed tensor rows, the one-transaction checkpoint save with its
 * lineage, reference resolution (id, tag, RUN@STEP, run name) and loading
 * with hash verification. The handle, runs and metrics are in
 * store_open.c, store_runs.c and store_metrics.c.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "sha256.h"

/* ---- tensors ---------------------------------------------------------- */

static int store_shape_valid(const shape *s)
{
    if (s->rank < 0 || s->rank > TENSOR_MAX_RANK)
        return 0;
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] < 0)
            return 0;
    return 1;
}

/* Bytes of a tensor, or -1 when they would not fit in memory. */
static int64_t store_nbytes(dtype dt, const shape *s)
{
    uint64_t n = dtype_size(dt);
    for (int i = 0; i < s->rank; i++) {
        uint64_t d = (uint64_t)s->dim[i];
        if (d && n > (uint64_t)(INT64_MAX / 2) / d)
            return -1;
        n *= d;
    }
    return n > SIZE_MAX ? -1 : (int64_t)n;
}

/* "[3,4]": the shape column and part of the hashed text. */
static void store_shape_json(const shape *s, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%" PRId64 : "%" PRId64, s->dim[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

/* The inverse of store_shape_json, strict: "[" ints "," ... "]". */
static int store_shape_parse(const char *p, shape *s)
{
    s->rank = 0;
    if (*p++ != '[')
        return -1;
    if (*p == ']')
        return p[1] ? -1 : 0;
    for (;;) {
        if (*p < '0' || *p > '9' || s->rank == TENSOR_MAX_RANK)
            return -1;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        s->dim[s->rank++] = v;
        if (*p == ']')
            return p[1] ? -1 : 0;
        if (*p++ != ',')
            return -1;
    }
}

int store_tensor_hash(dtype dt, const shape *s, const void *data, char out[65])
{
    if (dtype_size(dt) == 0 || !store_shape_valid(s))
        return -1;
    int64_t nbytes = store_nbytes(dt, s);
    if (nbytes < 0 || (nbytes > 0 && !data))
        return -1;
    char head[160];
    store_shape_json(s, head + snprintf(head, 16, "%s ", dtype_name(dt)), 140);
    size_t hl = strlen(head);
    head[hl++] = '\n';
    sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, head, hl);
    if (nbytes)
        sha256_update(&c, data, (size_t)nbytes);
    sha256_final(&c, d);
    sha256_to_hex(d, out);
    return 0;
}

static int store_role_valid(const char *r)
{
    static const char *const roles[] = {"param", "optim", "state", "rng", "cursor"};
    for (size_t i = 0; r && i < sizeof roles / sizeof roles[0]; i++)
        if (!strcmp(r, roles[i]))
            return 1;
    return 0;
}

static int store_check_tensors(store *s, const store_tensor *t, int n, uerr *e)
{
    if (n < 0 || (n > 0 && !t))
        return uerr_set(e, UERR_INTERNAL, "%s: invalid tensor list", s->path);
    for (int i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name || !*name)
            return uerr_set(e, UERR_INTERNAL, "%s: tensor %d has no name", s->path, i);
        if (!store_role_valid(t[i].role))
            return uerr_set(e, UERR_INTERNAL,
                            "%s: tensor '%s' has role '%s' (expected param, optim, state, rng "
                            "or cursor)",
                            s->path, name, t[i].role ? t[i].role : "(null)");
        if (dtype_size(t[i].dt) == 0 || !store_shape_valid(&t[i].shape))
            return uerr_set(e, UERR_INTERNAL, "%s: tensor '%s' has an invalid dtype or shape",
                            s->path, name);
        int64_t nb = store_nbytes(t[i].dt, &t[i].shape);
        if (nb < 0 || (nb > 0 && !t[i].data))
            return uerr_set(e, UERR_INTERNAL, "%s: tensor '%s' has no data or is too large",
                            s->path, name);
        /* Quadratic, but a checkpoint has tens of tensors, not thousands. */
        for (int j = 0; j < i; j++)
            if (!strcmp(t[j].name, name))
                return uerr_set(e, UERR_INTERNAL, "%s: two tensors named '%s' in one checkpoint",
                                s->path, name);
    }
    return 0;
}

/* ---- checkpoints ------------------------------------------------------ */

int store_checkpoint_save(store *s, int64_t run, int64_t step, const store_tensor *t, int n,
                          const char *metrics_json, int64_t *ckpt, uerr *e)
{
    return store_checkpoint_save_from(s, run, step, 0, t, n, metrics_json, ckpt, e);
}

void store_set_hook(store *s, store_hook_fn fn, void *ctx)
{
    s->hook = fn;
    s->hook_ctx = ctx;
}

int store_max_size(store *s, int64_t bytes, uerr *e)
{
    sqlite3_stmt *st;
    int64_t page = 0;
    int found = 0;
    int rc = store_prep(s, "PRAGMA page_size", &st, "reading the page size", e);
    if (!rc)
        rc = store_query_int(s, st, &page, &found, "reading the page size", e);
    store_final(st);
    if (rc)
        return rc;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %" PRId64,
             page > 0 ? (bytes + page - 1) / page : 1);
    return store_exec(s, sql, "limiting the file size", e);
}

/* Writes a new tensor row's bytes into its zeroblob in place. Binding the
 * data itself would make SQLite build the whole row in one allocation (a
 * copy of the tensor: 4 MiB for a 1024 x 1024 float32 matrix, at the
 * checkpoint, on top of everything training holds); the blob handle
 * writes it page by page through the page cache. */
static int store_blob_fill(store *s, int64_t rowid, const void *data, int64_t nb)
{
    sqlite3_blob *b;
    int rc = sqlite3_blob_open(s->db, "main", "tensors", "data", rowid, 1, &b);
    if (rc != SQLITE_OK) {
        sqlite3_blob_close(b);
        return rc;
    }
    /* nb fits in an int: the zeroblob of nb bytes was accepted, and
     * SQLite's largest blob (SQLITE_MAX_LENGTH) is below INT_MAX */
    rc = sqlite3_blob_write(b, data, (int)nb, 0);
    int rc2 = sqlite3_blob_close(b);
    return rc != SQLITE_OK ? rc : rc2;
}

int store_checkpoint_save_from(store *s, int64_t run, int64_t step, int64_t parent,
                               const store_tensor *t, int n, const char *metrics_json,
                               int64_t *ckpt, uerr *e)
{
    char what[96];
    snprintf(what, sizeof what, "saving the checkpoint of run %" PRId64 " at step %" PRId64, run,
             step);
    int rc;
    if ((rc = store_writable(s, e)) || (rc = store_check_tensors(s, t, n, e)))
        return rc;
    if (step < 0)
        return uerr_set(e, UERR_INTERNAL, "%s: negative step %" PRId64, s->path, step);
    /* Hash before taking the write lock: hashing large tensors is the
     * slow part, and other writers should not wait for it. */
    char(*hash)[SHA256_HEX_SIZE] = malloc((size_t)(n ? n : 1) * sizeof *hash);
    if (!hash)
        return store_oom(s, what, e);
    for (int i = 0; i < n; i++)
        (void)store_tensor_hash(t[i].dt, &t[i].shape, t[i].data, hash[i]);

    sqlite3_stmt *ins_t = NULL, *ins_ct = NULL;
    int64_t id = 0, version = 0;
    int found;
    if ((rc = store_begin(s, what, e))) {
        free(hash);
        return rc;
    }
    if (s->hook)
        s->hook(s->hook_ctx, STORE_EV_CKPT_BEGIN, run, step);
    if (!(rc = store_run_exists(s, run, e)) && !(rc = store_flush_rows(s, e)) &&
        !(rc = store_lookup(s, &version, &found, what, e,
                            "SELECT coalesce(max(version), 0) + 1 FROM checkpoints WHERE run = ?",
                            "I", run)) &&
        /* The subqueries turn a parent or session deleted meanwhile into
         * NULL instead of a foreign key failure that would stop training. */
        !(rc = store_do(s, what, e,
                        "INSERT INTO checkpoints (run, step, version, created, metrics, parent,"
                        " session) VALUES (?1, ?2, ?3, " STORE_NOW ", ?4,"
                        " (SELECT id FROM checkpoints WHERE id = ?5),"
                        " (SELECT id FROM sessions WHERE id = ?6 AND run = ?1))",
                        "IIItII", run, step, version, metrics_json, parent,
                        s->session_run == run ? s->session : (int64_t)0)))
        id = sqlite3_last_insert_rowid(s->db);
    /* INSERT OR IGNORE on the content hash: identical bytes (a frozen
     * embedding, an unchanged optimiser slot) are stored once. */
    if (!rc)
        rc = store_prep(s,
                        "INSERT OR IGNORE INTO tensors (hash, dtype, shape, nbytes, data)"
                        " VALUES (?, ?, ?, ?, ?)",
                        &ins_t, what, e);
    if (!rc)
        rc = store_prep(s,
                        "INSERT INTO checkpoint_tensors (checkpoint, name, seq, role, tensor)"
                        " VALUES (?, ?, ?, ?, ?)",
                        &ins_ct, what, e);
    for (int i = 0; !rc && i < n; i++) {
        char shp[128];
        store_shape_json(&t[i].shape, shp, sizeof shp);
        int64_t nb = store_nbytes(t[i].dt, &t[i].shape);
        /* A NULL pointer would bind SQL NULL, not an empty blob. */
        const void *data = nb ? t[i].data : "";
        if ((rc = store_bind(s, ins_t, what, e, "tttIz", hash[i], dtype_name(t[i].dt), shp, nb,
                             nb)) ||
            (rc = store_bind(s, ins_ct, what, e, "Ititt", id, t[i].name, i, t[i].role, hash[i])))
            break;
        if (sqlite3_step(ins_t) != SQLITE_DONE || sqlite3_reset(ins_t) != SQLITE_OK ||
            (nb && sqlite3_changes(s->db) == 1 &&
             store_blob_fill(s, sqlite3_last_insert_rowid(s->db), data, nb) != SQLITE_OK) ||
            sqlite3_step(ins_ct) != SQLITE_DONE || sqlite3_reset(ins_ct) != SQLITE_OK)
            rc = store_fail(s, what, e);
    }
    store_final(ins_t);
    store_final(ins_ct);
    free(hash);
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    if (s->hook)
        s->hook(s->hook_ctx, STORE_EV_CKPT_COMMIT, run, step);
    if ((rc = store_commit(s, what, e)))
        return rc;
    if (s->hook)
        s->hook(s->hook_ctx, STORE_EV_CKPT_DONE, run, step);
    s->nm = 0;
    s->mnames_len = 0;
    *ckpt = id;
    return 0;
}

/* The newest version of run (at step, if step >= 0). */
static int store_latest(store *s, int64_t run, int64_t step, int64_t *ckpt, int *found, uerr *e)
{
    return store_lookup(s, ckpt, found, "looking up a checkpoint", e,
                        "SELECT id FROM checkpoints WHERE run = ?1 AND (?2 < 0 OR step = ?2)"
                        " ORDER BY version DESC LIMIT 1",
                        "II", run, step);
}

int store_checkpoint_resolve(store *s, const char *ref, int64_t *ckpt, uerr *e)
{
    int64_t id, run;
    int found = 0, rc;
    if (!ref || !*ref)
        return uerr_set(e, UERR_USER, "%s: empty checkpoint reference", s->path);
    /* Names and tags can never be all digits and never contain '@' (the
     * schema's CHECKs), so this order can only resolve one way. */
    if (store_is_digits(ref)) {
        if (store_parse_id(ref, &id) &&
            (rc = store_lookup(s, ckpt, &found, "looking up a checkpoint", e,
                               "SELECT id FROM checkpoints WHERE id = ?", "I", id)))
            return rc;
        if (!found)
            return uerr_set(e, UERR_USER, "%s: no checkpoint with id %s", s->path, ref);
        return 0;
    }
    if ((rc = store_lookup(s, ckpt, &found, "looking up a checkpoint", e,
                           "SELECT id FROM checkpoints WHERE tag = ?", "t", ref)))
        return rc;
    if (found)
        return 0;
    const char *at = strchr(ref, '@');
    if (at) {
        int64_t step = -1;
        char runpart[STORE_NAME_MAX + 1];
        size_t rl = (size_t)(at - ref);
        int best = !strcmp(at + 1, "best");
        if ((!best && !store_parse_id(at + 1, &step)) || rl == 0 || rl > STORE_NAME_MAX)
            return uerr_set(e, UERR_USER,
                            "%s: bad checkpoint reference '%s' (expected RUN@STEP with a "
                            "numeric STEP, or RUN@best)",
                            s->path, ref);
        memcpy(runpart, ref, rl);
        runpart[rl] = '\0';
        if ((rc = store_run_resolve(s, runpart, &run, e))) {
            uerr_prefix(e, "checkpoint '%s'", ref);
            return rc;
        }
        if (best) {
            if ((rc = store_best_loss(s, run, ckpt, &found, e)))
                return rc;
            if (!found)
                return uerr_set(e, UERR_USER, "%s: run '%s' has no checkpoint with a loss", s->path,
                                runpart);
            return 0;
        }
        if ((rc = store_latest(s, run, step, ckpt, &found, e)))
            return rc;
        if (!found)
            return uerr_set(e, UERR_USER, "%s: run '%s' has no checkpoint at step %" PRId64,
                            s->path, runpart, step);
        return 0;
    }
    if ((rc = store_lookup(s, &run, &found, "looking up a checkpoint", e,
                           "SELECT id FROM runs WHERE name = ?", "t", ref)))
        return rc;
    if (!found)
        return uerr_set(e, UERR_USER, "%s: no checkpoint, tag or run named '%s'", s->path, ref);
    if ((rc = store_latest(s, run, -1, ckpt, &found, e)))
        return rc;
    if (!found)
        return uerr_set(e, UERR_USER, "%s: run '%s' has no checkpoints yet", s->path, ref);
    return 0;
}

void store_loaded_free(store_loaded *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].name);
        free(l->t[i].role);
        free(l->t[i].data);
    }
    free(l->t);
    free(l->created);
    free(l->metrics_json);
    free(l->tag);
    free(l->note);
    memset(l, 0, sizeof *l);
}

const store_loaded_tensor *store_loaded_find(const store_loaded *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].name, name))
            return &l->t[i];
    return NULL;
}

/* Turns one row of the tensor query into x, checking everything the file
 * claims: the dtype, the shape, the sizes and, last, the hash. */
static int store_load_tensor(store *s, sqlite3_stmt *st, int64_t ckpt, store_loaded_tensor *x,
                             uerr *e)
{
    int oom = 0;
    x->name = store_col_text(st, 0, &oom);
    x->role = store_col_text(st, 1, &oom);
    const char *hash = (const char *)sqlite3_column_text(st, 2);
    const char *dt = (const char *)sqlite3_column_text(st, 3);
    const char *shp = (const char *)sqlite3_column_text(st, 4);
    int64_t nbytes = sqlite3_column_int64(st, 5);
    if (oom || !x->name)
        return store_oom(s, "loading a checkpoint", e);
    snprintf(x->hash, sizeof x->hash, "%s", hash ? hash : "");
    if (!dt)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s' of checkpoint %" PRId64 ": its bytes (hash %.12s) are "
                        "missing",
                        s->path, x->name, ckpt, x->hash);
    if (dtype_from_name(dt, &x->dt) != 0 || !shp || store_shape_parse(shp, &x->shape) != 0 ||
        store_nbytes(x->dt, &x->shape) != nbytes)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s' of checkpoint %" PRId64
                        ": malformed record (dtype '%s', shape '%s', %" PRId64 " bytes)",
                        s->path, x->name, ckpt, dt, shp ? shp : "", nbytes);
    /* Blob length is read after the pointer, as SQLite documents. */
    const void *blob = sqlite3_column_blob(st, 6);
    int64_t blen = sqlite3_column_bytes(st, 6);
    if (!blob && blen == 0 && sqlite3_errcode(s->db) == SQLITE_NOMEM)
        return store_oom(s, "loading a checkpoint", e);
    if (blen != nbytes)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s' of checkpoint %" PRId64 ": expected %" PRId64
                        " bytes, found %" PRId64,
                        s->path, x->name, ckpt, nbytes, blen);
    x->nbytes = (size_t)nbytes;
    if (!(x->data = malloc(x->nbytes ? x->nbytes : 1)))
        return store_oom(s, "loading a checkpoint", e);
    if (x->nbytes)
        memcpy(x->data, blob, x->nbytes);
    char got[SHA256_HEX_SIZE];
    if (store_tensor_hash(x->dt, &x->shape, x->data, got) != 0 || strcmp(got, x->hash) != 0)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s' of checkpoint %" PRId64
                        ": stored bytes do not match their hash",
                        s->path, x->name, ckpt);
    return 0;
}

int store_checkpoint_load(store *s, int64_t ckpt, store_loaded *out, uerr *e)
{
    const char *what = "loading a checkpoint";
    memset(out, 0, sizeof *out);
    int rc;
    /* One read transaction: both queries see the same snapshot even if a
     * writer prunes or saves in between. */
    if (s->in_txn)
        return uerr_set(e, UERR_INTERNAL, "%s: nested transaction", s->path);
    if ((rc = store_exec(s, "BEGIN", what, e)))
        return rc;
    s->in_txn = 1;
    sqlite3_stmt *st = NULL;
    int oom = 0;
    if (!(rc = store_prepare(s, &st, what, e,
                             "SELECT run, step, version, created, metrics, tag, note,"
                             " coalesce(parent, 0), coalesce(session, 0)"
                             " FROM checkpoints WHERE id = ?",
                             "I", ckpt))) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            out->id = ckpt;
            out->run = sqlite3_column_int64(st, 0);
            out->step = sqlite3_column_int64(st, 1);
            out->version = sqlite3_column_int64(st, 2);
            out->created = store_col_text(st, 3, &oom);
            out->metrics_json = store_col_text(st, 4, &oom);
            out->tag = store_col_text(st, 5, &oom);
            out->note = store_col_text(st, 6, &oom);
            out->parent = sqlite3_column_int64(st, 7);
            out->session = sqlite3_column_int64(st, 8);
            if (oom)
                rc = store_oom(s, what, e);
        } else if (r == SQLITE_DONE) {
            rc = uerr_set(e, UERR_USER, "%s: no checkpoint with id %" PRId64, s->path, ckpt);
        } else {
            rc = store_fail(s, what, e);
        }
    }
    store_final(st);
    st = NULL;
    if (!rc &&
        !(rc = store_prepare(s, &st, what, e,
                             "SELECT ct.name, ct.role, ct.tensor, t.dtype, t.shape, t.nbytes,"
                             " t.data FROM checkpoint_tensors ct LEFT JOIN tensors t"
                             " ON t.hash = ct.tensor WHERE ct.checkpoint = ? ORDER BY ct.seq",
                             "I", ckpt))) {
        int cap = 0, r;
        while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
            if (VEC_GROW(out->t, cap, out->n + 1)) {
                rc = store_oom(s, what, e);
                break;
            }
            store_loaded_tensor *x = &out->t[out->n++];
            memset(x, 0, sizeof *x);
            rc = store_load_tensor(s, st, ckpt, x, e);
        }
        if (!rc && r != SQLITE_DONE)
            rc = store_fail(s, what, e);
    }
    store_final(st);
    /* Only reads happened: ending the transaction cannot lose anything. */
    if (sqlite3_exec(s->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK &&
        !sqlite3_get_autocommit(s->db))
        rc = store_fail(s, what, e);
    s->in_txn = 0;
    if (rc)
        store_loaded_free(out);
    return rc;
}

/* ---- listings --------------------------------------------------------- */

int store_checkpoint_latest(store *s, int64_t *ckpt, uerr *e)
{
    const char *what = "looking up the latest checkpoint";
    sqlite3_stmt *st;
    int rc = store_prep(s, "SELECT id FROM checkpoints ORDER BY id DESC LIMIT 1", &st, what, e);
    if (rc)
        return rc;
    int found = 0;
    rc = store_query_int(s, st, ckpt, &found, what, e);
    store_final(st);
    if (!rc && !found)
        rc = uerr_set(e, UERR_USER, "%s: no checkpoints yet (train a model first)", s->path);
    return rc;
}

int store_checkpoint_retag(store *s, int64_t run, int64_t ckpt, const char *tag, uerr *e)
{
    int rc = store_do(s, "moving a tag", e,
                      "UPDATE checkpoints SET tag = NULL WHERE tag = ? AND run = ? AND id <> ?",
                      "tII", tag, run, ckpt);
    return rc ? rc : store_checkpoint_tag(s, ckpt, tag, e);
}
