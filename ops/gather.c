/*
 * gather.c - one-hot inputs as lookups.
 *
 * gather(U [H, V], idx int32 [B]) -> [B, H], row b = column idx[b] of U:
 * the product U x_t with a one-hot x_t, without ever forming x_t. A
 * negative index (padding) gives a zero row. With ip[0] = 1 the table is
 * stored transposed, U^T [V, H], and row b is its row idx[b]: the same
 * values, read contiguously (the plan's copy of U^T, engine/
 * plan_transpose.c: a column of U lies V elements apart per unit).
 * scatter(G [B, H], idx [B], V) -> [H, V] adds row b of G into column
 * idx[b]: gather's adjoint, so each is the other's gradient. A scatter
 * over steps (ip[1] rows per step, ip[2]: last step first) is the plan's
 * stacked form of the chain scatter(x_a, i_a) + scatter(x_b, i_b) + ...
 * (op_scatter_steps), with its bits, split by hidden unit among threads.
 */
#include "ops/ops.h"

#include <string.h>

#include "base/clones.h"
#include "kernels/pool.h"
#include "kernels/transpose.h"

static int index_check(const graph *g, gnode *n, const gnode *idx, int64_t rows, uerr *e)
{
    if (idx->dt != DT_I32 || idx->shape.rank != 1 || idx->shape.dim[0] != rows)
        return op_shape_error(g, n, e, "expected int32 indices, one per row");
    return 0;
}

static int gather_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *u = &g->nodes[n->in[0]], *idx = &g->nodes[n->in[1]];
    if (u->dt != g->dt || u->shape.rank != 2)
        return op_shape_error(g, n, e, "expected a floating matrix to gather from");
    if (idx->dt != DT_I32 || idx->shape.rank != 1)
        return op_shape_error(g, n, e, "expected int32 indices [B]");
    if (n->ip[0] != 0 && n->ip[0] != 1)
        return op_shape_error(g, n, e, "expected a table stored as is (0) or transposed (1)");
    n->dt = u->dt;
    n->shape = shape_2(idx->shape.dim[0], u->shape.dim[n->ip[0] ? 1 : 0]);
    return 0;
}

/* U [H, V] (or U^T [V, H]), idx [B] -> columns j0 .. j1-1 of out [B, H]
 * (row b at out + b * ldo, from its column j0), written (acc = 0) or
 * added element by element as add(x, gather(U, idx)) would (acc = 1) */
static void gather_span(const graph *g, const gnode *n, void *const *in, void *out, int64_t ldo,
                        int64_t j0, int64_t j1, int acc)
{
    const gnode *u = &g->nodes[n->in[0]];
    int64_t H = n->shape.dim[1], B = n->shape.dim[0], w = j1 - j0;
    /* where element j of table entry k lies: k * ks + j * js */
    int64_t ks = n->ip[0] ? H : 1, js = n->ip[0] ? 1 : u->shape.dim[1];
    const int32_t *idx = in[1];
    DT_EACH_REAL(n->dt, T, {
        const T *U = in[0];
        T *y = out;
        for (int64_t b = 0; b < B; b++) {
            int32_t k = idx[b];
            T *yb = y + b * ldo;
            if (k < 0) {
                for (int64_t j = 0; j < w; j++)
                    yb[j] = acc ? yb[j] + (T)0 : (T)0;
                continue;
            }
            const T *uk = U + k * ks + j0 * js;
            if (!acc && js == 1)
                memcpy(yb, uk, (size_t)w * sizeof(T));
            else if (js == 1)
                for (int64_t j = 0; j < w; j++)
                    yb[j] += uk[j];
            else if (acc)
                for (int64_t j = 0; j < w; j++)
                    yb[j] += uk[j * js];
            else
                for (int64_t j = 0; j < w; j++)
                    yb[j] = uk[j * js];
        }
    });
}

static void gather_rows(const graph *g, const gnode *n, void *const *in, void *out, int acc)
{
    gather_span(g, n, in, out, n->shape.dim[1], 0, n->shape.dim[1], acc);
}

void op_gather_cols(const graph *g, const gnode *n, void *const *in, void *out, int64_t ldo,
                    int64_t j0, int64_t j1)
{
    gather_span(g, n, in, out, ldo, j0, j1, 0);
}

static void gather_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    gather_rows(g, n, in, out, 0);
}

/* out [B, H] += U[:, idx[b]] per row */
static void op_gather_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    gather_rows(g, n, in, out, 1);
}

static int32_t gather_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    const gnode *n = &g->nodes[node];
    if (i == 1) {
        *undefined = 1;
        return -1;
    }
    const gnode *u = &g->nodes[n->in[0]];
    if (!n->ip[0])
        return op_scatter(g, gout, n->in[1], u->shape.dim[1], e);
    return op_transpose(g, op_scatter(g, gout, n->in[1], u->shape.dim[0], e), e);
}

/* both layouts of the table */
static int32_t gather_example(graph *g, uerr *e)
{
    int32_t u = op_example_param(g, shape_2(4, 6), e);
    int32_t ut = op_example_param(g, shape_2(6, 4), e);
    int32_t a = op_gather(g, u, op_example_index(g, shape_1(5), 6, e), e);
    int32_t idx = op_example_index(g, shape_1(5), 6, e);
    return op_add(g, a, op_gather_t(g, ut, idx, e), e);
}

/* row b of the output is column idx[b] of U: idx split, U whole */
static unsigned gather_rows_split(const graph *g, const gnode *n)
{
    (void)g;
    (void)n;
    return 2u;
}

const op_def op_def_GATHER = {.arity = 2,
                              .infer = gather_infer,
                              .rows = gather_rows_split,
                              .forward = gather_forward,
                              .bprop = gather_bprop,
                              .example = gather_example,
                              .accumulate = op_gather_accumulate};

static int scatter_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *r = &g->nodes[n->in[0]], *idx = &g->nodes[n->in[1]];
    if (r->dt != g->dt || r->shape.rank != 2)
        return op_shape_error(g, n, e, "expected a floating matrix of rows to scatter");
    if (index_check(g, n, idx, r->shape.dim[0], e))
        return e->code;
    if (n->ip[0] < 1)
        return op_shape_error(g, n, e, "expected a positive number of columns");
    if (n->ip[1] < 0 || (n->ip[1] && r->shape.dim[0] % n->ip[1]))
        return op_shape_error(g, n, e, "a scatter over steps takes whole steps");
    n->dt = r->dt;
    n->shape = shape_2(r->shape.dim[1], n->ip[0]);
    return 0;
}

/*
 * Which rows share an index, found once per step: heads[] lists, in row
 * order, each index's first row; nxt[r] is the next row with r's index,
 * or -1. last[] (one entry per column, -1 when called) is left as found.
 * Without them each row scans the others: the same sums, in B^2 compares
 * a step (a GRU at H = 64, B = 64 took 6.18 ms a step so, 5.46 linked).
 * Scanning stays where it is cheaper than setting up the V entries of
 * last[] (one row a step, a large vocabulary), or where there is no
 * memory for them.
 */
typedef struct scatter_links {
    int32_t *last, *nxt, *heads;
    int64_t nheads;
} scatter_links;

static void scatter_link(const int32_t *idx, int64_t B, scatter_links *l)
{
    l->nheads = 0;
    for (int64_t b = 0; b < B; b++) {
        int32_t k = idx[b];
        l->nxt[b] = -1;
        if (k < 0)
            continue; /* padding */
        if (l->last[k] < 0)
            l->heads[l->nheads++] = (int32_t)b;
        else
            l->nxt[l->last[k]] = (int32_t)b;
        l->last[k] = (int32_t)b;
    }
    for (int64_t h = 0; h < l->nheads; h++)
        l->last[idx[l->heads[h]]] = -1;
}

/* The h-th first row of an index (-1 past the last), and the row after r
 * with r's index (-1 if none): from the links, or by scanning */
static int64_t scatter_head(const int32_t *idx, int64_t B, const scatter_links *l, int64_t h,
                            int64_t *scan)
{
    if (l)
        return h < l->nheads ? l->heads[h] : -1;
    for (int64_t b = *scan; b < B; b++) {
        int seen = idx[b] < 0;
        for (int64_t r = 0; r < b && !seen; r++)
            seen = idx[r] == idx[b];
        if (!seen) {
            *scan = b + 1;
            return b;
        }
    }
    return -1;
}

static int64_t scatter_next(const int32_t *idx, int64_t B, const scatter_links *l, int64_t r)
{
    if (l)
        return l->nxt[r];
    for (int64_t q = r + 1; q < B; q++)
        if (idx[q] == idx[r])
            return q;
    return -1;
}

/*
 * Rows 0 .. B-1 of G (row stride ldg) scattered into n hidden units: the
 * scatter's column k is the sum, from 0 and in row order, of the rows b
 * with idx[b] = k; unit j of that column, out[j * sj + k * sk], is
 * written (acc = 0: the other columns are left alone) or added to once
 * (acc = 1), so the result is bit-identical to add(out, scatter(G, idx)).
 * The rows of an index are summed in chunks of SCATTER_CHUNK units on the
 * stack (no allocation). Adds only: compiled for the widest vector unit
 * (base/clones.h), each version gives the same bits. l: the links of idx
 * (scatter_link), or NULL.
 */
#define SCATTER_CHUNK 256

UNROLL_CLONES static void scatter_rows(dtype dt, const void *Gv, int64_t ldg, const int32_t *idx,
                                       int64_t B, const scatter_links *l, void *out, int64_t sj,
                                       int64_t sk, int64_t n, int acc)
{
    DT_EACH_REAL(dt, T, {
        const T *G = Gv;
        int64_t scan = 0, b;
        for (int64_t h = 0; (b = scatter_head(idx, B, l, h, &scan)) >= 0; h++) {
            int64_t more = scatter_next(idx, B, l, b);
            T *o = (T *)out + idx[b] * sk;
            if (more < 0 && sj == 1 && acc) {
                /* a row alone in its column: its sum is 0 + the row */
                for (int64_t c = 0; c < n; c++) {
                    T s = 0;
                    s += G[b * ldg + c];
                    o[c] = o[c] + s;
                }
                continue;
            }
            for (int64_t c0 = 0; c0 < n; c0 += SCATTER_CHUNK) {
                int64_t nc = n - c0 < SCATTER_CHUNK ? n - c0 : SCATTER_CHUNK;
                T s[SCATTER_CHUNK];
                for (int64_t c = 0; c < nc; c++)
                    s[c] = 0;
                for (int64_t r = b; r >= 0; r = r == b ? more : scatter_next(idx, B, l, r))
                    for (int64_t c = 0; c < nc; c++)
                        s[c] += G[r * ldg + c0 + c];
                T *oc = o + c0 * sj;
                if (!acc)
                    for (int64_t c = 0; c < nc; c++)
                        oc[c * sj] = s[c];
                else if (sj == 1)
                    for (int64_t c = 0; c < nc; c++)
                        oc[c] = oc[c] + s[c];
                else
                    for (int64_t c = 0; c < nc; c++)
                        oc[c * sj] = oc[c * sj] + s[c];
            }
        }
    });
}

/* The calling thread's scratch: its first `off` bytes for the caller
 * (*base, NULL without memory), then links for B rows over V columns
 * used for `uses` groups of B rows, when they pay (above), else NULL. */
static scatter_links *scatter_links_get(scatter_links *l, int64_t V, int64_t B, int64_t uses,
                                        size_t off, char **base)
{
    int want = (double)uses * (double)B * (double)B > (double)V;
    size_t bytes = off + (want ? (size_t)(V + 2 * B) * sizeof(int32_t) : 0);
    *base = bytes ? pool_scratch(bytes) : NULL;
    if (!*base || !want)
        return NULL;
    l->last = (int32_t *)(*base + off);
    l->nxt = l->last + V;
    l->heads = l->nxt + B;
    for (int64_t k = 0; k < V; k++)
        l->last[k] = -1;
    return l;
}

typedef struct scatter_job {
    const gnode *n;
    const void *G;
    const int32_t *idx;
    void *y;
    int64_t H, V, nsteps;
    int nparts;
    int acc; /* the chain goes on from y: every step added to it */
} scatter_job;

/* A part's units side by side per column, [V, nc] in its scratch, while
 * the steps are added (the adds then run along units, not down a column
 * of out), in blocks of nc units that fit in this many bytes. */
#define SCATTER_SCRATCH (128 * 1024)

/* Hidden units j0 .. j1-1 (rows of out), zeroed, then step by step in the
 * chain's order: the first step's columns written, the next ones added. */
static void scatter_steps_part(void *ctx, int part, int thread)
{
    (void)thread;
    const scatter_job *j = ctx;
    dtype dt = (dtype)j->n->dt;
    int64_t j0 = op_steps_start(j->H, part, j->nparts);
    int64_t j1 = op_steps_start(j->H, part + 1, j->nparts), R = j->n->ip[1], V = j->V;
    size_t es = dtype_size(dt);
    int64_t bn = SCATTER_SCRATCH / (int64_t)((size_t)V * es);
    bn = bn > SCATTER_CHUNK ? SCATTER_CHUNK : bn;
    /* going on from y, in y's own layout (the scratch would start from
     * a copy of it); then the links of a step's rows */
    size_t abytes = bn >= 16 && !j->acc ? (size_t)(bn * V) * es : 0;
    char *mem;
    scatter_links lk, *l = scatter_links_get(&lk, V, R, j->nsteps, abytes, &mem);
    if (!mem && abytes) {
        abytes = 0;
        l = scatter_links_get(&lk, V, R, j->nsteps, 0, &mem);
    }
    void *acc = abytes ? mem : NULL;
    if (!acc)
        bn = j1 - j0; /* out's own layout */
    for (int64_t c0 = j0; c0 < j1; c0 += bn) {
        int64_t nc = j1 - c0 < bn ? j1 - c0 : bn;
        void *o = acc ? acc : (char *)j->y + (size_t)(c0 * V) * es;
        if (!j->acc)
            memset(o, 0, (size_t)(nc * V) * es);
        for (int64_t k = 0; k < j->nsteps; k++) {
            int64_t s = j->n->ip[2] ? j->nsteps - 1 - k : k;
            if (l)
                scatter_link(j->idx + s * R, R, l);
            scatter_rows(dt, (const char *)j->G + (size_t)(s * R * j->H + c0) * es, j->H,
                         j->idx + s * R, R, l, o, acc ? 1 : V, acc ? nc : 1, nc, k > 0 || j->acc);
        }
        if (acc) /* rows c0 .. c0+nc-1 of out [., V] */
            transpose_matrix(es, acc, (char *)j->y + (size_t)(c0 * V) * es, V, nc);
    }
}

static void scatter_steps(const graph *g, const gnode *n, void *const *in, void *out, int acc)
{
    int64_t H = n->shape.dim[0], V = n->shape.dim[1];
    int64_t B = g->nodes[n->in[0]].shape.dim[0];
    scatter_job j = {n, in[0], in[1], out, H, V, B / n->ip[1], op_steps_parts(H, B * H), acc};
    pool_for(pool_class("stacked step sums"), j.nparts, scatter_steps_part, &j);
}

/* all B rows at once, on the calling thread */
static void scatter_whole(const gnode *n, void *const *in, void *out, int64_t B, int acc)
{
    int64_t H = n->shape.dim[0], V = n->shape.dim[1];
    char *mem;
    scatter_links lk, *l = scatter_links_get(&lk, V, B, 1, 0, &mem);
    if (l)
        scatter_link(in[1], B, l);
    scatter_rows((dtype)n->dt, in[0], H, in[1], B, l, out, V, 1, H, acc);
}

/* G [B, H], idx [B] -> out [H, V]: zeroed, then each column written */
static void scatter_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    if (n->ip[1]) {
        scatter_steps(g, n, in, out, 0);
        return;
    }
    int64_t H = n->shape.dim[0], V = n->shape.dim[1];
    int64_t B = g->nodes[n->in[0]].shape.dim[0];
    memset(out, 0, (size_t)(H * V) * dtype_size((dtype)n->dt));
    scatter_whole(n, in, out, B, 0);
}

/* out [H, V] += scatter(G, idx); a scatter over steps goes on with the
 * chain in out, each step's columns added to it in turn (a chunk of a
 * chain cut in the plan, engine/plan_stack_sum.c) */
static void op_scatter_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    if (n->ip[1]) {
        scatter_steps(g, n, in, out, 1);
        return;
    }
    scatter_whole(n, in, out, g->nodes[n->in[0]].shape.dim[0], 1);
}

static int32_t scatter_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    if (i == 1) {
        *undefined = 1;
        return -1;
    }
    return op_gather(g, gout, g->nodes[node].in[1], e);
}

/* repeated indices exercise the accumulation */
static int32_t scatter_example(graph *g, uerr *e)
{
    int32_t rows = op_example_param(g, shape_2(7, 3), e);
    return op_scatter(g, rows, op_example_index(g, shape_1(7), 4, e), 4, e);
}

const op_def op_def_SCATTER = {.arity = 2,
                               .infer = scatter_infer,
                               .forward = scatter_forward,
                               .bprop = scatter_bprop,
                               .example = scatter_example,
                               .accumulate = op_scatter_accumulate};
