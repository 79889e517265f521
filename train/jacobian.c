/* jacobian.c - the vanishing-gradient ledger; see jacobian.h. */
#include "train/jacobian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

/* The float64 net shares nothing with src but what it reads: every leaf's
 * contents, converted where they are floats. */
static void copy_inputs(net *j, const net *src)
{
    const model *m = &src->m;
    int64_t B = m->B, T = m->T;
    for (int i = 0; i < m->nparams; i++)
        dtype_convert(net_param(j, i), DT_F64, net_param(src, i), src->dt,
                      shape_numel(&m->param[i].shape));
    dtype_convert(j->h0, DT_F64, src->h0, src->dt, B * m->S);
    memcpy(j->yprev, src->yprev, (size_t)B * sizeof(int32_t));
    memcpy(j->xs, src->xs, (size_t)(T * B) * sizeof(int32_t));
    memcpy(j->ys, src->ys, (size_t)(T * B) * sizeof(int32_t));
    if (src->xd)
        dtype_convert(j->xd, DT_F64, src->xd, src->dt, T * B * m->V);
    if (src->ysr) {
        dtype_convert(j->ysr, DT_F64, src->ysr, src->dt, T * B * m->out);
        dtype_convert(j->yprevr, DT_F64, src->yprevr, src->dt, B * m->out);
        memcpy(j->lms, src->lms, (size_t)(T * B) * sizeof(int32_t));
    }
    if (src->ms)
        memcpy(j->ms, src->ms, (size_t)(T * B) * sizeof(int32_t));
    if (src->cs)
        memcpy(j->cs, src->cs, (size_t)(T * B) * sizeof(int32_t));
}

/* The seed loss sum_t (w_t L_t + sum(u_t * h_t)) over leaves w[t] (a
 * scalar) and u[t] ([B, H]), differentiated with respect to every h[t]. */
static int build_seed(net *j, const int32_t *h, int32_t *w, int32_t *u, int64_t H, uerr *e)
{
    model *m = &j->m;
    graph *g = &m->g;
    int64_t T = m->T;
    int32_t acc = -1;
    for (int64_t t = 0; t < T; t++) {
        g->cur_t = (int32_t)t;
        if (graph_leaf(g, "ledger_w", DT_F64, shape_0(), NODE_DATA, (int32_t)t, &w[t], e) ||
            graph_leaf(g, "ledger_u", DT_F64, shape_2(m->B, H), NODE_DATA, (int32_t)t, &u[t], e))
            return e->code;
        int32_t lt = op_mul(g, w[t], m->lstep[t], e);
        int32_t uh = lt < 0 ? -1 : op_mul(g, u[t], h[t], e);
        int32_t su = uh < 0 ? -1 : op_sum(g, uh, -1, e);
        int32_t term = su < 0 ? -1 : op_add(g, lt, su, e);
        acc = term < 0 ? -1 : acc < 0 ? term : op_add(g, acc, term, e);
        if (acc < 0)
            return e->code ? e->code : UERR_INTERNAL;
    }
    g->cur_t = -1;
    return autodiff_grad(g, acc, h, (int)T, &j->gt, e);
}

static double frobenius(const double *x, int64_t n)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    return sqrt(ss);
}

double jacobian_spectral_norm(const double *a, int64_t R, int64_t C, double *g)
{
    /* G = A^T A, symmetric C x C; its largest eigenvalue is sigma^2 */
    double total = 0;
    for (int64_t p = 0; p < C; p++)
        for (int64_t q = p; q < C; q++) {
            double s = 0;
            for (int64_t r = 0; r < R; r++)
                s += a[r * C + p] * a[r * C + q];
            g[p * C + q] = g[q * C + p] = s;
            total += s * s * (p == q ? 1 : 2);
        }
    /* cyclic Jacobi: each rotation zeroes one off-diagonal pair and keeps
     * the eigenvalues; the off-diagonal mass falls quadratically */
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (int64_t p = 0; p < C; p++)
            for (int64_t q = p + 1; q < C; q++)
                off += g[p * C + q] * g[p * C + q];
        if (off <= 1e-32 * total || off == 0)
            break;
        for (int64_t p = 0; p < C; p++)
            for (int64_t q = p + 1; q < C; q++) {
                double apq = g[p * C + q];
                if (apq == 0)
                    continue;
                double theta = (g[q * C + q] - g[p * C + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < C; k++) {
                    double gkp = g[k * C + p], gkq = g[k * C + q];
                    g[k * C + p] = c * gkp - s * gkq;
                    g[k * C + q] = s * gkp + c * gkq;
                }
                for (int64_t k = 0; k < C; k++) {
                    double gpk = g[p * C + k], gqk = g[q * C + k];
                    g[p * C + k] = c * gpk - s * gqk;
                    g[q * C + k] = s * gpk + c * gqk;
                }
                g[p * C + q] = g[q * C + p] = 0;
            }
    }
    double top = 0;
    for (int64_t p = 0; p < C; p++)
        top = g[p * C + p] > top ? g[p * C + p] : top;
    return sqrt(top);
}

/* Row t of both matrices: one run seeded with L_t, H runs seeded with
 * unit i of h_t at every batch row. J holds row i of each d h_t[b] / d h_k[b]
 * as [k][b][i][:]. */
static int ledger_row(net *j, int64_t t, int64_t H, double *w, double *u, double *J,
                      double *scratch, double *dl_dh, double *dh_dh, uerr *e)
{
    int64_t B = j->m.B, T = j->m.T;
    const int32_t *gk = j->gt.param_grad;
    w[t] = 1;
    int rc = exec_run(&j->x, e);
    w[t] = 0;
    for (int64_t k = 0; k <= t && !rc; k++)
        dl_dh[t * T + k] = frobenius(exec_value(&j->x, gk[k]), B * H);
    double *ut = u + t * B * H;
    for (int64_t i = 0; i < H && !rc; i++) {
        for (int64_t b = 0; b < B; b++)
            ut[b * H + i] = 1;
        rc = exec_run(&j->x, e);
        for (int64_t b = 0; b < B; b++)
            ut[b * H + i] = 0;
        for (int64_t k = 0; k <= t && !rc; k++) {
            const double *d = exec_value(&j->x, gk[k]);
            for (int64_t b = 0; b < B; b++)
                memcpy(J + ((k * B + b) * H + i) * H, d + b * H, (size_t)H * sizeof(double));
        }
    }
    for (int64_t k = 0; k <= t && !rc; k++) {
        double most = 0;
        for (int64_t b = 0; b < B; b++) {
            double s = jacobian_spectral_norm(J + (k * B + b) * H * H, H, H, scratch);
            most = s > most ? s : most;
        }
        dh_dh[t * T + k] = most;
    }
    return rc;
}

int jacobian_ledger(const spec *s, const model_io *io, const net *src, int layer, double *dl_dh,
                    double *dh_dh, uerr *e)
{
    int64_t B = src->m.B, T = src->m.T;
    spec s64 = *s; /* read only: nothing of it is freed */
    s64.train.dtype = DT_F64;
    net j;
    memset(&j, 0, sizeof j);
    j.mode = NET_CUSTOM, j.dt = DT_F64, j.es = sizeof(double);
    int32_t *w = malloc((size_t)T * sizeof(int32_t)), *u = malloc((size_t)T * sizeof(int32_t));
    double *wb = calloc((size_t)T, sizeof(double)), *ub = NULL, *J = NULL, *scratch = NULL;
    int rc = !w || !u || !wb ? uerr_set(e, UERR_INTERNAL, "jacobian: out of memory") : 0;
    if (!rc)
        rc = model_build_io(&j.m, &s64, io, B, T, e);
    int L = j.m.layers;
    if (!rc && (layer < -1 || layer >= L))
        rc = uerr_set(e, UERR_USER, "--layer %d: the model has layers 0 to %d", layer, L - 1);
    const int32_t *h = rc ? NULL : j.m.hlayer + (size_t)(layer < 0 ? L - 1 : layer) * (size_t)T;
    for (int64_t t = 0; t < T && !rc; t++)
        if (h[t] < 0)
            rc = uerr_set(e, UERR_USER, "%s: the cell computes no h[t]: no hidden state to follow",
                          s->path);
    int64_t H = rc ? 0 : j.m.g.nodes[h[0]].shape.dim[1];
    plan_options po = {.fuse = s->train.fuse};
    if (!rc && !(rc = build_seed(&j, h, w, u, H, e)) &&
        !(rc = plan_build(&j.m.g, j.gt.param_grad, (int)T, &po, &j.p, e)) &&
        !(rc = exec_init(&j.x, &j.m.g, &j.p, e)))
        rc = net_attach(&j, e);
    if (!rc) {
        ub = calloc((size_t)(T * B * H), sizeof(double));
        J = malloc((size_t)(T * B * H * H) * sizeof(double));
        scratch = malloc((size_t)(H * H) * sizeof(double));
        if (!ub || !J || !scratch)
            rc = uerr_set(e, UERR_INTERNAL, "jacobian: out of memory for %lld x %lld Jacobians",
                          (long long)T, (long long)B);
    }
    if (!rc) {
        copy_inputs(&j, src);
        for (int64_t t = 0; t < T; t++) {
            exec_bind(&j.x, w[t], wb + t);
            exec_bind(&j.x, u[t], ub + t * B * H);
        }
        memset(dl_dh, 0, (size_t)(T * T) * sizeof(double));
        memset(dh_dh, 0, (size_t)(T * T) * sizeof(double));
    }
    for (int64_t t = 0; t < T && !rc; t++)
        rc = ledger_row(&j, t, H, wb, ub, J, scratch, dl_dh, dh_dh, e);
    net_free(&j);
    free(w);
    free(u);
    free(wb);
    free(ub);
    free(J);
    free(scratch);
    return rc;
}

static void param_dims(const model_param *p, int64_t *R, int64_t *C)
{
    *R = p->shape.rank == 2 ? p->shape.dim[0] : 1;
    *C = p->shape.dim[p->shape.rank - 1];
}

int64_t jacobian_sigma_scratch(const net *n)
{
    int64_t most = 0;
    for (int i = 0; i < n->m.nparams; i++) {
        int64_t R, C;
        param_dims(&n->m.param[i], &R, &C);
        most = R * C + C * C > most ? R * C + C * C : most;
    }
    return most;
}

double jacobian_param_sigma(const net *n, int i, double *scratch)
{
    int64_t R, C;
    param_dims(&n->m.param[i], &R, &C);
    dtype_convert(scratch, DT_F64, net_param(n, i), n->dt, R * C);
    return jacobian_spectral_norm(scratch, R, C, scratch + R * C);
}

void jacobian_decay_profile(const double *m, int64_t T, double *prof)
{
    for (int64_t d = 0; d < T; d++) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t t = d; t < T; t++)
            if (m[t * T + t - d] > 0) {
                sum += log10(m[t * T + t - d]);
                n++;
            }
        prof[d] = n ? sum / (double)n : NAN;
    }
}

int jacobian_decay_fit(const double *prof, int64_t T, double *slope, double *intercept)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (int64_t d = 0; d < T; d++)
        if (isfinite(prof[d])) {
            double x = (double)d;
            sx += x, sy += prof[d], sxx += x * x, sxy += x * prof[d];
            n++;
        }
    double den = n * sxx - sx * sx;
    if (n < 2 || den == 0) {
        *slope = *intercept = NAN;
        return n < 2 ? n : 1;
    }
    *slope = (n * sxy - sx * sy) / den;
    *intercept = (sy - *slope * sx) / n;
    return n;
}
