/* train.c - the training loop; see train.h. */
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/json.h"
#include "train/ckpt_state.h"
#include "train/dist.h"
#include "train/jacobian.h"
#include "train/sample.h"
#include "train/trainer.h"
#include "train/valid.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void trainer_free(trainer *t)
{
    data_free(&t->data);
    net_free(&t->tr);
    if (t->va)
        net_free(t->va);
    if (t->lg)
        net_free(t->lg);
    free(t->va);
    free(t->lg);
    free(t->ledger);
    optim_free(&t->opt);
    profiler_free(&t->prof);
    free(t->inputs);
    free(t->targets);
    accum_free(&t->acc);
}

/* The parts of the trainer a checkpoint holds (train/ckpt_state.h). */
static ckpt_parts trainer_parts(trainer *t)
{
    return (ckpt_parts){&t->tr,       &t->opt, &t->data,
                        t->rng_state, &t->acc, t->s->train.early_stop.patience > 0 ? &t->es : NULL};
}

/* Divergence: what went wrong, then which checkpoint stands (a state
 * after it is never stored). */
static int diverged(const trainer *t, uerr *e, const char *fmt, ...)
{
    char what[256], kept[64] = "no checkpoint was saved";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (t->saved_step >= 0)
        snprintf(kept, sizeof kept, "the checkpoint of step %lld is kept",
                 (long long)t->saved_step);
    return uerr_set(e, UERR_USER,
                    "%s; training stopped, %s (try a lower train.optimizer.lr or train.clip)", what,
                    kept);
}

static int save_checkpoint(trainer *t, int64_t step, double loss, double valid, int64_t *parent,
                           int64_t *ckpt, uerr *e)
{
    if (!t->o->db)
        return 0;
    /* an update can overflow the weights while the loss that led to it was
     * finite: such a state is never stored as a checkpoint */
    for (int i = 0; i < t->tr.m.nparams; i++) {
        int64_t k =
            first_nonfinite(t->tr.dt, net_param(&t->tr, i), shape_numel(&t->tr.m.param[i].shape));
        if (k >= 0)
            return diverged(t, e,
                            "step %lld: parameter '%s' has a non-finite element %lld after "
                            "the update",
                            (long long)step, t->tr.m.param[i].name, (long long)k);
    }
    ckpt_parts parts = trainer_parts(t);
    /* on the heap, unzeroed: 45 KB of the stack would be touched for
     * the few entries a model fills */
    ckpt_state *sl = malloc(sizeof *sl);
    if (!sl)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    sl->order32 = NULL;
    int rc = ckpt_state_collect(&parts, sl, e);
    char metrics[128];
    if (isnan(loss))
        snprintf(metrics, sizeof metrics, "{}");
    else if (isnan(valid))
        snprintf(metrics, sizeof metrics, "{\"loss\": %.17g}", loss);
    else
        snprintf(metrics, sizeof metrics, "{\"loss\": %.17g, \"valid_loss\": %.17g}", loss, valid);
    /* Another process holding the store's lock (a long query, a backup):
     * each attempt waits the busy timeout; the run stops only after
     * train.checkpoint.wait seconds, its last checkpoint intact. */
    double w0 = now_s();
    for (int said = 0; !rc; said = 1) {
        rc = store_checkpoint_save_from(t->o->db, t->run, step, *parent, sl->ts, sl->n, metrics,
                                        ckpt, e);
        if (!rc || !store_busy(t->o->db) || now_s() - w0 >= (double)t->s->train.checkpoint.wait)
            break;
        if (!said && t->o->note) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "step %lld: the store is locked by another process; the "
                     "checkpoint waits (up to %llds)",
                     (long long)step, (long long)t->s->train.checkpoint.wait);
            t->o->note(t->o->ctx, msg);
        }
        uerr_clear(e);
        rc = 0;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    if (!rc)
        *parent = *ckpt, t->saved_step = step;
    ckpt_state_free(sl);
    free(sl);
    return rc;
}

/* NaN or Inf in the loss: name the step and the op that produced it. */
static int check_loss(trainer *t, int64_t step, double loss, uerr *e)
{
    const model *m = &t->tr.m;
    if (!isfinite(loss))
        return diverged(t, e, "step %lld: the loss is %s (node 'loss', op %s)", (long long)step,
                        isnan(loss) ? "NaN" : "infinite", op_name(m->g.nodes[m->loss].op));
    return 0;
}

/* NaN or Inf in a gradient: name the step, the tensor and the op that
 * produced it. */
static int check_grads(trainer *t, int64_t step, uerr *e)
{
    const model *m = &t->tr.m;
    for (int i = 0; i < m->nparams; i++) {
        const char *g =
            (const char *)accum_grads(&t->acc, &t->tr) + (size_t)t->tr.off[i] * t->tr.es;
        int64_t k = first_nonfinite(t->tr.dt, g, shape_numel(&m->param[i].shape));
        if (k >= 0)
            return diverged(t, e,
                            "step %lld: gradient of '%s' has a non-finite element %lld (node "
                            "grad:%s, op %s)",
                            (long long)step, m->param[i].name, (long long)k, m->param[i].name,
                            op_name(m->g.nodes[t->tr.gt.param_grad[i]].op));
    }
    return 0;
}

/* The validation loss a checkpoint carries in its metrics (the last one
 * measured before it), so that a resumed run's next checkpoint records
 * the same value an uninterrupted run's would; NaN if none. */
static double saved_valid_loss(const store_loaded *l)
{
    json_value j;
    double v = NAN;
    if (l->metrics_json &&
        !json_parse("metrics", l->metrics_json, strlen(l->metrics_json), &j, NULL)) {
        const json_value *x = json_get(&j, "valid_loss");
        if (x && x->type == JSON_NUMBER)
            v = x->num;
        json_free(&j);
    }
    return v;
}

/* Data parallel: the gradients and the loss, each a sum over this rank's
 * rows, summed over the ranks: the gradient of the global batch's loss. */
static int sum_over_ranks(trainer *t, double *loss, uerr *e)
{
    int rc = dist_sum(t->o->dist, accum_grads(&t->acc, &t->tr), t->tr.nparam, t->tr.dt, e);
    if (!rc)
        rc = dist_sum(t->o->dist, loss, 1, DT_F64, e);
    return rc;
}

/* The ledger of this step's batch from this step's starting state, before
 * the update: ||dL/dh_t|| and each parameter's per-step term norm, stored
 * as metrics "ledger.dh[t]" and "ledger.<name>[t]", and the largest
 * singular value of each recurrent matrix, "ledger.sigma.<name>". */
static int record_ledger(trainer *t, int64_t step, int64_t row0, uerr *e)
{
    net *lg = t->lg;
    int64_t T = lg->m.T;
    memcpy(lg->h0, t->tr.h0, t->tr.state_bytes);
    memcpy(lg->yprev, t->tr.yprev, (size_t)lg->m.B * sizeof(int32_t));
    if (lg->yprevr)
        memcpy(lg->yprevr, t->tr.yprevr, (size_t)(lg->m.B * lg->m.out) * lg->es);
    data_to_net(&t->data, lg, t->inputs, t->targets, row0);
    net_set_dropout(lg, t->s->train.seed, step, row0);
    double loss;
    int rc = net_run(lg, &loss, e);
    if (!rc)
        rc = net_ledger(lg, t->ledger, t->ledger + T, e);
    for (int64_t k = 0; !rc && t->o->db && k < T * (1 + lg->m.nparams); k++) {
        char name[96];
        int64_t i = k / T - 1, tt = k % T;
        snprintf(name, sizeof name, "ledger.%s[%lld]", i < 0 ? "dh" : lg->m.param[i].name,
                 (long long)tt);
        rc = store_metric(t->o->db, t->run, step, name, t->ledger[k], e);
    }
    for (int i = 0; !rc && t->o->db && i < lg->m.nparams; i++) {
        char name[96];
        snprintf(name, sizeof name, "ledger.sigma.%s", lg->m.param[i].name);
        if (lg->m.param[i].recurrent) /* lg reads tr's parameters */
            rc = store_metric(t->o->db, t->run, step, name,
                              jacobian_param_sigma(&t->tr, i, t->ledger + T * (1 + lg->m.nparams)),
                              e);
    }
    return rc;
}

/* One update's forward and backward passes: the batch's train.accumulate
 * row blocks in order, each from its own carried state, their losses and
 * gradients summed (train/controls.h). coin: scheduled sampling's chance. */
static int forward_backward(trainer *t, int64_t step, double coin, double *loss, uerr *e)
{
    const spec *s = t->s;
    int reset = data_next(&t->data, t->inputs, t->targets);
    reset |= s->train.state == SPEC_STATE_ZERO;
    for (int64_t k = 0; k < t->acc.A; k++) {
        int64_t row0 = k * s->train.batch + t->row0;
        if (reset)
            net_reset_state(&t->tr);
        else
            accum_load(&t->acc, &t->tr, k);
        data_to_net(&t->data, &t->tr, t->inputs, t->targets, row0);
        int rc = 0;
        if (k == 0 && t->ledger && step % s->train.ledger_every == 0 &&
            (rc = record_ledger(t, step, row0, e)))
            return rc;
        if (t->tr.cs)
            net_set_coins(&t->tr, coin, s->train.seed, step);
        net_set_dropout(&t->tr, s->train.seed, step, row0);
        double l;
        /* between steps nothing but the plan's own updates writes the
         * parameters: the transposed copies they keep are current
         * (exec.h; a first run, or a plan without updates, makes them) */
        exec_params_kept(&t->tr.x);
        if ((rc = net_run(&t->tr, &l, e)))
            return rc;
        net_carry_state(&t->tr);
        accum_save(&t->acc, &t->tr, k);
        accum_add(&t->acc, &t->tr, k);
        *loss = k ? *loss + l : l;
    }
    return 0;
}

/* After a validation: early stopping's record, and a new best stored as
 * a checkpoint of its own, tagged, so that RUN@best is the state that
 * was measured. */
static int watch_valid(trainer *t, int64_t step, double loss, double valid, int64_t *parent,
                       train_result *r, uerr *e)
{
    const spec *s = t->s;
    if (s->train.early_stop.patience <= 0 ||
        !early_stop_see(&t->es, valid, s->train.early_stop.min_delta, step) || !t->o->db)
        return 0;
    int rc = save_checkpoint(t, step, loss, valid, parent, &r->checkpoint, e);
    if (!rc)
        trainer_tag_best(t, r->checkpoint, r);
    return rc;
}

int train_run(const spec *s, const train_opts *o, train_result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    r->valid_loss = r->valid_accuracy = r->majority = NAN;
    trainer t = {.s = s, .o = o, .saved_step = o->resume ? o->resume->step : -1};
    early_stop_init(&t.es);
    /* the schedule spans the steps the run began with, unless set */
    t.horizon = s->train.lr_schedule.steps ? s->train.lr_schedule.steps : s->train.steps;
    int rc = data_open(&t.data, s, e);
    if (rc)
        return rc;
    /* B: the rows of one update, train.accumulate blocks of train.batch */
    int64_t B = t.data.B, T = t.data.T, Bu = s->train.batch;
    r->vocab = t.data.io.input;
    /* data parallel: this rank's shard of every block */
    int K = o->dist ? o->dist->size : 1, rank = o->dist ? o->dist->rank : 0;
    if (K > 1 && (Bu % K || o->resume || o->from)) {
        rc = uerr_set(e, UERR_USER,
                      Bu % K ? "train.batch %lld: data-parallel training over %d ranks needs a "
                               "batch divisible by the number of ranks"
                             : "train.batch %lld over %d ranks: --resume and --from run in one "
                               "process",
                      (long long)Bu, K);
        goto out;
    }
    if (K > 1 && s->train.early_stop.patience > 0) {
        /* rank 0 alone validates: the others would wait for it forever */
        rc = uerr_set(e, UERR_USER,
                      "train.early_stop: data-parallel training validates on one "
                      "rank only; train without MPI to stop early");
        goto out;
    }
    int64_t Bl = Bu / K;
    t.row0 = rank * Bl;
    /* The update runs inside the step's plan, each parameter's as soon as
     * its gradient is made and its last reader has run (beside the
     * backward, at a batch of one row): unless the gradients are summed
     * over blocks or ranks first, or clipped by their norm, which needs
     * all of them. */
    plan_options po = {.fuse = s->train.fuse};
    if (K == 1 && s->train.accumulate <= 1 && !(s->train.clip.norm > 0))
        po.update_cycles = optim_cycles(s->train.optimizer.name, s->train.dtype);
    if ((rc = net_init_io(&t.tr, s, &t.data.io, Bl, T, NET_TRAIN, &po, e)) ||
        (rc = accum_init(&t.acc, &t.tr, s->train.accumulate, e)) || (rc = data_prepare(&t.data, e)))
        goto out;
    r->arena_bytes = t.tr.p.arena_bytes;
    t.has_valid = rank == 0 && data_has_valid(&t.data);
    if (rank == 0 && (rc = data_check_valid(&t.data, s, e)))
        goto out;
    if (rank == 0 && s->train.early_stop.patience > 0 && !t.has_valid) {
        rc = uerr_set(e, UERR_USER,
                      "%s: train.early_stop watches the validation loss, but no data is held "
                      "out (set data.valid_fraction)",
                      s->path);
        goto out;
    }
    if (t.has_valid) {
        if (!(t.va = calloc(1, sizeof *t.va)))
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        if (rc || (rc = net_init_io(t.va, s, &t.data.io, B, T, train_valid_mode(&t.data), NULL, e)))
            goto out;
        net_share_params(t.va, &t.tr);
    }
    if (s->train.ledger_every > 0 && rank == 0) {
        if (!(t.lg = calloc(1, sizeof *t.lg)))
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        if (rc || (rc = net_init_io(t.lg, s, &t.data.io, Bl, T, NET_LEDGER, NULL, e)))
            goto out;
        net_share_params(t.lg, &t.tr);
        t.ledger = malloc((size_t)(T * (1 + t.lg->m.nparams) + jacobian_sigma_scratch(t.lg)) *
                          sizeof(double));
        if (!t.ledger) {
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    r->majority = data_majority(&t.data);
    if (o->ready) {
        train_info info = {.graph_nodes = t.tr.m.g.n,
                           .kernel_calls = t.tr.p.ninstr,
                           .arena_bytes = t.tr.p.arena_bytes,
                           .parameters = t.tr.nweights,
                           .B = B,
                           .T = T,
                           .vocab = t.data.io.input,
                           .ranks = K,
                           .recompute_seg = t.tr.rc.seg,
                           .full_bytes = t.tr.rc.full_bytes,
                           .recompute_nodes = t.tr.rc.extra_nodes,
                           .copies = t.tr.p.n_transposed,
                           .copies_kept = t.tr.p.nmirrors};
        o->ready(o->ctx, &info);
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
    /* An imported checkpoint (ckpt import) holds parameters only: a
     * resume from it starts the optimiser, data cursor and generator as a
     * new run does, so it trains what --from it would have. */
    const int weights_only = o->resume && !store_loaded_find(o->resume, "rng");
    if (!rc && (weights_only || (o->from && !o->resume)))
        rc = trainer_load_from(&t, weights_only ? o->resume : o->from, r, e);
    if (!rc && weights_only && r->from_skipped[0])
        rc = uerr_set(e, UERR_USER,
                      "checkpoint %lld holds parameters only, not all of this "
                      "model's: %s; cannot resume from it",
                      (long long)o->resume->id, r->from_skipped);
    if (rc || (rc = optim_init(&t.opt, s, t.tr.nparam, e)))
        goto out;
    ckpt_parts parts = trainer_parts(&t);
    if (o->resume && !weights_only)
        rc = ckpt_state_restore(&parts, o->resume, e);
    if (!rc && o->resume && early_stop_due(&t.es, s->train.early_stop.patience))
        rc = uerr_set(e, UERR_USER,
                      "checkpoint %lld: the run stopped early (%.0f validations without a loss "
                      "below %.6g, the best, at step %.0f); to train on, resume with a larger "
                      "--set train.early_stop.patience, or 0 to stop watching",
                      (long long)o->resume->id, t.es.v[1], t.es.v[0], t.es.v[2]);
    if (rc || (rc = o->resume ? trainer_resume_run(&t, r, e) : trainer_begin_run(&t, r, e)))
        goto out;

    const int64_t steps = s->train.steps;
    const int64_t start = o->resume ? o->resume->step : 0;
    /* The lineage: each save descends from the previous one, the first
     * from the checkpoint this process started from. */
    int64_t parent = o->resume ? o->resume->id : o->from ? o->from->id : 0;
    double t0 = now_s(), last_save = t0, valid = NAN, loss = NAN;
    if (o->resume)
        valid = saved_valid_loss(o->resume);
    int64_t step = start;
    r->steps_done = start;
    r->checkpoint = o->resume ? o->resume->id : 0;
    /* Parameters from files or from another run: the starting point is
     * stored as a checkpoint at step 0, so that the run can be replayed
     * (ckpt verify) and resumed from its very start without them. */
    if (!o->resume && (o->params_dir || o->from) &&
        (rc = save_checkpoint(&t, 0, NAN, NAN, &parent, &r->checkpoint, e)))
        goto out;
    const int64_t last = o->until > 0 && o->until < steps ? o->until : steps;
    while (step < last) {
        if (o->stop && *o->stop) {
            r->interrupted = 1;
            break;
        }
        step++;
        t.opt.lr = optim_lr_at(s, t.horizon, step);
        net_update_begin(&t.tr, &t.opt, &t.job, s->train.clip.value);
        double ca = s->train.scheduled_sampling.start, cb = s->train.scheduled_sampling.end;
        double f = steps > 1 ? (double)(step - 1) / (double)(steps - 1) : 0;
        /* the last step is profiled: in a run of 14 steps or more, the
         * executor's tries of both ways to run a region (exec.h) lie
         * behind it */
        int profiled = o->profile_path && step == last && rank == 0;
        if ((profiled && (rc = profiler_arm(&t.prof, &t.tr, e))) ||
            (rc = forward_backward(&t, step, ca + (cb - ca) * f, &loss, e)) ||
            (K > 1 && (rc = sum_over_ranks(&t, &loss, e))) || (rc = check_loss(&t, step, loss, e)))
            break;
        void *grads = accum_grads(&t.acc, &t.tr);
        /* Clipping by value alone happens inside the update's one pass,
         * which also tells whether a gradient was NaN or infinite: only
         * then are they searched (the update that went before is never
         * stored: the run stops). The padding between parameters is read
         * too, so a flag the search does not confirm changes nothing. */
        if (t.tr.p.nupdate) {
            if (optim_job_bad(&t.job) && (rc = check_grads(&t, step, e)))
                break;
        } else if (s->train.clip.norm > 0) {
            if ((rc = check_grads(&t, step, e)))
                break;
            if (s->train.clip.value > 0)
                clip_by_value(t.tr.dt, grads, t.tr.nparam, s->train.clip.value);
            clip_by_norm(t.tr.dt, grads, t.tr.nparam, s->train.clip.norm);
            optim_step(&t.opt, t.tr.params, grads);
        } else if (optim_step_clip(&t.opt, t.tr.params, grads, s->train.clip.value) &&
                   (rc = check_grads(&t, step, e))) {
            break;
        }
        if (step == start + 1)
            r->first_loss = loss;
        r->last_loss = loss;
        r->steps_done = step;
        /* a timeline that cannot be written costs no step: a warning */
        if (profiled) {
            uerr pe = {0};
            if (profiler_finish(&t.prof, &t.tr, step, o->profile_path, &r->profile, &pe))
                snprintf(r->warning, sizeof r->warning, "%.500s", pe.msg);
        }
        if (o->db && (rc = store_metric(o->db, t.run, step, "loss", loss, e)))
            break;
        /* a rate that changes is logged; a constant one is in the config */
        if (o->db &&
            (s->train.lr_schedule.name != SPEC_SCHED_CONSTANT || s->train.lr_schedule.warmup > 0) &&
            (rc = store_metric(o->db, t.run, step, "lr", t.opt.lr, e)))
            break;
        double vstep = NAN;
        if (t.has_valid && s->train.valid_every > 0 &&
            (step % s->train.valid_every == 0 || step == steps)) {
            double acc;
            if ((rc = train_validate(t.va, &t.data, t.inputs, t.targets, &vstep, &acc, e)))
                break;
            valid = r->valid_loss = vstep;
            r->valid_accuracy = acc;
            if (o->db && (rc = store_metric(o->db, t.run, step, "valid_loss", vstep, e)))
                break;
            if (o->db && !isnan(acc) &&
                (rc = store_metric(o->db, t.run, step, "valid_accuracy", acc, e)))
                break;
            if ((rc = watch_valid(&t, step, loss, vstep, &parent, r, e)))
                break;
        }
        int stop_early = early_stop_due(&t.es, s->train.early_stop.patience);
        /* timed checkpoints: a killed run loses at most `minutes` of work;
         * saving reads the state, never changes it, so the run's bits do
         * not depend on when they fall */
        int64_t every = s->train.checkpoint.every;
        double mins = s->train.checkpoint.minutes;
        bool due =
            (every > 0 && step % every == 0) || (mins > 0 && now_s() - last_save >= mins * 60);
        if (due && step < steps && !stop_early && t.saved_step != step) {
            if ((rc = save_checkpoint(&t, step, loss, valid, &parent, &r->checkpoint, e)))
                break;
            last_save = now_s();
        }
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
                .tokens_per_s =
                    el > 0 ? (double)(step - start) * data_units_per_step(&t.data) / el : 0,
                .eta_s = el / (double)(step - start) * (double)(steps - step),
                .final = step == steps || stop_early || (o->stop && *o->stop),
            };
            o->progress(o->ctx, &p);
        }
        if (stop_early) {
            r->early_stopped = 1;
            break;
        }
    }
    r->best_valid = t.es.v[0];
    r->best_step = (int64_t)t.es.v[2];
    r->seconds = now_s() - t0;
    /* A failed step leaves the state between steps (the cursor has moved
     * on), so only a clean stop writes the final checkpoint; after a
     * failure the last periodic one is the last good state. */
    if (!rc && r->steps_done > start && t.saved_step != r->steps_done)
        rc = save_checkpoint(&t, r->steps_done, r->last_loss, valid, &parent, &r->checkpoint, e);
    if (!rc && o->on_state) {
        ckpt_state sl = {0};
        if (!(rc = ckpt_state_collect(&parts, &sl, e)))
            o->on_state(o->ctx, sl.ts, sl.n);
        ckpt_state_free(&sl);
    }
    if (o->db) {
        /* After a failure its error is the one to report; otherwise a
         * status that could not be written fails the run, or the store
         * would say "running" for a run the caller was told finished. */
        uerr e2 = {0};
        const char *status = rc ? "failed" : r->interrupted ? "interrupted" : "finished";
        int frc = store_run_finish(o->db, t.run, status, rc ? &e2 : e);
        if (!rc)
            rc = frc;
    }
out:
    trainer_free(&t);
    return rc;
}

int train_first_step(const spec *s, const char *params_dir, int mode, net *n, data_source *d,
                     uerr *e)
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
        rc = net_init_io(n, s, &d->io, B, T, mode, NULL, e);
    if (!rc)
        rc = data_prepare(d, e);
    if (!rc) {
        data_next(d, in, tg);
        data_to_net(d, n, in, tg, 0);
        net_set_dropout(n, s->train.seed, 1, 0);
        if (params_dir)
            rc = net_load_params_npy(n, params_dir, e);
        else
            net_init_params(n, s->train.seed, s->model.init.std);
    }
    free(in);
    free(tg);
    return rc;
}
