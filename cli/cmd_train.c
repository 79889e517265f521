/*
 * cmd_train.c - unroll train CONFIG [--set k=v]... [--params DIR]
 *               [--db FILE] [--name NAME] [--quiet]
 *
 * Progress: on a terminal one line rewritten in place; otherwise a plain
 * line every train.log_every steps. SIGINT stops after the current step
 * and writes a final checkpoint.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "train/train.h"

static const char help[] =
    "usage: unroll train CONFIG [--set KEY=VALUE]... [--params DIR] [--db FILE]\n"
    "                    [--name NAME] [--quiet]\n"
    "\n"
    "Trains the model CONFIG describes. Every step's loss, the config, the\n"
    "vocabulary and the checkpoints are stored in the database: --db FILE, else\n"
    "the config's train.checkpoint.db, else unroll.db.\n"
    "\n"
    "  --set KEY=VALUE   override any config key (repeatable)\n"
    "  --params DIR      initial parameters from DIR/<name>.npy\n"
    "  --name NAME       the run's name (default: the config's name, made unique)\n"
    "  --quiet           no progress output\n"
    "\n"
    "example:\n"
    "  unroll train configs/elman_char.yaml --set train.steps=300 --name quick\n";

static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}

typedef struct progress_ctx {
    int tty, quiet;
    int64_t log_every;
    double last_print;
    double sum;        /* per-token losses since the last line */
    int64_t n;
    int classify;      /* labelled data: losses per unit, accuracy */
    const char *unit;
} progress_ctx;

static void fmt_time(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void on_progress(void *ctx, const train_progress *p)
{
    progress_ctx *c = ctx;
    if (c->quiet)
        return;
    /* one chunk's loss is noisy: show the mean since the last line */
    c->sum += p->loss / p->tokens;
    c->n++;
    int due = p->step % c->log_every == 0 || p->step == p->steps || !isnan(p->valid_loss);
    if (c->tty && !due && p->elapsed_s - c->last_print < 0.1)
        return;
    if (!c->tty && !due)
        return;
    c->last_print = p->elapsed_s;
    double per_tok = c->sum / (double)c->n;
    if (due) {
        c->sum = 0;
        c->n = 0;
    }
    char eta[32], valid[96] = "", loss[96];
    fmt_time(p->eta_s, eta, sizeof eta);
    if (c->classify) {
        snprintf(loss, sizeof loss, "loss %.4f/%s", per_tok, c->unit);
        if (!isnan(p->valid_loss))
            snprintf(valid, sizeof valid, "  valid %.4f, accuracy %.1f%%", p->valid_loss,
                     100 * p->valid_accuracy);
    } else {
        snprintf(loss, sizeof loss, "loss %.4f/token (%.3f bpc, ppl %.2f)", per_tok,
                 per_tok / log(2.0), exp(per_tok));
        if (!isnan(p->valid_loss))
            snprintf(valid, sizeof valid, "  valid %.4f (%.3f bpc)", p->valid_loss,
                     p->valid_loss / log(2.0));
    }
    fprintf(stderr, "%sstep %lld/%lld  %s%s  %.0f %ss/s  ETA %s%s", c->tty ? "\r\033[K" : "",
            (long long)p->step, (long long)p->steps, loss, valid, p->tokens_per_s,
            c->classify ? c->unit : "token", eta, c->tty && !(due && !isnan(p->valid_loss)) ? "" : "\n");
    fflush(stderr);
}

int cmd_train(int argc, char **argv)
{
    cli_common c = {0};
    const char *params = NULL, *name = NULL;
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
        if ((r = cli_value(argc, argv, &i, "--params", &params)) != 0 ||
            (r = cli_value(argc, argv, &i, "--name", &name)) != 0) {
            if (r < 0)
                return UERR_USAGE;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_usage("train: unknown option '%s'", argv[i]);
        if (c.config)
            return cli_usage("train: more than one config ('%s', '%s')", c.config, argv[i]);
        c.config = argv[i];
    }
    if (!c.config)
        return cli_usage("train: which config? (unroll train CONFIG)");

    uerr e = {0};
    spec s;
    if (spec_load(&s, c.config, c.sets, c.nsets, &e))
        return cli_fail(&e);
    const char *dbpath = cli_db_path(&c, &s);
    store *db = NULL;
    if (store_open(&db, dbpath, 0, &e)) {
        spec_free(&s);
        return cli_fail(&e);
    }
    char cmdline[4096];
    size_t k = 0;
    cmdline[0] = '\0';
    for (int i = 0; i < argc && k < sizeof cmdline; i++)
        k += (size_t)snprintf(cmdline + k, sizeof cmdline - k, "%s%s", i ? " " : "unroll ", argv[i]);

    progress_ctx pc = {.tty = isatty(2), .quiet = c.quiet, .log_every = s.train.log_every,
                       .classify = s.data.kind != SPEC_DATA_TEXT,
                       .unit = s.data.kind == SPEC_DATA_CLASSIFY ? "sequence" : "target"};
    train_opts o = {
        .params_dir = params,
        .run_name = name,
        .command_line = cmdline,
        .db = db,
        .progress = on_progress,
        .ctx = &pc,
        .stop = &stop_flag,
    };
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    train_result r;
    int rc = train_run(&s, &o, &r, &e);
    signal(SIGINT, SIG_DFL);
    if (!rc && !c.quiet) {
        fprintf(stderr, "%s %lld steps in %.1f s (%.1f steps/s)",
                r.interrupted ? "interrupted after" : "trained", (long long)r.steps_done,
                r.seconds, r.seconds > 0 ? (double)r.steps_done / r.seconds : 0);
        if (pc.classify) {
            if (!isnan(r.valid_loss))
                fprintf(stderr, ": valid loss %.4f/%s, accuracy %.1f%% (majority class "
                                "%.1f%%)",
                        r.valid_loss, pc.unit, 100 * r.valid_accuracy, 100 * r.majority);
        } else {
            double tok = (double)s.train.batch * (double)s.train.seq_len;
            double per = r.last_loss / tok;
            fprintf(stderr, ": last step %.4f/token (%.3f bpc, ppl %.2f), first %.4f", per,
                    per / log(2.0), exp(per), r.first_loss / tok);
            if (!isnan(r.valid_loss))
                fprintf(stderr, "; valid %.4f/token (%.3f bpc)", r.valid_loss,
                        r.valid_loss / log(2.0));
        }
        fprintf(stderr, "\nrun '%s' (vocabulary %lld, activations %.1f MiB), checkpoint %lld in %s\n",
                r.run_name, (long long)r.vocab, (double)r.arena_bytes / 1048576.0,
                (long long)r.checkpoint, dbpath);
    }
    if (!rc)
        rc = store_flush(db, &e);
    store_close(db);
    spec_free(&s);
    if (rc)
        return cli_fail(&e);
    return r.interrupted ? 130 : 0;
}
