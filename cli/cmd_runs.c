/*
 * cmd_runs.c - queries of stored runs (unroll runs list | metrics) and
 * unroll config show.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char runs_help[] =
    "usage: unroll runs list [--db FILE] [--csv]\n"
    "       unroll runs metrics RUN [--db FILE] [--csv]\n"
    "\n"
    "list: every run with its status, last checkpoint and last loss.\n"
    "metrics: every logged value of RUN (a name or id) as step,name,value rows;\n"
    "each training step's loss is there under the name 'loss'.\n"
    "\n"
    "example:\n"
    "  unroll runs metrics elman_char --csv > curve.csv\n";

int cmd_runs(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("runs: list or metrics?");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(runs_help, stdout);
        return 0;
    }
    const char *sub = argv[1], *run = NULL;
    cli_common c = {0};
    int csv = 0;
    for (int i = 2; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, &c);
        if (r < 0)
            return UERR_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--csv")) {
            csv = 1;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(runs_help, stdout);
            return 0;
        }
        if (argv[i][0] == '-')
            return cli_usage("runs %s: unknown option '%s'", sub, argv[i]);
        run = argv[i];
    }
    int is_list = !strcmp(sub, "list"), is_metrics = !strcmp(sub, "metrics");
    if (!is_list && !is_metrics)
        return cli_usage("runs: unknown subcommand '%s' (list, metrics)", sub);
    if (is_metrics && !run)
        return cli_usage("runs metrics: which run? (unroll runs metrics RUN)");
    uerr e = {0};
    store *db = NULL;
    if (store_open(&db, c.db ? c.db : "unroll.db", 1, &e))
        return cli_fail(&e);
    int rc;
    if (is_list) {
        rc = store_runs_list(db, stdout, csv, &e);
    } else {
        int64_t id;
        rc = store_run_resolve(db, run, &id, &e);
        /* the table form is the CSV too: one row per value is already tabular */
        if (!rc)
            rc = store_metrics_csv(db, id, stdout, &e);
    }
    store_close(db);
    return rc ? cli_fail(&e) : 0;
}

static const char config_help[] =
    "usage: unroll config show CONFIG [--set KEY=VALUE]...\n"
    "\n"
    "Prints the resolved config: every key with its value or default, as YAML\n"
    "that unroll reads back.\n";

int cmd_config(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(config_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? UERR_USAGE : 0;
    }
    if (strcmp(argv[1], "show"))
        return cli_usage("config: unknown subcommand '%s' (show)", argv[1]);
    cli_common c = {0};
    for (int i = 2; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, &c);
        if (r < 0)
            return UERR_USAGE;
        if (r > 0)
            continue;
        if (argv[i][0] == '-')
            return cli_usage("config show: unknown option '%s'", argv[i]);
        c.config = argv[i];
    }
    if (!c.config)
        return cli_usage("config show: which config?");
    uerr e = {0};
    spec s;
    if (spec_load(&s, c.config, c.sets, c.nsets, &e))
        return cli_fail(&e);
    int rc = spec_write_yaml(&s, stdout);
    spec_free(&s);
    if (rc)
        return cli_fail(&(uerr){UERR_USER, "writing the config failed"});
    return 0;
}
