/*
 * matmul.c - C = op(A) op(B) on 2-D tensors through cblas, op(X) = X or X^T
 * (ip[0] for A, ip[1] for B). The transpose flags let gradients and the
 * batched recurrence (H W^T) use stored layouts without copies. Products
 * of up to SMM_MAX_M rows with B untransposed (batch 1) run in
 * kernels/smallmm.c where the CPU has the vectors for it: there a BLAS call
 * costs more than its arithmetic.
 */
#include "ops/ops.h"

#include <cblas.h>
#include <time.h>

#include "kernels/smallmm.h"

static void mm_dims(const gnode *a, const gnode *b, const gnode *n, int64_t *M, int64_t *K,
                    int64_t *K2, int64_t *N)
{
    *M = n->ip[0] ? a->shape.dim[1] : a->shape.dim[0];
    *K = n->ip[0] ? a->shape.dim[0] : a->shape.dim[1];
    *K2 = n->ip[1] ? b->shape.dim[1] : b->shape.dim[0];
    *N = n->ip[1] ? b->shape.dim[0] : b->shape.dim[1];
}

static int matmul_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return op_shape_error(g, n, e, "expected two matrices");
    if (a->dt != g->dt || b->dt != g->dt)
        return op_shape_error(g, n, e, "expected floating inputs of the graph's dtype");
    int64_t M, K, K2, N;
    mm_dims(a, b, n, &M, &K, &K2, &N);
    if (K != K2)
        return op_shape_error(g, n, e, "inner dimensions differ");
    n->dt = a->dt;
    n->shape = shape_2(M, N);
    return 0;
}

/*
 * Threads. A product under BLAS_ONE_FLOPS runs on one thread: waking
 * OpenBLAS's pool costs more than it takes (a 100 x 100 matrix-vector
 * product: 0.7 us alone, 6 us with the pool). One over BLAS_POOL_FLOPS gets
 * the pool OpenBLAS was configured with. In between (a 32-row recurrent
 * product of 256 units: 4 MFLOP, 50 us) it depends on the machine and on
 * what else runs on it: with a second core free the pool wins by a third,
 * with another process on it the pool loses. So after BLAS_TUNE_SKIP, the
 * next BLAS_TUNE_CALLS products of that size alternate between one thread
 * and the pool, each timed, and the faster is kept for the rest of the
 * process. Results do not
 * depend on it: OpenBLAS gives threads rows and columns, never parts of a
 * sum. The setting is process-wide, as OpenBLAS's is, and only changed when
 * it differs.
 */
#define BLAS_ONE_FLOPS 2e6
#define BLAS_POOL_FLOPS 16e6
#define BLAS_TUNE_SKIP 16
#define BLAS_TUNE_CALLS 64

static struct {
    int pool, current;      /* OpenBLAS's configured threads; the setting now */
    int mid;                /* -1 while tuning, else the threads for mid sizes */
    int calls;
    /* each tuning call's time per FLOP, on one thread and on the pool */
    double rate[2][BLAS_TUNE_CALLS / 2];
    int n[2];
} blas = {.pool = -1, .current = -1, .mid = -1};

static double blas_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void blas_set(int want)
{
    if (want != blas.current) {
        openblas_set_num_threads(want);
        blas.current = want;
    }
}

/* Sets the threads for a product of flops; returns 0 or 1 (which tuning
 * sample the caller is to time) or -1 (nothing to time). */
static int blas_threads(double flops)
{
    if (blas.pool < 0)
        blas.pool = blas.current = openblas_get_num_threads();
    if (flops < BLAS_ONE_FLOPS || blas.pool == 1) {
        blas_set(1);
        return -1;
    }
    if (flops >= BLAS_POOL_FLOPS) {
        blas_set(blas.pool);
        return -1;
    }
    if (blas.mid > 0) {
        blas_set(blas.mid);
        return -1;
    }
    /* the first calls pay for first touches of memory: not timed */
    int k = blas.calls++ - BLAS_TUNE_SKIP, which = (k < 0 ? -k : k) % 2;
    blas_set(which ? blas.pool : 1);
    return k < 0 ? -1 : which;
}

static double median_of(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? v[n / 2] : 0;
}

/* The median time per FLOP decides: a call the scheduler interrupted
 * does not. */
static void blas_timed(int which, double secs, double flops)
{
    if (blas.n[which] < BLAS_TUNE_CALLS / 2)
        blas.rate[which][blas.n[which]++] = secs / flops;
    if (blas.calls >= BLAS_TUNE_SKIP + BLAS_TUNE_CALLS) {
        double one = median_of(blas.rate[0], blas.n[0]);
        double pool = median_of(blas.rate[1], blas.n[1]);
        blas.mid = pool < one ? blas.pool : 1;
    }
}

static void matmul_blas(const gnode *n, const gnode *a, const gnode *b, void *const *in,
                        void *out, double beta, int64_t M, int64_t N, int64_t K);

/*
 * C = op(A) op(B) + beta C. A is [M,K] (or [K,M] when transposed), B is
 * [K,N] (or [N,K]), C is [M,N]. A one-row (M = 1) or one-column (N = 1)
 * product is a matrix-vector product: OpenBLAS's gemm packs both
 * operands even then (a 1 x 1024 by 1024 x 1024 product: 770 us as gemm,
 * 56 us as gemv). A row of A or a column of B is contiguous in either
 * layout, so it is the vector as stored.
 */
static void matmul_run(const graph *g, const gnode *n, void *const *in, void *out, double beta)
{
    const gnode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    int64_t M, K, K2, N;
    mm_dims(a, b, n, &M, &K, &K2, &N);
    /* A few rows by an untransposed B (the recurrence at batch 1, which
     * the plan gives W^T): our own kernel, if it takes the product */
    if (!n->ip[1] && M <= SMM_MAX_M) {
        int64_t lda = a->shape.dim[1], ldb = b->shape.dim[1];
        int done = n->dt == DT_F32 ? smm_f32((int)n->ip[0], M, N, K, in[0], lda, in[1], ldb,
                                             out, N, beta != 0)
                                   : smm_f64((int)n->ip[0], M, N, K, in[0], lda, in[1], ldb,
                                             out, N, beta != 0);
        if (done)
            return;
    }
    double flops = 2.0 * (double)M * (double)N * (double)K;
    int tune = blas_threads(flops);
    double t0 = tune >= 0 ? blas_now() : 0;
    matmul_blas(n, a, b, in, out, beta, M, N, K);
    if (tune >= 0)
        blas_timed(tune, blas_now() - t0, flops);
}

static void matmul_blas(const gnode *n, const gnode *a, const gnode *b, void *const *in,
                        void *out, double beta, int64_t M, int64_t N, int64_t K)
{
    enum CBLAS_TRANSPOSE ta = n->ip[0] ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = n->ip[1] ? CblasTrans : CblasNoTrans;
    blasint lda = (blasint)a->shape.dim[1], ldb = (blasint)b->shape.dim[1];
    if (M == 1 && N > 1 && K > 1) {
        /* c = op(B)^T a: B stored [K,N] is read transposed, [N,K] as is */
        enum CBLAS_TRANSPOSE t = n->ip[1] ? CblasNoTrans : CblasTrans;
        blasint rows = (blasint)b->shape.dim[0], cols = (blasint)b->shape.dim[1];
        if (n->dt == DT_F32)
            cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, in[1], ldb, in[0], 1, (float)beta,
                        out, 1);
        else
            cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, in[1], ldb, in[0], 1, beta, out, 1);
        return;
    }
    if (N == 1 && M > 1 && K > 1) {
        /* c = op(A) b */
        blasint rows = (blasint)a->shape.dim[0], cols = (blasint)a->shape.dim[1];
        if (n->dt == DT_F32)
            cblas_sgemv(CblasRowMajor, ta, rows, cols, 1.0f, in[0], lda, in[1], 1, (float)beta,
                        out, 1);
        else
            cblas_dgemv(CblasRowMajor, ta, rows, cols, 1.0, in[0], lda, in[1], 1, beta, out, 1);
        return;
    }
    if (n->dt == DT_F32)
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, 1.0f, in[0],
                    lda, in[1], ldb, (float)beta, out, (blasint)N);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, 1.0, in[0], lda,
                    in[1], ldb, beta, out, (blasint)N);
}

static void matmul_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    matmul_run(g, n, in, out, 0.0);
}

/* out += op(A) op(B): BLAS adds each block of K's partial product into
 * out in turn, so for K beyond its block size this rounds differently
 * from adding the finished product once (the planner only asks for it
 * when that is allowed) */
void op_matmul_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    matmul_run(g, n, in, out, 1.0);
}

/*
 * With C = op(A) op(B) and G = dL/dC:
 *   ta tb | dA            | dB
 *   0  0  | G B^T         | A^T G
 *   0  1  | G B           | G^T A
 *   1  0  | B G^T         | A G
 *   1  1  | B^T G^T       | G^T A^T
 */
static int32_t matmul_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined,
                            uerr *e)
{
    (void)undefined;
    const gnode *n = &g->nodes[node];
    int32_t a = n->in[0], b = n->in[1];
    int ta = (int)n->ip[0], tb = (int)n->ip[1];
    if (i == 0) {
        if (!ta)
            return op_matmul(g, gout, b, 0, !tb, e);
        return tb ? op_matmul(g, b, gout, 1, 1, e) : op_matmul(g, b, gout, 0, 1, e);
    }
    if (!tb)
        return ta ? op_matmul(g, a, gout, 0, 0, e) : op_matmul(g, a, gout, 1, 0, e);
    return ta ? op_matmul(g, gout, a, 1, 1, e) : op_matmul(g, gout, a, 1, 0, e);
}

/* all four transpose combinations in one expression */
static int32_t matmul_example(graph *g, uerr *e)
{
    int32_t a = op_example_param(g, shape_2(3, 4), e);
    int32_t b = op_example_param(g, shape_2(4, 5), e);
    int32_t at = op_example_param(g, shape_2(4, 3), e);
    int32_t bt = op_example_param(g, shape_2(5, 4), e);
    int32_t c00 = op_matmul(g, a, b, 0, 0, e);
    int32_t c01 = op_matmul(g, a, bt, 0, 1, e);
    int32_t c10 = op_matmul(g, at, b, 1, 0, e);
    int32_t c11 = op_matmul(g, at, bt, 1, 1, e);
    return op_add(g, op_add(g, c00, c01, e), op_add(g, c10, c11, e), e);
}

const op_def op_def_MATMUL = {
    .name = "matmul",
    .arity = 2,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .bprop = matmul_bprop,
    .example = matmul_example,
};
