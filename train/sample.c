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

int sample_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
                const sample_opts *o, char **out, double *chars_per_s, uerr *e)
{
    *out = NULL;
    net n;
    int rc = net_init(&n, s, v->size, 1, 1, NET_FORWARD, NULL, e);
    if (rc)
        return rc;
    int32_t *prime = NULL;
    int64_t nprime = 0;
    double *probs = malloc((size_t)v->size * sizeof(double));
    sample_cand *work = malloc((size_t)v->size * sizeof *work);
    size_t cap = (size_t)(o->length + 1) * TEXT_UTF8_MAX + strlen(o->prime) + 1, len = 0;
    char *buf = malloc(cap);
    if (!probs || !work || !buf) {
        rc = uerr_set(e, UERR_INTERNAL, "sample: out of memory");
        goto out;
    }
    if ((rc = sample_set_params(&n, params, nparams, e)) ||
        (rc = text_encode_prime(v, o->prime, strlen(o->prime), &prime, &nprime, e)))
        goto out;
    rng r;
    rng_seed(&r, o->seed);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int32_t first = text_vocab_find(v, '\n');
    if (nprime == 0 && (rc = step(&n, first >= 0 ? first : 0, 1, probs, e)))
        goto out;
    for (int64_t i = 0; i < nprime; i++) {
        const char *u = text_vocab_utf8(v, prime[i]);
        size_t k = strlen(u);
        memcpy(buf + len, u, k);
        len += k;
        if ((rc = step(&n, prime[i], i == 0, probs, e)))
            goto out;
    }
    for (int64_t i = 0; i < o->length; i++) {
        int32_t id = sample_pick(probs, v->size, o, &r, work);
        if (id < 0) {
            rc = uerr_set(e, UERR_USER,
                          "sample: the model's output after %lld characters is not a "
                          "distribution (non-finite at temperature %g)",
                          (long long)(nprime + i), o->temperature);
            goto out;
        }
        const char *u = text_vocab_utf8(v, id);
        size_t k = strlen(u);
        memcpy(buf + len, u, k);
        len += k;
        if (i + 1 < o->length && (rc = step(&n, id, 0, probs, e)))
            goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (chars_per_s)
        *chars_per_s = dt > 0 ? (double)o->length / dt : 0;
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    free(buf);
    free(prime);
    free(probs);
    free(work);
    net_free(&n);
    return rc;
}
