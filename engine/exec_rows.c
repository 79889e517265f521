/*
 * exec_rows.c - a row run on the kernels' threads (plan.h: plan_rows_run).
 *
 * Each thread takes a fixed range of the run's rows and computes every
 * instruction of the run on it, in order, meeting the others only at the
 * run's end: a row of the batch depends on its own row of the step
 * before (plan_rows.c checks it).
 *
 * Except for a product whose weight is larger than a core's L2: taken by
 * rows, every thread reads all of it at every step, from the L3 (W^T at
 * H = 1024 in float32 is 4 MiB against a 2 MiB L2: each of S3's two
 * threads streamed 4 MiB a step at about 10 GB/s). Such a product is
 * split by columns instead: each thread computes its fixed range of the
 * output's columns for every row, reading only its columns of the
 * weight, the same ones at every step (its own packing, kept for the
 * run: kernels/gemm_keep.c), half of it on two threads. Its columns need
 * every row of its left operand, and the rows after it need all its
 * columns, so the threads meet before and after it (one pool job each:
 * the workers spin between them, no wake-up). The run's instructions
 * between such products still go by rows.
 *
 * Neither split changes a bit: every element is the same chain over k
 * (kernels/gemm.h), its bias, addend and activation the same element's
 * (ops/matmul.c: op_matmul_cols).
 */
#include <stdatomic.h>

#include "engine/exec_int.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "ops/ops.h"

/* rows of a part start at multiples of this where there are enough
 * (pool_part_start): a product's tiles are 8 rows (kernels/gemm.c). Any
 * split gives the same bits. */
#define ROWS_ALIGN 8
/* columns of a part start at multiples of this: whole panels of the
 * kernels' tiles (16 or 32 columns) and whole cache lines; any split
 * gives the same bits */
#define COLS_ALIGN 32

static size_t row_bytes(const gnode *n)
{
    return n->shape.dim[0]
               ? (size_t)shape_numel(&n->shape) / (size_t)n->shape.dim[0] * dtype_size((dtype)n->dt)
               : 0;
}

/* Instruction s over rows r0 .. r1-1: its kernel is called with copies of
 * its node and of the inputs it splits (bits of rows) whose first
 * dimension is r1 - r0, and pointers to those rows; the inputs it reads
 * whole are passed as they are. */
void exec_step_rows(const exec *x, const exec_step *s, unsigned rows, int64_t r0, int64_t r1)
{
    const gnode *nd = &s->g->nodes[s->node];
    gnode fk[1 + GRAPH_MAX_IN];
    graph fg = {.nodes = fk, .n = 1 + nd->nin, .dt = s->g->dt, .cur_t = -1};
    void *in[GRAPH_MAX_IN];
    fk[0] = *nd;
    fk[0].shape.dim[0] = r1 - r0;
    for (int k = 0; k < s->nin; k++) {
        fk[1 + k] = s->g->nodes[nd->in[k]];
        fk[0].in[k] = 1 + k;
        in[k] = x->ptr[s->in[k]];
        if (rows >> k & 1) {
            in[k] = (char *)in[k] + (size_t)r0 * row_bytes(&fk[1 + k]);
            fk[1 + k].shape.dim[0] = r1 - r0;
        }
    }
    s->fn(&fg, &fk[0], in, (char *)x->ptr[s->out] + (size_t)r0 * row_bytes(nd));
}

static _Atomic size_t cols_bytes_test;

size_t exec_test_cols_bytes(size_t bytes)
{
    return atomic_exchange(&cols_bytes_test, bytes);
}

size_t exec_cols_bytes(void)
{
    size_t least = atomic_load(&cols_bytes_test);
    return least ? least : cpu_past_l2();
}

int exec_split_cols(const exec_step *s)
{
    if (!s->nin || s->update || s->copy_from >= 0)
        return 0;
    const gnode *n = &s->g->nodes[s->node];
    if (n->op != OP_MATMUL || n->shape.dim[1] < 2 * COLS_ALIGN)
        return 0;
    const gnode *b = &s->g->nodes[n->in[1]];
    size_t bytes = (size_t)shape_numel(&b->shape) * dtype_size((dtype)b->dt);
    return bytes >= exec_cols_bytes();
}

typedef struct rows_job {
    const exec *x;
    int32_t first, n; /* instructions first .. first+n-1 */
    int64_t M;
    int nparts;
    void *keep; /* the run's kept packings, lent to every part */
} rows_job;

static void rows_part(void *ctx, int part, int thread)
{
    (void)thread;
    const rows_job *j = ctx;
    int64_t r0 = pool_part_start(j->M, ROWS_ALIGN, part, j->nparts),
            r1 = pool_part_start(j->M, ROWS_ALIGN, part + 1, j->nparts);
    if (r0 >= r1)
        return;
    void *was = gemm_keep_lend(j->keep);
    for (int32_t i = j->first; i < j->first + j->n; i++)
        if (j->x->steps[i].nin)
            exec_step_rows(j->x, &j->x->steps[i], j->x->steps[i].rows, r0, r1);
    gemm_keep_lend(was);
}

typedef struct cols_job {
    const exec *x;
    const exec_step *s; /* the product */
    int nparts;
    void *keep; /* as rows_job's */
} cols_job;

static void cols_part(void *ctx, int part, int thread)
{
    (void)thread;
    const cols_job *j = ctx;
    const exec_step *s = j->s;
    const gnode *nd = &s->g->nodes[s->node];
    int64_t N = nd->shape.dim[1];
    int64_t c0 = pool_part_start(N, COLS_ALIGN, part, j->nparts),
            c1 = pool_part_start(N, COLS_ALIGN, part + 1, j->nparts);
    if (c0 >= c1)
        return;
    void *in[GRAPH_MAX_IN];
    for (int k = 0; k < s->nin; k++)
        in[k] = j->x->ptr[s->in[k]];
    void *was = gemm_keep_lend(j->keep);
    op_matmul_cols(s->g, nd, in, j->x->ptr[s->out], s->acc, c0, c1);
    gemm_keep_lend(was);
}

/* Whether instruction s of a run goes by columns now: a product written
 * over its left operand (in place, as rows allow) cannot. */
static int by_cols(const exec *x, const exec_step *s)
{
    return s->cols && x->ptr[s->in[0]] != x->ptr[s->out];
}

void exec_run_rows(const exec *x, const plan_rows_run *run)
{
    int rows_cls = pool_class("per-step rows"), cols_cls = pool_class("per-step columns");
    int nth = cpu_threads();
    int n = nth < run->M / ROWS_ALIGN ? nth : (int)(run->M / ROWS_ALIGN);
    int32_t end = run->first + run->n;
    /* instructions without inputs first, whole (plan_rows_free) */
    for (int32_t i = run->first; i < end; i++) {
        const exec_step *s = &x->steps[i];
        if (!s->nin)
            s->fn(s->g, &s->g->nodes[s->node], NULL, x->ptr[s->out]);
    }
    /* called here, before the parts start: the table then knows that the
     * products before the run have ended (kernels/gemm.h) */
    void *keep = gemm_keep_current();
    for (int32_t i = run->first; i < end;) {
        if (by_cols(x, &x->steps[i])) {
            cols_job c = {x, &x->steps[i], nth, keep};
            pool_for(cols_cls, c.nparts, cols_part, &c);
            i++;
            continue;
        }
        int32_t k = i + 1;
        while (k < end && !by_cols(x, &x->steps[k]))
            k++;
        rows_job r = {x, i, k - i, run->M, n < 1 ? 1 : n, keep};
        pool_for(rows_cls, r.nparts, rows_part, &r);
        i = k;
    }
}
