/*
 * cmd_sample.c - unroll sample [RUN|CKPT] [--db FILE] [--length N]
 *                [--temperature X] [--prime TEXT] [--seed S]
 *
 * The model is rebuilt from the config text stored with the run, the
 * vocabulary from the run's code points, the weights from the checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/session.h"

static const char help[] =
    "usage: unroll sample [RUN|CKPT] [--db FILE] [--length N] [--temperature X]\n"
    "                     [--prime TEXT] [--seed S]\n"
    "\n"
    "Generates text from a stored checkpoint. CKPT is a checkpoint id, a tag,\n"
    "RUN@STEP, RUN@best (lowest valid_loss, else loss), or a run name (its latest\n"
    "checkpoint); without one, the latest checkpoint in the database. Defaults\n"
    "come from the run's config (sample.*).\n"
    "\n"
    "example:\n"
    "  unroll sample elman_char --length 300 --temperature 0.7 --prime 'Why '\n";

int cmd_sample(int argc, char **argv)
{
    cli_common c = {0};
    const char *ref = NULL, *len_s = NULL, *temp_s = NULL, *prime = NULL, *seed_s = NULL;
    const cli_opt opts[] = {{"--length", &len_s, NULL},  {"--temperature", &temp_s, NULL},
                            {"--prime", &prime, NULL},   {"--seed", &seed_s, NULL},
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
    sample_opts so = {.length = m.s.sample.length, .temperature = m.s.sample.temperature,
                      .prime = prime ? prime : m.s.sample.prime, .seed = m.s.sample.seed};
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
    if (temp_s && cli_real("--temperature", temp_s, &so.temperature)) {
        rc = UERR_USAGE;
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
