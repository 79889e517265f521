/*
 * cmd_predict.c - unroll predict CKPT --data FILE [--top K] [--format
 * tsv|json] [--out DIR]: a stored model on new data (train/predict.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/outfile.h"
#include "cli/cli.h"
#include "store/json.h"
#include "store/npy.h"
#include "train/predict.h"

static const char help[] =
    "usage: unroll predict [RUN|CKPT] --data FILE [--top K] [--format tsv|json]\n"
    "                      [--out DIR] [--db FILE]\n"
    "\n"
    "Applies a stored model to new data in its run's format. CKPT is a checkpoint\n"
    "id, a tag, RUN@STEP, RUN@best (lowest valid_loss, else loss) or a run name.\n"
    "\n"
    "classify  FILE has one sequence per line, optionally followed by <TAB>label;\n"
    "          prints input<TAB>label<TAB>probability per line, and with --top K\n"
    "          the next K-1 classes as further label<TAB>probability pairs\n"
    "text      prints, per line of FILE, the line, its loss in nats per character\n"
    "          (scored from a zero state), and the K (default 3) most likely\n"
    "          next characters with their probabilities\n"
    "npy       FILE is a directory with inputs.npy (and lengths.npy); --out DIR\n"
    "          writes DIR/outputs.npy: [N, T, O] per step, or [N, O] for a\n"
    "          last_step model (probabilities for softmax and sigmoid outputs)\n"
    "\n"
    "  --format json   one object per line: {\"input\": ..., \"top\": [{\"label\": ...,\n"
    "                  \"p\": ...}, ...]} (text runs add \"loss\")\n"
    "\n"
    "Characters outside the run's vocabulary map to its unknown id, or, where\n"
    "it has none, are refused with one line naming the first and its position.\n"
    "\n"
    "examples:\n"
    "  unroll predict words@best --data new_words.txt --top 3\n"
    "  unroll predict parity --data data/parity --out preds\n";

typedef struct pctx {
    int64_t top;
    int json, text;
    const char *const *names; /* classify: class names; NULL: the vocabulary's */
    const text_vocab *v;
    int64_t O, labelled, right;
    int32_t *order;
} pctx;

/* A next character as printed in a TSV cell: tab and newline escaped. */
static const char *shown(const pctx *c, int64_t k)
{
    if (c->names)
        return c->names[k];
    const char *u = text_vocab_utf8(c->v, (int32_t)k);
    return !strcmp(u, "\n") ? "\\n" : !strcmp(u, "\t") ? "\\t" : u;
}

static int print_item(void *ctx, const predict_item *it, uerr *e)
{
    (void)e;
    pctx *c = ctx;
    /* the top K by probability, ties to the lower index: a partial selection */
    for (int64_t k = 0; k < c->top; k++) {
        int32_t best = -1;
        for (int64_t j = 0; j < c->O; j++) {
            int taken = 0;
            for (int64_t q = 0; q < k && !taken; q++)
                taken = c->order[q] == j;
            if (!taken && (best < 0 || it->p[j] > it->p[best]))
                best = (int32_t)j;
        }
        c->order[k] = best;
    }
    if (it->label) {
        c->labelled++;
        c->right += it->label_id >= 0 && c->order[0] == it->label_id;
    }
    if (c->json) {
        fputs("{\"input\": ", stdout);
        json_write_string(stdout, it->input);
        if (c->text) {
            fputs(", \"loss\": ", stdout);
            json_write_number(stdout, it->loss);
        }
        fputs(", \"top\": [", stdout);
        for (int64_t k = 0; k < c->top; k++) {
            fputs(k ? ", {\"label\": " : "{\"label\": ", stdout);
            json_write_string(stdout, c->names ? c->names[c->order[k]]
                                               : text_vocab_utf8(c->v, c->order[k]));
            printf(", \"p\": %.6g}", it->p[c->order[k]]);
        }
        fputs("]}\n", stdout);
        return 0;
    }
    fputs(it->input, stdout);
    if (c->text)
        printf("\t%.4f", it->loss);
    for (int64_t k = 0; k < c->top; k++)
        printf("\t%s\t%.6g", shown(c, c->order[k]), it->p[c->order[k]]);
    putchar('\n');
    return 0;
}

static int write_outputs(session *s, const char *data, const char *out, uerr *e)
{
    void *y = NULL;
    dtype dt;
    shape sh;
    int rc = predict_npy(s, data, &y, &dt, &sh, e);
    char path[4200];
    snprintf(path, sizeof path, "%s/outputs.npy", out);
    if (!rc)
        rc = outfile_mkdir_p(out, e);
    if (!rc)
        rc = npy_write(path, dt, &sh, y, e);
    free(y);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    cli_common c = {0};
    const char *ref = NULL, *data = NULL, *top_s = NULL, *format = NULL, *out = NULL;
    const cli_opt opts[] = {{"--data", &data, NULL},
                            {"--top", &top_s, NULL},
                            {"--format", &format, NULL},
                            {"--out", &out, NULL},
                            {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, "predict", help, &c, opts, &ref, 1);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (!data)
        return cli_usage("predict: which data? (--data FILE)");
    if (format && strcmp(format, "tsv") && strcmp(format, "json"))
        return cli_usage("predict: --format: expected tsv or json, found '%s'", format);
    long long top = 0;
    if (top_s && cli_int("--top", top_s, 1, 1000000, &top))
        return UERR_USAGE;
    uerr e = {0};
    store *db = NULL;
    if (store_open(&db, cli_db_path(&c, NULL), STORE_READ_UPGRADE, &e))
        return cli_fail(&e);
    session s;
    int rc = session_open(&s, db, ref, 0, &e);
    store_close(db);
    if (rc)
        return cli_fail(&e);
    int npy = s.mc.s.data.kind == SPEC_DATA_NPY;
    if (npy != (out != NULL))
        rc = uerr_set(&e, UERR_USER,
                      npy ? "predict: run '%s' reads npy arrays: --out DIR writes outputs.npy"
                          : "predict: --out DIR is for npy runs; run '%s' prints its "
                            "predictions",
                      s.mc.run.name);
    if (!rc && npy)
        rc = write_outputs(&s, data, out, &e);
    if (!rc && !npy) {
        pctx pc = {.json = format && !strcmp(format, "json"),
                   .text = s.mc.s.data.kind == SPEC_DATA_TEXT,
                   .names = (const char *const *)s.classes,
                   .v = &s.mc.vocab,
                   .O = session_outputs(&s)};
        pc.top = top ? top : pc.text ? 3 : 1;
        pc.top = pc.top < pc.O ? pc.top : pc.O;
        pc.order = malloc((size_t)pc.top * sizeof(int32_t));
        rc = pc.order ? predict_lines(&s, data, print_item, &pc, &e)
                      : uerr_set(&e, UERR_INTERNAL, "out of memory");
        free(pc.order);
        if (!rc && pc.labelled && !c.quiet)
            fprintf(stderr, "[run '%s', step %lld: %lld labelled sequences, accuracy %.2f%%]\n",
                    s.mc.run.name, (long long)s.mc.ck.step, (long long)pc.labelled,
                    100.0 * (double)pc.right / (double)pc.labelled);
    }
    session_close(&s);
    return rc ? cli_fail(&e) : 0;
}
