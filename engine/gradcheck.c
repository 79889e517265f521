/*
 * gradcheck.c - see gradcheck.h.
 *
 * Kinks are found by watching: the losses of the differences are computed
 * by a plan that also keeps every kinked op (op_def.kink) on the loss's
 * path and its inputs, and each element's regions at the four perturbed
 * points are compared with those at the unperturbed one.
 */
#include "engine/gradcheck.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "ops/ops.h"

/* splitmix64: enough to pick elements; the graph layer has no other RNG */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The kinked nodes on the loss's path and the loss-only plan that keeps
 * them; n = 0 when there are none (loss_only is used as it is). */
typedef struct watch {
    plan p;
    exec x;
    int32_t *nodes;
    int n;
    int64_t total;   /* output elements of all watched nodes */
    int *base, *now; /* [total] regions: unperturbed, and at the last run */
} watch;

static void watch_free(watch *w)
{
    exec_free(&w->x);
    plan_free(&w->p);
    free(w->nodes);
    free(w->base);
    free(w->now);
}

static void regions(const watch *w, int *dst)
{
    const graph *g = w->x.g;
    for (int i = 0; i < w->n; i++) {
        const gnode *nd = &g->nodes[w->nodes[i]];
        const void *in[GRAPH_MAX_IN];
        for (int j = 0; j < nd->nin; j++)
            in[j] = exec_value(&w->x, nd->in[j]);
        const void *out = exec_value(&w->x, w->nodes[i]);
        op_kink_fn kink = op_table[nd->op]->kink;
        for (int64_t k = 0; k < shape_numel(&nd->shape); k++)
            *dst++ = kink(g, nd, in, out, k);
    }
}

static int watch_init(watch *w, const exec *loss_only, int32_t loss, uerr *e)
{
    const graph *g = loss_only->g;
    uint8_t *mark = calloc((size_t)loss + 1, 1);
    int32_t *outs = malloc(((size_t)loss + 2) * sizeof(int32_t));
    w->nodes = malloc(((size_t)loss + 1) * sizeof(int32_t));
    if (!mark || !outs || !w->nodes) {
        free(mark);
        free(outs);
        return uerr_set(e, UERR_INTERNAL, "gradcheck: out of memory");
    }
    /* inputs precede their consumers: one backward sweep finds the path */
    mark[loss] = 1;
    for (int32_t v = loss; v >= 0; v--)
        for (int j = 0; mark[v] && j < g->nodes[v].nin; j++)
            mark[g->nodes[v].in[j]] = 1;
    int nout = 0;
    outs[nout++] = loss;
    for (int32_t v = 0; v <= loss; v++) {
        const gnode *nd = &g->nodes[v];
        if (!mark[v] || !op_table[nd->op]->kink)
            continue;
        w->nodes[w->n++] = v;
        w->total += shape_numel(&nd->shape);
        for (int j = -1; j < nd->nin; j++) {
            int32_t u = j < 0 ? v : nd->in[j];
            if (mark[u] != 2 && u != loss)
                outs[nout++] = u;
            mark[u] = 2;
        }
    }
    free(mark);
    int rc = 0;
    if (w->n && !(rc = plan_build(g, outs, nout, NULL, &w->p, e)) &&
        !(rc = exec_init(&w->x, g, &w->p, e))) {
        for (int32_t i = 0; i < w->p.nleaves; i++)
            exec_bind(&w->x, w->p.leaves[i], exec_value(loss_only, w->p.leaves[i]));
        w->base = malloc((size_t)w->total * sizeof(int));
        w->now = malloc((size_t)w->total * sizeof(int));
        if (!w->base || !w->now)
            rc = uerr_set(e, UERR_INTERNAL, "gradcheck: out of memory");
    }
    free(outs);
    return rc;
}

/* The loss; with kinks watched, *crossed |= some region left its base. */
static int loss_at(watch *w, exec *loss_only, int32_t loss, double *out, int *crossed, uerr *e)
{
    exec *x = w->n ? &w->x : loss_only;
    int rc = exec_run(x, e);
    if (rc)
        return rc;
    *out = *(const double *)exec_value(x, loss);
    if (w->n) {
        regions(w, w->now);
        for (int64_t k = 0; k < w->total && !*crossed; k++)
            *crossed = w->now[k] != w->base[k];
    }
    return 0;
}

static double atol_at(const gradcheck_report *r, double h)
{
    return 10 * DBL_EPSILON * fmax(1, fabs(r->loss)) / h;
}

/* One element's verdict, folded into its parameter's report. */
static void record(gradcheck_report *r, int64_t j, double a, double num, double h, double tol)
{
    double err = fabs(num - a), ratio = isnan(err) ? INFINITY : err / tol;
    int ok = err <= tol;
    r->failed += !ok;
    if (ratio > r->ratio || r->checked == 0) {
        r->ratio = ratio;
        r->worst = j;
    }
    r->max_abs_err = isnan(err) || err > r->max_abs_err ? err : r->max_abs_err;
    r->max_abs_grad = fmax(r->max_abs_grad, fabs(a));
    r->min_step = fmin(r->min_step, h);
    r->checked++;
}

/* The fourth-order central difference of element j at step *h, made a
 * difference of representable numbers first so the step is exact. */
static int numeric(exec *loss_only, watch *w, int32_t loss, double *val, int64_t j, double *h,
                   double *num, int *crossed, uerr *e)
{
    double keep = val[j], l[4];
    volatile double up = keep + *h;
    *h = up - keep;
    static const double at[4] = {2, 1, -1, -2};
    int rc = 0;
    for (int q = 0; q < 4 && !rc; q++) {
        val[j] = keep + at[q] * *h;
        rc = loss_at(w, loss_only, loss, &l[q], crossed, e);
    }
    val[j] = keep;
    *num = (8 * (l[1] - l[2]) - (l[0] - l[3])) / (12 * *h);
    return rc;
}

#define GRADCHECK_STEPS 16

/* An element that disagrees at h = 1e-3 is tried again at h / 10, h / 100,
 * ... while the rounding allowance atol(h) stays within rtol max(|a|, |n|)
 * (the tolerance never loosens past twice rtol): where the loss is steep
 * (exploding gradients over many steps) the fourth-order truncation error
 * passes rtol at h = 1e-3 and vanishes at smaller steps, while a wrong
 * gradient disagrees at all of them. So is an element whose perturbation
 * crosses a kink: it is skipped only if it crosses at every step allowed.
 * A failure is reported at the step where it came closest. */
static void judge(gradcheck_report *r, exec *loss_only, watch *w, int32_t loss, double *val,
                  int64_t j, double a, int *rc, uerr *e)
{
    double n[GRADCHECK_STEPS], hs[GRADCHECK_STEPS], tol[GRADCHECK_STEPS];
    int K = 0;
    double h = GRADCHECK_EPS;
    for (int tries = 0; tries < GRADCHECK_STEPS; tries++, h /= 10) {
        int crossed = 0;
        double step = h, num = 0;
        if ((*rc = numeric(loss_only, w, loss, val, j, &step, &num, &crossed, e)))
            return;
        if (!crossed) {
            hs[K] = step;
            n[K] = num;
            tol[K] = atol_at(r, step) + r->rtol * fmax(fabs(a), fabs(num));
            if (fabs(a - num) <= tol[K]) {
                record(r, j, a, num, step, tol[K]);
                return;
            }
            K++;
        }
        double next = h / 10, big = fmax(fabs(a), crossed ? 0 : fabs(num));
        if (atol_at(r, next) > r->rtol * big || next < 1e3 * DBL_EPSILON * fabs(val[j]))
            break;
    }
    if (K == 0) {
        r->skipped++;
        return;
    }
    int best = 0;
    for (int k = 1; k < K; k++)
        if (fabs(a - n[k]) / tol[k] < fabs(a - n[best]) / tol[best])
            best = k;
    record(r, j, a, n[best], hs[best], tol[best]);
}

static int check_param(exec *full, exec *loss_only, watch *w, int32_t loss, int32_t p, int32_t grad,
                       int64_t sample, uint64_t *seed, gradcheck_report *r, uerr *e)
{
    double *val = exec_value(full, p);
    const double *ana = exec_value(full, grad);
    if (!val || !ana || val != exec_value(loss_only, p))
        return uerr_set(e, UERR_INTERNAL, "gradcheck: parameter %s is not bound alike",
                        graph_name(full->g, p));
    int all = r->numel <= sample, rc = 0;
    int64_t count = all ? r->numel : sample;
    for (int64_t k = 0; k < count && !rc; k++) {
        int64_t j = all ? k : (int64_t)(next_u64(seed) % (uint64_t)r->numel);
        judge(r, loss_only, w, loss, val, j, ana[j], &rc, e);
    }
    return rc;
}

int gradcheck_run(exec *full, exec *loss_only, int32_t loss, const grad_table *gt, int64_t sample,
                  uint64_t seed, gradcheck_report *out, uerr *e)
{
    const graph *g = full->g;
    if (g->dt != DT_F64)
        return uerr_set(e, UERR_USER, "gradcheck needs a float64 graph (set train.dtype=float64)");
    watch w = {0};
    int rc = exec_run(full, e);
    if (!rc)
        rc = watch_init(&w, loss_only, loss, e);
    if (!rc && w.n && !(rc = exec_run(&w.x, e)))
        regions(&w, w.base);
    double L = rc ? 0 : *(const double *)exec_value(full, loss);
    for (int i = 0; i < gt->nparams && !rc; i++) {
        int32_t p = gt->param[i];
        out[i] = (gradcheck_report){.param = p,
                                    .numel = shape_numel(&g->nodes[p].shape),
                                    .atol = 10 * DBL_EPSILON * fmax(1, fabs(L)) / GRADCHECK_EPS,
                                    .rtol = GRADCHECK_RTOL,
                                    .loss = L,
                                    .min_step = GRADCHECK_EPS};
        rc =
            check_param(full, loss_only, &w, loss, p, gt->param_grad[i], sample, &seed, &out[i], e);
    }
    watch_free(&w);
    return rc;
}

int gradcheck_summary(const gradcheck_report *r, int n, char *buf, size_t len)
{
    int bad = 0;
    int64_t skipped = 0;
    for (int i = 0; i < n; i++) {
        bad += r[i].failed > 0;
        skipped += r[i].skipped;
    }
    char kinks[64] = "";
    if (skipped)
        snprintf(kinks, sizeof kinks, "; %lld skipped at kinks", (long long)skipped);
    snprintf(buf, len,
             "%s: %d of %d parameters %s (|a - n| <= atol %.1e + rtol %.0e max(|a|, |n|))%s",
             bad ? "FAILED" : "passed", bad ? bad : n, n, bad ? "disagree" : "agree",
             n ? r[0].atol : 0.0, GRADCHECK_RTOL, kinks);
    return bad;
}

/* The gradients at p + at * h * u, u = v / ||v|| (a unit vector),
 * into gq; *crossed when a kink was crossed. The parameters are restored. */
static int grads_at(exec *full, exec *loss_only, watch *w, int32_t loss, const grad_table *gt,
                    double *const *val, const double *const *keep, const double *const *v,
                    double vnorm, double step, double *gq, int *crossed, uerr *e)
{
    const graph *g = full->g;
    for (int i = 0; i < gt->nparams; i++)
        for (int64_t j = 0; j < shape_numel(&g->nodes[gt->param[i]].shape); j++)
            val[i][j] = keep[i][j] + (v[i] ? step * (v[i][j] / vnorm) : 0);
    double l = 0;
    int rc = exec_run(full, e);
    if (!rc)
        rc = loss_at(w, loss_only, loss, &l, crossed, e);
    for (int i = 0; i < gt->nparams; i++) {
        int64_t k = shape_numel(&g->nodes[gt->param[i]].shape);
        memcpy(val[i], keep[i], (size_t)k * sizeof(double));
        if (!rc)
            memcpy(gq, exec_value(full, gt->param_grad[i]), (size_t)k * sizeof(double));
        gq += k;
    }
    return rc;
}

/* One step h for every element still open: passes it, or keeps the
 * closest disagreement so far (best_*). */
typedef struct hvp_state {
    int64_t total;
    double *ana, *gq[4], *bn, *bh, *btol, *bratio;
    uint8_t *done, *seen;
} hvp_state;

static void hvp_judge_step(hvp_state *st, const gradcheck_report *r0, double h, double vnorm)
{
    for (int64_t k = 0; k < st->total; k++) {
        if (st->done[k])
            continue;
        double num =
            vnorm * (8 * (st->gq[1][k] - st->gq[2][k]) - (st->gq[0][k] - st->gq[3][k])) / (12 * h);
        double a = st->ana[k];
        double tol = atol_at(r0, h) + r0->rtol * fmax(fabs(a), fabs(num));
        double ratio = fabs(a - num) / tol;
        if (!st->seen[k] || ratio < st->bratio[k] || isnan(ratio)) {
            st->bn[k] = num, st->bh[k] = h, st->btol[k] = tol;
            st->bratio[k] = isnan(ratio) ? INFINITY : ratio;
        }
        st->seen[k] = 1;
        st->done[k] = fabs(a - num) <= tol;
    }
}

/* Open elements whose tolerance would not loosen past rtol at step h. */
static int hvp_open(const hvp_state *st, const gradcheck_report *r0, double h)
{
    for (int64_t k = 0; k < st->total; k++) {
        double big = fmax(fabs(st->ana[k]), st->seen[k] ? fabs(st->bn[k]) : 0);
        if (!st->done[k] && atol_at(r0, h) <= r0->rtol * big)
            return 1;
    }
    return 0;
}

static void hvp_state_free(hvp_state *st)
{
    free(st->ana);
    for (int q = 0; q < 4; q++)
        free(st->gq[q]);
    free(st->bn);
    free(st->bh);
    free(st->btol);
    free(st->bratio);
    free(st->done);
    free(st->seen);
}

int gradcheck_hvp(exec *full, exec *loss_only, int32_t loss, const grad_table *gt,
                  const grad_table *hv, const double *const *v, gradcheck_report *out, uerr *e)
{
    const graph *g = full->g;
    if (g->dt != DT_F64)
        return uerr_set(e, UERR_USER, "gradcheck needs a float64 graph (set train.dtype=float64)");
    int np = gt->nparams;
    hvp_state st = {0};
    watch w = {0};
    double **val = calloc((size_t)np + 1, sizeof(double *));
    double **keep = calloc((size_t)np + 1, sizeof(double *));
    for (int i = 0; i < np; i++)
        st.total += shape_numel(&g->nodes[gt->param[i]].shape);
    size_t nb = (size_t)(st.total ? st.total : 1);
    st.ana = malloc(nb * sizeof(double));
    for (int q = 0; q < 4; q++)
        st.gq[q] = malloc(nb * sizeof(double));
    st.bn = malloc(nb * sizeof(double));
    st.bh = malloc(nb * sizeof(double));
    st.btol = malloc(nb * sizeof(double));
    st.bratio = malloc(nb * sizeof(double));
    st.done = calloc(nb, 1);
    st.seen = calloc(nb, 1);
    int rc = !val || !keep || !st.ana || !st.gq[0] || !st.gq[1] || !st.gq[2] || !st.gq[3] ||
                     !st.bn || !st.bh || !st.btol || !st.bratio || !st.done || !st.seen
                 ? uerr_set(e, UERR_INTERNAL, "gradcheck: out of memory")
                 : 0;
    if (!rc)
        rc = exec_run(full, e);
    double gmax = 0, vnorm = 0;
    for (int64_t i = 0, off = 0; i < np && !rc; i++) {
        int64_t k = shape_numel(&g->nodes[gt->param[i]].shape);
        const double *gv = exec_value(full, gt->param_grad[i]);
        val[i] = exec_value(full, gt->param[i]);
        keep[i] = malloc((size_t)(k ? k : 1) * sizeof(double));
        if (!keep[i] || val[i] != exec_value(loss_only, gt->param[i])) {
            rc = uerr_set(e, UERR_INTERNAL, "gradcheck: parameters not bound alike");
            break;
        }
        memcpy(keep[i], val[i], (size_t)k * sizeof(double));
        memcpy(st.ana + off, exec_value(full, hv->param_grad[i]), (size_t)k * sizeof(double));
        for (int64_t j = 0; j < k; j++) {
            gmax = fmax(gmax, fabs(gv[j]));
            vnorm += v[i] ? v[i][j] * v[i][j] : 0;
        }
        off += k;
    }
    vnorm = sqrt(vnorm);
    /* the quantity differenced is the gradient, whose rounding grows with
     * the terms summed into it: atol scales with |L| as the first-order
     * check's, or with the largest gradient element where that is larger;
     * and the difference along the unit vector u is multiplied by ||v|| */
    double scale = rc ? 0 : fmax(fabs(*(const double *)exec_value(full, loss)), gmax) * vnorm;
    gradcheck_report r0 = {.rtol = GRADCHECK_RTOL, .loss = scale};
    if (!rc)
        rc = watch_init(&w, loss_only, loss, e);
    if (!rc && w.n && !(rc = exec_run(&w.x, e)))
        regions(&w, w.base);
    static const double at[4] = {2, 1, -1, -2};
    double h = GRADCHECK_EPS;
    for (int tries = 0; !rc && vnorm > 0 && tries < GRADCHECK_STEPS; tries++, h /= 10) {
        int crossed = 0;
        for (int q = 0; q < 4 && !rc; q++)
            rc = grads_at(full, loss_only, &w, loss, gt, val, (const double *const *)keep, v, vnorm,
                          at[q] * h, st.gq[q], &crossed, e);
        if (!rc && !crossed)
            hvp_judge_step(&st, &r0, h, vnorm);
        if (!hvp_open(&st, &r0, h / 10))
            break;
    }
    if (!rc)
        rc = exec_run(full, e); /* leave the values of the unperturbed point */
    for (int64_t i = 0, off = 0; i < np && !rc; i++) {
        gradcheck_report *r = &out[i];
        int64_t k = shape_numel(&g->nodes[gt->param[i]].shape);
        *r = (gradcheck_report){.param = gt->param[i],
                                .numel = k,
                                .atol = atol_at(&r0, GRADCHECK_EPS),
                                .rtol = GRADCHECK_RTOL,
                                .loss = scale,
                                .min_step = GRADCHECK_EPS};
        for (int64_t j = 0; j < k; j++) {
            int64_t m = off + j;
            if (vnorm == 0)
                record(r, j, st.ana[m], 0, GRADCHECK_EPS, r->atol);
            else if (!st.seen[m])
                r->skipped++;
            else
                record(r, j, st.ana[m], st.bn[m], st.bh[m], st.btol[m]);
        }
        off += k;
    }
    for (int i = 0; keep && i < np; i++)
        free(keep[i]);
    free(keep);
    free(val);
    hvp_state_free(&st);
    watch_free(&w);
    return rc;
}
