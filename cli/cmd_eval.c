/*
 * cmd_eval.c - unroll eval CKPT [--data FILE] [--free-running] [--db FILE]:
 * the loss, bits per character, perplexity and next-character accuracy of
 * a stored character model on a text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/model_ckpt.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/predict.h"
#include "train/train.h"

static const char help[] =
    "usage: unroll eval [RUN|CKPT] [--data FILE] [--free-running] [--db FILE]\n"
    "\n"
    "Scores a stored model: for text, the loss per character, bits per\n"
    "character, perplexity, and how often the most probable next character is\n"
    "right; for npy data, the loss and accuracy per target. FILE (a text file,\n"
    "or an npy directory) defaults to the run's data.path: the part the run\n"
    "held out for validation, when it held one out.\n"
    "\n"
    "  --free-running   feed the model its own previous prediction where it reads\n"
    "                   y[t-1] (output-to-hidden models), instead of the true\n"
    "                   previous character (teacher forcing)\n"
    "\n"
    "example:\n"
    "  unroll eval jordan_char --free-running\n";

typedef struct cls_sum {
    const char *path, *run;
    double loss;
    int64_t n, right;
} cls_sum;

/* Each line of a new classify file needs a label that is one of the run's
 * classes: that is what is scored. */
static int add_line(void *ctx, const predict_item *it, uerr *e)
{
    cls_sum *c = ctx;
    if (!it->label)
        return uerr_set(e, UERR_USER, "%s:%lld: expected 'sequence<TAB>label'", c->path,
                        (long long)it->line);
    if (it->label_id < 0)
        return uerr_set(e, UERR_USER, "%s:%lld: label '%s' is not a class of run '%s'", c->path,
                        (long long)it->line, it->label, c->run);
    c->loss += it->loss;
    c->n++;
    c->right += it->best == it->label_id;
    return 0;
}

static int eval_cls_file(store *db, const char *ref, const char *path, double *loss, double *acc,
                         int64_t *n, uerr *e)
{
    session s;
    int rc = session_open(&s, db, ref, 0, e);
    if (rc)
        return rc;
    cls_sum c = {.path = path, .run = s.mc.run.name};
    rc = predict_lines(&s, path, add_line, &c, e);
    if (!rc && !c.n)
        rc = uerr_set(e, UERR_USER, "%s: no sequences", path);
    if (!rc) {
        *loss = c.loss / (double)c.n;
        *acc = (double)c.right / (double)c.n;
        *n = c.n;
    }
    session_close(&s);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    cli_common c = {0};
    const char *ref = NULL, *data = NULL;
    int free_running = 0;
    const cli_opt opts[] = {
        {"--data", &data, NULL}, {"--free-running", NULL, &free_running}, {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, "eval", help, &c, opts, &ref, 1);
    if (pr)
        return pr < 0 ? 0 : pr;
    uerr e = {0};
    store *db = NULL;
    if (store_open(&db, cli_db_path(&c, NULL), STORE_READ_UPGRADE, &e))
        return cli_fail(&e);
    model_ckpt m;
    uint32_t *cp = NULL;
    int64_t n = 0;
    int rc = model_ckpt_load(db, ref, &m, &e);
    if (!rc && free_running)
        rc = eval_free_running_check(&m.s, &e);
    /* without --data the run's own file is scored as its held-out part */
    if (!rc && !data)
        rc = data_check_hash(&m.s, &m.run, &e);
    if (!rc && m.s.data.kind == SPEC_DATA_CLASSIFY) {
        /* the held-out split of the run's own file: the class names are
         * the file's sorted labels, and the run stores only its code points */
        double loss = 0, acc = 0;
        int64_t n_ex = 0;
        if (data)
            rc = eval_cls_file(db, ref, data, &loss, &acc, &n_ex, &e);
        else
            rc = train_evaluate(&m.s, m.params, m.nparams, &loss, &acc, &n_ex, &e);
        if (!rc)
            printf("run '%s' step %lld: %lld %s sequences, loss %.4f/sequence, accuracy "
                   "%.2f%%\n",
                   m.run.name, (long long)m.ck.step, (long long)n_ex,
                   data ? "labelled" : "held-out", loss, 100 * acc);
        model_ckpt_free(&m);
        store_close(db);
        return rc ? cli_fail(&e) : 0;
    }
    if (!rc && m.s.data.kind == SPEC_DATA_NPY) {
        /* the same held-out split as training: same directory, same seed */
        npy_set set;
        eval_result r;
        if (!(rc = npyset_load(data ? data : m.s.data.path, data ? 0 : m.s.data.valid_fraction,
                               m.s.train.seed, m.s.train.dtype, &set, &e))) {
            rc = eval_npy(&m.s, m.params, m.nparams, &set, free_running, &r, &e);
            npyset_free(&set);
        }
        if (!rc && isnan(r.accuracy))
            printf("run '%s' step %lld%s: %lld targets, loss %.6f/target\n", m.run.name,
                   (long long)m.ck.step, free_running ? ", free-running" : "", (long long)r.chars,
                   r.loss);
        else if (!rc)
            printf("run '%s' step %lld%s: %lld targets, loss %.4f/target, accuracy %.2f%%\n",
                   m.run.name, (long long)m.ck.step, free_running ? ", free-running" : "",
                   (long long)r.chars, r.loss, 100 * r.accuracy);
        model_ckpt_free(&m);
        store_close(db);
        return rc ? cli_fail(&e) : 0;
    }
    if (!rc)
        rc = text_read_file(data ? data : m.s.data.path, m.s.data.max_bytes, &cp, &n, &e);
    /* without --data: the tail training held out, split as training did */
    int64_t from = !data ? n - (int64_t)(m.s.data.valid_fraction * (double)n) : 0;
    if (from == n)
        from = 0;
    eval_result r;
    if (!rc)
        rc = eval_text(&m.s, &m.vocab, m.params, m.nparams, cp + from, n - from, free_running, &r,
                       &e);
    if (!rc)
        printf("run '%s' step %lld%s: %lld characters, loss %.4f/char (%.3f bits/char), "
               "perplexity %.2f, next-character accuracy %.1f%%\n",
               m.run.name, (long long)m.ck.step, free_running ? ", free-running" : "",
               (long long)r.chars, r.loss, r.loss / log(2.0), exp(r.loss), 100 * r.accuracy);
    free(cp);
    model_ckpt_free(&m);
    store_close(db);
    return rc ? cli_fail(&e) : 0;
}
