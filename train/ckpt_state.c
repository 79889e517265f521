/*
 * ckpt_state.c - the training state as checkpoint tensors (see
 * ckpt_state.h): collect, restore, and the role of each name.
 *
 * Invariants:
 * - collect and restore walk the same list, so a resumed run continues
 *   with the bits an uninterrupted run would have.
 * - The integer state (cursor, RNG, step count) is stored as int32 pairs
 *   (low, high), the store's integer dtype.
 */
#include "train/ckpt_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/batch.h"
#include "train/rng.h"
#include "train/shuffle.h"

/* int64 values stored as int32 pairs (low, high): the store's int type */
static void pack64(const int64_t *v, int n, int32_t *out)
{
    for (int i = 0; i < n; i++) {
        uint64_t u = (uint64_t)v[i];
        out[2 * i] = (int32_t)(uint32_t)(u & 0xffffffffu);
        out[2 * i + 1] = (int32_t)(uint32_t)(u >> 32);
    }
}

static void unpack64(const int32_t *in, int n, int64_t *v)
{
    for (int i = 0; i < n; i++)
        v[i] = (int64_t)((uint64_t)(uint32_t)in[2 * i] | (uint64_t)(uint32_t)in[2 * i + 1] << 32);
}

/* The example order of shuffled data (classify, npy), or NULL (text). */
static shuffler *data_shuffler(data_source *d)
{
    if (d->kind == SPEC_DATA_CLASSIFY)
        return &d->ccur.sh;
    if (d->kind == SPEC_DATA_NPY)
        return &d->npy.sh;
    return NULL;
}

int ckpt_state_collect(const ckpt_parts *p, ckpt_state *sl, uerr *e)
{
    net *tr = p->n;
    const model *m = &tr->m;
    store_tensor *ts = sl->ts;
    int n = 0;
    for (int i = 0; i < m->nparams; i++)
        ts[n++] =
            (store_tensor){m->param[i].name, "param", tr->dt, m->param[i].shape, net_param(tr, i)};
    for (int slot = 0; slot < 2; slot++) {
        const char *sn = optim_slot_name(p->opt, slot);
        if (!sn)
            continue;
        void *base = slot == 0 ? p->opt->m : p->opt->v;
        for (int i = 0; i < m->nparams; i++) {
            char *nm = sl->names[slot * MODEL_MAX_PARAMS + i];
            snprintf(nm, 64, "%s.%s", sn, m->param[i].name);
            ts[n++] = (store_tensor){nm, "optim", tr->dt, m->param[i].shape,
                                     (char *)base + (size_t)tr->off[i] * tr->es};
        }
    }
    int64_t cur[2] = {0, 0}, misc[1] = {p->opt->t};
    const uint64_t *rs = p->rng_state;
    const shuffler *sh = data_shuffler(p->data);
    if (!sh) {
        batch_save(&p->data->cur, cur);
    } else {
        /* Shuffled minibatches: where in which epoch's permutation, the
         * permutation itself, and the RNG that draws the next one. */
        int64_t nt = sh->n;
        cur[0] = sh->pos;
        cur[1] = sh->epoch;
        rs = sh->r.s;
        if (!sl->order32 && !(sl->order32 = malloc((size_t)(nt ? nt : 1) * sizeof(int32_t))))
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        for (int64_t i = 0; i < nt; i++)
            sl->order32[i] = (int32_t)sh->order[i];
    }
    pack64(cur, 2, sl->cur32);
    pack64((const int64_t *)rs, 4, sl->rng32);
    pack64(misc, 1, sl->misc32);
    int many = p->acc && p->acc->A > 1;
    int64_t rows = many ? p->acc->A * m->B : m->B;
    ts[n++] = (store_tensor){"h", "state", tr->dt, shape_2(rows, m->S), many ? p->acc->h : tr->h0};
    ts[n++] =
        (store_tensor){"yprev", "state", DT_I32, shape_1(rows), many ? p->acc->yprev : tr->yprev};
    ts[n++] = (store_tensor){"cursor", "cursor", DT_I32, shape_1(4), sl->cur32};
    if (sh)
        ts[n++] = (store_tensor){"order", "cursor", DT_I32, shape_1(sh->n), sl->order32};
    ts[n++] = (store_tensor){"rng", "rng", DT_I32, shape_1(8), sl->rng32};
    ts[n++] = (store_tensor){"optim.t", "state", DT_I32, shape_1(2), sl->misc32};
    if (p->es)
        ts[n++] = (store_tensor){"early_stop", "state", DT_F64, shape_1(3), p->es->v};
    sl->n = n;
    return 0;
}

int ckpt_state_restore(const ckpt_parts *p, const store_loaded *l, uerr *e)
{
    ckpt_state sl = {0};
    int rc = ckpt_state_collect(p, &sl, e);
    for (int i = 0; !rc && i < sl.n; i++) {
        const store_tensor *want = &sl.ts[i];
        const store_loaded_tensor *got = store_loaded_find(l, want->name);
        char s1[64], s2[64];
        if (!got) {
            /* Saved before y[t-1] was state: only a model that reads it
             * needs it, and such models did not exist then. */
            if (!strcmp(want->name, "yprev") && p->n->m.yprev < 0)
                continue;
            /* early stopping set on a resume: it starts counting there */
            if (!strcmp(want->name, "early_stop"))
                continue;
            rc = uerr_set(e, UERR_USER, "checkpoint %lld has no tensor '%s'; cannot resume from it",
                          (long long)l->id, want->name);
        } else if (got->dt != want->dt || !shape_equal(&got->shape, &want->shape)) {
            rc = uerr_set(e, UERR_USER,
                          "checkpoint %lld: tensor '%s' is %s %s, this run needs %s %s (was "
                          "the config changed?)",
                          (long long)l->id, want->name, dtype_name(got->dt),
                          shape_str(&got->shape, s1, sizeof s1), dtype_name(want->dt),
                          shape_str(&want->shape, s2, sizeof s2));
        } else if (got->nbytes) {
            memcpy((void *)want->data, got->data, got->nbytes);
        }
    }
    int64_t cur[2], misc[1];
    uint64_t rs[4];
    if (!rc) {
        unpack64(sl.cur32, 2, cur);
        unpack64(sl.rng32, 4, (int64_t *)rs);
        unpack64(sl.misc32, 1, misc);
        if (misc[0] < 0)
            rc = uerr_set(e, UERR_USER, "checkpoint %lld: negative optimiser step count",
                          (long long)l->id);
        p->opt->t = misc[0];
    }
    shuffler *sh = data_shuffler(p->data);
    if (!rc && !sh) {
        rc = batch_restore(&p->data->cur, cur, e);
        /* Unused by text data; kept as it was so the next checkpoint
         * holds the same bytes as an uninterrupted run's. */
        memcpy(p->rng_state, rs, sizeof rs);
    } else if (!rc) {
        int64_t nt = sh->n;
        if (cur[0] < 0 || cur[0] > nt || cur[1] < -1 || (cur[1] < 0 && cur[0] != nt))
            rc = uerr_set(e, UERR_USER, "checkpoint %lld: data cursor (%lld, %lld) out of range",
                          (long long)l->id, (long long)cur[0], (long long)cur[1]);
        /* The order must be a permutation, or a batch would index past
         * the examples. */
        char *seen = rc ? NULL : calloc((size_t)(nt ? nt : 1), 1);
        if (!rc && !seen)
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        for (int64_t i = 0; !rc && i < nt; i++) {
            int32_t k = sl.order32[i];
            if (k < 0 || k >= nt || seen[k])
                rc = uerr_set(e, UERR_USER,
                              "checkpoint %lld: the example order is not a permutation",
                              (long long)l->id);
            else
                seen[k] = 1, sh->order[i] = k;
        }
        free(seen);
        if (!rc)
            rc = rng_restore(&sh->r, rs, e);
        if (!rc)
            sh->pos = cur[0], sh->epoch = cur[1];
    }
    free(sl.order32);
    return rc;
}

void ckpt_state_free(ckpt_state *sl)
{
    free(sl->order32);
    sl->order32 = NULL;
}

const char *ckpt_role(const char *name)
{
    /* The slot names of every optimiser, as ckpt_state_collect writes
     * them: "<slot>.<param>". */
    for (int k = SPEC_OPT_SGD; k <= SPEC_OPT_ADAM; k++) {
        optim o = {.kind = k};
        for (int slot = 0; slot < 2; slot++) {
            const char *sn = optim_slot_name(&o, slot);
            size_t n = sn ? strlen(sn) : 0;
            if (sn && !strncmp(name, sn, n) && name[n] == '.')
                return "optim";
        }
    }
    if (!strcmp(name, "h") || !strcmp(name, "yprev") || !strcmp(name, "optim.t") ||
        !strcmp(name, "early_stop"))
        return "state";
    if (!strcmp(name, "cursor") || !strcmp(name, "order"))
        return "cursor";
    if (!strcmp(name, "rng"))
        return "rng";
    return "param";
}
