/*
 * plan_lanes.c - the two-lane schedule (plan.h: plan_task, plan_region):
 * its tasks, their bytes and predecessors, and the regions.
 *
 * For each region (the instructions up to a wide one, and on over wide
 * ones where that pays: region()):
 *   1. tasks: each instruction, or its rows in chunks where it splits
 *      safely and a chunk is worth a task;
 *   2. the arena bytes each task reads and writes (a view's are its
 *      source's; leaves lie outside the arena and no task writes them);
 *   3. its predecessors, in program order: the last writer of every byte
 *      it reads; the last writer and every reader since of every byte it
 *      writes (the bytes cut into segments at every range's ends);
 *   4. the schedule, lane 1's two lists and every task's waits
 *      (plan_lanes_sched.c), from a cost model that sees only sizes.
 *
 * Predecessors come first in program order, so task order is an order
 * they allow; whatever the schedule, a task reads what it would in the
 * program's order once its waits are met.
 */
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "engine/plan_lanes_int.h"
#include "kernels/pool.h"
#include "ops/ops.h"

/* An instruction that does not split by rows and costs this many cycles
 * ends a region, unless the region pays to go on over it: else it runs
 * alone, split among all threads by its kernel. */
#define WIDE_CYCLES 40000.0
/* a chunk of a split instruction is worth at least this much */
#define CHUNK_CYCLES 2000.0
#define CHUNK_ROWS 8 /* a product's tiles (kernels/gemm.c) */
#define CHUNKS_MAX 64
/* starting the lanes (a pool job) and meeting at their end */
#define REGION_CYCLES 5000.0
#define REGION_MIN_TASKS 8
/* the planner's time and memory grow with the tasks: a longer program
 * (T beyond tens of thousands) runs in order */
#define LANES_MAX_TASKS (1 << 18)

/* ---- bytes -------------------------------------------------------------------- */

typedef struct lrange {
    size_t a, b;
    int write;
} lrange;

/* The PLAN_UPDATE of leaf id, or -1 */
static int32_t updated_leaf(const plan *p, int32_t id)
{
    for (int32_t i = p->ninstr - p->nupdate; i < p->ninstr; i++)
        if (p->instr[i].node == id)
            return i;
    return -1;
}

/* The arena bytes of global id (a view's are its source's; an updated
 * leaf's lie after the arena), as many as global id sz has (an
 * instruction writes its node's worth into its out buffer, which may
 * start a stack larger than out's own node), and the bytes of one of
 * sz's rows; 0 when there are none in the arena. */
static int id_bytes(const plan *p, const graph *g, int32_t id, int32_t sz, size_t *a, size_t *b,
                    size_t *row)
{
    const gnode *n = plan_node(p, g, sz);
    int32_t src = id;
    while (src >= p->nnodes && p->vsrc[src - p->nnodes] >= 0)
        src = p->vsrc[src - p->nnodes];
    size_t bytes = op_value_bytes(n);
    int32_t u = p->offset[src] == PLAN_NO_BUFFER ? updated_leaf(p, src) : -1;
    if ((p->offset[src] == PLAN_NO_BUFFER && u < 0) || !bytes)
        return 0;
    /* an updated leaf, beyond the arena where nothing else lies, at its
     * gradient's place: its readers come before its update */
    *a = u < 0 ? p->offset[src] : p->arena_bytes + p->offset[p->instr[u].out];
    *b = *a + bytes;
    *row = n->shape.rank && n->shape.dim[0] ? bytes / (size_t)n->shape.dim[0] : bytes;
    return 1;
}

/* The inputs instruction i splits by rows (op_def.rows) and, in *M, the
 * rows of its node; 0 when it does not split. Unlike a row run's
 * instructions, one split alone may write the start of a stack (a
 * stacked product's rows are the steps'). */
unsigned lanes_split_mask(const plan *p, const graph *g, int32_t i, int64_t *M)
{
    const plan_instr *pi = &p->instr[i];
    if (pi->kind == PLAN_COPY || pi->kind == PLAN_UPDATE || plan_rows_free(p, g, i))
        return 0;
    const gnode *n = plan_node(p, g, pi->node);
    const op_def *d = op_table[n->op];
    if (!d->rows || n->shape.rank != 2)
        return 0;
    *M = n->shape.dim[0];
    return d->rows(plan_graph_of(p, g, pi->node), n);
}

/* Bytes a .. b-1 of a tensor, or its rows r0 .. r1-1 of `row` bytes
 * each when r1 > 0 */
static lrange rows_range(size_t a, size_t b, size_t row, int64_t r0, int64_t r1, int write)
{
    return r1 ? (lrange){a + (size_t)r0 * row, a + (size_t)r1 * row, write} : (lrange){a, b, write};
}

/* The ranges task (instruction i, rows r0 .. r1-1, or all when r1 = 0)
 * touches, into r (room for 1 + GRAPH_MAX_IN); their number. */
static int task_ranges(const plan *p, const graph *g, int32_t i, int64_t r0, int64_t r1, lrange *r)
{
    const plan_instr *pi = &p->instr[i];
    size_t a, b, row;
    int nr = 0;
    if (pi->kind == PLAN_UPDATE) {
        /* reads the rows of its gradient (out), writes those of its leaf,
         * and their columns of a copy it keeps (all of it, as far as the
         * ranges can tell: after every read of the copy) */
        int32_t copy = plan_mirror_of_update(p, i);
        if (id_bytes(p, g, pi->out, pi->out, &a, &b, &row))
            r[nr++] = rows_range(a, b, row, r0, r1, 0);
        if (id_bytes(p, g, pi->node, pi->node, &a, &b, &row))
            r[nr++] = rows_range(a, b, row, r0, r1, 1);
        if (copy >= 0 && id_bytes(p, g, copy, copy, &a, &b, &row))
            r[nr++] = (lrange){a, b, 1};
        return nr;
    }
    int64_t M;
    unsigned split = r1 ? lanes_split_mask(p, g, i, &M) : 0;
    if (id_bytes(p, g, pi->out, pi->node, &a, &b, &row))
        r[nr++] = rows_range(a, b, row, r0, r1, 1);
    if (pi->kind == PLAN_COPY) {
        /* a leaf: its bytes only if it is updated */
        if (id_bytes(p, g, pi->node, pi->node, &a, &b, &row))
            r[nr++] = (lrange){a, b, 0};
        return nr;
    }
    const gnode *n = plan_node(p, g, pi->node);
    int32_t base = pi->node < p->nnodes ? 0 : p->nnodes;
    for (int k = 0; k < n->nin; k++)
        if (id_bytes(p, g, base + n->in[k], base + n->in[k], &a, &b, &row))
            r[nr++] = rows_range(a, b, row, r0, split >> k & 1 ? r1 : 0, 0);
    return nr;
}

/* Rows of instruction i's output when they may run as separate tasks: it
 * splits by rows, and what it writes meets no input it reads whole, and an
 * input it splits only row for row (in place); else 0. */
static int64_t split_rows(const plan *p, const graph *g, int32_t i)
{
    const gnode *leaf = plan_node(p, g, p->instr[i].node);
    if (p->instr[i].kind == PLAN_UPDATE) /* each element on its own */
        return leaf->shape.rank > 1 ? leaf->shape.dim[0] : 0;
    int64_t M = 0;
    unsigned split = lanes_split_mask(p, g, i, &M);
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

int lanes_grow(lanes *L, int32_t n)
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
    if (pi->kind != PLAN_COPY && pi->kind != PLAN_UPDATE && n->op == OP_MATMUL) {
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

/* Every chunk of a product reads all of its weight. A weight larger than
 * this stays in no core's L2 (1 to 2 MiB on today's x86), so each chunk
 * streams it from the L3 or memory again: at V = 5000, H = 256, batch 1,
 * the output projection and its gradient in chunks of 10 and 8 rows and a
 * tail of 4, 2 and 1 read the 5 MB weight ten times a step. (From 1 MiB,
 * a GRU at V = 1000, H = 300, batch 10 had fewer chunks and a step 7%
 * slower.) */
#define STREAM_MIN_BYTES ((double)(2 << 20))
#define STREAM_BYTES_PER_CYCLE 16.0

/* the cycles each chunk of instruction i spends streaming its weight */
static double stream_cycles(const plan *p, const graph *g, int32_t i)
{
    const gnode *n = plan_node(p, g, p->instr[i].node);
    if (p->instr[i].kind == PLAN_COPY || p->instr[i].kind == PLAN_UPDATE || n->op != OP_MATMUL)
        return 0;
    const gnode *b = &plan_graph_of(p, g, p->instr[i].node)->nodes[n->in[1]];
    double bytes = (double)numel_of(b) * (double)dtype_size((dtype)b->dt);
    return bytes > STREAM_MIN_BYTES ? bytes / STREAM_BYTES_PER_CYCLE : 0;
}

/* The chunks of rows instruction i runs as (*M its rows), or 0 when it
 * runs whole: at least two, of at least CHUNK_ROWS rows and CHUNK_CYCLES
 * each, and each worth four times the streaming of its weight. */
static int64_t nchunks(const plan *p, const graph *g, int32_t i, double cost, int64_t *M)
{
    *M = split_rows(p, g, i);
    double least = 4 * stream_cycles(p, g, i);
    double k = *M ? (cost - 20) / (least > CHUNK_CYCLES ? least : CHUNK_CYCLES) : 0;
    int64_t n = *M / CHUNK_ROWS < (int64_t)k ? *M / CHUNK_ROWS : (int64_t)k;
    n = n > CHUNKS_MAX ? CHUNKS_MAX : n;
    return n < 2 ? 0 : n;
}

/*
 * Where the chunks of M rows in nch chunks start: at[0 .. k], at[k] = M;
 * returns k. A product's last rows are the last the chain makes (the
 * output projection of the last steps) or the first it needs back (their
 * gradients, where the backward starts), so the last TAIL_ROWS rows are
 * cut finer, halving down to one: between the forward's end and the
 * backward's start the chain waits for a row's work, not a chunk's (at
 * S1, T = 25, a chunk of 9 rows of the projection, their losses'
 * gradients and their share of dO V were 15,000 cycles of a 133,000 step).
 * Not when streaming the weight for each of them costs too much (tail_ok
 * 0).
 */
#define TAIL_ROWS 7

static int chunk_bounds(int64_t M, int64_t nch, int tail_ok, int64_t at[CHUNKS_MAX + 4])
{
    int64_t tail = tail_ok && M >= TAIL_ROWS + 2 * CHUNK_ROWS ? TAIL_ROWS : 0, body = M - tail;
    int64_t nb = nch < body / CHUNK_ROWS ? nch : body / CHUNK_ROWS;
    int k = 0;
    for (int c = 0; c < nb; c++)
        at[k++] = pool_part_start(body, CHUNK_ROWS, c, (int)nb);
    for (int64_t w = tail; w > 0; w /= 2)
        at[k++] = M - w;
    at[k] = M;
    return k;
}

static int make_tasks(lanes *L, int32_t first, int32_t n, const double *cost)
{
    L->nt = 0;
    for (int32_t i = first; i < first + n; i++) {
        int64_t M, nch = nchunks(L->p, L->g, i, cost[i], &M), at[CHUNKS_MAX + 4];
        double stream = stream_cycles(L->p, L->g, i);
        if (!nch && add_task(L, i, 0, 0, cost[i]))
            return -1;
        /* the tail's three chunks, each streaming the weight, may add a
         * quarter to the instruction (else it runs without) */
        int tail_ok = 3 * stream * 4 <= cost[i] && L->p->instr[i].kind != PLAN_UPDATE;
        for (int c = 0, k = nch ? chunk_bounds(M, nch, tail_ok, at) : 0; c < k; c++)
            if (at[c] < at[c + 1] &&
                add_task(L, i, at[c], at[c + 1],
                         40 + stream + (cost[i] - 20) * (double)(at[c + 1] - at[c]) / (double)M))
                return -1;
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

/* Two arrays (*a, *b) of elem-byte elements and one capacity, room for
 * need in both. */
static int grow_two(void *a, void *b, size_t elem, int32_t *cap, int32_t need)
{
    int32_t was = *cap;
    if (vec_grow_i32(a, elem, cap, need))
        return -1;
    if (*cap != was && vec_realloc(b, (size_t)*cap, elem)) {
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

static int find_preds(lanes *L)
{
    int32_t nt = L->nt;
    lrange rg[1 + GRAPH_MAX_IN];
    if (VEC_GROW(L->pfrom, L->pfcap, nt + 1) || lanes_grow(L, nt))
        return -1;
    /* most bounds repeat (a weight's copy read at every step): the last
     * bound of each of 256 hash slots is not pushed again */
    size_t seen[256];
    memset(seen, 0xff, sizeof seen);
    L->ncut = 0;
    for (int32_t k = 0; k < nt; k++) {
        const ltask *t = &L->t[k];
        int nr = task_ranges(L->p, L->g, t->instr, t->r0, t->r1, rg);
        if (grow_two(&L->cut, &L->cut2, sizeof *L->cut, &L->cutcap, L->ncut + 2 * nr))
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
    if (grow_two(&L->lastw, &L->rhead, sizeof *L->lastw, &L->segcap, u + 1))
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
                if (grow_two(&L->rtask, &L->rnext, sizeof *L->rtask, &L->rdcap, L->nrd + 1))
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

/* Instructions first .. first+n-1 on two lanes: tasks, predecessors and
 * the simulated schedule left in L; their time on two lanes (the start and
 * the end of the job included) and, in *serial, in order. 0 when they are
 * too few or too many tasks for lanes, -1 when out of memory. */
static double lanes_time(lanes *L, const plan *p, const double *cost, int32_t first, int32_t n,
                         double *serial)
{
    *serial = 0;
    for (int32_t i = first; i < first + n; i++)
        *serial += cost[i] / (lanes_pool_splits(p, L->g, i) ? 2 : 1);
    if (make_tasks(L, first, n, cost))
        return -1;
    if (L->nt < REGION_MIN_TASKS || p->ntasks + L->nt > LANES_MAX_TASKS)
        return 0;
    if (find_preds(L) || find_succs(L))
        return -1;
    return lanes_schedule(L) + REGION_CYCLES;
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

/* Extensions of a region tried one wide instruction at a time (each
 * works the schedule out again), after the whole rest of the program was
 * tried at once */
#define EXTEND_TRIES 4

/* The region that starts at instruction i: up to the next wide one, and
 * on over wide ones while one region takes less time than the parts apart
 * with each wide product between them split among two threads (the
 * output projection's weight gradient runs beside the backward
 * recurrence; so do the chunks of the recurrent weight's, plan_stack.c).
 * First the rest of the program at once (at T = 10,000 there are a
 * hundred and fifty chunks), then EXTEND_TRIES wide ones one by one.
 * Emits it when two lanes pay; returns the instruction after it, or -1
 * when out of memory. (The schedule kept is worked out again to emit it
 * rather than kept beside a candidate's: the planner's memory counts in
 * the peak of a run.) */
static int32_t region(lanes *L, plan *p, const double *cost, int32_t i, int32_t *tcap,
                      int32_t *rcap)
{
    int32_t j = next_wide(p, L->g, cost, i), last = j;
    double serial, two = lanes_time(L, p, cost, i, j - i, &serial), s2;
    if (two > 0 && j < p->ninstr) {
        double apart = two;
        for (int32_t k = j; k < p->ninstr; k++)
            apart += cost[k] / (wide(p, L->g, cost, k) ? 2 : 1);
        double all = lanes_time(L, p, cost, i, p->ninstr - i, &s2);
        last = p->ninstr;
        if (all < 0)
            return -1;
        if (all > 0 && all < apart) {
            two = all;
            serial = s2;
            j = last;
        }
    }
    for (int tries = 0; two > 0 && j < p->ninstr && tries < EXTEND_TRIES; tries++) {
        int32_t j2 = next_wide(p, L->g, cost, j + 1);
        double after = best_time(L, p, cost, j + 1, j2 - j - 1);
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
         lanes_emit(L, p, i, j - i, serial / two, tcap, rcap)))
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
        cost[i] = lanes_cost(p, g, &p->instr[i]);
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
