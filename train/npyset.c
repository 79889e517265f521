/* npyset.c - see npyset.h. */
#include "train/npyset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/npy.h"
#include "train/optim.h"

void npyset_free(npy_set *s)
{
    free(s->x);
    free(s->y);
    free(s->len);
    free(s->yr);
    free(s->train);
    shuffler_free(&s->sh);
    memset(s, 0, sizeof *s);
}

/* Ids and classes beyond the largest dimension a cell takes (cell_dim:
 * 2^20) are refused here, naming the file, not later as a model size. */
#define NPYSET_MAX_IDS (1 << 20)

/* NaN or inf in the data would surface as a diverging loss ("try a lower
 * lr"): refused here, naming the file and element. */
static int npyset_finite(const char *dir, const char *file, dtype dt, const void *p, int64_t n,
                         uerr *e)
{
    int64_t k = first_nonfinite(dt, p, n);
    if (k >= 0)
        return uerr_set(e, UERR_USER, "%s/%s.npy: element %lld is not a finite number", dir, file,
                        (long long)k);
    return 0;
}

static int load_one(const char *dir, const char *name, int optional, dtype *dt, shape *sh,
                    void **data, uerr *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    /* an optional member that is absent; anything else at its name is
     * read (and refused by npy_read unless a regular file) */
    struct stat st;
    if (optional && lstat(path, &st) != 0)
        return 0;
    return npy_read(path, dt, sh, data, e);
}

int npyset_load(const char *dir, double valid_fraction, uint64_t seed, dtype dt, npy_set *s,
                uerr *e)
{
    memset(s, 0, sizeof *s);
    npy_array in = {0}, tg = {0}, ln = {.dt = DT_I32};
    int rc = load_one(dir, "inputs", 0, &in.dt, &in.shape, &in.data, e);
    if (!rc)
        rc = load_one(dir, "targets", 0, &tg.dt, &tg.shape, &tg.data, e);
    if (!rc)
        rc = load_one(dir, "lengths", 1, &ln.dt, &ln.shape, &ln.data, e);
    if (rc) {
        free(in.data);
        free(tg.data);
        free(ln.data);
        return rc;
    }
    return npyset_from_arrays(dir, &in, &tg, &ln, valid_fraction, seed, dt, s, e);
}

int npyset_from_arrays(const char *dir, npy_array *inputs, npy_array *targets, npy_array *lengths,
                       double valid_fraction, uint64_t seed, dtype dt, npy_set *s, uerr *e)
{
    memset(s, 0, sizeof *s);
    dtype xdt = inputs->dt, ydt = targets->dt, ldt = lengths->dt;
    shape xs = inputs->shape, ys = targets->shape, ls = lengths->shape;
    void *x = inputs->data, *y = targets->data, *len = lengths->data;
    inputs->data = targets->data = lengths->data = NULL;
    int rc = 0;
    s->dense = xdt != DT_I32;
    if ((s->dense && xs.rank != 3) || (!s->dense && xs.rank != 2) || xs.dim[0] < 1 ||
        xs.dim[1] < 1) {
        rc = uerr_set(e, UERR_USER,
                      "%s/inputs.npy: expected int32 [N, T] ids or float [N, T, D] "
                      "vectors",
                      dir);
        goto fail;
    }
    s->N = xs.dim[0];
    s->T = xs.dim[1];
    s->real = ydt != DT_I32;
    s->per_sequence = ys.rank == (s->real ? 2 : 1);
    int shape_ok = ys.rank >= 1 && ys.dim[0] == s->N &&
                   (s->real ? (ys.rank == 3 && ys.dim[1] == s->T) || ys.rank == 2
                            : (ys.rank == 2 && ys.dim[1] == s->T) || ys.rank == 1);
    if (!shape_ok) {
        rc = uerr_set(e, UERR_USER,
                      "%s/targets.npy: expected int32 [%lld, %lld] or [%lld] classes, or float "
                      "[%lld, %lld, K] or [%lld, K] values",
                      dir, (long long)s->N, (long long)s->T, (long long)s->N, (long long)s->N,
                      (long long)s->T, (long long)s->N);
        goto fail;
    }
    if (len && (ldt != DT_I32 || ls.rank != 1 || ls.dim[0] != s->N)) {
        rc = uerr_set(e, UERR_USER, "%s/lengths.npy: expected int32 [%lld]", dir, (long long)s->N);
        goto fail;
    }
    s->len = len, len = NULL;
    int64_t ny = shape_numel(&ys);
    if (s->real) {
        s->nclasses = ys.dim[ys.rank - 1];
        s->yr = malloc((size_t)(ny ? ny : 1) * dtype_size(dt));
        if (!s->yr) {
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            goto fail;
        }
        dtype_convert(s->yr, dt, y, ydt, ny);
        free(y);
        y = NULL;
        if ((rc = npyset_finite(dir, "targets", dt, s->yr, ny, e)))
            goto fail;
        ny = 0;
    } else {
        s->y = y, y = NULL;
    }
    for (int64_t i = 0; i < ny; i++) {
        if (s->y[i] < -1) {
            rc = uerr_set(e, UERR_USER,
                          "%s/targets.npy: element %lld is %d (classes are 0.., -1 "
                          "is no target)",
                          dir, (long long)i, s->y[i]);
            goto fail;
        }
        if (s->y[i] >= NPYSET_MAX_IDS) {
            rc = uerr_set(e, UERR_USER,
                          "%s/targets.npy: element %lld is class %d; at most %d "
                          "classes",
                          dir, (long long)i, s->y[i], NPYSET_MAX_IDS);
            goto fail;
        }
        int64_t k = (int64_t)s->y[i] + 1;
        s->nclasses = k > s->nclasses ? k : s->nclasses;
    }
    for (int64_t i = 0; s->len && i < s->N; i++)
        if (s->len[i] < 1 || s->len[i] > s->T) {
            rc = uerr_set(e, UERR_USER, "%s/lengths.npy: element %lld is %d, expected 1 to %lld",
                          dir, (long long)i, s->len[i], (long long)s->T);
            goto fail;
        }
    s->dt = dt;
    if (s->nclasses < 1) {
        rc = uerr_set(e, UERR_USER, "%s/targets.npy: no targets", dir);
        goto fail;
    }
    if (s->dense) {
        s->D = xs.dim[2];
        int64_t n = shape_numel(&xs);
        s->dt = dt;
        s->x = malloc((size_t)(n ? n : 1) * dtype_size(dt));
        if (!s->x) {
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            goto fail;
        }
        dtype_convert(s->x, dt, x, xdt, n);
        free(x);
        x = NULL;
        if ((rc = npyset_finite(dir, "inputs", dt, s->x, n, e)))
            goto fail;
    } else {
        s->x = x, x = NULL;
        const int32_t *ids = s->x;
        for (int64_t i = 0; i < s->N * s->T; i++) {
            if (ids[i] < -1 || ids[i] >= NPYSET_MAX_IDS) {
                rc = uerr_set(e, UERR_USER, "%s/inputs.npy: element %lld is %d (ids are -1 to %d)",
                              dir, (long long)i, ids[i], NPYSET_MAX_IDS - 1);
                goto fail;
            }
            int64_t k = (int64_t)ids[i] + 1;
            s->D = k > s->D ? k : s->D;
        }
    }
    s->train = malloc((size_t)s->N * sizeof *s->train);
    if (!s->train) {
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < s->N; i++)
        s->train[i] = i;
    rng g;
    rng_seed(&g, seed);
    shuffle_indices(&g, s->train, s->N);
    s->nvalid = (int64_t)(valid_fraction * (double)s->N);
    s->ntrain = s->N - s->nvalid;
    s->valid = s->train + s->ntrain;
    if (s->ntrain < 1) {
        rc =
            uerr_set(e, UERR_USER, "%s: no training examples left after the validation split", dir);
        goto fail;
    }
    if ((rc = shuffler_init(&s->sh, s->ntrain, seed, e)))
        goto fail;
    return 0;
fail:
    free(x);
    free(y);
    free(len);
    npyset_free(s);
    return rc;
}

void npyset_fill(const npy_set *s, const int64_t *ex, int64_t n, int64_t B, const npy_batch *o)
{
    int64_t T = s->T, D = s->D, K = s->nclasses;
    size_t es = dtype_size(s->dt), row = (size_t)D * es, yrow = (size_t)K * es;
    for (int64_t b = 0; b < B; b++) {
        int64_t i = b < n ? ex[b] : -1;
        int64_t len = i < 0 ? 0 : s->len ? s->len[i] : T;
        for (int64_t t = 0; t < T; t++) {
            int64_t bt = b * T + t;
            int in = t < len, has = in && (!s->per_sequence || t == len - 1);
            o->mask[bt] = in;
            if (s->dense) {
                char *dst = (char *)o->xdense + (size_t)bt * row;
                if (in)
                    memcpy(dst, (const char *)s->x + (size_t)(i * T + t) * row, row);
                else
                    memset(dst, 0, row);
                o->inputs[bt] = -1;
            } else {
                o->inputs[bt] = in ? ((const int32_t *)s->x)[i * T + t] : -1;
            }
            if (s->real) {
                char *dst = (char *)o->yreal + (size_t)bt * yrow;
                int64_t from = s->per_sequence ? i : i * T + t;
                if (has)
                    memcpy(dst, (const char *)s->yr + (size_t)from * yrow, yrow);
                else
                    memset(dst, 0, yrow);
                o->has[bt] = has;
                o->targets[bt] = -1;
            } else if (!has) {
                o->targets[bt] = -1;
            } else {
                o->targets[bt] = s->per_sequence ? s->y[i] : s->y[i * T + t];
            }
        }
    }
}

void npyset_next(npy_set *s, int64_t B, const npy_batch *o)
{
    size_t es = dtype_size(s->dt);
    for (int64_t b = 0; b < B; b++) {
        int64_t i = s->train[shuffler_next(&s->sh)];
        npy_batch row = {
            .inputs = o->inputs + b * s->T,
            .targets = o->targets + b * s->T,
            .mask = o->mask + b * s->T,
            .has = o->has ? o->has + b * s->T : NULL,
            .xdense = s->dense ? (char *)o->xdense + (size_t)(b * s->T * s->D) * es : NULL,
            .yreal = s->real ? (char *)o->yreal + (size_t)(b * s->T * s->nclasses) * es : NULL,
        };
        npyset_fill(s, &i, 1, 1, &row);
    }
}
