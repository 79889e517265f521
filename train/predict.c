/* predict.c - see predict.h. */
#include "train/predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/npy.h"
#include "train/npyset.h"
#include "train/text.h"

/* One line of the file: [start, stop) without the newline and '\r'. */
typedef struct span {
    size_t start, stop;
} span;

static span next_line(const char *buf, size_t len, size_t *pos)
{
    span l = {*pos, *pos};
    while (l.stop < len && buf[l.stop] != '\n')
        l.stop++;
    *pos = l.stop + 1;
    if (l.stop > l.start && buf[l.stop - 1] == '\r')
        l.stop--;
    return l;
}

/* The line's text decoded and encoded with the run's vocabulary. */
static int encode_line(const session *s, const char *path, int64_t line, const char *p, size_t n,
                       int32_t **ids, int64_t *nids, uerr *e)
{
    char name[600];
    snprintf(name, sizeof name, "%s:%lld", path, (long long)line);
    uint32_t *cp = NULL;
    *ids = NULL;
    *nids = 0;
    if (n == 0)
        return 0;
    int rc = text_decode(name, p, n, &cp, nids, e);
    if (rc)
        return rc;
    *ids = malloc((size_t)*nids * sizeof(int32_t));
    rc = *ids ? text_encode(&s->mc.vocab, name, cp, *nids, *ids, e)
              : uerr_set(e, UERR_INTERNAL, "out of memory");
    free(cp);
    return rc;
}

/* A text line from a zero state; it->p is the distribution after it. */
static int score_text(session *s, const int32_t *ids, int64_t n, double *p, predict_item *it,
                      uerr *e)
{
    int64_t V = s->io.output;
    int32_t nl = text_vocab_find(&s->mc.vocab, '\n');
    int rc = session_reset(s, 1, e);
    double sum = 0;
    int64_t scored = 0;
    if (!rc && nl >= 0)
        rc = session_step_ids(s, &nl, p, e);
    for (int64_t i = 0; i < n && !rc; i++) {
        if (i > 0 || nl >= 0) {
            sum -= log(p[ids[i]]);
            scored++;
        }
        rc = session_step_ids(s, &ids[i], p, e);
    }
    if (!rc && n == 0 && nl < 0)
        for (int64_t j = 0; j < V; j++)
            p[j] = 1.0 / (double)V;
    it->scored = scored;
    it->loss = scored ? sum / (double)scored : NAN;
    return rc;
}

/* The classify net: B = 1, T = the longest sequence, masked. */
static int cls_net(session *s, int64_t T, net *n, uerr *e)
{
    model_io io = s->io;
    io.masked = 1;
    int rc = net_init_io(n, &s->mc.s, &io, 1, T, NET_FORWARD, NULL, e);
    if (!rc && (rc = sample_set_params(n, s->mc.params, s->mc.nparams, e)))
        net_free(n);
    return rc;
}

static int score_cls(session *s, net *n, const int32_t *ids, int64_t len, double *p,
                     predict_item *it, uerr *e)
{
    int64_t T = n->m.T;
    for (int64_t t = 0; t < T; t++) {
        n->xs[t] = t < len ? ids[t] : -1;
        n->ms[t] = t < len;
        n->ys[t] = t == len - 1 ? (it->label_id >= 0 ? it->label_id : 0) : -1;
    }
    net_reset_state(n);
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    session_outputs_of(s, exec_value(&n->x, n->m.logits[len - 1]), n->dt, 1, p);
    it->loss = it->label_id >= 0 ? -log(p[it->label_id]) : NAN;
    it->scored = len;
    return 0;
}

/* The label after the last TAB, when there is one; *stop ends the sequence. */
static int32_t split_label(const session *s, char *buf, span l, size_t *stop, const char **label)
{
    size_t tab = l.stop;
    while (tab > l.start && buf[tab - 1] != '\t')
        tab--;
    *stop = l.stop;
    *label = NULL;
    if (tab == l.start)
        return -1;
    *stop = tab - 1;
    buf[l.stop] = '\0';
    *label = buf + tab;
    for (int64_t c = 0; c < s->io.output; c++)
        if (!strcmp(s->classes[c], *label))
            return (int32_t)c;
    return -1;
}

/* The longest sequence of a classify file, in code points (bytes bound it). */
static int64_t longest(const char *buf, size_t len)
{
    size_t pos = 0, best = 1;
    while (pos < len) {
        span l = next_line(buf, len, &pos);
        best = l.stop - l.start > best ? l.stop - l.start : best;
    }
    return (int64_t)best;
}

int predict_lines(session *s, const char *path, predict_fn fn, void *ctx, uerr *e)
{
    int cls = s->mc.s.data.kind == SPEC_DATA_CLASSIFY;
    if (s->mc.s.data.kind == SPEC_DATA_NPY)
        return uerr_set(e, UERR_USER, "%s: run '%s' reads npy arrays: give a directory and --out",
                        path, s->mc.run.name);
    char *buf = NULL;
    size_t len = 0, pos = 0;
    int rc = text_read_bytes(path, s->mc.s.data.max_bytes, &buf, &len, e);
    if (rc)
        return rc;
    double *p = malloc((size_t)s->io.output * sizeof(double));
    net n = {0};
    int have_net = 0;
    if (!p)
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    /* the net's T is a bound on every line's length; the lines' own ends mask it */
    if (!rc && cls && !(rc = cls_net(s, longest(buf, len), &n, e)))
        have_net = 1;
    for (int64_t line = 1; !rc && pos < len; line++) {
        span l = next_line(buf, len, &pos);
        predict_item it = {.line = line, .label_id = -1, .p = p};
        size_t stop = l.stop;
        if (cls && l.stop == l.start)
            continue;
        if (cls)
            it.label_id = split_label(s, buf, l, &stop, &it.label);
        int32_t *ids = NULL;
        int64_t nids = 0;
        rc = encode_line(s, path, line, buf + l.start, stop - l.start, &ids, &nids, e);
        if (!rc && cls && nids == 0)
            rc = uerr_set(e, UERR_USER, "%s:%lld: empty sequence", path, (long long)line);
        if (!rc)
            rc = cls ? score_cls(s, &n, ids, nids, p, &it, e) : score_text(s, ids, nids, p, &it, e);
        free(ids);
        for (int64_t j = 1; j < s->io.output; j++)
            it.best = p[j] > p[it.best] ? (int32_t)j : it.best;
        char keep = buf[stop];
        buf[stop] = '\0';
        it.input = buf + l.start;
        if (!rc)
            rc = fn(ctx, &it, e);
        buf[stop] = keep;
    }
    if (have_net)
        net_free(&n);
    free(p);
    free(buf);
    return rc;
}

/* inputs.npy and lengths.npy of dir, checked against the run. */
static int read_inputs(const session *s, const char *dir, npy_array *x, npy_array *ln, uerr *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/inputs.npy", dir);
    int rc = npy_read(path, &x->dt, &x->shape, &x->data, e);
    if (rc)
        return rc;
    int dense = x->dt != DT_I32;
    if (dense != s->io.dense || x->shape.rank != (dense ? 3 : 2) ||
        (dense && x->shape.dim[2] != s->io.input))
        return uerr_set(e, UERR_USER, "%s: run '%s' reads %s [N, T%s] (D = %lld)", path,
                        s->mc.run.name, s->io.dense ? "float vectors" : "int32 ids",
                        s->io.dense ? ", D" : "", (long long)s->io.input);
    snprintf(path, sizeof path, "%s/lengths.npy", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    if ((rc = npy_read(path, &ln->dt, &ln->shape, &ln->data, e)))
        return rc;
    if (ln->dt != DT_I32 || ln->shape.rank != 1 || ln->shape.dim[0] != x->shape.dim[0])
        return uerr_set(e, UERR_USER, "%s: expected int32 [N] with N = %lld", path,
                        (long long)x->shape.dim[0]);
    for (int64_t i = 0; i < ln->shape.dim[0]; i++)
        if (((int32_t *)ln->data)[i] < 1 || ((int32_t *)ln->data)[i] > x->shape.dim[1])
            return uerr_set(e, UERR_USER, "%s: length %d of sequence %lld is outside 1..%lld", path,
                            ((int32_t *)ln->data)[i], (long long)i, (long long)x->shape.dim[1]);
    return 0;
}

/* Example i into the net's leaves: ids or vectors, the mask. */
static void fill_example(const session *s, net *n, const npy_array *x, int64_t i, int64_t L)
{
    int64_t T = n->m.T, D = s->io.input;
    for (int64_t t = 0; t < T; t++) {
        n->ms[t] = t < L;
        n->ys[t] = s->io.real ? -1 : 0;
        if (n->lms)
            n->lms[t] = 0;
        if (!s->io.dense) {
            int32_t id = ((const int32_t *)x->data)[i * T + t];
            n->xs[t] = id >= 0 && id < D ? id : -1;
            continue;
        }
        DT_EACH_REAL(n->dt, R, {
            R *dst = (R *)n->xd + t * D;
            for (int64_t j = 0; j < D; j++)
                dst[j] = x->dt == DT_F32 ? (R)((const float *)x->data)[(i * T + t) * D + j]
                                         : (R)((const double *)x->data)[(i * T + t) * D + j];
        });
    }
    if (n->ysr)
        memset(n->ysr, 0, (size_t)(T * s->io.output) * n->es);
}

int predict_npy(session *s, const char *dir, void **out, dtype *dt, shape *sh, uerr *e)
{
    *out = NULL;
    if (s->mc.s.data.kind != SPEC_DATA_NPY)
        return uerr_set(e, UERR_USER, "predict: --out DIR is for npy runs; run '%s' reads lines",
                        s->mc.run.name);
    npy_array x = {0}, ln = {0};
    int rc = read_inputs(s, dir, &x, &ln, e);
    int64_t N = x.shape.dim[0], T = x.shape.dim[1], O = s->io.output;
    int last = s->mc.s.model.outputs == SPEC_OUTPUTS_LAST_STEP;
    net n;
    model_io io = s->io;
    io.masked = 1;
    if (!rc && !(rc = net_init_io(&n, &s->mc.s, &io, 1, T, NET_FORWARD, NULL, e)) &&
        (rc = sample_set_params(&n, s->mc.params, s->mc.nparams, e)))
        net_free(&n);
    if (rc) {
        free(x.data);
        free(ln.data);
        return rc;
    }
    *dt = n.dt;
    *sh = last ? shape_2(N, O) : (shape){3, {N, T, O}};
    size_t rows = (size_t)(last ? N : N * T);
    double *p = malloc((size_t)O * sizeof(double));
    *out = malloc(rows * (size_t)O * n.es + 1);
    if (!p || !*out)
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int64_t i = 0; i < N && !rc; i++) {
        int64_t L = ln.data ? ((const int32_t *)ln.data)[i] : T;
        fill_example(s, &n, &x, i, L);
        net_reset_state(&n);
        double loss;
        if ((rc = net_run(&n, &loss, e)))
            break;
        for (int64_t t = last ? L - 1 : 0; t < (last ? L : T); t++) {
            session_outputs_of(s, exec_value(&n.x, n.m.logits[t]), n.dt, 1, p);
            size_t at = (size_t)(last ? i : i * T + t) * (size_t)O;
            DT_EACH_REAL(n.dt, R, {
                for (int64_t j = 0; j < O; j++)
                    ((R *)*out)[at + (size_t)j] = (R)p[j];
            });
        }
    }
    if (rc) {
        free(*out);
        *out = NULL;
    }
    free(p);
    net_free(&n);
    free(x.data);
    free(ln.data);
    return rc;
}
