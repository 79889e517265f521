/*
 * model.c - the unroller: a preset cell repeated T times; see model.h.
 */
#include "models/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "models/cell.h"
#include "models/stream_int.h"
#include "ops/ops.h"

int model_reserved_name(const char *name)
{
    static const char *const reserved[] = {"inputs", "targets", "mask",    "lengths",
                                           "h0",     "loss",    "grad",    "per_step",
                                           "hvp",    "hvp_v",   "jacobian"};
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

int model_build_io(model *m, const spec *s, const model_io *io, int64_t B, int64_t T, uerr *e)
{
    int64_t V = io->input;
    memset(m, 0, sizeof *m);
    m->h0 = m->hT = m->yprev = -1;
    int out_ok =
        (s->model.output == SPEC_OUT_SOFTMAX && s->model.loss == SPEC_LOSS_CROSS_ENTROPY) ||
        (s->model.output == SPEC_OUT_LINEAR && s->model.loss == SPEC_LOSS_MSE) ||
        (s->model.output == SPEC_OUT_SIGMOID && s->model.loss == SPEC_LOSS_BCE);
    if (!out_ok)
        return uerr_set(e, UERR_USER,
                        "%s: model.output/model.loss: expected softmax with cross_entropy, "
                        "linear with mse, or sigmoid with bce",
                        s->path);
    if ((s->model.output != SPEC_OUT_SOFTMAX) != (io->real != 0))
        return uerr_set(e, UERR_USER,
                        "%s: model.output: %s needs %s targets (data.kind npy with %s "
                        "targets.npy)",
                        s->path, spec_value_name("model.output", (int)s->model.output),
                        io->real ? "class" : "real", io->real ? "int32" : "float");
    if (s->data.kind != SPEC_DATA_NPY &&
        (s->model.outputs == SPEC_OUTPUTS_LAST_STEP) != (s->data.kind == SPEC_DATA_CLASSIFY))
        return uerr_set(e, UERR_USER,
                        "%s: model.outputs: data.kind classify goes with last_step (one label "
                        "per sequence), text with every_step (a target per character)",
                        s->path);
    int L = s->model.layers, ndir = s->model.bidirectional ? 2 : 1;
    if (L < 1 || L > SPEC_MAX_LAYERS) /* a spec filled in by hand: the same limit */
        return uerr_set(e, UERR_USER, "%s: model.layers: expected an integer from 1 to %d", s->path,
                        SPEC_MAX_LAYERS);
    if (ndir == 2 && s->data.kind == SPEC_DATA_TEXT)
        return uerr_set(e, UERR_USER,
                        "%s: model.bidirectional: a backward layer would read the characters "
                        "it must predict (next-step targets), and its state cannot be carried "
                        "between chunks; use it with data.kind classify or npy",
                        s->path);
    double need = model_estimate_bytes(s, V, B, T) * L * ndir;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * (double)psize : 16e9;
    char b1[BYTES_STR_MAX], b2[BYTES_STR_MAX];
    if (need > 0.8 * have)
        return uerr_set(e, UERR_USER,
                        "%s: the unrolled model needs about %s (train.seq_len %lld x "
                        "train.batch %lld x model.hidden %d, vocabulary %lld), more than the "
                        "%s of this machine",
                        s->path, bytes_str((uint64_t)need, b1), (long long)T, (long long)B,
                        s->model.hidden, (long long)V, bytes_str((uint64_t)have, b2));

    cell c;
    int rc = cell_from_spec(s, &c, e);
    if (rc)
        return rc;
    m->V = V, m->out = io->output, m->H = s->model.hidden, m->B = B, m->T = T;
    m->dense = io->dense;
    m->real = io->real;
    m->pdrop[MODEL_DROP_INPUT] = s->model.dropout.input;
    m->pdrop[MODEL_DROP_OUTPUT] = s->model.dropout.output;
    m->pdrop[MODEL_DROP_STATE] = s->model.dropout.state;
    if ((rc = graph_init(&m->g, s->train.dtype, e))) {
        cell_free(&c);
        return rc;
    }
    m->h0 = m->hT = m->yprev = -1;
    int simple = L == 1 && ndir == 1, nev = simple ? 1 : L * ndir + 1;
    m->x = malloc((size_t)T * sizeof(int32_t));
    m->y = malloc((size_t)T * sizeof(int32_t));
    m->logits = malloc((size_t)T * sizeof(int32_t));
    m->hstate = malloc((size_t)T * sizeof(int32_t));
    m->layers = L;
    m->hlayer = malloc((size_t)(L * T) * sizeof(int32_t));
    m->lstep = malloc((size_t)T * sizeof(int32_t));
    if (io->masked)
        m->mask = malloc((size_t)T * sizeof(int32_t));
    if (io->real) {
        m->yr = malloc((size_t)T * sizeof(int32_t));
        m->lmask = malloc((size_t)T * sizeof(int32_t));
    }
    evaluator *ev = calloc((size_t)nev, sizeof *ev);
    int32_t *seq = simple ? NULL : malloc((size_t)(3 * T) * sizeof(int32_t));
    if (!m->x || !m->y || !m->logits || !m->hstate || !m->hlayer || !m->lstep || !ev ||
        (io->masked && !m->mask) || (!simple && !seq) || (io->real && (!m->yr || !m->lmask))) {
        free(ev);
        free(seq);
        ev = NULL, seq = NULL;
        rc = uerr_set(e, UERR_INTERNAL, "model: out of memory for %lld steps", (long long)T);
        goto fail;
    }
    int sched = s->train.scheduled_sampling.start > 0 || s->train.scheduled_sampling.end > 0;
    if (sched && (io->real || !simple)) {
        rc = uerr_set(e, UERR_USER,
                      "%s: train.scheduled_sampling: needs class targets and a "
                      "model of one layer and one direction",
                      s->path);
        goto fail;
    }
    if (sched && !cell_reads_output(&c)) {
        char at[300];
        rc = uerr_set(e, UERR_USER,
                      "%s: train.scheduled_sampling: no equation reads y[t-1] (no output-to-hidden "
                      "path, as in jordan), so there is no prediction to feed back; set it to 0",
                      spec_key_place(s, "train.scheduled_sampling", at, sizeof at));
        goto fail;
    }
    if (sched && !(m->coin = malloc((size_t)T * sizeof(int32_t)))) {
        rc = uerr_set(e, UERR_INTERNAL, "model: out of memory");
        goto fail;
    }
    graph *g = &m->g;
    int out_eq = -1;
    for (int i = 0; i < c.neqs; i++)
        if (!strcmp(c.eq[i].target, c.output))
            out_eq = i;
    if (out_eq < 0) {
        rc = uerr_set(e, UERR_USER, "%s: no equation computes the output '%s[t]' the loss reads",
                      c.file, c.output);
        goto fail;
    }
    /* streams: every equation but the output's, per layer and direction;
     * the head: the output equation on the top layer's h */
    for (int k = 0; k < nev; k++) {
        evaluator *v = &ev[k];
        v->m = m, v->c = &c, v->e = e;
        int head = !simple && k == nev - 1, l = k / ndir, dir = k % ndir;
        for (int i = 0; i < c.neqs; i++)
            v->use[i] = simple || (head ? i == out_eq : i != out_eq);
        if (!simple && !head) {
            char lp[16] = "";
            if (L > 1)
                snprintf(lp, sizeof lp, "l%d.", l);
            snprintf(v->prefix, sizeof v->prefix, "%s%s", lp,
                     ndir == 2 ? (dir ? "bw." : "fw.") : "");
        }
        v->reverse = !head && dir == 1;
        int64_t hid = head ? s->model.hidden * ndir : s->model.hidden;
        int64_t in = l == 0 || head ? V : s->model.hidden * ndir;
        if ((rc = stream_setup(v, s, in, hid, e)))
            goto fail;
        if (!simple && !head) {
            int k_h = stream_name_index(v, "h");
            if (k_h < 0) {
                rc = uerr_set(e, UERR_USER,
                              "%s: model.layers/bidirectional: the cell must compute "
                              "h[t], the vector a layer passes on",
                              c.file);
                goto fail;
            }
        }
        if (head && stream_name_index(v, "h") < 0) {
            int kh = v->nnames++;
            snprintf(v->names[kh], EQ_NAME_MAX, "h");
        }
        int kh = stream_name_index(v, "h");
        if (s->model.dropout.state > 0 && !head && (kh < 0 || !v->is_state[kh])) {
            rc = uerr_set(e, UERR_USER,
                          "%s: model.dropout.state drops units of h[t-1], but this cell has no "
                          "state h",
                          c.file);
            goto fail;
        }
    }
    if (m->S > 0 && graph_leaf(g, "h0", g->dt, shape_2(B, m->S), NODE_DATA, -1, &m->h0, e))
        goto fail;
    for (int64_t t = 0; t < T; t++) {
        g->cur_t = (int32_t)t;
        if (graph_leaf(g, "x", m->dense ? g->dt : DT_I32, m->dense ? shape_2(B, V) : shape_1(B),
                       NODE_DATA, (int32_t)t, &m->x[t], e) ||
            graph_leaf(g, "y", DT_I32, shape_1(B), NODE_DATA, (int32_t)t, &m->y[t], e))
            goto fail;
        if (!m->dense)
            g->nodes[m->x[t]].ip[0] = V;
        g->nodes[m->y[t]].ip[0] = io->output;
        if (m->mask &&
            graph_leaf(g, "mask", DT_I32, shape_1(B), NODE_DATA, (int32_t)t, &m->mask[t], e))
            goto fail;
        m->logits[t] = -1;
        m->hstate[t] = -1;
        for (int l = 0; l < L; l++)
            m->hlayer[l * T + t] = -1;
        if (m->coin &&
            graph_leaf(g, "coin", DT_I32, shape_1(B), NODE_DATA, (int32_t)t, &m->coin[t], e))
            goto fail;
        if (m->real && (graph_leaf(g, "y", g->dt, shape_2(B, io->output), NODE_DATA, (int32_t)t,
                                   &m->yr[t], e) ||
                        graph_leaf(g, "has_target", DT_I32, shape_1(B), NODE_DATA, (int32_t)t,
                                   &m->lmask[t], e)))
            goto fail;
    }
    evaluator *top = &ev[nev - 1];
    int out = stream_name_index(top, c.output);
    if (!simple) {
        /* layer by layer; seq[0..T) holds the layer below's output, the
         * forward and backward h of this layer go to seq[T..2T), seq[2T..3T).
         * A layer passes on [fw_t; bw_t] (PyTorch's layout). A many-to-one
         * head reads each direction where it has seen the whole sequence,
         * as PyTorch's h_n: fw at the sequence's last real step (masks
         * hold it there, and the target is there) and bw at t = 0, the
         * first real step of every sequence (they start at 0; bw's padding
         * steps keep h0, so it starts at each one's own last step). */
        int32_t *below = seq, *fw = seq + T, *bw = seq + 2 * T;
        int whole = ndir == 2 && s->model.outputs == SPEC_OUTPUTS_LAST_STEP;
        for (int l = 0; l < L; l++) {
            for (int dir = 0; dir < ndir; dir++) {
                evaluator *v = &ev[l * ndir + dir];
                v->input = l ? below : NULL;
                int kh = stream_name_index(v, "h");
                for (int64_t i = 0; i < T; i++) {
                    int64_t t = dir ? T - 1 - i : i;
                    if ((rc = stream_step(v, t, i == 0)))
                        goto fail;
                    (dir ? bw : fw)[t] = v->now[kh];
                    if (!dir)
                        m->hlayer[l * T + t] = v->now[kh];
                }
            }
            for (int64_t t = 0; t < T; t++) {
                g->cur_t = (int32_t)t;
                int32_t parts[2] = {fw[t], bw[whole && l == L - 1 ? 0 : t]};
                below[t] = ndir == 1 ? fw[t] : op_concat(g, parts, 2, e);
                if (below[t] < 0)
                    goto fail;
            }
        }
        int kh = stream_name_index(top, "h");
        for (int64_t t = 0; t < T; t++) {
            top->t = t;
            for (int k = 0; k < top->nnames; k++)
                top->now[k] = -1;
            top->now[kh] = below[t];
            m->hstate[t] = below[t];
            g->cur_t = (int32_t)t;
            top->in_output = 1;
            int32_t node = stream_eval_vector(top, c.eq[out_eq].rhs);
            top->in_output = 0;
            if (node < 0) {
                if (!e->code)
                    uerr_set(e, UERR_USER, "%s:%d:%d: '%s[t]' must be a per-step vector", c.file,
                             c.eq[out_eq].line, c.eq[out_eq].col, c.eq[out_eq].target);
                goto fail;
            }
            m->logits[t] = node;
        }
    }
    int32_t loss = -1;
    for (int64_t t = 0; t < T; t++) {
        if (simple) {
            if ((rc = stream_step(top, t, t == 0)))
                goto fail;
            m->logits[t] = top->now[out];
            int kh = stream_name_index(top, "h");
            m->hstate[t] = m->hlayer[t] = kh >= 0 ? top->now[kh] : -1;
        }
        g->cur_t = (int32_t)t;
        /* the loss kernels index the output by class: a width that is not
         * the data's is the user's equation, named here, not a shape error
         * deep in an op (or a read past the row, were it wider) */
        const shape *os = &g->nodes[m->logits[t]].shape;
        if (os->rank == 2 && os->dim[1] != io->output) {
            rc = uerr_set(e, UERR_USER,
                          "%s:%d:%d: '%s[t]' has %lld elements, but the loss needs "
                          "%lld (%s)",
                          c.file, c.eq[out_eq].line, c.eq[out_eq].col, c.output,
                          (long long)os->dim[1], (long long)io->output,
                          m->real ? "the width of the targets" : "one per class of the data");
            goto fail;
        }
        int32_t lt =
            !m->real ? op_softmax_xent(g, m->logits[t], m->y[t], e)
                     : op_real_loss(g, s->model.output == SPEC_OUT_LINEAR ? OP_MSE : OP_SIGMOID_BCE,
                                    m->logits[t], m->yr[t], m->lmask[t], e);
        if (lt < 0) {
            uerr_prefix(e, "%s: the output '%s[t]'", c.file, c.output);
            goto fail;
        }
        m->lstep[t] = lt;
        loss = loss < 0 ? lt : op_add(g, loss, lt, e);
        if (loss < 0)
            goto fail;
    }
    g->cur_t = -1;
    if (m->S > 0) {
        int32_t parts[CELL_MAX_STATES * 2 * SPEC_MAX_LAYERS] = {0};
        int np = 0;
        for (int k = 0; k < nev; k++)
            for (int n = 0; n < ev[k].nnames; n++)
                if (ev[k].is_state[n] && np < (int)(sizeof parts / sizeof *parts))
                    parts[np++] = ev[k].now[n];
        /* concat takes a few inputs at a time: fold longer lists */
        int32_t acc = np ? parts[0] : -1;
        for (int k = 1; k < np && acc >= 0; k++) {
            int32_t two[2] = {acc, parts[k]};
            acc = op_concat(g, two, 2, e);
        }
        m->hT = acc;
        if (m->hT < 0 || graph_set_name(g, m->hT, "hT", e))
            goto fail;
    }
    m->loss = loss;
    if (graph_set_name(g, m->loss, "loss", e) || cell_check_params(&c, e))
        goto fail;
    free(ev);
    free(seq);
    cell_free(&c);
    return 0;
fail:
    rc = e->code ? e->code : UERR_INTERNAL;
    free(ev);
    free(seq);
    cell_free(&c);
    model_free(m);
    return rc;
}

void model_free(model *m)
{
    graph_free(&m->g);
    free(m->x);
    free(m->y);
    free(m->logits);
    free(m->hstate);
    free(m->hlayer);
    free(m->lstep);
    free(m->mask);
    free(m->yr);
    free(m->lmask);
    free(m->coin);
    free(m->drop);
    memset(m, 0, sizeof *m);
}
