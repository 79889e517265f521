/*
 * batch.c - the chunk cursor and the validation walk. See batch.h for the
 * rule; this file only applies it.
 */
#include "train/batch.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_DIM_MAX ((int64_t)1 << 30)

static int batch_check_dims(int64_t n, int64_t B, int64_t T, uerr *e)
{
    if (n < 0)
        return uerr_set(e, UERR_INTERNAL, "batch: negative token count %lld", (long long)n);
    if (B < 1 || B > BATCH_DIM_MAX)
        return uerr_set(e, UERR_USER, "batch must be in [1, %lld], got %lld",
                        (long long)BATCH_DIM_MAX, (long long)B);
    if (T < 1 || T > BATCH_DIM_MAX)
        return uerr_set(e, UERR_USER, "seq_len must be in [1, %lld], got %lld",
                        (long long)BATCH_DIM_MAX, (long long)T);
    return 0;
}

int batch_init(batch_cursor *c, const int32_t *ids, int64_t n, int64_t B, int64_t T, uerr *e)
{
    return batch_init_width(c, ids, 4, n, B, T, e);
}

int batch_init_width(batch_cursor *c, const void *ids, int width, int64_t n, int64_t B, int64_t T,
                     uerr *e)
{
    memset(c, 0, sizeof *c);
    int rc = batch_check_dims(n, B, T, e);
    if (rc)
        return rc;
    int64_t S = n / B;
    if (S < T + 2)
        return uerr_set(e, UERR_USER,
                        "text of %lld tokens is too short for batch %lld x "
                        "seq_len %lld",
                        (long long)n, (long long)B, (long long)T);
    c->ids = ids;
    c->width = width;
    c->n = n;
    c->B = B;
    c->T = T;
    c->S = S;
    return 0;
}

/* ids[at .. at + T - 1] (of `width` bytes each) into out as int32 */
static void copy_ids(const void *ids, int width, int64_t at, int64_t T, int32_t *out)
{
    if (width == 1) {
        const uint8_t *s = (const uint8_t *)ids + at;
        for (int64_t t = 0; t < T; t++)
            out[t] = s[t];
    } else if (width == 2) {
        const uint16_t *s = (const uint16_t *)ids + at;
        for (int64_t t = 0; t < T; t++)
            out[t] = s[t];
    } else {
        memcpy(out, (const int32_t *)ids + at, (size_t)T * sizeof *out);
    }
}

/* Copies the [B, T] window starting at position p of every stream (and the
 * one shifted by 1 as targets). */
static void batch_copy(const void *ids, int width, int64_t B, int64_t T, int64_t S, int64_t p,
                       int32_t *inputs, int32_t *targets)
{
    for (int64_t b = 0; b < B; b++) {
        if (inputs)
            copy_ids(ids, width, b * S + p, T, inputs + b * T);
        if (targets)
            copy_ids(ids, width, b * S + p + 1, T, targets + b * T);
    }
}

void *batch_narrow(int32_t *ids, int64_t n, int32_t vocab, int *width)
{
    *width = vocab <= 256 ? 1 : vocab <= 65536 ? 2 : 4;
    if (*width == 4)
        return ids;
    /* element i lands at byte i * width, at or before where it is read */
    if (*width == 1)
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)ids)[i] = (uint8_t)ids[i];
    else
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)ids)[i] = (uint16_t)ids[i];
    return realloc(ids, n ? (size_t)n * (size_t)*width : 1);
}

int batch_next(batch_cursor *c, int32_t *inputs, int32_t *targets)
{
    int reset = 0;
    if (c->n_chunks == 0 || c->p + c->T + 1 >= c->S) {
        c->p = 0;
        reset = 1;
    }
    batch_copy(c->ids, c->width, c->B, c->T, c->S, c->p, inputs, targets);
    c->p += c->T;
    c->n_chunks++;
    return reset;
}

void batch_save(const batch_cursor *c, int64_t state[2])
{
    state[0] = c->p;
    state[1] = c->n_chunks;
}

int batch_restore(batch_cursor *c, const int64_t state[2], uerr *e)
{
    int64_t p = state[0], n = state[1];
    if (p < 0 || p >= c->S || p % c->T != 0 || n < 0 || (n == 0 && p != 0))
        return uerr_set(e, UERR_USER,
                        "batch cursor state (p=%lld, n=%lld) does not fit "
                        "streams of %lld tokens with seq_len %lld",
                        (long long)p, (long long)n, (long long)c->S, (long long)c->T);
    c->p = p;
    c->n_chunks = n;
    return 0;
}

int64_t batch_valid_count(int64_t n, int64_t B, int64_t T)
{
    if (n < 0 || B < 1 || T < 1)
        return 0;
    int64_t S = n / B;
    return S < 1 ? 0 : (S - 1) / T;
}

int batch_valid_each(const int32_t *ids, int64_t n, int64_t B, int64_t T, int32_t *inputs,
                     int32_t *targets, batch_chunk_fn fn, void *ctx, int64_t *count, uerr *e)
{
    if (count)
        *count = 0;
    int rc = batch_check_dims(n, B, T, e);
    if (rc)
        return rc;
    int64_t S = n / B, K = batch_valid_count(n, B, T);
    for (int64_t k = 0; k < K; k++) {
        batch_copy(ids, 4, B, T, S, k * T, inputs, targets);
        rc = fn(ctx, inputs, targets, k == 0, e);
        if (rc)
            return rc;
        if (count)
            *count = k + 1;
    }
    return 0;
}
