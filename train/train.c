/* train.c - the training loop; see train.h. */
#include "train/train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/version.h"
#include "kernels/cpu.h"
#include "store/json.h"
#include "store/sha256.h"
#include "train/batch.h"
#include "train/blascheck.h"
#include "train/ckpt_io.h"
#include "train/ckpt_state.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/jacobian.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/rng.h"
#include "train/sample.h"
#include "train/text.h"

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
    net tr, va;     /* training net; validation net (if any) */
    net lg;         /* the per-step gradient ledger's net (if asked) */
    int64_t row0;   /* data parallel: this rank's first row of a batch */
    double *ledger; /* [T + nparams * T] its norms, then sigma's scratch */
    int has_valid;
    optim opt;
    int32_t *inputs, *targets;
    int64_t run;
    int64_t saved_step; /* of the last checkpoint stored, -1 if none */
    uint64_t rng_state[4];
} trainer;

static void trainer_free(trainer *t)
{
    data_free(&t->data);
    net_free(&t->tr);
    net_free(&t->va);
    net_free(&t->lg);
    free(t->ledger);
    optim_free(&t->opt);
    free(t->inputs);
    free(t->targets);
}

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
static int valid_mode(const data_source *d)
{
    return d->kind == SPEC_DATA_TEXT ? NET_LOSS : NET_FORWARD;
}

static int validate_with(net *n, data_source *d, int32_t *inputs, int32_t *targets,
                         double *per_unit, double *accuracy, uerr *e)
{
    valid_ctx v = {.n = n, .d = d};
    int rc = data_valid_each(d, inputs, targets, valid_batch, &v, e);
    if (rc)
        return rc;
    *per_unit = v.units > 0 ? v.sum / v.units : NAN;
    *accuracy = v.examples ? (double)v.correct / (double)v.examples : NAN;
    return 0;
}

static int validate(trainer *t, double *per_unit, double *accuracy, uerr *e)
{
    return validate_with(&t->va, &t->data, t->inputs, t->targets, per_unit, accuracy, e);
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
        rc = net_init_io(&n, s, &d.io, d.B, d.T, valid_mode(&d), NULL, e);
    if (!rc)
        rc = sample_set_params(&n, params, nparams, e);
    in = malloc((size_t)(d.B * d.T) * sizeof(int32_t));
    tg = malloc((size_t)(d.B * d.T) * sizeof(int32_t));
    if (!rc && (!in || !tg))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    if (!rc)
        rc = validate_with(&n, &d, in, tg, loss, accuracy, e);
    free(in);
    free(tg);
    net_free(&n);
    data_free(&d);
    return rc;
}

/* The parts of the trainer a checkpoint holds (train/ckpt_state.h). */
static ckpt_parts trainer_parts(trainer *t)
{
    return (ckpt_parts){&t->tr, &t->opt, &t->data, t->rng_state};
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
    ckpt_state sl = {0};
    int rc = ckpt_state_collect(&parts, &sl, e);
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
        rc = store_checkpoint_save_from(t->o->db, t->run, step, *parent, sl.ts, sl.n, metrics, ckpt,
                                        e);
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
    ckpt_state_free(&sl);
    return rc;
}

/* --from: the parameters of checkpoint l that fit this model (same name,
 * same shape; float32/float64 converted) replace their initial values. */
static int load_from(trainer *t, const store_loaded *l, train_result *r, uerr *e)
{
    const model *m = &t->tr.m;
    size_t kl = 0, ks = 0;
    int loaded = 0;
    r->from_loaded[0] = r->from_skipped[0] = '\0';
#define FROM_NOTE(buf, k, ...)                                                                     \
    do {                                                                                           \
        if ((k) < sizeof(buf))                                                                     \
            (k) += (size_t)snprintf((buf) + (k), sizeof(buf) - (k), __VA_ARGS__);                  \
    } while (0)
    for (int i = 0; i < m->nparams; i++) {
        const model_param *p = &m->param[i];
        const store_loaded_tensor *x = store_loaded_find(l, p->name);
        char s1[64], s2[64];
        if (!x || strcmp(x->role, "param")) {
            FROM_NOTE(r->from_skipped, ks, "%s%s (not in checkpoint %lld)", ks ? ", " : "", p->name,
                      (long long)l->id);
        } else if (!shape_equal(&x->shape, &p->shape) || x->dt == DT_I32) {
            FROM_NOTE(r->from_skipped, ks, "%s%s (%s %s there, %s here)", ks ? ", " : "", p->name,
                      dtype_name(x->dt), shape_str(&x->shape, s1, sizeof s1),
                      shape_str(&p->shape, s2, sizeof s2));
        } else {
            dtype_convert(net_param(&t->tr, i), t->tr.dt, x->data, x->dt, shape_numel(&p->shape));
            FROM_NOTE(r->from_loaded, kl, "%s%s", kl ? ", " : "", p->name);
            loaded++;
        }
    }
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->t[i].role, "param"))
            continue;
        int used = 0;
        for (int j = 0; j < m->nparams && !used; j++)
            used = !strcmp(m->param[j].name, l->t[i].name);
        if (!used)
            FROM_NOTE(r->from_skipped, ks, "%s%s (not in this model)", ks ? ", " : "",
                      l->t[i].name);
    }
#undef FROM_NOTE
    if (!loaded)
        return uerr_set(e, UERR_USER, "none of checkpoint %lld's parameters fit this model (%s)",
                        (long long)l->id, r->from_skipped);
    return 0;
}

/* The vocabulary as the store keeps it: code point per id, -1 for the
 * unknown symbol. */
static int32_t *vocab_codepoints(const text_vocab *v, uerr *e)
{
    int32_t *cps = malloc((size_t)(v->size ? v->size : 1) * sizeof(int32_t));
    if (!cps) {
        uerr_set(e, UERR_INTERNAL, "out of memory");
        return NULL;
    }
    for (int32_t i = 0; i < v->size; i++)
        cps[i] = i < v->n_known ? (int32_t)v->cp[i] : -1;
    return cps;
}

static int same_vocab(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, (size_t)na * sizeof *a));
}

/* The program's arithmetic, recorded with the run: the kernels' vector
 * path (kernels/cpu.h; no BLAS is linked, train/blascheck.h). Not the
 * thread count, which changes no bit (kernels/gemm.h); it is recorded all
 * the same. */
static void blas_info(char *buf, size_t n, int *threads)
{
    blascheck_describe(buf, n);
    *threads = cpu_threads();
}

/* A resume: the stored run must be this data's, then the store drops the
 * metrics logged after the checkpoint and records the new session. */
static int resume_run(trainer *t, train_result *r, uerr *e)
{
    store *db = t->o->db;
    const store_loaded *l = t->o->resume;
    t->run = l->run;
    r->run = l->run;
    r->start_step = l->step;
    if (!db)
        return 0;
    store_run run;
    int rc = store_run_get(db, l->run, &run, e);
    if (rc)
        return rc;
    snprintf(r->run_name, sizeof r->run_name, "%s", run.name);
    int32_t *cps = vocab_codepoints(data_vocab(&t->data), e);
    if (!cps)
        rc = UERR_INTERNAL;
    if (!rc && !t->o->force && run.data_hash && *run.data_hash &&
        strcmp(run.data_hash, t->data.hash))
        rc = uerr_set(e, UERR_USER,
                      "%s: the data changed since run '%s' was trained (data hash %.12s, now "
                      "%.12s); resuming would not continue the same run (--force resumes anyway)",
                      t->s->data.path, run.name, run.data_hash, t->data.hash);
    if (!rc && !t->o->force && run.nvocab &&
        !same_vocab(run.vocab, run.nvocab, cps, data_vocab(&t->data)->size))
        rc = uerr_set(e, UERR_USER,
                      "%s: the vocabulary differs from run '%s''s (%d symbols, now %d); "
                      "--force resumes anyway",
                      t->s->data.path, run.name, run.nvocab, data_vocab(&t->data)->size);
    char blas[256];
    int threads;
    blas_info(blas, sizeof blas, &threads);
    if (!rc && run.blas && *run.blas && !blascheck_same_program(run.blas, blas))
        snprintf(r->warning, sizeof r->warning,
                 "run '%s' was trained with '%s', this process runs '%s': the resumed "
                 "steps may differ in the last bits",
                 run.name, run.blas, blas);
    /* The run's config from now on: the stored one with this resume's
     * overrides (a new train.steps), resolved as begin_run records it. */
    char *resolved = NULL;
    size_t rlen = 0;
    FILE *mf = rc ? NULL : open_memstream(&resolved, &rlen);
    if (!rc && (!mf || spec_write_yaml(t->s, mf) || fclose(mf)))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory writing the resolved config");
    if (!rc) {
        store_resume_info ri = {.command_line = t->o->command_line,
                                .program_version = UNROLL_VERSION,
                                .blas = blas,
                                .threads = threads,
                                .config_text = resolved,
                                .force = t->o->force};
        rc = store_run_resume(db, l->run, l->id, &ri, &r->metrics_dropped, e);
    }
    free(resolved);
    free(cps);
    store_run_free(&run);
    return rc;
}

/* --from across vocabularies: parameters of the same shape load, but an
 * input or output row then means another symbol; say so. */
static int from_vocab_note(trainer *t, train_result *r, const int32_t *cps, int n, uerr *e)
{
    store_run fr;
    int rc = store_run_get(t->o->db, t->o->from->run, &fr, e);
    if (rc)
        return rc;
    if (fr.nvocab && !same_vocab(fr.vocab, fr.nvocab, cps, n))
        snprintf(r->warning, sizeof r->warning,
                 "the vocabulary differs from run '%s''s (%d symbols there, %d here): rows of "
                 "the input and output weights that loaded now stand for other symbols",
                 fr.name, fr.nvocab, n);
    store_run_free(&fr);
    return 0;
}

static int begin_run(trainer *t, train_result *r, uerr *e)
{
    store *db = t->o->db;
    if (!db)
        return 0;
    const text_vocab *v = data_vocab(&t->data);
    int32_t *cps = malloc((size_t)(v->size ? v->size : 1) * sizeof(int32_t));
    if (!cps)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int32_t i = 0; i < v->size; i++)
        cps[i] = i < v->n_known ? (int32_t)v->cp[i] : -1;
    char name[256], hash[65];
    int rc = 0;
    if (t->o->run_name && *t->o->run_name)
        snprintf(name, sizeof name, "%s", t->o->run_name);
    else if ((rc = store_name_check("run name", t->s->name, e)))
        uerr_prefix(e, "%s: name", t->s->path); /* the config's key, not the store, is at fault */
    else
        rc = store_unique_run_name(db, t->s->name, name, sizeof name, e);
    memcpy(hash, t->data.hash, sizeof hash);
    /* the resolved config, --set overrides and defaults included: what
     * rebuilds this exact model later (sample, eval, resume) */
    char *resolved = NULL;
    size_t rlen = 0;
    FILE *mf = open_memstream(&resolved, &rlen);
    if (!mf || spec_write_yaml(t->s, mf) || fclose(mf)) {
        free(cps);
        free(resolved);
        return uerr_set(e, UERR_INTERNAL, "out of memory writing the resolved config");
    }
    store_run_info info = {
        .name = name,
        .config_text = resolved,
        .command_line = t->o->command_line,
        .program_version = UNROLL_VERSION,
        .data_hash = hash,
        .vocab = cps,
        .nvocab = v->size,
    };
    info.labels = data_labels(&t->data, &info.nlabels);
    char blas[256];
    blas_info(blas, sizeof blas, &info.threads);
    info.blas = blas;
    info.init = t->o->from ? "from" : t->o->params_dir ? "params" : "seed";
    info.parent_checkpoint = t->o->from ? t->o->from->id : 0;
    if (!rc && t->o->from)
        rc = from_vocab_note(t, r, cps, v->size, e);
    if (!rc)
        rc = store_run_begin(db, &info, &t->run, e);
    free(resolved);
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
        return diverged(t, e, "step %lld: the loss is %s (node 'loss', op %s)", (long long)step,
                        isnan(loss) ? "NaN" : "infinite", op_name(m->g.nodes[m->loss].op));
    for (int i = 0; i < m->nparams; i++) {
        int64_t k = first_nonfinite(t->tr.dt, net_grad(&t->tr, i), shape_numel(&m->param[i].shape));
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
    int rc = dist_sum(t->o->dist, t->tr.grads, t->tr.nparam, t->tr.dt, e);
    if (!rc)
        rc = dist_sum(t->o->dist, loss, 1, DT_F64, e);
    return rc;
}

/* The ledger of this step's batch from this step's starting state, before
 * the update: ||dL/dh_t|| and each parameter's per-step term norm, stored
 * as metrics "ledger.dh[t]" and "ledger.<name>[t]", and the largest
 * singular value of each recurrent matrix, "ledger.sigma.<name>". */
static int record_ledger(trainer *t, int64_t step, uerr *e)
{
    net *lg = &t->lg;
    int64_t T = lg->m.T;
    memcpy(lg->h0, t->tr.h0, t->tr.state_bytes);
    memcpy(lg->yprev, t->tr.yprev, (size_t)lg->m.B * sizeof(int32_t));
    if (lg->yprevr)
        memcpy(lg->yprevr, t->tr.yprevr, (size_t)(lg->m.B * lg->m.out) * lg->es);
    data_to_net(&t->data, lg, t->inputs, t->targets, t->row0);
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

int train_run(const spec *s, const train_opts *o, train_result *r, uerr *e)
{
    memset(r, 0, sizeof *r);
    r->valid_loss = r->valid_accuracy = r->majority = NAN;
    trainer t = {.s = s, .o = o, .saved_step = o->resume ? o->resume->step : -1};
    int rc = data_open(&t.data, s, e);
    if (rc)
        return rc;
    int64_t B = t.data.B, T = t.data.T;
    r->vocab = t.data.io.input;
    /* data parallel: this rank's shard of every global batch */
    int K = o->dist ? o->dist->size : 1, rank = o->dist ? o->dist->rank : 0;
    if (K > 1 && (B % K || o->resume || o->from)) {
        rc = uerr_set(e, UERR_USER,
                      B % K ? "train.batch %lld: data-parallel training over %d ranks needs a "
                              "batch divisible by the number of ranks"
                            : "train.batch %lld over %d ranks: --resume and --from run in one "
                              "process",
                      (long long)B, K);
        goto out;
    }
    int64_t Bl = B / K;
    t.row0 = rank * Bl;
    if ((rc = net_init_io(&t.tr, s, &t.data.io, Bl, T, NET_TRAIN, NULL, e)) ||
        (rc = data_prepare(&t.data, e)))
        goto out;
    r->arena_bytes = t.tr.p.arena_bytes;
    t.has_valid = rank == 0 && data_has_valid(&t.data);
    if (rank == 0 && (rc = data_check_valid(&t.data, s, e)))
        goto out;
    if (t.has_valid) {
        if ((rc = net_init_io(&t.va, s, &t.data.io, B, T, valid_mode(&t.data), NULL, e)))
            goto out;
        net_share_params(&t.va, &t.tr);
    }
    if (s->train.ledger_every > 0 && rank == 0) {
        if ((rc = net_init_io(&t.lg, s, &t.data.io, Bl, T, NET_LEDGER, NULL, e)))
            goto out;
        net_share_params(&t.lg, &t.tr);
        t.ledger = malloc((size_t)(T * (1 + t.lg.m.nparams) + jacobian_sigma_scratch(&t.lg)) *
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
                           .recompute_nodes = t.tr.rc.extra_nodes};
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
        rc = load_from(&t, weights_only ? o->resume : o->from, r, e);
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
    if (rc || (rc = o->resume ? resume_run(&t, r, e) : begin_run(&t, r, e)))
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
    while (step < steps) {
        if (o->stop && *o->stop) {
            r->interrupted = 1;
            break;
        }
        step++;
        int reset = data_next(&t.data, t.inputs, t.targets);
        if (reset || s->train.state == SPEC_STATE_ZERO)
            net_reset_state(&t.tr);
        data_to_net(&t.data, &t.tr, t.inputs, t.targets, t.row0);
        if (t.ledger && step % s->train.ledger_every == 0 && (rc = record_ledger(&t, step, e)))
            break;
        if (t.tr.cs) {
            double a = s->train.scheduled_sampling.start, b = s->train.scheduled_sampling.end;
            double f = steps > 1 ? (double)(step - 1) / (double)(steps - 1) : 0;
            net_set_coins(&t.tr, a + (b - a) * f, s->train.seed, step);
        }
        if ((rc = net_run(&t.tr, &loss, e)) || (K > 1 && (rc = sum_over_ranks(&t, &loss, e))) ||
            (rc = check_finite(&t, step, loss, e)))
            break;
        net_carry_state(&t.tr);
        /* clipping by value alone happens inside the update's one pass */
        if (s->train.clip.norm > 0) {
            if (s->train.clip.value > 0)
                clip_by_value(t.tr.dt, t.tr.grads, t.tr.nparam, s->train.clip.value);
            clip_by_norm(t.tr.dt, t.tr.grads, t.tr.nparam, s->train.clip.norm);
            optim_step(&t.opt, t.tr.params, t.tr.grads);
        } else {
            optim_step_clip(&t.opt, t.tr.params, t.tr.grads, s->train.clip.value);
        }
        if (step == start + 1)
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
        /* timed checkpoints: a killed run loses at most `minutes` of work;
         * saving reads the state, never changes it, so the run's bits do
         * not depend on when they fall */
        int64_t every = s->train.checkpoint.every;
        double mins = s->train.checkpoint.minutes;
        bool due =
            (every > 0 && step % every == 0) || (mins > 0 && now_s() - last_save >= mins * 60);
        if (due && step < steps) {
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
                .final = step == steps || (o->stop && *o->stop),
            };
            o->progress(o->ctx, &p);
        }
    }
    r->seconds = now_s() - t0;
    /* A failed step leaves the state between steps (the cursor has moved
     * on), so only a clean stop writes the final checkpoint; after a
     * failure the last periodic one is the last good state. */
    if (!rc && r->steps_done > start)
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
        if (params_dir)
            rc = net_load_params_npy(n, params_dir, e);
        else
            net_init_params(n, s->train.seed, s->model.init.std);
    }
    free(in);
    free(tg);
    return rc;
}
