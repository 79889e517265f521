/*
 * plan_rows.c - runs of instructions split by rows; see plan.h
 * (plan_rows_run).
 *
 * Found in two passes around the buffers. Before them, plan_rows_find
 * takes each maximal run of consecutive instructions that op_def.rows
 * says are row-wise over outputs of the same M rows, and keeps those with
 * enough work to pay for a thread. An instruction without inputs (a fill:
 * the constant of 1 - z) does not end a run: the executor computes it
 * before the parts start (plan_rows_free). The buffer sweep then keeps
 * what a run reads whole alive to the run's end (plan_rows_end); a buffer
 * read by rows may be handed on inside the run, and only to one of its
 * size: as every row tensor of a run has M rows, and M times an element
 * is at least the 64 bytes buffers are rounded to, one of the same size
 * has the same rows, so each part writes over the rows it read itself.
 *
 * After the sweep, plan_rows_check looks at the bytes each instruction of
 * a run touches and drops a run in which two rows could meet: a byte
 * written in a run must be read and written only as the same row of
 * tensors that start at the same place with the same row length; nothing
 * read whole may be written in the run; what a fill wrote before the
 * parts started may only be read. A run dropped is computed as before,
 * one instruction at a time, so the check is the proof, and the sweep's
 * rules only make it pass.
 */
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "ops/ops.h"

/* a run must have at least this many rows (16 floats: a row tensor's
 * buffer is then a whole number of rows; see above), and this much work (multiply-
 * adds of its products counted twice, other elements four times): below,
 * a wake-up of the workers costs more than the rows save */
#define ROWS_MIN_M 16
#define ROWS_MIN_WORK (1 << 18)

/* The split inputs of instruction pi (op_def.rows), or 0 when it cannot be
 * split; *M the rows of its output. */
static unsigned instr_rows(const plan *p, const graph *g, const plan_instr *pi, int64_t *M)
{
    if (pi->kind == PLAN_COPY || pi->kind == PLAN_UPDATE)
        return 0;
    const graph *ng = plan_graph_of(p, g, pi->node);
    const gnode *n = plan_node(p, g, pi->node);
    const gnode *o = plan_node(p, g, pi->out);
    const op_def *d = op_table[n->op];
    if (!d->rows || n->shape.rank != 2 || !shape_equal(&n->shape, &o->shape))
        return 0;
    *M = n->shape.dim[0];
    return d->rows(ng, n);
}

unsigned plan_rows_split(const plan *p, const graph *g, int32_t i)
{
    int64_t M;
    return instr_rows(p, g, &p->instr[i], &M);
}

static double instr_work(const plan *p, const graph *g, const plan_instr *pi)
{
    const graph *ng = plan_graph_of(p, g, pi->node);
    const gnode *n = plan_node(p, g, pi->node);
    double el = (double)shape_numel(&n->shape);
    if (n->op != OP_MATMUL)
        return 4 * el;
    const gnode *a = &ng->nodes[n->in[0]];
    return 2 * el * (double)a->shape.dim[n->ip[0] ? 0 : 1];
}

int plan_rows_free(const plan *p, const graph *g, int32_t i)
{
    const plan_instr *pi = &p->instr[i];
    return pi->kind == PLAN_RUN && plan_node(p, g, pi->node)->nin == 0;
}

int plan_rows_find(const graph *g, plan *p, uerr *e)
{
    int32_t cap = 0;
    for (int32_t i = 0; i < p->ninstr;) {
        int64_t M = 0, M2 = 0;
        if (!instr_rows(p, g, &p->instr[i], &M) || M < ROWS_MIN_M) {
            i++;
            continue;
        }
        int32_t j = i;
        double work = 0;
        for (; j < p->ninstr; j++) {
            if (plan_rows_free(p, g, j))
                continue;
            if (!instr_rows(p, g, &p->instr[j], &M2) || M2 != M)
                break;
            work += instr_work(p, g, &p->instr[j]);
        }
        while (j > i && plan_rows_free(p, g, j - 1))
            j--;
        if (work >= ROWS_MIN_WORK) {
            if (VEC_GROW(p->runs, cap, p->nruns + 1))
                return uerr_set(e, UERR_INTERNAL, "plan: out of memory for row runs");
            p->runs[p->nruns++] = (plan_rows_run){.first = i, .n = j - i, .M = M};
        }
        i = j;
    }
    return 0;
}

int32_t plan_rows_end(const plan *p, int32_t i)
{
    int32_t lo = 0, hi = p->nruns;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        const plan_rows_run *r = &p->runs[mid];
        if (i < r->first)
            hi = mid;
        else if (i >= r->first + r->n)
            lo = mid + 1;
        else
            return r->first + r->n - 1;
    }
    return i;
}

/* ---- the check over bytes ----------------------------------------------------- */

/* written by rows in the run, read by rows, read whole, written before
 * the parts start (a fill) */
enum { RANGE_WRITE, RANGE_ROWS, RANGE_WHOLE, RANGE_PRE };

typedef struct range {
    size_t start, end, row;
    int kind;
} range;

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* The arena bytes of global id: a view's are its source's. 0 for memory
 * outside the arena (a leaf), which no instruction writes. */
static int id_range(const plan *p, const graph *g, int32_t id, int kind, range *r)
{
    const gnode *n = plan_node(p, g, id);
    int32_t src = id;
    while (src >= p->nnodes && p->vsrc[src - p->nnodes] >= 0)
        src = p->vsrc[src - p->nnodes];
    if (p->offset[src] == PLAN_NO_BUFFER)
        return 0;
    size_t es = dtype_size((dtype)n->dt), bytes = (size_t)shape_numel(&n->shape) * es;
    if (!bytes)
        return 0;
    *r = (range){.start = p->offset[src], .end = p->offset[src] + bytes, .kind = kind};
    r->row = n->shape.rank ? bytes / (size_t)n->shape.dim[0] : bytes;
    return 1;
}

/* 1 when two rows of run r can meet in memory; ranges has room for every
 * input and output of the run. */
static int run_hazard(const plan *p, const graph *g, const plan_rows_run *r, range *rg)
{
    int32_t nr = 0;
    for (int32_t i = r->first; i < r->first + r->n; i++) {
        const plan_instr *pi = &p->instr[i];
        if (plan_rows_free(p, g, i)) {
            nr += id_range(p, g, pi->out, RANGE_PRE, &rg[nr]);
            continue;
        }
        const gnode *n = plan_node(p, g, pi->node);
        int32_t base = pi->node < p->nnodes ? 0 : p->nnodes;
        unsigned split = plan_rows_split(p, g, i);
        nr += id_range(p, g, pi->out, RANGE_WRITE, &rg[nr]);
        for (int k = 0; k < n->nin; k++)
            nr +=
                id_range(p, g, base + n->in[k], split >> k & 1 ? RANGE_ROWS : RANGE_WHOLE, &rg[nr]);
    }
    qsort(rg, (size_t)nr, sizeof *rg, range_cmp);
    size_t end_any = 0, end_write = 0;
    for (int32_t a = 0; a < nr;) {
        int32_t b = a;
        int write = 0, pre = 0, whole = 0, rows_differ = 0;
        for (; b < nr && rg[b].start == rg[a].start; b++) {
            const range *x = &rg[b];
            int writes = x->kind == RANGE_WRITE || x->kind == RANGE_PRE;
            write |= x->kind == RANGE_WRITE;
            pre |= x->kind == RANGE_PRE;
            whole |= x->kind == RANGE_WHOLE;
            rows_differ |= x->row != rg[a].row || x->end != rg[a].end;
            /* overlapping a range that starts before it */
            if (x->start < (writes ? end_any : end_write))
                return 1;
        }
        if ((write && (whole || pre || rows_differ)) || (pre && rows_differ))
            return 1;
        for (int32_t k = a; k < b; k++) {
            if (rg[k].end > end_any)
                end_any = rg[k].end;
            if (rg[k].kind != RANGE_ROWS && rg[k].kind != RANGE_WHOLE && rg[k].end > end_write)
                end_write = rg[k].end;
        }
        a = b;
    }
    return 0;
}

int plan_rows_check(const graph *g, plan *p, uerr *e)
{
    int32_t most = 0;
    for (int32_t k = 0; k < p->nruns; k++)
        if (p->runs[k].n > most)
            most = p->runs[k].n;
    range *rg = malloc(((size_t)most * (GRAPH_MAX_IN + 1) + 1) * sizeof *rg);
    if (!rg)
        return uerr_set(e, UERR_INTERNAL, "plan: out of memory for row runs");
    int32_t kept = 0;
    for (int32_t k = 0; k < p->nruns; k++)
        if (!run_hazard(p, g, &p->runs[k], rg))
            p->runs[kept++] = p->runs[k];
    p->nruns = kept;
    free(rg);
    return 0;
}
