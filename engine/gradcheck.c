/* gradcheck.c - see gradcheck.h. */
#include "engine/gradcheck.h"

#include <math.h>
#include <stdlib.h>

/* splitmix64: enough to pick elements; the graph layer has no other RNG */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int loss_at(exec *x, int32_t loss, double *out, uerr *e)
{
    int rc = exec_run(x, e);
    if (rc)
        return rc;
    *out = *(const double *)exec_value(x, loss);
    return 0;
}

int gradcheck_run(exec *full, exec *loss_only, int32_t loss, const grad_table *gt,
                  int64_t sample, uint64_t seed, gradcheck_report *out, uerr *e)
{
    const graph *g = full->g;
    if (g->dt != DT_F64)
        return uerr_set(e, UERR_USER, "gradcheck needs a float64 graph (set train.dtype=float64)");
    int rc = exec_run(full, e);
    if (rc)
        return rc;
    for (int i = 0; i < gt->nparams; i++) {
        int32_t p = gt->param[i];
        gradcheck_report *r = &out[i];
        *r = (gradcheck_report){.param = p, .numel = shape_numel(&g->nodes[p].shape)};
        double *val = exec_value(full, p);
        const double *ana = exec_value(full, gt->param_grad[i]);
        if (!val || !ana || val != exec_value(loss_only, p))
            return uerr_set(e, UERR_INTERNAL, "gradcheck: parameter %s is not bound alike",
                            graph_name(g, p));
        int all = r->numel <= sample;
        int64_t count = all ? r->numel : sample;
        for (int64_t k = 0; k < count; k++) {
            int64_t j = all ? k : (int64_t)(next_u64(&seed) % (uint64_t)r->numel);
            double keep = val[j], l[4];
            static const double at[4] = {2, 1, -1, -2};
            for (int q = 0; q < 4 && !rc; q++) {
                val[j] = keep + at[q] * GRADCHECK_EPS;
                rc = loss_at(loss_only, loss, &l[q], e);
            }
            val[j] = keep;
            if (rc)
                return rc;
            double num = (8 * (l[1] - l[2]) - (l[0] - l[3])) / (12 * GRADCHECK_EPS);
            double err = fabs(num - ana[j]);
            if (err > r->max_abs_err || isnan(err)) {
                r->max_abs_err = err;
                r->worst = j;
            }
            if (fabs(ana[j]) > r->max_abs_grad)
                r->max_abs_grad = fabs(ana[j]);
            r->checked++;
        }
        r->rel = r->max_abs_err / fmax(r->max_abs_grad, 1e-8);
    }
    return 0;
}
