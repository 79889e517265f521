/*
 * plan_lanes_sched.c - the two lanes' cost model, schedule and lists
 * (plan_lanes.c builds the tasks and their predecessors; see there and
 * plan.h for what the lanes are and why no wait lasts forever).
 *
 * Costs are guesses from sizes alone: the plan must not depend on the
 * machine, and the bits depend on neither the guesses nor the schedule.
 */
#include <string.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "engine/plan_lanes_int.h"
#include "ops/ops.h"

/* handing a value to the other core: a few cache lines and a flag */
#define XLANE_CYCLES 300.0
/* lane 1 starts this late: its worker wakes as the job is handed out */
#define LANE1_START_CYCLES 6000.0
/* a task this close to a longest path is on the critical lane */
#define SLACK_CYCLES 2000.0

/* ---- costs ------------------------------------------------------------------ */

/* A guess of instruction pi's cycles (of a 2.6 GHz clock, measured on a
 * Zen 4 at S4's size: only the ratios matter), from sizes only. A call
 * costs some 20; a product is bound by its multiply-adds (fewer per cycle
 * in a product of few rows, whose rows the other lane wrote) or by reading
 * its right operand; the rest by the bytes they touch, an exp or tanh per
 * output element, and a softmax by several passes over its rows. */
double lanes_cost(const plan *p, const graph *g, const plan_instr *pi)
{
    const gnode *n = plan_node(p, g, pi->node);
    double es = (double)dtype_size((dtype)n->dt), out = (double)numel_of(n);
    if (pi->kind == PLAN_COPY)
        return 20 + out * es / 32;
    if (pi->kind == PLAN_UPDATE)
        return 20 + out * p->update_cycles;
    const graph *ng = plan_graph_of(p, g, pi->node);
    if (!n->nin)
        return 20 + out * es / 24; /* a fill */
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
 * the threads (op_matmul_splits): two lanes must beat that. */
int lanes_pool_splits(const plan *p, const graph *g, int32_t i)
{
    const plan_instr *pi = &p->instr[i];
    const gnode *n = plan_node(p, g, pi->node);
    if (pi->kind == PLAN_COPY || pi->kind == PLAN_UPDATE || n->op != OP_MATMUL)
        return 0;
    return op_matmul_splits(plan_graph_of(p, g, pi->node), n);
}

/* ---- the list schedule --------------------------------------------------------- */

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

/* Marks the critical tasks: those on a longest path, within
 * SLACK_CYCLES (the recurrence, forward then backward, and what joins the
 * two; all of an LSTM step's gate products, not one of the four, whose
 * other three on lane 1 would cross between the cores at every step);
 * and what must start before lane 1 has (the input weight's copy and the
 * first steps' gathers, which the chain would otherwise wait for while
 * the worker wakes). The top levels are worked out in L->rt, which the
 * simulation then resets. */
static void mark_critical(lanes *L)
{
    double len = 0;
    for (int32_t k = 0; k < L->nt; k++) {
        double top = 0;
        for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
            int32_t q = L->pred[e];
            if (L->rt[q] + L->t[q].cost > top)
                top = L->rt[q] + L->t[q].cost;
        }
        L->rt[k] = top;
        if (L->pfrom[k] == L->pfrom[k + 1] && L->bl[k] > len)
            len = L->bl[k];
    }
    for (int32_t k = 0; k < L->nt; k++)
        L->crit[k] =
            L->rt[k] + L->bl[k] > len - SLACK_CYCLES || L->bl[k] > len - LANE1_START_CYCLES;
    /* A product cut into chunks reads one packing of its weight, made by
     * whichever chunk comes first: its chunks stay on one lane unless all
     * are critical. The output projection's last rows on lane 0 made lane
     * 1 take the packing's lines back at every step: writing 52 KB the
     * other core had read took 4.5-6.6 us here, 2.2 when it had not (S1:
     * 0.0448 -> 0.0430 ms with them on lane 1). */
    for (int32_t k0 = 0, k1; k0 < L->nt; k0 = k1) {
        int all = 1;
        for (k1 = k0; k1 < L->nt && L->t[k1].instr == L->t[k0].instr; k1++)
            all &= L->crit[k1];
        for (int32_t k = k0; !all && L->t[k0].r1 && L->t[k0].weight >= 0 && k < k1; k++)
            L->crit[k] = 0;
    }
}

/* The lane an update task k runs on when the schedule is free: that of
 * the last task to write its gradient (its predecessors that do not read
 * the parameter), so that its chunks are not cut between the lanes and
 * the gradient and the parameter's lines stay with one core; -1 for
 * another task. Balanced chunk by chunk, the lines of each parameter
 * crossed between the cores at every step (min-char-rnn as shipped: the
 * copy W^T at the head of the step took 8 us instead of 2, the output
 * projection's first rows 12 us instead of 5). On the lane of the
 * parameter's first reader instead, an LSTM at batch 4 waited for
 * gradients made on the other lane (11% slower). */
static int32_t update_lane(const lanes *L, int32_t k)
{
    const plan_instr *pi = &L->p->instr[L->t[k].instr];
    if (pi->kind != PLAN_UPDATE)
        return -1;
    int32_t lane = -1;
    double last = 0;
    for (int32_t e = L->pfrom[k]; e < L->pfrom[k + 1]; e++) {
        int32_t q = L->pred[e];
        if ((lane < 0 || L->fin[q] > last) &&
            !plan_reads_leaf(L->p, L->g, L->t[q].instr, pi->node)) {
            lane = L->lane[q];
            last = L->fin[q];
        }
    }
    return lane;
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
    double freet[2] = {0, LANE1_START_CYCLES};
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
        int32_t own = pinned ? -1 : update_lane(L, k);
        if (own >= 0 && own != l && freet[own] > now) {
            /* ready when its lane is free: placed there now, the lane
             * would wait for it in the list while other work was ready */
            L->rt[k] = freet[own];
            heap_push(&pend, k);
            continue;
        }
        double f0 = start_on(L, k, 0, l == 0 ? now : freet[0]) + cold_cost(warm[0], &L->t[k]),
               f1 = start_on(L, k, 1, l == 1 ? now : freet[1]) + cold_cost(warm[1], &L->t[k]);
        int to = pinned ? l : own >= 0 ? own : f0 < f1 || (f0 == f1 && l == 0) ? 0 : 1;
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

/*
 * From this guess of an update's cycles an element (train/optim.c's
 * optim_cycles: Adagrad and Adam, bound by a square root and a division
 * an element; momentum in float64 too), an update goes first among the
 * tasks ready. Ranked by its path alone, as any task, min-char-rnn's
 * update of V ran after the steps' loss values, past the end of the
 * backward, and lengthened the tail of updates that ends the step: its
 * float64 loop 0.0917 -> 0.0871 ms a step, an LSTM of 96 units at batch
 * 1 with Adagrad 0.490 -> 0.473 (medians of 7-9 interleaved). Every
 * update first, SGD's too, S4 went 1.333 -> 1.371 ms.
 */
#define UPDATE_FIRST_CYCLES 1.5

/* The better of the two simulations, left in L; pinned unless free is
 * clearly better: the model's costs are guesses, and pinned, the chain
 * never waits behind work a guess put in its way. */
double lanes_schedule(lanes *L)
{
    mark_critical(L);
    if (L->p->update_cycles >= UPDATE_FIRST_CYCLES)
        for (int32_t k = 0; k < L->nt; k++)
            if (L->p->instr[L->t[k].instr].kind == PLAN_UPDATE)
                L->bl[k] += 1e9;
    double free_ = simulate(L, FREE), pinned = simulate(L, PINNED);
    return pinned <= 1.05 * free_ ? pinned : simulate(L, FREE);
}

/* ---- the region's tasks in the plan -------------------------------------------- */

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

/*
 * A copy kept across runs (plan_mirror.c) spares the chain's lane its
 * making at the head of the step, and costs the update a transpose at
 * the step's end. A copy the products read whole (W^T) is kept only
 * where lane 0, the chain's, runs all of its parameter's update: the
 * copy's lines are then in the cache of the core that reads them. From
 * lane 1 every line had to be taken from the other core (a GRU of 128
 * units at batch 1 in float64: W_n's update twice as long, the step
 * 0.555 -> 0.571 ms). A gathered table's copy (U^T, a few rows read a
 * step) is kept wherever its update runs (min-char-rnn in float64, U's
 * update on lane 1: 0.0851 -> 0.0806 ms with both copies kept, 0.0831
 * with W^T's alone).
 */
static void drop_far_mirrors(const lanes *L, plan *p)
{
    for (int32_t k = 0; k < L->nt; k++)
        if (L->lane[k] == 1 && p->instr[L->t[k].instr].kind == PLAN_UPDATE)
            plan_mirror_drop(p, L->t[k].instr);
}

int lanes_emit(lanes *L, plan *p, int32_t first, int32_t n, double gain, int32_t *tcap,
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
    if (lanes_grow(L, L->nt + 2))
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
            .rows = t->r1 ? lanes_split_mask(p, L->g, t->instr, &M) : 0,
            .r0 = t->r0,
            .r1 = t->r1,
        };
    }
    p->nregions++;
    p->ntasks += L->nt;
    drop_far_mirrors(L, p);
    return 0;
}
