/* exec.c - the executor; see exec.h. */
#include "engine/exec.h"
#include "engine/exec_int.h"

#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bytes.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/transpose.h"
#include "ops/ops.h"

static int64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int exec_init(exec *x, const graph *g, const plan *p, uerr *e)
{
    memset(x, 0, sizeof *x);
    char b[BYTES_STR_MAX];
    if (g->limit_bytes && p->arena_bytes > g->limit_bytes)
        return uerr_set(e, UERR_USER,
                        "exec: the plan needs %zu bytes (%s) of activations and "
                        "gradients, over the memory limit of %zu bytes (UNROLL_GRAPH_LIMIT); "
                        "lower train.seq_len, train.batch or model.hidden",
                        p->arena_bytes, bytes_str(p->arena_bytes, b), g->limit_bytes);
    x->g = g;
    x->p = p;
    size_t nids = (size_t)p->nnodes + (size_t)p->vg.n;
    x->ptr = calloc(nids ? nids : 1, sizeof(void *));
    x->steps = calloc(p->ninstr ? (size_t)p->ninstr : 1, sizeof *x->steps);
    x->picks = malloc((p->nregions ? (size_t)p->nregions : 1) * sizeof *x->picks);
    for (int32_t r = 0; x->picks && r < p->nregions; r++)
        x->picks[r] = (exec_pick){0};
    /* aligned for the widest vector loads; zeroed so an unplanned read is
     * deterministic rather than garbage */
    size_t bytes = p->arena_bytes ? p->arena_bytes : 64;
    x->arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!x->ptr || !x->steps || !x->picks || !x->arena) {
        exec_free(x);
        return uerr_set(e, UERR_USER,
                        "exec: cannot allocate %zu bytes (%s) of activations and "
                        "gradients: out of memory; lower train.seq_len, train.batch or "
                        "model.hidden",
                        p->arena_bytes, bytes_str(p->arena_bytes, b));
    }
    memset(x->arena, 0, bytes);
    for (size_t id = 0; id < nids; id++)
        if (p->offset[id] != PLAN_NO_BUFFER)
            x->ptr[id] = (char *)x->arena + p->offset[id];
    for (int32_t i = 0; i < p->ninstr; i++) {
        const plan_instr *pi = &p->instr[i];
        exec_step *s = &x->steps[i];
        s->out = pi->out;
        s->copy_from = -1;
        s->mirror = -1;
        if (pi->kind == PLAN_UPDATE) {
            const gnode *leaf = plan_node(p, g, pi->node);
            size_t es = dtype_size((dtype)leaf->dt);
            int64_t k = shape_numel(&leaf->shape);
            s->update = 1;
            s->mirror = plan_mirror_of_update(p, i);
            s->mirror_ld = s->mirror >= 0 ? op_row_stride(plan_node(p, g, s->mirror)) : 0;
            s->leaf = pi->node;
            s->es = es;
            s->e0 = (int64_t)(p->offset[pi->out] / es);
            /* to the next gradient's start: the padding between them is
             * updated too, as when the block is updated whole */
            s->e1 = s->e0 + (int64_t)((((size_t)k * es + 63) & ~(size_t)63) / es);
            s->e_nrow = leaf->shape.rank > 1 && leaf->shape.dim[0] ? leaf->shape.dim[0] : 1;
            s->e_row = k / s->e_nrow;
            continue;
        }
        if (pi->kind == PLAN_COPY) {
            const gnode *src = plan_node(p, g, pi->node);
            s->copy_from = pi->node;
            s->copy_bytes = (size_t)shape_numel(&src->shape) * dtype_size((dtype)src->dt);
            continue;
        }
        s->rows = plan_rows_split(p, g, i);
        s->acc = pi->kind == PLAN_ACCUM;
        s->g = plan_graph_of(p, g, pi->node);
        s->node = pi->node < p->nnodes ? pi->node : pi->node - p->nnodes;
        const gnode *nd = &s->g->nodes[s->node];
        int32_t base = pi->node < p->nnodes ? 0 : p->nnodes;
        s->nin = nd->nin;
        for (int k = 0; k < nd->nin; k++)
            s->in[k] = base + nd->in[k];
        const op_def *d = op_table[nd->op];
        s->fn = pi->kind == PLAN_ACCUM ? op_accumulate_fn(s->g->nodes[s->node].op) : d->forward;
        if (!s->fn) {
            exec_free(x);
            return uerr_set(e, UERR_INTERNAL, "exec: op %s has no %s kernel", op_name(nd->op),
                            pi->kind == PLAN_ACCUM ? "accumulating" : "forward");
        }
    }
    for (int32_t r = 0; r < p->nruns; r++)
        for (int32_t i = p->runs[r].first; i < p->runs[r].first + p->runs[r].n; i++)
            x->steps[i].cols = exec_split_cols(&x->steps[i]);
    for (int32_t k = 0; k < p->nmirrors; k++)
        x->steps[p->mirrors[k].pre].mirror_pre = 1;
    return 0;
}

void exec_free(exec *x)
{
    free(x->arena);
    free(x->ptr);
    free(x->steps);
    free(x->picks);
    memset(x, 0, sizeof *x);
}

void exec_params_fixed(exec *x)
{
    /* a token no other exec has had: packings of other parameters, or of
     * these before, are never taken for these */
    static _Atomic uint64_t tokens;
    x->token = atomic_fetch_add(&tokens, 1) + 1;
}

void exec_bind(exec *x, int32_t leaf, void *data)
{
    x->ptr[leaf] = data;
    x->mirrors_ok = 0;
}

void exec_params_kept(exec *x)
{
    x->params_kept = 1;
}

/* Rows r0 .. r1-1 of update step s's parameter, just updated, into the
 * copy it keeps (their columns there) */
static void keep_copy(const exec *x, const exec_step *s, int64_t r0, int64_t r1)
{
    if (s->mirror >= 0)
        transpose_rows(s->es, x->ptr[s->leaf], s->e_row, x->ptr[s->mirror], s->mirror_ld, r0, r1);
}

void *exec_value(const exec *x, int32_t node)
{
    return node >= 0 && node < x->p->nnodes ? x->ptr[node] : NULL;
}

void exec_set_update(exec *x, exec_update_fn fn, void *ctx)
{
    x->update = fn;
    x->update_ctx = ctx;
}

void exec_trace_next(exec *x, exec_trace *tr)
{
    x->trace = tr;
}

/* a span of the run being traced (x->trace set), from t0 to now */
static void span(const exec *x, int32_t instr, int32_t ninstr, int lane, int64_t r0, int64_t r1,
                 int64_t t0)
{
    exec_trace *tr = x->trace;
    int32_t k = atomic_fetch_add_explicit(&tr->n, 1, memory_order_relaxed);
    if (k < tr->cap)
        tr->span[k] =
            (exec_span){instr, ninstr, lane, r0, r1, t0 - tr->start, clock_ns() - tr->start};
}

/* appends to the text of w bytes in buf[n]; returns the new length */
static size_t put(char *buf, size_t n, size_t w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t n, size_t w, const char *fmt, ...)
{
    if (w >= n)
        return w;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + w, n - w, fmt, ap);
    va_end(ap);
    return k > 0 ? w + (size_t)k : w;
}

const char *exec_span_name(const exec *x, const exec_span *sp, char *buf, size_t n)
{
    const exec_step *s = &x->steps[sp->instr];
    size_t w = 0;
    if (n)
        buf[0] = 0;
    if (s->update || s->copy_from >= 0) {
        int32_t id = s->update ? x->p->instr[sp->instr].node : s->copy_from;
        const char *nm =
            graph_name(plan_graph_of(x->p, x->g, id), id < x->p->nnodes ? id : id - x->p->nnodes);
        w = put(buf, n, w, "%s %s", s->update ? "update" : "copy", nm ? nm : "");
    } else {
        const gnode *nd = &s->g->nodes[s->node];
        const char *nm = graph_name(s->g, s->node);
        w = put(buf, n, w, "%s", op_name(nd->op));
        if (nd->t >= 0)
            w = put(buf, n, w, " t=%d", (int)nd->t);
        if (nm && *nm)
            w = put(buf, n, w, " %s", nm);
        for (int d = 0; d < nd->shape.rank; d++)
            w = put(buf, n, w, "%s%lld", d ? "x" : " [", (long long)nd->shape.dim[d]);
        if (nd->shape.rank)
            w = put(buf, n, w, "]");
    }
    if (sp->r1)
        put(buf, n, w, " rows %lld-%lld", (long long)sp->r0, (long long)sp->r1 - 1);
    else if (sp->ninstr > 1)
        put(buf, n, w, " +%d instructions", sp->ninstr - 1);
    return buf;
}

static int check_leaves(const exec *x, uerr *e)
{
    if (x->p->nupdate && !x->update)
        return uerr_set(e, UERR_INTERNAL, "exec: the plan updates parameters: no update is set");
    const graph *g = x->g;
    for (int32_t i = 0; i < x->p->nleaves; i++) {
        int32_t v = x->p->leaves[i];
        const gnode *nd = &g->nodes[v];
        char lb[96];
        if (!x->ptr[v])
            return uerr_set(e, UERR_INTERNAL, "exec: leaf %s is not bound",
                            graph_label(g, v, lb, sizeof lb));
        if (nd->dt != DT_I32 || nd->ip[0] <= 0)
            continue;
        const int32_t *idx = x->ptr[v];
        int64_t n = shape_numel(&nd->shape);
        for (int64_t k = 0; k < n; k++)
            if (idx[k] < -1 || idx[k] >= nd->ip[0])
                return uerr_set(e, UERR_USER, "input %s holds index %d, expected 0 to %lld",
                                graph_label(g, v, lb, sizeof lb), idx[k], (long long)nd->ip[0] - 1);
    }
    return 0;
}

/* ---- two lanes ------------------------------------------------------------------ */

/* An unrolled graph's nodes outgrow the caches, and each kernel starts by
 * reading its node and its inputs' nodes (their shapes): the loops fetch
 * the next instruction's while this one runs. */
static void prefetch_step(const exec *x, const exec_step *s)
{
    if (s->copy_from >= 0 || s->update)
        return;
    __builtin_prefetch(&s->g->nodes[s->node]);
    for (int k = 0; k < s->nin; k++)
        if (s->in[k] < x->p->nnodes)
            __builtin_prefetch(&x->g->nodes[s->in[k]]);
}

/* Instruction s over all its rows. */
static void step_whole(const exec *x, const exec_step *s)
{
    if (s->update) {
        x->update(x->update_ctx, s->e0, s->e1, 0);
        keep_copy(x, s, 0, s->e_nrow);
        return;
    }
    if (s->mirror_pre && x->mirrors_skip)
        return;
    if (s->copy_from >= 0) {
        memcpy(x->ptr[s->out], x->ptr[s->copy_from], s->copy_bytes);
        return;
    }
    void *in[GRAPH_MAX_IN];
    for (int k = 0; k < s->nin; k++)
        in[k] = x->ptr[s->in[k]];
    s->fn(s->g, &s->g->nodes[s->node], in, x->ptr[s->out]);
}

/* task t of a lane, the next task of its list fetched meanwhile
 * (prefetch_step) */
static void run_task(const exec *x, const plan_task *t, const plan_task *next, int lane)
{
    int64_t t0 = x->trace ? clock_ns() : 0;
    if (next)
        prefetch_step(x, &x->steps[next->instr]);
    const exec_step *s = &x->steps[t->instr];
    if (t->r1 && s->update) {
        x->update(x->update_ctx, s->e0 + t->r0 * s->e_row,
                  t->r1 == s->e_nrow ? s->e1 : s->e0 + t->r1 * s->e_row, 0);
        keep_copy(x, s, t->r0, t->r1);
    } else if (t->r1)
        exec_step_rows(x, &x->steps[t->instr], t->rows, t->r0, t->r1);
    else
        step_whole(x, &x->steps[t->instr]);
    if (x->trace)
        span(x, t->instr, 1, lane, t->r0, t->r1, t0);
}

/* a lane's progress, on a cache line of its own: the other lane spins on
 * it */
typedef struct lane_state {
    _Alignas(64) _Atomic int32_t done; /* lane 0: tasks ended; lane 1: needed ones */
    _Atomic int32_t rest;              /* lane 1: the rest ended */
    _Atomic int owned;                 /* a thread runs the lane */
} lane_state;

typedef struct lanes_job {
    const exec *x;
    const plan_task *lane0, *needed, *rest; /* plan.h: lane 1's two lists */
    int32_t n0, nneeded, nrest;
    void *keep; /* the run's kept packings, lent to both lanes */
    lane_state st[2];
    _Atomic int taken;       /* a lane took the other over */
    _Atomic int64_t lost_ns; /* in yields that gave a lane's core away */
} lanes_job;

/* Whether the next task of each list may run, at these counts */
static int ready0(const lanes_job *j, int32_t k0, int32_t u)
{
    return k0 < j->n0 && u >= j->lane0[k0].wait;
}

static int ready_needed(const lanes_job *j, int32_t k0, int32_t u)
{
    return u < j->nneeded && k0 >= j->needed[u].wait;
}

static int ready_rest(const lanes_job *j, int32_t k0, int32_t u, int32_t f)
{
    return f < j->nrest && k0 >= j->rest[f].wait && u >= j->rest[f].wait2;
}

static int lane_take(lanes_job *j, int l)
{
    int free_ = 0;
    return !atomic_load_explicit(&j->st[l].owned, memory_order_relaxed) &&
           atomic_compare_exchange_strong(&j->st[l].owned, &free_, 1);
}

/* This thread owns both lanes: it runs a task whose waits are met, lane
 * 0's or a needed one when it can. One of those two may always run until
 * both lists have ended (plan_lanes.c), and then the rest may. */
static void lanes_both(lanes_job *j)
{
    int32_t k0 = atomic_load_explicit(&j->st[0].done, memory_order_relaxed),
            u = atomic_load_explicit(&j->st[1].done, memory_order_relaxed),
            f = atomic_load_explicit(&j->st[1].rest, memory_order_relaxed);
    while (k0 < j->n0 || u < j->nneeded || f < j->nrest) {
        if (ready0(j, k0, u))
            run_task(j->x, &j->lane0[k0++], NULL, 0);
        else if (ready_needed(j, k0, u))
            run_task(j->x, &j->needed[u++], NULL, 1);
        else
            run_task(j->x, &j->rest[f++], NULL, 1);
    }
}

/* how long a lane waits for the other before it takes that lane over,
 * when no thread has started it: a spinning worker starts within a
 * microsecond, one asleep within tens */
#define LANES_GRACE_NS 100000

/* A yield that gave the core away for this long: another thread wanted
 * it (another process, or the other lane on the same core). A yield
 * nobody takes returns within a microsecond or two. */
#define LANES_YIELD_NS 5000

/* One turn of lane l's wait for the other. 1 when this thread has taken
 * the other lane over (no thread started it for a while: a worker not
 * scheduled; nothing waits for a thread that may never come): the caller
 * then runs both. Either way of losing time is counted in j. */
static int lane_spin(lanes_job *j, int l, unsigned spin, int64_t *since)
{
    if (spin % 256) {
        pool_relax();
        return 0;
    }
    if (atomic_load_explicit(&j->st[!l].owned, memory_order_relaxed)) {
        int64_t t0 = clock_ns();
        sched_yield(); /* the other lane's thread may be waiting for a core */
        int64_t gone = clock_ns() - t0;
        if (gone > LANES_YIELD_NS)
            atomic_fetch_add_explicit(&j->lost_ns, gone, memory_order_relaxed);
        return 0;
    }
    if (!*since) {
        *since = clock_ns();
        return 0;
    }
    if (clock_ns() - *since <= LANES_GRACE_NS || !lane_take(j, !l))
        return 0;
    atomic_store_explicit(&j->taken, 1, memory_order_relaxed);
    return 1;
}

/* Each lane reads the other's count only when the count it read last
 * does not let its next task run: the line holding it moves between the
 * cores each time it is read after a write (a few hundred cycles), and
 * most of lane 0's tasks wait for nothing of lane 1's. */
static void lane0_run(lanes_job *j)
{
    int32_t u = 0; /* lane 1's needed tasks ended, as last read */
    for (int32_t k = 0; k < j->n0; k++) {
        const plan_task *t = &j->lane0[k];
        int64_t since = 0;
        for (unsigned spin = 1;
             u < t->wait &&
             (u = atomic_load_explicit(&j->st[1].done, memory_order_acquire)) < t->wait;
             spin++)
            if (lane_spin(j, 0, spin, &since)) {
                lanes_both(j);
                return;
            }
        run_task(j->x, t, k + 1 < j->n0 ? t + 1 : NULL, 0);
        atomic_store_explicit(&j->st[0].done, k + 1, memory_order_release);
    }
}

/* Lane 1: the next needed task when its waits are met, else the next of
 * the rest when its are. */
static void lane1_run(lanes_job *j)
{
    int32_t u = 0, f = 0, k0 = 0; /* k0: lane 0's count, as last read */
    int64_t since = 0;
    unsigned spin = 0;
    while (u < j->nneeded || f < j->nrest) {
        if (!ready_needed(j, k0, u) && !ready_rest(j, k0, u, f))
            k0 = atomic_load_explicit(&j->st[0].done, memory_order_acquire);
        if (ready_needed(j, k0, u)) {
            run_task(j->x, &j->needed[u], u + 1 < j->nneeded ? &j->needed[u + 1] : NULL, 1);
            atomic_store_explicit(&j->st[1].done, ++u, memory_order_release);
        } else if (ready_rest(j, k0, u, f)) {
            run_task(j->x, &j->rest[f], u < j->nneeded ? &j->needed[u] : NULL, 1);
            atomic_store_explicit(&j->st[1].rest, ++f, memory_order_relaxed);
        } else {
            if (lane_spin(j, 1, ++spin, &since)) {
                lanes_both(j);
                return;
            }
            continue;
        }
        spin = 0;
        since = 0;
    }
}

static void lanes_part(void *ctx, int part, int thread)
{
    (void)thread;
    lanes_job *j = ctx;
    if (!lane_take(j, part))
        return; /* the other lane's thread runs this one too */
    void *was = gemm_keep_lend(j->keep);
    if (part == 0)
        lane0_run(j);
    else
        lane1_run(j);
    gemm_keep_lend(was);
}

/* Region r on two lanes: LANES_TAKEN when a lane took the other over,
 * LANES_LOST when yields gave a core away for a quarter of the region's
 * time and LANES_LOST_MIN_NS at least (a rare 60 us away in S4's 1.5 ms
 * region, or 20 us in one of S1's 50, is no reason to leave the lanes;
 * another process takes a core for milliseconds). */
#define LANES_LOST_MIN_NS 200000
enum { LANES_TAKEN = 1, LANES_LOST = 2 };

static int run_lanes(const exec *x, const plan_region *r)
{
    int64_t t0 = clock_ns();
    lanes_job j = {.x = x, .keep = gemm_keep_current()};
    j.lane0 = x->p->tasks + r->task0;
    j.needed = j.lane0 + r->ntask[0];
    j.rest = j.needed + r->nneeded;
    j.n0 = r->ntask[0];
    j.nneeded = r->nneeded;
    j.nrest = r->ntask[1] - r->nneeded;
    if (x->lanes_alone) {
        lanes_both(&j);
        return 0;
    }
    pool_for(pool_class("two lanes"), 2, lanes_part, &j);
    int64_t gone = atomic_load_explicit(&j.lost_ns, memory_order_relaxed);
    int lost = gone > LANES_LOST_MIN_NS && 4 * gone > clock_ns() - t0;
    return (atomic_load_explicit(&j.taken, memory_order_relaxed) ? LANES_TAKEN : 0) |
           (lost ? LANES_LOST : 0);
}

/* After a region met contention the next ones run in order, on the
 * calling thread alone (the same bits: plan.h): LANES_BACKOFF of them at
 * first, twice as many each time it is met again, up to
 * LANES_BACKOFF_MAX; a region on two lanes without it starts over. With
 * another process busy on the other core, two lanes waited for their
 * worker at every step: S1's `unroll train` took 0.225 ms a step against
 * 0.062 in order. Contention is time lost in yields, or a lane taken over
 * in two regions running: once alone it is as likely a worker that had
 * gone to sleep and woke late. */
#define LANES_BACKOFF 16
#define LANES_BACKOFF_MAX 4096

static void lanes_backoff(exec *x, int met)
{
    int contended = (met & LANES_LOST) || ((met & LANES_TAKEN) && x->lanes_taken);
    x->lanes_taken = met & LANES_TAKEN;
    if (!contended) {
        x->lanes_backoff = 0;
        return;
    }
    x->lanes_backoff = !x->lanes_backoff                       ? LANES_BACKOFF
                       : x->lanes_backoff >= LANES_BACKOFF_MAX ? LANES_BACKOFF_MAX
                                                               : 2 * x->lanes_backoff;
    x->lanes_skip = x->lanes_backoff;
}

/*
 * Two lanes or in order: measured, not guessed. The plan's costs see
 * sizes alone; where a region's tasks are small, the lines each handoff
 * moves between the cores cost more than the lanes save (a line the
 * other core wrote, then one it read and this core writes: about 15 ns
 * each here, one after the other). An LSTM of 32 units at batch 4 ran a
 * step in 0.37 ms on two lanes, 0.16-0.20 in order. So each window of
 * EXEC_PICK_WINDOW runs (exec.h) starts with EXEC_PICK_TRIES + 1 runs of
 * the region on two lanes, then as many in order (the first of each
 * untimed: it moves the lines back first), and runs the rest on two lanes
 * only if their median run took PICK_MARGIN less: in order is the way
 * that no other process on the other core can slow down, and a median of
 * a few runs on a shared machine moves by a few percent. The way changes
 * no bit (plan.h: both give the bits of the program in order), only the
 * time.
 */
#define PICK_MARGIN 0.05

static int pick_lanes(const exec_pick *k)
{
    if (k->tries[1] <= EXEC_PICK_TRIES)
        return 1;
    if (k->tries[0] <= EXEC_PICK_TRIES)
        return 0;
    return k->lanes;
}

static int64_t median_ns(const int64_t *t)
{
    int64_t s[EXEC_PICK_TRIES];
    memcpy(s, t, sizeof s);
    for (int i = 1; i < EXEC_PICK_TRIES; i++)
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            int64_t v = s[j];
            s[j] = s[j - 1];
            s[j - 1] = v;
        }
    return s[EXEC_PICK_TRIES / 2];
}

static void picked(exec_pick *k, int lanes, int64_t ns)
{
    int n = k->tries[lanes]++;
    if (n > 0 && n <= EXEC_PICK_TRIES)
        k->ns[lanes][n - 1] = ns;
    if (n == EXEC_PICK_TRIES && k->tries[!lanes] > EXEC_PICK_TRIES)
        k->lanes = (double)median_ns(k->ns[1]) * (1 + PICK_MARGIN) < (double)median_ns(k->ns[0]);
    if (k->tries[0] + k->tries[1] == EXEC_PICK_WINDOW)
        *k = (exec_pick){0};
}

int exec_run(exec *x, uerr *e)
{
    int rc = check_leaves(x, e);
    if (rc) {
        x->trace = NULL;
        return rc;
    }
    if (x->trace) {
        atomic_store_explicit(&x->trace->n, 0, memory_order_relaxed);
        x->trace->start = clock_ns();
    }
    const plan *p = x->p;
    /* the copies the last run's updates kept, where the parameters are
     * still what it left (exec_params_kept); made again otherwise */
    x->mirrors_skip = x->mirrors_ok && x->params_kept;
    x->mirrors_ok = x->params_kept = 0;
    if (x->mirrors_skip)
        x->mirror_skips += p->nmirrors;
    /* a view reads the memory of its source, which may be a leaf bound
     * (or rebound) since the last run */
    for (int32_t k = 0; k < p->vg.n; k++)
        if (p->vsrc[k] >= 0)
            x->ptr[p->nnodes + k] = x->ptr[p->vsrc[k]];
    const int32_t n = p->ninstr;
    /* every node is computed once in a run and not changed after: a
     * product may keep its packing of a weight for the whole run */
    gemm_keep_begin(x->token);
    int split = cpu_threads() > 1;
    int32_t next_run = 0, next_region = 0;
    int32_t timed = -1, timed_end = 0; /* a region running in order, timed */
    int64_t t0 = 0;
    for (int32_t i = 0; i < n; i++) {
        if (timed >= 0 && i >= timed_end) {
            picked(&x->picks[timed], 0, clock_ns() - t0);
            timed = -1;
        }
        int64_t s0 = x->trace ? clock_ns() : 0;
        if (split && next_run < p->nruns && i == p->runs[next_run].first) {
            exec_run_rows(x, &p->runs[next_run]);
            if (x->trace)
                span(x, i, p->runs[next_run].n, -1, 0, 0, s0);
            i += p->runs[next_run++].n - 1;
            continue;
        }
        if (split && next_region < p->nregions && i == p->regions[next_region].first) {
            int32_t ri = next_region++;
            const plan_region *r = &p->regions[ri];
            t0 = clock_ns();
            if (x->lanes_skip <= 0 && (x->lanes_alone || pick_lanes(&x->picks[ri]))) {
                int met = run_lanes(x, r);
                if (!met)
                    picked(&x->picks[ri], 1, clock_ns() - t0);
                lanes_backoff(x, met);
                i += r->n - 1;
                continue;
            }
            /* in order, below; --verbose counts it on one thread. Timed
             * unless contention sent it there. */
            pool_count_alone(pool_class("two lanes"));
            if (x->lanes_skip > 0) {
                x->lanes_skip--;
            } else {
                timed = ri;
                timed_end = r->first + r->n;
            }
        }
        const exec_step *s = &x->steps[i];
        if (s->update) {
            /* the updates in order are one range (the gradients lie side
             * by side), split among the threads as the update sees fit,
             * up to a region's start */
            int32_t j = i + 1, stop = next_region < p->nregions ? p->regions[next_region].first : n;
            while (j < stop && x->steps[j].update && x->steps[j].e0 == x->steps[j - 1].e1)
                j++;
            x->update(x->update_ctx, s->e0, x->steps[j - 1].e1, 1);
            for (int32_t k = i; k < j; k++)
                keep_copy(x, &x->steps[k], 0, x->steps[k].e_nrow);
            if (x->trace)
                span(x, i, j - i, -1, 0, 0, s0);
            i = j - 1;
            continue;
        }
        if (i + 1 < n)
            prefetch_step(x, &s[1]);
        step_whole(x, s);
        if (x->trace)
            span(x, i, 1, -1, 0, 0, s0);
    }
    if (timed >= 0)
        picked(&x->picks[timed], 0, clock_ns() - t0);
    gemm_keep_end();
    x->trace = NULL;
    x->mirrors_ok = p->nmirrors > 0;
    return 0;
}
