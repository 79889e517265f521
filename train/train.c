/* train.c - the training loop; see train.h. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/sha256.h"
#include "train/batch.h"
#include "train/data.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/rng.h"
#include "train/text.h"

#ifndef UNROLL_VERSION
#define UNROLL_VERSION "0.1.0"
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything one training run holds, freed in one place. */
typedef struct trainer {
    const spec *s;
    const train_opts *o;
    data_source data;
    net tr, va;            /* training net; validation net (if any) */
    int has_valid;
    optim opt;
    int32_t *inputs, *targets;
    int64_t run;
    uint64_t rng_state[4];
} trainer;

static void trainer_free(trainer *t)
{
    data_free(&t->data);
    net_free(&t->tr);
    net_free(&t->va);
    optim_free(&t->opt);
    free(t->inputs);
    free(t->targets);
}

/* Validation: the held-out data once through (text: the state carried
 * from zero), the loss per unit (token or sequence) and, for
 * classification, the accuracy of the class at each sequence's last step. */
typedef struct valid_ctx {
    net *n;
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
    net_set_batch(n, inputs, targets);
    if (mask)
        net_set_mask(n, mask);
    double loss;
    int rc = net_run(n, &loss, e);
    if (rc)
        return rc;
    net_carry_state(n);
    v->sum += loss;
    if (!mask) {
        v->units += (double)(n->m.B * n->m.T);
        return 0;
    }
    int64_t T = n->m.T;
    for (int64_t b = 0; b < n_real; b++) {
        int64_t last = -1;
        for (int64_t t = 0; t < T; t++)
            if (targets[b * T + t] >= 0)
                last = t;
        if (last < 0)
            continue;
        v->units += 1;
        v->examples++;
        v->correct += argmax_row(n, n->m.logits[last], b) == targets[b * T + last];
    }
    return 0;
}

static int validate(trainer *t, double *per_unit, double *accuracy, uerr *e)
{
    valid_ctx v = {.n = &t->va};
    int rc = data_valid_each(&t->data, t->inputs, t->targets, valid_batch, &v, e);
    if (rc)
        return rc;
    *per_unit = v.units > 0 ? v.sum / v.units : NAN;
    *accuracy = v.examples ? (double)v.correct / (double)v.examples : NAN;
    return 0;
}

/* int64 values stored as int32 pairs (low, high): the store's int type */
static void pack64(const int64_t *v, int n, int32_t *out)
{
    for (int i = 0; i < n; i++) {
        uint64_t u = (uint64_t)v[i];
        out[2 * i] = (int32_t)(uint32_t)(u & 0xffffffffu);
        out[2 * i + 1] = (int32_t)(uint32_t)(u >> 32);
    }
}

static int save_checkpoint(trainer *t, int64_t step, double loss, double valid,
                           int64_t *ckpt, uerr *e)
{
    if (!t->o->db)
        return 0;
    const model *m = &t->tr.m;
    store_tensor ts[3 * MODEL_MAX_PARAMS + 4];
    char names[2 * MODEL_MAX_PARAMS][64];
    int n = 0;
    for (int i = 0; i < m->nparams; i++)
        ts[n++] = (store_tensor){m->param[i].name, "param", t->tr.dt, m->param[i].shape,
                                 net_param(&t->tr, i)};
    for (int slot = 0; slot < 2; slot++) {
        const char *sn = optim_slot_name(&t->opt, slot);
        if (!sn)
            continue;
        void *base = slot == 0 ? t->opt.m : t->opt.v;
        for (int i = 0; i < m->nparams; i++) {
            char *nm = names[slot * MODEL_MAX_PARAMS + i];
            snprintf(nm, 64, "%s.%s", sn, m->param[i].name);
            ts[n++] = (store_tensor){nm, "optim", t->tr.dt, m->param[i].shape,
                                     (char *)base + (size_t)t->tr.off[i] * t->tr.es};
        }
    }
    int64_t cur[2] = {0, 0}, misc[1] = {t->opt.t};
    if (t->data.kind == SPEC_DATA_TEXT)
        batch_save(&t->data.cur, cur);
    int32_t cur32[4], rng32[8], misc32[2];
    pack64(cur, 2, cur32);
    pack64((const int64_t *)t->rng_state, 4, rng32);
    pack64(misc, 1, misc32);
    ts[n++] = (store_tensor){"h", "state", t->tr.dt, shape_2(m->B, m->S), t->tr.h0};
    ts[n++] = (store_tensor){"yprev", "state", DT_I32, shape_1(m->B), t->tr.yprev};
    ts[n++] = (store_tensor){"cursor", "cursor", DT_I32, shape_1(4), cur32};
    ts[n++] = (store_tensor){"rng", "rng", DT_I32, shape_1(8), rng32};
    ts[n++] = (store_tensor){"optim.t", "state", DT_I32, shape_1(2), misc32};
    char metrics[128];
    if (isnan(valid))
        snprintf(metrics, sizeof metrics, "{\"loss\": %.17g}", loss);
    else
        snprintf(metrics, sizeof metrics, "{\"loss\": %.17g, \"valid_loss\": %.17g}", loss, valid);
    return store_checkpoint_save(t->o->db, t->run, step, ts, n, metrics, ckpt, e);
}

static int begin_run(trainer *t, train_result *r, uerr *e)
{
    store *db = t->o->db;
    if (!db)
        return 0;
    const text_vocab *v = data_vocab(&t->data);
    int32_t *cps = malloc((size_t)v->size * sizeof(int32_t));
    if (!cps)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int32_t i = 0; i < v->size; i++)
        cps[i] = i < v->n_known ? (int32_t)v->cp[i] : -1;
    char name[256], hash[65];
    int rc = 0;
    if (t->o->run_name && *t->o->run_name)
        snprintf(name, sizeof name, "%s", t->o->run_name);
    else
        rc = store_unique_run_name(db, t->s->name, name, sizeof name, e);
    memcpy(hash, t->data.hash, sizeof hash);
    store_run_info info = {
        .name = name,
        .config_text = t->s->text,
        .command_line = t->o->command_line,
        .program_version = UNROLL_VERSION,
        .data_hash = hash,
        .blas = "OpenBLAS",
        .vocab = cps,
        .nvocab = v->size,
    };
    if (!rc)
        rc = store_run_begin(db, &info, &t->run, e);
    free(cps);
    r->run = t->run;
    snprintf(r->run_name, sizeof r->run_name, "%s", name);
    return rc;
}

/* NaN or Inf in the loss or a gradient: name the step, the tensor and the
 * op that produced it. */
static int check_finite(trainer *t, int64_t step, double loss, uerr *e)
{
    const model *m = &t->tr.m;
    if (!isfinite(loss))
        return uerr_set(e, UERR_USER,
                        "step %lld: the loss is %s (node 'loss', op %s); training stopped, "
                        "the last checkpoint is kept (try a lower train.optimizer.lr or "
                        "train.clip)",
                        (long long)step, isnan(loss) ? "NaN" : "infinite",
                        op_name(m->g.nodes[m->loss].op));
    for (int i = 0; i < m->nparams; i++) {
        int64_t k = first_nonfinite(t->tr.dt, net_grad(&t->tr, i), shape_numel(&m->param[i].shape));
        if (k >= 0)
            return uerr_set(e, UERR_USER,
                            "step %lld: gradient of '%s' has a non-finite element %lld (node "
                            "grad:%s, op %s); training stopped, the last checkpoint is kept",
                            (long long)step, m->param[i].name, (long long)k, m->param[i].name,
                            op_name(m->g.nodes[t->tr.gt.param_grad[i]].op));
    }
    return 0;
}

int train_run(const spec *s, const train_opts *o, train_result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    r->valid_loss = r->valid_accuracy = r->majority = NAN;
    trainer t = {.s = s, .o = o};
    int rc = data_open(&t.data, s, e);
    if (rc)
        return rc;
    int64_t B = t.data.B, T = t.data.T;
    r->vocab = t.data.io.input;
    if ((rc = net_init_io(&t.tr, s, &t.data.io, B, T, NET_TRAIN, NULL, e)) ||
        (rc = data_start(&t.data, e)))
        goto out;
    r->arena_bytes = t.tr.p.arena_bytes;
    t.has_valid = data_has_valid(&t.data);
    if (t.has_valid) {
        if ((rc = net_init_io(&t.va, s, &t.data.io, B, T, NET_FORWARD, NULL, e)))
            goto out;
        net_share_params(&t.va, &t.tr);
    }
    if (s->data.kind == SPEC_DATA_CLASSIFY) {
        int64_t most = 0;
        for (int32_t c = 0; c < t.data.cls.nclasses; c++)
            most = t.data.cls.train_counts[c] > most ? t.data.cls.train_counts[c] : most;
        r->majority = (double)most / (double)t.data.cls.ntrain;
    }
    t.inputs = malloc((size_t)(B * T) * sizeof(int32_t));
    t.targets = malloc((size_t)(B * T) * sizeof(int32_t));
    if (!t.inputs || !t.targets) {
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    if (o->params_dir)
        rc = net_load_params_npy(&t.tr, o->params_dir, e);
    else
        net_init_params(&t.tr, s->train.seed, s->model.init.std);
    if (rc || (rc = optim_init(&t.opt, s, t.tr.nparam, e)) || (rc = begin_run(&t, r, e)))
        goto out;

    const int64_t steps = s->train.steps;
    double t0 = now_s(), valid = NAN, loss = NAN;
    int64_t step = 0;
    while (step < steps) {
        if (o->stop && *o->stop) {
            r->interrupted = 1;
            break;
        }
        step++;
        int reset = data_next(&t.data, t.inputs, t.targets);
        if (reset || s->train.state == SPEC_STATE_ZERO)
            net_reset_state(&t.tr);
        net_set_batch(&t.tr, t.inputs, t.targets);
        if (t.data.mask)
            net_set_mask(&t.tr, t.data.mask);
        if ((rc = net_run(&t.tr, &loss, e)) || (rc = check_finite(&t, step, loss, e)))
            break;
        net_carry_state(&t.tr);
        if (s->train.clip.value > 0)
            clip_by_value(t.tr.dt, t.tr.grads, t.tr.nparam, s->train.clip.value);
        if (s->train.clip.norm > 0)
            clip_by_norm(t.tr.dt, t.tr.grads, t.tr.nparam, s->train.clip.norm);
        optim_step(&t.opt, t.tr.params, t.tr.grads);
        if (step == 1)
            r->first_loss = loss;
        r->last_loss = loss;
        r->steps_done = step;
        if (o->db && (rc = store_metric(o->db, t.run, step, "loss", loss, e)))
            break;
        double vstep = NAN;
        if (t.has_valid && s->train.valid_every > 0 &&
            (step % s->train.valid_every == 0 || step == steps)) {
            double acc;
            if ((rc = validate(&t, &vstep, &acc, e)))
                break;
            valid = r->valid_loss = vstep;
            r->valid_accuracy = acc;
            if (o->db && (rc = store_metric(o->db, t.run, step, "valid_loss", vstep, e)))
                break;
            if (o->db && !isnan(acc) &&
                (rc = store_metric(o->db, t.run, step, "valid_accuracy", acc, e)))
                break;
        }
        int64_t every = s->train.checkpoint.every;
        if (every > 0 && step % every == 0 && step < steps &&
            (rc = save_checkpoint(&t, step, loss, valid, &r->checkpoint, e)))
            break;
        if (o->progress) {
            double el = now_s() - t0;
            train_progress p = {
                .step = step,
                .steps = steps,
                .loss = loss,
                .tokens = data_units_per_step(&t.data),
                .valid_accuracy = r->valid_accuracy,
                .valid_loss = vstep,
                .elapsed_s = el,
                .tokens_per_s = el > 0 ? (double)step * data_units_per_step(&t.data) / el : 0,
                .eta_s = el / (double)step * (double)(steps - step),
            };
            o->progress(o->ctx, &p);
        }
    }
    r->seconds = now_s() - t0;
    /* A failed step leaves the state between steps (the cursor has moved
     * on), so only a clean stop writes the final checkpoint; after a
     * failure the last periodic one is the last good state. */
    if (!rc && r->steps_done > 0)
        rc = save_checkpoint(&t, r->steps_done, r->last_loss, valid, &r->checkpoint, e);
    if (o->db) {
        uerr e2 = {0};
        const char *status = rc ? "failed" : r->interrupted ? "interrupted" : "finished";
        store_run_finish(o->db, t.run, status, rc ? &e2 : e);
    }
out:
    trainer_free(&t);
    return rc;
}

int train_first_step(const spec *s, const char *params_dir, net *n, data_source *d, uerr *e)
{
    int rc = data_open(d, s, e);
    if (rc)
        return rc;
    int64_t B = d->B, T = d->T;
    int32_t *in = malloc((size_t)(B * T) * sizeof(int32_t));
    int32_t *tg = malloc((size_t)(B * T) * sizeof(int32_t));
    if (!in || !tg)
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    if (!rc)
        rc = net_init_io(n, s, &d->io, B, T, NET_TRAIN, NULL, e);
    if (!rc)
        rc = data_start(d, e);
    if (!rc) {
        data_next(d, in, tg);
        net_set_batch(n, in, tg);
        if (d->mask)
            net_set_mask(n, d->mask);
        if (params_dir)
            rc = net_load_params_npy(n, params_dir, e);
        else
            net_init_params(n, s->train.seed, s->model.init.std);
    }
    free(in);
    free(tg);
    return rc;
}
