/*
 * gemm.h - the products of unroll's steps, deterministic on any number of
 * threads and any vector path.
 *
 *   C[M,N] = op(A)[M,K] op(B)[K,N]        (acc = 0)
 *   C[M,N] += op(A)[M,K] op(B)[K,N]       (acc = 1)
 *
 * Row-major. op(A) is A (ta = 0, A stored [M, lda >= K]) or A^T (ta = 1,
 * stored [K, lda >= M]); op(B) is B (tb = 0, stored [K, ldb >= N]) or B^T
 * (tb = 1, stored [N, ldb >= K]); C is [M, ldc >= N], not overlapping A or B.
 *
 * THE CONTRACT (the same as smallmm.h): every element of C is ONE chain of
 * fused multiply-adds over k in order,
 *
 *   s = 0; for k = 0 .. K-1: s = fma(op(A)[i,k], op(B)[k,j], s);
 *   C[i,j] = s            (acc = 0)
 *   C[i,j] = C[i,j] + s   (acc = 1: the finished product added once;
 *                          or addend[i,j] + s, gemm_opts)
 *   C[i,j] = C[i,j] + bias[j]   (a bias, gemm_opts: the add after a
 *                                product, done as each tile is stored)
 *
 * Vectors run across j, never along k, and no chain is split into partial
 * sums (not between threads, not into blocks: passes over K carry the one
 * chain through C), so the bits do not depend on the vector width,
 * the tile shape, the alignment, the blocking or the threads: the AVX-512,
 * AVX2 and generic paths (kernels/cpu.h) and gemm_ref_* give the same bits.
 *
 * Threads (kernels/pool.h) split C into row ranges or column panels,
 * never K. A product smaller than gemm_splits() allows runs on the
 * calling thread alone (a wake-up costs more); the choice depends on the
 * sizes only.
 * Packed operands live in each thread's pool_scratch: nothing is
 * allocated per product once those have grown. If memory for them runs
 * out the product is computed by the reference loop (same bits, slower).
 *
 * Options (o may be NULL): cls is a pool_class id for --verbose's count
 * of threads per product kind, or -1. bkey, between gemm_keep_begin()
 * and gemm_keep_end() (on the calling thread), says that op(B) stays the
 * same until gemm_keep_end(): B is packed whole once, under that key (by
 * all the parts that ask for it while it is being packed, each a share),
 * and every later product with the same key, B, shape and layout reads
 * that packing (exec_run brackets a run of the plan so; matmul keys a per-step
 * product's weight by its memory). Outside the bracket it is ignored.
 * bconst says more: B is a parameter, which stays the same from one run
 * to the next as long as the token given to gemm_keep_begin does (0: no
 * promise), so its packing is kept across runs too (sampling one
 * character per run). Kept or not, the arithmetic is the same: the bits
 * do not change.
 */
#ifndef UNROLL_GEMM_H
#define UNROLL_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Whether a product of M x N x K in elements of es bytes is large enough
 * to split among threads: 0.75 x 2^20 FLOPs in float32, half as many in
 * float64 (its fused adds take twice the time). Handing a part to a
 * spinning worker and meeting it again costs under a microsecond (7 x
 * 250 x 250: 8.0 us on one thread, 4.8 on two), one that has to be woken
 * more. At 2^21 the recurrence at batch 8 ran on one thread (H = 333,
 * T = 40: 2.34 -> 1.76 ms a step at 2^20); at 2^20 an LSTM's gate
 * products at batch 7 did (H = 250, T = 40: 4.81 -> 3.42 ms), and so did
 * a float64 GRU's at batch 10 (H = 150, T = 50: 5.46 -> 4.25 ms). At 2^19
 * a float64 LSTM at H = 128, B = 8 was 12% slower, and at 2^18 so was a
 * float32 one (Zen 4, 2 cores, medians of 7 to 9 interleaved). */
#define GEMM_PAR_FLOPS (3 << 18)
static inline int gemm_splits(double M, double N, double K, size_t es)
{
    return 2 * M * N * K * (double)es / 4 >= GEMM_PAR_FLOPS;
}

typedef struct gemm_opts {
    int cls;
    const void *bkey;
    int bconst;
    const void *bias; /* [N] added to each row of C at the end, or NULL */
    /* with acc: C = addend + op(A) op(B), the addend laid out as C (ldc)
     * and read in C's stead, as if copied into C first; or NULL */
    const void *addend;
} gemm_opts;

void gemm_f32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float *C, int64_t ldc, int acc, const gemm_opts *o);
void gemm_f64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
              const double *B, int64_t ldb, double *C, int64_t ldc, int acc, const gemm_opts *o);

/* The bracket of a run in which keyed operands stay the same; token
 * (nonzero) names the parameters' values, unchanged since the last run
 * with that token (see bconst). */
void gemm_keep_begin(uint64_t token);
void gemm_keep_end(void);
/* The kept packings the calling thread's products use (its own table
 * within a bracket), and lending a table to this thread: products of a
 * pool job's parts on other threads then read and add to the packings of
 * the run that started the job. gemm_keep_lend returns the table it used
 * before, to be lent back at the part's end; NULL lends none.
 * gemm_keep_current is called outside any part, as a job is about to
 * start: by the time the job's parts ask, what the thread's products read
 * before has been read for the last time (kernels/gemm_keep.c: one slot for a
 * weight read both ways). */
void *gemm_keep_current(void);
void *gemm_keep_lend(void *table);
/* The bytes of kept packings all threads' tables hold now (each table's
 * stay allocated between runs, for the next): tests check that a step
 * keeps no more than it reads. */
size_t gemm_keep_bytes(void);

/* How many parts of products ran the reference loop because packing
 * memory could not be had (the same bits, many times slower), since the
 * process started: tests check that a product meant for the vector
 * kernels ran there. */
int64_t gemm_ref_fallbacks(void);
/* For tests: while on, parts behave as if packing memory could not be had
 * (the reference loop computes them, a swapped product's too). */
void gemm_test_no_scratch(int on);

/* The packings of the path that runs now (kernels/cpu.h), es 4 or 8,
 * for tests. gemm_tile gives its tile: MR rows by panels of NR columns.
 * gemm_pack_b writes panels p0 .. p1-1 of op(B) ([K, N]; tb as above) to
 * dst, each K rows of NR elements, zero past N; gemm_pack_at writes rows
 * i0 .. i1-1 of a transposed A (stored [K, lda]) as tiles of MR rows,
 * each K x MR, leaving the lanes past i1 of the last tile as they were. */
void gemm_tile(size_t es, int *mr, int *nr);
void gemm_pack_b(size_t es, int tb, int64_t K, const void *B, int64_t ldb, int64_t N, int64_t p0,
                 int64_t p1, void *dst);
void gemm_pack_at(size_t es, int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1,
                  void *dst);

/* The reference: the loop above with C's fma(), then bias[j] added to
 * each element of column j unless bias is NULL; for tests. */
void gemm_ref_f32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float *C, int64_t ldc, int acc, const float *bias);
void gemm_ref_f64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                  const double *B, int64_t ldb, double *C, int64_t ldc, int acc,
                  const double *bias);

#endif
