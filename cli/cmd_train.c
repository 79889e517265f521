/*
 * cmd_train.c - unroll train CONFIG [--set k=v]... [--params DIR | --from CKPT]
 *               [--db FILE] [--name NAME] [--quiet]
 *               unroll train --resume RUN_OR_CKPT [--set train.steps=N] [--force]
 *
 * Progress: on a terminal a bar redrawn in place (cli/progress.h);
 * otherwise a plain line every train.log_every steps. SIGINT, SIGTERM and
 * SIGHUP (timeout, systemd, docker stop, a closed terminal) stop after the
 * current step, write a final checkpoint and exit with 128 + the signal.
 * A closed progress pipe (SIGPIPE ignored, EPIPE on stderr) only ends the
 * progress lines: the run goes on.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/bytes.h"
#include "base/outfile.h"
#include "cli/cli.h"
#include "cli/color.h"
#include "cli/progress.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "train/dist.h"
#include "train/model_ckpt.h"
#include "train/train.h"

static const char help[] =
    "usage: unroll train CONFIG [--set KEY=VALUE]... [--params DIR | --from CKPT]\n"
    "                    [--db FILE] [--name NAME] [--quiet | --verbose]\n"
    "       unroll train --resume RUN_OR_CKPT [--set train.steps=N]... [--db FILE] [--force]\n"
    "\n"
    "Trains the model CONFIG describes. Every step's loss, the config, the\n"
    "vocabulary and the checkpoints are stored in the database: --db FILE, else\n"
    "the config's train.checkpoint.db, else unroll.db. Ctrl-C stops after the\n"
    "current step and writes a final checkpoint.\n"
    "\n"
    "  --set KEY=VALUE   override any config key (repeatable)\n"
    "  --params DIR      initial parameters from DIR/<name>.npy (a bias [n] may be\n"
    "                    numpy's column vector [n, 1])\n"
    "  --from CKPT       a new run starting from the parameters of CKPT that fit\n"
    "                    this model (the others are listed); CKPT is its parent\n"
    "  --name NAME       the run's name (default: the config's name, made unique)\n"
    "  --resume REF      continue a stored run from checkpoint REF (a run name: its\n"
    "                    latest), in the same run, bit for bit as if never stopped;\n"
    "                    what it logged after REF is dropped. Only train.steps,\n"
    "                    valid_every, log_every, checkpoint.*, early_stop.*,\n"
    "                    sample.* and, as a new session of the run, the rate\n"
    "                    (train.optimizer.lr, train.lr_schedule.*) may be --set\n"
    "                    (default --db: unroll.db)\n"
    "  --force           resume even if the data changed or another live process\n"
    "                    still trains the run\n"
    "  --profile FILE    trace the last step task by task: its timeline to FILE\n"
    "                    (trace-event JSON: ui.perfetto.dev or chrome://tracing), and\n"
    "                    where its time went, by kind of work and lane, to stderr\n"
    "  --quiet           no progress output\n"
    "  --verbose         also what was built: graph, plan, memory, parameters\n"
    "  --color=WHEN      auto (colour on a terminal unless NO_COLOR is set), always,\n"
    "                    never\n"
    "\n"
    "Progress goes to stderr: on a terminal a bar with the loss, speed and ETA,\n"
    "redrawn in place; otherwise a line every train.log_every steps and at each\n"
    "validation. Exit status: 0 done, 1 bad config or data (one line), 2 usage,\n"
    "3 internal error, 130 stopped by Ctrl-C (the checkpoint is written first);\n"
    "SIGTERM and SIGHUP stop it the same way, with 143 and 129.\n"
    "\n"
    "CKPT and REF: a checkpoint id, a tag, RUN@STEP, RUN@best, or a run name.\n"
    "\n"
    "examples:\n"
    "  unroll train configs/elman_char.yaml --set train.steps=300 --name quick\n"
    "  unroll train --resume quick --set train.steps=600\n"
    "  unroll train configs/elman_char.yaml --set model.hidden=256 --from quick\n";

/* Keys a resume may change: they decide how long and how often, or the
 * rate (the session that sets it is recorded with its config, and ckpt
 * verify replays each checkpoint with its own session's), never the model
 * or the data, so the run stays one run. */
static int resume_key_ok(const char *assignment)
{
    static const char *const ok[] = {"train.steps=",         "train.valid_every=",
                                     "train.log_every=",     "train.checkpoint.every=",
                                     "train.checkpoint.db=", "train.checkpoint.minutes=",
                                     "train.optimizer.lr=",  "train.lr_schedule.",
                                     "train.early_stop.",    "sample."};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strncmp(assignment, ok[i], strlen(ok[i])))
            return 1;
    return 0;
}

/* Resolves and loads a checkpoint reference. */
static int load_ref(store *db, const char *ref, store_loaded *l, uerr *e)
{
    int64_t ck;
    int rc = store_checkpoint_resolve(db, ref, &ck, e);
    if (!rc)
        rc = store_checkpoint_load(db, ck, l, e);
    return rc;
}

/* --resume: the stored run's config with the allowed overrides. */
static int resume_spec(store *db, const store_loaded *l, const cli_common *c, spec *s, uerr *e)
{
    for (int i = 0; i < c->nsets; i++)
        if (!resume_key_ok(c->sets[i]))
            return uerr_set(e, UERR_USER,
                            "--set %s: a resume continues the same run, so only train.steps, "
                            "train.valid_every, train.log_every, train.checkpoint.*, "
                            "train.optimizer.lr, train.lr_schedule.*, train.early_stop.* and "
                            "sample.* may change (start a new run from the checkpoint with "
                            "'unroll train CONFIG --from %lld')",
                            c->sets[i], (long long)l->id);
    store_run run;
    int rc = store_run_get(db, l->run, &run, e);
    if (rc)
        return rc;
    char label[300];
    snprintf(label, sizeof label, "run '%s' config", run.name);
    if (!(rc = model_ckpt_has_config(&run, e)) && !(rc = model_ckpt_check_config(&run, e)))
        rc = spec_load_buffer(s, label, run.config_text, strlen(run.config_text), c->sets, c->nsets,
                              e);
    /* a finished run: resuming would train no step and say so in a
     * summary that looks like success */
    if (!rc && s->train.steps == l->step)
        rc = uerr_set(e, UERR_USER,
                      "run '%s' finished: checkpoint %lld is at step %lld = train.steps; to "
                      "train it further, give a larger one: unroll train --resume %s --set "
                      "train.steps=%lld",
                      run.name, (long long)l->id, (long long)l->step, run.name,
                      (long long)l->step * 2);
    if (!rc && s->train.steps < l->step)
        rc = uerr_set(e, UERR_USER,
                      "checkpoint %lld is at step %lld, past train.steps = %lld; set a larger "
                      "train.steps",
                      (long long)l->id, (long long)l->step, (long long)s->train.steps);
    store_run_free(&run);
    return rc;
}

/* the signal that asked training to stop, 0 while none has */
static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    stop_flag = sig;
}

/* Handlers for the stopping signals (act 0 puts the defaults back).
 * SIGPIPE stays ignored to the end: the closing summary on a closed pipe
 * must not turn a finished run's status into 141. */
static void train_signals(int act)
{
    static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0};
    sa.sa_handler = act ? on_stop_signal : SIG_DFL;
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++)
        sigaction(stops[i], &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

typedef struct progress_ctx {
    int quiet;
    cli_progress bar; /* bar.tty: the bar; otherwise plain lines */
    int64_t log_every;
    double sum; /* per-token losses since the last line */
    int64_t n;
    double best_valid; /* the lowest validation loss so far (terminal only) */
    int classify;      /* labelled data: losses per unit, accuracy */
    const char *unit;
} progress_ctx;

static void on_note(void *ctx, const char *msg)
{
    progress_ctx *c = ctx;
    if (!c->quiet && !ferror(stderr))
        cli_progress_print(&c->bar, "%s\n", msg);
}

/* Plain lines (not a terminal) every log_every steps, at each validation
 * and at the end, in a fixed form that users and tests parse:
 *   step 200/4000  loss 2.1234/token (3.063 bpc, ppl 8.36)  30123 tokens/s  ETA 0:12
 * with "  valid 2.2000 (3.174 bpc)" after the loss when validated. On a
 * terminal the same figures follow a progress bar redrawn in place, and a
 * validation leaves its line above the bar. */
static void on_progress(void *ctx, const train_progress *p)
{
    progress_ctx *c = ctx;
    /* a reader that went away (head -1) ends the progress, not the run */
    if (c->quiet || ferror(stderr))
        return;
    /* one chunk's loss is noisy: show the mean since the last line */
    c->sum += p->loss / p->tokens;
    c->n++;
    int validated = !isnan(p->valid_loss);
    int due = p->step % c->log_every == 0 || p->step == p->steps || validated;
    if (!c->bar.tty && !due)
        return;
    if (c->bar.tty && !due && p->elapsed_s - c->bar.last < 0.1)
        return;
    double per_tok = c->sum / (double)c->n;
    if (due) {
        c->sum = 0;
        c->n = 0;
    }
    char eta[32], valid[96] = "", loss[96];
    cli_fmt_duration(p->eta_s, eta, sizeof eta);
    if (c->classify) {
        snprintf(loss, sizeof loss, "loss %.4f/%s", per_tok, c->unit);
        if (validated && isnan(p->valid_accuracy))
            snprintf(valid, sizeof valid, "  valid %.6f", p->valid_loss);
        else if (validated)
            snprintf(valid, sizeof valid, "  valid %.4f, accuracy %.1f%%", p->valid_loss,
                     100 * p->valid_accuracy);
    } else {
        snprintf(loss, sizeof loss, "loss %.4f/token (%.3f bpc, ppl %.2f)", per_tok,
                 per_tok / log(2.0), exp(per_tok));
        if (validated)
            snprintf(valid, sizeof valid, "  valid %.4f (%.3f bpc)", p->valid_loss,
                     p->valid_loss / log(2.0));
    }
    const char *unit = c->classify ? c->unit : "token";
    if (!c->bar.tty) {
        fprintf(stderr, "step %lld/%lld  %s%s  %.0f %ss/s  ETA %s\n", (long long)p->step,
                (long long)p->steps, loss, valid, p->tokens_per_s, unit, eta);
        fflush(stderr);
        return;
    }
    if (validated) {
        /* the line stays; a new best validation loss is marked */
        int best = !(p->valid_loss >= c->best_valid);
        if (best)
            c->best_valid = p->valid_loss;
        cli_progress_print(&c->bar, "step %lld/%lld  %s%s%s%s%s\n", (long long)p->step,
                           (long long)p->steps, loss, cli_sgr(stderr, best ? CLI_GOOD : CLI_STRONG),
                           valid, best ? "  (best)" : "", cli_sgr_end(stderr));
    }
    /* beside the bar, the short form: the ETA must fit an 80-column line */
    char text[256], rate[32];
    double tps = p->tokens_per_s;
    if (tps >= 1e6)
        snprintf(rate, sizeof rate, "%.2fM", tps / 1e6);
    else if (tps >= 1e4)
        snprintf(rate, sizeof rate, "%.0fk", tps / 1e3);
    else
        snprintf(rate, sizeof rate, "%.0f", tps);
    snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  %s %s/s  ETA %s", (long long)p->step,
             (long long)p->steps, per_tok, rate,
             c->classify ? (c->unit[0] == 's' ? "seq" : "tgt") : "tok", eta);
    cli_progress_draw(&c->bar, p->elapsed_s, p->step, p->steps, text, 1);
}

/* What a resume dropped or a --from could not load, and warnings. */
static void report_start(const train_result *r, int resumed, int from)
{
    if (resumed && r->metrics_dropped)
        fprintf(stderr,
                "dropped %lld metric rows the interrupted process had logged after step "
                "%lld\n",
                (long long)r->metrics_dropped, (long long)r->start_step);
    if (from)
        fprintf(stderr, "from the checkpoint: loaded %s%s%s\n", r->from_loaded,
                r->from_skipped[0] ? "; not loaded (initialised): " : "", r->from_skipped);
    if (r->warning[0])
        cli_warn("%s", r->warning);
}

static int train_body(int argc, char **argv, const dist *d);

/* --verbose: how many threads each kind of product actually ran on */
static void report_threads(void)
{
    pool_stat st;
    for (int i = 0; pool_stats(i, &st); i++)
        fprintf(stderr, "threads: %s: %ld calls, %ld on more than one thread, at most %d\n",
                st.name, st.calls, st.multi, st.max_threads);
}

static void on_ready(void *ctx, const train_info *i)
{
    (void)ctx;
    char kd[200], now[BYTES_STR_MAX], full[BYTES_STR_MAX];
    fprintf(stderr, "%s\n", cpu_describe(kd, sizeof kd));
    fprintf(stderr,
            "graph: %lld nodes (forward and backward), %lld kernel calls per step; "
            "%s of activations and gradients; %lld parameters; batch %lld x %lld "
            "steps, %lld input ids%s\n",
            (long long)i->graph_nodes, (long long)i->kernel_calls, bytes_str(i->arena_bytes, now),
            (long long)i->parameters, (long long)i->B, (long long)i->T, (long long)i->vocab,
            i->ranks > 1 ? " (split over MPI ranks)" : "");
    if (i->copies)
        fprintf(stderr,
                "plan: transposed weight copies (W^T, U^T): %d; kept up to date by the "
                "updates, rather than made at every step: %d\n",
                (int)i->copies, (int)i->copies_kept);
    if (i->recompute_seg)
        fprintf(stderr,
                "memory budget: forward recomputed in segments of %d steps (%d nodes twice); "
                "%s instead of %s\n",
                (int)i->recompute_seg, (int)i->recompute_nodes, bytes_str(i->arena_bytes, now),
                bytes_str(i->full_bytes, full));
}

/* --profile: the last step's busy time by kind of work (and by lane, in
 * regions of two lanes) */
static void report_profile(const train_profile *p, const char *path)
{
    if (!p->step) {
        fprintf(stderr, "--profile: no step traced (the run stopped before its last step)\n");
        return;
    }
    double tot[3] = {0, 0, 0};
    for (int k = 0; k < PROFILE_KINDS; k++)
        for (int l = 0; l < 3; l++)
            tot[l] += p->us[k][l];
    int lanes = tot[1] > 0 || tot[2] > 0;
    fprintf(stderr,
            "profile of step %lld (its timeline: %s, for ui.perfetto.dev or chrome://tracing)\n"
            "its plan ran %.1f us%s; busy us by kind of work:\n",
            (long long)p->step, path, p->run_us, lanes ? ", partly on two lanes" : ", in order");
    if (lanes)
        fprintf(stderr, "%-20s %10s %10s %10s %7s\n", "", "in order", "lane 0", "lane 1", "tasks");
    for (int k = 0; k < PROFILE_KINDS + 1; k++) {
        if (k < PROFILE_KINDS && !p->tasks[k])
            continue;
        const double *us = k < PROFILE_KINDS ? p->us[k] : tot;
        int n = k < PROFILE_KINDS ? p->tasks[k] : p->spans;
        const char *kind = k < PROFILE_KINDS ? profile_kind_name(k) : "busy";
        if (lanes)
            fprintf(stderr, "%-20s %10.1f %10.1f %10.1f %7d\n", kind, us[0], us[1], us[2], n);
        else
            fprintf(stderr, "%-20s %10.1f us %5d tasks\n", kind, us[0], n);
    }
    if (lanes)
        fprintf(stderr, "%-20s %21.1f %10.1f\n", "waiting", p->run_us - tot[0] - tot[1],
                p->run_us - tot[2]);
}

/* Under mpirun every rank runs this; rank 0 alone talks to the store and
 * the terminal. */
int cmd_train(int argc, char **argv)
{
    dist d;
    uerr e = {0};
    if (dist_init(&d, &argc, &argv, &e))
        return cli_fail(&e);
    int rc = train_body(argc, argv, &d);
    dist_finalize(&d);
    return rc;
}

static int train_body(int argc, char **argv, const dist *d)
{
    cli_common c = {0};
    const char *params = NULL, *name = NULL, *resume = NULL, *from = NULL, *profile = NULL;
    int force = 0;
    const cli_opt opts[] = {{"--params", &params, NULL}, {"--name", &name, NULL},
                            {"--resume", &resume, NULL}, {"--from", &from, NULL},
                            {"--force", NULL, &force},   {"--profile", &profile, NULL},
                            {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, "train", help, &c, opts, &c.config, 1);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (resume && (c.config || params || from || name))
        return cli_usage("train: --resume continues a stored run: no CONFIG, --params, --from "
                         "or --name with it");
    if (!resume && !c.config)
        return cli_usage("train: which config? (unroll train CONFIG, or --resume RUN)");
    if (params && from)
        return cli_usage("train: --params or --from, not both");
    if (force && !resume)
        return cli_usage("train: --force goes with --resume");
    if (name && !*name)
        return cli_usage("train: --name: a run name cannot be empty");
    if (profile && !*profile)
        return cli_usage("train: --profile FILE: the file the step's timeline goes to");
    if (profile) {
        /* a folder it cannot be written in fails now, not after the run */
        outfile of = {0};
        uerr pe = {0};
        if (outfile_open(&of, profile, &pe))
            return cli_fail(&pe);
        outfile_abort(&of);
    }
    if (name) {
        uerr ne = {0};
        if (store_name_check("run name", name, &ne)) {
            uerr_prefix(&ne, "--name");
            return cli_fail(&ne);
        }
    }
    int lead = d->rank == 0;
    if (!lead)
        c.quiet = 1;

    uerr e = {0};
    spec s = {0};
    store_loaded ref = {0};
    store *db = NULL;
    const char *dbpath = cli_db_path(&c, NULL);
    if (resume) {
        /* The store first: the config is the one stored with the run. */
        if (store_open(&db, dbpath, 0, &e) || load_ref(db, resume, &ref, &e) ||
            resume_spec(db, &ref, &c, &s, &e)) {
            store_loaded_free(&ref);
            store_close(db);
            spec_free(&s);
            return cli_fail(&e);
        }
    } else {
        if (spec_load(&s, c.config, c.sets, c.nsets, &e))
            return cli_fail(&e);
        dbpath = cli_db_path(&c, &s);
        if (lead && (store_open(&db, dbpath, 0, &e) || (from && load_ref(db, from, &ref, &e)))) {
            store_close(db);
            spec_free(&s);
            return cli_fail(&e);
        }
    }
    char cmdline[4096];
    cli_command_line(argc, argv, cmdline, sizeof cmdline);

    progress_ctx pc = {.quiet = c.quiet,
                       .log_every = s.train.log_every,
                       .best_valid = INFINITY,
                       .classify = s.data.kind != SPEC_DATA_TEXT,
                       .unit = s.data.kind == SPEC_DATA_CLASSIFY ? "sequence" : "target"};
    cli_progress_init(&pc.bar, stderr);
    train_opts o = {
        .params_dir = params,
        .run_name = name,
        .command_line = cmdline,
        .db = db,
        .progress = on_progress,
        .ctx = &pc,
        .stop = &stop_flag,
        .resume = resume ? &ref : NULL,
        .force = force,
        .from = from ? &ref : NULL,
        .dist = d,
        .ready = c.verbose && !c.quiet ? on_ready : NULL,
        .note = on_note,
        .profile_path = profile,
    };
    if (resume && !c.quiet)
        fprintf(stderr, "resuming from checkpoint %lld (step %lld, version %lld) to step %lld\n",
                (long long)ref.id, (long long)ref.step, (long long)ref.version,
                (long long)s.train.steps);
    train_signals(1);
    train_result r;
    int rc = train_run(&s, &o, &r, &e);
    train_signals(0);
    cli_progress_clear(&pc.bar);
    if (!rc && !c.quiet)
        report_start(&r, resume != NULL, from != NULL);
    if (!rc && !c.quiet) {
        int64_t done = r.steps_done - r.start_step;
        fprintf(stderr, "%s%s%s %lld steps in %.1f s (%.1f steps/s)",
                cli_sgr(stderr, r.interrupted ? CLI_WARN : CLI_STRONG),
                r.interrupted     ? "interrupted after"
                : r.early_stopped ? "stopped early after"
                                  : "trained",
                cli_sgr_end(stderr), (long long)done, r.seconds,
                r.seconds > 0 ? (double)done / r.seconds : 0);
        if (r.start_step)
            fprintf(stderr, ", steps %lld to %lld", (long long)r.start_step + 1,
                    (long long)r.steps_done);
        if (pc.classify) {
            if (!isnan(r.valid_loss) && isnan(r.valid_accuracy))
                fprintf(stderr, ": valid loss %.6f/%s", r.valid_loss, pc.unit);
            else if (!isnan(r.valid_loss))
                fprintf(stderr,
                        ": valid loss %.4f/%s, accuracy %.1f%% (majority class "
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
        if (r.early_stopped)
            fprintf(stderr,
                    "\nno better validation loss in %lld validations: the best, %.6g, was at step "
                    "%lld (checkpoint %s@best)",
                    (long long)s.train.early_stop.patience, r.best_valid, (long long)r.best_step,
                    r.run_name);
        char act[BYTES_STR_MAX];
        fprintf(stderr, "\nrun '%s' (vocabulary %lld, activations %s), checkpoint %lld in %s\n",
                r.run_name, (long long)r.vocab, bytes_str(r.arena_bytes, act),
                (long long)r.checkpoint, dbpath);
    }
    if (!rc && c.verbose && !c.quiet)
        report_threads();
    if (!rc && profile && !c.quiet)
        report_profile(&r.profile, profile);
    if (!rc && db)
        rc = store_flush(db, &e);
    store_close(db);
    store_loaded_free(&ref);
    spec_free(&s);
    if (rc)
        return cli_fail(&e);
    return r.interrupted ? 128 + (int)stop_flag : 0;
}
