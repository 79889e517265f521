/*
 * api.h - flat entry points for callers that cannot read unroll's structs
 * (the Python package, python/unroll, through ctypes): handles are
 * pointers the library allocates, values are plain C types, and text
 * comes back malloc'd (release it with unroll_free).
 *
 * Every function returns 0 or a UERR_* code and fills e with the same one
 * line `unroll` prints after "unroll: " for the same mistake.
 */
#ifndef UNROLL_API_H
#define UNROLL_API_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "train/session.h"

/* A store opened read-only (store_close closes it). */
int unroll_store_open(store **db, const char *path, uerr *e);

/* Every run as `unroll runs list --json` prints them: a JSON array of
 * objects (id, name, status, started, finished, steps, ckpts, last_loss,
 * best_valid_loss, parent). */
int unroll_runs_json(store *db, char **json, uerr *e);

/* The tensors of checkpoint ref (store_checkpoint_resolve), verified
 * against their hashes; read them with the accessors below. */
int unroll_tensors_load(store *db, const char *ref, store_loaded **out, uerr *e);
void unroll_tensors_free(store_loaded *l);
int unroll_tensor_count(const store_loaded *l);
const char *unroll_tensor_name(const store_loaded *l, int i);
const char *unroll_tensor_dtype(const store_loaded *l, int i); /* "float32", ... */
/* The rank; dims[0 .. rank) the shape (dims has room for TENSOR_MAX_RANK). */
int unroll_tensor_shape(const store_loaded *l, int i, int64_t *dims);
const void *unroll_tensor_data(const store_loaded *l, int i);

/* A streaming model (session.h) of checkpoint ref; bidirectional models
 * are refused. unroll_model_close releases it. */
int unroll_model_open(store *db, const char *ref, session **out, uerr *e);
void unroll_model_close(session *s);

/* `unroll sample`: length < 0, temperature < 0 (or NaN), prime NULL or
 * seed < 0 take the run's sample.* default, as the CLI's missing options
 * do; temperature 0 is greedy. top_k 0 and top_p 0 cut nothing, as
 * without --top-k and --top-p; other values outside the options' ranges
 * (K >= 1, 0 < P <= 1, temperature at most 1e6) are refused. */
int unroll_model_sample(const session *s, int64_t length, double temperature, const char *prime,
                        int64_t seed, int64_t top_k, double top_p, char **out, uerr *e);

/* `unroll train CONFIG --set K=V... --db DB --name NAME --quiet`, in this
 * process: the same run, the same bits. name NULL: the config's name,
 * made unique; db NULL: the config's train.checkpoint.db, else
 * unroll.db. The run's name goes into out_name (n bytes). */
int unroll_train(const char *config, const char *const *sets, int nsets, const char *db,
                 const char *name, char *out_name, size_t n, uerr *e);

void unroll_free(void *p);

#endif
