/*
 * run_store.c - a training run's record in the store: a new run or a
 * resumed session (its config, data hash, vocabulary, program), the
 * parameters a --from run starts with, and the tag of an early-stopping
 * run's best checkpoint. See trainer.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/version.h"
#include "kernels/cpu.h"
#include "train/blascheck.h"
#include "train/text.h"
#include "train/trainer.h"

/* The config as this process trains it, --set overrides and defaults
 * included, with the schedule's length written out: "train.steps as the
 * run began" must still mean that after a resume sets a new train.steps. */
static int resolved_config(const trainer *t, char **text, uerr *e)
{
    spec s = *t->s; /* a shallow copy: written, never freed */
    size_t len = 0;
    s.train.lr_schedule.steps = t->horizon;
    *text = NULL;
    FILE *mf = open_memstream(text, &len);
    if (!mf || spec_write_yaml(&s, mf) || fclose(mf)) {
        free(*text);
        *text = NULL;
        return uerr_set(e, UERR_INTERNAL, "out of memory writing the resolved config");
    }
    return 0;
}

int trainer_load_from(trainer *t, const store_loaded *l, train_result *r, uerr *e)
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
int trainer_resume_run(trainer *t, train_result *r, uerr *e)
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
     * overrides (a new train.steps, rate or schedule), resolved as
     * trainer_begin_run records it. */
    char *resolved = NULL;
    if (!rc)
        rc = resolved_config(t, &resolved, e);
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

int trainer_begin_run(trainer *t, train_result *r, uerr *e)
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
    if (!rc && (rc = resolved_config(t, &resolved, e))) {
        free(cps);
        return rc;
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

void trainer_tag_best(trainer *t, int64_t ckpt, train_result *r)
{
    char tag[300];
    uerr e = {0};
    snprintf(tag, sizeof tag, "%s.best", r->run_name);
    if (store_checkpoint_retag(t->o->db, t->run, ckpt, tag, &e) && !r->warning[0])
        snprintf(r->warning, sizeof r->warning,
                 "the best checkpoint (%lld) is not tagged: %.300s (RUN@best finds it)",
                 (long long)ckpt, e.msg);
}
