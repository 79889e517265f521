/*
 * plan_lanes.c - the two-lane schedule (plan.h: plan_task, plan_region).
 *
 * For each region (the instructions between two wide ones):
 *   1. tasks: each instruction, or its rows in chunks where it splits
 *      safely and a chunk is worth a task;
 *   2. the arena bytes each task reads and writes (a view's are its
 *      source's; leaves lie outside the arena and no task writes them);
 *   3. its predecessors, in program order: the last writer of every byte
 *      it reads; the last writer and every reader since of every byte it
 *      writes (the bytes cut into segments at every range's ends);
 *   4. a list schedule on two lanes from a cost model in cycles, guessed
 *      from the sizes alone (the plan must not depend on the machine; the
 *      bits depend on neither);
 *   5. each task's wait: one past the other lane's last predecessor.
 *
 * Why no wait lasts forever: in the simulated schedule a task starts after
 * each predecessor has finished, and a lane's tasks are in the order of
 * their simulated starts; so a wait names a prefix of the other lane that
 * finished, in the simulation, before the waiting task started. A cycle of
 * waits would need a task to start before it starts. One thread running
 * both lanes takes, of the two next tasks, one whose wait is met: there
 * always is one (the one that starts first).
 */
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "ops/ops.h"

/* An instruction that does not split by rows and costs this many cycles
 * ends a region: it runs alone, split among all threads by its kernel. */
#define WIDE_CYCLES 40000.0
/* a chunk of a split instruction is worth at least this much */
#define CHUNK_CYCLES 2000.0
#define CHUNK_ROWS 8 /* a product's tiles (kernels/gemm.c) */
#define CHUNKS_MAX 64
/* handing a value to the other core: a few cache lines and a flag */
#define XLANE_CYCLES 300.0
/* starting the lanes (a pool job) and meeting at their end */
#define REGION_CYCLES 5000.0
#define REGION_MIN_TASKS 8
/* the planner's time and memory grow with the tasks: a longer program
 * (T beyond tens of thousands) runs in order */
#define LANES_MAX_TASKS (1 << 18)

static int64_t numel_of(const gnode *n)
{
    return shape_numel(&n->shape);
}

/* A guess of instruction pi's cycles (of a 2.6 GHz clock, measured on a
 * Zen 4 at S4's size: only the ratios matter), from sizes only. A call
 * costs some 20; a product is bound by its multiply-adds (fewer per cycle
 * in a product of few rows, whose rows the other lane wrote) or by reading
 * its right operand; the rest by
 * the bytes they touch, an exp or tanh per output element, and a softmax
 * by several passes over its rows. */
static double instr_cost(const plan *p, const graph *g, const plan_instr *pi)
{
    const gnode *n = plan_node(p, g, pi->node);
    double es = (double)dtype_size((dtype)n->dt), out = (double)numel_of(n);
    if (pi->kind == PLAN_COPY)
        return 20 + out * es / 32;
    const graph *ng = plan_graph_of(p, g, pi->node);
    const gnode *a = &ng->nodes[n->in[0]];
    if (n->op == OP_MATMUL) {
        const gnode *b = &ng->nodes[n->in[1]];
        double K = (double)a->shape.dim[n->ip[0] ? 0 : 1], M = out / (double)b->shape.dim[1];
        double fma = out * K / ((M < 32 ? 10 : 20) * 4 / es), mem = (double)numel_of(b) * es / 42;
        return 20 + (fma > mem ? fma : mem);
    }
    double el = out;
    for (int k = 0; k < n->nin; k++)
        el += (double)numel_of(&ng->nodes[n->in[k]]);
    if (n->op == OP_GATHER)
        el = 2 * out; /* the rows it reads, not its whole table */
    double c = 20 + el * es / 24;
    switch (n->op) {
    case OP_TANH:
    case OP_SIGMOID:
    case OP_EXP:
    case OP_LOG:
    case OP_SOFTPLUS:
    case OP_POW:
    case OP_SIGMOID_BCE:
        c += out * es / 4;
        break;
    case OP_SOFTMAX:
    case OP_SOFTMAX_GRAD:
    case OP_SOFTMAX_XENT:
    case OP_SOFTMAX_XENT_GRAD:
        c += (double)numel_of(a) * es * 1.5;
        break;
    default:
        break;
    }
    return c;
}

/* Whether instruction i, run in order, is a product the pool splits among
 * the threads (kernels/gemm.h): two lanes must beat that. */
static int pool_splits(const plan *p, const graph *g, int32_t i)
{
    const plan_instr *pi = &p->instr[i];
    const gnode *n = plan_node(p, g, pi->node);
    if (pi->kind == PLAN_COPY || n->op != OP_MATMUL)
        return 0;
    const gnode *a = &plan_graph_of(p, g, pi->node)->nodes[n->in[0]];
    double K = (double)a->shape.dim[n->ip[0] ? 0 : 1];
    return 2 * (double)numel_of(n) * K >= GEMM_PAR_FLOPS;
}

/* ---- bytes -------------------------------------------------------------------- */

typedef struct lrange {
    size_t a, b;
    int write;
} lrange;

/* The arena bytes of global id (a view's are its source's), as many as
 * global id sz has (an instruction writes its node's worth into its out
 * buffer, which may start a stack larger than out's own node), and the
 * bytes of one of sz's rows; 0 when there are none in the arena. */
static int id_bytes(const plan *p, const graph *g, int32_t id, int32_t sz, size_t *a, size_t *b,
                    size_t *row)
{
    const gnode *n = plan_node(p, g, sz);
    int32_t src = id;
    while (src >= p->nnodes && p->vsrc[src - p->nnodes] >= 0)
        src = p->vsrc[src - p->nnodes];
    size_t bytes = (size_t)numel_of(n) * dtype_size((dtype)n->dt);
    if (p->offset[src] == PLAN_NO_BUFFER || !bytes)
        return 0;
    *a = p->offset[src];
    *b = *a + bytes;
    *row = n->shape.rank && n->shape.dim[0] ? bytes / (size_t)n->shape.dim[0] : bytes;
    return 1;
}

/* The inputs instruction i splits by rows (op_def.rows) and, in *M, the
 * rows of its node; 0 when it does not split. Unlike a row run's
 * instructions, one split alone may write the start of a stack (a
 * stacked product's rows are the steps'). */
static unsigned split_mask(const plan *p, const graph *g, int32_t i, int64_t *M)
{
    const plan_instr *pi = &p->instr[i];
    if (pi->kind == PLAN_COPY || plan_rows_free(p, g, i))
        return 0;
    const gnode *n = plan_node(p, g, pi->node);
    const op_def *d = op_table[n->op];
    if (!d->rows || n->shape.rank != 2)
        return 0;
    *M = n->shape.dim[0];
    return d->rows(plan_graph_of(p, g, pi->node), n);
}

/* The ranges task (instruction i, rows r0 .. r1-1, or all when r1 = 0)
 * touches, into r (room for 1 + GRAPH_MAX_IN); their number. */
static int task_ranges(const plan *p, const graph *g, int32_t i, int64_t r0, int64_t r1, lrange *r)
{
    const plan_instr *pi = &p->instr[i];
    int64_t M;
    unsigned split = r1 ? split_mask(p, g, i, &M) : 0;
    size_t a, b, row;
    int nr = 0;
    if (id_bytes(p, g, pi->out, pi->node, &a, &b, &row))
        r[nr++] = r1 ? (lrange){a + (size_t)r0 * row, a + (size_t)r1 * row, 1} : (lrange){a, b, 1};
    if (pi->kind == PLAN_COPY)
        return nr; /* reads a leaf */
    const gnode *n = plan_node(p, g, pi->node);
    int32_t base = pi->node < p->nnodes ? 0 : p->nnodes;
    for (int k = 0; k < n->nin; k++)
        if (id_bytes(p, g, base + n->in[k], base + n->in[k], &a, &b, &row))
            r[nr++] = split >> k & 1 ? (lrange){a + (size_t)r0 * row, a + (size_t)r1 * row, 0}
                                     : (lrange){a, b, 0};
    return nr;
}

/* Rows of instruction i's output when they may run as separate tasks: it
 * splits by rows, and what it writes meets no input it reads whole, and an
 * input it splits only row for row (in place); else 0. */
static int64_t split_rows(const plan *p, const graph *g, int32_t i)
{
    int64_t M = 0;
    unsigned split = split_mask(p, g, i, &M);
    if (!split)
        return 0;
    const plan_instr *pi = &p->instr[i];
    const gnode *n = plan_node(p, g, pi->node);
    int32_t base = pi->node < p->nnodes ? 0 : p->nnodes;
    size_t oa, ob, orow, a, b, row;
    if (!id_bytes(p, g, pi->out, pi->node, &oa, &ob, &orow))
        return 0;
    for (int k = 0; k < n->nin; k++) {
        int32_t in = base + n->in[k];
        if (!id_bytes(p, g, in, in, &a, &b, &row) || b <= oa || ob <= a)
            continue;
        if (!(split >> k & 1) || a != oa || row != orow)
            return 0;
    }
    return M;
}

/* ---- the schedule's working state --------------------------------------------- */

typedef struct ltask {
    int32_t instr;
    int32_t weight; /* a product's right operand (its memory's id), or -1 */
    int32_t r0, r1;
    float wbytes; /* the weight's bytes */
    double cost;
} ltask;

typedef struct lanes {
    const plan *p;
    const graph *g;
    ltask *t;
    int32_t nt, tcap;
    int32_t *pfrom, *pred; /* predecessors, the same way */
    int32_t npred, predcap, pfcap;
    int32_t *sfrom, *succ; /* successors */
    int32_t sfcap, succcap;
    size_t *cut, *cut2; /* segment bounds, and room to sort them */
    int32_t ncut, cutcap;
    int32_t *lastw, *rhead; /* per segment: last writer, readers since */
    int32_t segcap;
    int32_t *rtask, *rnext; /* reader list nodes */
    int32_t nrd, rdcap;
    int32_t *stamp, *left, *lane, *pos, *crit;
    double *bl, *fin, *rt;
    int32_t *heap_a, *heap_b, *heap_p; /* available (by bl), pending (by rt) */
    int32_t pcap;                      /* capacity of the per-task arrays above */
} lanes;

static int grow_tasks(lanes *L, int32_t n)
{
    if (n <= L->pcap)
        return 0;
    int32_t c = (int32_t)vec_next_cap((size_t)L->pcap, (size_t)n);
    if (vec_realloc(&L->stamp, (size_t)c, sizeof *L->stamp) ||
        vec_realloc(&L->left, (size_t)c, sizeof *L->left) ||
        vec_realloc(&L->lane, (size_t)c, sizeof *L->lane) ||
        vec_realloc(&L->pos, (size_t)c, sizeof *L->pos) ||
        vec_realloc(&L->bl, (size_t)c, sizeof *L->bl) ||
        vec_realloc(&L->fin, (size_t)c, sizeof *L->fin) ||
        vec_realloc(&L->rt, (size_t)c, sizeof *L->rt) ||
        vec_realloc(&L->heap_a, (size_t)c, sizeof *L->heap_a) ||
        vec_realloc(&L->heap_b, (size_t)c, sizeof *L->heap_b) ||
        vec_realloc(&L->crit, (size_t)c, sizeof *L->crit) ||
        vec_realloc(&L->heap_p, (size_t)c, sizeof *L->heap_p))
        return -1;
    L->pcap = c;
    return 0;
}

static void lanes_free(lanes *L)
{
    void *all[] = {L->t,     L->pfrom, L->pred,   L->sfrom,  L->succ,   L->cut,  L->cut2, L->lastw,
                   L->rhead, L->rtask, L->rnext,  L->stamp,  L->left,   L->lane, L->pos,  L->bl,
                   L->fin,   L->rt,    L->heap_a, L->heap_p, L->heap_b, L->crit};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        free(all[k]);
}

/* ---- 1, 2: tasks and their bytes ---------------------------------------------- */

static int add_task(lanes *L, int32_t i, int64_t r0, int64_t r1, double cost)
{
    if (VEC_GROW(L->t, L->tcap, L->nt + 1))
        return -1;
    L->t[L->nt] = (ltask){i, -1, (int32_t)r0, (int32_t)r1, 0, cost};
    const plan_instr *pi = &L->p->instr[i];
    const gnode *n = plan_node(L->p, L->g, pi->node);
    if (pi->kind != PLAN_COPY && n->op == OP_MATMUL) {
        int32_t b = (pi->node < L->p->nnodes ? 0 : L->p->nnodes) + n->in[1];
        while (b >= L->p->nnodes && L->p->vsrc[b - L->p->nnodes] >= 0)
            b = L->p->vsrc[b - L->p->nnodes];
        const gnode *bn = plan_node(L->p, L->g, b);
        L->t[L->nt].weight = b;
        L->t[L->nt].wbytes = (float)numel_of(bn) * (float)dtype_size((dtype)bn->dt);
    }
    L->nt++;
    return 0;
}

/* The chunks of rows instruction i runs as (*M its rows), or 0 when it
 * runs whole: at least two, of at least CHUNK_ROWS rows and CHUNK_CYCLES
 * each. */
static int64_t nchunks(const plan *p, const graph *g, int32_t i, double cost, int64_t *M)
{
    *M = split_rows(p, g, i);
    double k = *M ? (cost - 20) / CHUNK_CYCLES : 0;
    int64_t n = *M / CHUNK_ROWS < (int64_t)k ? *M / CHUNK_ROWS : (int64_t)k;
    n = n > CHUNKS_MAX ? CHUNKS_MAX : n;
    return n < 2 ? 0 : n;
}

static int make_tasks(lanes *L, int32_t first, int32_t n, const double *cost)
{
    L->nt = 0;
    for (int32_t i = first; i < first + n; i++) {
        int64_t M, nch = nchunks(L->p, L->g, i, cost[i], &M);
        if (!nch && add_task(L, i, 0, 0, cost[i]))
            return -1;
        for (int c = 0; c < nch; c++) {
            int64_t r0 = pool_part_start(M, CHUNK_ROWS, c, (int)nch),
                    r1 = pool_part_start(M, CHUNK_ROWS, c + 1, (int)nch);
            if (r0 < r1 &&
                add_task(L, i, r0, r1, 40 + (cost[i] - 20) * (double)(r1 - r0) / (double)M))
                return -1;
        }
    }
    return 0;
}

/* ---- 3: predecessors ------------------------------------------------------------ */

/* Sorts n offsets, with tmp of n: a radix sort by bytes, skipping the
 * bytes all share (a qsort of the bounds was a third of planning S4 at
 * T = 10,000). */
static void sort_offsets(size_t *a, size_t *tmp, int32_t n)
{
    size_t all_or = 0, all_and = ~(size_t)0;
    for (int32_t i = 0; i < n; i++) {
        all_or |= a[i];
        all_and &= a[i];
    }
    for (unsigned shift = 0; shift < 8 * sizeof(size_t); shift += 8) {
        if (!((all_or ^ all_and) >> shift & 0xff))
            continue; /* every key has this byte */
        int32_t count[257] = {0};
        for (int32_t i = 0; i < n; i++)
            count[(a[i] >> shift & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (int32_t i = 0; i < n; i++)
            tmp[count[a[i] >> shift & 0xff]++] = a[i];
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

/* the segment that starts at byte a */
static int32_t seg_of(const lanes *L, size_t a)
{
    int32_t lo = 0, hi = L->ncut - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (L->cut[mid] < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* two int32 arrays of one capacity */
static int grow_pair(int32_t **a, int32_t **b, int32_t *cap, int32_t need)
{
    int32_t was = *cap;
    if (VEC_GROW(*a, *cap, need))
        return -1;
    if (*cap != was && vec_realloc(b, (size_t)*cap, sizeof **b)) {
        *cap = was; /* b keeps its old size: grow both again next time */
        return -1;
    }
    return 0;
}

static int add_pred(lanes *L, int32_t k, int32_t q)
{
    if (q < 0 || q == k || L->stamp[q] == k)
        return 0;
    L->stamp[q] = k;
    if (VEC_GROW(L->pred, L->predcap, L->npred + 1))
        return -1;
    L->pred[L->npred++] = q;
    return 0;
}

static int grow_offsets(lanes *L, int32_t need)
{
    int32_t was = L->cutcap;
    if (VEC_GROW(L->cut, L->cutcap, need))
        return -1;
    if (L->cutcap != was && vec_realloc(&L->cut2, (size_t)L->cutcap, sizeof *L->cut2)) {
        L->cutcap = was;
        return -1;
    }
    return 0;
}

static int find_preds(lanes *L)
{
    int32_t nt = L->nt;
    lrange rg[1 + GRAPH_MAX_IN];
    if (VEC_GROW(L->pfrom, L->pfcap, nt + 1) || grow_tasks(L, nt))
        return -1;
    /* most bounds repeat (a weight's copy read at every step): the last
     * bound of each of 256 hash slots is not pushed again */
    size_t seen[256];
    memset(seen, 0xff, sizeof seen);
    L->ncut = 0;
    for (int32_t k = 0; k < nt; k++) {
        const ltask *t = &L->t[k];
        int nr = task_ranges(L->p, L->g, t->instr, t->r0, t->r1, rg);
        if (grow_offsets(L, L->ncut + 2 * nr))
            return -1;
        for (int r = 0; r < 2 * nr; r++) {
            size_t b = r & 1 ? rg[r / 2].b : rg[r / 2].a, h = (b >> 6 ^ b >> 14) & 255;
            if (seen[h] != b)
                L->cut[L->ncut++] = seen[h] = b;
        }
    }
    sort_offsets(L->cut, L->cut2, L->ncut);
    int32_t u = 0;
    for (int32_t c = 0; c < L->ncut; c++)
        if (!u || L->cut[c] != L->cut[u - 1])
            L->cut[u++] = L->cut[c];
    L->ncut = u;
    if (grow_pair(&L->lastw, &L->rhead, &L->segcap, u + 1))
        return -1;
    for (int32_t s = 0; s < u; s++)
        L->lastw[s] = L->rhead[s] = -1;
    for (int32_t k = 0; k < nt; k++)
        L->stamp[k] = -1;
    L->npred = L->nrd = 0;
    for (int32_t k = 0; k < nt; k++) {
        const ltask *t = &L->t[k];
        int nr = task_ranges(L->p, L->g, t->instr, t->r0, t->r1, rg);
        L->pfrom[k] = L->npred;
        for (int r = 0; r < nr; r++) {
            const lrange *x = &rg[r];
            for (int32_t s = seg_of(L, x->a); s < L->ncut && L->cut[s] < x->b; s++) {
                if (add_pred(L, k, L->lastw[s]))
                    return -1;
                if (x->write) {
                    for (int32_t q = L->rhead[s]; q >= 0; q = L->rnext[q])
                        if (add_pred(L, k, L->rtask[q]))
                            return -1;
                    L->rhead[s] = -1;
                    L->lastw[s] = k;
                    continue;
                }
                if (grow_pair(&L->rtask, &L->rnext, &L->rdcap, L->nrd + 1))
                    return -1;
                L->rtask[L->nrd] = k;
                L->rnext[L->nrd] = L->rhead[s];
                L->rhead[s] = L->nrd++;
            }
        }
    }
    L->pfrom[nt] = L->npred;
    return 0;
}

/* successors (the predecessors turned round) and bottom levels: a task's
 * cost plus the costliest path after it */
static int find_succs(lanes *L)
{
    int32_t nt = L->nt;
    if (VEC_GROW(L->sfrom, L->sfcap, nt + 1) || VEC_GROW(L->succ, L->succcap, L->npred + 1))
        return -1;
    memset(L->sfrom, 0, (size_t)(nt + 1) * sizeof *L->sfrom);
    for (int32_t e = 0; e < L->npred; e++)
        L->sfrom[L->pred[e] + 1]++;
    for (int32_t k = 0; k < nt; k++)
        L->sfrom[k + 1] += L->sfrom[k];
    for (int32_t k = 0; k < nt; k++)
        L->left[k] = 0;
    for (int32_t k = 0; k < nt; k++)
        for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
            int32_t q = L->pred[e];
            L->succ[L->sfrom[q] + L->left[q]++] = k;
        }
    for (int32_t k = nt - 1; k >= 0; k--) {
        double most = 0;
        for (int32_t e = L->sfrom[k]; e < L->sfrom[k + 1]; e++)
            if (L->bl[L->succ[e]] > most)
                most = L->bl[L->succ[e]];
        L->bl[k] = L->t[k].cost + most;
        L->left[k] = L->pfrom[k + 1] - L->pfrom[k];
    }
    return 0;
}

/* ---- 4: the list schedule --------------------------------------------------------- */

/* A heap of task ids by key: the largest first (sign 1) or the smallest
 * (sign -1); on equal keys the lower id. */
typedef struct heap {
    int32_t *h, n;
    const double *key;
    double sign;
} heap;

static int before(const heap *q, int32_t x, int32_t y)
{
    double kx = q->sign * q->key[x], ky = q->sign * q->key[y];
    return kx > ky || (kx == ky && x < y);
}

static void heap_push(heap *q, int32_t v)
{
    int32_t i = q->n++;
    while (i > 0 && before(q, v, q->h[(i - 1) / 2])) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = v;
}

static int32_t heap_pop(heap *q)
{
    int32_t top = q->h[0], v = q->h[--q->n], i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && before(q, q->h[c + 1], q->h[c]))
            c++;
        if (!before(q, q->h[c], v))
            break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n)
        q->h[i] = v;
    return top;
}

/* the earliest start of task k on lane l, that lane free at t */
static double start_on(const lanes *L, int32_t k, int l, double t)
{
    for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
        int32_t q = L->pred[e];
        double f = L->fin[q] + (L->lane[q] != l ? XLANE_CYCLES : 0);
        if (f > t)
            t = f;
    }
    return t;
}

/* The weights a lane's products read last, most recent first: a product
 * whose weight another core's caches hold reads it at a fraction of the
 * speed (the recurrence's W^T: 64 KiB at H = 128 float32), so the chain of
 * products of one weight stays on one lane. */
#define WARM_WEIGHTS 4
#define COLD_BYTES_PER_CYCLE 16.0

static double cold_cost(const int32_t *warm, const ltask *t)
{
    if (t->weight < 0)
        return 0;
    for (int w = 0; w < WARM_WEIGHTS; w++)
        if (warm[w] == t->weight)
            return 0;
    return t->wbytes / COLD_BYTES_PER_CYCLE;
}

static void warm_up(int32_t *warm, const ltask *t)
{
    if (t->weight < 0 || warm[0] == t->weight)
        return;
    int w = 1;
    while (w < WARM_WEIGHTS - 1 && warm[w] != t->weight)
        w++;
    for (; w > 0; w--)
        warm[w] = warm[w - 1];
    warm[0] = t->weight;
}

/* Marks the critical path: from the source of the largest bottom level,
 * each time the successor of the largest (the recurrence, forward then
 * backward, and what joins the two). */
static void mark_critical(lanes *L)
{
    int32_t k = -1;
    for (int32_t i = 0; i < L->nt; i++) {
        L->crit[i] = 0;
        if (L->pfrom[i] == L->pfrom[i + 1] && (k < 0 || L->bl[i] > L->bl[k]))
            k = i;
    }
    while (k >= 0) {
        L->crit[k] = 1;
        int32_t next = -1;
        for (int32_t e = L->sfrom[k]; e < L->sfrom[k + 1]; e++)
            if (next < 0 || L->bl[L->succ[e]] > L->bl[next])
                next = L->succ[e];
        k = next;
    }
}

enum { FREE, PINNED };

/*
 * Simulates the two lanes; fills lane, pos, fin; returns the makespan.
 * FREE: each task, the one of largest bottom level among those ready when
 * a lane comes free, on the lane where it ends first. PINNED: the critical
 * path on lane 0 and everything else on lane 1 (the chain on one core,
 * its weight in that core's cache, never waiting for work put in its way).
 */
static double simulate(lanes *L, int mode)
{
    int pinned = mode != FREE;
    double freet[2] = {0, 0};
    int32_t warm[2][WARM_WEIGHTS];
    for (int w = 0; w < WARM_WEIGHTS; w++)
        warm[0][w] = warm[1][w] = -1;
    int32_t count[2] = {0, 0}, done = 0;
    heap pend = {L->heap_p, 0, L->rt, -1},
         avail[2] = {{L->heap_a, 0, L->bl, 1}, {L->heap_b, 0, L->bl, 1}};
    for (int32_t k = 0; k < L->nt; k++) {
        L->left[k] = L->pfrom[k + 1] - L->pfrom[k];
        if (!L->left[k]) {
            L->rt[k] = 0;
            heap_push(&pend, k);
        }
    }
    while (done < L->nt) {
        int l = freet[0] <= freet[1] ? 0 : 1;
        double now = freet[l];
        while (pend.n && L->rt[pend.h[0]] <= now) {
            int32_t k = heap_pop(&pend);
            heap_push(&avail[pinned && !L->crit[k]], k);
        }
        heap *h = &avail[pinned ? l : 0];
        if (!h->n) {
            /* idle until something is ready, or the other lane's work
             * makes something ready */
            double next = pend.n ? L->rt[pend.h[0]] : 1e300;
            if (pinned && avail[!l].n && freet[!l] > now && freet[!l] < next)
                next = freet[!l];
            if (pinned && avail[!l].n && freet[!l] <= now)
                next = now + 1; /* the other lane goes first */
            freet[l] = next;
            continue;
        }
        int32_t k = heap_pop(h);
        double f0 = start_on(L, k, 0, l == 0 ? now : freet[0]) + cold_cost(warm[0], &L->t[k]),
               f1 = start_on(L, k, 1, l == 1 ? now : freet[1]) + cold_cost(warm[1], &L->t[k]);
        int to = pinned ? l : f0 < f1 || (f0 == f1 && l == 0) ? 0 : 1;
        L->lane[k] = to;
        L->pos[k] = count[to]++;
        L->fin[k] = (to ? f1 : f0) + L->t[k].cost;
        freet[to] = L->fin[k];
        warm_up(warm[to], &L->t[k]);
        done++;
        for (int32_t e = L->sfrom[k]; e < L->sfrom[k + 1]; e++) {
            int32_t s = L->succ[e];
            if (--L->left[s])
                continue;
            double r = 0;
            for (int32_t f = L->pfrom[s]; f < L->pfrom[s + 1]; f++)
                if (L->fin[L->pred[f]] > r)
                    r = L->fin[L->pred[f]];
            L->rt[s] = r;
            heap_push(&pend, s);
        }
    }
    return freet[0] > freet[1] ? freet[0] : freet[1];
}

/* The better of the two simulations, left in L; pinned unless free is
 * clearly better: the model's costs are guesses, and pinned, the chain
 * never waits behind work a guess put in its way. */
static double schedule(lanes *L)
{
    mark_critical(L);
    double free_ = simulate(L, FREE), pinned = simulate(L, PINNED);
    return pinned <= 1.05 * free_ ? pinned : simulate(L, FREE);
}

/* ---- 5: the region's tasks in the plan -------------------------------------------- */

/* need[k] of a lane 1 task: the first position on lane 0 of a task that
 * waits for it, directly or through other lane 1 tasks; INT32_MAX when
 * none does. Successors come later in task order (program order). */
static void find_need(lanes *L, int32_t *need)
{
    for (int32_t k = L->nt - 1; k >= 0; k--) {
        need[k] = INT32_MAX;
        if (L->lane[k] == 0)
            continue;
        for (int32_t e = L->sfrom[k]; e < L->sfrom[k + 1]; e++) {
            int32_t s = L->succ[e], v = L->lane[s] == 0 ? L->pos[s] : need[s];
            if (v < need[k])
                need[k] = v;
        }
    }
}

/* lane 1's tasks taken to last this much longer than guessed, to order
 * its needed list (see order_needed) */
#define LANE1_SLOWER 1.5

/* working arrays of order_needed, over the region's tasks */
typedef struct needed_work {
    double *rel, *key;     /* release time (lane 0's predecessors ended), need */
    int32_t *wait0, *ndep; /* ndep: needed predecessors not placed; -1: placed */
    int32_t *byneed;
} needed_work;

/*
 * Lane 1's positions (L->pos; lane 0's stay): the needed tasks first, then
 * the rest in the schedule's order; the count of needed ones.
 *
 * The needed list is earliest need first among the tasks released by then
 * (lane 0's predecessors ended in the simulation), on a clock that takes
 * lane 1's tasks to last half again as long as guessed: where lane 1 falls
 * behind, it then does first what the chain needs first (the newest rows'
 * output projection before the oldest rows' output gradients), and where
 * it keeps up, the order is the release order. A task is taken only if
 * its wait on lane 0 is no later than the least need of the needed tasks
 * left, so that lane 0 never waits for a needed task that stands behind
 * one waiting for lane 0 beyond it (one of least need always qualifies:
 * its lane 0 predecessors come before the lane 0 task that needs it).
 */
static int32_t order_lane1(lanes *L, const int32_t *need, int32_t n0, needed_work *w)
{
    int32_t nneeded = 0, nrest = 0;
    for (int32_t v = 0; v <= n0 + 1; v++)
        w->ndep[v] = 0; /* first as counts by need, for byneed */
    for (int32_t k = 0; k < L->nt; k++)
        if (L->lane[k] && need[k] != INT32_MAX) {
            w->ndep[need[k] + 1]++;
            nneeded++;
        }
    for (int32_t v = 0; v <= n0; v++)
        w->ndep[v + 1] += w->ndep[v];
    for (int32_t k = 0; k < L->nt; k++)
        if (L->lane[k] && need[k] != INT32_MAX)
            w->byneed[w->ndep[need[k]]++] = k;
    heap unrel = {L->heap_a, 0, w->rel, -1}, released = {L->heap_b, 0, w->key, -1};
    for (int32_t k = 0; k < L->nt; k++) {
        if (!L->lane[k] || need[k] == INT32_MAX)
            continue;
        w->rel[k] = 0;
        w->key[k] = need[k];
        w->wait0[k] = w->ndep[k] = 0;
        for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
            int32_t q = L->pred[e];
            if (!L->lane[q] && L->fin[q] > w->rel[k])
                w->rel[k] = L->fin[q];
            if (!L->lane[q] && L->pos[q] + 1 > w->wait0[k])
                w->wait0[k] = L->pos[q] + 1;
            w->ndep[k] += L->lane[q] != 0;
        }
        if (!w->ndep[k])
            heap_push(&unrel, k);
    }
    double clock = 0;
    for (int32_t placed = 0, least = 0; placed < nneeded;) {
        while (unrel.n && w->rel[unrel.h[0]] <= clock)
            heap_push(&released, heap_pop(&unrel));
        while (w->ndep[w->byneed[least]] < 0)
            least++;
        if (!released.n || w->wait0[released.h[0]] > need[w->byneed[least]]) {
            clock = w->rel[unrel.h[0]]; /* a task of least need is still to come */
            continue;
        }
        int32_t k = heap_pop(&released);
        w->ndep[k] = -1;
        L->pos[k] = placed++;
        clock = (w->rel[k] > clock ? w->rel[k] : clock) + L->t[k].cost * LANE1_SLOWER;
        for (int32_t e = L->sfrom[k]; e < L->sfrom[k + 1]; e++) {
            int32_t s = L->succ[e];
            if (L->lane[s] && need[s] != INT32_MAX && !--w->ndep[s])
                heap_push(&unrel, s);
        }
    }
    /* the rest, in the schedule's order: by their positions there, which
     * the needed ones' new positions have not touched */
    for (int32_t k = 0; k < L->nt; k++)
        w->wait0[k] = -1;
    for (int32_t k = 0; k < L->nt; k++)
        if (L->lane[k] && need[k] == INT32_MAX)
            w->wait0[L->pos[k]] = k;
    for (int32_t i = 0; i < L->nt; i++)
        if (w->wait0[i] >= 0)
            L->pos[w->wait0[i]] = nneeded + nrest++;
    return nneeded;
}

static int emit_region(lanes *L, plan *p, int32_t first, int32_t n, double gain, int32_t *tcap,
                       int32_t *rcap)
{
    if (VEC_GROW(p->tasks, *tcap, p->ntasks + L->nt) ||
        VEC_GROW(p->regions, *rcap, p->nregions + 1))
        return -1;
    plan_region *r = &p->regions[p->nregions];
    *r = (plan_region){.first = first, .n = n, .task0 = p->ntasks, .gain = gain};
    for (int32_t k = 0; k < L->nt; k++)
        r->ntask[L->lane[k]]++;
    /* the simulation's working arrays, done with now, hold order_lane1's
     * (the planner's memory counts in the peak of a run) */
    if (grow_tasks(L, L->nt + 2))
        return -1;
    int32_t *need = L->stamp;
    needed_work w = {L->rt, L->bl, L->crit, L->left, L->heap_p};
    find_need(L, need);
    r->nneeded = order_lane1(L, need, r->ntask[0], &w);
    for (int32_t k = 0; k < L->nt; k++) {
        int l = L->lane[k];
        int32_t wait = 0, wait2 = 0;
        for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
            int32_t q = L->pred[e], at = L->pos[q] + 1;
            if (L->lane[q] != l && at > wait)
                wait = at;
            if (l && L->lane[q] && need[k] == INT32_MAX && need[q] != INT32_MAX && at > wait2)
                wait2 = at;
        }
        int64_t M;
        const ltask *t = &L->t[k];
        p->tasks[r->task0 + (l ? r->ntask[0] : 0) + L->pos[k]] = (plan_task){
            .instr = t->instr,
            .wait = wait,
            .wait2 = wait2,
            .rows = t->r1 ? split_mask(p, L->g, t->instr, &M) : 0,
            .r0 = t->r0,
            .r1 = t->r1,
        };
    }
    p->nregions++;
    p->ntasks += L->nt;
    return 0;
}

/* Instructions first .. first+n-1 on two lanes: tasks, predecessors and
 * the simulated schedule left in L; their time on two lanes (the start and
 * the end of the job included) and, in *serial, in order. 0 when they are
 * too few or too many tasks for lanes, -1 when out of memory. */
static double lanes_time(lanes *L, const plan *p, const double *cost, int32_t first, int32_t n,
                         double *serial)
{
    *serial = 0;
    for (int32_t i = first; i < first + n; i++)
        *serial += cost[i] / (pool_splits(p, L->g, i) ? 2 : 1);
    if (make_tasks(L, first, n, cost))
        return -1;
    if (L->nt < REGION_MIN_TASKS || p->ntasks + L->nt > LANES_MAX_TASKS)
        return 0;
    if (find_preds(L) || find_succs(L))
        return -1;
    return schedule(L) + REGION_CYCLES;
}

/* The time of instructions first .. first+n-1 as they would run: on two
 * lanes when that pays, else in order; -1 when out of memory. */
static double best_time(lanes *L, const plan *p, const double *cost, int32_t first, int32_t n)
{
    double serial, two = n > 0 ? lanes_time(L, p, cost, first, n, &serial) : 0;
    if (two < 0)
        return -1;
    return two > 0 && two * 1.1 < serial ? two : n > 0 ? serial : 0;
}

/* large, and one task: the pool would split it (a product of a few rows
 * by a large weight at batch 8 as much as a weight's gradient) */
static int wide(const plan *p, const graph *g, const double *cost, int32_t i)
{
    int64_t M;
    return cost[i] >= WIDE_CYCLES && !nchunks(p, g, i, cost[i], &M);
}

static int32_t next_wide(const plan *p, const graph *g, const double *cost, int32_t i)
{
    while (i < p->ninstr && !wide(p, g, cost, i))
        i++;
    return i;
}

/* The region that starts at instruction i: up to the next wide one, and
 * on over it and the instructions up to the one after while one region
 * takes less time than the two apart with the wide product between them,
 * split among two threads (the weight gradient of the output projection
 * runs beside the backward recurrence; the recurrent weight's, which
 * waits for all of it, is left to both threads). Emits it when two lanes
 * pay; returns the instruction after it, or -1 when out of memory. (The
 * schedule kept is worked out again to emit it rather than kept beside
 * a candidate's: the planner's memory counts in the peak of a run.) */
static int32_t region(lanes *L, plan *p, const double *cost, int32_t i, int32_t *tcap,
                      int32_t *rcap)
{
    int32_t j = next_wide(p, L->g, cost, i), last = j;
    double serial, two = lanes_time(L, p, cost, i, j - i, &serial);
    while (two > 0 && j < p->ninstr) {
        int32_t j2 = next_wide(p, L->g, cost, j + 1);
        double after = best_time(L, p, cost, j + 1, j2 - j - 1), s2;
        double merged = after < 0 ? -1 : lanes_time(L, p, cost, i, j2 - i, &s2);
        last = j2;
        if (merged < 0)
            return -1;
        if (merged == 0 || merged >= two + cost[j] / 2 + after)
            break;
        two = merged;
        serial = s2;
        j = last;
    }
    if (two < 0)
        return -1;
    if (two > 0 && two * 1.1 < serial &&
        ((last != j && lanes_time(L, p, cost, i, j - i, &serial) < 0) ||
         emit_region(L, p, i, j - i, serial / two, tcap, rcap)))
        return -1;
    return j > i ? j : i + 1;
}

int plan_lanes(const graph *g, plan *p, uerr *e)
{
    if (p->nruns || p->ninstr < REGION_MIN_TASKS || p->ninstr > LANES_MAX_TASKS)
        return 0;
    lanes L = {.p = p, .g = g};
    double *cost = malloc((size_t)p->ninstr * sizeof *cost);
    int32_t tcap = 0, rcap = 0, rc = cost ? 0 : -1;
    for (int32_t i = 0; !rc && i < p->ninstr; i++)
        cost[i] = instr_cost(p, g, &p->instr[i]);
    for (int32_t i = 0; !rc && i < p->ninstr;) {
        i = region(&L, p, cost, i, &tcap, &rcap);
        rc = i < 0;
    }
    free(cost);
    lanes_free(&L);

    if (rc) {
        free(p->tasks);
        free(p->regions);
        p->tasks = NULL;
        p->regions = NULL;
        p->ntasks = p->nregions = 0;
        return uerr_set(e, UERR_INTERNAL, "plan: out of memory for the two lanes");
    }
    return 0;
}
