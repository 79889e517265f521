/*
 * test_gemm.c - kernels/gemm.c against its plain reference loop (one fma
 * chain per element over k in order): the same bits on every vector path
 * the CPU has, for odd sizes in every dimension and a few large ones, all
 * four transpose combinations, leading dimensions wider than the rows,
 * operands off 64-byte boundaries, writing and accumulating, float32 and
 * float64, on 1, 2 and 3 threads, with B packed per product and kept
 * across products (one slot for B and B^T in turn, never within one
 * job's parts); no element of C outside the product is
 * touched. The packings alone against their layouts, at row and panel
 * ranges that start and end anywhere. Also: the AVX-512 and AVX2 paths
 * agree with smallmm.h's kernel on the products matmul may send to either.
 */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/smallmm.h"

static uint64_t seed = 11;

static double uniform(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* n uniform floats into x, and the same into copy unless it is NULL */
static void uniforms(float *x, float *copy, int n)
{
    for (int i = 0; i < n; i++) {
        x[i] = (float)uniform();
        if (copy)
            copy[i] = x[i];
    }
}

/* One product by the reference, then by gemm on every path the CPU has
 * and (when it is large enough to be split) on 1, 2 and 3 threads, each
 * on a copy of the same C with guard elements around it; 1 if every bit
 * of every run agrees. mode: 1 accumulates, 2 adds a bias (off its
 * alignment as A and B are), 4 accumulates onto an addend laid out as C
 * (gemm_opts), against the reference on C holding the addend. */
#define CHECK_ONE(T, fn, ref)                                                                      \
    static int check_##T(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t pad, int off,    \
                         int mode)                                                                 \
    {                                                                                              \
        int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;                 \
        int64_t na = (ta ? K : M) * lda + off, nb = (tb ? N : K) * ldb + off;                      \
        int64_t nc = M * ldc + 2 * 16 + off;                                                       \
        size_t cb = (size_t)nc * sizeof(T);                                                        \
        T *A = malloc((size_t)na * sizeof(T)), *B = malloc((size_t)nb * sizeof(T));                \
        T *C0 = malloc(cb), *C1 = malloc(cb), *C2 = malloc(cb);                                    \
        T *bias = malloc((size_t)(N + off) * sizeof(T)), *bs = mode & 2 ? bias + off : NULL;       \
        T *ad = malloc(cb), *as = mode & 4 ? ad + 16 + off : NULL;                                 \
        int same = 1, was = cpu_path(), acc = (mode & 1) || as;                                    \
        int nth = gemm_splits((double)M, (double)N, (double)K, sizeof(T)) ? 3 : 1;                 \
        if (!A || !B || !C0 || !C1 || !C2 || !bias || !ad)                                         \
            same = 0;                                                                              \
        for (int64_t i = 0; same && i < na; i++)                                                   \
            A[i] = (T)uniform();                                                                   \
        for (int64_t i = 0; same && i < nb; i++)                                                   \
            B[i] = (T)uniform();                                                                   \
        for (int64_t i = 0; same && i < nc; i++) {                                                 \
            C0[i] = C2[i] = (T)uniform();                                                          \
            ad[i] = (T)uniform();                                                                  \
        }                                                                                          \
        for (int64_t i = 0; same && as && i < M; i++)                                              \
            memcpy(C2 + 16 + off + i * ldc, as + i * ldc, (size_t)N * sizeof(T));                  \
        for (int64_t i = 0; same && i < N + off; i++)                                              \
            bias[i] = (T)uniform();                                                                \
        if (same)                                                                                  \
            ref(ta, tb, M, N, K, A + off, lda, B + off, ldb, C2 + 16 + off, ldc, acc, bs);         \
        for (int p = 0; p < CPU_NPATHS && same; p++)                                               \
            for (int th = 1; th <= nth + 2 && same && cpu_set_path(p) >= 0; th++) {                \
                /* after the thread counts: B kept, packed (nth + 1), then reused */               \
                cpu_set_threads(th <= nth ? th : nth);                                             \
                gemm_opts o = {-1, th > nth ? (const void *)B : NULL, 0, bs, as};                  \
                if (th == nth + 1)                                                                 \
                    gemm_keep_begin(0);                                                            \
                memcpy(C1, C0, cb);                                                                \
                fn(ta, tb, M, N, K, A + off, lda, B + off, ldb, C1 + 16 + off, ldc, acc, &o);      \
                if (th == nth + 2)                                                                 \
                    gemm_keep_end();                                                               \
                same = !memcmp(C1, C2, cb);                                                        \
                int64_t i = 0;                                                                     \
                while (!same && C1[i] == C2[i])                                                    \
                    i++;                                                                           \
                CHECKF(same,                                                                       \
                       "%s %s %d threads ta %d tb %d M %lld N %lld K %lld pad %lld "               \
                       "off %d mode %d: element %lld %.17g, reference %.17g",                      \
                       #T, cpu_path_name(p), th, ta, tb, (long long)M, (long long)N, (long long)K, \
                       (long long)pad, off, mode, (long long)i, (double)C1[i], (double)C2[i]);     \
            }                                                                                      \
        cpu_set_path(was);                                                                         \
        free(bias);                                                                                \
        free(ad);                                                                                  \
        free(A);                                                                                   \
        free(B);                                                                                   \
        free(C0);                                                                                  \
        free(C1);                                                                                  \
        free(C2);                                                                                  \
        return same;                                                                               \
    }
CHECK_ONE(float, gemm_f32, gemm_ref_f32)
CHECK_ONE(double, gemm_f64, gemm_ref_f64)

static int check_both(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t pad, int off,
                      int mode)
{
    return check_float(ta, tb, M, N, K, pad, off, mode) &&
           check_double(ta, tb, M, N, K, pad, off, mode);
}

/* Every size from 1 to 70 in each dimension in turn (the others odd and
 * small), every transpose, all eight modes (writing, accumulating or onto
 * an addend, with a bias or without); stops at the first difference. */
static void test_small(void)
{
    int was = cpu_threads(), ok = 1;
    for (int t = 0; t < 4 && ok; t++)
        for (int64_t s = 1; s <= 70 && ok; s++) {
            int ta = t & 1, tb = t >> 1, mode = (int)((s + t) % 8), off = (int)(s % 5);
            int64_t pad = s % 3 ? 0 : 3;
            ok = check_both(ta, tb, s, 37, 19, pad, off, mode) &&
                 check_both(ta, tb, 13, s, 23, pad, off, mode ^ 1) &&
                 check_both(ta, tb, 9, 41, s, pad, off, mode ^ 2);
        }
    /* K = 0: C = 0, or C unchanged; and the bias added to either */
    ok = ok && check_both(0, 0, 5, 7, 0, 0, 0, 0) && check_both(1, 1, 5, 7, 0, 0, 0, 1) &&
         check_both(0, 1, 5, 7, 0, 0, 1, 2) && check_both(1, 0, 5, 7, 0, 0, 2, 3) &&
         check_both(0, 0, 5, 7, 0, 0, 1, 4) && check_both(1, 1, 5, 7, 0, 0, 2, 6);
    CHECK(ok);
    cpu_set_threads(was);
}

/* A panel larger than the L2 on every path (the generic one's is the
 * narrowest: 8 floats a row of K): K is taken in passes, the chains
 * carried through C, with the same bits; with a bias, added once at the
 * end. Accumulating, one pass. Rows of more than 64 tiles, so that this
 * is not a long sum into few outputs (test_long_sums). */
static void test_k_passes(void)
{
    int was = cpu_threads(), ok = 1;
    size_t l2 = cpu_get()->l2 ? cpu_get()->l2 : 256 * 1024;
    int64_t K = (int64_t)(l2 / (8 * sizeof(float))) + 1031;
    for (int t = 0; t < 4 && ok; t += 3)
        for (int mode = 0; mode < 3 && ok; mode++)
            ok = check_both(t & 1, t >> 1, 520, 1, K, t, mode, mode);
    CHECK(ok);
    cpu_set_threads(was);
}

/* A kept op(B) larger than half the L2 (the recurrence's W^T at H = 1024:
 * 4 MiB) is read in blocks of panels that fit there, every tile of rows
 * over one block before the next: the same chains, the same bits, on
 * every path (each path's panels are as wide as its vectors). Rows and
 * columns that end mid-tile and mid-panel. */
static void test_kept_blocks(void)
{
    int was = cpu_threads(), ok = 1;
    size_t l2 = cpu_get()->l2 ? cpu_get()->l2 : 256 * 1024;
    /* a third of the panels (three threads' share) still more than half the L2 */
    int64_t K = 256, N = (int64_t)(3 * l2 / (2 * (size_t)K * sizeof(float))) + 37;
    for (int t = 0; t < 4 && ok; t += 3)
        for (int mode = 0; mode < 3 && ok; mode++)
            ok = check_both(t & 1, t >> 1, 21, N, K, t, mode, mode * 2);
    CHECK(ok);
    cpu_set_threads(was);
}

/* A transposed A over a long K (the weight gradients over all steps:
 * kernels/gemm.c, gemm_passes_at): K in passes of a sixth of the L1's
 * worth of a tile's rows, the panels in blocks, the chains carried through
 * C, a bias added once at the end; rows and columns that end mid-tile and
 * mid-panel, too many tiles for a long sum into few outputs. Accumulating
 * and onto an addend, one pass. */
static void test_passes_at(void)
{
    int was = cpu_threads(), ok = 1;
    size_t l1 = cpu_get()->l1d ? cpu_get()->l1d : 32 * 1024;
    /* two passes at least on every path: the generic one's (4 rows a
     * tile) are the longest */
    int64_t K = (int64_t)(l1 / (3 * 4 * sizeof(float))) + 37;
    for (int tb = 0; tb < 2 && ok; tb++)
        for (int mode = 0; mode < 5 && ok; mode += 2)
            ok = check_both(1, tb, 101, 203, K, tb, mode + tb, mode ^ tb);
    CHECK(ok);
    cpu_set_threads(was);
}

/* Long sums into few outputs (kernels/gemm.c: gemm_thin, K at least 8
 * times M + N): K in passes sized by the L2, each part packing its own
 * share, the chains carried through C; rows and columns that end
 * mid-tile and mid-panel, a bias added once at the end. Accumulating and
 * onto an addend, the whole sum in one pass. */
static void test_long_sums(void)
{
    int was = cpu_threads(), ok = 1;
    for (int t = 0; t < 4 && ok; t++)
        for (int mode = 0; mode < 5 && ok; mode += 2)
            ok = check_both(t & 1, t >> 1, 17, 37, 4099, t % 2, mode + t, mode) &&
                 check_both(t & 1, t >> 1, 33, 65, 1031, 1, 2, mode ^ 2);
    CHECK(ok);
    cpu_set_threads(was);
}

/* Packing memory that cannot be had: the reference loop computes the
 * parts, with the same bits, a swapped product's (a few rows by a B
 * stored [N, K]) in its own layout too. */
static void test_no_scratch(void)
{
    int was = cpu_threads(), ok = 1;
    int64_t fell = gemm_ref_fallbacks();
    gemm_test_no_scratch(1);
    for (int mode = 0; mode < 8 && ok; mode++)
        ok = check_both(mode & 1, 1, 5 + mode, 37, 19, mode % 3, mode % 5, mode) &&
             check_both(mode & 1, mode >> 2, 40, 9, 33, 1, 2, mode);
    gemm_test_no_scratch(0);
    CHECK(ok);
    CHECKF(gemm_ref_fallbacks() > fell, "no part fell back to the reference loop");
    cpu_set_threads(was);
}

/* Large enough for several threads, blocks of panels and every edge. */
static void test_large(void)
{
    int was = cpu_threads(), ok = 1;
    for (int t = 0; t < 4 && ok; t++)
        ok = check_both(t & 1, t >> 1, 129, 257, 1031, 1, 3, t | (t & 1) << 2) &&
             check_both(t & 1, t >> 1, 67, 1031, 65, 0, 1, t ^ 3) &&
             check_both(t & 1, t >> 1, 2053, 7, 129, 2, 2, t ^ 2);
    CHECK(ok);
    cpu_set_threads(was);
}

/* The packings alone, element by element against their layouts
 * (gemm.h): every path the CPU has, both element sizes, K around the
 * blocks of rows and the transposes' blocks, N and row ranges that end
 * mid-panel or mid-tile and start past 0 (i0 off any multiple of MR),
 * leading dimensions wider than the rows, operands off 64-byte
 * boundaries; nothing written past the packing, nor in the lanes of a
 * last tile past i1. */
/* n elements of es bytes, uniform in [-1, 1) */
static unsigned char *random_elems(size_t n, size_t es)
{
    unsigned char *p = malloc(n * es);
    for (size_t i = 0; p && i < n; i++) {
        float f = (float)uniform();
        double d = uniform();
        memcpy(p + i * es, es == 4 ? (void *)&f : (void *)&d, es);
    }
    return p;
}

/* D holds E's n elements, then the 64 guard elements of 0xa5 bytes it
 * was filled with */
static int packed_as(const unsigned char *D, const unsigned char *E, size_t n, size_t es)
{
    int ok = !memcmp(D, E, n * es);
    for (size_t i = n * es; ok && i < (n + 64) * es; i++)
        ok = D[i] == 0xa5;
    return ok;
}

static int pack_one(size_t es, int tb, int64_t K, int64_t N, int64_t p0, int64_t pad, int off)
{
    int mr, nr;
    gemm_tile(es, &mr, &nr);
    int64_t npan = (N + nr - 1) / nr, ldb = (tb ? K : N) + pad;
    if (p0 >= npan)
        return 1;
    size_t nsrc = (size_t)((tb ? N : K) * ldb + off), ndst = (size_t)((npan - p0) * K * nr);
    unsigned char *B = random_elems(nsrc, es), *D = malloc((ndst + 64) * es), *E = calloc(ndst, es);
    int ok = B && D && E;
    if (ok) {
        memset(D, 0xa5, (ndst + 64) * es);
        gemm_pack_b(es, tb, K, B + off * es, ldb, N, p0, npan, D);
        for (int64_t p = p0; p < npan; p++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = p * nr; j < p * nr + nr && j < N; j++)
                    memcpy(E + (size_t)((p - p0) * K * nr + k * nr + j % nr) * es,
                           B + (size_t)(off + (tb ? j * ldb + k : k * ldb + j)) * es, es);
        ok = packed_as(D, E, ndst, es);
    }
    CHECKF(ok, "pack %s es %zu tb %d K %lld N %lld p0 %lld pad %lld off %d",
           cpu_path_name(cpu_path()), es, tb, (long long)K, (long long)N, (long long)p0,
           (long long)pad, off);
    free(B);
    free(D);
    free(E);
    return ok;
}

static int pack_at_one(size_t es, int64_t K, int64_t i0, int64_t n, int64_t pad, int off)
{
    int mr, nr;
    gemm_tile(es, &mr, &nr);
    int64_t lda = i0 + n + pad, tiles = (n + mr - 1) / mr;
    size_t nsrc = (size_t)(K * lda + off), ndst = (size_t)(tiles * K * mr);
    unsigned char *A = random_elems(nsrc, es), *D = malloc((ndst + 64) * es),
                  *E = malloc(ndst * es);
    int ok = A && D && E;
    if (ok) {
        memset(D, 0xa5, (ndst + 64) * es);
        memset(E, 0xa5, ndst * es);
        gemm_pack_at(es, K, A + off * es, lda, i0, i0 + n, D);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < K; k++)
                memcpy(E + (size_t)(i / mr * K * mr + k * mr + i % mr) * es,
                       A + (size_t)(off + k * lda + i0 + i) * es, es);
        ok = packed_as(D, E, ndst, es);
    }
    CHECKF(ok, "pack_at %s es %zu K %lld i0 %lld rows %lld pad %lld off %d",
           cpu_path_name(cpu_path()), es, (long long)K, (long long)i0, (long long)n, (long long)pad,
           off);
    free(A);
    free(D);
    free(E);
    return ok;
}

static void test_pack(void)
{
    static const int64_t ks[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 33, 100};
    static const int64_t ns[] = {1, 2, 5, 7, 8, 9, 16, 17, 31, 32, 33, 40, 65, 100};
    int was = cpu_path(), ok = 1;
    for (int p = 0; p < CPU_NPATHS && ok && cpu_set_path(p) >= 0; p++)
        for (size_t es = 4; es <= 8 && ok; es += 4)
            for (size_t a = 0; a < sizeof ks / sizeof ks[0] && ok; a++)
                for (size_t b = 0; b < sizeof ns / sizeof ns[0] && ok; b++) {
                    int64_t K = ks[a], N = ns[b], pad = (int64_t)((a + b) % 3), p0 = b % 2;
                    int off = (int)((a * 3 + b) % 5);
                    ok = pack_one(es, 0, K, N, p0, pad, off) &&
                         pack_one(es, 1, K, N, p0, pad, off) &&
                         pack_at_one(es, K, (int64_t)(b % 6), N, pad, off);
                }
    cpu_set_path(was);
}

static void test_paths(void)
{
    for (int p = 0; p < CPU_NPATHS; p++)
        if (p > cpu_get()->best)
            printf("SKIP path %s: not on this CPU\n", cpu_path_name(p));
    CHECK(cpu_set_path(cpu_get()->best) >= 0);
}

/* The pool ran products on more than one thread, and said so. Which
 * thread claims a part depends on the load (a worker the scheduler has
 * not run yet claims none), so products are repeated until one was
 * shared; on a machine this loaded the first one is. */
static void test_pool_counts(void)
{
    int was = cpu_set_threads(3);
    int cls = pool_class("test product");
    CHECK(cls >= 0);
    CHECK(pool_class("test product") == cls);
    enum { M = 192, N = 192, K = 256 };
    static float A[M * K], B[K * N], C[M * N];
    for (int i = 0; i < M * K; i++)
        A[i] = (float)uniform();
    for (int i = 0; i < K * N; i++)
        B[i] = (float)uniform();
    pool_stat s = {0};
    int calls = 0, found = 0;
    do {
        gemm_opts o = {cls, NULL, 0, NULL, NULL};
        gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, &o);
        calls++;
        found = 0;
        for (int i = 0; !found && pool_stats(i, &s); i++)
            found = !strcmp(s.name, "test product");
    } while (found && s.multi == 0 && calls < 2000);
    CHECKF(found && s.calls == calls && s.multi >= 1 && s.max_threads >= 2 && s.max_threads <= 3,
           "%d calls: counted %ld, %ld shared, at most %d threads", calls, s.calls, s.multi,
           s.max_threads);
    cpu_set_threads(was);
}

/* smallmm.h keeps the same contract: its products agree with gemm's. */
static void test_smallmm_agrees(void)
{
    enum { K = 100, N = 100 };
    static double A[4 * K], B[K * N], C1[4 * N], C2[4 * N];
    for (int i = 0; i < 4 * K; i++)
        A[i] = uniform();
    for (int i = 0; i < K * N; i++)
        B[i] = uniform();
    for (int64_t M = 1; M <= 4; M++) {
        if (!smm_f64(0, M, N, K, A, K, B, N, C1, N, 0, NULL))
            continue;
        gemm_f64(0, 0, M, N, K, A, K, B, N, C2, N, 0, NULL);
        CHECK(!memcmp(C1, C2, (size_t)(M * N) * sizeof(double)));
    }
}

/* A kept packing lives for one bracket: a new run (new bracket) sees
 * B's new values under the same key, and inside a bracket another B or
 * shape under the same key is packed anew. */
static void test_keep_scope(void)
{
    enum { M = 16, N = 40, K = 24 };
    static float A[M * K], B[K * N], B2[K * N], C[M * N], R[M * N];
    for (int i = 0; i < M * K; i++)
        A[i] = (float)uniform();
    for (int i = 0; i < K * N; i++)
        B2[i] = B[i] = (float)uniform();
    static const char key = 0;
    gemm_opts o = {-1, &key, 0, NULL, NULL};
    gemm_keep_begin(0);
    gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, &o);
    gemm_keep_end();
    for (int i = 0; i < K * N; i++)
        B[i] = (float)uniform();
    gemm_keep_begin(0);
    gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, &o);
    gemm_ref_f32(0, 0, M, N, K, A, K, B, N, R, N, 0, NULL);
    CHECK(!memcmp(C, R, sizeof C));
    gemm_f32(0, 0, M, N, K, A, K, B2, N, C, N, 0, &o);
    gemm_ref_f32(0, 0, M, N, K, A, K, B2, N, R, N, 0, NULL);
    CHECK(!memcmp(C, R, sizeof C));
    gemm_f32(0, 1, M, K, K, A, K, B2, K, C, K, 0, &o);
    gemm_ref_f32(0, 1, M, K, K, A, K, B2, K, R, K, 0, NULL);
    CHECK(!memcmp(C, R, (size_t)(M * K) * sizeof(float)));
    gemm_keep_end();
}

/* A parameter's packing (bconst) lasts across runs under one token: a run
 * under the same token reads the packing of the values it had then (the
 * caller promised they would not change; changed anyway, the old values
 * show), while a new token, token 0 or an operand that is not a parameter
 * packs the values B holds now. */
static void test_keep_token(void)
{
    enum { M = 16, N = 40, K = 24 };
    static float A[M * K], B[K * N], B0[K * N], C[M * N], R[M * N];
    uniforms(A, NULL, M * K);
    uniforms(B, B0, K * N);
    static const char key = 0;
    gemm_opts par = {-1, &key, 1, NULL, NULL}, act = {-1, &key, 0, NULL, NULL};
    const uint64_t tokens[4] = {7, 7, 8, 0};
    const gemm_opts *opts[4] = {&par, &par, &par, &act};
    for (int run = 0; run < 5; run++) {
        gemm_keep_begin(run < 4 ? tokens[run] : 0);
        gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, run < 4 ? opts[run] : &par);
        gemm_keep_end();
        /* run 1 reads run 0's packing: B0 */
        gemm_ref_f32(0, 0, M, N, K, A, K, run == 1 ? B0 : B, N, R, N, 0, NULL);
        CHECKF(!memcmp(C, R, sizeof C), "run %d", run);
        for (int i = 0; i < K * N; i++)
            B[i] = (float)uniform();
    }
}

/* A parameter read both ways under a token keeps a slot per layout: the
 * next run with that token reads both packings (the old values show),
 * rather than packing one over the other in every run. */
static void test_keep_token_both_ways(void)
{
    enum { M = 16, K = 40 };
    static float A[M * K], B[K * K], B0[K * K], C[M * K], R[M * K];
    uniforms(A, NULL, M * K);
    uniforms(B, B0, K * K);
    static const char key = 0;
    gemm_opts par = {-1, &key, 1, NULL, NULL};
    for (int run = 0; run < 2; run++) {
        gemm_keep_begin(12);
        for (int tb = 1; tb >= 0; tb--) {
            gemm_f32(0, tb, M, K, K, A, K, B, K, C, K, 0, &par);
            gemm_ref_f32(0, tb, M, K, K, A, K, B0, K, R, K, 0, NULL);
            CHECKF(!memcmp(C, R, sizeof C), "run %d, B%s", run, tb ? "^T" : "");
        }
        gemm_keep_end();
        uniforms(B, NULL, K * K);
    }
}

/* A kept B with an untransposed A needs no scratch at all, and a thread
 * that never had any (a fresh one: sampling's, a worker's) must still
 * run the vector kernels, not the reference loop kept for when packing
 * memory cannot be had (it once did: sampling ran 6x slower). */
static void *kept_in_fresh_thread(void *arg)
{
    enum { M = 16, N = 40, K = 24 };
    static float A[M * K], B[K * N], C[M * N], R[M * N];
    for (int i = 0; i < M * K; i++)
        A[i] = (float)uniform();
    for (int i = 0; i < K * N; i++)
        B[i] = (float)uniform();
    static const char key = 0;
    gemm_opts o = {-1, &key, 0, NULL, NULL};
    int64_t fell = gemm_ref_fallbacks();
    gemm_keep_begin(0);
    gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, &o);
    gemm_f32(0, 0, M, N, K, A, K, B, N, C, N, 0, &o);
    gemm_keep_end();
    gemm_ref_f32(0, 0, M, N, K, A, K, B, N, R, N, 0, NULL);
    *(int64_t *)arg = gemm_ref_fallbacks() - fell + (memcmp(C, R, sizeof C) ? 1000 : 0);
    return NULL;
}

static void test_keep_fresh_thread(void)
{
    pthread_t t;
    int64_t bad = -1;
    CHECK(pthread_create(&t, NULL, kept_in_fresh_thread, &bad) == 0);
    pthread_join(t, NULL);
    CHECKF(bad == 0, "%lld parts fell back to the reference loop (1000: wrong bits)",
           (long long)bad);
}

/*
 * One slot serves a weight read both ways (kernels/gemm.c). Products
 * called outside any part are each a phase of their own: under one key,
 * B^T then B packs over the first slot; a third change of layout in the
 * same run takes a slot of its own (the forward recomputed between the
 * backward's segments), and the next run packs into those two again.
 * The parts of one pool job are one phase: there the two layouts get a
 * slot each (one part may still read what the other would pack over).
 * Each product's bits are the reference's. In a fresh thread, whose table
 * starts empty; the other threads keep no packings meanwhile.
 */
enum { BW_M = 16, BW_K = 72 };
static float bw_A[BW_M * BW_K], bw_B[BW_K * BW_K];
static const char bw_key = 0;

/* 0 if gemm with op(B) = B^T (tb) or B gives the reference's bits */
static int bw_product(int tb)
{
    float C[BW_M * BW_K], R[BW_M * BW_K];
    gemm_opts o = {-1, &bw_key, 0, NULL, NULL};
    gemm_f32(0, tb, BW_M, BW_K, BW_K, bw_A, BW_K, bw_B, BW_K, C, BW_K, 0, &o);
    gemm_ref_f32(0, tb, BW_M, BW_K, BW_K, bw_A, BW_K, bw_B, BW_K, R, BW_K, 0, NULL);
    return memcmp(C, R, sizeof C) != 0;
}

typedef struct bw_job {
    void *table;
    _Atomic int bad, outside; /* outside: a part ran with !pool_in_part() */
} bw_job;

static void bw_part(void *ctx, int part, int thread)
{
    (void)thread;
    bw_job *j = ctx;
    void *was = gemm_keep_lend(j->table);
    j->outside |= !pool_in_part();
    j->bad |= bw_product(part & 1);
    gemm_keep_lend(was);
}

static void *both_ways(void *arg)
{
    size_t *got = arg; /* [run * 4 + product]: kept bytes; [8]: bad bits */
    uniforms(bw_A, NULL, BW_M * BW_K);
    uniforms(bw_B, NULL, BW_K * BW_K);
    size_t base = gemm_keep_bytes();
    for (int run = 0; run < 2; run++) {
        gemm_keep_begin(0);
        for (int i = 0; i < 4; i++) {
            got[8] |= (size_t)bw_product(!(i & 1));
            got[run * 4 + i] = gemm_keep_bytes() - base;
        }
        gemm_keep_end();
    }
    return NULL;
}

/* B and B^T as the two parts of one job on 3 threads */
static void *both_ways_job(void *arg)
{
    size_t *got = arg; /* kept bytes, parts run outside a part, bad bits */
    size_t base = gemm_keep_bytes();
    gemm_keep_begin(0);
    bw_job j = {.table = gemm_keep_current()};
    int was = cpu_set_threads(3);
    pool_for(-1, 2, bw_part, &j);
    cpu_set_threads(was);
    gemm_keep_end();
    got[0] = gemm_keep_bytes() - base;
    got[1] = (size_t)j.outside;
    got[2] = (size_t)j.bad;
    return NULL;
}

static void test_keep_both_ways(void)
{
    size_t got[9] = {0}, job[3] = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, both_ways, got) == 0);
    pthread_join(t, NULL);
    size_t one = got[0];
    CHECKF(got[8] == 0, "a kept packing gave other bits than the reference");
    CHECKF(one >= (size_t)BW_K * BW_K * sizeof(float), "B^T kept in %zu bytes", one);
    static const size_t slots[8] = {1, 1, 2, 2, 2, 2, 2, 2};
    for (int i = 0; i < 8; i++)
        CHECKF(got[i] == slots[i] * one, "run %d product %d: %zu bytes kept, want %zu x %zu", i / 4,
               i % 4, got[i], slots[i], one);
    CHECK(pthread_create(&t, NULL, both_ways_job, job) == 0);
    pthread_join(t, NULL);
    CHECKF(job[2] == 0, "a kept packing read in a job gave other bits than the reference");
    CHECKF(job[1] == 0, "the pool ran a part in line, not as a part");
    CHECKF(job[0] == 2 * one, "a job's parts read B and B^T: %zu bytes kept, want %zu", job[0],
           2 * one);
}

/* Parts of one job that read one keyed B at once (the pieces of a
 * stacked product, a row run's parts): whichever chunks of the packing
 * each writes, every product has the reference's bits, and one packing
 * is kept. B is large (2 MiB, 32 chunks), so the parts meet while it is
 * packed. */
enum { NW_M = 8, NW_N = 2048, NW_K = 256, NW_PARTS = 6 };
static float nw_A[NW_M * NW_K], nw_B[NW_K * NW_N], nw_C[NW_PARTS][NW_M * NW_N];
static const char nw_key = 0;

static void nw_part(void *ctx, int part, int thread)
{
    (void)thread;
    void *was = gemm_keep_lend(ctx);
    gemm_opts o = {-1, &nw_key, 0, NULL, NULL};
    gemm_f32(0, 0, NW_M, NW_N, NW_K, nw_A, NW_K, nw_B, NW_N, nw_C[part], NW_N, 0, &o);
    gemm_keep_lend(was);
}

static void *shared_pack_job(void *arg)
{
    size_t *got = arg; /* kept bytes, parts with other bits */
    uniforms(nw_A, NULL, NW_M * NW_K);
    uniforms(nw_B, NULL, NW_K * NW_N);
    static float R[NW_M * NW_N];
    gemm_ref_f32(0, 0, NW_M, NW_N, NW_K, nw_A, NW_K, nw_B, NW_N, R, NW_N, 0, NULL);
    size_t base = gemm_keep_bytes();
    gemm_keep_begin(0);
    void *table = gemm_keep_current();
    int was = cpu_set_threads(3);
    pool_for(-1, NW_PARTS, nw_part, table);
    cpu_set_threads(was);
    gemm_keep_end();
    got[0] = gemm_keep_bytes() - base;
    for (int p = 0; p < NW_PARTS; p++)
        got[1] += memcmp(nw_C[p], R, sizeof R) != 0;
    return NULL;
}

static void test_keep_packed_together(void)
{
    size_t got[2] = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, shared_pack_job, got) == 0);
    pthread_join(t, NULL);
    CHECKF(got[1] == 0, "%zu parts gave other bits than the reference", got[1]);
    CHECKF(got[0] >= (size_t)NW_K * NW_N * sizeof(float) &&
               got[0] < 2 * (size_t)NW_K * NW_N * sizeof(float),
           "%zu bytes kept for one packing of %zu", got[0], (size_t)NW_K * NW_N * sizeof(float));
}

static void test_env(void)
{
    uerr e = {0};
    CHECK(cpu_init(&e) == 0 || getenv("UNROLL_ISA") || getenv("UNROLL_THREADS"));
    const cpu_info *ci = cpu_get();
    CHECK(ci->cores >= 1 && ci->best >= CPU_GENERIC && ci->best < CPU_NPATHS);
    CHECK(cpu_set_path(CPU_NPATHS) == -1);
    char buf[160];
    CHECK(strstr(cpu_describe(buf, sizeof buf), cpu_path_name(cpu_path())) != NULL);
}

int main(void)
{
    RUN(test_env);
    RUN(test_paths);
    RUN(test_pack);
    RUN(test_small);
    RUN(test_large);
    RUN(test_long_sums);
    RUN(test_no_scratch);
    RUN(test_k_passes);
    RUN(test_kept_blocks);
    RUN(test_passes_at);
    RUN(test_keep_scope);
    RUN(test_keep_token);
    RUN(test_keep_token_both_ways);
    RUN(test_keep_fresh_thread);
    RUN(test_keep_both_ways);
    RUN(test_keep_packed_together);
    RUN(test_pool_counts);
    RUN(test_smallmm_agrees);
    CHECK_EXIT();
}
