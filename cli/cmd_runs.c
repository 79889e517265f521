/*
 * cmd_runs.c - the stored runs (unroll runs list | show | metrics | rm |
 * rename | plot) and unroll config show.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/outfile.h"
#include "cli/cli.h"
#include "store/json.h"
#include "store/plot.h"

static const char runs_help[] =
    "usage: unroll runs list [--name GLOB] [--status S] [--since DATE] [--before DATE]\n"
    "                        [--where KEY=VALUE]... [--csv | --json] [--db FILE]\n"
    "       unroll runs show RUN [--json] [--db FILE]\n"
    "       unroll runs metrics RUN [--name METRIC] [--csv | --json] [--db FILE]\n"
    "       unroll runs rm RUN [--force] [--db FILE]\n"
    "       unroll runs rename RUN NEW_NAME [--db FILE]\n"
    "       unroll runs plot RUN... -o FILE.svg [--smooth N] [--db FILE]\n"
    "       unroll runs plot RUN --ledger NAME -o FILE.svg   (NAME: dh, a parameter, sigma)\n"
    "\n"
    "list: every run with its status, last logged step, checkpoints, last loss,\n"
    "  best validation loss and parent: the checkpoint a --from run started from,\n"
    "  as a CKPT reference (unroll ckpt --help): RUN@STEP, or its id where\n"
    "  RUN@STEP now names a later version (shown 'ckpt ID').\n"
    "  Filters: --name (a glob: 'elman*'), --status (running, finished,\n"
    "  interrupted, failed; or lost: marked running but its process on this\n"
    "  host is gone, killed say), --since/--before (start time, an ISO date or\n"
    "  time prefix such as 2026-05-01), --where KEY=VALUE (a config key's\n"
    "  resolved value, e.g. model.hidden=128; repeatable).\n"
    "show: everything recorded about RUN: config, data hash, BLAS, sessions\n"
    "  (the start and every resume), checkpoints.\n"
    "metrics: every logged value of RUN (name or id) as step,name,value rows\n"
    "  (CSV unless --json); each step's loss is 'loss' (summed over the step's\n"
    "  tokens), validations are 'valid_loss' (per token).\n"
    "rm: deletes RUN, its checkpoints and metrics; tensors other checkpoints\n"
    "  share stay. Refused while a live process trains it, unless --force.\n"
    "rename: gives RUN a new name (unique, not all digits, no '@').\n"
    "plot: the loss curves of one or more runs as an SVG file: the training\n"
    "  loss per token, averaged over N steps either side (default: 1/200 of\n"
    "  the run's length), and the validation loss as markers. With --ledger\n"
    "  (metrics of train.ledger_every): dh or a parameter, a heat map over\n"
    "  training step and time step; sigma, the largest singular value of each\n"
    "  recurrent matrix (ledger.sigma.W, ...) over training steps.\n"
    "\n"
    "examples:\n"
    "  unroll runs list --where model.cell=elman --status finished\n"
    "  unroll runs metrics elman_char --csv > curve.csv\n"
    "  unroll runs plot elman_char elman_big -o curves.svg\n";

/* --where filters, applied to each run's resolved config. */
typedef struct where_ctx {
    const char *const *conds;
    int n;
} where_ctx;

static int where_keep(void *ctx, int64_t run, const char *config_text, uerr *e)
{
    where_ctx *w = ctx;
    cli_kv *kv;
    int n;
    char label[64];
    snprintf(label, sizeof label, "run %lld config", (long long)run);
    /* A config this build cannot read (a newer key) cannot match. */
    if (cli_config_flat(label, config_text, &kv, &n, NULL))
        return 0;
    int keep = 1;
    for (int c = 0; c < w->n && keep; c++) {
        const char *eq = strchr(w->conds[c], '=');
        size_t kl = (size_t)(eq - w->conds[c]);
        int hit = 0;
        for (int i = 0; i < n && !hit; i++)
            hit = strlen(kv[i].key) == kl && !strncmp(kv[i].key, w->conds[c], kl) &&
                  cli_value_eq(kv[i].value, eq + 1);
        keep = hit;
    }
    cli_kv_free(kv, n);
    (void)e;
    return keep;
}

static int runs_list(store *db, const store_run_filter *f, table_form form)
{
    uerr e = {0};
    table t;
    if (store_runs_table(db, f, &t, &e))
        return cli_fail(&e);
    /* parent is a checkpoint reference: RUN@STEP, or an id where that
     * would name a later version; a bare id in this table reads as a run
     * id, so people read it as "ckpt N" (CSV and JSON keep the reference) */
    for (int c = 0; form == TABLE_PLAIN && c < t.ncols; c++)
        for (int64_t r = 0; !strcmp(t.cols[c], "parent") && r < t.nrows; r++) {
            table_cell *x = &t.cells[r * t.ncols + c];
            char buf[48];
            if (x->type != TABLE_TEXT || !x->s[0] || strspn(x->s, "0123456789") != strlen(x->s))
                continue;
            snprintf(buf, sizeof buf, "ckpt %.30s", x->s);
            char *d = strdup(buf);
            if (d)
                free(x->s), x->s = d;
        }
    int rc = cli_print_loss_table(&t, form);
    table_free(&t);
    return rc;
}

static void kv_line(const char *k, const char *v)
{
    printf("%-12s %s\n", k, v && *v ? v : "-");
}

static int runs_show(store *db, int64_t id, table_form form)
{
    uerr e = {0};
    store_run r;
    table ses = {0}, ck = {0};
    int rc = store_run_get(db, id, &r, &e);
    if (!rc)
        rc = store_sessions_table(db, id, &ses, &e);
    if (!rc)
        rc = store_checkpoints_table(db, id, &ck, &e);
    if (rc) {
        store_run_free(&r);
        table_free(&ses);
        return cli_fail(&e);
    }
    if (form == TABLE_JSON) {
        printf("{\"id\": %lld, \"name\": ", (long long)r.id);
        json_write_string(stdout, r.name);
        const char *keys[] = {"status", "started",         "finished",
                              "init",   "config_hash",     "data_hash",
                              "blas",   "program_version", "command_line"};
        const char *vals[] = {r.status, r.started,         r.finished,
                              r.init,   r.config_hash,     r.data_hash,
                              r.blas,   r.program_version, r.command_line};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            printf(", \"%s\": ", keys[i]);
            if (vals[i])
                json_write_string(stdout, vals[i]);
            else
                fputs("null", stdout);
        }
        printf(", \"threads\": %d, \"parent_checkpoint\": ", r.threads);
        if (r.parent_checkpoint)
            printf("%lld", (long long)r.parent_checkpoint);
        else
            fputs("null", stdout);
        printf(", \"vocabulary\": %d, \"config_text\": ", r.nvocab);
        json_write_string(stdout, r.config_text);
        fputs(", \"sessions\": ", stdout);
        uerr e2 = {0};
        rc = table_write(&ses, stdout, TABLE_JSON, &e2);
        fputs(", \"checkpoints\": ", stdout);
        if (!rc)
            rc = table_write(&ck, stdout, TABLE_JSON, &e2);
        fputs("}\n", stdout);
        if (rc)
            cli_fail(&e2);
    } else {
        char buf[512];
        snprintf(buf, sizeof buf, "%lld '%s'", (long long)r.id, r.name);
        kv_line("run", buf);
        int lost = 0;
        uerr e3 = {0};
        if (store_run_lost(db, r.id, &lost, &e3))
            lost = 0;
        if (lost)
            snprintf(buf, sizeof buf,
                     "lost (started %s; marked running, but its process on this host is "
                     "gone: unroll train --resume %s continues it)",
                     r.started, r.name);
        else
            snprintf(buf, sizeof buf, "%s (started %s%s%s)", r.status, r.started,
                     r.finished ? ", ended " : "", r.finished ? r.finished : "");
        kv_line("status", buf);
        kv_line("init", r.init);
        if (r.parent_checkpoint) {
            snprintf(buf, sizeof buf, "checkpoint %lld", (long long)r.parent_checkpoint);
            kv_line("parent", buf);
        } else {
            kv_line("parent", NULL);
        }
        kv_line("config", r.config_hash);
        kv_line("data", r.data_hash);
        snprintf(buf, sizeof buf, "%d symbols", r.nvocab);
        kv_line("vocabulary", buf);
        snprintf(buf, sizeof buf, "unroll %s, %s, %d threads", r.program_version, r.blas,
                 r.threads);
        kv_line("program", buf);
        kv_line("command", r.command_line);
        printf("\nsessions:\n");
        uerr e2 = {0};
        rc = table_write(&ses, stdout, TABLE_PLAIN, &e2);
        printf("\ncheckpoints:\n");
        if (!rc)
            rc = cli_print_loss_table(&ck, TABLE_PLAIN);
        printf("\nconfig:\n");
        for (const char *p = r.config_text; *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            printf("  %.*s\n", len, p);
            p += len + (nl ? 1 : 0);
        }
        if (rc)
            cli_fail(&e2);
    }
    store_run_free(&r);
    table_free(&ses);
    table_free(&ck);
    return rc ? UERR_INTERNAL : 0;
}

/* Loss per token of a run: the logged step loss divided by the tokens (or
 * sequences) one step sums over, from the run's config. */
static double units_per_step(const store_run *r)
{
    spec s;
    double u = 1;
    if (!spec_load_buffer(&s, "config", r->config_text, strlen(r->config_text), NULL, 0, NULL)) {
        u = s.data.kind == SPEC_DATA_TEXT ? (double)s.train.batch * s.train.seq_len
                                          : (double)s.train.batch;
        spec_free(&s);
    }
    return u > 0 ? u : 1;
}

/* The gradient ledger of one run as a heat map over (training step, t):
 * the metrics ledger.NAME[t] that train.ledger_every stored. */
static int ledger_heatmap(store *db, const char *const *names, int n, const char *name,
                          const char *out)
{
    uerr e = {0};
    if (n != 1)
        return cli_usage("runs plot --ledger: one run at a time");
    int64_t id, ncols = 0, nrows = 0, *steps = NULL;
    double *z = NULL;
    int rc = store_run_resolve(db, names[0], &id, &e);
    for (int64_t t = 0; !rc; t++) {
        char metric[96];
        snprintf(metric, sizeof metric, "ledger.%s[%lld]", name, (long long)t);
        int64_t *xs = NULL, len = 0;
        double *ys = NULL;
        if ((rc = store_metric_series(db, id, metric, &xs, &ys, &len, &e)))
            break;
        if (len == 0 || (t > 0 && len != nrows)) {
            free(xs);
            free(ys);
            break;
        }
        if (t == 0) {
            nrows = len;
            steps = xs;
            xs = NULL;
        }
        double *nz = realloc(z, (size_t)(nrows * (t + 1)) * sizeof(double));
        if (!nz) {
            free(xs);
            free(ys);
            rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
            break;
        }
        z = nz;
        /* stored column by column; the map is row-major (step, t): spread it */
        for (int64_t r = nrows - 1; r >= 0; r--)
            for (int64_t c = t - 1; c >= 0; c--)
                z[r * (t + 1) + c] = z[r * t + c];
        for (int64_t r = 0; r < nrows; r++)
            z[r * (t + 1) + t] = ys[r];
        ncols = t + 1;
        free(xs);
        free(ys);
    }
    if (!rc && ncols == 0)
        rc = uerr_set(&e, UERR_USER,
                      "run '%s' has no ledger.%s[t] metrics (train with "
                      "train.ledger_every > 0)",
                      names[0], name);
    outfile of = {0};
    FILE *f = NULL;
    if (!rc && !(rc = outfile_open(&of, out, &e)))
        f = of.f;
    if (!rc) {
        char title[160];
        snprintf(title, sizeof title, "%s: %s per time step (log scale)", names[0],
                 !strcmp(name, "dh") ? "|dL/dh_t|" : name);
        rc = plot_heatmap_svg(f, z, nrows, ncols, steps, title, &e);
        if (rc)
            uerr_prefix(&e, "%s", out);
    }
    if (f && !rc)
        rc = outfile_commit(&of, out, &e);
    else
        outfile_abort(&of);
    if (!rc)
        fprintf(stderr, "wrote %s (%lld training steps x %lld time steps)\n", out, (long long)nrows,
                (long long)ncols);
    free(z);
    free(steps);
    return rc ? cli_fail(&e) : 0;
}

static int runs_plot(store *db, const char *const *names, int n, const char *out, long long smooth)
{
    uerr e = {0};
    plot_series *ps = calloc((size_t)n, sizeof *ps);
    int64_t **xs = calloc((size_t)(2 * n), sizeof *xs);
    double **ys = calloc((size_t)(3 * n), sizeof *ys);
    store_run *runs = calloc((size_t)n, sizeof *runs);
    int rc = 0;
    if (!ps || !xs || !ys || !runs)
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        int64_t id, ln, vn;
        if ((rc = store_run_resolve(db, names[k], &id, &e)) ||
            (rc = store_run_get(db, id, &runs[k], &e)) ||
            (rc = store_metric_series(db, id, "loss", &xs[2 * k], &ys[3 * k], &ln, &e)) ||
            (rc = store_metric_series(db, id, "valid_loss", &xs[2 * k + 1], &ys[3 * k + 1], &vn,
                                      &e)))
            break;
        double u = units_per_step(&runs[k]);
        for (int64_t i = 0; i < ln; i++)
            ys[3 * k][i] /= u;
        int64_t half = smooth >= 0 ? smooth : ln / 200;
        if (ln && !(ys[3 * k + 2] = malloc((size_t)ln * sizeof(double)))) {
            rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
            break;
        }
        if (ln)
            plot_smooth(ys[3 * k], ln, half, ys[3 * k + 2]);
        ps[k] = (plot_series){runs[k].name,  xs[2 * k], ys[3 * k + 2], ln, xs[2 * k + 1],
                              ys[3 * k + 1], vn};
    }
    outfile of = {0};
    FILE *f = NULL;
    if (!rc && !(rc = outfile_open(&of, out, &e)))
        f = of.f;
    if (!rc) {
        plot_opts o = {.title = n == 1 ? names[0] : "loss curves",
                       .xlabel = "step",
                       .ylabel = "loss per token (nats)",
                       .line_note = "train",
                       .marker_note = "valid"};
        rc = plot_svg(f, ps, n, &o, &e);
        if (rc)
            uerr_prefix(&e, "%s", out);
    }
    if (f && !rc)
        rc = outfile_commit(&of, out, &e);
    else
        outfile_abort(&of);
    if (!rc)
        fprintf(stderr, "wrote %s (%d run%s)\n", out, n, n == 1 ? "" : "s");
    for (int k = 0; runs && k < n; k++)
        store_run_free(&runs[k]);
    for (int k = 0; xs && ys && k < n; k++) {
        free(xs[2 * k]);
        free(xs[2 * k + 1]);
        free(ys[3 * k]);
        free(ys[3 * k + 1]);
        free(ys[3 * k + 2]);
    }
    free(ps);
    free(xs);
    free(ys);
    free(runs);
    return rc ? cli_fail(&e) : 0;
}

/* Everything the options of `runs` can set. */
typedef struct runs_args {
    cli_common c;
    table_form form;
    const char *pos[64];
    int npos;
    const char *metric, *out, *smooth_s, *ledger;
    const char *wheres[32];
    int nwhere, force;
    long long smooth;
    store_run_filter f;
    int64_t id; /* the run named by pos[0], for the forms about one run */
} runs_args;

/* --where KEY=VALUE, checked as it comes. */
static int take_where(void *ctx, const char *name, const char *v)
{
    runs_args *a = ctx;
    (void)name;
    if (!strchr(v, '=') || v[0] == '=')
        return cli_usage("runs list: --where KEY=VALUE, found '%s'", v);
    if (a->nwhere == 32)
        return cli_usage("runs list: more than 32 --where options");
    a->wheres[a->nwhere++] = v;
    return 0;
}

static int run_list(store *db, runs_args *a)
{
    where_ctx w = {a->wheres, a->nwhere};
    if (a->nwhere) {
        a->f.keep = where_keep;
        a->f.ctx = &w;
    }
    return runs_list(db, &a->f, a->form);
}

static int run_show(store *db, runs_args *a)
{
    return runs_show(db, a->id, a->form);
}

static int run_metrics(store *db, runs_args *a)
{
    uerr e = {0};
    table t;
    int rc;
    if (store_metrics_table(db, a->id, a->metric, &t, &e))
        rc = cli_fail(&e);
    else
        rc = cli_print_table(&t, a->form);
    table_free(&t);
    return rc;
}

static int run_rm(store *db, runs_args *a)
{
    uerr e = {0};
    store_removed st;
    char freed[BYTES_STR_MAX];
    if (store_run_delete(db, a->id, a->force, &st, &e))
        return cli_fail(&e);
    printf("removed run '%s': %lld checkpoint%s, %lld metric row%s; %lld tensor%s no "
           "longer used (%s)\n",
           a->pos[0], (long long)st.checkpoints, st.checkpoints == 1 ? "" : "s",
           (long long)st.metrics, st.metrics == 1 ? "" : "s", (long long)st.tensors,
           st.tensors == 1 ? "" : "s", bytes_str((uint64_t)st.bytes, freed));
    return 0;
}

static int run_rename(store *db, runs_args *a)
{
    uerr e = {0};
    if (store_run_rename(db, a->id, a->pos[1], &e))
        return cli_fail(&e);
    printf("run %lld is now '%s'\n", (long long)a->id, a->pos[1]);
    return 0;
}

/* The largest singular value of each recurrent matrix over training
 * steps: the metrics ledger.sigma.NAME, one line each. */
static int ledger_sigma(store *db, const char *const *names, int n, const char *out)
{
    uerr e = {0};
    if (n != 1)
        return cli_usage("runs plot --ledger: one run at a time");
    int64_t id;
    char **mn = NULL;
    int nm = 0;
    int rc = store_run_resolve(db, names[0], &id, &e);
    if (!rc)
        rc = store_metric_names(db, id, "ledger.sigma.", &mn, &nm, &e);
    if (!rc && nm == 0)
        rc = uerr_set(&e, UERR_USER,
                      "run '%s' has no ledger.sigma.* metrics (train with "
                      "train.ledger_every > 0, a model with a recurrent matrix)",
                      names[0]);
    plot_series *ps = calloc((size_t)nm + 1, sizeof *ps);
    int64_t **xs = calloc((size_t)nm + 1, sizeof *xs);
    double **ys = calloc((size_t)nm + 1, sizeof *ys);
    if (!rc && (!ps || !xs || !ys))
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
    for (int k = 0; k < nm && !rc; k++) {
        rc = store_metric_series(db, id, mn[k], &xs[k], &ys[k], &ps[k].n, &e);
        ps[k].label = mn[k] + strlen("ledger.sigma.");
        ps[k].x = xs[k], ps[k].y = ys[k];
    }
    outfile of = {0};
    if (!rc && !(rc = outfile_open(&of, out, &e))) {
        char title[200];
        snprintf(title, sizeof title,
                 "%s: largest singular value of each recurrent matrix (Elman: below 1, "
                 "its gradients must vanish)",
                 names[0]);
        plot_opts o = {.title = title, .xlabel = "step", .ylabel = "sigma_max"};
        rc = plot_svg(of.f, ps, nm, &o, &e);
        rc = rc ? rc : outfile_commit(&of, out, &e);
    }
    if (rc)
        outfile_abort(&of);
    else
        fprintf(stderr, "wrote %s (%d matri%s)\n", out, nm, nm == 1 ? "x" : "ces");
    for (int k = 0; xs && ys && k < nm; k++) {
        free(xs[k]);
        free(ys[k]);
    }
    free(xs);
    free(ys);
    free(ps);
    store_names_free(mn, nm);
    return rc ? cli_fail(&e) : 0;
}

static int run_plot(store *db, runs_args *a)
{
    if (a->ledger && !strcmp(a->ledger, "sigma"))
        return ledger_sigma(db, a->pos, a->npos, a->out);
    return a->ledger ? ledger_heatmap(db, a->pos, a->npos, a->ledger, a->out)
                     : runs_plot(db, a->pos, a->npos, a->out, a->smooth);
}

/* The option sets of the forms (cmd_runs builds them). */
enum { OPTS_NONE, OPTS_LIST, OPTS_METRICS, OPTS_PLOT, OPTS_RM, OPTS_N };

/* The forms of `unroll runs`: positional arguments (-1: one or more runs,
 * checked by the form), whether the first names one run to resolve,
 * whether the store is opened for writing, the default output form, the
 * options. */
static const struct runs_cmd {
    const char *name;
    int want, one_run, write;
    table_form form;
    int opts;
    int (*run)(store *db, runs_args *a);
} runs_cmds[] = {
    {"list", 0, 0, 0, TABLE_PLAIN, OPTS_LIST, run_list},
    {"show", 1, 1, 0, TABLE_PLAIN, OPTS_NONE, run_show},
    {"metrics", 1, 1, 0, TABLE_CSV, OPTS_METRICS, run_metrics},
    {"rm", 1, 1, 1, TABLE_PLAIN, OPTS_RM, run_rm},
    {"rename", 2, 1, 1, TABLE_PLAIN, OPTS_NONE, run_rename},
    {"plot", -1, 0, 0, TABLE_PLAIN, OPTS_PLOT, run_plot},
};

int cmd_runs(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("runs: list, show, metrics, rm, rename or plot?");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(runs_help, stdout);
        return 0;
    }
    const char *sub = argv[1];
    const struct runs_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof runs_cmds / sizeof runs_cmds[0]; i++)
        if (!strcmp(sub, runs_cmds[i].name))
            cmd = &runs_cmds[i];
    if (!cmd)
        return cli_usage("runs: unknown subcommand '%s' (list, show, metrics, rm, rename, plot)",
                         sub);
    runs_args a = {0};
    a.form = cmd->form;
    a.smooth = -1;
    /* Each form takes its own options. */
    const cli_opt opts[OPTS_N][6] = {
        [OPTS_NONE] = {{NULL, NULL, NULL}},
        [OPTS_LIST] = {{"--name", &a.f.name_glob, NULL},
                       {"--status", &a.f.status, NULL},
                       {"--since", &a.f.since, NULL},
                       {"--before", &a.f.before, NULL},
                       {"--where", NULL, NULL}, /* take_where */
                       {NULL, NULL, NULL}},
        [OPTS_METRICS] = {{"--name", &a.metric, NULL}, {NULL, NULL, NULL}},
        [OPTS_PLOT] = {{"-o", &a.out, NULL},
                       {"--out", &a.out, NULL},
                       {"--ledger", &a.ledger, NULL},
                       {"--smooth", &a.smooth_s, NULL},
                       {NULL, NULL, NULL}},
        [OPTS_RM] = {{"--force", NULL, &a.force}, {NULL, NULL, NULL}},
    };
    char what[32];
    snprintf(what, sizeof what, "runs %s", sub);
    cli_args pa = {.cmd = what,
                   .help = runs_help,
                   .c = &a.c,
                   .opts = opts[cmd->opts],
                   .take = take_where,
                   .ctx = &a,
                   .form = &a.form,
                   .first = 2,
                   .dash = CLI_DASH_ALL,
                   .pos = a.pos,
                   .npos = 64,
                   .npos_seen = &a.npos,
                   .too_many = "%s: too many arguments"};
    int pr = cli_parse_args(argc, argv, &pa);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (cmd->want >= 0 && a.npos != cmd->want)
        return cli_usage("runs %s: expected %s", sub,
                         cmd->want == 0   ? "no arguments"
                         : cmd->want == 1 ? "one run (a name or id)"
                                          : "a run and its new name");
    if (cmd->opts == OPTS_PLOT && (a.npos == 0 || !a.out))
        return cli_usage("runs plot: expected RUN... -o FILE.svg");
    const char *status = a.f.status;
    if (status && strcmp(status, "running") && strcmp(status, "finished") &&
        strcmp(status, "interrupted") && strcmp(status, "failed") && strcmp(status, "lost"))
        return cli_usage("runs list: --status is running, finished, interrupted, failed or lost");
    if (a.smooth_s && cli_int("--smooth", a.smooth_s, 0, 1000000000, &a.smooth))
        return UERR_USAGE;

    uerr e = {0};
    store *db = NULL;
    if (cli_open_store(&a.c, cmd->write, &db, &e))
        return cli_fail(&e);
    int rc;
    if (cmd->one_run && store_run_resolve(db, a.pos[0], &a.id, &e))
        rc = cli_fail(&e);
    else
        rc = cmd->run(db, &a);
    store_close(db);
    return rc;
}

static const char config_help[] =
    "usage: unroll config show CONFIG [--set KEY=VALUE]...\n"
    "\n"
    "Prints the resolved config: every key with its value or default, as YAML\n"
    "that unroll reads back, each with a one-line comment.\n"
    "\n"
    "example:\n"
    "  unroll config show configs/elman_char.yaml --set model.cell=lstm > lstm.yaml\n";

int cmd_config(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(config_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? UERR_USAGE : 0;
    }
    if (strcmp(argv[1], "show"))
        return cli_usage("config: unknown subcommand '%s' (show)", argv[1]);
    cli_common c = {0};
    cli_args pa = {.cmd = "config show",
                   .help = config_help,
                   .c = &c,
                   .first = 2,
                   .dash = CLI_DASH_ALL,
                   .pos = &c.config,
                   .last_wins = 1};
    int pr = cli_parse_args(argc, argv, &pa);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (!c.config)
        return cli_usage("config show: which config?");
    uerr e = {0};
    spec s;
    if (spec_load(&s, c.config, c.sets, c.nsets, &e))
        return cli_fail(&e);
    int rc = spec_write_yaml(&s, stdout);
    spec_free(&s);
    if (rc)
        return cli_fail(&(uerr){UERR_USER, "standard output: write failed"});
    return 0;
}
