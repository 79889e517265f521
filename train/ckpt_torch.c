/* ckpt_torch.c - PyTorch state_dict names for preset models; see ckpt_torch.h. */
#include "train/ckpt_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cell's blocks of weight_ih / weight_hh / bias_ih / bias_hh, in
 * PyTorch's gate order: unroll's parameter names without the layer and
 * direction prefix. A bias_hh block named as a bias_ih block is its
 * second copy. */
typedef struct torch_cell {
    const char *module;
    int ngates;
    const char *blk[4][TORCH_MAX_PARTS];
} torch_cell;

static const torch_cell elman_cell = {"nn.RNN", 1, {{"U"}, {"W"}, {"b"}, {"b"}}};
static const torch_cell lstm_cell = {"nn.LSTM",
                                     4,
                                     {{"Ui", "Uf", "Ug", "Uo"},
                                      {"Wi", "Wf", "Wg", "Wo"},
                                      {"bi", "bf", "bg", "bo"},
                                      {"bi", "bf", "bg", "bo"}}};
static const torch_cell gru_cell = {
    "nn.GRU", 3, {{"Ur", "Uz", "Un"}, {"Wr", "Wz", "Wn"}, {"br", "bz", "bn"}, {"br", "bz", "bhn"}}};

static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

/* The cell PyTorch has a module for, or NULL with *e naming why not. */
static const torch_cell *cell_of(const spec *s, uerr *e)
{
    const char *act = spec_value_name("model.activation", s->model.activation);
    switch (s->model.cell) {
    case SPEC_CELL_ELMAN:
        if (act && (!strcmp(act, "tanh") || !strcmp(act, "relu")))
            return &elman_cell;
        uerr_set(e, UERR_USER,
                 "--torch: nn.RNN's nonlinearity is tanh or relu, the config's "
                 "model.activation is %s",
                 act ? act : "?");
        return NULL;
    case SPEC_CELL_LSTM:
        return &lstm_cell;
    case SPEC_CELL_GRU:
        if (s->model.gru == SPEC_GRU_TORCH)
            return &gru_cell;
        uerr_set(e, UERR_USER,
                 "--torch: model.gru: cho computes Wn @ (r * h), which nn.GRU does not; "
                 "model.gru: torch is nn.GRU's formula");
        return NULL;
    default:
        uerr_set(e, UERR_USER,
                 "--torch: PyTorch has no module for model.cell %s (elman is nn.RNN, lstm "
                 "nn.LSTM, gru with model.gru: torch nn.GRU)",
                 spec_value_name("model.cell", (int)s->model.cell));
        return NULL;
    }
}

static int find(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

/* Adds tensor `name` made of the parameters blk[0..nparts) (with the
 * unroll prefix pre), its shape their rows stacked. */
static int add(torch_map *m, const char *name, const char *pre, const char *const *blk, int nparts,
               const int *second, const char *const *names, const shape *shapes, int n, uerr *e)
{
    torch_tensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->nparts = nparts;
    for (int k = 0; k < nparts; k++) {
        char un[64];
        snprintf(un, sizeof un, "%s%s", pre, blk[k]);
        int i = find(names, n, un);
        if (i < 0)
            return uerr_set(e, UERR_USER, "--torch: the model has no parameter '%s' for %s", un,
                            name);
        const shape *p = &shapes[i];
        if (k == 0)
            t->shape = *p;
        else if (p->rank != t->shape.rank || (p->rank == 2 && p->dim[1] != t->shape.dim[1]))
            return uerr_set(e, UERR_USER, "--torch: parameter '%s' does not stack with '%s%s'", un,
                            pre, blk[0]);
        else
            t->shape.dim[0] += p->dim[0];
        t->part[k] = i;
        t->numel[k] = shape_numel(p);
        t->second[k] = second ? second[k] : 0;
    }
    return 0;
}

int torch_map_build(const spec *s, const char *prefix, const char *const *names,
                    const shape *shapes, int n, torch_map *m, uerr *e)
{
    memset(m, 0, sizeof *m);
    const torch_cell *c = cell_of(s, e);
    if (!c)
        return UERR_USER;
    m->module = c->module;
    int L = s->model.layers, ndir = s->model.bidirectional ? 2 : 1, rc = 0;
    for (int l = 0; l < L && !rc; l++)
        for (int d = 0; d < ndir && !rc; d++) {
            char lp[16] = "", pre[24], tn[TORCH_NAME_MAX];
            if (L > 1)
                snprintf(lp, sizeof lp, "l%d.", l);
            snprintf(pre, sizeof pre, "%s%s", lp, ndir == 2 ? (d ? "bw." : "fw.") : "");
            for (int k = 0; k < 4 && !rc; k++) {
                int second[TORCH_MAX_PARTS] = {0};
                for (int g = 0; k == 3 && g < c->ngates; g++)
                    second[g] = !strcmp(c->blk[3][g], c->blk[2][g]);
                snprintf(tn, sizeof tn, "%s%s_l%d%s", prefix, kinds[k], l, d ? "_reverse" : "");
                rc = add(m, tn, pre, c->blk[k], c->ngates, second, names, shapes, n, e);
            }
        }
    const char *head[2][1] = {{"V"}, {"c"}};
    if (!rc)
        rc = add(m, "fc.weight", "", head[0], 1, NULL, names, shapes, n, e);
    if (!rc)
        rc = add(m, "fc.bias", "", head[1], 1, NULL, names, shapes, n, e);
    /* every parameter in one first copy: else export would drop it */
    for (int i = 0; i < n && !rc; i++) {
        int seen = 0;
        for (int j = 0; j < m->n; j++)
            for (int k = 0; k < m->t[j].nparts; k++)
                seen += m->t[j].part[k] == i && !m->t[j].second[k];
        if (seen != 1)
            rc = uerr_set(e, UERR_USER, "--torch: parameter '%s' is not one of %s's", names[i],
                          c->module);
    }
    return rc;
}

int torch_pack(const torch_map *m, dtype dt, const void *const *src, int mode, void **out, uerr *e)
{
    size_t es = dtype_size(dt);
    for (int j = 0; j < m->n; j++)
        out[j] = NULL;
    for (int j = 0; j < m->n; j++) {
        const torch_tensor *t = &m->t[j];
        int64_t n = shape_numel(&t->shape);
        if (!(out[j] = calloc((size_t)(n ? n : 1), es))) {
            for (int i = 0; i < j; i++)
                free(out[i]), out[i] = NULL;
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        }
        /* row blocks: each part's elements follow the previous part's */
        char *at = out[j];
        for (int k = 0; k < t->nparts; k++) {
            size_t b = (size_t)t->numel[k] * es;
            if (!t->second[k] || mode == TORCH_COPY)
                memcpy(at, src[t->part[k]], b);
            at += b;
        }
    }
    return 0;
}

int torch_unpack(const torch_map *m, dtype dt, const void *const *src, const shape *shapes,
                 int nparams, void **out, uerr *e)
{
    size_t es = dtype_size(dt);
    for (int i = 0; i < nparams; i++) {
        int64_t n = shape_numel(&shapes[i]);
        if (!(out[i] = calloc((size_t)(n ? n : 1), es))) {
            for (int k = 0; k < i; k++)
                free(out[k]), out[k] = NULL;
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        }
    }
    /* first copies, then the second copies added in: b = bias_ih + bias_hh */
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < m->n; j++) {
            const torch_tensor *t = &m->t[j];
            const char *at = src[j];
            for (int k = 0; k < t->nparts; k++) {
                int64_t n = t->numel[k];
                if (t->second[k] == pass && !pass)
                    memcpy(out[t->part[k]], at, (size_t)n * es);
                else if (t->second[k] == pass)
                    DT_EACH_REAL(dt, T, {
                        T *y = out[t->part[k]];
                        const T *x = (const T *)at;
                        for (int64_t q = 0; q < n; q++)
                            y[q] += x[q];
                    });
                at += (size_t)n * es;
            }
        }
    return 0;
}
