/* optim.c - see optim.h. */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int optim_init(optim *o, const spec *s, int64_t n, uerr *e)
{
    memset(o, 0, sizeof *o);
    o->kind = s->train.optimizer.name;
    o->lr = s->train.optimizer.lr;
    o->eps = s->train.optimizer.eps;
    o->mu = s->train.optimizer.momentum;
    o->b1 = s->train.optimizer.beta1;
    o->b2 = s->train.optimizer.beta2;
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

const char *optim_slot_name(const optim *o, int slot)
{
    switch (o->kind) {
    case SPEC_OPT_SGD: return NULL;
    case SPEC_OPT_MOMENTUM: return slot == 0 ? "momentum.velocity" : NULL;
    case SPEC_OPT_ADAGRAD: return slot == 0 ? "adagrad.mem" : NULL;
    case SPEC_OPT_ADAM: return slot == 0 ? "adam.m" : slot == 1 ? "adam.v" : NULL;
    }
    return NULL;
}

/*
 * After the graph, these loops are most of a small model's step (min-char-
 * rnn: 33k parameters, each with a square root and a division per step).
 * The Makefile compiles this file vectorised; here each loop is compiled
 * for the widest vector unit the CPU has, chosen when the program loads.
 * Every operation in them is elementwise and correctly rounded, so each
 * version gives the same bits.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define OPTIM_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OPTIM_VECTOR
#endif

/* g clamped to [lo, hi]; with lo = -inf and hi = +inf it is g itself (a
 * NaN fails both comparisons and stays NaN, -0 stays -0) */
#define CLAMP(x, lo, hi) ((x) > (hi) ? (hi) : (x) < (lo) ? (lo) : (x))

/*
 * Adagrad, in blocks of one cache line. Where a whole block of gradients
 * is +0 (an input column that no token of the batch reads: most of the
 * input weights of a character model), the update leaves it as it is:
 * m += 0 * 0 keeps m, and p -= lr * 0 / sqrt(m + eps) subtracts +0, which
 * keeps every p (-0 too) as long as m + eps > 0 (0 / 0 would be NaN). So
 * such a block is skipped, with the same bits as computing it: the square
 * root and the division are the most expensive operations of a small
 * model's step. -0 is not skipped (p = -0 minus -0 is +0).
 */
/* Whether a block of one cache line can be skipped: every gradient +0
 * (all bits zero: -0 and NaN are not) and every m + eps > 0. As vectors
 * of 64 bytes whatever the CPU (one register with AVX-512). */
typedef double optim_v8d __attribute__((vector_size(64)));
typedef int64_t optim_v8i __attribute__((vector_size(64)));
typedef float optim_v16f __attribute__((vector_size(64)));
typedef int32_t optim_v16i __attribute__((vector_size(64)));

static inline int idle_f64(const double *g, const double *m, double eps)
{
    optim_v8i gb;
    optim_v8d mv;
    memcpy(&gb, g, sizeof gb);
    memcpy(&mv, m, sizeof mv);
    optim_v8i busy = gb | ~(mv + eps > 0);
    int64_t any = 0;
    for (int i = 0; i < 8; i++)
        any |= busy[i];
    return !any;
}

static inline int idle_f32(const float *g, const float *m, float eps)
{
    optim_v16i gb;
    optim_v16f mv;
    memcpy(&gb, g, sizeof gb);
    memcpy(&mv, m, sizeof mv);
    optim_v16i busy = gb | ~(mv + eps > 0);
    int32_t any = 0;
    for (int i = 0; i < 16; i++)
        any |= busy[i];
    return !any;
}

#define ADAGRAD_RANGE(i0, i1)                                                              \
    for (int64_t i = (i0); i < (i1); i++) {                                                \
        T gi = CLAMP(g[i], lo, hi);                                                        \
        m[i] += gi * gi;                                                                   \
        p[i] -= lr * gi / (T)sqrt(m[i] + eps);                                             \
    }
/* Runs of busy blocks are updated by one loop each, of a length known
 * only at run time: that is what the vectoriser turns into vectors (a
 * loop of one block's constant length it unrolls into scalars). */
#define ADAGRAD_BLOCKS(T)                                                                  \
    do {                                                                                   \
        const int64_t blk = 64 / (int64_t)sizeof(T), full = n / blk * blk;                 \
        int64_t i0 = 0;                                                                    \
        while (i0 < full) {                                                                \
            int64_t i1 = i0;                                                               \
            while (i1 < full && !(sizeof(T) == 8                                           \
                                      ? idle_f64((const double *)g + i1,                   \
                                                 (const double *)m + i1, (double)eps)      \
                                      : idle_f32((const float *)g + i1,                    \
                                                 (const float *)m + i1, (float)eps)))      \
                i1 += blk;                                                                 \
            ADAGRAD_RANGE(i0, i1)                                                          \
            i0 = i1 + blk; /* i1 is idle (or full) */                                      \
        }                                                                                  \
        ADAGRAD_RANGE(full, n)                                                             \
    } while (0)

OPTIM_VECTOR void optim_step_clip(optim *o, void *params, const void *grads, double clip)
{
    o->t++;
    int64_t n = o->n;
    DT_EACH_REAL(o->dt, T, {
        T *p = params, *m = o->m, *v = o->v;
        const T *g = grads;
        T lr = (T)o->lr;
        T hi = clip > 0 ? (T)clip : (T)INFINITY, lo = -hi;
        switch (o->kind) {
        case SPEC_OPT_SGD:
            for (int64_t i = 0; i < n; i++)
                p[i] -= lr * CLAMP(g[i], lo, hi);
            break;
        case SPEC_OPT_MOMENTUM: {
            T mu = (T)o->mu;
            for (int64_t i = 0; i < n; i++) {
                m[i] = mu * m[i] + CLAMP(g[i], lo, hi);
                p[i] -= lr * m[i];
            }
            break;
        }
        case SPEC_OPT_ADAGRAD: {
            T eps = (T)o->eps;
            ADAGRAD_BLOCKS(T);
            break;
        }
        case SPEC_OPT_ADAM: {
            T b1 = (T)o->b1, b2 = (T)o->b2, eps = (T)o->eps;
            T c1 = (T)(1 - pow(o->b1, (double)o->t)), c2 = (T)(1 - pow(o->b2, (double)o->t));
            for (int64_t i = 0; i < n; i++) {
                T gi = CLAMP(g[i], lo, hi);
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                p[i] -= lr * (m[i] / c1) / ((T)sqrt(v[i] / c2) + eps);
            }
            break;
        }
        }
    });
}

void optim_step(optim *o, void *params, const void *grads)
{
    optim_step_clip(o, params, grads, 0);
}

OPTIM_VECTOR void clip_by_value(dtype dt, void *g, int64_t n, double value)
{
    DT_EACH_REAL(dt, T, {
        T *x = g, hi = (T)value, lo = (T)-value;
        for (int64_t i = 0; i < n; i++)
            x[i] = CLAMP(x[i], lo, hi);
    });
}

double clip_by_norm(dtype dt, void *g, int64_t n, double max_norm)
{
    double ss = 0;
    DT_EACH_REAL(dt, T, {
        T *x = g;
        for (int64_t i = 0; i < n; i++)
            ss += (double)x[i] * (double)x[i];
        double norm = sqrt(ss);
        if (norm > max_norm) {
            T scale = (T)(max_norm / norm);
            for (int64_t i = 0; i < n; i++)
                x[i] *= scale;
        }
    });
    return sqrt(ss);
}

/* x - x is 0 for a finite x and NaN otherwise: a test without a branch per
 * element, so blocks of 256 are checked as vectors and only a block with a
 * non-finite element is searched. */
OPTIM_VECTOR int64_t first_nonfinite(dtype dt, const void *g, int64_t n)
{
    DT_EACH_REAL(dt, T, {
        const T *x = g;
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            int64_t end = n - i0 < 256 ? n : i0 + 256;
            int bad = 0;
            for (int64_t i = i0; i < end; i++)
                bad |= (x[i] - x[i]) != 0;
            if (!bad)
                continue;
            for (int64_t i = i0; i < end; i++)
                if (!isfinite(x[i]))
                    return i;
        }
    });
    return -1;
}
