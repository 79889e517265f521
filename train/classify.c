/* classify.c - see classify.h. */
#include "train/classify.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "models/yamltree.h"
#include "train/text.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void cls_free(cls_data *d)
{
    text_vocab_free(&d->vocab);
    for (int32_t i = 0; i < d->nclasses; i++)
        free(d->classes[i]);
    free(d->classes);
    free(d->ids);
    free(d->train);
    free(d->train_counts);
    memset(d, 0, sizeof *d);
}

/* The parsed file before the vocabulary exists: code points per example. */
typedef struct raw {
    uint32_t *cp;
    int64_t ncp, capcp;
    cls_example *ex;
    char **label; /* per example, owned */
    int64_t n, cap;
} raw;

static void raw_free(raw *r)
{
    free(r->cp);
    free(r->ex);
    for (int64_t i = 0; i < r->n; i++)
        free(r->label[i]);
    free(r->label);
}

static int parse(const char *path, const char *buf, size_t len, int32_t max_len, raw *r, uerr *e)
{
    size_t pos = 0;
    int64_t line = 0;
    while (pos < len) {
        line++;
        size_t end = pos;
        while (end < len && buf[end] != '\n')
            end++;
        size_t stop = end;
        if (stop > pos && buf[stop - 1] == '\r')
            stop--;
        if (stop == pos) {
            pos = end + 1;
            continue;
        }
        size_t tab = stop;
        while (tab > pos && buf[tab - 1] != '\t')
            tab--;
        if (tab == pos || tab == stop)
            return uerr_set(e, UERR_USER, "%s:%lld: expected 'sequence<TAB>label'", path,
                            (long long)line);
        tab--; /* at the tab */
        char name[300];
        snprintf(name, sizeof name, "%s:%lld", path, (long long)line);
        uint32_t *cp = NULL;
        int64_t ncp = 0;
        if (tab == pos)
            return uerr_set(e, UERR_USER, "%s: empty sequence", name);
        int rc = text_decode(name, buf + pos, tab - pos, &cp, &ncp, e);
        if (rc)
            return rc;
        if (ncp > max_len) {
            free(cp);
            return uerr_set(e, UERR_USER,
                            "%s: sequence of %lld characters is longer than train.seq_len %d", name,
                            (long long)ncp, max_len);
        }
        int64_t cap = r->cap; /* ex and label grow alike */
        if (VEC_GROW(r->ex, cap, r->n + 1) || VEC_GROW(r->label, r->cap, r->n + 1) ||
            VEC_GROW(r->cp, r->capcp, r->ncp + ncp)) {
            free(cp);
            return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
        }
        memcpy(r->cp + r->ncp, cp, (size_t)ncp * sizeof *cp);
        free(cp);
        r->label[r->n] = strndup(buf + tab + 1, stop - tab - 1);
        if (!r->label[r->n])
            return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
        r->ex[r->n++] = (cls_example){r->ncp, (int32_t)ncp, -1};
        r->ncp += ncp;
        pos = end + 1;
    }
    if (r->n == 0)
        return uerr_set(e, UERR_USER, "%s: no examples (expected lines 'sequence<TAB>label')",
                        path);
    return 0;
}

int cls_load(const char *path, uint64_t max_bytes, double valid_fraction, uint64_t seed,
             int32_t max_len, cls_data *d, uerr *e)
{
    memset(d, 0, sizeof *d);
    char *buf = NULL;
    size_t len = 0;
    int rc = text_read_bytes(path, max_bytes, &buf, &len, e);
    if (!rc)
        rc = cls_load_buffer(path, buf, len, valid_fraction, seed, max_len, d, e);
    free(buf);
    return rc;
}

int cls_load_buffer(const char *path, const char *buf, size_t len, double valid_fraction,
                    uint64_t seed, int32_t max_len, cls_data *d, uerr *e)
{
    memset(d, 0, sizeof *d);
    raw r = {0};
    uint32_t *seen = NULL;
    int rc = parse(path, buf, len, max_len, &r, e);
    if (rc)
        goto out;
    /* classes: sorted distinct labels */
    char **sorted = malloc((size_t)r.n * sizeof *sorted);
    if (!sorted) {
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(sorted, r.label, (size_t)r.n * sizeof *sorted);
    qsort(sorted, (size_t)r.n, sizeof *sorted, cmp_str);
    d->classes = malloc((size_t)r.n * sizeof *d->classes);
    if (!d->classes) {
        free(sorted);
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < r.n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]))
            if (!(d->classes[d->nclasses++] = strdup(sorted[i]))) {
                free(sorted);
                rc = uerr_set(e, UERR_INTERNAL, "out of memory");
                goto out;
            }
    free(sorted);
    for (int64_t i = 0; i < r.n; i++) {
        char **hit =
            bsearch(&r.label[i], d->classes, (size_t)d->nclasses, sizeof *d->classes, cmp_str);
        r.ex[i].label = (int32_t)(hit - d->classes);
        d->maxlen = r.ex[i].len > d->maxlen ? r.ex[i].len : d->maxlen;
    }
    /* shuffle, then hold out the tail */
    rng g;
    rng_seed(&g, seed);
    for (int64_t i = r.n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&g, (uint64_t)i + 1);
        cls_example t = r.ex[i];
        r.ex[i] = r.ex[j];
        r.ex[j] = t;
    }
    d->nvalid = (int64_t)(valid_fraction * (double)r.n);
    d->ntrain = r.n - d->nvalid;
    if (d->ntrain < 1) {
        rc = uerr_set(e, UERR_USER, "%s: no training examples left after the validation split",
                      path);
        goto out;
    }
    /* vocabulary: code points of the training sequences */
    int64_t ntr = 0;
    for (int64_t i = 0; i < d->ntrain; i++)
        ntr += r.ex[i].len;
    seen = malloc((size_t)(ntr ? ntr : 1) * sizeof *seen);
    if (!seen) {
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < d->ntrain; i++)
        for (int32_t t = 0; t < r.ex[i].len; t++)
            seen[k++] = r.cp[r.ex[i].off + t];
    qsort(seen, (size_t)k, sizeof *seen, cmp_u32);
    int64_t nd = 0;
    for (int64_t i = 0; i < k; i++)
        if (i == 0 || seen[i] != seen[i - 1])
            seen[nd++] = seen[i];
    int unknown = 0;
    for (int64_t i = d->ntrain; i < r.n && !unknown; i++)
        for (int32_t t = 0; t < r.ex[i].len && !unknown; t++)
            unknown = !bsearch(&r.cp[r.ex[i].off + t], seen, (size_t)nd, sizeof *seen, cmp_u32);
    if ((rc = text_vocab_init(&d->vocab, seen, (int32_t)nd, unknown, e)))
        goto out;
    d->ids = malloc((size_t)(r.ncp ? r.ncp : 1) * sizeof *d->ids);
    d->train = malloc((size_t)r.n * sizeof *d->train);
    d->train_counts = calloc((size_t)d->nclasses, sizeof *d->train_counts);
    if (!d->ids || !d->train || !d->train_counts) {
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    d->nids = r.ncp;
    for (int64_t i = 0; i < r.ncp; i++) {
        int32_t id = text_vocab_find(&d->vocab, r.cp[i]);
        d->ids[i] = id >= 0 ? id : d->vocab.unknown;
    }
    memcpy(d->train, r.ex, (size_t)r.n * sizeof *d->train);
    d->valid = d->train + d->ntrain;
    for (int64_t i = 0; i < d->ntrain; i++)
        d->train_counts[d->train[i].label]++;
out:
    free(seen);
    raw_free(&r);
    if (rc)
        cls_free(d);
    return rc;
}

void cls_fill(const cls_data *d, const cls_example *ex, int64_t n, int64_t B, int64_t T,
              int32_t *inputs, int32_t *targets, int32_t *mask, int32_t *labels)
{
    for (int64_t b = 0; b < B; b++) {
        int32_t len = b < n ? ex[b].len : 0;
        if (labels)
            labels[b] = b < n ? ex[b].label : -1;
        for (int64_t t = 0; t < T; t++) {
            int in = t < len;
            inputs[b * T + t] = in ? d->ids[ex[b].off + t] : -1;
            mask[b * T + t] = in;
            targets[b * T + t] = in && t == len - 1 ? ex[b].label : -1;
        }
    }
}

int cls_cursor_init(cls_cursor *c, const cls_data *d, uint64_t seed, uerr *e)
{
    c->d = d;
    return shuffler_init(&c->sh, d->ntrain, seed, e);
}

void cls_cursor_free(cls_cursor *c)
{
    shuffler_free(&c->sh);
}

void cls_next(cls_cursor *c, int64_t B, int64_t T, int32_t *inputs, int32_t *targets, int32_t *mask)
{
    const cls_data *d = c->d;
    for (int64_t b = 0; b < B; b++) {
        cls_example ex = d->train[shuffler_next(&c->sh)];
        cls_fill(d, &ex, 1, 1, T, inputs + b * T, targets + b * T, mask + b * T, NULL);
    }
}
