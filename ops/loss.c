/*
 * loss.c - losses that reduce to a scalar.
 *
 * softmax_xent(logits [R, N], targets int32 [R]) = sum over rows r of
 *   -log softmax(logits_r)[targets_r]; a row whose target is negative is
 *   padding and adds nothing. Its gradient with respect to the logits is
 *   g * (softmax(logits) - onehot(targets)) (seed 003 has this sign wrong),
 *   computed by the fused op softmax_xent_grad, which recomputes the
 *   softmax rather than keeping R x N probabilities alive; its own
 *   gradient is built of differentiable ops, for second-order gradients.
 *
 * mse(p, t) = 1/2 sum (p - t)^2, the squared error of seed 004, and
 * sigmoid_bce(z, t): binary cross-entropy of sigmoid(z) (multi-label).
 */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

#include "base/clones.h"

#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "kernels/vdiv.h"
#include "kernels/vmath.h"

static int xent_check(const graph *g, gnode *n, uerr *e)
{
    const gnode *l = &g->nodes[n->in[0]], *t = &g->nodes[n->in[1]];
    if (l->dt != g->dt || l->shape.rank < 1)
        return op_shape_error(g, n, e, "expected floating logits with at least one axis");
    if (t->dt != DT_I32 || t->shape.rank != l->shape.rank - 1)
        return op_shape_error(g, n, e,
                              "expected int32 targets with one axis fewer than the logits");
    for (int i = 0; i < t->shape.rank; i++)
        if (t->shape.dim[i] != l->shape.dim[i])
            return op_shape_error(g, n, e, "targets do not match the logits' leading axes");
    /* the kernels index a row by its target: a bound of the targets' values
     * (data inputs and choose carry one) wider than a row would read and
     * write past it */
    int bounded = (t->flags & NODE_DATA) || t->op == OP_CHOOSE;
    if (bounded && t->ip[0] > l->shape.dim[l->shape.rank - 1])
        return op_shape_error(g, n, e, "targets range over more classes than the logits have");
    return 0;
}

static int xent_infer(const graph *g, gnode *n, uerr *e)
{
    if (xent_check(g, n, e))
        return e->code;
    const gnode *l = &g->nodes[n->in[0]];
    if (n->ip[1] && (l->shape.rank != 2 || n->ip[1] < 0 || l->shape.dim[0] % n->ip[1]))
        return op_shape_error(g, n, e, "a sum over steps takes logits of whole steps");
    n->dt = (uint8_t)g->dt;
    n->shape = shape_0();
    return 0;
}

/* Exponentials are taken XENT_CHUNK at a time on the stack (kernels
 * allocate nothing), in the graph's dtype (x - max <= 0, so each is at
 * most 1), and summed in double. */
#define XENT_CHUNK 1024

#define SUM_ROWS 4
typedef double xent_v4d __attribute__((vector_size(32)));

/* a row's sum from its four partial sums, in the one order every row's
 * takes (by pointer: a 32-byte vector passed by value changes the ABI
 * where AVX is off, a warning at -O0) */
static inline double v4_total(const xent_v4d *s)
{
    return ((*s)[0] + (*s)[1]) + ((*s)[2] + (*s)[3]);
}

/* Elements z [n] of one row added to its four partial sums s, in
 * row_sums' order (z starting at a multiple of 4 of the row, the last n
 * mod 4 into s[0]) */
UNROLL_CLONES static void row_sum_into(dtype dt, const void *z, int64_t n, xent_v4d *s)
{
    DT_EACH_REAL(dt, T, {
        const T *p = z;
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            *s += (xent_v4d){p[j], p[j + 1], p[j + 2], p[j + 3]};
        for (; j < n; j++)
            (*s)[0] += (double)p[j];
    });
}

/*
 * The sum of each row of z [R, N], in double, in four interleaved partial
 * sums, s = (s0 + s1) + (s2 + s3), sk over the elements k, k+4, ... and
 * the last N mod 4 added to s0: a fixed order, so the same row always
 * gives the same bits. Four rows run side by side: one row's four sums
 * are chains of dependent additions, sixteen keep the vector adder busy.
 * The last R mod 4 rows run alone (at batch 1 a step's loss is one row,
 * which four rows side by side computed four times over).
 */
UNROLL_CLONES static void row_sums(dtype dt, const void *z, int64_t R, int64_t N, double *out)
{
    DT_EACH_REAL(dt, T, {
        int64_t r0 = 0;
        for (; r0 + SUM_ROWS <= R; r0 += SUM_ROWS) {
            const T *p[SUM_ROWS];
            for (int i = 0; i < SUM_ROWS; i++)
                p[i] = (const T *)z + (r0 + i) * N;
            xent_v4d s[SUM_ROWS] = {{0}};
            int64_t j = 0;
            for (; j + 4 <= N; j += 4)
                for (int i = 0; i < SUM_ROWS; i++)
                    s[i] += (xent_v4d){p[i][j], p[i][j + 1], p[i][j + 2], p[i][j + 3]};
            for (; j < N; j++)
                for (int i = 0; i < SUM_ROWS; i++)
                    s[i][0] += (double)p[i][j];
            for (int i = 0; i < SUM_ROWS; i++)
                out[r0 + i] = v4_total(&s[i]);
        }
        for (; r0 < R; r0++) {
            xent_v4d s = {0};
            row_sum_into(dt, (const T *)z + r0 * N, N, &s);
            out[r0] = v4_total(&s);
        }
    });
}

/* The loss of rows x [R, N] with targets tg [R], in double: each row's
 * added in row order; with terms, each row's also stored there (padding
 * rows' left alone). */
static double xent_loss(dtype dt, const void *xv, const int32_t *tg, int64_t R, int64_t N,
                        double *terms)
{
    double loss = 0;
    DT_EACH_REAL(dt, T, {
        const T *x = xv;
        T buf[XENT_CHUNK], mxs[XENT_CHUNK];
        /* short rows: several rows' exponentials in one vector call (a row
         * of 65 would leave most of its last vector empty); a long row in
         * chunks of its own */
        int64_t per = N <= XENT_CHUNK ? XENT_CHUNK / N : 0;
        double sums[XENT_CHUNK];
        for (int64_t r0 = 0; per && r0 < R; r0 += per) {
            int64_t nr = R - r0 < per ? R - r0 : per;
            op_rows_minus_max(dt, x + r0 * N, buf, nr, N, mxs);
            if (dt == DT_F32)
                vm_exp_f32((const float *)buf, (float *)buf, nr * N);
            else
                vm_exp_f64((const double *)buf, (double *)buf, nr * N);
            row_sums(dt, buf, nr, N, sums);
            for (int64_t i = 0; i < nr; i++) {
                int64_t r = r0 + i;
                if (tg[r] < 0)
                    continue;
                double term = (double)mxs[i] + log(sums[i]) - (double)x[r * N + tg[r]];
                loss += term;
                if (terms)
                    terms[r] = term;
            }
        }
        /* a long row: its max, then its exponentials a chunk at a time,
         * summed as row_sums sums a row (chunks of a multiple of 4) */
        for (int64_t r = 0; !per && r < R; r++) {
            if (tg[r] < 0)
                continue;
            const T *xr = x + r * N;
            T mx;
            op_rows_minus_max(dt, xr, NULL, 1, N, &mx);
            xent_v4d s = {0};
            for (int64_t j0 = 0; j0 < N; j0 += XENT_CHUNK) {
                int64_t nj = N - j0 < XENT_CHUNK ? N - j0 : XENT_CHUNK;
                for (int64_t j = 0; j < nj; j++)
                    buf[j] = xr[j0 + j] - mx;
                if (dt == DT_F32)
                    vm_exp_f32((const float *)buf, (float *)buf, nj);
                else
                    vm_exp_f64((const double *)buf, (double *)buf, nj);
                row_sum_into(dt, buf, nj, &s);
            }
            double term = (double)mx + log(v4_total(&s)) - (double)xr[tg[r]];
            loss += term;
            if (terms)
                terms[r] = term;
        }
    });
    return loss;
}

/*
 * A sum over steps (ip[1] rows a step, ip[2] = 1: the last step first):
 * the plan's stacked form of the chain l_a + l_b + ... of per-step losses
 * (engine/plan_stack_sum.c), with its bits: each step's loss as the
 * per-step op computes it, rounded to the dtype, then added to the chain
 * in turn. The steps' losses are computed XENT_STEPS at a time, split
 * among the kernels' threads (a step's loss does not depend on the split),
 * then added in order. At S2 the 64 per-step losses had run one after the
 * other on one thread, 2.5% of a step.
 */
#define XENT_STEPS 256

typedef struct xent_job {
    dtype dt;
    const char *x;
    const int32_t *tg;
    int64_t R, N, nsteps, s0, ns;
    int rev, nparts;
    double *loss; /* [ns]: steps s0 .. s0+ns-1 in the chain's order */
} xent_job;

static void xent_steps_part(void *ctx, int part, int thread)
{
    (void)thread;
    const xent_job *j = ctx;
    size_t es = dtype_size(j->dt);
    for (int64_t k = j->ns * part / j->nparts; k < j->ns * (part + 1) / j->nparts; k++) {
        int64_t st = j->s0 + k, m = j->rev ? j->nsteps - 1 - st : st;
        j->loss[k] = xent_loss(j->dt, j->x + (size_t)(m * j->R * j->N) * es, j->tg + m * j->R, j->R,
                               j->N, NULL);
    }
}

static void xent_steps(const graph *g, const gnode *n, void *const *in, void *out, int acc)
{
    const gnode *l = &g->nodes[n->in[0]];
    double loss[XENT_STEPS];
    xent_job j = {.dt = (dtype)n->dt,
                  .x = in[0],
                  .tg = in[1],
                  .R = n->ip[1],
                  .N = l->shape.dim[1],
                  .rev = n->ip[2] != 0,
                  .loss = loss};
    j.nsteps = l->shape.dim[0] / j.R;
    DT_EACH_REAL(n->dt, T, {
        T a = acc ? *(T *)out : 0;
        for (j.s0 = 0; j.s0 < j.nsteps; j.s0 += XENT_STEPS) {
            j.ns = j.nsteps - j.s0 < XENT_STEPS ? j.nsteps - j.s0 : XENT_STEPS;
            j.nparts = op_steps_threads(j.ns * j.R * j.N);
            j.nparts = j.nparts > j.ns ? (int)j.ns : j.nparts;
            pool_for(pool_class("stacked step sums"), j.nparts, xent_steps_part, &j);
            for (int64_t k = 0; k < j.ns; k++)
                a = j.s0 + k || acc ? a + (T)loss[k] : (T)loss[k];
        }
        *(T *)out = a;
    });
}

/*
 * A step's rows split among the kernels' threads, from XENT_SPLIT_MIN
 * elements: a row's loss and gradient do not depend on the split. At
 * batch 8 and 3000 classes, too few rows for a row run, a step's loss
 * took 19 us and its gradient 27 on one thread.
 */
#define XENT_SPLIT_MIN (1 << 14)

typedef struct xent_rows_job {
    dtype dt;
    const char *x;
    const int32_t *tg;
    const void *gs; /* the gradient's scale, or NULL for the loss */
    char *out;      /* the gradient [R, N] */
    double *terms;  /* the loss: each row's term */
    int64_t R, N;
    int nparts;
} xent_rows_job;

static int xent_row_parts(int64_t R, int64_t N)
{
    int n = R * N < XENT_SPLIT_MIN ? 1 : cpu_threads();
    return n > R ? (int)R : n;
}

static void xent_grad_block(dtype dt, const void *x, const int32_t *tg, const void *gs, void *out,
                            int64_t R, int64_t N);

static void xent_rows_part(void *ctx, int part, int thread)
{
    (void)thread;
    const xent_rows_job *j = ctx;
    int64_t a = j->R * part / j->nparts, b = j->R * (part + 1) / j->nparts;
    size_t off = (size_t)(a * j->N) * dtype_size(j->dt);
    if (j->gs)
        xent_grad_block(j->dt, j->x + off, j->tg + a, j->gs, j->out + off, b - a, j->N);
    else
        xent_loss(j->dt, j->x + off, j->tg + a, b - a, j->N, j->terms + a);
}

/* xent_loss of R rows, its rows split among the threads XENT_CHUNK at a
 * time, the rows' terms then added in row order: the same bits */
static double xent_loss_split(dtype dt, const void *x, const int32_t *tg, int64_t R, int64_t N)
{
    if (xent_row_parts(R, N) < 2)
        return xent_loss(dt, x, tg, R, N, NULL);
    double loss = 0, terms[XENT_CHUNK];
    for (int64_t r0 = 0; r0 < R; r0 += XENT_CHUNK) {
        int64_t nr = R - r0 < XENT_CHUNK ? R - r0 : XENT_CHUNK;
        xent_rows_job j = {.dt = dt,
                           .x = (const char *)x + (size_t)(r0 * N) * dtype_size(dt),
                           .tg = tg + r0,
                           .terms = terms,
                           .R = nr,
                           .N = N,
                           .nparts = xent_row_parts(nr, N)};
        pool_for(pool_class("softmax rows"), j.nparts, xent_rows_part, &j);
        for (int64_t i = 0; i < nr; i++)
            if (tg[r0 + i] >= 0)
                loss += terms[i];
    }
    return loss;
}

/* logits [R, N], targets [R] -> scalar; with acc, out += the loss, as
 * add(out, loss) would (a sum over steps goes on with the chain in out:
 * a chunk of a chain cut in the plan) */
static void xent_run(const graph *g, const gnode *n, void *const *in, void *out, int acc)
{
    if (n->ip[1]) {
        xent_steps(g, n, in, out, acc);
        return;
    }
    const gnode *l = &g->nodes[n->in[0]];
    int64_t N = l->shape.dim[l->shape.rank - 1];
    DT_EACH_REAL(n->dt, T, {
        T v = (T)xent_loss_split((dtype)n->dt, in[0], in[1], shape_numel(&l->shape) / N, N);
        *(T *)out = acc ? *(T *)out + v : v;
    });
}

static void xent_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    xent_run(g, n, in, out, 0);
}

static void xent_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    xent_run(g, n, in, out, 1);
}

static int xent_grad_infer(const graph *g, gnode *n, uerr *e)
{
    if (xent_check(g, n, e))
        return e->code;
    const gnode *gs = &g->nodes[n->in[2]];
    if (gs->shape.rank != 0 || gs->dt != g->dt)
        return op_shape_error(g, n, e, "expected a scalar gradient");
    n->dt = (uint8_t)g->dt;
    n->shape = g->nodes[n->in[0]].shape;
    return 0;
}

/* Row r of z [R, N] (its exponentials, summing to sums[r]) becomes
 * gs * (softmax - onehot(tg[r])), or 0 for padding (a negative target).
 * Each element is (T)(gs * (z / s)) in double, as kernels/vdiv.h rounds
 * it without a division per element (which took more than half of this
 * op's time). */
static void normalise_rows(dtype dt, void *z, int64_t R, int64_t N, const double *sums,
                           const int32_t *tg, const void *gsv)
{
    DT_EACH_REAL(dt, T, {
        T gs = *(const T *)gsv;
        for (int64_t r = 0; r < R; r++) {
            T *zr = (T *)z + r * N;
            if (tg[r] < 0) {
                memset(zr, 0, (size_t)N * sizeof *zr);
                continue;
            }
            if (dt == DT_F32)
                vdiv_scale_f32((float *)zr, (float *)zr, N, sums[r], (double)gs);
            else
                vdiv_scale_f64((double *)zr, (double *)zr, N, sums[r], (double)gs);
            zr[tg[r]] -= gs;
        }
    });
}

/* logits x [R, N], targets tg [R], scale gs -> out [R, N] (out may be x):
 * every row shifted by its max, then all exponentials in one vector call,
 * then the rows normalised, XENT_CHUNK at a time */
static void xent_grad_block(dtype dt, const void *x, const int32_t *tg, const void *gs, void *out,
                            int64_t R, int64_t N)
{
    op_rows_minus_max(dt, x, out, R, N, NULL);
    if (dt == DT_F32)
        vm_exp_f32(out, out, R * N);
    else
        vm_exp_f64(out, out, R * N);
    double sums[XENT_CHUNK];
    for (int64_t r0 = 0; r0 < R; r0 += XENT_CHUNK) {
        int64_t nr = R - r0 < XENT_CHUNK ? R - r0 : XENT_CHUNK;
        size_t at = (size_t)(r0 * N) * dtype_size(dt);
        row_sums(dt, (char *)out + at, nr, N, sums);
        normalise_rows(dt, (char *)out + at, nr, N, sums, tg + r0, gs);
    }
}

/* logits [R, N], targets [R], g scalar -> [R, N], the rows split among
 * the threads (xent_row_parts) */
static void xent_grad_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    int64_t N = n->shape.dim[n->shape.rank - 1];
    int64_t R = shape_numel(&n->shape) / N;
    (void)g;
    xent_rows_job j = {.dt = (dtype)n->dt,
                       .x = in[0],
                       .tg = in[1],
                       .gs = in[2],
                       .out = out,
                       .R = R,
                       .N = N,
                       .nparts = xent_row_parts(R, N)};
    if (j.nparts < 2)
        xent_grad_block(j.dt, j.x, j.tg, j.gs, out, R, N);
    else
        pool_for(pool_class("softmax rows"), j.nparts, xent_rows_part, &j);
}

static int32_t xent_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    const gnode *n = &g->nodes[node];
    if (i == 1) {
        *undefined = 1;
        return -1;
    }
    gnode p = {.op = OP_SOFTMAX_XENT_GRAD, .nin = 3, .in = {n->in[0], n->in[1], gout}};
    return op_build(g, p, e);
}

/* [R, N]: 1 in the rows whose target is a class, 0 in padding rows (a
 * negative target): gather reads 0 for a negative index. */
static int32_t target_rows(graph *g, int32_t targets, int64_t N, uerr *e)
{
    int32_t ones = op_fill(g, shape_2(1, N), 1.0, e);
    return op_matmul(g, op_gather(g, ones, targets, e), ones, 0, 0, e);
}

/*
 * The gradient of z = gs (softmax(l) - onehot(t)) (0 in padding rows),
 * given G = dL/dz, in differentiable ops:
 *   dL/dl  = gs softmax_grad(softmax(l), G), padding rows 0
 *   dL/dgs = sum(G * softmax_xent_grad(l, t, 1))
 */
static int32_t xent_grad_bprop(graph *g, int32_t node, int i, int32_t gout, int *undefined, uerr *e)
{
    gnode n = g->nodes[node];
    int32_t l = n.in[0], t = n.in[1], gs = n.in[2];
    if (i == 1) {
        *undefined = 1;
        return -1;
    }
    if (i == 2) {
        gnode p = {
            .op = OP_SOFTMAX_XENT_GRAD, .nin = 3, .in = {l, t, op_fill(g, shape_0(), 1.0, e)}};
        return op_sum(g, op_mul(g, gout, op_build(g, p, e), e), -1, e);
    }
    if (g->nodes[l].shape.rank != 2) {
        uerr_set(e, UERR_USER, "the second-order gradient of softmax_xent needs logits [R, N]");
        return -1;
    }
    int32_t p = op_unary(g, OP_SOFTMAX, l, e);
    int32_t d = op_mul(g, op_binary(g, OP_SOFTMAX_GRAD, p, gout, e),
                       target_rows(g, t, n.shape.dim[1], e), e);
    return op_mul(g, d, gs, e);
}

static int32_t xent_example(graph *g, uerr *e)
{
    int32_t l = op_example_param(g, shape_2(4, 6), e);
    return op_softmax_xent(g, l, op_example_index(g, shape_1(4), 6, e), e);
}

/* row r from logits row r and target r; the loss's gradient (a scalar)
 * whole */
static unsigned xent_grad_rows(const graph *g, const gnode *n)
{
    (void)g;
    return n->shape.rank == 2 ? 3u : 0;
}

const op_def op_def_SOFTMAX_XENT = {.arity = 2,
                                    .infer = xent_infer,
                                    .forward = xent_forward,
                                    .accumulate = xent_accumulate,
                                    .bprop = xent_bprop,
                                    .example = xent_example};
static int32_t xent_grad_example(graph *g, uerr *e)
{
    int32_t l = op_example_param(g, shape_2(4, 6), e);
    gnode p = {.op = OP_SOFTMAX_XENT_GRAD,
               .nin = 3,
               .in = {l, op_example_index(g, shape_1(4), 6, e), op_example_param(g, shape_0(), e)}};
    if (p.in[1] < 0 || p.in[2] < 0)
        return -1;
    return op_build(g, p, e);
}

const op_def op_def_SOFTMAX_XENT_GRAD = {.arity = 3,
                                         .flags = OPF_INPLACE,
                                         .infer = xent_grad_infer,
                                         .rows = xent_grad_rows,
                                         .forward = xent_grad_forward,
                                         .bprop = xent_grad_bprop,
                                         .example = xent_grad_example};

/*
 * Losses on real targets take an optional third input: an int32 row mask
 * [R] (R = the rows of the first input's leading axes); rows with mask 0
 * add nothing, so steps without a target or past a sequence's end cost
 * nothing, and their gradient is zero.
 */
static int real_loss_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *p = &g->nodes[n->in[0]], *t = &g->nodes[n->in[1]];
    if (n->nin < 2 || n->nin > 3)
        return op_shape_error(g, n, e, "expected prediction, target and an optional row mask");
    if (p->dt != g->dt || t->dt != g->dt || !shape_equal(&p->shape, &t->shape) || p->shape.rank < 1)
        return op_shape_error(g, n, e, "expected a prediction and a target of one shape");
    if (n->nin == 3) {
        const gnode *m = &g->nodes[n->in[2]];
        int64_t rows = shape_numel(&p->shape) / p->shape.dim[p->shape.rank - 1];
        if (m->dt != DT_I32 || m->shape.rank != 1 || m->shape.dim[0] != rows)
            return op_shape_error(g, n, e, "expected an int32 row mask");
    }
    n->dt = p->dt;
    n->shape = shape_0();
    return 0;
}

/* The per-element terms of the two losses, summed over unmasked rows. */
#define REAL_LOSS_KERNEL(fname, TERM)                                                              \
    static void fname(const graph *g, const gnode *n, void *const *in, void *out)                  \
    {                                                                                              \
        const gnode *pn = &g->nodes[n->in[0]];                                                     \
        int64_t N = pn->shape.dim[pn->shape.rank - 1];                                             \
        int64_t R = shape_numel(&pn->shape) / N;                                                   \
        const int32_t *mask = n->nin == 3 ? in[2] : NULL;                                          \
        DT_EACH_REAL(n->dt, T, {                                                                   \
            const T *ps = in[0], *ts = in[1];                                                      \
            double s = 0;                                                                          \
            for (int64_t r = 0; r < R; r++) {                                                      \
                if (mask && !mask[r])                                                              \
                    continue;                                                                      \
                for (int64_t j = 0; j < N; j++) {                                                  \
                    double p = (double)ps[r * N + j], t = (double)ts[r * N + j];                   \
                    s += (TERM);                                                                   \
                }                                                                                  \
            }                                                                                      \
            *(T *)out = (T)s;                                                                      \
        });                                                                                        \
    }

/* 1/2 (p - t)^2 */
REAL_LOSS_KERNEL(mse_forward, 0.5 * (p - t) * (p - t))
/* -t log s(z) - (1-t) log(1 - s(z)) with z = p, written so that no exp
 * overflows: max(z, 0) - z t + log(1 + exp(-|z|)) */
REAL_LOSS_KERNEL(bce_forward, (p > 0 ? p : 0) - p * t + log1p(exp(-fabs(p))))

/* The gradient term d (shaped like the prediction) masked by rows and
 * scaled by the incoming scalar. */
static int32_t masked_times(graph *g, const gnode *n, int32_t d, int32_t gout, uerr *e)
{
    if (n->nin == 3)
        d = op_where(g, n->in[2], d, op_fill(g, g->nodes[n->in[0]].shape, 0.0, e), e);
    return op_mul(g, d, gout, e);
}

/* d/dp = p - t, d/dt = t - p */
static int32_t mse_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    gnode n = g->nodes[node];
    if (i == 2) {
        *u = 1;
        return -1;
    }
    int32_t p = n.in[0], t = n.in[1];
    return masked_times(g, &n, i == 0 ? op_sub(g, p, t, e) : op_sub(g, t, p, e), gout, e);
}

/* d/dz = sigmoid(z) - t, d/dt = -z */
static int32_t bce_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    gnode n = g->nodes[node];
    if (i == 2) {
        *u = 1;
        return -1;
    }
    int32_t z = n.in[0], t = n.in[1];
    int32_t d = i == 0 ? op_sub(g, op_unary(g, OP_SIGMOID, z, e), t, e) : op_scale(g, z, -1.0, e);
    return masked_times(g, &n, d, gout, e);
}

static int32_t real_loss_example(graph *g, int op, uerr *e)
{
    int32_t p = op_example_param(g, shape_2(4, 3), e);
    int32_t t = op_example_param(g, shape_2(4, 3), e);
    int32_t m = op_example_index(g, shape_1(4), 2, e);
    int32_t in[3] = {p, t, m};
    gnode a = {.op = (uint16_t)op, .nin = 2, .in = {p, t}};
    gnode b = {.op = (uint16_t)op, .nin = 3, .in = {in[0], in[1], in[2]}};
    if (p < 0 || t < 0 || m < 0)
        return -1;
    return op_add(g, op_build(g, a, e), op_build(g, b, e), e);
}

static int32_t mse_example(graph *g, uerr *e)
{
    return real_loss_example(g, OP_MSE, e);
}
static int32_t bce_example(graph *g, uerr *e)
{
    return real_loss_example(g, OP_SIGMOID_BCE, e);
}

const op_def op_def_MSE = {.arity = -1,
                           .infer = real_loss_infer,
                           .forward = mse_forward,
                           .bprop = mse_bprop,
                           .example = mse_example};
const op_def op_def_SIGMOID_BCE = {.arity = -1,
                                   .infer = real_loss_infer,
                                   .forward = bce_forward,
                                   .bprop = bce_bprop,
                                   .example = bce_example};
