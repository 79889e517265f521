/*
 * test_smallmm.c - the small matrix products of kernels/smallmm.c against
 * their plain reference loop (one fma chain per element, over k in
 * order): the same bits for every size up to the limits (odd ones, a
 * partial last vector of every length), both layouts of A, leading
 * dimensions wider than the rows, operands at every offset from a 64-byte
 * boundary, writing and accumulating, with a bias and without, float64
 * and float32, on every vector
 * path the CPU has; no element of C outside the product is touched, and a
 * product beyond the limits is declined. Through the matmul op, a product
 * large enough to be split by columns among the threads (ops/matmul.c)
 * gives the reference's bits on 1, 2 and 3 threads, and used more than one.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "kernels/smallmm.h"
#include "ops/ops.h"

static uint64_t seed = 7;

static double uniform(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Runs one product both ways on copies of the same C (guard elements
 * around it) and compares every bit; returns 0 if the kernel declined.
 * mode: 1 accumulates, 2 adds a bias (off its alignment as the rest). */
#define CHECK_ONE(T, fn, ref)                                                                      \
    static int check_##T(int ta, int64_t M, int64_t N, int64_t K, int64_t pad, int off, int mode)  \
    {                                                                                              \
        int64_t lda = (ta ? M : K) + pad, ldb = N + pad, ldc = N + pad;                            \
        int64_t na = (ta ? K : M) * lda, nb = K * ldb, nc = M * ldc + 32;                          \
        int acc = mode & 1;                                                                        \
        /* one block, each operand at off elements from a 64-byte boundary */                      \
        size_t bytes = (size_t)(na + nb + 2 * nc + N + 5 * 16 + 64) * sizeof(T);                   \
        char *mem = aligned_alloc(64, (bytes + 63) / 64 * 64);                                     \
        if (!mem) {                                                                                \
            CHECK(mem);                                                                            \
            return 1;                                                                              \
        }                                                                                          \
        T *A = (T *)mem + off;                                                                     \
        T *B = (T *)((char *)mem + ((na + off) * sizeof(T) + 63) / 64 * 64) + off;                 \
        T *C1 = (T *)((char *)mem + ((B - (T *)mem + nb) * sizeof(T) + 63) / 64 * 64) + off;       \
        T *C2 = (T *)((char *)mem + ((C1 - (T *)mem + nc) * sizeof(T) + 63) / 64 * 64) + off;      \
        T *bias = (T *)((char *)mem + ((C2 - (T *)mem + nc) * sizeof(T) + 63) / 64 * 64) + off;    \
        for (int64_t i = 0; i < N; i++)                                                            \
            bias[i] = (T)uniform();                                                                \
        for (int64_t i = 0; i < na; i++)                                                           \
            A[i] = (T)uniform();                                                                   \
        for (int64_t i = 0; i < nb; i++)                                                           \
            B[i] = (T)uniform();                                                                   \
        for (int64_t i = 0; i < nc; i++)                                                           \
            C1[i] = C2[i] = (T)uniform();                                                          \
        int done = fn(ta, M, N, K, A, lda, B, ldb, C1, ldc, acc, mode & 2 ? bias : NULL);          \
        ref(ta, M, N, K, A, lda, B, ldb, C2, ldc, acc, mode & 2 ? bias : NULL);                    \
        if (done && memcmp(C1, C2, (size_t)nc * sizeof(T))) {                                      \
            int64_t i = 0;                                                                         \
            while (C1[i] == C2[i])                                                                 \
                i++;                                                                               \
            CHECKF(0,                                                                              \
                   "%s ta %d M %lld N %lld K %lld pad %lld off %d mode %d: element %lld "          \
                   "%.17g, reference %.17g",                                                       \
                   #T, ta, (long long)M, (long long)N, (long long)K, (long long)pad, off, mode,    \
                   (long long)i, (double)C1[i], (double)C2[i]);                                    \
        }                                                                                          \
        free(mem);                                                                                 \
        return done;                                                                               \
    }
CHECK_ONE(double, smm_f64, smm_ref_f64)
CHECK_ONE(float, smm_f32, smm_ref_f32)

static const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 129};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* every path the CPU has, then the one chosen at start */
static void each_width(void (*body)(int width))
{
    int was = smm_set_width(64);
    int widths[] = {64, 32};
    for (int w = 0; w < 2; w++) {
        smm_set_width(widths[w]);
        if (smm_set_width(widths[w]) == widths[w])
            body(widths[w]);
    }
    smm_set_width(was);
}

static void sizes_body(int width)
{
    (void)width;
    for (int64_t M = 1; M <= SMM_MAX_M; M++)
        for (int in = 0; in < NSIZES; in++)
            for (int ik = 0; ik < NSIZES; ik += 2)
                for (int ta = 0; ta < 2; ta++) {
                    int64_t N = sizes[in], K = sizes[ik];
                    CHECK(check_double(ta, M, N, K, 0, 0, (int)(N + K + M) % 4));
                    CHECK(check_float(ta, M, N, K, 0, 0, (int)(N + K + M + 1) % 4));
                }
}

/* odd sizes, each layout, writing and accumulating, float64 and float32 */
static void test_sizes(void)
{
    each_width(sizes_body);
}

static void layout_body(int width)
{
    (void)width;
    for (int off = 0; off < 9; off++)
        for (int64_t pad = 0; pad < 4; pad += 3)
            for (int mode = 0; mode < 4; mode++)
                for (int ta = 0; ta < 2; ta++) {
                    CHECK(check_double(ta, 3, 37, 19, pad, off, mode));
                    CHECK(check_float(ta, 1, 101, 23, pad, off, mode));
                    CHECK(check_float(ta, 4, 17, 5, pad, off, mode));
                }
}

/* alignment and leading dimensions: guard elements past each row of C
 * (pad) must keep their values */
static void test_alignment(void)
{
    each_width(layout_body);
}

/* one row past the bound of more rows (up to SMM_MAX_KN1): an LSTM gate
 * at 1000 units, odd widths */
static void large_row_body(int width)
{
    (void)width;
    CHECK(check_float(0, 1, 1000, 1003, 0, 0, 3));
    CHECK(check_double(0, 1, 777, 2049, 0, 0, 1));
}

/* the recurrence of min-char-rnn and of the S4 benchmark */
static void test_model_sizes(void)
{
    if (smm_set_width(64) == 0) {
        printf("  (no vector path on this CPU: the kernels decline, BLAS runs)\n");
        return;
    }
    CHECK(check_double(0, 1, 100, 100, 0, 0, 1));
    CHECK(check_double(0, 1, 100, 100, 0, 0, 0));
    CHECK(check_double(0, 1, 100, 100, 0, 0, 3));
    CHECK(check_float(0, 1, 128, 128, 0, 0, 1));
    CHECK(check_float(0, 1, 128, 128, 0, 0, 3));
    CHECK(check_float(0, 1, 512, 512, 0, 0, 0));
    each_width(large_row_body);
}

static void test_limits(void)
{
    double a[4] = {1, 2, 3, 4}, c[4] = {0};
    CHECK(smm_f64(0, SMM_MAX_M + 1, 1, 1, a, 1, a, 1, c, 1, 0, NULL) == 0);
    CHECK(smm_f64(0, 2, 1, SMM_MAX_K + 1, a, 1, a, 1, c, 1, 0, NULL) == 0);
    CHECK(smm_f64(0, 2, SMM_MAX_KN + 1, 1, a, 1, a, 1, c, 1, 0, a) == 0);
    CHECK(smm_f64(0, 1, 1, SMM_MAX_K1 + 1, a, 1, a, 1, c, 1, 0, NULL) == 0);
    CHECK(smm_f64(0, 1, SMM_MAX_KN1 + 1, 1, a, 1, a, 1, c, 1, 0, a) == 0);
    /* one row takes a larger B than more rows do */
    CHECK(smm_size_fits(1, SMM_MAX_KN + 1, 1) && !smm_size_fits(2, SMM_MAX_KN + 1, 1));
    CHECK(smm_f64(0, 0, 1, 1, a, 1, a, 1, c, 1, 0, NULL) == 0);
    CHECK(c[0] == 0);
    int was = smm_set_width(0);
    CHECK(smm_f64(0, 1, 1, 1, a, 1, a, 1, c, 1, 0, NULL) == 0);
    smm_set_width(was);
}

/* x [M, K] W [K, N] + bias, through the op, accumulated onto C: against
 * the reference loop on each thread count, on 2 and 3 up to tries times;
 * the threads the op's products ran on at most */
static int split_product(dtype dt, int64_t M, int64_t K, int64_t N, int tries)
{
    graph g;
    uerr e = {0};
    CHECK_OK(graph_init(&g, dt, &e), &e);
    int32_t x = op_example_param(&g, shape_2(M, K), &e);
    int32_t w = op_example_param(&g, shape_2(K, N), &e);
    int32_t bias = op_example_param(&g, shape_1(N), &e);
    int32_t y = op_matmul(&g, x, w, 0, 0, &e);
    CHECK(y >= 0);
    gnode *n = &g.nodes[y];
    n->in[n->nin++] = bias; /* op_matmul_bias_input: input 2 */
    size_t es = dtype_size(dt);
    char *mem = malloc((size_t)(M * K + K * N + N + 3 * M * N) * es);
    char *A = mem, *B = A + (size_t)(M * K) * es, *bv = B + (size_t)(K * N) * es;
    char *C0 = bv + (size_t)N * es, *C = C0 + (size_t)(M * N) * es, *R = C + (size_t)(M * N) * es;
    for (int64_t i = 0; i < M * K + K * N + N + M * N; i++) {
        if (dt == DT_F32)
            ((float *)mem)[i] = (float)uniform();
        else
            ((double *)mem)[i] = uniform();
    }
    memcpy(R, C0, (size_t)(M * N) * es);
    if (dt == DT_F32)
        smm_ref_f32(0, M, N, K, (float *)A, K, (float *)B, N, (float *)R, N, 1, (float *)bv);
    else
        smm_ref_f64(0, M, N, K, (double *)A, K, (double *)B, N, (double *)R, N, 1, (double *)bv);
    pool_stats_reset();
    int was = cpu_threads(), most = 0;
    for (int th = 1; th <= 3; th++) {
        cpu_set_threads(th);
        /* a part is run by whichever thread claims it first: on a loaded
         * machine the caller may claim them all while the workers wait
         * for a core, so a split is tried, a millisecond apart, until
         * another thread has taken part (each try checked) */
        for (int try = 0; try < (th > 1 ? tries : 1) && most < 2; try++) {
            if (try)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
            memcpy(C, C0, (size_t)(M * N) * es);
            void *in[3] = {A, B, bv};
            op_table[OP_MATMUL]->accumulate(&g, n, in, C);
            CHECKF(!memcmp(C, R, (size_t)(M * N) * es), "%s %lldx%lldx%lld on %d threads",
                   dtype_name(dt), (long long)M, (long long)K, (long long)N, th);
            pool_stat st;
            for (int i = 0; pool_stats(i, &st); i++)
                most = st.max_threads > most ? st.max_threads : most;
        }
    }
    cpu_set_threads(was);
    free(mem);
    graph_free(&g);
    return most;
}

static void test_split_among_threads(void)
{
    if (!smm_takes(1, 1, 1))
        return; /* no vector path: gemm's */
    CHECK(split_product(DT_F32, 4, 400, 300, 2000) > 1);
    CHECK(split_product(DT_F64, 3, 333, 257, 2000) > 1);
    /* a product too small to split stays on one thread */
    CHECK(split_product(DT_F32, 1, 100, 100, 20) < 2);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_alignment);
    RUN(test_model_sizes);
    RUN(test_limits);
    RUN(test_split_among_threads);
    CHECK_EXIT();
}
