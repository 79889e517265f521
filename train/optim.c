/* optim.c - see optim.h. */
#include "train/optim.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clones.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"

int optim_init(optim *o, const spec *s, int64_t n, uerr *e)
{
    memset(o, 0, sizeof *o);
    o->kind = s->train.optimizer.name;
    o->lr = s->train.optimizer.lr;
    o->eps = s->train.optimizer.eps;
    o->mu = s->train.optimizer.momentum;
    o->b1 = s->train.optimizer.beta1;
    o->b2 = s->train.optimizer.beta2;
    o->wd = s->train.weight_decay;
    o->dt = s->train.dtype;
    o->n = n;
    size_t es = dtype_size(o->dt);
    if (o->kind != SPEC_OPT_SGD && !(o->m = calloc((size_t)n, es)))
        return uerr_set(e, UERR_INTERNAL, "optimizer: out of memory");
    if (o->kind == SPEC_OPT_ADAM && !(o->v = calloc((size_t)n, es))) {
        optim_free(o);
        return uerr_set(e, UERR_INTERNAL, "optimizer: out of memory");
    }
    return 0;
}

void optim_free(optim *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

double optim_lr_at(const spec *s, int64_t horizon, int64_t step)
{
    double lr = s->train.optimizer.lr;
    int64_t w = s->train.lr_schedule.warmup;
    if (step <= w)
        return lr * (double)step / (double)w;
    /* steps done since the warm-up, held at the end of the decay */
    int64_t d = step - 1 - w, span = horizon - w;
    if (d > span)
        d = span > 0 ? span : 0;
    switch (s->train.lr_schedule.name) {
    case SPEC_SCHED_CONSTANT:
        break;
    case SPEC_SCHED_STEP:
        return lr * pow(s->train.lr_schedule.gamma, (double)(d / s->train.lr_schedule.every));
    case SPEC_SCHED_COSINE: {
        double lo = s->train.lr_schedule.min_lr;
        double f = span > 0 ? (double)d / (double)span : 1;
        return lo + (lr - lo) * 0.5 * (1 + cos(M_PI * f));
    }
    }
    return lr;
}

const char *optim_slot_name(const optim *o, int slot)
{
    switch (o->kind) {
    case SPEC_OPT_SGD:
        return NULL;
    case SPEC_OPT_MOMENTUM:
        return slot == 0 ? "momentum.velocity" : NULL;
    case SPEC_OPT_ADAGRAD:
        return slot == 0 ? "adagrad.mem" : NULL;
    case SPEC_OPT_ADAM:
        return slot == 0 ? "adam.m" : slot == 1 ? "adam.v" : NULL;
    }
    return NULL;
}

/*
 * After the graph, these loops are most of a small model's step (min-char-
 * rnn: 33k parameters, each with a square root and a division per step).
 * The Makefile compiles this file vectorised; here each loop is compiled
 * for the widest vector unit the CPU has (base/clones.h): every operation
 * in them is elementwise and correctly rounded, so each version gives the
 * same bits.
 */
#define OPTIM_VECTOR UNROLL_CLONES

/* g clamped to [lo, hi]; with lo = -inf and hi = +inf it is g itself (a
 * NaN fails both comparisons and stays NaN, -0 stays -0) */
#define CLAMP(x, lo, hi) ((x) > (hi) ? (hi) : (x) < (lo) ? (lo) : (x))

/* x - x is 0 for a finite x and NaN otherwise: OR-ed over the gradients
 * as they are read, it tells without a pass of its own whether one was
 * NaN or infinite (first_nonfinite then says which). */
#define NONFINITE(x) ((x) - (x) != 0)

/* The update of elements i0 .. i1-1: nonzero when a gradient among them
 * was NaN or infinite */
OPTIM_VECTOR static int optim_range(const optim *o, void *params, const void *grads, double clip,
                                    int64_t i0, int64_t i1)
{
    int64_t n = i1 - i0;
    int bad = 0;
    DT_EACH_REAL(o->dt, T, {
        T *p = (T *)params + i0, *m = o->m ? (T *)o->m + i0 : NULL,
          *v = o->v ? (T *)o->v + i0 : NULL;
        const T *g = (const T *)grads + i0;
        T lr = (T)o->lr, wd = (T)o->wd;
        T hi = clip > 0 ? (T)clip : (T)INFINITY, lo = -hi;
        switch (o->kind) {
        case SPEC_OPT_SGD:
            for (int64_t i = 0; i < n; i++) {
                bad |= NONFINITE(g[i]);
                T gi = CLAMP(g[i], lo, hi);
                if (wd > 0)
                    gi += wd * p[i];
                p[i] -= lr * gi;
            }
            break;
        case SPEC_OPT_MOMENTUM: {
            T mu = (T)o->mu;
            for (int64_t i = 0; i < n; i++) {
                bad |= NONFINITE(g[i]);
                T gi = CLAMP(g[i], lo, hi);
                if (wd > 0)
                    gi += wd * p[i];
                m[i] = mu * m[i] + gi;
                p[i] -= lr * m[i];
            }
            break;
        }
        case SPEC_OPT_ADAGRAD: {
            /* Skipping cache lines of +0 gradients (unread input columns)
             * would keep the same bits, but it was tried: the test and the
             * short loops between skipped lines cost more (34 us instead
             * of 29 for min-char-rnn) than the square roots saved. */
            T eps = (T)o->eps;
            for (int64_t i = 0; i < n; i++) {
                bad |= NONFINITE(g[i]);
                T gi = CLAMP(g[i], lo, hi);
                if (wd > 0)
                    gi += wd * p[i];
                m[i] += gi * gi;
                p[i] -= lr * gi / (T)sqrt(m[i] + eps);
            }
            break;
        }
        case SPEC_OPT_ADAM: {
            T b1 = (T)o->b1, b2 = (T)o->b2, eps = (T)o->eps;
            T c1 = (T)(1 - pow(o->b1, (double)o->t)), c2 = (T)(1 - pow(o->b2, (double)o->t));
            for (int64_t i = 0; i < n; i++) {
                bad |= NONFINITE(g[i]);
                T gi = CLAMP(g[i], lo, hi);
                if (wd > 0)
                    p[i] -= lr * wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                p[i] -= lr * (m[i] / c1) / ((T)sqrt(v[i] / c2) + eps);
            }
            break;
        }
        }
    });
    return bad;
}

/* The threads an update (or a clip by norm) of n elements runs on: all
 * from OPTIM_SPLIT_BYTES (optim.h), else the calling thread alone */
static int update_threads(dtype dt, int64_t n)
{
    return n * (int64_t)dtype_size(dt) < OPTIM_SPLIT_BYTES ? 1 : cpu_threads();
}

typedef struct range_job {
    optim_job *j;
    int64_t e0, e1;
    int nparts;
} range_job;

static void optim_part(void *ctx, int part, int thread)
{
    (void)thread;
    const range_job *r = ctx;
    /* parts start on cache lines of either dtype */
    int64_t n = r->e1 - r->e0, i0 = r->e0 + pool_part_start(n, 16, part, r->nparts),
            i1 = r->e0 + pool_part_start(n, 16, part + 1, r->nparts);
    optim_job_range(r->j, i0, i1, 0);
}

double optim_cycles(spec_optim kind, dtype dt)
{
    double es = (double)dtype_size(dt);
    switch (kind) {
    case SPEC_OPT_SGD:
        return es * 3 / 24; /* the bytes it moves */
    case SPEC_OPT_MOMENTUM:
        return es * 5 / 24;
    case SPEC_OPT_ADAGRAD: /* a square root and a division */
        return es * 0.4;
    case SPEC_OPT_ADAM:
        return es * 0.6;
    }
    return es;
}

void optim_job_begin(optim_job *j, optim *o, void *params, const void *grads, double clip)
{
    o->t++;
    *j = (optim_job){.o = o, .params = params, .grads = grads, .clip = clip};
}

/* Each element's update reads and writes that element alone: the bits
 * are the same however the elements are split, and in whatever order
 * the ranges run. */
void optim_job_range(void *job, int64_t e0, int64_t e1, int split)
{
    optim_job *j = job;
    int nth = split ? update_threads(j->o->dt, e1 - e0) : 1;
    if (nth > 1) {
        range_job r = {j, e0, e1, nth};
        pool_for(pool_class("optimiser"), nth, optim_part, &r);
    } else if (e0 < e1 && optim_range(j->o, j->params, j->grads, j->clip, e0, e1)) {
        atomic_store_explicit(&j->bad, 1, memory_order_relaxed);
    }
}

int optim_job_bad(optim_job *j)
{
    return atomic_load(&j->bad);
}

int optim_step_clip(optim *o, void *params, const void *grads, double clip)
{
    optim_job j;
    optim_job_begin(&j, o, params, grads, clip);
    optim_job_range(&j, 0, o->n, 1);
    return optim_job_bad(&j);
}

void optim_step(optim *o, void *params, const void *grads)
{
    (void)optim_step_clip(o, params, grads, 0);
}

OPTIM_VECTOR void clip_by_value(dtype dt, void *g, int64_t n, double value)
{
    DT_EACH_REAL(dt, T, {
        T *x = g, hi = (T)value, lo = (T)-value;
        for (int64_t i = 0; i < n; i++)
            x[i] = CLAMP(x[i], lo, hi);
    });
}

/*
 * The sum of squares in an order that depends on n alone: blocks of
 * NORM_BLOCK elements, each summed in double in 8 interleaved partial
 * sums (element i into sum i mod 8, a block's last n mod 8 into the
 * first) combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)),
 * and the blocks' sums added in block order. Blocks may run on any
 * thread and any vector width: the bits do not move. One chain of adds
 * over all the gradients took 4 cycles an element (1.5 million float32
 * gradients: 1.36 ms, against 0.088 now).
 */
#define NORM_BLOCK 4096
typedef double norm_v8d __attribute__((vector_size(64)));

OPTIM_VECTOR static double block_sumsq(dtype dt, const void *g, int64_t i0, int64_t i1)
{
    norm_v8d s = {0};
    DT_EACH_REAL(dt, T, {
        const T *x = (const T *)g + i0;
        int64_t n = i1 - i0, i = 0;
        for (; i + 8 <= n; i += 8) {
            norm_v8d v = {x[i],     x[i + 1], x[i + 2], x[i + 3],
                          x[i + 4], x[i + 5], x[i + 6], x[i + 7]};
            s += v * v;
        }
        for (; i < n; i++)
            s[0] += (double)x[i] * (double)x[i];
    });
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

OPTIM_VECTOR static void scale_range(dtype dt, void *g, int64_t i0, int64_t i1, double scale)
{
    DT_EACH_REAL(dt, T, {
        T *x = (T *)g, sc = (T)scale;
        for (int64_t i = i0; i < i1; i++)
            x[i] *= sc;
    });
}

typedef struct norm_job {
    dtype dt;
    void *g;
    int64_t n, nblocks;
    double *sums; /* [nblocks], or NULL: scale by `scale` instead */
    double scale;
    int nparts;
} norm_job;

static void norm_part(void *ctx, int part, int thread)
{
    (void)thread;
    const norm_job *j = ctx;
    for (int64_t b = j->nblocks * part / j->nparts; b < j->nblocks * (part + 1) / j->nparts; b++) {
        int64_t i0 = b * NORM_BLOCK, i1 = i0 + NORM_BLOCK < j->n ? i0 + NORM_BLOCK : j->n;
        if (j->sums)
            j->sums[b] = block_sumsq(j->dt, j->g, i0, i1);
        else
            scale_range(j->dt, j->g, i0, i1, j->scale);
    }
}

double clip_by_norm(dtype dt, void *g, int64_t n, double max_norm)
{
    int64_t nb = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    /* the blocks' sums in the calling thread's scratch: no allocation a
     * step once it has grown (12.5 KiB for 6.4 million parameters) */
    norm_job j = {dt, g, n, nb, pool_scratch((size_t)(nb ? nb : 1) * sizeof(double)), 1, 1};
    int nth = update_threads(dt, n);
    j.nparts = nth < nb ? nth : (int)(nb ? nb : 1);
    double ss = 0;
    if (j.sums) {
        pool_for(pool_class("optimiser"), j.nparts, norm_part, &j);
        for (int64_t b = 0; b < nb; b++)
            ss += j.sums[b];
    } else {
        /* no memory for the blocks' sums: each added as it is made */
        for (int64_t b = 0; b < nb; b++)
            ss += block_sumsq(dt, g, b * NORM_BLOCK,
                              b * NORM_BLOCK + NORM_BLOCK < n ? b * NORM_BLOCK + NORM_BLOCK : n);
    }
    double norm = sqrt(ss);
    if (norm > max_norm) {
        DT_EACH_REAL(dt, T, { j.scale = (double)(T)(max_norm / norm); });
        j.sums = NULL;
        pool_for(pool_class("optimiser"), j.nparts, norm_part, &j);
    }
    return norm;
}

/* NONFINITE: a test without a branch per element, so blocks of 256 are
 * checked as vectors and only a block with a non-finite element is
 * searched. */
OPTIM_VECTOR int64_t first_nonfinite(dtype dt, const void *g, int64_t n)
{
    DT_EACH_REAL(dt, T, {
        const T *x = g;
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            int64_t end = n - i0 < 256 ? n : i0 + 256;
            int bad = 0;
            for (int64_t i = i0; i < end; i++)
                bad |= NONFINITE(x[i]);
            if (!bad)
                continue;
            for (int64_t i = i0; i < end; i++)
                if (!isfinite(x[i]))
                    return i;
        }
    });
    return -1;
}
