/*
 * gemm.c - deterministic products on every vector path and thread count;
 * see gemm.h.
 *
 * The tiles (kernels/gemm_int.h) are compiled six times: float32 and
 * float64, each for AVX-512 (8 rows by 2 zmm: 16 independent chains,
 * enough to hide the fused adds' latency, and 32 or 16 columns per packed
 * panel), for AVX2 with FMA (6 rows by 2 ymm: 12 chains in 16 registers)
 * and as portable C (4 rows by 8 scalars, C's fma()). Only GCC on x86-64
 * builds the vector paths; elsewhere the generic one runs.
 *
 * A product is split into parts (pool_for), each a range of C's rows by a
 * range of B's panels. Each part packs its panels of op(B) into its
 * thread's scratch in blocks that fill half the L2 (K x block panels), so
 * a block is read from L2 by every tile of MR rows, whose A stays in L1;
 * or reads a packing kept for the run (kernels/gemm_keep.c).
 */
#include "kernels/gemm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/gemm_job_int.h"
#include "kernels/pool.h"

#define GEMM_REF(name, T, FMAF)                                                                    \
    void name(int ta, int tb, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,            \
              const T *B, int64_t ldb, T *C, int64_t ldc, int acc, const T *bias)                  \
    {                                                                                              \
        for (int64_t i = 0; i < M; i++)                                                            \
            for (int64_t j = 0; j < N; j++) {                                                      \
                T s = 0;                                                                           \
                for (int64_t k = 0; k < K; k++)                                                    \
                    s = FMAF(ta ? A[k * lda + i] : A[i * lda + k],                                 \
                             tb ? B[j * ldb + k] : B[k * ldb + j], s);                             \
                T c = acc ? C[i * ldc + j] + s : s;                                                \
                C[i * ldc + j] = bias ? c + bias[j] : c;                                           \
            }                                                                                      \
    }
GEMM_REF(gemm_ref_f64, double, fma)
GEMM_REF(gemm_ref_f32, float, fmaf)

/* rows of op(B) (or of A^T) packed at a time by gemm_int.h's packings:
 * a block of them is read from L1 once per panel (or tile) it feeds */
#define GEMM_PACK_KB 16
/* A whole tile over at least this many rows of K is a call of its own
 * (gemm_int.h: panel_a): inlined into the block, the rows' strides were
 * reloaded from the stack at every k (seven loads a step of 16 fused
 * multiply-adds; 1024^3 in float32 on two cores 309 -> 349 GFLOP/s as a
 * call). Below it the call costs more than the loads (S1's weight
 * gradients: K = 25). */
#define GEMM_CALL_K 64

/* ---- generic: scalars, C's fma() --------------------------------------------- */

#define W 1
#define MR 4
#define NV 8
#define ST double
#define VT double
#define ZERO() 0.0
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
#define SET1(x) (x)
#define FMA(a, b, c) fma(a, b, c)
#define ADD(a, b) ((a) + (b))
#define TRB 1
#define TRANS(d, ldd, s, lds) (*(d) = *(s))
#define GFN(name) gemm_##name##_f64_gen
#include "kernels/gemm_int.h"

#define W 1
#define MR 4
#define NV 8
#define ST float
#define VT float
#define ZERO() 0.0f
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
#define SET1(x) (x)
#define FMA(a, b, c) fmaf(a, b, c)
#define ADD(a, b) ((a) + (b))
#define TRB 1
#define TRANS(d, ldd, s, lds) (*(d) = *(s))
#define GFN(name) gemm_##name##_f32_gen
#include "kernels/gemm_int.h"

static const gemm_variant gen_f64 = {4, 8, gemm_block_f64_gen, gemm_pack_f64_gen,
                                     gemm_pack_at_f64_gen};
static const gemm_variant gen_f32 = {4, 8, gemm_block_f32_gen, gemm_pack_f32_gen,
                                     gemm_pack_at_f32_gen};

/* GCC's target pragmas (as in smallmm.c and vmath.c); clang builds (make
 * fuzz) run the generic path */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GEMM_HAVE_VECTOR 1
#include <immintrin.h>

/* blocks of B^T transposed in registers while packing (TRB, TRANS): the
 * AVX2 ones on the AVX-512 path too, as AVX-512's blocks of 16 rows of B
 * packed a 1024 x 1024 W 2-6% slower (rows 4 KiB apart, 16 lines in an
 * 8-way cache set) */
#include "kernels/transpose_int.h"

/* ---- AVX-512 ----------------------------------------------------------------- */

#pragma GCC push_options
#pragma GCC target("avx512f,fma")

#define W 8
#define MR 8
#define NV 2
#define ST double
#define VT __m512d
#define ZERO() _mm512_setzero_pd()
#define LOAD(p) _mm512_loadu_pd(p)
#define STORE(p, v) _mm512_storeu_pd(p, v)
#define SET1(x) _mm512_set1_pd(x)
#define FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define ADD(a, b) _mm512_add_pd(a, b)
#define TRB 4
#define TRANS(d, ldd, s, lds) trans4_f64_avx2(d, ldd, s, lds)
#define GFN(name) gemm_##name##_f64_512
#include "kernels/gemm_int.h"

#define W 16
#define MR 8
#define NV 2
#define ST float
#define VT __m512
#define ZERO() _mm512_setzero_ps()
#define LOAD(p) _mm512_loadu_ps(p)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#define SET1(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ADD(a, b) _mm512_add_ps(a, b)
#define TRB 8
#define TRANS(d, ldd, s, lds) trans8_f32_avx2(d, ldd, s, lds)
#define GFN(name) gemm_##name##_f32_512
#include "kernels/gemm_int.h"

#pragma GCC pop_options

/* ---- AVX2 + FMA -------------------------------------------------------------- */

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define W 4
#define MR 6
#define NV 2
#define ST double
#define VT __m256d
#define ZERO() _mm256_setzero_pd()
#define LOAD(p) _mm256_loadu_pd(p)
#define STORE(p, v) _mm256_storeu_pd(p, v)
#define SET1(x) _mm256_set1_pd(x)
#define FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define ADD(a, b) _mm256_add_pd(a, b)
#define TRB 4
#define TRANS(d, ldd, s, lds) trans4_f64_avx2(d, ldd, s, lds)
#define GFN(name) gemm_##name##_f64_256
#include "kernels/gemm_int.h"

#define W 8
#define MR 6
#define NV 2
#define ST float
#define VT __m256
#define ZERO() _mm256_setzero_ps()
#define LOAD(p) _mm256_loadu_ps(p)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define SET1(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ADD(a, b) _mm256_add_ps(a, b)
#define TRB 8
#define TRANS(d, ldd, s, lds) trans8_f32_avx2(d, ldd, s, lds)
#define GFN(name) gemm_##name##_f32_256
#include "kernels/gemm_int.h"

#pragma GCC pop_options

static const gemm_variant v512_f64 = {8, 16, gemm_block_f64_512, gemm_pack_f64_512,
                                      gemm_pack_at_f64_512};
static const gemm_variant v512_f32 = {8, 32, gemm_block_f32_512, gemm_pack_f32_512,
                                      gemm_pack_at_f32_512};
static const gemm_variant v256_f64 = {6, 8, gemm_block_f64_256, gemm_pack_f64_256,
                                      gemm_pack_at_f64_256};
static const gemm_variant v256_f32 = {6, 16, gemm_block_f32_256, gemm_pack_f32_256,
                                      gemm_pack_at_f32_256};
#endif

static const gemm_variant *variant(size_t es)
{
    switch (cpu_path()) {
#ifdef GEMM_HAVE_VECTOR
    case CPU_AVX512:
        return es == 4 ? &v512_f32 : &v512_f64;
    case CPU_AVX2:
        return es == 4 ? &v256_f32 : &v256_f64;
#endif
    default:
        return es == 4 ? &gen_f32 : &gen_f64;
    }
}

/* ---- the driver ---------------------------------------------------------------- */

/* j as the product of its transpose, C^T = op(B)^T op(A)^T, C's layout
 * flipped (ct): op(B)^T is B read with !tb, op(A)^T is A with !ta. Its own
 * inverse: a swapped job (gemm_swap) flipped is the product it came from. */
static void gemm_flip(gemm_job *j)
{
    gemm_job u = *j;
    u.ct = !j->ct;
    u.M = j->N;
    u.N = j->M;
    u.ta = !j->tb;
    u.tb = !j->ta;
    u.A = j->B;
    u.lda = j->ldb;
    u.B = j->A;
    u.ldb = j->lda;
    *j = u;
}

/* rows r0 .. r1-1 by columns j0 .. j1-1 through the reference loop; of
 * a swapped job, as the product it was swapped from */
static void gemm_ref_part(const gemm_job *j, int64_t r0, int64_t r1, int64_t j0, int64_t j1)
{
    if (j->ct) {
        gemm_job u = *j;
        gemm_flip(&u);
        gemm_ref_part(&u, j0, j1, r0, r1);
        return;
    }
    const char *a = j->A + (size_t)(j->ta ? r0 : r0 * j->lda) * j->es;
    const char *b = j->B + (size_t)(j->tb ? j0 * j->ldb : j0) * j->es;
    char *c = j->C + (size_t)(r0 * j->ldc + j0) * j->es;
    const char *bias = j->bias ? j->bias + (size_t)j0 * j->es : NULL;
    if (j->addend)
        for (int64_t r = r0; r < r1; r++)
            memcpy(j->C + (size_t)(r * j->ldc + j0) * j->es,
                   j->addend + (size_t)(r * j->ldc + j0) * j->es, (size_t)(j1 - j0) * j->es);
    if (j->es == 4)
        gemm_ref_f32(j->ta, j->tb, r1 - r0, j1 - j0, j->K, (const float *)a, j->lda,
                     (const float *)b, j->ldb, (float *)c, j->ldc, j->acc, (const float *)bias);
    else
        gemm_ref_f64(j->ta, j->tb, r1 - r0, j1 - j0, j->K, (const double *)a, j->lda,
                     (const double *)b, j->ldb, (double *)c, j->ldc, j->acc, (const double *)bias);
}

static _Atomic int64_t ref_fallbacks;
static atomic_int no_scratch; /* gemm_test_no_scratch */

void gemm_test_no_scratch(int on)
{
    atomic_store_explicit(&no_scratch, on, memory_order_relaxed);
}

int64_t gemm_ref_fallbacks(void)
{
    return atomic_load_explicit(&ref_fallbacks, memory_order_relaxed);
}

/* rows of a transposed A packed at a time: MC x K elements */
#define GEMM_MC 128

static void gemm_part(void *ctx, int part, int thread)
{
    (void)thread;
    const gemm_job *j = ctx;
    const gemm_variant *v = j->v;
    int64_t pi = part / j->tn, pj = part % j->tn;
    int64_t r0 = pi * j->mpan / j->tm * v->mr, r1 = (pi + 1) * j->mpan / j->tm * v->mr;
    int64_t q0 = pj * j->npan / j->tn, q1 = (pj + 1) * j->npan / j->tn;
    if (r1 > j->M)
        r1 = j->M;
    size_t panel = (size_t)j->K * (size_t)v->nr * j->es;
    /* a kept packing holds all of K: one pass */
    int64_t kc = j->kept ? j->K : j->kc;
    /* the thread's scratch: a block of B's panels, then MC rows of A^T,
     * each kc rows of K */
    int64_t mc = GEMM_MC / v->mr * v->mr;
    size_t bbytes = j->kept ? 0 : (size_t)kc * (size_t)v->nr * j->es * (size_t)j->blk;
    size_t abytes = j->ta ? (size_t)kc * (size_t)mc * j->es : 0;
    /* a kept B and an untransposed A need no scratch: pool_scratch(0) may
     * be NULL then (a thread that never had any), which is no failure */
    char *buf = bbytes + abytes && !atomic_load_explicit(&no_scratch, memory_order_relaxed)
                    ? pool_scratch(bbytes + abytes)
                    : NULL;
    if (bbytes + abytes && !buf) {
        atomic_fetch_add_explicit(&ref_fallbacks, 1, memory_order_relaxed);
        gemm_ref_part(j, r0, r1, q0 * v->nr, q1 * v->nr < j->N ? q1 * v->nr : j->N);
        return;
    }
    char *abuf = abytes ? buf + bbytes : NULL;
    /* A kept op(B) goes in blocks too: every tile of rows reads the whole
     * block, so one larger than the L2 streamed from the L3 once per tile
     * of rows (the recurrence at H = 1024, batch 64: each thread's four
     * tiles of rows read the 4 MiB W^T four times a step; in blocks, once:
     * the step 72 -> 60 ms). */
    for (int64_t p = q0; p < q1; p += j->blk) {
        int64_t pe = p + j->blk < q1 ? p + j->blk : q1;
        const char *pb = j->kept ? j->kept + (size_t)p * panel : buf;
        for (int64_t k0 = 0; k0 < j->K; k0 += kc) {
            int64_t kn = j->K - k0 < kc ? j->K - k0 : kc;
            /* row k0 of op(A)'s columns and of op(B) */
            const char *ak = j->A + (size_t)(j->ta ? k0 * j->lda : k0) * j->es;
            const char *bk = j->B + (size_t)(j->tb ? k0 : k0 * j->ldb) * j->es;
            if (!j->kept)
                v->pack(j->tb, kn, bk, j->ldb, j->N, p, pe, buf);
            for (int64_t i = r0; i < r1; i += mc) {
                int64_t ie = i + mc < r1 ? i + mc : r1;
                if (abuf)
                    v->pack_at(kn, ak, j->lda, i, ie, abuf);
                v->block(j->ta, kn, ak, j->lda, i, ie, pb, p, pe, j->N, j->C, j->ldc, j->acc, abuf,
                         k0 + kn < j->K ? NULL : j->bias, j->addend, j->ct, k0 > 0);
            }
        }
    }
}

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Whether K may go in passes, each element's chain carried through C from
 * one pass to the next (C holds the chain's value exactly, so the bits
 * are the same): only where C starts from zero and is stored as it is (no
 * accumulation, no addend, not transposed), else C's old value would be
 * needed apart. */
static int passes_ok(const gemm_job *j)
{
    return !j->acc && !j->addend && !j->ct;
}

/* blk panels a block, at least one and no more than j has */
static int64_t block_panels(const gemm_job *j, int64_t blk)
{
    return blk < 1 ? 1 : blk > j->npan ? j->npan : blk;
}

/*
 * A long sum into a few outputs: a small layer's weight gradient over all
 * its steps (32 x 32 from 12,544 rows: 256 sequences of 50 steps). Packed
 * whole, its panel held all of K (1.6 MB, more than the L2), and with one
 * panel one thread packed it while the other waited: two threads took as
 * long as one (340 us, 73 GFLOP/s). Here K goes in passes whose share of
 * A and B fits a quarter of the L2, each part packing its own share, the
 * chains carried through C from pass to pass: 199 us (65 x 32 from 12,800
 * rows: 573 -> 377 us; medians of 60 interleaved, 2 threads). Only where
 * C starts from zero and is stored as it is, and the tiles are few.
 */
#define GEMM_THIN_TILES 64
#define GEMM_THIN_RATIO 8

static int gemm_thin(gemm_job *j, size_t l2)
{
    if (!passes_ok(j) || j->mpan * j->npan > GEMM_THIN_TILES ||
        j->K < GEMM_THIN_RATIO * (j->M + j->N))
        return 0;
    size_t per_k =
        ((size_t)(j->v->nr * cdiv(j->npan, j->tn)) + (size_t)(j->v->mr * cdiv(j->mpan, j->tm))) *
        j->es;
    int64_t kc = (int64_t)(l2 / 4 / per_k);
    j->kc = kc < GEMM_PACK_KB ? GEMM_PACK_KB : kc > j->K ? j->K : kc;
    j->blk = cdiv(j->npan, j->tn); /* a part's panels, in one block */
    j->own_pack = 1;
    return 1;
}

/*
 * A transposed A (the weight gradients over all steps, dA^T H: 1024 x
 * 1024 from 2048 rows at S3) packed whole was a tile of MR rows by all of
 * K: 64 KiB in float32, more than the L1, so each tile read both its A
 * and the panels from the L2 or beyond: 110 GFLOP/s on one core, 200 on
 * two (OpenBLAS: 160 and 345). Here K goes in passes of kc rows, a tile's
 * share of A a sixth of the L1, the panels in blocks of half the L2, each
 * thread packing its own share (the shared packing holds all of K), the
 * chains carried through C from pass to pass as in the passes over a
 * large panel below: 165 and 330 GFLOP/s, float64 50 and 90 -> 80 and
 * 155; S2's 256 x 256 x 2048 200 -> 290 on two cores. Not with A as it
 * is: its tile's rows are read in place, in order, and the passes only
 * cost (2048 x 128 x 1024: 315 -> 250). Only where C starts from zero and
 * is stored as it is, and K holds at least two passes.
 */
static int gemm_passes_at(gemm_job *j, size_t l2)
{
    if (!j->ta || !passes_ok(j) || j->mpan < 2)
        return 0;
    size_t l1 = cpu_get()->l1d ? cpu_get()->l1d : 32 * 1024;
    int64_t kc = (int64_t)(l1 / (6 * (size_t)j->v->mr * j->es)) / GEMM_PACK_KB * GEMM_PACK_KB;
    kc = kc < 4 * GEMM_PACK_KB ? 4 * GEMM_PACK_KB : kc;
    if (j->K < 2 * kc)
        return 0;
    j->kc = kc;
    j->blk = block_panels(j, (int64_t)(l2 / 2 / ((size_t)kc * (size_t)j->v->nr * j->es)));
    j->own_pack = 1;
    return 1;
}

/* Splits C among the threads: by panels or by rows, whichever leaves the
 * largest part smallest, a panel's packing counted as a tile's work: each
 * part of a row split packs all of op(B). Counted without it, the output
 * projection at batch 1 (25 x 5000 x 256) split its 4 tiles of rows, and
 * both threads packed and streamed all of the 5 MB weight. */
static void gemm_split(gemm_job *j)
{
    int64_t T = cpu_threads();
    /* inside a part of a job (a row run) the other threads are busy */
    if (!gemm_splits((double)j->M, (double)j->N, (double)j->K, j->es) || pool_in_part())
        T = 1;
    int64_t tn = T < j->npan ? T : j->npan, tm = T < j->mpan ? T : j->mpan;
    int64_t by_cols = cdiv(j->npan, tn) * (j->mpan + 1),
            by_rows = (cdiv(j->mpan, tm) + 1) * j->npan;
    j->tm = by_rows < by_cols ? tm : 1;
    j->tn = by_rows < by_cols ? 1 : tn;
    /* half the L2 for a block of panels: every tile of rows reads it all.
     * With A transposed, one and a half times the L2: each block re-packs
     * A^T (see pack_at), so a block of more panels packs it fewer times,
     * and the panels stream from L3 in order (1024 x 1024 x 2048, one
     * thread, loaded machine: float32 14 -> 18, float64 4 -> 10 GFLOP/s
     * at twice the L2, against 26 and 12 with A untransposed). Not twice:
     * each thread's scratch holds a block, and at S3 the half L2 less per
     * thread kept `unroll train`'s peak under its limit (44.6 to 43.6 MiB,
     * the step 1% slower). */
    size_t l2 = cpu_get()->l2 ? cpu_get()->l2 : 256 * 1024;
    if (gemm_thin(j, l2) || gemm_passes_at(j, l2))
        return;
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    int64_t blk = (int64_t)((j->ta ? 3 * l2 / 2 : l2 / 2) / panel);
    /* no more than it has: a small product's scratch was 2 MiB a thread */
    j->blk = block_panels(j, blk);
    /* A panel larger than the L2 (dO V at batch 1 and V = 10,000: K = V)
     * would stream from the L3 again for every tile of rows. K is then
     * taken in passes of half the L2, each element's chain carried through
     * C from one pass to the next (passes_ok). */
    j->kc = j->K;
    if (panel > l2 && passes_ok(j) && j->mpan > 1) {
        int64_t kc = (int64_t)(l2 / 2 / ((size_t)j->v->nr * j->es));
        j->kc = kc < 1 ? 1 : kc;
    }
}

/* ---- one packing for all threads --------------------------------------------- */

typedef struct pack_job {
    const gemm_job *j;
    char *dst;
    int nparts;
} pack_job;

/* part of the panels of j's op(B), packed into dst */
static void gemm_pack_part(void *ctx, int part, int thread)
{
    (void)thread;
    const pack_job *pj = ctx;
    const gemm_job *j = pj->j;
    int64_t q0 = part * j->npan / pj->nparts, q1 = (part + 1) * j->npan / pj->nparts;
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    j->v->pack(j->tb, j->K, j->B, j->ldb, j->N, q0, q1, pj->dst + (size_t)q0 * panel);
}

/*
 * A product on several threads whose parts would each pack the same
 * operand: all of op(B) in every part of a row split, all of a transposed
 * A in every part of a panel split (the weight gradients over all steps:
 * 256 x 256 x 2048 ran at half the 2-core peak). Instead op(B) is packed
 * once per block of panels, by all threads into memory they share, and
 * then each thread computes its rows of the block, packing only its own
 * rows of A. Packing is copying: the arithmetic and the bits are the same.
 * 0 (nothing done) when the shared memory cannot be had.
 */
static int gemm_shared(gemm_job *j, int cls)
{
    int64_t nth = j->tm * j->tn;
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    char *buf = pool_shared((size_t)j->blk * panel);
    if (!buf)
        return 0;
    for (int64_t b0 = 0; b0 < j->npan; b0 += j->blk) {
        int64_t b1 = b0 + j->blk < j->npan ? b0 + j->blk : j->npan, c0 = b0 * j->v->nr;
        gemm_job s = *j;
        /* column c0 of C: a row of C stored transposed */
        size_t cat = (size_t)(j->ct ? c0 * j->ldc : c0) * j->es;
        s.B = j->B + (size_t)(j->tb ? c0 * j->ldb : c0) * j->es;
        s.C = j->C + cat;
        s.bias = j->bias && !j->ct ? j->bias + cat : j->bias;
        s.addend = j->addend ? j->addend + cat : NULL;
        s.N = j->N - c0 < (b1 - b0) * j->v->nr ? j->N - c0 : (b1 - b0) * j->v->nr;
        s.npan = b1 - b0;
        s.tm = nth < s.mpan ? nth : s.mpan;
        s.tn = 1;
        pack_job pj = {&s, buf, (int)(nth < s.npan ? nth : s.npan)};
        pool_for(-1, pj.nparts, gemm_pack_part, &pj);
        s.kept = buf;
        pool_for(cls, (int)s.tm, gemm_part, &s);
    }
    return 1;
}

/*
 * A few rows of op(A) by a B stored [N, K] (the output projection, Y =
 * H V^T, over T steps at batch 1) are computed as C^T = B op(A)^T: B is
 * read in place, a tile of MR of its rows at a time, and only the few rows
 * of A are packed, where the product's own packing would transpose all of
 * B for a few rows' arithmetic. Each element is the same chain of fused
 * multiply-adds over k in order, each product's factors swapped (exact),
 * so the bits are the same; the tiles store C transposed. Not for a kept
 * B: its packing is made once for many products. (V = 5000, H = 256,
 * T = 25, 2 threads, caches flushed: 1.06 -> 0.74 ms.)
 */
#define GEMM_SWAP_M 32

static void gemm_swap(gemm_job *j, const gemm_opts *o)
{
    if (j->tb && j->M <= GEMM_SWAP_M && j->N >= 2 * j->M && !(o && o->bkey))
        gemm_flip(j);
}

static void gemm_run(size_t es, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                     int64_t lda, const void *B, int64_t ldb, void *C, int64_t ldc, int acc,
                     const gemm_opts *o)
{
    if (M <= 0 || N <= 0)
        return;
    gemm_job j = {.v = variant(es),
                  .es = es,
                  .ta = ta,
                  .tb = tb,
                  .acc = acc,
                  .M = M,
                  .N = N,
                  .K = K,
                  .lda = lda,
                  .ldb = ldb,
                  .ldc = ldc,
                  .A = A,
                  .B = B,
                  .C = C,
                  .bias = o ? o->bias : NULL,
                  .addend = o && acc && o->addend != C ? o->addend : NULL};
    if (K <= 0) {
        /* an empty sum is +0; added to C it leaves C as it is (x + 0 = x,
         * -0 + +0 = +0 as in the reference) */
        gemm_ref_part(&j, 0, M, 0, N);
        return;
    }
    gemm_swap(&j, o);
    j.mpan = cdiv(j.M, j.v->mr);
    j.npan = cdiv(j.N, j.v->nr);
    gemm_split(&j);
    j.kept = o ? gemm_keep_lookup(&j, o->bkey, o->bconst) : NULL;
    int cls = o ? o->cls : -1;
    /* in one block only: a larger op(B) is better packed by each thread
     * for its own panels, in its own cache (1024 x 1024 x 2048, A^T: 165
     * GFLOP/s so against 140 shared, loaded machine) */
    if (!j.kept && !j.own_pack && j.tm * j.tn > 1 && (j.tm > 1 || j.ta) && j.npan <= j.blk &&
        gemm_shared(&j, cls))
        return;
    pool_for(cls, (int)(j.tm * j.tn), gemm_part, &j);
}

void gemm_f32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float *C, int64_t ldc, int acc, const gemm_opts *o)
{
    gemm_run(4, ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, o);
}

void gemm_f64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
              const double *B, int64_t ldb, double *C, int64_t ldc, int acc, const gemm_opts *o)
{
    gemm_run(8, ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, o);
}

void gemm_tile(size_t es, int *mr, int *nr)
{
    *mr = variant(es)->mr;
    *nr = variant(es)->nr;
}

void gemm_pack_b(size_t es, int tb, int64_t K, const void *B, int64_t ldb, int64_t N, int64_t p0,
                 int64_t p1, void *dst)
{
    variant(es)->pack(tb, K, B, ldb, N, p0, p1, dst);
}

void gemm_pack_at(size_t es, int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1,
                  void *dst)
{
    variant(es)->pack_at(K, A, lda, i0, i1, dst);
}
