/*
 * cli.h - what the subcommands share: option parsing, the one place that
 * turns an error record into a message and an exit status, and opening
 * the config and the store as every command does.
 *
 * Exit statuses: 0 ok, 1 user error (bad config, data, arguments' values),
 * 2 usage (unknown command or option), 3 internal (a bug, I/O, memory).
 */
#ifndef UNROLL_CLI_H
#define UNROLL_CLI_H

#include "graph/err.h"
#include "models/spec.h"
#include "store/store.h"

#define CLI_MAX_SETS 64

typedef struct cli_common {
    const char *config;
    const char *sets[CLI_MAX_SETS];
    int nsets;
    const char *db;
    int quiet;
} cli_common;

/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 and
 * sets *val (advancing *i past a separate value), 0 if it is another
 * option, -1 (message printed) if the value is missing. */
int cli_value(int argc, char **argv, int *i, const char *name, const char **val);

/* The options every config-taking command accepts: --set, --db, --quiet. */
int cli_common_opt(int argc, char **argv, int *i, cli_common *c);

/* Prints "unroll: MESSAGE" and returns the exit status for e. */
int cli_fail(const uerr *e);
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses an integer/real option value, or prints a usage error. */
int cli_int(const char *opt, const char *s, long long lo, long long hi, long long *out);
int cli_real(const char *opt, const char *s, double *out);

/* --db, else the config's train.checkpoint.db, else unroll.db. */
const char *cli_db_path(const cli_common *c, const spec *s);

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_config(int argc, char **argv);

#endif
