/* eval.c - see eval.h. */
#include "train/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/cell.h"
#include "train/net.h"

int eval_free_running_check(const spec *s, uerr *e)
{
    if (s->data.kind == SPEC_DATA_CLASSIFY)
        return uerr_set(e, UERR_USER,
                        "--free-running: the run has classify data, one label per sequence: "
                        "there is no previous output to feed back");
    cell c;
    int rc = cell_from_spec(s, &c, e);
    if (rc)
        return rc;
    int reads = cell_reads_output(&c);
    cell_free(&c);
    if (!reads)
        return uerr_set(e, UERR_USER,
                        "--free-running: no equation of the run's model reads y[t-1] (no "
                        "output-to-hidden path, as in jordan), so there is nothing to feed back");
    return 0;
}

/* ids of the text in v; unknown characters -> v->unknown or an error */
static int encode(const text_vocab *v, const uint32_t *cp, int64_t n, int32_t **ids, uerr *e)
{
    int rc = 0;
    *ids = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!*ids)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int32_t id = text_vocab_find(v, cp[i]);
        if (id < 0 && v->unknown < 0) {
            rc = uerr_set(e, UERR_USER,
                          "evaluation text: character U+%04X at position %lld is not in the "
                          "run's vocabulary",
                          (unsigned)cp[i], (long long)i);
            break;
        }
        (*ids)[i] = id >= 0 ? id : v->unknown;
    }
    if (rc) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

static int64_t argmax_logits(const net *n)
{
    const void *o = exec_value(&n->x, n->m.logits[0]);
    int64_t best = 0;
    DT_EACH_REAL(n->dt, T, {
        const T *r = o;
        for (int64_t j = 1; j < n->m.out; j++)
            if (r[j] > r[best])
                best = j;
    });
    return best;
}

int eval_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
              const uint32_t *cp, int64_t n, int free_running, eval_result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    int32_t *ids = NULL;
    int rc = encode(v, cp, n, &ids, e);
    if (rc)
        return rc;
    if (n < 2) {
        free(ids);
        return uerr_set(e, UERR_USER, "evaluation text: needs at least two characters");
    }
    net nt;
    if ((rc = net_init(&nt, s, v->size, 1, 1, NET_FORWARD, NULL, e))) {
        free(ids);
        return rc;
    }
    rc = sample_set_params(&nt, params, nparams, e);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double sum = 0;
    int64_t correct = 0, prev_pred = -1;
    for (int64_t i = 0; i + 1 < n && !rc; i++) {
        nt.xs[0] = ids[i];
        nt.ys[0] = ids[i + 1];
        if (free_running && i > 0)
            nt.yprev[0] = (int32_t)prev_pred;
        double loss;
        if ((rc = net_run(&nt, &loss, e)))
            break;
        sum += loss;
        prev_pred = argmax_logits(&nt);
        correct += prev_pred == ids[i + 1];
        net_carry_state(&nt);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!rc) {
        double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        r->chars = n - 1;
        r->loss = sum / (double)r->chars;
        r->accuracy = (double)correct / (double)r->chars;
        r->chars_per_s = dt > 0 ? (double)r->chars / dt : 0;
        if (!isfinite(r->loss))
            rc = uerr_set(e, UERR_USER, "evaluation: the loss is not finite");
    }
    net_free(&nt);
    free(ids);
    return rc;
}

/* Free-running with real targets: y[t-1] is the model's own output, the
 * sigmoid of o for bce, o itself for a linear output. */
static void own_output(net *n, const spec *s)
{
    const void *o = exec_value(&n->x, n->m.logits[0]);
    int64_t K = n->m.out;
    DT_EACH_REAL(n->dt, T, {
        const T *src = o;
        T *dst = n->yprevr;
        for (int64_t j = 0; j < K; j++)
            dst[j] =
                s->model.output == SPEC_OUT_SIGMOID ? (T)(1 / (1 + exp(-(double)src[j]))) : src[j];
    });
}

int eval_npy(const spec *s, const sample_param *params, int nparams, const npy_set *set,
             int free_running, eval_result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    model_io io = {
        .input = set->D, .output = set->nclasses, .dense = set->dense, .real = set->real};
    net nt;
    int rc = net_init_io(&nt, s, &io, 1, 1, NET_FORWARD, NULL, e);
    if (rc)
        return rc;
    if ((rc = sample_set_params(&nt, params, nparams, e))) {
        net_free(&nt);
        return rc;
    }
    const int64_t *ex = set->nvalid ? set->valid : set->train;
    int64_t nex = set->nvalid ? set->nvalid : set->ntrain, T = set->T;
    size_t row = (size_t)set->D * (set->dense ? dtype_size(set->dt) : 0);
    double sum = 0;
    int64_t correct = 0, scored = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t k = 0; k < nex && !rc; k++) {
        int64_t i = ex[k], len = set->len ? set->len[i] : T;
        net_reset_state(&nt);
        for (int64_t t = 0; t < len && !rc; t++) {
            int has = !set->per_sequence || t == len - 1;
            int32_t y = set->real || !has ? -1 : set->per_sequence ? set->y[i] : set->y[i * T + t];
            if (set->dense)
                memcpy(nt.xd, (const char *)set->x + (size_t)(i * T + t) * row, row);
            else
                nt.xs[0] = ((const int32_t *)set->x)[i * T + t];
            nt.ys[0] = y;
            if (set->real) {
                size_t yrow = (size_t)set->nclasses * nt.es;
                int64_t from = set->per_sequence ? i : i * T + t;
                memcpy(nt.ysr, (const char *)set->yr + (size_t)from * yrow, yrow);
                nt.lms[0] = has;
            }
            double loss;
            if ((rc = net_run(&nt, &loss, e)))
                break;
            int64_t pred = argmax_logits(&nt);
            net_carry_state(&nt);
            if (free_running && !set->real)
                nt.yprev[0] = (int32_t)pred;
            if (free_running && set->real)
                own_output(&nt, s);
            if (set->real && has) {
                sum += loss;
                scored++;
            }
            if (y < 0)
                continue;
            sum += loss;
            scored++;
            correct += pred == y;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!rc && scored) {
        double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        r->chars = scored;
        r->loss = sum / (double)scored;
        r->accuracy = set->real ? NAN : (double)correct / (double)scored;
        r->chars_per_s = dt > 0 ? (double)scored / dt : 0;
    }
    net_free(&nt);
    return rc;
}
