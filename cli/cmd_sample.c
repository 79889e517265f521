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
#include "models/model.h"
#include "train/sample.h"

static const char help[] =
    "usage: unroll sample [RUN|CKPT] [--db FILE] [--length N] [--temperature X]\n"
    "                     [--prime TEXT] [--seed S]\n"
    "\n"
    "Generates text from a stored checkpoint. CKPT is a checkpoint id, a tag,\n"
    "RUN@STEP, or a run name (its latest checkpoint); without one, the latest\n"
    "checkpoint in the database. Defaults come from the run's config (sample.*).\n"
    "\n"
    "example:\n"
    "  unroll sample elman_char --length 300 --temperature 0.7 --prime 'Why '\n";

int cmd_sample(int argc, char **argv)
{
    cli_common c = {0};
    const char *ref = NULL, *len_s = NULL, *temp_s = NULL, *prime = NULL, *seed_s = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, &c);
        if (r < 0)
            return UERR_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if ((r = cli_value(argc, argv, &i, "--length", &len_s)) != 0 ||
            (r = cli_value(argc, argv, &i, "--temperature", &temp_s)) != 0 ||
            (r = cli_value(argc, argv, &i, "--prime", &prime)) != 0 ||
            (r = cli_value(argc, argv, &i, "--seed", &seed_s)) != 0) {
            if (r < 0)
                return UERR_USAGE;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_usage("sample: unknown option '%s'", argv[i]);
        if (ref)
            return cli_usage("sample: more than one checkpoint ('%s', '%s')", ref, argv[i]);
        ref = argv[i];
    }
    uerr e = {0};
    store *db = NULL;
    const char *dbpath = c.db ? c.db : "unroll.db";
    if (store_open(&db, dbpath, 1, &e))
        return cli_fail(&e);
    int64_t ck = 0;
    store_loaded l = {0};
    store_run run = {0};
    spec s = {0};
    text_vocab v = {0};
    char *out = NULL;
    int rc = 0;
    if (!ref) {
        rc = store_checkpoint_latest(db, &ck, &e);
    } else {
        rc = store_checkpoint_resolve(db, ref, &ck, &e);
    }
    if (rc || (rc = store_checkpoint_load(db, ck, &l, &e)) ||
        (rc = store_run_get(db, l.run, &run, &e)))
        goto out;
    char name[300];
    snprintf(name, sizeof name, "run '%s' config", run.name);
    if ((rc = spec_load_buffer(&s, name, run.config_text, strlen(run.config_text), NULL, 0, &e)))
        goto out;
    int32_t nknown = run.nvocab;
    while (nknown > 0 && run.vocab[nknown - 1] < 0)
        nknown--;
    uint32_t *cps = malloc((size_t)(nknown ? nknown : 1) * sizeof(uint32_t));
    if (!cps) {
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    for (int32_t i = 0; i < nknown; i++)
        cps[i] = (uint32_t)run.vocab[i];
    rc = text_vocab_init(&v, cps, nknown, run.nvocab > nknown, &e);
    free(cps);
    if (rc)
        goto out;
    sample_opts so = {.length = s.sample.length, .temperature = s.sample.temperature,
                      .prime = prime ? prime : s.sample.prime, .seed = s.sample.seed};
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
    sample_param ps[MODEL_MAX_PARAMS];
    int np = 0;
    for (int i = 0; i < l.n && np < MODEL_MAX_PARAMS; i++)
        if (!strcmp(l.t[i].role, "param"))
            ps[np++] = (sample_param){l.t[i].name, l.t[i].dt, l.t[i].data,
                                      shape_numel(&l.t[i].shape)};
    double cps_rate = 0;
    if ((rc = sample_text(&s, &v, ps, np, &so, &out, &cps_rate, &e)))
        goto out;
    printf("%s\n", out);
    if (!c.quiet)
        fprintf(stderr, "[run '%s', step %lld, %lld characters at %.0f chars/s]\n", run.name,
                (long long)l.step, (long long)so.length, cps_rate);
out:
    if (rc)
        cli_fail(&e);
out_quiet:
    free(out);
    text_vocab_free(&v);
    spec_free(&s);
    store_run_free(&run);
    store_loaded_free(&l);
    store_close(db);
    return rc;
}
