/*
 * model.c - the unroller: a preset cell repeated T times; see model.h.
 */
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"

int model_reserved_name(const char *name)
{
    static const char *const reserved[] = {"inputs", "targets", "mask", "loss", "grad"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(name, reserved[i]))
            return 1;
    return 0;
}

int model_find_param(const model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->param[i].name, name))
            return i;
    return -1;
}

double model_estimate_bytes(const spec *s, int64_t V, int64_t B, int64_t T)
{
    double H = s->model.hidden, es = s->train.dtype == DT_F64 ? 8 : 4;
    /* about 40 nodes per step forward and backward, and per step the
     * activations kept for the backward pass plus gradient buffers */
    double nodes = 40.0 * (double)T * sizeof(gnode) * 1.5;
    double acts = (double)T * (double)B * (4 * H + 2 * (double)V) * es;
    double params = 3 * (H * H + 2 * H * (double)V + H + (double)V) * es;
    return nodes + acts + params;
}

static int add_param(model *m, const char *name, shape s, int is_bias, uerr *e)
{
    model_param *p = &m->param[m->nparams];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shape = s;
    p->is_bias = is_bias;
    if (graph_leaf(&m->g, name, m->g.dt, s, NODE_PARAM, -1, &p->node, e))
        return e->code;
    m->nparams++;
    return 0;
}

static int act_op(spec_act a)
{
    switch (a) {
    case SPEC_ACT_SIGMOID: return OP_SIGMOID;
    case SPEC_ACT_RELU: return OP_RELU;
    case SPEC_ACT_TANH: break;
    }
    return OP_TANH;
}

/* One Elman step: h_t = act(H_{t-1} W^T + gather(U, x_t) + b), o_t = h_t V^T + c */
static int elman_step(model *m, const spec *s, int64_t t, int32_t h_prev, int32_t *h,
                      int32_t *o, uerr *e)
{
    graph *g = &m->g;
    int32_t U = m->param[0].node, W = m->param[1].node, b = m->param[2].node;
    int32_t V = m->param[3].node, c = m->param[4].node;
    int32_t a = op_add(g, op_add(g, op_matmul(g, h_prev, W, 0, 1, e), op_gather(g, U, m->x[t], e), e),
                       b, e);
    *h = op_unary(g, act_op(s->model.activation), a, e);
    *o = op_add(g, op_matmul(g, *h, V, 0, 1, e), c, e);
    return *o < 0 ? e->code : 0;
}

int model_build(model *m, const spec *s, int64_t V, int64_t B, int64_t T, uerr *e)
{
    memset(m, 0, sizeof *m);
    if (s->model.cell != SPEC_CELL_ELMAN)
        return uerr_set(e, UERR_USER, "%s: model.cell: '%s' is not supported yet (only elman)",
                        s->path, spec_value_name("model.cell", (int)s->model.cell));
    if (s->model.output != SPEC_OUT_SOFTMAX || s->model.loss != SPEC_LOSS_CROSS_ENTROPY)
        return uerr_set(e, UERR_USER,
                        "%s: model.output/model.loss: only softmax with cross_entropy is "
                        "supported for text data",
                        s->path);
    if (s->model.outputs != SPEC_OUTPUTS_EVERY_STEP || s->model.layers != 1 ||
        s->model.bidirectional)
        return uerr_set(e, UERR_USER,
                        "%s: model.outputs/layers/bidirectional: only every_step, 1 layer, "
                        "unidirectional is supported yet",
                        s->path);
    double need = model_estimate_bytes(s, V, B, T);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * (double)psize : 16e9;
    if (need > 0.8 * have)
        return uerr_set(e, UERR_USER,
                        "%s: the unrolled model needs about %.1f GiB (train.seq_len %lld x "
                        "train.batch %lld x model.hidden %d, vocabulary %lld), more than the "
                        "%.1f GiB of this machine",
                        s->path, need / 1073741824.0, (long long)T, (long long)B,
                        s->model.hidden, (long long)V, have / 1073741824.0);

    m->V = V, m->H = s->model.hidden, m->B = B, m->T = T;
    int rc = graph_init(&m->g, s->train.dtype, e);
    if (rc)
        return rc;
    m->x = malloc((size_t)T * sizeof(int32_t));
    m->y = malloc((size_t)T * sizeof(int32_t));
    m->logits = malloc((size_t)T * sizeof(int32_t));
    if (!m->x || !m->y || !m->logits) {
        model_free(m);
        return uerr_set(e, UERR_INTERNAL, "model: out of memory for %lld steps", (long long)T);
    }
    graph *g = &m->g;
    int64_t H = m->H;
    if (add_param(m, "U", shape_2(H, V), 0, e) || add_param(m, "W", shape_2(H, H), 0, e) ||
        add_param(m, "b", shape_1(H), 1, e) || add_param(m, "V", shape_2(V, H), 0, e) ||
        add_param(m, "c", shape_1(V), 1, e) ||
        graph_leaf(g, "h0", g->dt, shape_2(B, H), NODE_DATA, -1, &m->h0, e))
        goto fail;

    int32_t h = m->h0, loss = -1;
    for (int64_t t = 0; t < T; t++) {
        g->cur_t = (int32_t)t;
        if (graph_leaf(g, "x", DT_I32, shape_1(B), NODE_DATA, (int32_t)t, &m->x[t], e) ||
            graph_leaf(g, "y", DT_I32, shape_1(B), NODE_DATA, (int32_t)t, &m->y[t], e))
            goto fail;
        g->nodes[m->x[t]].ip[0] = V;
        g->nodes[m->y[t]].ip[0] = V;
        int32_t o;
        if (elman_step(m, s, t, h, &h, &o, e))
            goto fail;
        m->logits[t] = o;
        int32_t lt = op_softmax_xent(g, o, m->y[t], e);
        loss = loss < 0 ? lt : op_add(g, loss, lt, e);
        if (loss < 0)
            goto fail;
    }
    g->cur_t = -1;
    m->hT = h;
    m->loss = loss;
    graph_set_name(g, m->loss, "loss", e);
    graph_set_name(g, m->hT, "hT", e);
    return 0;
fail:
    rc = e->code ? e->code : UERR_INTERNAL;
    model_free(m);
    return rc;
}

void model_free(model *m)
{
    graph_free(&m->g);
    free(m->x);
    free(m->y);
    free(m->logits);
    memset(m, 0, sizeof *m);
}
