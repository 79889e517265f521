/* session.c - see session.h. */
#include "train/session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/data.h"

/* The class names as stored with the run. */
static int session_classes(session *s, char *const *names, int64_t n, uerr *e)
{
    if (!(s->classes = calloc((size_t)(n ? n : 1), sizeof(char *))))
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int64_t i = 0; i < n; i++)
        if (!(s->classes[i] = strdup(names[i])))
            return uerr_set(e, UERR_INTERNAL, "out of memory");
    return 0;
}

/* The run's model_io and class names: text from its vocabulary alone (a
 * moved data file must not stop sampling), a classifier from its
 * vocabulary and stored label map (what its TSV says now is not what it
 * was trained on), the rest, and classifiers stored before label maps,
 * from its data. */
static int session_io(session *s, uerr *e)
{
    const spec *sp = &s->mc.s;
    if (sp->data.kind == SPEC_DATA_TEXT) {
        s->io = (model_io){.input = s->mc.vocab.size, .output = s->mc.vocab.size};
        return 0;
    }
    if (sp->data.kind == SPEC_DATA_CLASSIFY && s->mc.run.nlabels > 0) {
        s->io = (model_io){.input = s->mc.vocab.size, .output = s->mc.run.nlabels};
        return session_classes(s, s->mc.run.labels, s->mc.run.nlabels, e);
    }
    data_source d;
    int rc = data_open(&d, sp, e);
    if (rc) {
        uerr_prefix(e, "run '%s' (its data gives the model's shape)", s->mc.run.name);
        return rc;
    }
    /* class names come from the data: relabelled, they would name the
     * wrong classes */
    if ((rc = data_same_hash(&d, s->mc.run.name, s->mc.run.data_hash, e))) {
        data_free(&d);
        return rc;
    }
    s->io = d.io;
    s->io.masked = 0; /* a step at a time: every step is real */
    if (d.kind == SPEC_DATA_CLASSIFY)
        rc = session_classes(s, d.cls.classes, d.cls.nclasses, e);
    data_free(&d);
    return rc;
}

int session_open(session *s, store *db, const char *ref, int streaming, uerr *e)
{
    memset(s, 0, sizeof *s);
    int rc = model_ckpt_load(db, ref, &s->mc, e);
    if (!rc && streaming && s->mc.s.model.bidirectional)
        rc = uerr_set(e, UERR_USER,
                      "run '%s': a bidirectional model reads the whole sequence before its "
                      "first output and cannot stream; use predict",
                      s->mc.run.name);
    if (!rc)
        rc = session_io(s, e);
    if (rc)
        session_close(s);
    return rc;
}

void session_close(session *s)
{
    if (s->built)
        net_free(&s->n);
    for (int64_t i = 0; s->classes && i < s->io.output; i++)
        free(s->classes[i]);
    free(s->classes);
    model_ckpt_free(&s->mc);
    memset(s, 0, sizeof *s);
}

int session_reset(session *s, int64_t batch, uerr *e)
{
    if (batch < 1 || batch > 1000000)
        return uerr_set(e, UERR_USER, "reset: batch must be from 1 to 1000000, not %lld",
                        (long long)batch);
    if (!s->built || s->n.m.B != batch) {
        if (s->built)
            net_free(&s->n);
        s->built = 0;
        int rc = net_init_io(&s->n, &s->mc.s, &s->io, batch, 1, NET_FORWARD, NULL, e);
        if (!rc && (rc = sample_set_params(&s->n, s->mc.params, s->mc.nparams, e)))
            net_free(&s->n);
        if (rc)
            return rc;
        s->built = 1;
    }
    net_reset_state(&s->n);
    s->first = 1;
    return 0;
}

int64_t session_outputs(const session *s)
{
    return s->io.output;
}

int64_t session_inputs(const session *s)
{
    return s->io.input;
}

int session_dense(const session *s)
{
    return s->io.dense;
}

int64_t session_batch(const session *s)
{
    return s->built ? s->n.m.B : 0;
}

void session_outputs_of(const session *s, const void *logits, dtype dt, int64_t rows, double *out)
{
    int64_t O = s->io.output;
    int kind = s->mc.s.model.output;
    for (int64_t r = 0; r < rows; r++) {
        double *o = out + r * O, mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < O; j++) {
            o[j] = dt == DT_F32 ? ((const float *)logits)[r * O + j]
                                : ((const double *)logits)[r * O + j];
            mx = o[j] > mx ? o[j] : mx;
        }
        if (kind == SPEC_OUT_SIGMOID)
            for (int64_t j = 0; j < O; j++)
                o[j] = 1 / (1 + exp(-o[j]));
        if (kind != SPEC_OUT_SOFTMAX)
            continue;
        for (int64_t j = 0; j < O; j++)
            sum += o[j] = exp(o[j] - mx);
        for (int64_t j = 0; j < O; j++)
            o[j] /= sum;
    }
}

/* Runs the step whose inputs are in place; out gets the outputs, y[t-1]
 * of the next step what session.h says. */
static int session_run(session *s, const int32_t *ids, double *out, uerr *e)
{
    net *n = &s->n;
    int64_t B = n->m.B, O = s->io.output;
    int text = s->mc.s.data.kind == SPEC_DATA_TEXT;
    for (int64_t b = 0; b < B; b++) {
        n->ys[b] = s->io.real ? -1 : 0;
        if (n->ms)
            n->ms[b] = 1;
        if (n->lms)
            n->lms[b] = 0;
        if (text)
            n->yprev[b] = s->first ? -1 : ids[b];
    }
    if (n->ysr)
        memset(n->ysr, 0, (size_t)(B * O) * n->es);
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    const void *lg = exec_value(&n->x, n->m.logits[0]);
    session_outputs_of(s, lg, n->dt, B, out);
    /* the next step's y[t-1]: the state is carried, the targets are not */
    if (n->m.hT >= 0)
        memcpy(n->h0, exec_value(&n->x, n->m.hT), n->state_bytes);
    for (int64_t b = 0; b < B && !text && !s->io.real; b++) {
        int64_t best = 0;
        for (int64_t j = 1; j < O; j++)
            best = out[b * O + j] > out[b * O + best] ? j : best;
        n->yprev[b] = (int32_t)best;
    }
    if (n->yprevr)
        DT_EACH_REAL(n->dt, T, {
            T *dst = n->yprevr;
            for (int64_t j = 0; j < B * O; j++)
                dst[j] = (T)out[j];
        });
    s->first = 0;
    return 0;
}

static int session_ready(const session *s, int dense, uerr *e)
{
    if (!s->built)
        return uerr_set(e, UERR_USER, "step: reset the model first (it sets the batch)");
    if (dense != s->io.dense)
        return uerr_set(e, UERR_USER, "step: run '%s' reads %s, not %s", s->mc.run.name,
                        s->io.dense ? "real vectors [B, D]" : "ids [B]",
                        dense ? "real vectors" : "ids");
    return 0;
}

int session_step_ids(session *s, const int32_t *ids, double *out, uerr *e)
{
    int rc = session_ready(s, 0, e);
    if (rc)
        return rc;
    for (int64_t b = 0; b < s->n.m.B; b++) {
        if (ids[b] < -1 || ids[b] >= s->io.input)
            return uerr_set(e, UERR_USER, "step: id %lld of row %lld is outside 0..%lld",
                            (long long)ids[b], (long long)b, (long long)s->io.input - 1);
        s->n.xs[b] = ids[b];
    }
    return session_run(s, ids, out, e);
}

int session_step_real(session *s, const double *x, double *out, uerr *e)
{
    int rc = session_ready(s, 1, e);
    if (rc)
        return rc;
    int64_t k = s->n.m.B * s->io.input;
    DT_EACH_REAL(s->n.dt, T, {
        T *dst = s->n.xd;
        for (int64_t j = 0; j < k; j++)
            dst[j] = (T)x[j];
    });
    return session_run(s, NULL, out, e);
}

/* The state: h0, then yprev, then yprevr (when the model has it), then
 * the first-step flag. */
size_t session_state_bytes(const session *s)
{
    if (!s->built)
        return 0;
    size_t yr = s->n.yprevr ? (size_t)(s->n.m.B * s->n.m.out) * s->n.es : 0;
    return s->n.state_bytes + (size_t)s->n.m.B * sizeof(int32_t) + yr + sizeof(int32_t);
}

void session_state_save(const session *s, void *buf)
{
    if (!s->built)
        return;
    char *p = buf;
    size_t yp = (size_t)s->n.m.B * sizeof(int32_t);
    size_t yr = s->n.yprevr ? (size_t)(s->n.m.B * s->n.m.out) * s->n.es : 0;
    int32_t first = s->first;
    memcpy(p, s->n.h0, s->n.state_bytes);
    memcpy(p + s->n.state_bytes, s->n.yprev, yp);
    if (yr)
        memcpy(p + s->n.state_bytes + yp, s->n.yprevr, yr);
    memcpy(p + s->n.state_bytes + yp + yr, &first, sizeof first);
}

void session_state_restore(session *s, const void *buf)
{
    if (!s->built)
        return;
    const char *p = buf;
    size_t yp = (size_t)s->n.m.B * sizeof(int32_t);
    size_t yr = s->n.yprevr ? (size_t)(s->n.m.B * s->n.m.out) * s->n.es : 0;
    int32_t first;
    memcpy(s->n.h0, p, s->n.state_bytes);
    memcpy(s->n.yprev, p + s->n.state_bytes, yp);
    if (yr)
        memcpy(s->n.yprevr, p + s->n.state_bytes + yp, yr);
    memcpy(&first, p + s->n.state_bytes + yp + yr, sizeof first);
    s->first = first;
}

sample_opts session_sample_defaults(const session *s)
{
    const spec *sp = &s->mc.s;
    return (sample_opts){.length = sp->sample.length,
                         .temperature = sp->sample.temperature,
                         .prime = sp->sample.prime,
                         .seed = sp->sample.seed};
}

int session_text_only(const model_ckpt *mc, uerr *e)
{
    if (mc->s.data.kind == SPEC_DATA_TEXT)
        return 0;
    return uerr_set(e, UERR_USER,
                    "sample: run '%s' is a %s model; sampling generates text from a text model "
                    "(use predict)",
                    mc->run.name, mc->s.data.kind == SPEC_DATA_CLASSIFY ? "classify" : "npy");
}

int session_sample(const session *s, const sample_opts *o, char **out, uerr *e)
{
    *out = NULL;
    int rc = session_text_only(&s->mc, e);
    if (rc)
        return rc;
    sample_opts d = session_sample_defaults(s);
    return sample_text(&s->mc.s, &s->mc.vocab, s->mc.params, s->mc.nparams, o ? o : &d, out, NULL,
                       e);
}
