/*
 * store_schema.c - the schema of the store and its migrations: what a
 * file holds at each user_version and how it moves forward.
 *
 * Invariants:
 * - store_migrations[v] takes a file from version v to v + 1; shipped
 *   steps are never edited, since files already carry their result.
 * - A migration runs in one transaction that re-reads the version inside
 *   it, so two processes opening an old file migrate it once.
 */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdio.h>

/* ---- schema ----------------------------------------------------------- */

/* store_migrations[v] upgrades a file from user_version v to v + 1. Append
 * a step for each schema change and bump STORE_SCHEMA_VERSION; never edit
 * a step that has shipped, since files already carry its result. */
static const char *const store_migrations[] = {
    /* 0 -> 1: the initial schema. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE"
    "    CHECK (name <> '' AND name GLOB '*[^0-9]*' AND instr(name, '@') = 0),"
    "  config_text TEXT NOT NULL,"
    "  config_hash TEXT NOT NULL,"
    "  parent_checkpoint INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,"
    "  command_line TEXT NOT NULL DEFAULT '',"
    "  program_version TEXT NOT NULL DEFAULT '',"
    "  started TEXT NOT NULL,"
    "  finished TEXT,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),"
    "  data_hash TEXT NOT NULL DEFAULT '',"
    "  blas TEXT NOT NULL DEFAULT '',"
    "  threads INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX runs_parent ON runs(parent_checkpoint);"
    "CREATE TABLE run_vocab ("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,"
    "  codepoint INTEGER NOT NULL,"
    "  PRIMARY KEY (run, id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE checkpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL CHECK (step >= 0),"
    "  version INTEGER NOT NULL,"
    "  created TEXT NOT NULL,"
    "  metrics TEXT CHECK (metrics IS NULL OR json_valid(metrics)),"
    "  tag TEXT UNIQUE"
    "    CHECK (tag IS NULL OR (tag GLOB '*[^0-9]*' AND instr(tag, '@') = 0)),"
    "  note TEXT,"
    "  UNIQUE (run, version)"
    ");"
    "CREATE INDEX checkpoints_run_step ON checkpoints(run, step);"
    "CREATE TABLE tensors ("
    "  hash TEXT PRIMARY KEY,"
    "  dtype TEXT NOT NULL CHECK (dtype IN ('float32', 'float64', 'int32')),"
    "  shape TEXT NOT NULL,"
    "  nbytes INTEGER NOT NULL,"
    "  data BLOB NOT NULL"
    ");"
    "CREATE TABLE checkpoint_tensors ("
    "  checkpoint INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('param', 'optim', 'state', 'rng', 'cursor')),"
    "  tensor TEXT NOT NULL REFERENCES tensors(hash),"
    "  PRIMARY KEY (checkpoint, name)"
    ") WITHOUT ROWID;"
    "CREATE INDEX checkpoint_tensors_tensor ON checkpoint_tensors(tensor);"
    "CREATE TABLE metrics ("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value REAL,"
    "  PRIMARY KEY (run, step, name)"
    ") WITHOUT ROWID;",

    /* 1 -> 2: lineage and sessions. A checkpoint records the checkpoint it
     * descends from (parent) and the session (process) that saved it; a
     * run records how its parameters started (init). One session per
     * training process on a run: its start or a resume, with the pid and
     * host that tell whether it is still alive. Deleting a checkpoint
     * relinks its children in the same run to its own parent, so a pruned
     * lineage still leads back to where it started; children in other
     * runs (started --from it) lose the link. */
    "ALTER TABLE runs ADD COLUMN init TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('start', 'resume', 'import')),"
    "  from_checkpoint INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,"
    "  from_step INTEGER,"
    "  started TEXT NOT NULL,"
    "  finished TEXT,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),"
    "  metrics_dropped INTEGER NOT NULL DEFAULT 0,"
    "  command_line TEXT NOT NULL DEFAULT '',"
    "  program_version TEXT NOT NULL DEFAULT '',"
    "  blas TEXT NOT NULL DEFAULT '',"
    "  threads INTEGER NOT NULL DEFAULT 0,"
    "  host TEXT NOT NULL DEFAULT '',"
    "  pid INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX sessions_run ON sessions(run);"
    "CREATE INDEX sessions_from ON sessions(from_checkpoint);"
    "ALTER TABLE checkpoints ADD COLUMN parent INTEGER"
    "  REFERENCES checkpoints(id) ON DELETE SET NULL;"
    "ALTER TABLE checkpoints ADD COLUMN session INTEGER"
    "  REFERENCES sessions(id) ON DELETE SET NULL;"
    "CREATE INDEX checkpoints_parent ON checkpoints(parent);"
    "CREATE INDEX checkpoints_session ON checkpoints(session);"
    "CREATE TRIGGER checkpoints_relink BEFORE DELETE ON checkpoints BEGIN"
    "  UPDATE checkpoints SET parent = OLD.parent WHERE parent = OLD.id AND run = OLD.run;"
    "END;",

    /* 2 -> 3: a classifier's label map, class id -> label as trained, so
     * predict and eval name and score the run's classes whatever its TSV
     * says now. Runs recorded before have none (their data gives it). */
    "CREATE TABLE run_labels ("
    "  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,"
    "  label TEXT NOT NULL,"
    "  PRIMARY KEY (run, id)"
    ") WITHOUT ROWID;",

    /* 3 -> 4: the config each session trained with. A resume may change
     * the learning rate or its schedule, so the run's config (the newest
     * session's) no longer says what an earlier session computed; a
     * replay of a checkpoint reads its own session's. NULL: a session
     * recorded before this version (the run's config applies). */
    "ALTER TABLE sessions ADD COLUMN config_text TEXT;",
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* Reads what the file says about itself before anything writes to it.
 * This is also where a non-SQLite file shows: the first read of the
 * header fails with SQLITE_NOTADB "file is not a database". */
int store_identify(store *s, int64_t *appid, int64_t *version, int64_t *ntables, uerr *e)
{
    /* One statement, so one snapshot: read apart, another process's
     * migration could commit in between and pair "application_id 0" with
     * its new tables, which reads as a foreign database. */
    static const char *const q = "SELECT a.application_id, v.user_version,"
                                 " (SELECT count(*) FROM sqlite_master)"
                                 " FROM pragma_application_id() a, pragma_user_version() v";
    sqlite3_stmt *st;
    int rc = store_prep(s, q, &st, NULL, e);
    if (rc)
        return rc;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *appid = sqlite3_column_int64(st, 0);
        *version = sqlite3_column_int64(st, 1);
        *ntables = sqlite3_column_int64(st, 2);
    } else if (r == SQLITE_DONE) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: reading the file's identity returned no row", s->path);
    } else {
        rc = store_fail(s, NULL, e);
    }
    store_final(st);
    return rc;
}

/* Brings a file at user_version `from` up to STORE_SCHEMA_VERSION. Runs in
 * one transaction, re-reading the version inside it: another process may
 * have migrated (or created) the file while this one waited for the lock. */
int store_migrate(store *s, uerr *e)
{
    int rc = store_begin(s, "upgrading the schema", e);
    if (rc)
        return rc;
    int64_t appid, version, ntables;
    rc = store_identify(s, &appid, &version, &ntables, e);
    if (!rc && appid != STORE_APPLICATION_ID && (appid != 0 || ntables != 0 || version != 0))
        rc = uerr_set(e, UERR_USER, "%s: not an unroll database (changed while opening)", s->path);
    for (int64_t v = version; !rc && v < STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "upgrading the schema from version %d to %d", (int)v,
                 (int)v + 1);
        rc = store_exec(s, store_migrations[v], what, e);
    }
    if (!rc && version < STORE_SCHEMA_VERSION) {
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 STORE_SCHEMA_VERSION, STORE_APPLICATION_ID);
        rc = store_exec(s, sql, "writing the schema version", e);
    }
    return store_end(s, rc, "upgrading the schema", e);
}
