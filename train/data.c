/* data.c - see data.h. */
#include "train/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/sha256.h"
#include "store/store.h"
#include "train/net.h"

int data_open(data_source *d, const spec *s, uerr *e)
{
    memset(d, 0, sizeof *d);
    d->kind = s->data.kind;
    d->path = s->data.path;
    /* the rows of one update: train.accumulate blocks of train.batch */
    d->B = (int64_t)s->train.batch * s->train.accumulate;
    d->T = s->train.seq_len;
    int rc;
    if (d->kind == SPEC_DATA_CLASSIFY) {
        rc = cls_load(s->data.path, s->data.max_bytes, s->data.valid_fraction, s->train.seed,
                      s->train.seq_len, &d->cls, e);
        if (rc)
            return rc;
        d->T = d->cls.maxlen;
        d->io = (model_io){.input = d->cls.vocab.size, .output = d->cls.nclasses, .masked = 1};
        d->mask = malloc((size_t)(d->B * d->T) * sizeof(int32_t));
        if (!d->mask || (rc = cls_cursor_init(&d->ccur, &d->cls, s->train.seed, e))) {
            data_free(d);
            return rc ? rc : uerr_set(e, UERR_INTERNAL, "out of memory");
        }
        /* the characters and the labels: a resume on relabelled data is refused */
        sha256_ctx h;
        uint8_t dg[SHA256_DIGEST_SIZE];
        sha256_init(&h);
        sha256_update(&h, d->cls.ids, (size_t)d->cls.nids * sizeof(int32_t));
        for (int64_t i = 0; i < d->cls.ntrain + d->cls.nvalid; i++)
            sha256_update(&h, &d->cls.train[i], sizeof d->cls.train[i]);
        for (int32_t c = 0; c < d->cls.nclasses; c++)
            sha256_update(&h, d->cls.classes[c], strlen(d->cls.classes[c]) + 1);
        sha256_final(&h, dg);
        sha256_to_hex(dg, d->hash);
        return 0;
    }
    if (d->kind == SPEC_DATA_NPY) {
        npy_set *n = &d->npy;
        rc = npyset_load(s->data.path, s->data.valid_fraction, s->train.seed, s->train.dtype, n, e);
        if (rc)
            return rc;
        d->T = n->T;
        if (n->per_sequence != (s->model.outputs == SPEC_OUTPUTS_LAST_STEP)) {
            data_free(d);
            return uerr_set(e, UERR_USER, "%s/targets.npy: %s targets go with model.outputs: %s",
                            s->data.path, n->per_sequence ? "per-sequence" : "per-step",
                            n->per_sequence ? "last_step" : "every_step");
        }
        d->io = (model_io){.input = n->D,
                           .output = n->nclasses,
                           .masked = n->len != NULL,
                           .dense = n->dense,
                           .real = n->real};
        d->mask = malloc((size_t)(d->B * d->T) * sizeof(int32_t));
        d->xdense = n->dense ? malloc((size_t)(d->B * d->T * n->D) * dtype_size(n->dt)) : NULL;
        if (n->real) {
            d->yreal = malloc((size_t)(d->B * d->T * n->nclasses) * dtype_size(n->dt));
            d->has = malloc((size_t)(d->B * d->T) * sizeof(int32_t));
        }
        if (!d->mask || (n->dense && !d->xdense) || (n->real && (!d->yreal || !d->has))) {
            data_free(d);
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        }
        sha256_ctx h;
        uint8_t dg[SHA256_DIGEST_SIZE];
        sha256_init(&h);
        sha256_update(&h, n->x,
                      (size_t)(n->N * n->T * (n->dense ? n->D : 1)) *
                          (n->dense ? dtype_size(n->dt) : sizeof(int32_t)));
        size_t ycount = (size_t)(n->per_sequence ? n->N : n->N * n->T);
        if (n->real)
            sha256_update(&h, n->yr, ycount * (size_t)n->nclasses * dtype_size(n->dt));
        else
            sha256_update(&h, n->y, ycount * sizeof(int32_t));
        sha256_final(&h, dg);
        sha256_to_hex(dg, d->hash);
        return 0;
    }
    rc = text_corpus_load(s->data.path, s->data.max_bytes, s->data.valid_fraction, &d->text, e);
    if (rc)
        return rc;
    d->io = (model_io){.input = d->text.vocab.size, .output = d->text.vocab.size};
    /* the hash of the int32 ids, as stored runs recorded it */
    sha256_hex(d->text.train, (size_t)d->text.n_train * sizeof(int32_t), d->hash);
    d->ids = batch_narrow(d->text.train, d->text.n_train, d->text.vocab.size, &d->width);
    if (!d->ids) {
        data_free(d);
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    }
    d->text.train = NULL;
    return 0;
}

/* The text cursor is set up apart: its size check must come after the
 * model's memory check, which gives the clearer message for absurd sizes. */
static int text_cursor(data_source *d, uerr *e)
{
    if (d->cur.ids)
        return 0;
    int rc = batch_init_width(&d->cur, d->ids, d->width, d->text.n_train, d->B, d->T, e);
    if (rc && d->path)
        uerr_prefix(e, "%s", d->path);
    return rc;
}

void data_free(data_source *d)
{
    text_corpus_free(&d->text);
    free(d->ids);
    cls_cursor_free(&d->ccur);
    cls_free(&d->cls);
    npyset_free(&d->npy);
    free(d->mask);
    free(d->xdense);
    free(d->yreal);
    free(d->has);
    memset(d, 0, sizeof *d);
}

const text_vocab *data_vocab(const data_source *d)
{
    return d->kind == SPEC_DATA_CLASSIFY ? &d->cls.vocab
           : d->kind == SPEC_DATA_NPY    ? &d->no_vocab
                                         : &d->text.vocab;
}

int data_next(data_source *d, int32_t *inputs, int32_t *targets)
{
    if (d->kind == SPEC_DATA_CLASSIFY) {
        cls_next(&d->ccur, d->B, d->T, inputs, targets, d->mask);
        return 1;
    }
    if (d->kind == SPEC_DATA_NPY) {
        npy_batch o = {inputs, targets, d->mask, d->has, d->xdense, d->yreal};
        npyset_next(&d->npy, d->B, &o);
        return 1;
    }
    return batch_next(&d->cur, inputs, targets);
}

void data_to_net(const data_source *d, net *n, const int32_t *inputs, const int32_t *targets,
                 int64_t row0)
{
    int64_t T = d->T, at = row0 * T;
    net_set_batch(n, inputs + at, targets + at);
    if (n->ms)
        net_set_mask(n, d->mask + at);
    if (n->xd)
        net_set_dense(n, (const char *)d->xdense + (size_t)(at * d->io.input) * n->es);
    if (n->ysr)
        net_set_real(n, (const char *)d->yreal + (size_t)(at * d->io.output) * n->es, d->has + at);
}

double data_units_per_step(const data_source *d)
{
    int per_seq =
        d->kind == SPEC_DATA_CLASSIFY || (d->kind == SPEC_DATA_NPY && d->npy.per_sequence);
    return per_seq ? (double)d->B : (double)(d->B * d->T);
}

int data_has_valid(const data_source *d)
{
    if (d->kind == SPEC_DATA_CLASSIFY)
        return d->cls.nvalid > 0;
    if (d->kind == SPEC_DATA_NPY)
        return d->npy.nvalid > 0;
    return d->text.n_valid > 0 && batch_valid_count(d->text.n_valid, d->B, d->T) > 0;
}

typedef struct text_valid_ctx {
    data_batch_fn fn;
    void *ctx;
    int64_t B;
} text_valid_ctx;

static int text_valid_chunk(void *ctx, const int32_t *inputs, const int32_t *targets, int reset,
                            uerr *e)
{
    text_valid_ctx *c = ctx;
    return c->fn(c->ctx, inputs, targets, NULL, c->B, reset, e);
}

int data_valid_each(data_source *d, int32_t *inputs, int32_t *targets, data_batch_fn fn, void *ctx,
                    uerr *e)
{
    if (d->kind == SPEC_DATA_CLASSIFY) {
        for (int64_t i = 0; i < d->cls.nvalid; i += d->B) {
            int64_t n = d->cls.nvalid - i < d->B ? d->cls.nvalid - i : d->B;
            cls_fill(&d->cls, d->cls.valid + i, n, d->B, d->T, inputs, targets, d->mask, NULL);
            int rc = fn(ctx, inputs, targets, d->mask, n, 1, e);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (d->kind == SPEC_DATA_NPY) {
        for (int64_t i = 0; i < d->npy.nvalid; i += d->B) {
            int64_t n = d->npy.nvalid - i < d->B ? d->npy.nvalid - i : d->B;
            npy_batch o = {inputs, targets, d->mask, d->has, d->xdense, d->yreal};
            npyset_fill(&d->npy, d->npy.valid + i, n, d->B, &o);
            int rc = fn(ctx, inputs, targets, d->mask, n, 1, e);
            if (rc)
                return rc;
        }
        return 0;
    }
    text_valid_ctx c = {fn, ctx, d->B};
    return batch_valid_each(d->text.valid, d->text.n_valid, d->B, d->T, inputs, targets,
                            text_valid_chunk, &c, NULL, e);
}

int data_check_valid(const data_source *d, const spec *s, uerr *e)
{
    if (s->train.valid_every <= 0 || s->data.valid_fraction <= 0 || data_has_valid(d))
        return 0;
    return uerr_set(e, UERR_USER,
                    "%s: data.valid_fraction %g holds out too little for one validation batch "
                    "(train.batch %lld x train.seq_len %lld), so train.valid_every would never "
                    "validate; raise data.valid_fraction or set train.valid_every: 0",
                    s->path, s->data.valid_fraction, (long long)d->B, (long long)d->T);
}

int data_same_hash(const data_source *d, const char *run, const char *want, uerr *e)
{
    if (!want || !*want || !strcmp(want, d->hash))
        return 0;
    return uerr_set(e, UERR_USER,
                    "%s: the data changed since run '%s' was trained (data hash %.12s, now "
                    "%.12s): its held-out part and classes are no longer the run's",
                    d->path, run, want, d->hash);
}

static int has_label(char *const *names, int32_t n, const char *x)
{
    for (int32_t i = 0; i < n; i++)
        if (!strcmp(names[i], x))
            return 1;
    return 0;
}

int data_same_labels(const data_source *d, const char *run, char *const *labels, int n, uerr *e)
{
    if (d->kind != SPEC_DATA_CLASSIFY || n == 0)
        return 0;
    const cls_data *c = &d->cls;
    /* both lists are sorted, so the same set is the same map */
    for (int32_t i = 0; i < c->nclasses; i++)
        if (!has_label(labels, n, c->classes[i])) {
            char list[200];
            size_t k = 0;
            for (int j = 0; j < n && k < sizeof list; j++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", j ? ", " : "", labels[j]);
            if (k >= sizeof list)
                memcpy(list + sizeof list - 4, "...", 4);
            return uerr_set(e, UERR_USER,
                            "%s: label '%s' is in the file but not among run '%s''s classes as "
                            "trained (%s); train a new run for new labels",
                            d->path, c->classes[i], run, list);
        }
    for (int i = 0; i < n; i++)
        if (!has_label(c->classes, c->nclasses, labels[i]))
            return uerr_set(e, UERR_USER,
                            "%s: run '%s''s class '%s' is not in the file; the run scores the "
                            "classes it was trained on",
                            d->path, run, labels[i]);
    return 0;
}

const char *const *data_labels(const data_source *d, int *n)
{
    int cls = d->kind == SPEC_DATA_CLASSIFY;
    *n = cls ? (int)d->cls.nclasses : 0;
    return cls ? (const char *const *)d->cls.classes : NULL;
}

int data_check_hash(const spec *s, const store_run *run, uerr *e)
{
    data_source d;
    if ((!run->data_hash || !*run->data_hash) && !run->nlabels)
        return 0;
    int rc = data_open(&d, s, e);
    if (rc)
        return rc;
    rc = data_same_labels(&d, run->name, run->labels, run->nlabels, e);
    if (!rc && run->data_hash && *run->data_hash)
        rc = data_same_hash(&d, run->name, run->data_hash, e);
    data_free(&d);
    return rc;
}

int data_prepare(data_source *d, uerr *e)
{
    return d->kind == SPEC_DATA_TEXT ? text_cursor(d, e) : 0;
}

double data_majority(const data_source *d)
{
    int64_t most = 0, total = 0;
    if (d->kind == SPEC_DATA_CLASSIFY) {
        for (int32_t c = 0; c < d->cls.nclasses; c++)
            most = d->cls.train_counts[c] > most ? d->cls.train_counts[c] : most;
        total = d->cls.ntrain;
    } else if (d->kind == SPEC_DATA_NPY && !d->npy.real) {
        const npy_set *n = &d->npy;
        int64_t *count = calloc((size_t)n->nclasses, sizeof *count);
        if (!count)
            return NAN;
        int64_t per = n->per_sequence ? 1 : n->T;
        for (int64_t k = 0; k < n->ntrain; k++) {
            int64_t i = n->train[k], len = n->len ? n->len[i] : n->T;
            for (int64_t t = 0; t < per && t < len; t++) {
                int32_t y = n->y[i * per + t];
                if (y >= 0)
                    count[y]++, total++;
            }
        }
        for (int64_t c = 0; c < n->nclasses; c++)
            most = count[c] > most ? count[c] : most;
        free(count);
    }
    return total ? (double)most / (double)total : NAN;
}
