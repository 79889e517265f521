/* api.c - see api.h. */
#include "train/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "train/train.h"

int unroll_store_open(store **db, const char *path, uerr *e)
{
    *db = NULL;
    int rc = cpu_init(e);
    return rc ? rc : store_open(db, path, STORE_READ_ONLY, e);
}

int unroll_runs_json(store *db, char **json, uerr *e)
{
    *json = NULL;
    table t;
    int rc = store_runs_table(db, NULL, &t, e);
    if (rc)
        return rc;
    size_t len = 0;
    FILE *f = open_memstream(json, &len);
    if (!f)
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    if (!rc)
        rc = table_write(&t, f, TABLE_JSON, e);
    if (f && fclose(f) && !rc)
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    table_free(&t);
    if (rc) {
        free(*json);
        *json = NULL;
    }
    return rc;
}

int unroll_tensors_load(store *db, const char *ref, store_loaded **out, uerr *e)
{
    int64_t id;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    int rc = store_checkpoint_resolve(db, ref, &id, e);
    if (!rc)
        rc = store_checkpoint_load(db, id, *out, e);
    if (rc) {
        unroll_tensors_free(*out);
        *out = NULL;
    }
    return rc;
}

void unroll_tensors_free(store_loaded *l)
{
    store_loaded_free(l);
    free(l);
}

int unroll_tensor_count(const store_loaded *l)
{
    return l->n;
}

const char *unroll_tensor_name(const store_loaded *l, int i)
{
    return i >= 0 && i < l->n ? l->t[i].name : NULL;
}

const char *unroll_tensor_dtype(const store_loaded *l, int i)
{
    return i >= 0 && i < l->n ? dtype_name(l->t[i].dt) : NULL;
}

int unroll_tensor_shape(const store_loaded *l, int i, int64_t *dims)
{
    if (i < 0 || i >= l->n)
        return -1;
    for (int k = 0; k < l->t[i].shape.rank; k++)
        dims[k] = l->t[i].shape.dim[k];
    return l->t[i].shape.rank;
}

const void *unroll_tensor_data(const store_loaded *l, int i)
{
    return i >= 0 && i < l->n ? l->t[i].data : NULL;
}

int unroll_model_open(store *db, const char *ref, session **out, uerr *e)
{
    *out = malloc(sizeof **out);
    if (!*out)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    int rc = session_open(*out, db, ref, 1, e);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

void unroll_model_close(session *s)
{
    if (!s)
        return;
    session_close(s);
    free(s);
}

int unroll_model_sample(const session *s, int64_t length, double temperature, const char *prime,
                        int64_t seed, int64_t top_k, double top_p, char **out, uerr *e)
{
    *out = NULL;
    /* the bounds of sample's --temperature, --top-k and --top-p */
    if (temperature > 1e6)
        return uerr_set(e, UERR_USER,
                        "sample: temperature: expected 0 (greedy) or a number above 0 and at "
                        "most 1e6, found %g",
                        temperature);
    if (top_k < 0 || top_k > INT32_MAX)
        return uerr_set(e, UERR_USER, "sample: top_k: expected 1 to %d (or 0: all), found %lld",
                        INT32_MAX, (long long)top_k);
    if (!(top_p >= 0 && top_p <= 1))
        return uerr_set(e, UERR_USER,
                        "sample: top_p: expected a number above 0 and at most 1 (or 0: all), "
                        "found %g",
                        top_p);
    sample_opts o = session_sample_defaults(s);
    o.top_k = top_k;
    o.top_p = top_p;
    if (length >= 0)
        o.length = length;
    if (temperature >= 0)
        o.temperature = temperature;
    if (prime)
        o.prime = prime;
    if (seed >= 0)
        o.seed = (uint64_t)seed;
    return session_sample(s, &o, out, e);
}

int unroll_train(const char *config, const char *const *sets, int nsets, const char *db,
                 const char *name, char *out_name, size_t n, uerr *e)
{
    spec s;
    int rc = cpu_init(e);
    if (rc || (rc = spec_load(&s, config, sets, nsets, e)))
        return rc;
    if (!db)
        db = s.train.checkpoint.db && *s.train.checkpoint.db ? s.train.checkpoint.db : "unroll.db";
    store *st = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "unroll.train %s", config);
    train_opts o = {.run_name = name, .command_line = cmd};
    train_result r;
    if (!(rc = store_open(&st, db, STORE_READ_WRITE, e))) {
        o.db = st;
        rc = train_run(&s, &o, &r, e);
    }
    if (!rc && n)
        snprintf(out_name, n, "%s", r.run_name);
    store_close(st);
    spec_free(&s);
    return rc;
}

void unroll_free(void *p)
{
    free(p);
}
