/*
 * batch.h - cutting an id sequence into [B, T] training chunks for
 * truncated BPTT with a carried hidden state.
 *
 * The rule generalises Karpathy's min-char-rnn to B parallel streams:
 * the text ids[N] is cut into B contiguous streams of S = N / B tokens
 * (stream b is ids[b*S .. b*S + S - 1]; the last N - B*S tokens are never
 * used). Chunk n (0-based) starts at position p in every stream:
 *
 *     if n == 0 or p + T + 1 >= S:  p = 0, and the chunk is flagged reset
 *     inputs[b][t]  = stream_b[p + t]
 *     targets[b][t] = stream_b[p + t + 1]          for t in 0..T-1
 *     p += T
 *
 * A reset chunk tells the trainer to zero the carried hidden state, since
 * it no longer continues the previous chunk. With B = 1 the sequence of p
 * and resets is exactly min-char-rnn's. Note the test is ">=", copied from
 * min-char-rnn: the last token of a stream is never a target.
 *
 * Invariants: S >= T + 2 (checked by batch_init); the whole cursor state is
 * (p, n), so saving those two numbers and restoring them over the same ids,
 * B and T resumes the exact chunk sequence. The cursor borrows ids and
 * allocates nothing. The ids it reads may be narrowed to 1 or 2 bytes each
 * (batch_narrow): the chunks hold the same values.
 */
#ifndef UNROLL_BATCH_H
#define UNROLL_BATCH_H

#include <stdint.h>

#include "base/err.h"

typedef struct batch_cursor {
    const void *ids; /* borrowed, [n] ids of `width` bytes each */
    int width;       /* 1 (uint8), 2 (uint16) or 4 (int32) */
    int64_t n;
    int64_t B, T;
    int64_t S;        /* tokens per stream: n / B */
    int64_t p;        /* where the next chunk starts, before the reset test */
    int64_t n_chunks; /* chunks produced so far (min-char-rnn's n) */
} batch_cursor;

/* Fails with "text of N tokens is too short for batch B x seq_len T" when
 * S < T + 2, and on B or T outside [1, 2^30]. */
int batch_init(batch_cursor *c, const int32_t *ids, int64_t n, int64_t B, int64_t T, uerr *e);
/* The same over ids of `width` bytes each (batch_narrow's). */
int batch_init_width(batch_cursor *c, const void *ids, int width, int64_t n, int64_t B, int64_t T,
                     uerr *e);

/* ids[n] (all in [0, vocab), allocated with malloc) rewritten in place in
 * the fewest bytes that hold vocab - 1 (*width: 1, 2 or 4) and the block
 * shrunk to them: a text of 400k characters over 128 symbols keeps 400 KB,
 * not 1.6 MB, beside the model for the whole run. Returns the block (ids
 * is no longer valid), or NULL when the shrinking fails (then ids is still
 * the caller's to free, its contents narrowed). Shrunk rather than copied
 * and freed: no second block while it narrows, and glibc does not raise
 * its mmap threshold to the freed block's size (which would send later
 * blocks below it to the heap; no effect measured at S3 or S4). */
void *batch_narrow(int32_t *ids, int64_t n, int32_t vocab, int *width);

/* Produces the next chunk into inputs and targets (each [B, T] row-major,
 * caller-owned; either may be NULL to skip it) and returns 1 if the chunk is
 * a reset, 0 if it continues the previous one. Its start position is
 * c->p - T afterwards. */
int batch_next(batch_cursor *c, int32_t *inputs, int32_t *targets);

/* The cursor state: state[0] = p, state[1] = n_chunks. */
void batch_save(const batch_cursor *c, int64_t state[2]);

/* Restores a saved state into a cursor initialised over the same ids, B and
 * T. Rejects states this cursor could never have reached (p negative, not
 * a multiple of T, or not below S; n negative; p != 0 with n == 0). */
int batch_restore(batch_cursor *c, const int64_t state[2], uerr *e);

/* Validation: the same B streams, read once from the start with no
 * wrapping. Chunk k starts at p = k*T and needs p + T < S, so there are
 * (S - 1) / T chunks (0 if S < T + 1); the tail that does not fill a chunk
 * is dropped. Only chunk 0 is a reset: the hidden state is carried through
 * the whole validation text. */
int64_t batch_valid_count(int64_t n, int64_t B, int64_t T);

/* Called once per validation chunk; a non-zero return stops the walk and is
 * returned by batch_valid_each. */
typedef int (*batch_chunk_fn)(void *ctx, const int32_t *inputs, const int32_t *targets, int reset,
                              uerr *e);

/* Walks the validation chunks of ids[n] in order, filling the caller's
 * inputs and targets buffers ([B, T] each) before each call of fn.
 * *count (if non-NULL) receives the number of chunks for which fn
 * returned 0. */
int batch_valid_each(const int32_t *ids, int64_t n, int64_t B, int64_t T, int32_t *inputs,
                     int32_t *targets, batch_chunk_fn fn, void *ctx, int64_t *count, uerr *e);

#endif
