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
 * a block is read from L2 by every tile of MR rows, whose A stays in L1.
 */
#include "kernels/gemm.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/pool.h"

typedef struct gemm_variant {
    int mr, nr;
    void (*block)(int ta, int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1,
                  const void *pb, int64_t p0, int64_t p1, int64_t N, void *C, int64_t ldc, int acc,
                  const void *apk, const void *bias, const void *addend);
    void (*pack)(int tb, int64_t K, const void *B, int64_t ldb, int64_t N, int64_t p0, int64_t p1,
                 void *dst);
    void (*pack_at)(int64_t K, const void *A, int64_t lda, int64_t i0, int64_t i1, void *dst);
} gemm_variant;

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

/* ---- transposed blocks for packing B^T (AVX: the AVX-512 path too) --------- */

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* d[k * ldd + c] = s[c * lds + k] for c, k < 8: pairs, then quads, then
 * the 128-bit halves of the rows swapped into place */
static inline __attribute__((always_inline)) void gemm_trans8_f32(float *d, int64_t ldd,
                                                                  const float *s, int64_t lds)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(s + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(d + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(d + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

/* the same for c, k < 4 in doubles */
static inline __attribute__((always_inline)) void gemm_trans4_f64(double *d, int64_t ldd,
                                                                  const double *s, int64_t lds)
{
    __m256d r[4], t[4];
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_loadu_pd(s + i * lds);
    for (int i = 0; i < 4; i += 2) {
        t[i] = _mm256_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        _mm256_storeu_pd(d + i * ldd, _mm256_permute2f128_pd(t[i], t[i + 2], 0x20));
        _mm256_storeu_pd(d + (i + 2) * ldd, _mm256_permute2f128_pd(t[i], t[i + 2], 0x31));
    }
}

#pragma GCC pop_options

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
#define TRANS(d, ldd, s, lds) gemm_trans4_f64(d, ldd, s, lds)
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
#define TRANS(d, ldd, s, lds) gemm_trans8_f32(d, ldd, s, lds)
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
#define TRANS(d, ldd, s, lds) gemm_trans4_f64(d, ldd, s, lds)
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
#define TRANS(d, ldd, s, lds) gemm_trans8_f32(d, ldd, s, lds)
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

typedef struct gemm_job {
    const gemm_variant *v;
    size_t es;
    int ta, tb, acc;
    int64_t M, N, K, lda, ldb, ldc;
    const char *A, *B;
    char *C;
    int64_t mpan, npan; /* tiles of MR rows, panels of NR columns */
    int64_t tm, tn;     /* parts: tm row ranges by tn panel ranges */
    int64_t blk;        /* panels packed at a time */
    const char *kept;   /* all panels of op(B), packed before the call, or NULL */
    const char *bias;   /* C's columns' bias (gemm_opts), or NULL */
    const char *addend; /* read for C when accumulating (gemm_opts), or NULL */
} gemm_job;

/* rows r0 .. r1-1 by columns j0 .. j1-1 through the reference loop */
static void gemm_ref_part(const gemm_job *j, int64_t r0, int64_t r1, int64_t j0, int64_t j1)
{
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
    /* the thread's scratch: a block of B's panels, then MC rows of A^T */
    int64_t mc = GEMM_MC / v->mr * v->mr;
    size_t bbytes = j->kept ? 0 : panel * (size_t)j->blk;
    size_t abytes = j->ta ? (size_t)j->K * (size_t)mc * j->es : 0;
    /* a kept B and an untransposed A need no scratch: pool_scratch(0) may
     * be NULL then (a thread that never had any), which is no failure */
    char *buf = bbytes + abytes ? pool_scratch(bbytes + abytes) : NULL;
    if (bbytes + abytes && !buf) {
        atomic_fetch_add_explicit(&ref_fallbacks, 1, memory_order_relaxed);
        gemm_ref_part(j, r0, r1, q0 * v->nr, q1 * v->nr < j->N ? q1 * v->nr : j->N);
        return;
    }
    char *abuf = abytes ? buf + bbytes : NULL;
    for (int64_t p = q0; p < q1; p += j->kept ? q1 - q0 : j->blk) {
        int64_t pe = j->kept ? q1 : p + j->blk < q1 ? p + j->blk : q1;
        const char *pb = j->kept ? j->kept + (size_t)q0 * panel : buf;
        if (!j->kept)
            v->pack(j->tb, j->K, j->B, j->ldb, j->N, p, pe, buf);
        for (int64_t i = r0; i < r1; i += mc) {
            int64_t ie = i + mc < r1 ? i + mc : r1;
            if (abuf)
                v->pack_at(j->K, j->A, j->lda, i, ie, abuf);
            v->block(j->ta, j->K, j->A, j->lda, i, ie, pb, p, pe, j->N, j->C, j->ldc, j->acc, abuf,
                     j->bias, j->addend);
        }
    }
}

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Splits C among the threads: by panels or by rows, whichever leaves the
 * largest part smallest (panels on a tie: rows would pack B twice). */
static void gemm_split(gemm_job *j)
{
    int64_t T = cpu_threads();
    /* inside a part of a job (a row run) the other threads are busy */
    if (!gemm_splits((double)j->M, (double)j->N, (double)j->K, j->es) || pool_in_part())
        T = 1;
    int64_t tn = T < j->npan ? T : j->npan, tm = T < j->mpan ? T : j->mpan;
    int64_t by_cols = cdiv(j->npan, tn) * j->mpan, by_rows = cdiv(j->mpan, tm) * j->npan;
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
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    int64_t blk = (int64_t)((j->ta ? 3 * l2 / 2 : l2 / 2) / panel);
    /* no more than it has: a small product's scratch was 2 MiB a thread */
    j->blk = blk < 1 ? 1 : blk > j->npan ? j->npan : blk;
}

/* ---- kept packings ------------------------------------------------------------ */

/*
 * Between gemm_keep_begin() and gemm_keep_end() a product with a key
 * packs op(B) whole, once, and later products with that key (and the same
 * B, shape, layout and path) read the packing instead of packing again.
 * The table is the calling thread's own, or one it was lent for a pool
 * job (gemm_keep_lend: a row run's parts on the workers read the packings
 * of the run that started them). So one thread's run never frees what
 * another run's products read; a lock makes the parts of one run agree on
 * who packs. Its memory stays for the thread's life (freed at its end;
 * the main thread's at exit), at most GEMM_KEEP_BYTES; a product that
 * would pass that packs as usual.
 *
 * One slot serves a weight read both ways. The forward recurrence reads
 * W^T at every step and the backward W: kept apart they were 8 MiB at
 * H = 1024 float32, and S3's peak RSS passed its limit. The two are never
 * read at once: the forward's products have all ended before the
 * backward's start. Phases tell when that is: a product called outside
 * any part of a pool job, and a table handed to a new job
 * (gemm_keep_current), start a new phase, and a slot remembers the phase
 * it was last read in. Nothing of an earlier phase is being read any more
 * (the parts that read it have met), so a slot of the same key in the
 * other layout, last read in an earlier phase, is packed over; within one
 * phase (the parts of one job, which do not wait for each other) a slot
 * is never packed over. A slot is packed over so once per run: a third
 * change of layout (the forward recomputed in segments between the
 * backward's) takes a slot of its own, as before, rather than packing W
 * again for every segment. Nor is a slot kept across runs (a token's)
 * packed over: the next run would pack both layouts again.
 */
#define GEMM_KEEP_SLOTS 16
#define GEMM_KEEP_BYTES ((size_t)32 << 20)

typedef struct keep_slot {
    const void *key, *B;
    int64_t K, N, ldb;
    int tb;
    int flipped; /* packed over in the other layout in its run */
    const gemm_variant *v;
    uint64_t epoch;   /* the last run that used it */
    uint64_t phase;   /* the last phase of that run that used it */
    uint64_t token;   /* a parameter packed under this token, or 0 */
    atomic_int ready; /* its panels are written (0 while a part packs them) */
    char *panels;
    size_t bytes;
} keep_slot;

typedef struct keep_table {
    atomic_flag lock; /* keep_lock */
    keep_slot s[GEMM_KEEP_SLOTS];
    size_t total;
    uint64_t epoch; /* of the current run; 0 outside one */
    uint64_t runs;
    uint64_t phase; /* of the current phase (see above) */
    uint64_t token; /* of the current run (gemm_keep_begin) */
    int registered;
} keep_table;

static _Thread_local keep_table keep = {.lock = ATOMIC_FLAG_INIT};
/* the table this thread's products use: its own, or one lent to it */
static _Thread_local keep_table *keep_cur;
static pthread_key_t keep_key;
static pthread_once_t keep_once = PTHREAD_ONCE_INIT;

/* One turn of waiting for another part: a spin, yielding the core now
 * and then (more threads than cores), rather than a sleep. A mutex put
 * the two lanes' pieces of a product to sleep on each other about once a
 * step (min-char-rnn: 2,100 context switches in 2,000 steps, 15%
 * slower). */
static void keep_spin(unsigned n)
{
    if (n % 256)
        pool_relax();
    else
        sched_yield();
}

/* The table's lock is held for a lookup, short: a packing is done outside
 * it (keep_lookup). */
static void keep_lock(keep_table *t)
{
    for (unsigned n = 1; atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire); n++)
        keep_spin(n);
}

static void keep_unlock(keep_table *t)
{
    atomic_flag_clear_explicit(&t->lock, memory_order_release);
}

/* the kept bytes of every table, for gemm_keep_bytes */
static _Atomic size_t keep_all;

/* t's memory grew by delta bytes (which may wrap: a shrink) */
static void keep_count(keep_table *t, size_t delta)
{
    t->total += delta;
    atomic_fetch_add_explicit(&keep_all, delta, memory_order_relaxed);
}

static void keep_free(void *arg)
{
    keep_table *t = arg;
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++)
        free(t->s[i].panels);
    memset(t->s, 0, sizeof t->s);
    keep_count(t, 0 - t->total);
    t->epoch = 0;
    t->registered = 0;
}

static void keep_free_main(void)
{
    keep_free(&keep);
}

static void keep_init(void)
{
    pthread_key_create(&keep_key, keep_free);
    atexit(keep_free_main);
}

void gemm_keep_begin(uint64_t token)
{
    /* on its own thread: the packings of a run whose parts all ran on
     * workers (lent the table) are freed at this thread's end too */
    if (!keep.registered) {
        pthread_once(&keep_once, keep_init);
        keep.registered = 1;
        pthread_setspecific(keep_key, &keep);
    }
    keep_cur = &keep;
    keep.epoch = ++keep.runs;
    keep.token = token;
}

void gemm_keep_end(void)
{
    keep.epoch = 0;
}

void *gemm_keep_lend(void *table)
{
    void *was = keep_cur;
    keep_cur = table;
    return was;
}

void *gemm_keep_current(void)
{
    /* the parts of the job it is lent to are a phase of their own */
    if (keep_cur) {
        keep_lock(keep_cur);
        keep_cur->phase++;
        keep_unlock(keep_cur);
    }
    return keep_cur;
}

size_t gemm_keep_bytes(void)
{
    return atomic_load_explicit(&keep_all, memory_order_relaxed);
}

static int keep_same(const keep_slot *s, const gemm_job *j)
{
    return s->B == j->B && s->K == j->K && s->N == j->N && s->ldb == j->ldb && s->tb == j->tb &&
           s->v == j->v;
}

/* A slot of table t for j's op(B) under key, to pack into: the same
 * key's other layout if that may be packed over (see above), else a free
 * slot, else one no product of this run has used; never one read in this
 * phase. NULL when all are taken. */
static keep_slot *keep_victim(keep_table *t, const void *key, size_t need, int *flip)
{
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++) {
        keep_slot *s = &t->s[i];
        if (s->key == key && s->epoch == t->epoch && s->phase != t->phase && !s->flipped &&
            !s->token) {
            *flip = 1;
            return s;
        }
    }
    /* of the others: the one that held this key, else one large enough
     * (a packing put in a smaller slot grows it while the larger stays),
     * else any */
    keep_slot *any = NULL, *fits = NULL;
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++) {
        keep_slot *s = &t->s[i];
        if (s->key && s->epoch == t->epoch)
            continue;
        if (s->key == key)
            return s;
        if (!fits && s->bytes >= need)
            fits = s;
        if (!any)
            any = s;
    }
    return fits ? fits : any;
}

/* The slot of j's op(B) under key in table t (locked): kept (its panels
 * maybe still being written by another part), or claimed for the caller
 * to pack (*pack set), or NULL. A parameter's (bconst) packed in an
 * earlier run under this run's token is still good. */
static keep_slot *keep_find(keep_table *t, const gemm_job *j, const void *key, int bconst,
                            int *pack)
{
    keep_slot *s = NULL;
    for (int i = 0; i < GEMM_KEEP_SLOTS && !s; i++)
        if (t->s[i].key == key && keep_same(&t->s[i], j))
            s = &t->s[i];
    if (s && (s->epoch == t->epoch || (bconst && t->token && s->token == t->token))) {
        s->epoch = t->epoch;
        s->phase = t->phase;
        return s;
    }
    size_t need = (size_t)j->npan * (size_t)j->K * (size_t)j->v->nr * j->es;
    int flip = 0;
    if (!s)
        s = keep_victim(t, key, need, &flip);
    if (!s || t->total - s->bytes + need > GEMM_KEEP_BYTES)
        return NULL;
    if (s->bytes < need) {
        /* the old memory first (not read in this phase), so that it
         * leaves no hole behind in the heap (kernels/pool.c) */
        free(s->panels);
        keep_count(t, 0 - s->bytes);
        memset(s, 0, sizeof *s);
        s->panels = aligned_alloc(64, (need + 63) / 64 * 64);
        if (!s->panels)
            return NULL;
        s->bytes = (need + 63) / 64 * 64;
        keep_count(t, s->bytes);
    }
    *pack = 1;
    atomic_store_explicit(&s->ready, 0, memory_order_relaxed);
    s->key = key;
    s->B = j->B;
    s->K = j->K;
    s->N = j->N;
    s->ldb = j->ldb;
    s->tb = j->tb;
    s->v = j->v;
    s->epoch = t->epoch;
    s->phase = t->phase;
    s->flipped = flip;
    s->token = bconst ? t->token : 0;
    return s;
}

static const char *keep_lookup(const gemm_job *j, const gemm_opts *o)
{
    keep_table *t = keep_cur;
    if (!o || !o->bkey || !t)
        return NULL;
    keep_lock(t);
    /* outside a part nothing else reads t now: a new phase */
    t->phase += !pool_in_part();
    int pack = 0;
    keep_slot *s = t->epoch ? keep_find(t, j, o->bkey, o->bconst, &pack) : NULL;
    keep_unlock(t);
    if (s && pack) {
        j->v->pack(j->tb, j->K, j->B, j->ldb, j->N, 0, j->npan, s->panels);
        atomic_store_explicit(&s->ready, 1, memory_order_release);
    }
    /* another part is packing it: with nowait this one packs its own
     * panels (the same bits). Waiting made the other lane idle while the
     * first piece of the output projection packed a weight larger than
     * the L2 (V = 5000, H = 256, batch 1: 4.8 -> 5.5 ms a step). The parts
     * of a row run want the recurrent weight at once and wait: packing
     * their own grew their scratch, and S3's peak passed its limit. */
    for (unsigned n = 1; s && !o->nowait && !atomic_load_explicit(&s->ready, memory_order_acquire);
         n++)
        keep_spin(n);
    return s && atomic_load_explicit(&s->ready, memory_order_acquire) ? s->panels : NULL;
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
        s.B = j->B + (size_t)(j->tb ? c0 * j->ldb : c0) * j->es;
        s.C = j->C + (size_t)c0 * j->es;
        s.bias = j->bias ? j->bias + (size_t)c0 * j->es : NULL;
        s.addend = j->addend ? j->addend + (size_t)c0 * j->es : NULL;
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
    j.mpan = cdiv(M, j.v->mr);
    j.npan = cdiv(N, j.v->nr);
    gemm_split(&j);
    j.kept = keep_lookup(&j, o);
    int cls = o ? o->cls : -1;
    /* in one block only: a larger op(B) is better packed by each thread
     * for its own panels, in its own cache (1024 x 1024 x 2048, A^T: 165
     * GFLOP/s so against 140 shared, loaded machine) */
    if (!j.kept && j.tm * j.tn > 1 && (j.tm > 1 || j.ta) && j.npan <= j.blk && gemm_shared(&j, cls))
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
