/*
 * cli.h - what the subcommands share: option parsing, the one place that
 * turns an error record into a message and an exit status, and opening
 * the config and the store as every command does.
 *
 * Exit statuses: 0 ok, 1 user error (bad config or data, a --set value, a
 * run or file that does not exist, a memory limit), 2 usage (unknown
 * command or option, a missing or malformed option value), 3 internal (a
 * bug, I/O, memory); 130 for train stopped by SIGINT once its checkpoint
 * is written. Colour (cli/color.h) and the progress bar (cli/progress.h)
 * have their own modules.
 */
#ifndef UNROLL_CLI_H
#define UNROLL_CLI_H

#include "base/err.h"
#include "models/spec.h"
#include "store/store.h"

#define CLI_MAX_SETS 64

typedef struct cli_common {
    const char *config;
    const char *sets[CLI_MAX_SETS];
    int nsets;
    const char *db;
    int quiet;
    int verbose;
} cli_common;

/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 and
 * sets *val (advancing *i past a separate value), 0 if it is another
 * option, -1 (message printed) if the value is missing. */
int cli_value(int argc, char **argv, int *i, const char *name, const char **val);

/* The options every command accepts after its name: --set, --db, --quiet,
 * --verbose, --color=WHEN (cli/color.h). */
int cli_common_opt(int argc, char **argv, int *i, cli_common *c);

/* A command's own option: one that takes a value (value != NULL) or a
 * flag (flag != NULL, set to 1). */
typedef struct cli_opt {
    const char *name;
    const char **value;
    int *flag;
} cli_opt;

/* What reads as an option rather than a positional argument. */
enum {
    CLI_DASH_ONE, /* "-x" and "--x"; "-" alone is an argument (stdin, a name) */
    CLI_DASH_ALL, /* anything starting with '-' */
    CLI_DASH_TWO, /* only "--x": "-x" is an argument (SQL may start with '-') */
};

/* How one command reads its arguments. Every command parses through
 * cli_parse_args, so the common options, --help, --csv/--json and the
 * messages are the same everywhere. */
typedef struct cli_args {
    const char *cmd;  /* names the command in messages: "ckpt list" */
    const char *help; /* printed for --help/-h; NULL: no --help here */
    cli_common *c;
    const cli_opt *opts; /* ended by a {NULL} entry; NULL: none */
    /* An option of opts with neither value nor flag is handed here with its
     * value; non-zero (a usage message printed) stops parsing. */
    int (*take)(void *ctx, const char *name, const char *value);
    void *ctx;
    table_form *form; /* --csv and --json are accepted when not NULL */
    int first;        /* argv index of the first argument (2 after a subcommand) */
    int dash;         /* CLI_DASH_* */
    const char **pos; /* positional arguments go here, at most npos of them */
    int npos;
    int *npos_seen;       /* how many came (may be NULL) */
    int last_wins;        /* a further argument replaces pos[0] instead */
    const char *too_many; /* format of the message for one more (%s: cmd);
                           * NULL: "%s: unexpected argument '%s'" */
} cli_args;

/* Returns 0, -1 after --help, or UERR_USAGE with a message printed. */
int cli_parse_args(int argc, char **argv, const cli_args *a);

/* cli_parse_args for a command with no subcommand, options starting with
 * '-', at most npos positional arguments. */
int cli_parse(int argc, char **argv, const char *cmd, const char *help, cli_common *c,
              const cli_opt *opts, const char **pos, int npos);

/* Prints "unroll: MESSAGE" and returns the exit status for e. */
int cli_fail(const uerr *e);
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "warning: MESSAGE" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --color=WHEN: sets the colour mode, or prints a usage error and
 * returns -1. */
int cli_color_opt(const char *when);

/* Parses an integer/real option value, or prints a usage error. */
int cli_int(const char *opt, const char *s, long long lo, long long hi, long long *out);
int cli_real(const char *opt, const char *s, double *out);

/* "unroll COMMAND ARGS..." as the store records it (argv[0] is the
 * command), cut to fit n bytes. */
void cli_command_line(int argc, char **argv, char *buf, size_t n);

/* The store every command uses when neither --db nor the config names one. */
#define CLI_DEFAULT_DB "unroll.db"

/* --db, else the config's train.checkpoint.db (s may be NULL), else
 * CLI_DEFAULT_DB. */
const char *cli_db_path(const cli_common *c, const spec *s);

/* ---- store commands (cli/store_cli.c) ---- */

/* --csv or --json: sets *form and returns 1; 0 for another argument. */
int cli_form_opt(const char *arg, table_form *form);

/* Opens --db (else unroll.db) for a store command: write 0 reads (an
 * older file is upgraded first if it can be), 1 reads and writes. */
int cli_open_store(const cli_common *c, int write, store **db, uerr *e);

/* Prints a table in the chosen form; an error is reported and returned. */
int cli_print_table(const table *t, table_form form);
/* The same for tables of runs and checkpoints: in the plain form a
 * stored loss (the step's sum over batch and time) is headed as a sum,
 * "loss_sum", "last_loss_sum"; --csv and --json keep the stored names. */
int cli_print_loss_table(table *t, table_form form);

/* A stored config as dotted keys and values ("model.hidden" = "128"),
 * resolved through the spec so that defaults and either YAML style give
 * the same pairs; list items get "[i]". */
typedef struct cli_kv {
    char *key, *value;
} cli_kv;
int cli_config_flat(const char *name, const char *config_text, cli_kv **kv, int *n, uerr *e);
void cli_kv_free(cli_kv *kv, int n);
/* Values equal as numbers when both are numbers, else as text (quotes
 * around a YAML string ignored). */
int cli_value_eq(const char *a, const char *b);

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_ckpt(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
