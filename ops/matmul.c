/*
 * matmul.c - C = op(A) op(B) on 2-D tensors, op(X) = X or X^T (ip[0] for
 * A, ip[1] for B). The transpose flags let gradients and the batched
 * recurrence (H W^T) use stored layouts without copies. The plan's own
 * products (engine/plan_fold.c) may also, in this order,
 *   - be added into the rows a gather picks (ip[3] = 1 + the gather's
 *     ip[0]; its table and indices are inputs 2 and 3) or onto an
 *     addend (ip[3] = MM_ADDEND, input 2, read in C's stead),
 *   - add a bias [N] (the next input),
 *   - apply an activation (ip[2]: OP_TANH or OP_SIGMOID) to the result,
 *     or an activation's gradient (OP_TANH_GRAD, OP_SIGMOID_GRAD: the
 *     result is the gradient that arrives, the last input the
 *     activation's output),
 * before the kernel returns: the same values, rounded the same way, as
 * the nodes they replace; graphs of ops never build one (op_matmul takes
 * two). The arithmetic is kernels/gemm.c's (and smallmm.c's for a few
 * rows): its bits depend on the operands only, never on threads, vector
 * width or timing. BLAS is not called here.
 */
#include "ops/ops.h"

#include <string.h>

#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/smallmm.h"

static void mm_dims(const gnode *a, const gnode *b, const gnode *n, int64_t *M, int64_t *K,
                    int64_t *K2, int64_t *N)
{
    *M = n->ip[0] ? a->shape.dim[1] : a->shape.dim[0];
    *K = n->ip[0] ? a->shape.dim[0] : a->shape.dim[1];
    *K2 = n->ip[1] ? b->shape.dim[1] : b->shape.dim[0];
    *N = n->ip[1] ? b->shape.dim[0] : b->shape.dim[1];
}

/* The gather a product adds (ip[3]), as a node of the product's graph. */
static gnode mm_gather(const gnode *n)
{
    return (gnode){.op = OP_GATHER,
                   .dt = n->dt,
                   .nin = 2,
                   .in = {n->in[2], n->in[3]},
                   .ip = {n->ip[3] - 1},
                   .shape = n->shape};
}

/* An activation's gradient, whose forward output y is the last input. */
static int mm_grad_act(const gnode *n)
{
    return n->ip[2] == OP_TANH_GRAD || n->ip[2] == OP_SIGMOID_GRAD;
}

int op_matmul_bias_input(const gnode *n)
{
    int first = 2 + (n->ip[3] == MM_ADDEND ? 1 : n->ip[3] ? 2 : 0);
    return n->nin > first + mm_grad_act(n) ? first : -1;
}

/* a folded input of shape [M, N], as the product's output */
static int like_output(const graph *g, const gnode *n, int k, int64_t M, int64_t N)
{
    if (k < 2 || k >= n->nin)
        return 0;
    const gnode *x = &g->nodes[n->in[k]];
    return x->dt == g->dt && x->shape.rank == 2 && x->shape.dim[0] == M && x->shape.dim[1] == N;
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
    if (n->ip[3] == MM_ADDEND && !like_output(g, n, 2, M, N))
        return op_shape_error(g, n, e, "expected an addend of the product's shape");
    if (n->ip[3] && n->ip[3] != MM_ADDEND) {
        gnode gn = mm_gather(n);
        if (n->nin < 4 || op_table[OP_GATHER]->infer(g, &gn, e))
            return e->code ? e->code : op_shape_error(g, n, e, "expected a gather's inputs");
        if (gn.shape.dim[0] != M || gn.shape.dim[1] != N)
            return op_shape_error(g, n, e, "expected a gather of the product's shape");
    }
    int bi = op_matmul_bias_input(n);
    const gnode *c = bi >= 0 ? &g->nodes[n->in[bi]] : NULL;
    if (c && (c->dt != g->dt || c->shape.rank != 1 || c->shape.dim[0] != N))
        return op_shape_error(g, n, e, "expected a bias of the product's columns");
    if (n->ip[2] && n->ip[2] != OP_TANH && n->ip[2] != OP_SIGMOID && !mm_grad_act(n))
        return op_shape_error(g, n, e, "expected no activation, tanh or sigmoid, or a gradient");
    if (mm_grad_act(n) && !like_output(g, n, n->nin - 1, M, N))
        return op_shape_error(g, n, e, "expected the activation's output, shaped as the product");
    n->dt = a->dt;
    n->shape = shape_2(M, N);
    return 0;
}

/*
 * Which kind of product this is, for --verbose's count of the threads
 * each kind ran on: a node of the unrolled graph belongs to a time step
 * (the recurrence, and any product a step makes on its own); a stacked
 * product (the plan's own graph, no step) is either rows of all steps by
 * one weight (the output projection, its gradient) or a sum over all
 * steps' rows, A^T B (the weight gradients).
 */
static int matmul_class(const gnode *n)
{
    static const char *const names[3] = {"per-step products", "stacked rows",
                                         "stacked weight sums"};
    return pool_class(names[n->t >= 0 ? 0 : n->ip[0] ? 2 : 1]);
}

/*
 * A few rows by an untransposed B through kernels/smallmm.c, split by
 * columns of C among the kernels' threads from smm_splits' size (not
 * inside a part: a lane or a row run has the other threads). Each
 * element is the same chain over k whichever part computes it. At batch
 * 4 and 384 units the recurrence had run on one thread while the plan
 * counted it on two: 2.09 -> 1.53 ms a step (float64 4.56 -> 3.11).
 */
typedef struct smm_job {
    dtype dt;
    int ta, acc, nparts;
    int64_t M, N, K, lda, ldb;
    const char *A, *B, *bias;
    char *C;
} smm_job;

/* columns of a part start on a cache line of either dtype */
#define SMM_PART_COLS 16

static int smm_split(int64_t M, int64_t N, int64_t K, dtype dt)
{
    return N >= 2 * SMM_PART_COLS && smm_splits((double)M, (double)N, (double)K, dtype_size(dt));
}

static int smm_cols(const smm_job *j, int64_t j0, int64_t j1)
{
    size_t es = dtype_size(j->dt);
    const void *B = j->B + (size_t)j0 * es, *bias = j->bias ? j->bias + (size_t)j0 * es : NULL;
    void *C = j->C + (size_t)j0 * es;
    return j->dt == DT_F32 ? smm_f32(j->ta, j->M, j1 - j0, j->K, (const float *)j->A, j->lda, B,
                                     j->ldb, C, j->N, j->acc, bias)
                           : smm_f64(j->ta, j->M, j1 - j0, j->K, (const double *)j->A, j->lda, B,
                                     j->ldb, C, j->N, j->acc, bias);
}

static void smm_part(void *ctx, int part, int thread)
{
    (void)thread;
    const smm_job *j = ctx;
    int64_t j0 = pool_part_start(j->N, SMM_PART_COLS, part, j->nparts),
            j1 = pool_part_start(j->N, SMM_PART_COLS, part + 1, j->nparts);
    if (j0 < j1)
        (void)smm_cols(j, j0, j1);
}

/* 1 when smallmm.c ran the product, 0 when it is gemm's */
static int smm_run(const gnode *n, smm_job *j)
{
    int nth = cpu_threads();
    if (!smm_takes(j->M, j->N, j->K))
        return 0;
    if (nth < 2 || pool_in_part() || !smm_split(j->M, j->N, j->K, j->dt))
        return smm_cols(j, 0, j->N);
    j->nparts = nth;
    pool_for(matmul_class(n), nth, smm_part, j);
    return 1;
}

int op_matmul_splits(const graph *g, const gnode *n)
{
    const gnode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    int64_t M, K, K2, N;
    mm_dims(a, b, n, &M, &K, &K2, &N);
    if (!n->ip[1] && smm_size_fits(M, N, K))
        return smm_split(M, N, K, (dtype)n->dt);
    return gemm_splits((double)M, (double)N, (double)K, dtype_size((dtype)n->dt));
}

/*
 * C = op(A) op(B), or C += op(A) op(B) (acc). A is [M,K] (or [K,M] when
 * transposed), B is [K,N] (or [N,K]), C is [M,N]. Every product runs in
 * kernels/gemm.c: each element one chain of fused multiply-adds over k in
 * order, whatever the threads or the vector path. A few rows by an
 * untransposed B (the recurrence at batch 1, which the plan gives W^T) go
 * to kernels/smallmm.c first, which keeps the same contract (the same
 * bits: tests/test_gemm.c) with more chains per row than gemm's tiles.
 * Only columns c0 .. c1-1 of C are computed (all N for a whole call), each
 * element as in the whole call (op_matmul_cols: always by gemm.c).
 */
static void matmul_run(const graph *g, const gnode *n, void *const *in, void *out, int acc,
                       int64_t c0, int64_t c1)
{
    const gnode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    int64_t M, K, K2, N;
    mm_dims(a, b, n, &M, &K, &K2, &N);
    int64_t lda = op_row_stride(a), ldb = op_row_stride(b);
    int ta = (int)n->ip[0], tb = (int)n->ip[1];
    size_t es = dtype_size((dtype)n->dt);
    int whole = c0 == 0 && c1 == N;
    /* columns c0 .. c1-1: of B, of C (rows N apart), of a bias and an
     * addend */
    const char *B = (const char *)in[1] + (size_t)c0 * es * (size_t)(tb ? ldb : 1);
    char *C = (char *)out + (size_t)c0 * es;
    int bi = op_matmul_bias_input(n);
    const void *bias = bi >= 0 ? (const char *)in[bi] + (size_t)c0 * es : NULL;
    /* the rows the product is added into first, then the product added
     * once (as an add node would add it): a gather's, or an addend's,
     * which kernels/gemm.c reads in C's stead (no pass to copy it) */
    const void *addend = NULL;
    if (n->ip[3] == MM_ADDEND) {
        addend = in[2] != out ? (const char *)in[2] + (size_t)c0 * es : NULL;
        acc = 1;
    } else if (n->ip[3]) {
        gnode gn = mm_gather(n);
        void *gin[2] = {in[2], in[3]};
        op_gather_cols(g, &gn, gin, C, N, c0, c1);
        acc = 1;
    }
    int done = 0;
    if (!tb && M <= SMM_MAX_M && whole) {
        /* a few rows: copied (smallmm.h takes no addend) */
        if (addend)
            memcpy(out, addend, (size_t)(M * N) * es);
        addend = NULL;
        smm_job j = {(dtype)n->dt, ta, acc, 1, M, N, K, lda, ldb, in[0], in[1], bias, out};
        done = smm_run(n, &j);
    }
    /* a per-step product reading a weight (or the plan's W^T, made once a
     * run): every step reads it, so it is packed once per run, kept under
     * its memory (exec_run brackets the run; a row run's parts see nodes
     * copied for their rows, never the graph's own; a run's columns each
     * key their own). So are the pieces of rows the two lanes cut a
     * stacked product into (the output projection and its gradient): each
     * piece packed all of the weight again for its 8 rows, four times its
     * arithmetic (V = 1000, H = 300, T = 25, B = 10: a sixth of the step).
     * A piece that finds the packing under way packs a share of it
     * (kernels/gemm_keep.c). */
    int leaf = b->op == OP_INPUT;
    int piece = n->t < 0 && leaf && pool_in_part();
    /* some columns' share is keyed by the weight's memory and the first
     * column (as a byte past it: inside the weight, so no other weight's
     * key), the same both ways it is read: the backward's packing of a
     * share then goes over the forward's (kernels/gemm_keep.c) */
    const char *key = whole ? in[1] : (const char *)in[1] + c0;
    gemm_opts o = {matmul_class(n), (n->t >= 0 && b->t < 0) || piece ? key : NULL,
                   leaf && (b->flags & NODE_PARAM), bias, addend};
    if (!done && n->dt == DT_F32)
        gemm_f32(ta, tb, M, c1 - c0, K, in[0], lda, (const float *)B, ldb, (float *)C, N, acc, &o);
    else if (!done)
        gemm_f64(ta, tb, M, c1 - c0, K, in[0], lda, (const double *)B, ldb, (double *)C, N, acc,
                 &o);
    /* the activation folded in (engine/plan_fold.c): its own kernel, on
     * its node's shape (a row at a time for some columns), in place */
    if (n->ip[2]) {
        /* an activation's gradient reads its forward output y, then the
         * gradient that arrives: C */
        int grad = mm_grad_act(n);
        gnode act = {.op = (uint16_t)n->ip[2], .dt = n->dt, .nin = 1 + grad, .shape = n->shape};
        if (whole) {
            void *x[2] = {grad ? in[n->nin - 1] : out, out};
            op_table[act.op]->forward(g, &act, x, out);
            return;
        }
        act.shape = shape_2(1, c1 - c0);
        for (int64_t i = 0; i < M; i++) {
            size_t at = ((size_t)i * (size_t)N + (size_t)c0) * es;
            void *x[2] = {grad ? (char *)in[n->nin - 1] + at : (char *)out + at, (char *)out + at};
            op_table[act.op]->forward(g, &act, x, (char *)out + at);
        }
    }
}

void op_matmul_cols(const graph *g, const gnode *n, void *const *in, void *out, int acc, int64_t c0,
                    int64_t c1)
{
    matmul_run(g, n, in, out, acc, c0, c1);
}

static void matmul_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    matmul_run(g, n, in, out, 0, 0, n->shape.dim[1]);
}

/* out += op(A) op(B): the finished product added once, as a separate
 * add node would (kernels/gemm.h) */
static void op_matmul_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    matmul_run(g, n, in, out, 1, 0, n->shape.dim[1]);
}

/*
 * With C = op(A) op(B) and G = dL/dC:
 *   ta tb | dA            | dB
 *   0  0  | G B^T         | A^T G
 *   0  1  | G B           | G^T A
 *   1  0  | B G^T         | A G
 *   1  1  | B^T G^T       | G^T A^T
 */
static int32_t matmul_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
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

/* rows of A (and of a gather's indices, an addend, an activation's
 * output) give rows of C when A is not transposed; B, a gather's table
 * and a bias are read whole */
static unsigned matmul_rows(const graph *g, const gnode *n)
{
    (void)g;
    if (n->ip[0])
        return 0;
    unsigned m = n->ip[3] == MM_ADDEND ? 1u | 1u << 2 : n->ip[3] ? 1u | 1u << 3 : 1u;
    return mm_grad_act(n) ? m | 1u << (n->nin - 1) : m;
}

const op_def op_def_MATMUL = {
    .arity = 2,
    .infer = matmul_infer,
    .rows = matmul_rows,
    .forward = matmul_forward,
    .bprop = matmul_bprop,
    .example = matmul_example,
    .accumulate = op_matmul_accumulate,
};
