/*
 * main.c - the unroll command: dispatch to a subcommand. Each subcommand
 * parses its own flags and calls the library; nothing here computes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/version.h"
#include "cli/cli.h"
#include "kernels/cpu.h"
#include "train/dist.h"

static const char usage[] =
    "unroll - train recurrent networks from YAML, differentiated symbolically\n"
    "\n"
    "usage: unroll [--color=WHEN] COMMAND [ARGS]   (unroll COMMAND --help for its options)\n"
    "\n"
    "commands:\n"
    "  train CONFIG       train a model; every run and checkpoint goes into SQLite\n"
    "  sample [RUN|CKPT]  generate text from a stored checkpoint\n"
    "  eval [RUN|CKPT]    loss, bits/char, accuracy of a stored model on a text\n"
    "  predict [RUN|CKPT] --data FILE   a stored model on new data: classes,\n"
    "                     next characters, or outputs.npy\n"
    "  grad CONFIG        one forward/backward pass; writes .npy gradients\n"
    "  gradcheck CONFIG   build_grad against central differences (float64)\n"
    "  graph CONFIG       Graphviz DOT of the unrolled (and backward) graph\n"
    "  train --resume RUN continue a stored run exactly where it stopped\n"
    "  runs list|show|metrics|rm|rename|plot   stored runs (--csv, --json)\n"
    "  ckpt list|log|show|best|diff|tag|prune|verify|export|import   checkpoints\n"
    "  query \"SELECT ...\"  read-only SQL on the store\n"
    "  config show CONFIG the resolved config with every default\n"
    "  doctor             the CPU's features, caches, threads and OpenBLAS's kernels\n"
    "\n"
    "examples:\n"
    "  unroll train configs/elman_char.yaml --set train.steps=500\n"
    "  unroll sample elman_char --length 300 --temperature 0.8 --prime 'The '\n"
    "  unroll gradcheck configs/min_char_rnn.yaml --set model.hidden=8\n"
    "\n"
    "options (before or after COMMAND):\n"
    "  --color=WHEN       auto (default): colour on a terminal, unless NO_COLOR is set\n"
    "                     and not empty or TERM is dumb; always; never\n"
    "\n"
    "environment:\n"
    "  NO_COLOR           any non-empty value: no colour (--color=always still colours)\n"
    "  UNROLL_GRAPH_LIMIT most bytes for a graph's nodes and, apart, for a plan's\n"
    "                     activations and gradients (e.g. 512M); past it a command\n"
    "                     fails with one line and status 1\n"
    "\n"
    "exit status: 0 ok, 1 bad input, 2 usage, 3 internal error; train stopped by\n"
    "Ctrl-C (SIGINT): 130, SIGTERM: 143, SIGHUP: 129, after writing a checkpoint\n";

int main(int argc, char **argv)
{
    /* A file past ulimit -f fails its write (EFBIG, a one-line error
     * naming it) instead of killing the process mid-checkpoint. */
    signal(SIGXFSZ, SIG_IGN);
    store_init_process();
    /* global options before the command */
    while (argc > 1 && !strncmp(argv[1], "--color", 7) && (argv[1][7] == '=' || !argv[1][7])) {
        int i = 1;
        const char *v;
        if (cli_value(argc, argv, &i, "--color", &v) < 0 || cli_color_opt(v))
            return UERR_USAGE;
        argc -= i; /* argv[0] now is the option: only argv[1..] is read */
        argv += i;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? UERR_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("unroll %s (data-parallel MPI: %s)\n", UNROLL_VERSION,
               dist_available() ? "built in" : "not built in");
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"train", cmd_train},     {"sample", cmd_sample}, {"eval", cmd_eval},
        {"predict", cmd_predict}, {"grad", cmd_grad},     {"gradcheck", cmd_gradcheck},
        {"graph", cmd_graph},     {"runs", cmd_runs},     {"config", cmd_config},
        {"ckpt", cmd_ckpt},       {"query", cmd_query},   {"doctor", cmd_doctor},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        if (strcmp(argv[1], cmds[i].name))
            continue;
        /* a bad UNROLL_ISA or UNROLL_THREADS is the user's to fix;
         * doctor reports it among what it finds */
        uerr e = {0};
        if (strcmp(argv[1], "doctor") && cpu_init(&e))
            return cli_fail(&e);
        int rc = cmds[i].fn(argc - 1, argv + 1);
        /* output that never arrived (a full disk, /dev/full) is a failure
         * for every command, whether or not it checked its own writes */
        int bad = ferror(stdout), err = bad ? EIO : 0;
        if (fflush(stdout) != 0 && !bad)
            bad = 1, err = errno;
        if (rc == 0 && bad) {
            fprintf(stderr, "unroll: standard output: write failed: %s\n", strerror(err));
            return UERR_USER;
        }
        return rc;
    }
    return cli_usage("unknown command '%s'", argv[1]);
}
