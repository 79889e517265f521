/* net.c - see net.h. */
#include "train/net.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/recompute.h"
#include "store/npy.h"
#include "train/param_init.h"
#include "train/rng.h"

int net_init(net *n, const spec *s, int64_t V, int64_t B, int64_t T, int mode,
             const plan_options *po, uerr *e)
{
    model_io io = {.input = V, .output = V};
    return net_init_io(n, s, &io, B, T, mode, po, e);
}

/* Plans within a memory budget (engine/recompute.h). When that takes
 * recomputation, the rewritten graph replaces the model's: its forward
 * nodes keep their ids, so only the gradient table needs new ones. */
static int net_plan_within(net *n, const int32_t *outs, int nout, size_t budget,
                           const plan_options *po, uerr *e)
{
    model *m = &n->m;
    graph g2;
    int32_t *map = malloc(((size_t)m->g.n + 1) * sizeof(int32_t));
    if (!map)
        return uerr_set(e, UERR_INTERNAL, "net: out of memory");
    int32_t nforward = n->mode == NET_LOSS ? m->g.n : n->gt.n;
    int rc = recompute_plan(&m->g, nforward, outs, nout, budget, po, &g2, &n->p, map, &n->rc, e);
    if (!rc && n->rc.seg > 0) {
        grad_table *gt = &n->gt;
        for (int32_t v = 0; v < gt->n; v++)
            gt->grad[v] = gt->grad[v] < 0 ? -1 : map[gt->grad[v]];
        for (int i = 0; i < gt->nparams; i++)
            gt->param_grad[i] = map[gt->param_grad[i]];
        for (int64_t j = 0; j < gt->nterms; j++)
            gt->terms[j].node = map[gt->terms[j].node];
        graph_free(&m->g);
        m->g = g2;
    }
    free(map);
    return rc;
}

/* NET_HVP: a direction leaf v per parameter and H v = d <grad L, v> /
 * d params (autodiff_hvp), appended to the plan's outputs. */
static int net_build_hvp(net *n, int32_t *outs, int *nout, uerr *e)
{
    model *m = &n->m;
    for (int i = 0; i < m->nparams; i++) {
        char name[96];
        snprintf(name, sizeof name, "v.%s", m->param[i].name);
        if (graph_leaf(&m->g, name, n->dt, m->param[i].shape, NODE_DATA, -1, &n->hv_v[i], e))
            return e->code;
    }
    if (autodiff_hvp(&m->g, &n->gt, n->hv_v, &n->hv, e))
        return e->code;
    for (int i = 0; i < m->nparams; i++)
        outs[(*nout)++] = n->hv.param_grad[i];
    return 0;
}

/* The dropout masks' memory, all ones (no dropout until drawn). */
static int net_bind_dropout(net *n, uerr *e)
{
    const model *m = &n->m;
    int64_t total = 0;
    for (int i = 0; i < m->ndrop; i++)
        total += shape_numel(&m->g.nodes[m->drop[i].node].shape);
    if (!total)
        return 0;
    if (!(n->drops = malloc((size_t)total * n->es)))
        return uerr_set(e, UERR_INTERNAL, "net: out of memory for dropout masks");
    DT_EACH_REAL(n->dt, T, {
        T *x = n->drops;
        for (int64_t k = 0; k < total; k++)
            x[k] = 1;
        for (int i = 0; i < m->ndrop; i++) {
            exec_bind(&n->x, m->drop[i].node, x);
            x += shape_numel(&m->g.nodes[m->drop[i].node].shape);
        }
    });
    return 0;
}

int net_init_io(net *n, const spec *s, const model_io *io, int64_t B, int64_t T, int mode,
                const plan_options *po, uerr *e)
{
    memset(n, 0, sizeof *n);
    /* dropout is training's alone: evaluation, prediction and sampling
     * see the whole network */
    spec plain;
    if (mode != NET_TRAIN && mode != NET_LEDGER) {
        plain = *s; /* a shallow copy, never freed */
        memset(&plain.model.dropout, 0, sizeof plain.model.dropout);
        s = &plain;
    }
    n->mode = mode;
    n->dt = s->train.dtype;
    n->es = dtype_size(n->dt);
    /* the plan's rewrites as the config says (train.fuse), unless the
     * caller sets them */
    _Static_assert(PLAN_FUSE_ALL == 0 && PLAN_FUSE_EXACT == 1 && PLAN_FUSE_NONE == 2,
                   "train.fuse spells enum plan_fuse");
    plan_options pl = {.fuse = s->train.fuse};
    if (po)
        pl = *po;
    po = &pl;
    size_t budget = s->train.memory_budget ? (size_t)s->train.memory_budget : SIZE_MAX;
    int rc = model_build_io(&n->m, s, io, B, T, e);
    if (rc)
        return rc;
    model *m = &n->m;
    /* the gradients, first among the outputs, become the flat gradient
     * block itself (net_grad): nothing is copied after a run */
    int grads = mode == NET_TRAIN || mode == NET_LEDGER || mode == NET_HVP;
    pl.nfixed = grads ? m->nparams : 0;
    int32_t outs[2 + 2 * MODEL_MAX_PARAMS + 1], pn[MODEL_MAX_PARAMS];
    int nout = 0;
    int32_t *many = NULL;
    for (int i = 0; i < m->nparams; i++)
        pn[i] = m->param[i].node;
    /* the optimiser's update inside the plan: a training net planned
     * whole (not the recomputing plan, whose graph is another) */
    pl.update_leaves =
        mode == NET_TRAIN && pl.update_cycles > 0 && !s->train.memory_budget && !pl.recompute_seg
            ? pn
            : NULL;
    if (grads) {
        if ((rc = autodiff_grad(&m->g, m->loss, pn, m->nparams, &n->gt, e)))
            goto fail;
        for (int i = 0; i < m->nparams; i++)
            outs[nout++] = n->gt.param_grad[i];
    }
    outs[nout++] = m->loss;
    if (m->hT >= 0)
        outs[nout++] = m->hT;
    if (mode == NET_HVP && (rc = net_build_hvp(n, outs, &nout, e)))
        goto fail;
    if (grads) {
        if (mode == NET_HVP) {
            rc = plan_build(&m->g, outs, nout, po, &n->p, e);
        } else if (mode == NET_TRAIN && (s->train.memory_budget || po->recompute_seg)) {
            rc = net_plan_within(n, outs, nout, budget, po, e);
        } else if (mode == NET_TRAIN) {
            rc = plan_build(&m->g, outs, nout, po, &n->p, e);
        } else {
            /* keep every term and every dL/dh_t alive to the end */
            many = malloc((size_t)(nout + n->gt.nterms + T) * sizeof(int32_t));
            if (!many) {
                rc = uerr_set(e, UERR_INTERNAL, "net: out of memory");
                goto fail;
            }
            int k = nout;
            memcpy(many, outs, (size_t)nout * sizeof(int32_t));
            for (int64_t j = 0; j < n->gt.nterms; j++)
                many[k++] = n->gt.terms[j].node;
            for (int64_t t = 0; t < T; t++)
                if (m->hstate[t] >= 0 && m->hstate[t] < n->gt.n && n->gt.grad[m->hstate[t]] >= 0)
                    many[k++] = n->gt.grad[m->hstate[t]];
            rc = plan_build(&m->g, many, k, po, &n->p, e);
            free(many);
        }
    } else if (mode == NET_LOSS && s->train.memory_budget) {
        rc = net_plan_within(n, outs, nout, budget, po, e);
    } else if (mode == NET_LOSS) {
        rc = plan_build(&m->g, outs, nout, po, &n->p, e);
    } else {
        many = malloc((size_t)(T + 2) * sizeof(int32_t));
        if (!many) {
            rc = uerr_set(e, UERR_INTERNAL, "net: out of memory");
            goto fail;
        }
        memcpy(many, outs, (size_t)nout * sizeof(int32_t));
        memcpy(many + nout, m->logits, (size_t)T * sizeof(int32_t));
        rc = plan_build(&m->g, many, (int)(T + nout), po, &n->p, e);
        free(many);
    }
    if (rc || (rc = exec_init(&n->x, &m->g, &n->p, e)) || (rc = net_attach(n, e)))
        goto fail;
    return 0;
fail:
    net_free(n);
    return rc;
}

/* Zeroed, at a multiple of 64 bytes: the block's base aligned as each
 * parameter's offset in it is, so the kernels read every weight row at the
 * same place in a cache line whatever the heap held before (loading a
 * config file or the preset's text moved it, and timed the same plan
 * apart). NULL when out of memory. */
static void *zalloc64(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

int net_attach(net *n, uerr *e)
{
    model *m = &n->m;
    int64_t B = m->B, T = m->T;
    int rc = 0;
    /* each parameter at a multiple of 64 bytes, as the plan places the
     * gradients; the padding stays zero and trains to zero */
    size_t align = 64 / n->es;
    for (int i = 0; i < m->nparams; i++) {
        int64_t k = shape_numel(&m->param[i].shape);
        n->off[i] = n->nparam;
        n->nparam += (int64_t)(((size_t)k + align - 1) / align * align);
        n->nweights += k;
    }
    n->params = zalloc64(((size_t)n->nparam + 1) * n->es);
    n->grads_in_arena = n->p.fixed && m->nparams > 0;
    for (int i = 0; n->grads_in_arena && i < m->nparams; i++)
        n->grads_in_arena = exec_value(&n->x, n->gt.param_grad[i]) ==
                            (char *)n->x.arena + (size_t)n->off[i] * n->es;
    if (n->p.nupdate && !n->grads_in_arena)
        return uerr_set(e, UERR_INTERNAL, "net: the plan updates parameters its gradients miss");
    n->grads = n->grads_in_arena ? n->x.arena : zalloc64(((size_t)n->nparam + 1) * n->es);
    n->state_bytes = (size_t)(B * m->S) * n->es;
    n->h0 = zalloc64(n->state_bytes ? n->state_bytes : 1);
    n->yprev = malloc((size_t)B * sizeof(int32_t));
    n->xs = calloc((size_t)(T * B), sizeof(int32_t));
    if (m->dense && !(n->xd = calloc((size_t)(T * B * m->V), n->es))) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for inputs");
        goto fail;
    }
    n->ys = calloc((size_t)(T * B), sizeof(int32_t));
    if (m->real && (!(n->ysr = calloc((size_t)(T * B * m->out), n->es)) ||
                    !(n->lms = calloc((size_t)(T * B), sizeof(int32_t))) ||
                    !(n->yprevr = calloc((size_t)(B * m->out), n->es)))) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for targets");
        goto fail;
    }
    if (m->coin && !(n->cs = calloc((size_t)(T * B), sizeof(int32_t)))) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for coins");
        goto fail;
    }
    if (m->mask && !(n->ms = calloc((size_t)(T * B), sizeof(int32_t)))) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for masks");
        goto fail;
    }
    if (n->mode == NET_HVP && !(n->hvv = calloc((size_t)n->nparam + 1, n->es))) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for the direction v");
        goto fail;
    }
    for (int i = 0; n->mode == NET_HVP && i < m->nparams; i++)
        exec_bind(&n->x, n->hv_v[i], net_hvp_v(n, i));
    if (!n->params || !n->grads || !n->h0 || !n->yprev || !n->xs || !n->ys) {
        rc = uerr_set(e, UERR_INTERNAL, "net: out of memory for parameters");
        goto fail;
    }
    if ((rc = net_bind_dropout(n, e)))
        goto fail;
    for (int i = 0; i < m->nparams; i++)
        exec_bind(&n->x, m->param[i].node, net_param(n, i));
    if (m->h0 >= 0)
        exec_bind(&n->x, m->h0, n->h0);
    if (m->yprev >= 0)
        exec_bind(&n->x, m->yprev, m->real ? n->yprevr : (void *)n->yprev);
    net_reset_state(n);
    for (int64_t t = 0; t < T; t++) {
        exec_bind(&n->x, m->x[t],
                  m->dense ? (void *)((char *)n->xd + (size_t)(t * B * m->V) * n->es)
                           : (void *)(n->xs + t * B));
        exec_bind(&n->x, m->y[t], n->ys + t * B);
        if (m->mask)
            exec_bind(&n->x, m->mask[t], n->ms + t * B);
        if (m->coin)
            exec_bind(&n->x, m->coin[t], n->cs + t * B);
        if (m->real) {
            exec_bind(&n->x, m->yr[t], (char *)n->ysr + (size_t)(t * B * m->out) * n->es);
            exec_bind(&n->x, m->lmask[t], n->lms + t * B);
        }
    }
    return 0;
fail:
    return rc;
}

void net_free(net *n)
{
    exec_free(&n->x);
    plan_free(&n->p);
    grad_table_free(&n->gt);
    grad_table_free(&n->hv);
    free(n->hvv);
    model_free(&n->m);
    free(n->params);
    if (!n->grads_in_arena)
        free(n->grads);
    free(n->h0);
    free(n->yprev);
    free(n->xs);
    free(n->ys);
    free(n->ms);
    free(n->xd);
    free(n->cs);
    free(n->ysr);
    free(n->lms);
    free(n->yprevr);
    free(n->drops);
    memset(n, 0, sizeof *n);
}

void *net_param(const net *n, int i)
{
    return (char *)n->params + (size_t)n->off[i] * n->es;
}
void *net_hvp(const net *n, int i)
{
    return exec_value(&n->x, n->hv.param_grad[i]);
}

void *net_hvp_v(const net *n, int i)
{
    return (char *)n->hvv + (size_t)n->off[i] * n->es;
}

void *net_grad(const net *n, int i)
{
    return (char *)n->grads + (size_t)n->off[i] * n->es;
}

void net_init_params(net *n, uint64_t seed, double std)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n->m.nparams; i++)
        param_init_fill(net_param(n, i), n->dt, &n->m.param[i], &r, seed, std);
}

/* Reads DIR/<name>.npy for every parameter into the parameters, or (v)
 * into the direction of H v, where a missing file leaves zeros. */
static int load_npy(net *n, const char *dir, int v, uerr *e)
{
    for (int i = 0; i < n->m.nparams; i++) {
        const model_param *p = &n->m.param[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, p->name);
        dtype dt;
        shape s;
        void *data = NULL;
        struct stat st;
        if (v && stat(path, &st) != 0 && errno == ENOENT)
            continue;
        int rc = npy_read(path, &dt, &s, &data, e);
        if (rc)
            return rc;
        char s1[64], s2[64];
        /* numpy code keeps biases as column vectors, (n, 1) (min-char-rnn
         * does): the same n numbers in the same order */
        bool column =
            p->shape.rank == 1 && s.rank == 2 && s.dim[1] == 1 && s.dim[0] == p->shape.dim[0];
        if ((!shape_equal(&s, &p->shape) && !column) || dt == DT_I32) {
            free(data);
            return uerr_set(e, UERR_USER, "%s: expected float32 or float64 %s, found %s %s", path,
                            shape_str(&p->shape, s1, sizeof s1), dtype_name(dt),
                            shape_str(&s, s2, sizeof s2));
        }
        int64_t k = shape_numel(&s);
        dtype_convert(v ? net_hvp_v(n, i) : net_param(n, i), n->dt, data, dt, k);
        free(data);
    }
    return 0;
}

int net_load_params_npy(net *n, const char *dir, uerr *e)
{
    return load_npy(n, dir, 0, e);
}

int net_load_hvp_v_npy(net *n, const char *dir, uerr *e)
{
    return load_npy(n, dir, 1, e);
}

void net_random_hvp_v(net *n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n->m.nparams; i++) {
        int64_t k = shape_numel(&n->m.param[i].shape);
        for (int64_t j = 0; j < k; j++) {
            double x = rng_normal(&r);
            if (n->dt == DT_F32)
                ((float *)net_hvp_v(n, i))[j] = (float)x;
            else
                ((double *)net_hvp_v(n, i))[j] = x;
        }
    }
}

void net_set_batch(net *n, const int32_t *inputs, const int32_t *targets)
{
    int64_t B = n->m.B, T = n->m.T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            n->xs[t * B + b] = inputs[b * T + t];
            n->ys[t * B + b] = targets[b * T + t];
        }
}

void net_set_mask(net *n, const int32_t *mask)
{
    int64_t B = n->m.B, T = n->m.T;
    if (!n->ms)
        return;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            n->ms[t * B + b] = mask[b * T + t];
}

void net_set_dense(net *n, const void *x)
{
    int64_t B = n->m.B, T = n->m.T, D = n->m.V;
    size_t row = (size_t)D * n->es;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            memcpy((char *)n->xd + (size_t)(t * B + b) * row,
                   (const char *)x + (size_t)(b * T + t) * row, row);
}

int net_run(net *n, double *loss, uerr *e)
{
    int rc = exec_run(&n->x, e);
    if (rc)
        return rc;
    const void *l = exec_value(&n->x, n->m.loss);
    *loss = n->dt == DT_F32 ? *(const float *)l : *(const double *)l;
    if ((n->mode == NET_TRAIN || n->mode == NET_LEDGER || n->mode == NET_HVP) && !n->grads_in_arena)
        for (int i = 0; i < n->m.nparams; i++)
            memcpy(net_grad(n, i), exec_value(&n->x, n->gt.param_grad[i]),
                   (size_t)shape_numel(&n->m.param[i].shape) * n->es);
    return 0;
}

void net_update_begin(net *n, optim *o, optim_job *j, double clip)
{
    if (!n->p.nupdate)
        return;
    optim_job_begin(j, o, n->params, n->grads, clip);
    exec_set_update(&n->x, optim_job_range, j);
}

int net_train_step(net *n, optim *o, optim_job *j, double clip, double *loss, uerr *e)
{
    net_update_begin(n, o, j, clip);
    if (net_run(n, loss, e))
        return -1;
    return n->p.nupdate ? optim_job_bad(j) : optim_step_clip(o, n->params, n->grads, clip);
}

void net_reset_state(net *n)
{
    memset(n->h0, 0, n->state_bytes);
    for (int64_t b = 0; b < n->m.B; b++)
        n->yprev[b] = -1;
    if (n->yprevr)
        memset(n->yprevr, 0, (size_t)(n->m.B * n->m.out) * n->es);
}

void net_carry_state(net *n)
{
    if (n->m.hT >= 0)
        memcpy(n->h0, exec_value(&n->x, n->m.hT), n->state_bytes);
    memcpy(n->yprev, n->ys + (n->m.T - 1) * n->m.B, (size_t)n->m.B * sizeof(int32_t));
    if (n->yprevr) {
        size_t block = (size_t)(n->m.B * n->m.out) * n->es;
        memcpy(n->yprevr, (char *)n->ysr + (size_t)(n->m.T - 1) * block, block);
    }
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void net_set_coins(net *n, double p, uint64_t seed, int64_t step)
{
    if (!n->cs)
        return;
    int64_t TB = n->m.T * n->m.B;
    uint64_t base = mix64(seed ^ 0x5ca1ab1eull) ^ mix64((uint64_t)step * 0x9e3779b97f4a7c15ull);
    for (int64_t k = 0; k < TB; k++) {
        double u = (double)(mix64(base + (uint64_t)k) >> 11) / 9007199254740992.0;
        n->cs[k] = u < p;
    }
}

void net_set_dropout(net *n, uint64_t seed, int64_t step, int64_t row0)
{
    const model *m = &n->m;
    char *buf = n->drops;
    uint64_t base = mix64(seed ^ 0xd0d0ca5eull) ^ mix64((uint64_t)step * 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < m->ndrop; i++) {
        const model_drop *d = &m->drop[i];
        const shape *sh = &m->g.nodes[d->node].shape;
        int64_t rows = sh->dim[0], w = sh->dim[1];
        double p = m->pdrop[d->kind];
        uint64_t key = mix64(mix64(mix64(base ^ (uint64_t)d->kind) + (uint64_t)(d->t + 1)) +
                             (uint64_t)d->slot);
        DT_EACH_REAL(n->dt, T, {
            T *x = (T *)buf, keep = (T)(1 / (1 - p));
            for (int64_t b = 0; b < rows; b++) {
                uint64_t kr = mix64(key + (uint64_t)(row0 + b));
                for (int64_t j = 0; j < w; j++) {
                    uint64_t h = d->per_row ? kr : mix64(kr + (uint64_t)j);
                    double u = (double)(h >> 11) / 9007199254740992.0;
                    x[b * w + j] = u < p ? 0 : keep;
                }
            }
        });
        buf += (size_t)(rows * w) * n->es;
    }
}

void net_set_real(net *n, const void *y, const int32_t *has)
{
    int64_t B = n->m.B, T = n->m.T, K = n->m.out;
    size_t row = (size_t)K * n->es;
    if (!n->ysr)
        return;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            memcpy((char *)n->ysr + (size_t)(t * B + b) * row,
                   (const char *)y + (size_t)(b * T + t) * row, row);
            n->lms[t * B + b] = has[b * T + t];
        }
}

void net_share_params(net *n, const net *src)
{
    for (int i = 0; i < n->m.nparams; i++)
        exec_bind(&n->x, n->m.param[i].node, net_param(src, i));
}

static double norm_of(const net *n, int32_t node)
{
    const void *v = exec_value(&n->x, node);
    int64_t k = shape_numel(&n->m.g.nodes[node].shape);
    double ss = 0;
    DT_EACH_REAL(n->dt, T, {
        const T *x = v;
        for (int64_t i = 0; i < k; i++)
            ss += (double)x[i] * (double)x[i];
    });
    return sqrt(ss);
}

int net_ledger(const net *n, double *dh, double *term, uerr *e)
{
    const model *m = &n->m;
    int64_t T = m->T;
    if (n->mode != NET_LEDGER)
        return uerr_set(e, UERR_INTERNAL, "net_ledger: the net keeps no per-step terms");
    for (int64_t t = 0; t < T; t++) {
        int32_t h = m->hstate[t];
        int32_t gh = h >= 0 && h < n->gt.n ? n->gt.grad[h] : -1;
        dh[t] = gh >= 0 ? norm_of(n, gh) : 0;
    }
    /* several terms of one parameter at one step (a matrix used twice) are
     * added first: the norm is of step t's whole contribution */
    int64_t most = 1;
    for (int i = 0; i < m->nparams; i++)
        most = shape_numel(&m->param[i].shape) > most ? shape_numel(&m->param[i].shape) : most;
    double *acc = malloc((size_t)most * sizeof(double));
    if (!acc)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int i = 0; i < m->nparams; i++) {
        int64_t k = shape_numel(&m->param[i].shape);
        for (int64_t t = 0; t < T; t++) {
            int any = 0;
            for (int64_t j = 0; j < n->gt.nterms; j++) {
                const grad_term *gtm = &n->gt.terms[j];
                if (gtm->param != i || gtm->t != t)
                    continue;
                if (!any)
                    memset(acc, 0, (size_t)k * sizeof(double));
                any = 1;
                const void *v = exec_value(&n->x, gtm->node);
                DT_EACH_REAL(n->dt, TT, {
                    const TT *x = v;
                    for (int64_t q = 0; q < k; q++)
                        acc[q] += (double)x[q];
                });
            }
            double ss = 0;
            for (int64_t q = 0; any && q < k; q++)
                ss += acc[q] * acc[q];
            term[i * T + t] = sqrt(ss);
        }
    }
    free(acc);
    return 0;
}
