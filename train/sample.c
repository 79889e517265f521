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
    return 0;
}

/* one step: feed id, leave the next state in h0 and the logits in probs.
 * For a character model the previous output y[t-1] is the character just
 * fed (-1, a zero one-hot, before the first), which is what an
 * output-to-hidden model reads when it generates. */
static int step(net *n, int32_t id, int first, double *probs, double temperature, uerr *e)
{
    n->xs[0] = id;
    n->ys[0] = 0;
    n->yprev[0] = first ? -1 : id;
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    net_carry_state(n);
    const void *o = exec_value(&n->x, n->m.logits[0]);
    int64_t V = n->m.V;
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) {
        probs[j] = (n->dt == DT_F32 ? ((const float *)o)[j] : ((const double *)o)[j]) / temperature;
        mx = probs[j] > mx ? probs[j] : mx;
    }
    double s = 0;
    for (int64_t j = 0; j < V; j++)
        s += probs[j] = exp(probs[j] - mx);
    for (int64_t j = 0; j < V; j++)
        probs[j] /= s;
    return 0;
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
    size_t cap = (size_t)(o->length + 1) * TEXT_UTF8_MAX + strlen(o->prime) + 1, len = 0;
    char *buf = malloc(cap);
    if (!probs || !buf) {
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
    if (nprime == 0 && (rc = step(&n, first >= 0 ? first : 0, 1, probs, o->temperature, e)))
        goto out;
    for (int64_t i = 0; i < nprime; i++) {
        const char *u = text_vocab_utf8(v, prime[i]);
        size_t k = strlen(u);
        memcpy(buf + len, u, k);
        len += k;
        if ((rc = step(&n, prime[i], i == 0, probs, o->temperature, e)))
            goto out;
    }
    for (int64_t i = 0; i < o->length; i++) {
        int32_t id = (int32_t)rng_categorical(&r, probs, v->size);
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
        if (i + 1 < o->length && (rc = step(&n, id, 0, probs, o->temperature, e)))
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
    net_free(&n);
    return rc;
}
