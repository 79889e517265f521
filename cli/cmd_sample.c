/*
 * cmd_sample.c - unroll sample [RUN|CKPT] [--db FILE] [--length N]
 *                [--temperature X] [--top-k K] [--top-p P] [--prime TEXT]
 *                [--seed S] [--interactive]
 *
 * The model is rebuilt from the config text stored with the run, the
 * vocabulary from the run's code points, the weights from the checkpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "train/session.h"

static const char help[] =
    "usage: unroll sample [RUN|CKPT] [--db FILE] [--length N] [--temperature X]\n"
    "                     [--top-k K] [--top-p P] [--prime TEXT] [--seed S]\n"
    "                     [--interactive]\n"
    "\n"
    "Generates text from a stored checkpoint. CKPT is a checkpoint id, a tag,\n"
    "RUN@STEP, RUN@best (lowest valid_loss, else loss), or a run name (its latest\n"
    "checkpoint); without one, the latest checkpoint in the database. Defaults\n"
    "come from the run's config (sample.*).\n"
    "\n"
    "Each character is drawn from softmax(logits / X). --temperature 0 is greedy:\n"
    "always the most likely character (the first of ties), no random draw.\n"
    "--top-k K draws from the K most likely only; --top-p P (0 < P <= 1) from\n"
    "the fewest most likely whose probabilities sum to at least P (the nucleus),\n"
    "within the top K when both are given. The same seed gives the same text.\n"
    "\n"
    "--interactive reads lines from standard input (a terminal or a pipe) and\n"
    "answers each with N generated characters and a newline. The model's state\n"
    "and the random stream carry on from line to line: each line is fed (without\n"
    "its newline) after the text before it, prime and answers included, so the\n"
    "answers continue one text; an empty line asks for more. --prime is fed once,\n"
    "first, and not printed. A line with a character the model cannot read is\n"
    "refused with one line on standard error and the session goes on (exit 1 at\n"
    "the end); end of input (Ctrl-D) ends the session.\n"
    "\n"
    "example:\n"
    "  unroll sample elman_char --length 300 --temperature 0.7 --prime 'Why '\n"
    "  unroll sample elman_char --top-p 0.9 --seed 7\n"
    "  printf 'Why \\nAnd \\n' | unroll sample elman_char --interactive --length 80\n";

/* A number in [lo, hi], or (lo, hi] with lo_open; else a one-line usage
 * error naming the option. */
static int real_in(const char *opt, const char *s, double lo, int lo_open, double hi,
                   const char *want, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(lo_open ? v > lo : v >= lo) || !(v <= hi))
        return cli_usage("%s: expected %s, found '%s'", opt, want, s);
    *out = v;
    return 0;
}

/* --interactive: each line of standard input fed, then o->length
 * characters drawn and printed, the state carried from line to line. */
static int sample_interactive(const model_ckpt *m, const sample_opts *o, const cli_common *c)
{
    uerr e = {0};
    sample_stream ss;
    if (sample_stream_open(&ss, &m->s, &m->vocab, m->params, m->nparams, o, &e) ||
        sample_stream_feed(&ss, o->prime, strlen(o->prime), &e))
        return cli_fail(&e);
    int tty = isatty(STDIN_FILENO) && !c->quiet, refused = 0, rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long lineno = 0;
    for (;;) {
        if (tty)
            fputs("> ", stderr);
        if ((n = getline(&line, &cap, stdin)) < 0)
            break;
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *out;
        uerr le = {0};
        if (sample_stream_feed(&ss, line, (size_t)n, &le)) {
            /* a line the model cannot read: said, and the session goes on */
            if (le.code != UERR_USER) {
                rc = cli_fail(&le);
                break;
            }
            uerr_prefix(&le, "line %lld", lineno);
            cli_fail(&le);
            refused = 1;
            continue;
        }
        if (sample_stream_gen(&ss, o->length, &out, &e)) {
            rc = cli_fail(&e);
            break;
        }
        if (printf("%s\n", out) < 0 || fflush(stdout)) {
            uerr_set(&e, UERR_USER, "standard output: %s", strerror(errno));
            rc = cli_fail(&e);
            break;
        }
    }
    if (!rc && ferror(stdin)) {
        uerr_set(&e, UERR_INTERNAL, "standard input: %s", strerror(errno));
        rc = cli_fail(&e);
    }
    if (tty && !rc)
        fputc('\n', stderr);
    free(line);
    sample_stream_free(&ss);
    return rc ? rc : refused ? UERR_USER : 0;
}

int cmd_sample(int argc, char **argv)
{
    cli_common c = {0};
    const char *ref = NULL, *len_s = NULL, *temp_s = NULL, *prime = NULL, *seed_s = NULL;
    const char *topk_s = NULL, *topp_s = NULL;
    int interactive = 0;
    const cli_opt opts[] = {{"--length", &len_s, NULL},
                            {"--temperature", &temp_s, NULL},
                            {"--prime", &prime, NULL},
                            {"--seed", &seed_s, NULL},
                            {"--top-k", &topk_s, NULL},
                            {"--top-p", &topp_s, NULL},
                            {"--interactive", NULL, &interactive},
                            {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, "sample", help, &c, opts, &ref, 1);
    if (pr)
        return pr < 0 ? 0 : pr;
    uerr e = {0};
    store *db = NULL;
    const char *dbpath = cli_db_path(&c, NULL);
    if (store_open(&db, dbpath, STORE_READ_UPGRADE, &e))
        return cli_fail(&e);
    model_ckpt m;
    char *out = NULL;
    int rc = model_ckpt_load(db, ref, &m, &e);
    if (!rc)
        rc = session_text_only(&m, &e);
    if (rc)
        goto out;
    sample_opts so = {.length = m.s.sample.length,
                      .temperature = m.s.sample.temperature,
                      .prime = prime ? prime : m.s.sample.prime,
                      .seed = m.s.sample.seed};
    long long ll;
    if (len_s && cli_int("--length", len_s, 1, 100000000, &ll)) {
        rc = UERR_USAGE;
        goto out_quiet;
    }
    if (len_s)
        so.length = ll;
    if (seed_s && cli_int("--seed", seed_s, 0, INT64_MAX, &ll)) {
        rc = UERR_USAGE;
        goto out_quiet;
    }
    if (seed_s)
        so.seed = (uint64_t)ll;
    if ((temp_s && real_in("--temperature", temp_s, 0, 0, 1e6,
                           "0 (greedy) or a number above 0 and at most 1e6", &so.temperature)) ||
        (topp_s &&
         real_in("--top-p", topp_s, 0, 1, 1, "a number above 0 and at most 1", &so.top_p))) {
        rc = UERR_USAGE;
        goto out_quiet;
    }
    if (topk_s && cli_int("--top-k", topk_s, 1, INT32_MAX, &ll)) {
        rc = UERR_USAGE;
        goto out_quiet;
    }
    if (topk_s)
        so.top_k = ll;
    if (interactive) {
        rc = sample_interactive(&m, &so, &c);
        goto out_quiet;
    }
    double cps_rate = 0;
    if ((rc = sample_text(&m.s, &m.vocab, m.params, m.nparams, &so, &out, &cps_rate, &e)))
        goto out;
    printf("%s\n", out);
    if (!c.quiet)
        fprintf(stderr, "[run '%s', step %lld, %lld characters at %.0f chars/s]\n", m.run.name,
                (long long)m.ck.step, (long long)so.length, cps_rate);
out:
    if (rc)
        cli_fail(&e);
out_quiet:
    free(out);
    model_ckpt_free(&m);
    store_close(db);
    return rc;
}
