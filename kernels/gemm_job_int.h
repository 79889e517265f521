/*
 * gemm_job_int.h - what kernels/gemm.c and kernels/gemm_keep.c share: a
 * vector path's kernels, one product's job, and the kept packings' lookup.
 * Not installed (gemm.h is the interface).
 */
#ifndef UNROLL_GEMM_JOB_INT_H
#define UNROLL_GEMM_JOB_INT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gemm_variant {
    int mr, nr;
    void (*block)(int ta, int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1,
                  const void *pb, int64_t p0, int64_t p1, int64_t N, void *C, int64_t ldc, int acc,
                  const void *apk, const void *bias, const void *addend, int ct, int cont);
    void (*pack)(int tb, int64_t K, const void *B, int64_t ldb, int64_t N, int64_t p0, int64_t p1,
                 void *dst);
    void (*pack_at)(int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1, void *dst);
} gemm_variant;

typedef struct gemm_job {
    const gemm_variant *v;
    size_t es;
    int ta, tb, acc;
    int ct; /* C stored transposed, the bias per row (gemm.c: gemm_swap) */
    int64_t M, N, K, lda, ldb, ldc;
    const char *A, *B;
    char *C;
    int64_t mpan, npan; /* tiles of MR rows, panels of NR columns */
    int64_t tm, tn;     /* parts: tm row ranges by tn panel ranges */
    int64_t blk;        /* panels packed at a time */
    int64_t kc;         /* rows of K a pass (gemm_split), K when one */
    int own_pack;       /* each part packs its own share of each pass over K
                           (gemm.c: gemm_thin, gemm_passes_at) */
    const char *kept;   /* all panels of op(B), packed before the call, or NULL */
    const char *bias;   /* C's columns' bias (gemm_opts), or NULL */
    const char *addend; /* read for C when accumulating (gemm_opts), or NULL */
} gemm_job;

/* All panels of j's op(B), packed once under bkey in the calling thread's
 * table (gemm.h: gemm_keep_begin), by every part that asks while they are
 * being packed; NULL when the product is not keyed, outside a bracket, or
 * when the table has no room (the product packs its own). */
const char *gemm_keep_lookup(const gemm_job *j, const void *bkey, int bconst);

#endif
