/* sample.c - see sample.h. */
#include "train/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/net.h"
#include "train/rng.h"

int sample_set_params(net *n, const sample_param *ps, int np, uerr *e)
{
    for (int i = 0; i < n->m.nparams; i++) {
        const model_param *mp = &n->m.param[i];
        const sample_param *p = NULL;
        for (int k = 0; k < np; k++)
            if (!strcmp(ps[k].name, mp->name))
                p = &ps[k];
        if (!p || p->numel != shape_numel(&mp->shape) || p->dt == DT_I32)
            return uerr_set(e, UERR_USER, "checkpoint: parameter '%s' is missing or mis-shaped",
                            mp->name);
        /* a diverged or hand-made checkpoint: its outputs would be NaN and
         * no character could be drawn from them */
        for (int64_t j = 0; j < p->numel; j++) {
            double x = p->dt == DT_F32 ? (double)((const float *)p->data)[j]
                                       : ((const double *)p->data)[j];
            if (!isfinite(x))
                return uerr_set(e, UERR_USER,
                                "checkpoint: parameter '%s' holds a non-finite value (element "
                                "%lld is %g): the model diverged; use an earlier checkpoint",
                                mp->name, (long long)j, x);
        }
        dtype_convert(net_param(n, i), n->dt, p->data, p->dt, p->numel);
    }
    /* they stay so until set again: products keep their packings */
    exec_params_fixed(&n->x);
    return 0;
}

/* one step: feed id, leave the next state in h0 and the logits in logits.
 * For a character model the previous output y[t-1] is the character just
 * fed (-1, a zero one-hot, before the first), which is what an
 * output-to-hidden model reads when it generates. */
static int step(net *n, int32_t id, int first, double *logits, uerr *e)
{
    n->xs[0] = id;
    n->ys[0] = 0;
    n->yprev[0] = first ? -1 : id;
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    net_carry_state(n);
    dtype_convert(logits, DT_F64, exec_value(&n->x, n->m.logits[0]), n->dt, n->m.V);
    return 0;
}

/* Most likely first; equal ones by id, so the order is a total one. */
static int cand_cmp(const void *a, const void *b)
{
    const sample_cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int32_t sample_pick(double *logits, int64_t V, const sample_opts *o, rng *r, sample_cand *work)
{
    double *p = logits;
    if (o->temperature == 0) {
        int32_t best = -1;
        for (int64_t j = 0; j < V; j++) {
            if (!isfinite(p[j]))
                return -1;
            if (best < 0 || p[j] > p[best])
                best = (int32_t)j;
        }
        return best;
    }
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) {
        p[j] /= o->temperature;
        mx = p[j] > mx ? p[j] : mx;
    }
    double s = 0;
    for (int64_t j = 0; j < V; j++)
        s += p[j] = exp(p[j] - mx);
    for (int64_t j = 0; j < V; j++)
        p[j] /= s;
    bool nucleus = o->top_p > 0 && o->top_p < 1;
    if (!(o->top_k > 0 && o->top_k < V) && !nucleus)
        return (int32_t)rng_categorical(r, p, V);
    for (int64_t j = 0; j < V; j++) {
        if (!isfinite(p[j]))
            return -1; /* an order over NaN would not be one */
        work[j] = (sample_cand){p[j], (int32_t)j};
    }
    qsort(work, (size_t)V, sizeof *work, cand_cmp);
    int64_t keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    /* the nucleus is measured on the whole distribution, after top_k's cut */
    double cum = 0;
    for (int64_t j = 0; nucleus && j < keep; j++) {
        cum += work[j].p;
        if (cum >= o->top_p)
            keep = j + 1;
    }
    for (int64_t j = 0; j < keep; j++)
        p[j] = work[j].p;
    int64_t k = rng_categorical(r, p, keep);
    return k < 0 ? -1 : work[k].id;
}

int sample_stream_open(sample_stream *ss, const spec *s, const text_vocab *v,
                       const sample_param *params, int nparams, const sample_opts *o, uerr *e)
{
    memset(ss, 0, sizeof *ss);
    ss->v = v;
    ss->o = *o;
    rng r;
    rng_seed(&r, o->seed);
    memcpy(ss->rng_state, r.s, sizeof r.s);
    ss->n = calloc(1, sizeof *ss->n);
    ss->probs = malloc((size_t)v->size * sizeof(double));
    ss->work = malloc((size_t)v->size * sizeof *ss->work);
    if (!ss->n || !ss->probs || !ss->work) {
        sample_stream_free(ss);
        return uerr_set(e, UERR_INTERNAL, "sample: out of memory");
    }
    int rc = net_init(ss->n, s, v->size, 1, 1, NET_FORWARD, NULL, e);
    if (rc) {
        free(ss->n); /* net_init leaves nothing to free on failure */
        ss->n = NULL;
    }
    if (!rc)
        rc = sample_set_params(ss->n, params, nparams, e);
    if (rc)
        sample_stream_free(ss);
    return rc;
}

int sample_stream_feed(sample_stream *ss, const char *utf8, size_t len, uerr *e)
{
    int32_t *ids = NULL;
    int64_t n = 0;
    int rc = text_encode_prime(ss->v, utf8, len, &ids, &n, e);
    for (int64_t i = 0; !rc && i < n; i++, ss->steps++)
        rc = step(ss->n, ids[i], ss->steps == 0, ss->probs, e);
    free(ids);
    return rc;
}

int sample_stream_gen(sample_stream *ss, int64_t length, const char **out, uerr *e)
{
    *out = NULL;
    int rc = 0;
    if (ss->steps == 0) {
        int32_t first = text_vocab_find(ss->v, '\n');
        if ((rc = step(ss->n, first >= 0 ? first : 0, 1, ss->probs, e)))
            return rc;
        ss->steps++;
    }
    size_t need = (size_t)length * TEXT_UTF8_MAX + 1, len = 0;
    if (need > ss->cap) {
        char *b = realloc(ss->buf, need);
        if (!b)
            return uerr_set(e, UERR_INTERNAL, "sample: out of memory");
        ss->buf = b;
        ss->cap = need;
    }
    rng r;
    memcpy(r.s, ss->rng_state, sizeof r.s);
    for (int64_t i = 0; !rc && i < length; i++) {
        int32_t id = sample_pick(ss->probs, ss->v->size, &ss->o, &r, ss->work);
        if (id < 0) {
            rc = uerr_set(e, UERR_USER,
                          "sample: the model's output after %lld characters is not a "
                          "distribution (non-finite at temperature %g)",
                          (long long)ss->steps, ss->o.temperature);
            break;
        }
        const char *u = text_vocab_utf8(ss->v, id);
        size_t k = strlen(u);
        memcpy(ss->buf + len, u, k);
        len += k;
        rc = step(ss->n, id, 0, ss->probs, e);
        ss->steps++;
    }
    memcpy(ss->rng_state, r.s, sizeof r.s);
    ss->buf[len] = '\0';
    if (!rc)
        *out = ss->buf;
    return rc;
}

void sample_stream_free(sample_stream *ss)
{
    if (ss->n)
        net_free(ss->n);
    free(ss->n);
    free(ss->probs);
    free(ss->work);
    free(ss->buf);
    memset(ss, 0, sizeof *ss);
}

int sample_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
                const sample_opts *o, char **out, double *chars_per_s, uerr *e)
{
    *out = NULL;
    sample_stream ss;
    int rc = sample_stream_open(&ss, s, v, params, nparams, o, e);
    if (rc)
        return rc;
    int32_t *prime = NULL;
    int64_t nprime = 0;
    /* the prime as the vocabulary spells it (an unknown character as its
     * unknown symbol), then what was drawn */
    size_t cap = (size_t)(o->length + 1) * TEXT_UTF8_MAX + strlen(o->prime) + 1, len = 0;
    char *buf = malloc(cap);
    const char *gen = NULL;
    if (!buf) {
        rc = uerr_set(e, UERR_INTERNAL, "sample: out of memory");
        goto out;
    }
    if ((rc = text_encode_prime(v, o->prime, strlen(o->prime), &prime, &nprime, e)))
        goto out;
    for (int64_t i = 0; i < nprime; i++) {
        const char *u = text_vocab_utf8(v, prime[i]);
        size_t k = strlen(u);
        memcpy(buf + len, u, k);
        len += k;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = sample_stream_feed(&ss, o->prime, strlen(o->prime), e)) ||
        (rc = sample_stream_gen(&ss, o->length, &gen, e)))
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (chars_per_s)
        *chars_per_s = dt > 0 ? (double)o->length / dt : 0;
    memcpy(buf + len, gen, strlen(gen) + 1);
    *out = buf;
    buf = NULL;
out:
    free(buf);
    free(prime);
    sample_stream_free(&ss);
    return rc;
}
