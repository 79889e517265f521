/* autodiff.c - build_grad over G'; see autodiff.h for the algorithm. */
#include "engine/autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "engine/grad_sum.h"
#include "ops/ops.h"

/* G' and its consumer lists, in compressed rows: the consumers of node v
 * are cons[start[v] .. start[v+1]), in increasing index. */
typedef struct gprime {
    uint8_t *in;
    int32_t *start;
    int32_t *cons;
} gprime;

static void gprime_free(gprime *gp)
{
    free(gp->in);
    free(gp->start);
    free(gp->cons);
}

static int is_param(int32_t v, const int32_t *params, int nparams)
{
    for (int i = 0; i < nparams; i++)
        if (params[i] == v)
            return 1;
    return 0;
}

static int any_input_in(const graph *g, int32_t v, const uint8_t *set)
{
    const gnode *nd = &g->nodes[v];
    for (int k = 0; k < nd->nin; k++)
        if (set[nd->in[k]])
            return 1;
    return 0;
}

/* A consumer that reads V in two slots (mul(x, x)) is listed once; both
 * slots' terms are added when it is visited. */
static int first_slot(const gnode *nd, int k)
{
    for (int j = 0; j < k; j++)
        if (nd->in[j] == nd->in[k])
            return 0;
    return 1;
}

static int gprime_build(const graph *g, int32_t loss, const int32_t *params, int nparams,
                        gprime *gp, uerr *e)
{
    int32_t n = loss + 1;
    uint8_t *dep = calloc((size_t)n, 1), *anc = calloc((size_t)n, 1);
    gp->in = calloc((size_t)n, 1);
    gp->start = calloc((size_t)n + 1, sizeof(int32_t));
    if (!dep || !anc || !gp->in || !gp->start) {
        free(dep);
        free(anc);
        return uerr_set(e, UERR_INTERNAL, "autodiff: out of memory");
    }
    /* depends on a parameter: a forward sweep. Integer nodes (indices,
     * scheduled sampling's choices) carry no gradient, whatever they were
     * computed from. */
    for (int32_t v = 0; v < n; v++)
        dep[v] =
            g->nodes[v].dt != DT_I32 && (is_param(v, params, nparams) || any_input_in(g, v, dep));
    /* an ancestor of the loss: a backward sweep */
    anc[loss] = 1;
    for (int32_t v = loss; v >= 0; v--)
        if (anc[v])
            for (int k = 0; k < g->nodes[v].nin; k++)
                anc[g->nodes[v].in[k]] = 1;
    int64_t nedges = 0;
    for (int32_t v = 0; v < n; v++) {
        /* inputs have smaller indices, so in[u] is final when v is reached */
        gp->in[v] = anc[v] && dep[v];
        if (!gp->in[v])
            continue;
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++)
            if (gp->in[nd->in[k]] && first_slot(nd, k)) {
                gp->start[nd->in[k] + 1]++;
                nedges++;
            }
    }
    free(anc);
    free(dep);
    for (int32_t v = 0; v < n; v++)
        gp->start[v + 1] += gp->start[v];
    gp->cons = malloc((size_t)(nedges ? nedges : 1) * sizeof(int32_t));
    int32_t *fill = malloc(((size_t)n + 1) * sizeof(int32_t));
    if (!gp->cons || !fill) {
        free(fill);
        return uerr_set(e, UERR_INTERNAL, "autodiff: out of memory");
    }
    memcpy(fill, gp->start, ((size_t)n + 1) * sizeof(int32_t));
    for (int32_t c = 0; c < n; c++) {
        if (!gp->in[c])
            continue;
        const gnode *nd = &g->nodes[c];
        for (int k = 0; k < nd->nin; k++)
            if (gp->in[nd->in[k]] && first_slot(nd, k))
                gp->cons[fill[nd->in[k]]++] = c;
    }
    free(fill);
    return 0;
}

static int add_term(grad_table *gt, int32_t param, int32_t t, int32_t node, int64_t *cap, uerr *e)
{
    if (VEC_GROW(gt->terms, *cap, gt->nterms + 1))
        return uerr_set(e, UERR_INTERNAL, "autodiff: out of memory");
    gt->terms[gt->nterms++] = (grad_term){param, t, node};
    return 0;
}

/*
 * build_grad(V): the sum over V's consumers C in G' (decreasing index) of
 * C.bprop(V, grad(C)), one term per input slot of C that holds V. Every
 * consumer has a larger index than V and was visited first, so grad(C) is
 * already in the table.
 */
static int build_grad(graph *g, int32_t v, const gprime *gp, grad_table *gt, int32_t param_index,
                      int64_t *term_cap, uerr *e)
{
    int32_t sum = -1;
    for (int32_t k = gp->start[v + 1] - 1; k >= gp->start[v]; k--) {
        int32_t c = gp->cons[k];
        if (gt->grad[c] < 0)
            return uerr_set(e, UERR_INTERNAL, "autodiff: consumer %d visited before node %d", c, v);
        gnode cn = g->nodes[c]; /* a copy: bprop may grow (move) the array */
        const op_def *d = op_table[cn.op];
        for (int i = 0; i < cn.nin; i++) {
            if (cn.in[i] != v)
                continue;
            char lb[96];
            if (!d->bprop)
                return uerr_set(e, UERR_USER, "no gradient for op %s input %d (node %s)",
                                op_name(cn.op), i, graph_label(g, c, lb, sizeof lb));
            g->cur_t = cn.t;
            int undefined = 0;
            int32_t term = d->bprop(g, c, i, gt->grad[c], &undefined, e);
            if (undefined)
                return uerr_set(e, UERR_USER,
                                "gradient undefined for op %s input %d (node %s): "
                                "it is an index, yet depends on a parameter",
                                op_name(cn.op), i, graph_label(g, c, lb, sizeof lb));
            if (term < 0)
                return e->code ? e->code : uerr_set(e, UERR_INTERNAL, "bprop failed");
            const gnode *tn = &g->nodes[term], *vn = &g->nodes[v];
            if (!shape_equal(&tn->shape, &vn->shape) || tn->dt != vn->dt) {
                char s1[64], s2[64];
                return uerr_set(e, UERR_INTERNAL,
                                "op %s input %d: gradient has shape %s, input has %s",
                                op_name(cn.op), i, shape_str(&tn->shape, s1, sizeof s1),
                                shape_str(&vn->shape, s2, sizeof s2));
            }
            if (param_index >= 0 && add_term(gt, param_index, cn.t, term, term_cap, e))
                return e->code;
            sum = grad_sum_append(g, sum, term, e);
            if (sum < 0)
                return e->code;
        }
    }
    gt->grad[v] = sum;
    return 0;
}

int autodiff_grad(graph *g, int32_t loss, const int32_t *params, int nparams, grad_table *gt,
                  uerr *e)
{
    memset(gt, 0, sizeof *gt);
    if (loss < 0 || loss >= g->n || g->nodes[loss].shape.rank != 0)
        return uerr_set(e, UERR_INTERNAL, "autodiff: the loss must be a scalar node");
    gt->n = g->n;
    gt->nparams = nparams;
    gt->grad = malloc((size_t)g->n * sizeof(int32_t));
    gt->param = malloc((size_t)(nparams ? nparams : 1) * sizeof(int32_t));
    gt->param_grad = malloc((size_t)(nparams ? nparams : 1) * sizeof(int32_t));
    int32_t *which = malloc((size_t)g->n * sizeof(int32_t));
    gprime gp = {0};
    int rc = 0;
    if (!gt->grad || !gt->param || !gt->param_grad || !which) {
        rc = uerr_set(e, UERR_INTERNAL, "autodiff: out of memory");
        goto out;
    }
    for (int32_t v = 0; v < g->n; v++)
        gt->grad[v] = -1, which[v] = -1;
    for (int i = 0; i < nparams; i++) {
        gt->param[i] = params[i];
        which[params[i]] = i;
    }
    if ((rc = gprime_build(g, loss, params, nparams, &gp, e)))
        goto out;

    int32_t saved_t = g->cur_t;
    g->cur_t = g->nodes[loss].t;
    gt->grad[loss] = op_fill(g, shape_0(), 1.0, e);
    if (gt->grad[loss] < 0) {
        rc = e->code;
        goto out;
    }
    int64_t term_cap = 0;
    for (int32_t v = loss - 1; v >= 0; v--) {
        if (!gp.in[v])
            continue;
        if ((rc = build_grad(g, v, &gp, gt, which[v], &term_cap, e)))
            goto out;
    }
    for (int i = 0; i < nparams; i++) {
        int32_t p = params[i];
        int32_t d = p == loss ? gt->grad[loss] : gt->grad[p];
        g->cur_t = -1;
        if (d < 0)
            d = op_fill(g, g->nodes[p].shape, 0.0, e);
        if (d < 0) {
            rc = e->code;
            goto out;
        }
        gt->param_grad[i] = d;
    }
    g->cur_t = saved_t;
    for (int32_t v = gt->n; v < g->n; v++)
        g->nodes[v].flags |= NODE_GRAD;
out:
    free(which);
    gprime_free(&gp);
    if (rc)
        grad_table_free(gt);
    return rc;
}

int autodiff_hvp(graph *g, const grad_table *gt, const int32_t *v, grad_table *hv, uerr *e)
{
    memset(hv, 0, sizeof *hv);
    int32_t first = g->n, saved_t = g->cur_t, s = -1;
    g->cur_t = -1;
    for (int i = 0; i < gt->nparams; i++) {
        if (v[i] < 0)
            continue;
        int32_t term = op_sum(g, op_mul(g, gt->param_grad[i], v[i], e), -1, e);
        s = term < 0 ? -1 : s < 0 ? term : op_add(g, s, term, e);
        if (s < 0)
            return e->code ? e->code : uerr_set(e, UERR_INTERNAL, "autodiff: <grad, v> failed");
    }
    /* every direction zero: H v = 0, the gradient of a constant */
    if (s < 0 && (s = op_fill(g, shape_0(), 0.0, e)) < 0)
        return e->code;
    g->cur_t = saved_t;
    int rc = autodiff_grad(g, s, gt->param, gt->nparams, hv, e);
    for (int32_t k = first; !rc && k < g->n; k++)
        g->nodes[k].flags |= NODE_GRAD2;
    return rc;
}

void grad_table_free(grad_table *gt)
{
    free(gt->grad);
    free(gt->param);
    free(gt->param_grad);
    free(gt->terms);
    memset(gt, 0, sizeof *gt);
}
