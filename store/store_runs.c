/*
 * store_runs.c - runs and their sessions: names, creation, status,
 * resume, lookup.
 *
 * Invariants:
 * - A run and its first session are created in one transaction; so are a
 *   resume's new session, its status and the metrics it drops.
 * - Each training process on a run has one session row carrying its pid
 *   and host, which is how a run is known to be alive or lost.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vec.h"
#include "store/sha256.h"

/* ---- names ------------------------------------------------------------ */

int store_name_check(const char *what, const char *name, uerr *e)
{
    size_t n = strlen(name);
    /* A tag that read as digits would shadow a checkpoint id, a run name a
     * run id: references try ids first. */
    const char *idkind = strcmp(what, "tag") ? "a run id" : "a checkpoint id";
    if (n == 0)
        return uerr_set(e, UERR_USER, "a %s cannot be empty", what);
    if (n > STORE_NAME_MAX)
        return uerr_set(e, UERR_USER, "%s '%.40s...' is longer than %d bytes", what, name,
                        STORE_NAME_MAX);
    if (store_is_digits(name))
        return uerr_set(e, UERR_USER, "%s '%s' is all digits and would read as %s", what, name,
                        idkind);
    for (const char *p = name; *p; p++) {
        if (*p == '@')
            return uerr_set(e, UERR_USER, "%s '%s' contains '@', which separates RUN@STEP", what,
                            name);
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return uerr_set(e, UERR_USER, "%s contains a control character", what);
    }
    return 0;
}

int store_check_label(store *s, const char *what, const char *name, uerr *e)
{
    int rc = store_name_check(what, name, e);
    if (rc)
        uerr_prefix(e, "%s", s->path);
    return rc;
}

static int store_check_run_name(store *s, const char *name, uerr *e)
{
    return store_check_label(s, "run name", name, e);
}

/* Whether a run called name exists. */
static int store_name_taken(store *s, const char *name, int *taken, uerr *e)
{
    int64_t id;
    return store_lookup(s, &id, taken, "looking up a run name", e,
                        "SELECT id FROM runs WHERE name = ?", "t", name);
}

int store_unique_run_name(store *s, const char *base, char *out, size_t n, uerr *e)
{
    if (!base || !*base)
        base = "run";
    int rc = store_check_run_name(s, base, e);
    for (long i = 1; !rc; i++) {
        int k = i == 1 ? snprintf(out, n, "%s", base) : snprintf(out, n, "%s-%ld", base, i);
        if (k < 0 || (size_t)k >= n || k > STORE_NAME_MAX)
            return uerr_set(e, UERR_USER, "%s: no room for a run name based on '%s'", s->path,
                            base);
        int taken;
        if ((rc = store_name_taken(s, out, &taken, e)))
            break;
        if (!taken)
            return 0;
    }
    return rc;
}

/* ---- runs ------------------------------------------------------------- */

int store_run_exists(store *s, int64_t run, uerr *e)
{
    int64_t id;
    int found;
    int rc = store_lookup(s, &id, &found, "looking up a run", e, "SELECT id FROM runs WHERE id = ?",
                          "I", run);
    if (!rc && !found)
        rc = uerr_set(e, UERR_USER, "%s: no run with id %" PRId64, s->path, run);
    return rc;
}

/* ---- sessions ---------------------------------------------------------- */

typedef struct store_session_info {
    int64_t run;
    const char *kind; /* start, resume, import */
    int64_t from;     /* checkpoint, 0: none */
    const char *command_line, *program_version, *blas;
    const char *config_text; /* NULL: not recorded */
    int threads;
    int64_t dropped;
} store_session_info;

static void store_hostname(char *host, size_t n)
{
    if (gethostname(host, n) != 0)
        snprintf(host, n, "?");
    host[n - 1] = '\0';
}

/* Inserts a session row for this process, inside the caller's
 * transaction. */
static int store_session_insert(store *s, const store_session_info *si, int64_t *id, uerr *e)
{
    const char *what = "recording the session";
    char host[256];
    store_hostname(host, sizeof host);
    int rc = store_do(s, what, e,
                      "INSERT INTO sessions (run, kind, from_checkpoint, from_step, started,"
                      " status, metrics_dropped, command_line, program_version, blas, threads,"
                      " host, pid, config_text) VALUES (?1, ?2, ?3, (SELECT step FROM"
                      " checkpoints WHERE id = ?3), " STORE_NOW ", 'running', ?4, ?5, ?6, ?7,"
                      " ?8, ?9, ?10, ?11)",
                      "ItRIoooitIt", si->run, si->kind, si->from, si->dropped, si->command_line,
                      si->program_version, si->blas, si->threads, host, (int64_t)getpid(),
                      si->config_text);
    if (!rc)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_run_alive(store *s, int64_t run, int *alive, int64_t *pid, char *host, uerr *e)
{
    const char *what = "looking up the run's sessions";
    sqlite3_stmt *st;
    *alive = 0;
    *pid = 0;
    host[0] = '\0';
    int rc = store_prepare(
        s, &st, what, e,
        "SELECT status, host, pid FROM sessions WHERE run = ? ORDER BY id DESC LIMIT 1", "I", run);
    if (rc)
        return rc;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        char me[256];
        store_hostname(me, sizeof me);
        snprintf(host, 256, "%s", h ? h : "");
        *pid = sqlite3_column_int64(st, 2);
        /* kill(pid, 0) only asks whether the process exists; EPERM means
         * it does, under another user. A reused pid reads as alive: the
         * caller offers --force for that. */
        if (status && !strcmp(status, "running") && h && !strcmp(h, me) && *pid > 0 &&
            *pid != (int64_t)getpid() && (kill((pid_t)*pid, 0) == 0 || errno == EPERM))
            *alive = 1;
    } else if (r != SQLITE_DONE) {
        rc = store_fail(s, what, e);
    }
    store_final(st);
    return rc;
}

int store_run_lost(store *s, int64_t run, int *lost, uerr *e)
{
    int alive;
    int64_t pid;
    char host[256], me[256];
    *lost = 0;
    int rc = store_run_alive(s, run, &alive, &pid, host, e);
    if (rc || alive || pid <= 0 || pid == (int64_t)getpid())
        return rc;
    store_hostname(me, sizeof me);
    /* store_run_alive() answered "not alive" for a running session of this
     * host only when its process is gone; other hosts cannot be asked */
    if (!strcmp(host, me) && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        sqlite3_stmt *st;
        rc = store_prepare(s, &st, "reading a run", e, "SELECT status FROM runs WHERE id = ?", "I",
                           run);
        if (!rc && sqlite3_step(st) == SQLITE_ROW) {
            const char *status = (const char *)sqlite3_column_text(st, 0);
            *lost = status && !strcmp(status, "running");
        }
        store_final(st);
    }
    return rc;
}

int store_run_begin(store *s, const store_run_info *info, int64_t *run_id, uerr *e)
{
    const char *what = "creating a run";
    char name[STORE_NAME_MAX + 1];
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (info->threads < 0 || info->nvocab < 0 || (info->nvocab > 0 && !info->vocab) ||
        info->nlabels < 0 || (info->nlabels > 0 && !info->labels))
        return uerr_set(e, UERR_INTERNAL, "%s: invalid run description", s->path);
    int named = info->name && *info->name;
    if (named && (rc = store_check_run_name(s, info->name, e)))
        return rc;
    char config_hash[SHA256_HEX_SIZE];
    const char *config = info->config_text ? info->config_text : "";
    sha256_hex(config, strlen(config), config_hash);

    if ((rc = store_begin(s, what, e)))
        return rc;
    /* Choosing a fresh name inside the transaction makes choose-and-insert
     * atomic, so two processes starting unnamed runs cannot collide. */
    if (named) {
        int taken;
        snprintf(name, sizeof name, "%s", info->name);
        if (!(rc = store_name_taken(s, name, &taken, e)) && taken)
            rc = uerr_set(e, UERR_USER, "run '%s' already exists in %s; choose another --name",
                          name, s->path);
    } else {
        rc = store_unique_run_name(s, "run", name, sizeof name, e);
    }
    if (!rc && info->parent_checkpoint) {
        int64_t id;
        int found = 0;
        rc = store_lookup(s, &id, &found, what, e, "SELECT id FROM checkpoints WHERE id = ?", "I",
                          info->parent_checkpoint);
        if (!rc && !found)
            rc = uerr_set(e, UERR_USER, "%s: parent checkpoint %" PRId64 " does not exist", s->path,
                          info->parent_checkpoint);
    }
    if (!rc)
        rc = store_do(
            s, what, e,
            "INSERT INTO runs (name, config_text, config_hash, parent_checkpoint,"
            " command_line, program_version, started, status, data_hash, blas,"
            " threads, init) VALUES (?, ?, ?, ?, ?, ?, " STORE_NOW ", 'running', ?, ?, ?, ?)",
            "tttRooooio", name, config, config_hash, info->parent_checkpoint, info->command_line,
            info->program_version, info->data_hash, info->blas, info->threads, info->init);
    int64_t id = sqlite3_last_insert_rowid(s->db);
    sqlite3_stmt *st = NULL;
    if (!rc && info->nvocab > 0 &&
        !(rc = store_prep(s, "INSERT INTO run_vocab (run, id, codepoint) VALUES (?, ?, ?)", &st,
                          "storing the vocabulary", e))) {
        for (int i = 0; !rc && i < info->nvocab; i++) {
            rc = store_bind(s, st, "storing the vocabulary", e, "Iii", id, i, (int)info->vocab[i]);
            if (!rc)
                rc = store_step_done(s, st, "storing the vocabulary", e);
            if (!rc && sqlite3_reset(st) != SQLITE_OK)
                rc = store_fail(s, "storing the vocabulary", e);
        }
    }
    store_final(st);
    st = NULL;
    if (!rc && info->nlabels > 0 &&
        !(rc = store_prep(s, "INSERT INTO run_labels (run, id, label) VALUES (?, ?, ?)", &st,
                          "storing the labels", e))) {
        for (int i = 0; !rc && i < info->nlabels; i++) {
            rc = store_bind(s, st, "storing the labels", e, "Iit", id, i, info->labels[i]);
            if (!rc)
                rc = store_step_done(s, st, "storing the labels", e);
            if (!rc && sqlite3_reset(st) != SQLITE_OK)
                rc = store_fail(s, "storing the labels", e);
        }
    }
    store_final(st);
    int64_t session = 0;
    if (!rc) {
        store_session_info si = {.run = id,
                                 .kind = !strcmp(info->init ? info->init : "", "import") ? "import"
                                                                                         : "start",
                                 .from = info->parent_checkpoint,
                                 .command_line = info->command_line,
                                 .program_version = info->program_version,
                                 .blas = info->blas,
                                 .config_text = info->config_text,
                                 .threads = info->threads};
        rc = store_session_insert(s, &si, &session, e);
    }
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    if ((rc = store_commit(s, what, e)))
        return rc;
    s->session = session;
    s->session_run = id;
    *run_id = id;
    return 0;
}

int store_run_finish(store *s, int64_t run, const char *status, uerr *e)
{
    const char *what = "recording the run's status";
    int rc;
    if ((rc = store_writable(s, e)))
        return rc;
    if (!status || (strcmp(status, "running") && strcmp(status, "finished") &&
                    strcmp(status, "interrupted") && strcmp(status, "failed")))
        return uerr_set(e, UERR_INTERNAL, "%s: invalid run status '%s'", s->path,
                        status ? status : "(null)");
    if ((rc = store_begin(s, what, e)))
        return rc;
    if (!(rc = store_run_exists(s, run, e)) && !(rc = store_flush_rows(s, e)))
        rc = store_do(s, what, e,
                      "UPDATE runs SET status = ?1,"
                      " finished = CASE WHEN ?1 = 'running' THEN NULL ELSE " STORE_NOW
                      " END WHERE id = ?2",
                      "tI", status, run);
    if (!rc && s->session && s->session_run == run)
        rc = store_do(s, what, e,
                      "UPDATE sessions SET status = ?1,"
                      " finished = CASE WHEN ?1 = 'running' THEN NULL ELSE " STORE_NOW
                      " END WHERE id = ?2",
                      "tI", status, s->session);
    if (rc) {
        store_rollback(s, e);
        return rc;
    }
    if ((rc = store_commit(s, what, e)))
        return rc;
    s->nm = 0;
    s->mnames_len = 0;
    return 0;
}

int store_run_resume(store *s, int64_t run, int64_t ckpt, const store_resume_info *ri,
                     int64_t *dropped, uerr *e)
{
    const char *what = "resuming the run";
    int rc;
    *dropped = 0;
    if ((rc = store_writable(s, e)) || (rc = store_flush(s, e)))
        return rc;
    if ((rc = store_begin(s, what, e)))
        return rc;
    int64_t step = 0, session = 0;
    int found = 0;
    if (!(rc = store_run_exists(s, run, e)) &&
        !(rc = store_lookup(s, &step, &found, what, e,
                            "SELECT step FROM checkpoints WHERE id = ? AND run = ?", "II", ckpt,
                            run)) &&
        !found)
        rc = uerr_set(e, UERR_USER, "%s: checkpoint %" PRId64 " is not one of run %" PRId64,
                      s->path, ckpt, run);
    if (!rc && !ri->force) {
        int alive;
        int64_t pid;
        char host[256];
        if (!(rc = store_run_alive(s, run, &alive, &pid, host, e)) && alive)
            rc = uerr_set(e, UERR_USER,
                          "%s: run %" PRId64 " is still being trained by process %" PRId64
                          " on %s; stop it first (or pass --force if that process is not "
                          "unroll)",
                          s->path, run, pid, host);
    }
    /* The interrupted process may have logged (and flushed) steps past
     * the checkpoint; the resumed process logs them again. */
    if (!rc && !(rc = store_do(s, what, e, "DELETE FROM metrics WHERE run = ? AND step > ?", "II",
                               run, step)))
        *dropped = sqlite3_changes(s->db);
    if (!rc) {
        char hash[SHA256_HEX_SIZE];
        if (ri->config_text)
            sha256_hex(ri->config_text, strlen(ri->config_text), hash);
        rc = store_do(s, what, e,
                      "UPDATE runs SET status = 'running', finished = NULL,"
                      " config_text = coalesce(?1, config_text),"
                      " config_hash = coalesce(?2, config_hash) WHERE id = ?3",
                      "ttI", ri->config_text, ri->config_text ? hash : NULL, run);
    }
    if (!rc) {
        store_session_info si = {.run = run,
                                 .kind = "resume",
                                 .from = ckpt,
                                 .command_line = ri->command_line,
                                 .program_version = ri->program_version,
                                 .blas = ri->blas,
                                 .config_text = ri->config_text,
                                 .threads = ri->threads,
                                 .dropped = *dropped};
        rc = store_session_insert(s, &si, &session, e);
    }
    if (rc) {
        store_rollback(s, e);
        *dropped = 0;
        return rc;
    }
    if ((rc = store_commit(s, what, e))) {
        *dropped = 0;
        return rc;
    }
    s->session = session;
    s->session_run = run;
    return 0;
}

int store_run_resolve(store *s, const char *name_or_id, int64_t *run, uerr *e)
{
    int64_t id;
    if (store_parse_id(name_or_id, &id)) {
        int rc = store_run_exists(s, id, e);
        if (!rc)
            *run = id;
        return rc;
    }
    int found;
    int rc = store_lookup(s, &id, &found, "looking up a run", e,
                          "SELECT id FROM runs WHERE name = ?", "t", name_or_id);
    if (!rc && !found)
        rc = uerr_set(e, UERR_USER, "%s: no run named '%s'", s->path, name_or_id);
    if (!rc)
        *run = id;
    return rc;
}

/* An owned copy of a text column; NULL stays NULL. *oom is set when the
 * copy of a non-NULL value failed. */
char *store_col_text(sqlite3_stmt *st, int i, int *oom)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *c = store_strdup(t);
    if (!c)
        *oom = 1;
    return c;
}

void store_run_free(store_run *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->config_text);
    free(r->config_hash);
    free(r->command_line);
    free(r->program_version);
    free(r->started);
    free(r->finished);
    free(r->status);
    free(r->data_hash);
    free(r->blas);
    free(r->init);
    free(r->vocab);
    for (int i = 0; r->labels && i < r->nlabels; i++)
        free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

/* A run's vocabulary (code points) or, with labels, its label map (text):
 * rows (id, value) whose ids must run 0..N-1. */
static int run_rows(store *s, int64_t id, int labels, store_run *out, uerr *e)
{
    const char *what = "reading a run";
    sqlite3_stmt *st;
    int rc = store_prepare(s, &st, what, e,
                           labels ? "SELECT id, label FROM run_labels WHERE run = ? ORDER BY id"
                                  : "SELECT id, codepoint FROM run_vocab WHERE run = ? ORDER BY id",
                           "I", id);
    if (rc)
        return rc;
    int cap = 0, r = SQLITE_DONE, oom = 0;
    int *n = labels ? &out->nlabels : &out->nvocab;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int64(st, 0) != *n) {
            rc = uerr_set(e, UERR_USER, "%s: run %" PRId64 ": %s ids are not 0..N-1", s->path, id,
                          labels ? "label" : "vocabulary");
            break;
        }
        if (labels ? VEC_GROW(out->labels, cap, *n + 1) : VEC_GROW(out->vocab, cap, *n + 1)) {
            rc = store_oom(s, what, e);
            break;
        }
        if (labels)
            out->labels[*n] = store_col_text(st, 1, &oom);
        else
            out->vocab[*n] = (int32_t)sqlite3_column_int64(st, 1);
        (*n)++;
    }
    if (!rc && oom)
        rc = store_oom(s, what, e);
    if (!rc && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = store_fail(s, what, e);
    store_final(st);
    return rc;
}

int store_run_get(store *s, int64_t id, store_run *out, uerr *e)
{
    const char *what = "reading a run";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    int rc = store_prepare(s, &st, what, e,
                           "SELECT name, config_text, config_hash, command_line, program_version,"
                           " started, finished, status, data_hash, blas, threads,"
                           " coalesce(parent_checkpoint, 0), init FROM runs WHERE id = ?",
                           "I", id);
    if (rc)
        return rc;
    int oom = 0;
    if (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            out->id = id;
            out->name = store_col_text(st, 0, &oom);
            out->config_text = store_col_text(st, 1, &oom);
            out->config_hash = store_col_text(st, 2, &oom);
            out->command_line = store_col_text(st, 3, &oom);
            out->program_version = store_col_text(st, 4, &oom);
            out->started = store_col_text(st, 5, &oom);
            out->finished = store_col_text(st, 6, &oom);
            out->status = store_col_text(st, 7, &oom);
            out->data_hash = store_col_text(st, 8, &oom);
            out->blas = store_col_text(st, 9, &oom);
            out->threads = sqlite3_column_int(st, 10);
            out->parent_checkpoint = sqlite3_column_int64(st, 11);
            out->init = store_col_text(st, 12, &oom);
        } else if (r == SQLITE_DONE) {
            rc = uerr_set(e, UERR_USER, "%s: no run with id %" PRId64, s->path, id);
        } else {
            rc = store_fail(s, what, e);
        }
    }
    store_final(st);
    if (!rc && oom)
        rc = store_oom(s, what, e);
    if (!rc)
        rc = run_rows(s, id, 0, out, e);
    if (!rc)
        rc = run_rows(s, id, 1, out, e);
    if (rc)
        store_run_free(out);
    return rc;
}

int store_checkpoint_config(store *s, int64_t ckpt, char **text, uerr *e)
{
    const char *what = "reading a checkpoint's session";
    sqlite3_stmt *st;
    *text = NULL;
    int rc = store_prepare(s, &st, what, e,
                           "SELECT x.config_text FROM checkpoints c JOIN sessions x"
                           " ON x.id = c.session WHERE c.id = ? AND x.config_text IS NOT NULL",
                           "I", ckpt);
    if (rc)
        return rc;
    int r = sqlite3_step(st), oom = 0;
    if (r == SQLITE_ROW)
        *text = store_col_text(st, 0, &oom);
    else if (r != SQLITE_DONE)
        rc = store_fail(s, what, e);
    store_final(st);
    if (!rc && oom)
        rc = store_oom(s, what, e);
    return rc;
}
