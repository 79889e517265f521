/* controls.c - gradient accumulation and early stopping; see controls.h. */
#include "train/controls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int accum_init(accum *a, const net *n, int64_t A, uerr *e)
{
    memset(a, 0, sizeof *a);
    a->A = A;
    a->rows = n->m.B;
    if (A <= 1)
        return 0;
    int64_t R = A * a->rows;
    a->h = calloc(n->state_bytes ? (size_t)A * n->state_bytes : 1, 1);
    a->yprev = malloc((size_t)R * sizeof(int32_t));
    a->grads = calloc((size_t)n->nparam + 1, n->es);
    if (n->yprevr)
        a->yprevr = calloc((size_t)(R * n->m.out), n->es);
    if (!a->h || !a->yprev || !a->grads || (n->yprevr && !a->yprevr)) {
        accum_free(a);
        return uerr_set(e, UERR_INTERNAL, "train.accumulate: out of memory");
    }
    accum_reset(a, n);
    return 0;
}

void accum_free(accum *a)
{
    free(a->h);
    free(a->yprev);
    free(a->yprevr);
    free(a->grads);
    memset(a, 0, sizeof *a);
}

void accum_reset(accum *a, const net *n)
{
    if (a->A <= 1)
        return;
    memset(a->h, 0, (size_t)a->A * n->state_bytes);
    for (int64_t i = 0; i < a->A * a->rows; i++)
        a->yprev[i] = -1;
    if (a->yprevr)
        memset(a->yprevr, 0, (size_t)(a->A * a->rows * n->m.out) * n->es);
}

/* The three state arrays of block k and the net's, copied one way. */
static void accum_copy(const accum *a, const net *n, int64_t k, int to_net)
{
    size_t hb = n->state_bytes, yb = (size_t)a->rows * sizeof(int32_t);
    size_t rb = (size_t)(a->rows * n->m.out) * n->es;
    char *h = (char *)a->h + (size_t)k * hb, *y = (char *)a->yprev + (size_t)k * yb;
    if (to_net) {
        memcpy(n->h0, h, hb);
        memcpy(n->yprev, y, yb);
    } else {
        memcpy(h, n->h0, hb);
        memcpy(y, n->yprev, yb);
    }
    if (a->yprevr && to_net)
        memcpy(n->yprevr, (char *)a->yprevr + (size_t)k * rb, rb);
    else if (a->yprevr)
        memcpy((char *)a->yprevr + (size_t)k * rb, n->yprevr, rb);
}

void accum_load(const accum *a, net *n, int64_t k)
{
    if (a->A > 1)
        accum_copy(a, n, k, 1);
}

void accum_save(accum *a, const net *n, int64_t k)
{
    if (a->A > 1)
        accum_copy(a, n, k, 0);
}

void accum_add(accum *a, const net *n, int64_t k)
{
    if (a->A <= 1)
        return;
    if (k == 0) {
        memcpy(a->grads, n->grads, (size_t)n->nparam * n->es);
        return;
    }
    DT_EACH_REAL(n->dt, T, {
        T *s = a->grads;
        const T *g = n->grads;
        for (int64_t i = 0; i < n->nparam; i++)
            s[i] += g[i];
    });
}

void *accum_grads(const accum *a, const net *n)
{
    return a->A > 1 ? a->grads : n->grads;
}

void early_stop_init(early_stop *s)
{
    s->v[0] = INFINITY;
    s->v[1] = 0;
    s->v[2] = 0;
}

int early_stop_see(early_stop *s, double loss, double min_delta, int64_t step)
{
    /* the first finite loss is a best, whatever min_delta says */
    if (loss < s->v[0] - min_delta || (isinf(s->v[0]) && isfinite(loss))) {
        s->v[0] = loss;
        s->v[1] = 0;
        s->v[2] = (double)step;
        return 1;
    }
    s->v[1] += 1;
    return 0;
}

int early_stop_due(const early_stop *s, int64_t patience)
{
    return patience > 0 && s->v[1] >= (double)patience;
}
