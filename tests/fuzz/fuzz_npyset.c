/*
 * fuzz_npyset.c - sequence data from numpy arrays (train/npyset.h): the
 * checks npyset_load makes on inputs.npy, targets.npy and lengths.npy,
 * through npyset_from_arrays on arrays parsed from memory (npy_parse).
 *
 * Input: option bytes, then the arrays as whole .npy images one after
 * another; the input is cut before each "\x93NUMPY" magic, so a seed is
 * just `printf '\1' | cat - inputs.npy targets.npy lengths.npy`. The
 * first option byte picks the graph dtype (bit 0) and data.valid_fraction
 * (bits 1..6, 0 to 0.5 in 64ths). Promises checked on success: ids and
 * classes within their counts, lengths 1..T, a non-empty training split;
 * then a padded batch is filled from the held-out examples and one from
 * the training order.
 */
#include "store/npy.h"
#include "tests/fuzz/fuzz.h"
#include "train/npyset.h"

static const char magic[6] = {(char)0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Offset of the next magic at or after from, or size. */
static size_t next_magic(const uint8_t *data, size_t size, size_t from)
{
    for (size_t i = from; i + sizeof magic <= size; i++)
        if (!memcmp(data + i, magic, sizeof magic))
            return i;
    return size;
}

static void check_and_fill(npy_set *s)
{
    FUZZ_CHECK(s->N >= 1 && s->T >= 1 && s->ntrain >= 1 && s->ntrain + s->nvalid == s->N);
    FUZZ_CHECK(s->nclasses >= 1);
    for (int64_t i = 0; s->len && i < s->N; i++)
        FUZZ_CHECK(s->len[i] >= 1 && s->len[i] <= s->T);
    if (!s->dense)
        for (int64_t i = 0; i < s->N * s->T; i++)
            FUZZ_CHECK(((const int32_t *)s->x)[i] >= -1 && ((const int32_t *)s->x)[i] < s->D);
    int64_t ny = s->per_sequence ? s->N : s->N * s->T;
    for (int64_t i = 0; !s->real && i < ny; i++)
        FUZZ_CHECK(s->y[i] >= -1 && s->y[i] < s->nclasses);

    enum { B = 3 };
    size_t es = dtype_size(s->dt), bt = (size_t)(B * s->T);
    npy_batch o = {
        .inputs = malloc(bt * sizeof(int32_t)),
        .targets = malloc(bt * sizeof(int32_t)),
        .mask = malloc(bt * sizeof(int32_t)),
        .has = s->real ? malloc(bt * sizeof(int32_t)) : NULL,
        .xdense = s->dense ? malloc(bt * (size_t)(s->D ? s->D : 1) * es) : NULL,
        .yreal = s->real ? malloc(bt * (size_t)s->nclasses * es) : NULL,
    };
    FUZZ_CHECK(o.inputs && o.targets && o.mask && (!s->real || (o.has && o.yreal)) &&
               (!s->dense || o.xdense));
    int64_t nv = s->nvalid < B ? s->nvalid : B;
    npyset_fill(s, s->valid, nv, B, &o);
    npyset_next(s, B, &o);
    for (size_t i = 0; i < bt; i++)
        FUZZ_CHECK(o.mask[i] == 0 || o.mask[i] == 1);
    free(o.inputs);
    free(o.targets);
    free(o.mask);
    free(o.has);
    free(o.xdense);
    free(o.yreal);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || !memcmp(data, magic, size < sizeof magic ? size : sizeof magic))
        return 0;
    dtype dt = data[0] & 1 ? DT_F64 : DT_F32;
    double f = (double)((data[0] >> 1) % 33) / 64.0;
    npy_array a[3] = {{0}, {0}, {.dt = DT_I32}};
    size_t at = next_magic(data, size, 1);
    int n = 0;
    while (at < size && n < 3) {
        size_t end = next_magic(data, size, at + 1);
        uerr e = {0};
        if (npy_parse(data + at, end - at, "fuzz.npy", &a[n].dt, &a[n].shape, &a[n].data, &e)) {
            FUZZ_CHECK_ERR(&e);
            break;
        }
        n++;
        at = end;
    }
    if (n < 2) {
        for (int i = 0; i < n; i++)
            free(a[i].data);
        return 0;
    }
    npy_set s;
    uerr e = {0};
    if (npyset_from_arrays("fuzz", &a[0], &a[1], &a[2], f, 7, dt, &s, &e)) {
        FUZZ_CHECK_ERR(&e);
        return 0;
    }
    FUZZ_CHECK(!a[0].data && !a[1].data && !a[2].data);
    check_and_fill(&s);
    npyset_free(&s);
    return 0;
}
