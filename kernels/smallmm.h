/*
 * smallmm.h - small matrix products without BLAS, for the kernels of ops/
 * (not an op itself).
 *
 *   C[M,N] = op(A)[M,K] B[K,N]        (acc = 0)
 *   C[M,N] += op(A)[M,K] B[K,N]       (acc = 1)
 *
 * and then, with a bias [N] (not NULL), each row of C plus the bias: the
 * add that follows a product in a cell, done while C is in registers.
 *
 * op(A) is A (ta = 0, A stored [M, lda >= K]) or A^T (ta = 1, A stored
 * [K, lda >= M]); B is stored [K, ldb >= N] and never transposed (a row of
 * B is contiguous, so a vector spans columns of C); C is [M, ldc >= N].
 *
 * Why: at batch 1 the recurrence is one matrix-vector product per step
 * (100 x 100 in min-char-rnn), where a BLAS call costs more in its
 * dispatch, its zeroing of C and its packing than in its arithmetic.
 *
 * Every element of C is ONE chain of fused multiply-adds over k in order:
 *
 *   s = 0; for k = 0 .. K-1: s = fma(op(A)[i,k], B[k,j], s);
 *   C[i,j] = s            (acc = 0)
 *   C[i,j] = C[i,j] + s   (acc = 1: the finished product added once)
 *   C[i,j] = C[i,j] + bias[j]   (with a bias: rounded apart, as an add
 *                                node after the product would)
 *
 * Vectors run across j, never along k, so the result does not depend on
 * the vector width, on where an element sits in a vector, on the
 * alignment of any operand or on the blocking: smm_ref_* (the loop above,
 * with C's fma()) gives the same bits, and so does every CPU path.
 *
 * The products run where the CPU has AVX2 and FMA (AVX-512 if it has it),
 * chosen at run time; smm_* returns 0 without touching C when it does not
 * run the product (no such CPU, a build without the vector paths, or a
 * size outside SMM_MAX_*: larger products belong to BLAS), and 1 when it
 * did.
 */
#ifndef UNROLL_SMALLMM_H
#define UNROLL_SMALLMM_H

#include <stddef.h>
#include <stdint.h>

/* Larger than these, BLAS's packing and cache blocking win. */
#define SMM_MAX_M 4
#define SMM_MAX_K 1024
#define SMM_MAX_KN (256 * 1024) /* elements of B */
/* A one-row product reads B once, in rows of up to 16 vectors, and takes
 * it to these: packed, a large W is read and written again every step,
 * and its two packings (W^T for the forward, W for the backward) crowd
 * the L3. `bench step` medians of 5 interleaved (Zen 4, 2 threads), kept
 * packings -> these: LSTM H = 1024 at batch 1 12.5 -> 9.8 ms, LSTM 768
 * 6.4 -> 5.5, GRU 768 4.3 -> 3.8, Elman 2048 10.9 -> 9.3 and 1500 8.9 ->
 * 8.1; the Elman in float32 a little slower, 1.81 -> 1.89 at 1000 and
 * 1.67 -> 1.76 at 1024 (its one 4 MB W stays in the L3 either way). Not for more rows: each panel
 * is then a few vectors wide, read at a stride of a row of B, and an LSTM at 1024 and batch 3
 * went 16.8 -> 20.0 ms. */
#define SMM_MAX_K1 4096
#define SMM_MAX_KN1 (16 * 1024 * 1024)

/* Whether smm_* take a product of this size where the CPU has a vector
 * path (the plan asks, before any CPU is chosen), and whether they take
 * it here. */
int smm_size_fits(int64_t M, int64_t N, int64_t K);
int smm_takes(int64_t M, int64_t N, int64_t K);

/* Whether ops/matmul.c splits a product smm_* take among the threads, by
 * columns: from 2^18 FLOPs in float32, half as many in float64, a
 * third of gemm_splits' bound. At batch 1 to 4 the product reads all
 * of W^T from the L2 for a few rows; in halves, each core reads its own.
 * Measured at 2^20 x 0.75 against 2^18 (Zen 4, 2 cores, medians of 7
 * interleaved `bench step`): 400 units, batch 1, 0.60 -> 0.50 ms; 512
 * units 0.84 -> 0.72 ms; float64 at 300 units 0.82 -> 0.58 ms and at 256
 * 0.56 -> 0.46 ms. At 2^17, 256 units in float32 were no faster. */
#define SMM_PAR_FLOPS (1 << 18)
static inline int smm_splits(double M, double N, double K, size_t es)
{
    return 2 * M * N * K * (double)es / 4 >= SMM_PAR_FLOPS;
}

int smm_f64(int ta, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, const double *B,
            int64_t ldb, double *C, int64_t ldc, int acc, const double *bias);
int smm_f32(int ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
            int64_t ldb, float *C, int64_t ldc, int acc, const float *bias);

/* The reference: the loop above, for tests. */
void smm_ref_f64(int ta, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double *C, int64_t ldc, int acc, const double *bias);
void smm_ref_f32(int ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, int acc, const float *bias);

/* The vector path in use: 64 (AVX-512), 32 (AVX2 + FMA) or 0 (none: smm_*
 * always return 0). Tests set a narrower one to check that every path
 * gives the same bits; returns the previous one. A path the CPU lacks is
 * not set. */
int smm_set_width(int bytes);

#endif
