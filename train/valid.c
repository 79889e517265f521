/*
 * valid.c - validation: the held-out data once through with the training
 * parameters (during training, and `unroll eval` on a stored run). It
 * draws no random number (dropout is off in these nets), so measuring it
 * never changes what training computes next.
 */
#include <math.h>
#include <stdlib.h>

#include "train/data.h"
#include "train/net.h"
#include "train/sample.h"
#include "train/train.h"
#include "train/valid.h"

/* Validation: the held-out data once through (text: the state carried
 * from zero), the loss per unit (token or sequence) and, for
 * classification, the accuracy of the class at each sequence's last step. */
typedef struct valid_ctx {
    net *n;
    const data_source *d;
    double sum, units;
    int64_t correct, examples;
} valid_ctx;

static int64_t argmax_row(const net *n, int32_t node, int64_t row)
{
    const void *o = exec_value(&n->x, node);
    int64_t C = n->m.out, best = 0;
    DT_EACH_REAL(n->dt, T, {
        const T *r = (const T *)o + row * C;
        for (int64_t j = 1; j < C; j++)
            if (r[j] > r[best])
                best = j;
    });
    return best;
}

static int valid_batch(void *ctx, const int32_t *inputs, const int32_t *targets,
                       const int32_t *mask, int64_t n_real, int reset, uerr *e)
{
    valid_ctx *v = ctx;
    net *n = v->n;
    if (reset)
        net_reset_state(n);
    data_to_net(v->d, n, inputs, targets, 0);
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    net_carry_state(n);
    v->sum += loss;
    if (v->d->kind == SPEC_DATA_TEXT) {
        v->units += (double)(n->m.B * n->m.T);
        return 0;
    }
    /* sequences and arrays: the loss per target (a sequence's one label, or
     * each labelled step) and the share of targets whose most probable
     * class is right */
    int64_t T = n->m.T;
    (void)mask;
    if (v->d->has) {
        /* real targets: the loss per target vector; no accuracy */
        for (int64_t k = 0; k < n_real * T; k++)
            v->units += v->d->has[k];
        return 0;
    }
    for (int64_t b = 0; b < n_real; b++)
        for (int64_t t = 0; t < T; t++) {
            int32_t y = targets[b * T + t];
            if (y < 0)
                continue;
            v->examples++;
            v->correct += argmax_row(n, n->m.logits[t], b) == y;
            v->units += 1;
        }
    return 0;
}

/* Text validation needs the loss only; labels need each step's logits. */
int train_valid_mode(const data_source *d)
{
    return d->kind == SPEC_DATA_TEXT ? NET_LOSS : NET_FORWARD;
}

int train_validate(net *n, data_source *d, int32_t *inputs, int32_t *targets, double *per_unit,
                   double *accuracy, uerr *e)
{
    valid_ctx v = {.n = n, .d = d};
    int rc = data_valid_each(d, inputs, targets, valid_batch, &v, e);
    if (rc)
        return rc;
    *per_unit = v.units > 0 ? v.sum / v.units : NAN;
    *accuracy = v.examples ? (double)v.correct / (double)v.examples : NAN;
    return 0;
}

int train_evaluate(const spec *s, const sample_param *params, int nparams, double *loss,
                   double *accuracy, int64_t *examples, uerr *e)
{
    data_source d;
    net n = {0};
    int32_t *in = NULL, *tg = NULL;
    int rc = data_open(&d, s, e);
    if (rc)
        return rc;
    *examples = d.kind == SPEC_DATA_CLASSIFY ? d.cls.nvalid : 0;
    if (!data_has_valid(&d) && s->data.valid_fraction <= 0)
        rc = uerr_set(e, UERR_USER,
                      "%s: the run held out no data to evaluate (data.valid_fraction "
                      "is 0)",
                      s->data.path);
    else if (!data_has_valid(&d))
        rc = uerr_set(e, UERR_USER,
                      "%s: the run held out no data to evaluate (data.valid_fraction %g of "
                      "this data is less than one example or batch)",
                      s->data.path, s->data.valid_fraction);
    if (!rc)
        rc = net_init_io(&n, s, &d.io, d.B, d.T, train_valid_mode(&d), NULL, e);
    if (!rc)
        rc = sample_set_params(&n, params, nparams, e);
    in = malloc((size_t)(d.B * d.T) * sizeof(int32_t));
    tg = malloc((size_t)(d.B * d.T) * sizeof(int32_t));
    if (!rc && (!in || !tg))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    if (!rc)
        rc = train_validate(&n, &d, in, tg, loss, accuracy, e);
    free(in);
    free(tg);
    net_free(&n);
    data_free(&d);
    return rc;
}
