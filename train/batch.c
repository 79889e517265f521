/*
 * batch.c - the chunk cursor and the validation walk. See batch.h for the
 * rule; this file only applies it.
 */
#include "train/batch.h"

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
    c->n = n;
    c->B = B;
    c->T = T;
    c->S = S;
    return 0;
}

/* Copies the [B, T] window starting at position p of every stream (and the
 * one shifted by 1 as targets). */
static void batch_copy(const int32_t *ids, int64_t B, int64_t T, int64_t S, int64_t p,
                       int32_t *inputs, int32_t *targets)
{
    for (int64_t b = 0; b < B; b++) {
        const int32_t *s = ids + b * S + p;
        if (inputs)
            memcpy(inputs + b * T, s, (size_t)T * sizeof *s);
        if (targets)
            memcpy(targets + b * T, s + 1, (size_t)T * sizeof *s);
    }
}

int batch_next(batch_cursor *c, int32_t *inputs, int32_t *targets)
{
    int reset = 0;
    if (c->n_chunks == 0 || c->p + c->T + 1 >= c->S) {
        c->p = 0;
        reset = 1;
    }
    batch_copy(c->ids, c->B, c->T, c->S, c->p, inputs, targets);
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
        batch_copy(ids, B, T, S, k * T, inputs, targets);
        rc = fn(ctx, inputs, targets, k == 0, e);
        if (rc)
            return rc;
        if (count)
            *count = k + 1;
    }
    return 0;
}
