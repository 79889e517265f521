/*
 * plan_transpose.c - the transposing rewrite (PLAN_FUSE_ALL): products
 * X_t W^T that stay one per step read a copy W^T made once per run, and
 * one-hot inputs U x_t gather rows of a copy U^T; see plan.h. Decides
 * d->replace (the product or gather each such node runs as) and d->pre
 * (the copies, run before everything else).
 */
#include <stdlib.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "kernels/smallmm.h"
#include "ops/ops.h"

typedef struct trc {
    const plan_needs *n;
    plan_decisions *d;
    plan *p;
    int32_t pre_cap;
} trc;

static int is_leaf(const graph *g, int32_t v)
{
    return g->nodes[v].op == OP_INPUT;
}

/*
 * Transposed weights. Products X_t W^T with the same leaf W that stay one
 * per step (the recurrence W h_{t-1}, which cannot be stacked) read W^T,
 * made once at the start of the program, without a transpose, where X_t
 * has few rows (batch 1): kernels/smallmm.c takes those products only
 * with B untransposed (a row of W^T is contiguous across the outputs, so
 * a vector spans outputs and each output's sum runs over k in order).
 * More rows, or a W larger than smallmm.c takes (smm_size_fits: over
 * 256 Ki elements at 2 to 4 rows), go to kernels/gemm.c, which packs W^T
 * from W itself once a run (its kept packing): a copy would cost memory
 * and a transpose a run for the same bits. Only where it pays: W of at
 * least RW_TRANSPOSE_MIN elements, read by at least two products. Small
 * ones pay most: at 32 units and batch 4 gemm's dispatch and kept
 * packing took 0.45-0.75 us for each gate's 4 x 32 x 32 product, and
 * from W^T an LSTM's step went 0.199 -> 0.176 ms on one thread (a GRU's
 * 0.164 -> 0.148, an LSTM of 48 units at batch 1 0.133 -> 0.115).
 */
#define RW_TRANSPOSE_MIN 256

static int32_t vtranspose(trc *c, int32_t w, uerr *e)
{
    const gnode *wn = &c->n->g->nodes[w];
    int32_t wv = plan_vleaf(c->p, wn->shape, (dtype)wn->dt, w, c->n, e);
    int32_t id = wv < 0 ? -1 : op_transpose(&c->p->vg, wv, e);
    return id < 0 || plan_vnode(c->p, id, -1, c->n, e) ? -1 : id;
}

/* The copy w^T, made once at the start of the program: the one in wt[w]
 * or a new one. */
static int32_t transposed_copy(trc *c, int32_t *wt, int32_t w, uerr *e)
{
    if (wt[w] >= 0)
        return wt[w];
    if ((wt[w] = vtranspose(c, w, e)) < 0 || VEC_GROW(c->d->pre, c->pre_cap, c->d->npre + 1))
        return -1;
    c->d->pre[c->d->npre++] = wt[w];
    c->p->n_transposed++;
    return wt[w];
}

/* A view of global node src in p->vg, once the copy of w^T is made. */
static int32_t copy_and_view(trc *c, int32_t *wt, int32_t w, int32_t src, uerr *e)
{
    const gnode *x = &c->n->g->nodes[src];
    return transposed_copy(c, wt, w, e) < 0
               ? -1
               : plan_vleaf(c->p, x->shape, (dtype)x->dt, src, c->n, e);
}

/* Node v runs as vg node id (-1: making it failed), in v's step. */
static int replaced(trc *c, int32_t v, int32_t id, uerr *e)
{
    if (id < 0)
        return e->code ? e->code : plan_oom(c->n, e);
    c->p->vg.nodes[id].t = c->n->g->nodes[v].t;
    c->d->replace[v] = c->n->N + id;
    return 0;
}

/*
 * A copy's rows padded to whole cache lines (ip[0]: the elements from
 * one row to the next, op_row_stride). A product of a few rows reads a
 * row of W^T a vector at a time, and a row of 100 floats or doubles
 * starts 16 bytes past a line in 3 of 4 rows: most of its loads crossed
 * two lines. S1's 1 x 100 x 100 product alone, float32 0.243 -> 0.186 us
 * with rows 112 floats apart, float64 0.714 -> 0.557. Not a power of
 * two of 512 bytes or more either: rows 128 floats apart, which share
 * cache sets, took 0.272; at 512 units (rows of 2 KiB, padded to 33
 * lines) a batch-1 step went 0.915 -> 0.855 ms.
 */
static void pad_rows(gnode *copy)
{
    size_t es = dtype_size((dtype)copy->dt), row = (size_t)copy->shape.dim[1] * es;
    size_t ld = (row + 63) / 64 * 64;
    if (ld >= 512 && !(ld & (ld - 1)))
        ld += 64;
    copy->ip[0] = ld == row ? 0 : (int64_t)(ld / es);
}

static int find_transposed(trc *c, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N;
    int32_t *cnt = calloc((size_t)N + 1, sizeof *cnt), *wt = malloc(((size_t)N + 1) * sizeof *wt);
    int rc = 0;
    if (!cnt || !wt) {
        rc = plan_oom(c->n, e);
        goto out;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int32_t v = 0; v < N; v++) {
            const gnode *nd = &g->nodes[v];
            if (c->n->need[v] != RW_COMPUTED || nd->op != OP_MATMUL || nd->ip[0] != 0 ||
                nd->ip[1] != 1 || c->d->role[v] != RW_NODE)
                continue;
            int32_t w = nd->in[1];
            const gnode *x = &g->nodes[nd->in[0]], *wn = &g->nodes[w];
            if (!is_leaf(g, w) || shape_numel(&wn->shape) < RW_TRANSPOSE_MIN ||
                !smm_size_fits(x->shape.dim[0], wn->shape.dim[0], wn->shape.dim[1]))
                continue;
            if (pass == 0) {
                cnt[w]++;
                wt[w] = -1;
                continue;
            }
            if (cnt[w] < 2)
                continue;
            /* still the step's product: it reads the kept packing of W^T
             * (ops/matmul.c) and counts among the per-step products */
            int32_t xv = copy_and_view(c, wt, w, nd->in[0], e);
            if (xv >= 0)
                pad_rows(&c->p->vg.nodes[wt[w]]);
            if ((rc =
                     replaced(c, v, xv < 0 ? -1 : plan_vmatmul(c->p, xv, wt[w], 0, 0, c->n, e), e)))
                goto out;
        }
out:
    free(cnt);
    free(wt);
    return rc;
}

/*
 * Gathers from U^T. A gather reads column x of U [H, V] for each row: H
 * elements V apart, a cache line each (2 to 3 cycles an element, at 65
 * symbols and 128 to 256 units: 2 to 4% of a step). From a copy U^T [V, H]
 * it reads one row, contiguous, with the same values. The copy costs a
 * transpose of U per run and V x H elements of memory, so only where the
 * gathers read enough rows of it (at least RW_GATHER_RATIO times fewer
 * symbols than rows gathered), it is no larger than RW_GATHER_BYTES, and
 * a column's elements lie on lines of their own (rows of U at least a
 * line long; shorter, a column spans a few lines anyway). Small tables
 * pay too: an LSTM of 32 units (U 32 x 65) at batch 256 spent 7% of its
 * step in the gathers, and its step went 7.78 -> 7.44 ms with the copy.
 */
#define RW_GATHER_LINE 64
#define RW_GATHER_RATIO 4
#define RW_GATHER_BYTES ((size_t)8 << 20)

static int gathers_ok(const graph *g, const plan_needs *n, const plan_decisions *d, int32_t v)
{
    const gnode *nd = &g->nodes[v];
    if (n->need[v] != RW_COMPUTED || nd->op != OP_GATHER || nd->ip[0] != 0 ||
        d->role[v] != RW_NODE || !is_leaf(g, nd->in[0]))
        return 0;
    const gnode *u = &g->nodes[nd->in[0]];
    size_t bytes = (size_t)shape_numel(&u->shape) * dtype_size((dtype)u->dt);
    return (size_t)u->shape.dim[1] * dtype_size((dtype)u->dt) >= RW_GATHER_LINE &&
           bytes <= RW_GATHER_BYTES;
}

static int find_gathers(trc *c, uerr *e)
{
    const graph *g = c->n->g;
    int32_t N = c->n->N;
    int64_t *rows = calloc((size_t)N + 1, sizeof *rows);
    int32_t *wt = malloc(((size_t)N + 1) * sizeof *wt);
    int rc = 0;
    if (!rows || !wt) {
        rc = plan_oom(c->n, e);
        goto out;
    }
    for (int32_t v = 0; v < N; v++)
        if (gathers_ok(g, c->n, c->d, v)) {
            rows[g->nodes[v].in[0]] += g->nodes[v].shape.dim[0];
            wt[g->nodes[v].in[0]] = -1;
        }
    for (int32_t v = 0; v < N; v++) {
        if (!gathers_ok(g, c->n, c->d, v))
            continue;
        const gnode *nd = &g->nodes[v];
        int32_t u = nd->in[0];
        if (rows[u] * RW_GATHER_RATIO < g->nodes[u].shape.dim[1])
            continue;
        int32_t xv = copy_and_view(c, wt, u, nd->in[1], e);
        int32_t gt = xv < 0 ? -1 : op_gather_t(&c->p->vg, wt[u], xv, e);
        if (gt >= 0 && plan_vnode(c->p, gt, -1, c->n, e))
            gt = -1;
        if ((rc = replaced(c, v, gt, e)))
            goto out;
    }
out:
    free(rows);
    free(wt);
    return rc;
}

int plan_transposing(const plan_needs *n, plan_decisions *d, plan *p, uerr *e)
{
    trc c = {.n = n, .d = d, .p = p};
    int rc = find_transposed(&c, e);
    return rc ? rc : find_gathers(&c, e);
}
