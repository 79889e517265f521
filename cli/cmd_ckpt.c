/*
 * cmd_ckpt.c - stored checkpoints: unroll ckpt list | log | show | best |
 * diff | tag | prune | verify | export | import. Thin: each subcommand
 * parses its arguments and calls the store (store/store.h), the
 * interchange formats (store/npy.h, store/safetensors.h) or the trainer
 * (train_verify); the arithmetic here is only what a listing shows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/version.h"
#include "cli/cli.h"
#include "cli/color.h"
#include "cli/progress.h"
#include "store/json.h"
#include "train/ckpt_io.h"
#include "train/train.h"

static const char help[] =
    "usage: unroll ckpt list [RUN] [--csv | --json]\n"
    "       unroll ckpt log RUN|CKPT [--csv | --json]\n"
    "       unroll ckpt show CKPT [--csv | --json]\n"
    "       unroll ckpt best [RUN] [--metric NAME] [--max] [--csv | --json]\n"
    "       unroll ckpt diff A B [--all] [--csv | --json]\n"
    "       unroll ckpt tag CKPT NAME | unroll ckpt tag CKPT --remove\n"
    "       unroll ckpt prune RUN --keep-last K [--metric NAME] [--dry-run]\n"
    "       unroll ckpt verify CKPT\n"
    "       unroll ckpt export CKPT (--npy DIR | --safetensors FILE) [--all] [--torch]\n"
    "       unroll ckpt import DIR|FILE --name RUN [--config CONFIG [--set K=V]...]\n"
    "                          [--torch] [--map OLD=NEW]... [--step N] [--allow-nonfinite]\n"
    "       (every form takes --db FILE, default unroll.db, and --color=WHEN)\n"
    "\n"
    "CKPT is a checkpoint id, a tag, RUN@STEP (the latest version at that step),\n"
    "RUN@best (the lowest valid_loss, else loss) or a run name (its latest\n"
    "checkpoint), tried in that order.\n"
    "\n"
    "list    every checkpoint (of RUN): step, version, parent, metrics, tag, size\n"
    "log     the lineage of a checkpoint (a run's latest), newest first, back\n"
    "        through resumes and into the run it was started --from\n"
    "show    one checkpoint and its tensors (hashes verified; min, max, mean, rms)\n"
    "best    the checkpoint with the lowest (--max: highest) value of a metric\n"
    "        (default valid_loss), of RUN or of all runs\n"
    "diff    per parameter (--all: every tensor): equal or not, L2 distance,\n"
    "        max |a-b|, relative change |a-b|/|a|; then the config keys that\n"
    "        differ between their runs\n"
    "tag     names a checkpoint (unique; usable wherever CKPT is)\n"
    "prune   deletes RUN's checkpoints except the K newest, tagged ones, the best\n"
    "        by --metric (default valid_loss, else loss) and those other runs\n"
    "        started from; tensors still used elsewhere stay\n"
    "verify  replays the steps from the checkpoint's parent (or the run's start)\n"
    "        and compares every tensor and logged loss bit for bit; exit 1 if\n"
    "        anything differs. On a terminal a progress bar shows the replay\n"
    "        (--quiet: none), and the verdict is coloured (--color=WHEN)\n"
    "export  the parameters (--all: every tensor) as DIR/<name>.npy files or one\n"
    "        safetensors file; --torch writes them as the state_dict of a model\n"
    "        holding rnn = nn.RNN, nn.LSTM or nn.GRU (elman, lstm, gru with\n"
    "        model.gru: torch; stacked and bidirectional too) and fc = nn.Linear\n"
    "import  makes a checkpoint of run RUN from .npy files or a safetensors file;\n"
    "        --torch (with --config) splits a PyTorch state_dict (weight_ih_l0,\n"
    "        ..., with or without a module prefix; fc.weight, fc.bias) into the\n"
    "        config's parameters, refusing one that does not fit; --map OLD=NEW\n"
    "        reads tensor OLD as NEW first; with --config the tensors are checked\n"
    "        against that model and the run gets its config and vocabulary, so\n"
    "        sample, eval, predict, --from and --resume work on it (a resume\n"
    "        from parameters alone starts the optimiser and data as a new run\n"
    "        does); without --config, the weights only (export, diff, SQL); a\n"
    "        tensor holding NaN or inf is refused unless --allow-nonfinite\n"
    "\n"
    "examples:\n"
    "  unroll ckpt best --metric valid_loss\n"
    "  unroll ckpt diff elman_char@1000 elman_char@2000\n"
    "  unroll ckpt export elman_char --safetensors elman.safetensors --torch\n";

/* ---- shared ------------------------------------------------------------ */

static int load_ref(store *db, const char *ref, store_loaded *l, uerr *e)
{
    int64_t ck;
    int rc = store_checkpoint_resolve(db, ref, &ck, e);
    return rc ? rc : store_checkpoint_load(db, ck, l, e);
}

/* Element k of a tensor as a double. */
static double elem(const store_loaded_tensor *t, int64_t k)
{
    switch (t->dt) {
    case DT_F32:
        return ((const float *)t->data)[k];
    case DT_F64:
        return ((const double *)t->data)[k];
    default:
        return ((const int32_t *)t->data)[k];
    }
}

/* ---- list, log, best ------------------------------------------------------ */

static int ckpt_list(store *db, const char *run, table_form form)
{
    uerr e = {0};
    int64_t id = 0;
    table t;
    if ((run && store_run_resolve(db, run, &id, &e)) || store_checkpoints_table(db, id, &t, &e))
        return cli_fail(&e);
    int rc = cli_print_loss_table(&t, form);
    table_free(&t);
    return rc;
}

static int ckpt_log(store *db, const char *ref, table_form form)
{
    uerr e = {0};
    int64_t ck;
    table t;
    if (store_checkpoint_resolve(db, ref, &ck, &e) || store_lineage_table(db, ck, &t, &e))
        return cli_fail(&e);
    int rc = cli_print_loss_table(&t, form);
    table_free(&t);
    return rc;
}

static int ckpt_best(store *db, const char *run, const char *metric, int maximize, table_form form)
{
    uerr e = {0};
    int64_t id = 0, ck;
    double v;
    store_loaded l = {0};
    store_run r = {0};
    if ((run && store_run_resolve(db, run, &id, &e)) ||
        store_checkpoint_best(db, id, metric, maximize, &ck, &v, &e) ||
        store_checkpoint_load(db, ck, &l, &e) || store_run_get(db, l.run, &r, &e)) {
        store_loaded_free(&l);
        return cli_fail(&e);
    }
    const char *cols[] = {"id", "run", "step", "version", "tag", metric};
    table t;
    int rc = table_init(&t, 6, cols, &e);
    if (!rc) {
        table_int(&t, l.id);
        table_text(&t, r.name);
        table_int(&t, l.step);
        table_int(&t, l.version);
        table_text(&t, l.tag);
        table_real(&t, v);
        rc = table_set_format(&t, 5, "%.6f", &e);
    }
    rc = rc ? cli_fail(&e) : cli_print_table(&t, form);
    table_free(&t);
    store_run_free(&r);
    store_loaded_free(&l);
    return rc;
}

/* ---- show ---------------------------------------------------------------- */

static int ckpt_show(store *db, const char *ref, table_form form)
{
    uerr e = {0};
    store_loaded l = {0};
    store_run r = {0};
    if (load_ref(db, ref, &l, &e) || store_run_get(db, l.run, &r, &e)) {
        store_loaded_free(&l);
        return cli_fail(&e);
    }
    static const char *const cols[] = {"name", "role", "dtype", "shape", "bytes",
                                       "hash", "min",  "max",   "mean",  "rms"};
    table t;
    int rc = table_init(&t, 10, cols, &e);
    int64_t total = 0;
    for (int i = 0; !rc && i < l.n; i++) {
        const store_loaded_tensor *x = &l.t[i];
        char shp[96], h[16];
        int64_t n = shape_numel(&x->shape);
        double mn = INFINITY, mx = -INFINITY, sum = 0, sq = 0;
        for (int64_t k = 0; k < n; k++) {
            double v = elem(x, k);
            mn = fmin(mn, v), mx = fmax(mx, v), sum += v, sq += v * v;
        }
        snprintf(h, sizeof h, "%.12s", x->hash);
        table_text(&t, x->name);
        table_text(&t, x->role);
        table_text(&t, dtype_name(x->dt));
        table_text(&t, shape_str(&x->shape, shp, sizeof shp));
        table_int(&t, (int64_t)x->nbytes);
        table_text(&t, h);
        if (n == 0) {
            for (int k = 0; k < 4; k++)
                table_null(&t);
        } else if (x->dt == DT_I32) {
            table_int(&t, (int64_t)mn);
            table_int(&t, (int64_t)mx);
            table_null(&t);
            table_null(&t);
        } else {
            table_real(&t, mn);
            table_real(&t, mx);
            table_real(&t, sum / (double)n);
            table_real(&t, sqrt(sq / (double)n));
        }
        total += (int64_t)x->nbytes;
    }
    if (!rc)
        rc = table_check(&t, &e);
    if (rc) {
        store_run_free(&r);
        store_loaded_free(&l);
        return cli_fail(&e);
    }
    if (form == TABLE_CSV) {
        rc = cli_print_table(&t, form);
    } else if (form == TABLE_JSON) {
        printf("{\"id\": %lld, \"run\": ", (long long)l.id);
        json_write_string(stdout, r.name);
        printf(", \"step\": %lld, \"version\": %lld, \"parent\": ", (long long)l.step,
               (long long)l.version);
        if (l.parent)
            printf("%lld", (long long)l.parent);
        else
            fputs("null", stdout);
        fputs(", \"created\": ", stdout);
        json_write_string(stdout, l.created);
        fputs(", \"tag\": ", stdout);
        if (l.tag)
            json_write_string(stdout, l.tag);
        else
            fputs("null", stdout);
        /* the stored metrics are JSON already (checked by the schema) */
        printf(", \"metrics\": %s, \"tensors\": ", l.metrics_json ? l.metrics_json : "null");
        rc = cli_print_table(&t, TABLE_JSON);
        fputs("}\n", stdout);
    } else {
        printf("checkpoint %lld: run '%s' (id %lld), step %lld, version %lld\n", (long long)l.id,
               r.name, (long long)l.run, (long long)l.step, (long long)l.version);
        printf("created   %s\n", l.created);
        if (l.parent)
            printf("parent    %lld\n", (long long)l.parent);
        else
            printf("parent    - (the run's start)\n");
        printf("tag       %s\n", l.tag ? l.tag : "-");
        printf("metrics   %s\n", l.metrics_json ? l.metrics_json : "-");
        if (l.note)
            printf("note      %s\n", l.note);
        printf("tensors   %d, %lld bytes, every hash verified\n\n", l.n, (long long)total);
        rc = cli_print_table(&t, TABLE_PLAIN);
    }
    table_free(&t);
    store_run_free(&r);
    store_loaded_free(&l);
    return rc;
}

/* ---- diff ------------------------------------------------------------------ */

static int ckpt_diff(store *db, const char *ra, const char *rb, int all, table_form form)
{
    uerr e = {0};
    store_loaded a = {0}, b = {0};
    store_run ar = {0}, br = {0};
    cli_kv *ka = NULL, *kb = NULL;
    int na = 0, nb = 0;
    int rc = load_ref(db, ra, &a, &e);
    if (!rc)
        rc = load_ref(db, rb, &b, &e);
    if (!rc)
        rc = store_run_get(db, a.run, &ar, &e);
    if (!rc)
        rc = store_run_get(db, b.run, &br, &e);
    if (rc)
        goto out;
    static const char *const cols[] = {"name", "role", "shape", "same", "l2", "max_abs", "rel"};
    table t;
    if ((rc = table_init(&t, 7, cols, &e)))
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        const store_loaded *x = pass ? &b : &a, *y = pass ? &a : &b;
        for (int i = 0; i < x->n; i++) {
            const store_loaded_tensor *p = &x->t[i];
            const store_loaded_tensor *q = store_loaded_find(y, p->name);
            if ((pass && q) || (!all && strcmp(p->role, "param")))
                continue; /* already a row from A's side, or not asked for */
            char shp[96];
            table_text(&t, p->name);
            table_text(&t, p->role);
            if (!q) {
                char only[120];
                snprintf(only, sizeof only, "%s only in %s", shape_str(&p->shape, shp, sizeof shp),
                         pass ? "B" : "A");
                table_text(&t, only);
                table_text(&t, "no");
                for (int k = 0; k < 3; k++)
                    table_null(&t);
                continue;
            }
            int same_shape = shape_equal(&p->shape, &q->shape);
            if (same_shape) {
                table_text(&t, shape_str(&p->shape, shp, sizeof shp));
            } else {
                char s2[96], both[200];
                snprintf(both, sizeof both, "%s vs %s", shape_str(&p->shape, shp, sizeof shp),
                         shape_str(&q->shape, s2, sizeof s2));
                table_text(&t, both);
            }
            table_text(&t, !strcmp(p->hash, q->hash) ? "yes" : "no");
            if (!same_shape || p->dt == DT_I32 || q->dt == DT_I32) {
                for (int k = 0; k < 3; k++)
                    table_null(&t);
                continue;
            }
            double d2 = 0, a2 = 0, mx = 0;
            for (int64_t k = 0, n = shape_numel(&p->shape); k < n; k++) {
                double u = elem(p, k), v = elem(q, k);
                d2 += (u - v) * (u - v);
                a2 += u * u;
                mx = fmax(mx, fabs(u - v));
            }
            table_real(&t, sqrt(d2));
            table_real(&t, mx);
            table_real(&t, d2 == 0 ? 0 : a2 > 0 ? sqrt(d2 / a2) : INFINITY);
        }
    }
    if ((rc = table_check(&t, &e))) {
        table_free(&t);
        goto out;
    }
    /* the configs, as resolved keys */
    char la[300], lb[300];
    snprintf(la, sizeof la, "run '%s' config", ar.name);
    snprintf(lb, sizeof lb, "run '%s' config", br.name);
    int have_cfg = *ar.config_text && *br.config_text &&
                   !cli_config_flat(la, ar.config_text, &ka, &na, NULL) &&
                   !cli_config_flat(lb, br.config_text, &kb, &nb, NULL);
    if (form == TABLE_CSV) {
        rc = cli_print_table(&t, form);
    } else if (form == TABLE_JSON) {
        printf("{\"a\": %lld, \"b\": %lld, \"tensors\": ", (long long)a.id, (long long)b.id);
        rc = cli_print_table(&t, TABLE_JSON);
        fputs(", \"config\": [", stdout);
    } else {
        printf("A: checkpoint %lld (run '%s', step %lld)\nB: checkpoint %lld (run '%s', step "
               "%lld)\n\n",
               (long long)a.id, ar.name, (long long)a.step, (long long)b.id, br.name,
               (long long)b.step);
        rc = cli_print_table(&t, TABLE_PLAIN);
        if (a.run == b.run)
            printf("\nconfig: the same run\n");
        else if (!have_cfg)
            printf("\nconfig: not comparable (a run without a readable config)\n");
    }
    int ndiff = 0;
    for (int pass = 0; have_cfg && a.run != b.run && pass < 2 && form != TABLE_CSV; pass++) {
        cli_kv *x = pass ? kb : ka, *y = pass ? ka : kb;
        int nx = pass ? nb : na, ny = pass ? na : nb;
        for (int i = 0; i < nx; i++) {
            const char *other = NULL;
            for (int j = 0; j < ny && !other; j++)
                if (!strcmp(x[i].key, y[j].key))
                    other = y[j].value;
            if (pass && other)
                continue;
            if (!strcmp(x[i].key, "name") || (other && !strcmp(other, x[i].value)))
                continue;
            const char *va = pass ? other : x[i].value, *vb = pass ? x[i].value : other;
            if (form == TABLE_JSON) {
                fputs(ndiff ? ", {\"key\": " : "{\"key\": ", stdout);
                json_write_string(stdout, x[i].key);
                fputs(", \"a\": ", stdout);
                va ? json_write_string(stdout, va) : (void)fputs("null", stdout);
                fputs(", \"b\": ", stdout);
                vb ? json_write_string(stdout, vb) : (void)fputs("null", stdout);
                fputc('}', stdout);
            } else {
                if (!ndiff)
                    printf("\nconfig (A -> B):\n");
                printf("  %s: %s -> %s\n", x[i].key, va ? va : "(absent)", vb ? vb : "(absent)");
            }
            ndiff++;
        }
    }
    if (form == TABLE_JSON)
        fputs("]}\n", stdout);
    else if (form == TABLE_PLAIN && have_cfg && a.run != b.run && !ndiff)
        printf("\nconfig: no differences (besides the name)\n");
    table_free(&t);
out:
    cli_kv_free(ka, na);
    cli_kv_free(kb, nb);
    store_run_free(&ar);
    store_run_free(&br);
    store_loaded_free(&a);
    store_loaded_free(&b);
    return rc && e.code ? cli_fail(&e) : rc;
}

/* ---- tag, prune --------------------------------------------------------------- */

static int ckpt_tag(store *db, const char *ref, const char *tag)
{
    uerr e = {0};
    int64_t ck;
    if (store_checkpoint_resolve(db, ref, &ck, &e) || store_checkpoint_tag(db, ck, tag, &e))
        return cli_fail(&e);
    if (tag)
        printf("checkpoint %lld is tagged '%s'\n", (long long)ck, tag);
    else
        printf("checkpoint %lld has no tag\n", (long long)ck);
    return 0;
}

static int ckpt_prune(store *db, const char *run, long long keep, const char *metric, int dry)
{
    uerr e = {0};
    int64_t id;
    table removed;
    store_removed st;
    if (store_run_resolve(db, run, &id, &e) ||
        store_checkpoint_prune(db, id, keep, metric, dry, &removed, &st, &e))
        return cli_fail(&e);
    printf("%s %lld checkpoint%s of run '%s'", dry ? "would remove" : "removed",
           (long long)st.checkpoints, st.checkpoints == 1 ? "" : "s", run);
    for (int64_t r = 0; r < removed.nrows; r++)
        printf("%s%lld", r ? ", " : " (steps ", (long long)table_at(&removed, r, 1)->i);
    char freed[BYTES_STR_MAX];
    printf("%s; %lld tensor%s no longer used (%s)\n", removed.nrows ? ")" : "",
           (long long)st.tensors, st.tensors == 1 ? "" : "s", bytes_str((uint64_t)st.bytes, freed));
    printf("kept: the %lld newest, tagged ones, the best by %s, and any other run started "
           "from\n",
           keep, metric ? metric : "valid_loss (else loss)");
    table_free(&removed);
    return 0;
}

/* ---- verify ----------------------------------------------------------------- */

/* The replay's progress: a bar on a terminal, nothing otherwise (the
 * result lines are what scripts read). */
static void verify_progress(void *ctx, const train_progress *p)
{
    cli_progress *bar = ctx;
    char text[128], eta[32];
    cli_fmt_duration(p->eta_s, eta, sizeof eta);
    snprintf(text, sizeof text, "replaying step %lld/%lld  ETA %s", (long long)p->step,
             (long long)p->steps, eta);
    cli_progress_draw(bar, p->elapsed_s, p->step, p->steps, text, p->step == p->steps);
}

static int ckpt_verify(store *db, const char *ref, int quiet)
{
    uerr e = {0};
    int64_t ck;
    train_verify_result vr;
    cli_progress bar;
    cli_progress_init(&bar, stderr);
    int show = bar.tty && !quiet;
    int rc = store_checkpoint_resolve(db, ref, &ck, &e);
    if (!rc)
        rc = train_verify(db, ck, show ? verify_progress : NULL, &bar, &vr, &e);
    cli_progress_clear(&bar);
    if (rc)
        return cli_fail(&e);
    if (vr.warning[0])
        cli_warn("%s", vr.warning);
    char from[64];
    if (vr.from_step)
        snprintf(from, sizeof from, "checkpoint %lld", (long long)vr.from_ckpt);
    else if (vr.from_ckpt)
        snprintf(from, sizeof from, "the start (checkpoint %lld)", (long long)vr.from_ckpt);
    else
        snprintf(from, sizeof from, "the start");
    printf("checkpoint %lld: replayed steps %lld to %lld from %s in %.2f s\n", (long long)ck,
           (long long)vr.from_step + 1, (long long)vr.to_step, from, vr.seconds);
    int ok = vr.tensors_differ == 0 && vr.losses_differ == 0;
    printf("%d tensors: %d differ; %lld logged losses: %lld differ\n", vr.tensors,
           vr.tensors_differ, (long long)vr.losses, (long long)vr.losses_differ);
    if (ok) {
        printf("%sverified: bit-identical%s\n", cli_sgr(stdout, CLI_GOOD), cli_sgr_end(stdout));
        return 0;
    }
    /* what differs says why: the data, the config or the program changed,
     * or none did and the replay itself is at fault */
    printf("%sNOT verified:%s %s; %s%s\n", cli_sgr(stdout, CLI_ERROR), cli_sgr_end(stdout),
           vr.first_diff,
           vr.changed[0] ? "changed since it was trained: "
                         : "the data, config and program are the ones it was trained with, so "
                           "the replay itself differs",
           vr.changed);
    return UERR_USER;
}

/* ---- export, import (train/ckpt_io.c) ----------------------------------------- */

static int ckpt_export(store *db, const char *ref, const char *npy_dir, const char *sft_path,
                       int all, int torch)
{
    uerr e = {0};
    ckpt_exported x;
    ckpt_export_opts o = {npy_dir, sft_path, all, torch};
    int rc = ckpt_io_export(db, ref, &o, &x, &e);
    if (!rc) {
        printf("exported %d tensor%s of checkpoint %lld (run '%s', step %lld) to %s:", x.n,
               x.n == 1 ? "" : "s", (long long)x.l.id, x.r.name, (long long)x.l.step,
               npy_dir ? npy_dir : sft_path);
        for (int i = 0; i < x.n; i++) {
            char shp[96];
            printf("%s %s %s", i ? "," : "", x.t[i].name,
                   shape_str(&x.t[i].shape, shp, sizeof shp));
        }
        printf("\n");
    }
    ckpt_exported_free(&x);
    return rc ? cli_fail(&e) : 0;
}

static int ckpt_import(store *db, const char *src, const char *name, const cli_common *c,
                       long long step, int nonfinite, const char *cmdline, int torch,
                       const char *const *maps, int nmaps)
{
    uerr e = {0};
    ckpt_imported r;
    ckpt_import_opts o = {.src = src,
                          .name = name,
                          .config = c->config,
                          .sets = c->sets,
                          .nsets = c->nsets,
                          .step = step,
                          .command_line = cmdline,
                          .program_version = UNROLL_VERSION,
                          .allow_nonfinite = nonfinite,
                          .torch = torch,
                          .maps = maps,
                          .nmaps = nmaps};
    if (ckpt_io_import(db, &o, &r, &e))
        return cli_fail(&e);
    printf("imported %d tensor%s from %s as run '%s', checkpoint %lld (step %lld)%s\n", r.n,
           r.n == 1 ? "" : "s", src, name, (long long)r.ckpt, step,
           r.checked ? ", checked against the config's model" : "");
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------- */

/* Everything the options of any form can set (every form accepts every
 * option; a form reads the ones it needs). */
typedef struct ckpt_args {
    cli_common c;
    table_form form;
    const char *pos[4];
    int npos;
    const char *metric, *keep_s, *npy, *sft, *name, *step_s, *config;
    int maximize, remove_tag, dry, all, torch, nonfinite;
    const char *maps[CLI_MAX_SETS]; /* --map OLD=NEW */
    int nmaps;
    long long keep, step;
    char cmdline[4096];
} ckpt_args;

static int run_list(store *db, const ckpt_args *a)
{
    return ckpt_list(db, a->npos ? a->pos[0] : NULL, a->form);
}

static int run_log(store *db, const ckpt_args *a)
{
    return ckpt_log(db, a->pos[0], a->form);
}

static int run_show(store *db, const ckpt_args *a)
{
    return ckpt_show(db, a->pos[0], a->form);
}

static int run_best(store *db, const ckpt_args *a)
{
    return ckpt_best(db, a->npos ? a->pos[0] : NULL, a->metric ? a->metric : "valid_loss",
                     a->maximize, a->form);
}

static int run_diff(store *db, const ckpt_args *a)
{
    return ckpt_diff(db, a->pos[0], a->pos[1], a->all, a->form);
}

static int check_tag(ckpt_args *a)
{
    if ((a->npos == 2) == a->remove_tag)
        return cli_usage("ckpt tag: CKPT NAME, or CKPT --remove");
    return 0;
}

static int run_tag(store *db, const ckpt_args *a)
{
    return ckpt_tag(db, a->pos[0], a->remove_tag ? NULL : a->pos[1]);
}

static int check_prune(ckpt_args *a)
{
    if (!a->keep_s || cli_int("--keep-last", a->keep_s, 1, 1000000000, &a->keep))
        return a->keep_s ? UERR_USAGE : cli_usage("ckpt prune: --keep-last K is required");
    return 0;
}

static int run_prune(store *db, const ckpt_args *a)
{
    return ckpt_prune(db, a->pos[0], a->keep, a->metric, a->dry);
}

static int run_verify(store *db, const ckpt_args *a)
{
    return ckpt_verify(db, a->pos[0], a->c.quiet);
}

static int check_export(ckpt_args *a)
{
    if (!a->npy == !a->sft)
        return cli_usage("ckpt export: --npy DIR or --safetensors FILE");
    return 0;
}

static int run_export(store *db, const ckpt_args *a)
{
    return ckpt_export(db, a->pos[0], a->npy, a->sft, a->all, a->torch);
}

static int check_import(ckpt_args *a)
{
    if (!a->name)
        return cli_usage("ckpt import: --name RUN is required");
    if (a->torch && !a->config)
        return cli_usage("ckpt import: --torch needs --config CONFIG (the model the state_dict "
                         "is split into)");
    return 0;
}

static int run_import(store *db, const ckpt_args *a)
{
    return ckpt_import(db, a->pos[0], a->name, &a->c, a->step, a->nonfinite, a->cmdline, a->torch,
                       a->maps, a->nmaps);
}

/* The forms of `unroll ckpt`: positional arguments (min, max), whether
 * the store is opened for writing, a check of the options before the
 * store is opened, and the form itself. */
static const struct ckpt_cmd {
    const char *name;
    int min, max, write;
    int (*check)(ckpt_args *a);
    int (*run)(store *db, const ckpt_args *a);
} ckpt_cmds[] = {
    {"list", 0, 1, 0, NULL, run_list},
    {"log", 1, 1, 0, NULL, run_log},
    {"show", 1, 1, 0, NULL, run_show},
    {"best", 0, 1, 0, NULL, run_best},
    {"diff", 2, 2, 0, NULL, run_diff},
    {"tag", 1, 2, 1, check_tag, run_tag},
    {"prune", 1, 1, 1, check_prune, run_prune},
    {"verify", 1, 1, 0, NULL, run_verify},
    {"export", 1, 1, 0, check_export, run_export},
    {"import", 1, 1, 1, check_import, run_import},
};

/* --map, the one option that repeats */
static int take_map(void *ctx, const char *name, const char *value)
{
    ckpt_args *a = ctx;
    (void)name;
    if (a->nmaps == CLI_MAX_SETS)
        return cli_usage("more than %d --map options", CLI_MAX_SETS);
    a->maps[a->nmaps++] = value;
    return 0;
}

int cmd_ckpt(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(
            "ckpt: list, log, show, best, diff, tag, prune, verify, export or import?");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, stdout);
        return 0;
    }
    const char *sub = argv[1];
    const struct ckpt_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof ckpt_cmds / sizeof ckpt_cmds[0]; i++)
        if (!strcmp(sub, ckpt_cmds[i].name))
            cmd = &ckpt_cmds[i];
    if (!cmd)
        return cli_usage("ckpt: unknown subcommand '%s' (list, log, show, best, diff, tag, prune, "
                         "verify, export, import)",
                         sub);
    ckpt_args a = {0};
    const cli_opt opts[] = {{"--metric", &a.metric, NULL},
                            {"--keep-last", &a.keep_s, NULL},
                            {"--npy", &a.npy, NULL},
                            {"--safetensors", &a.sft, NULL},
                            {"--name", &a.name, NULL},
                            {"--step", &a.step_s, NULL},
                            {"--config", &a.config, NULL},
                            {"--max", NULL, &a.maximize},
                            {"--remove", NULL, &a.remove_tag},
                            {"--dry-run", NULL, &a.dry},
                            {"--all", NULL, &a.all},
                            {"--torch", NULL, &a.torch},
                            {"--allow-nonfinite", NULL, &a.nonfinite},
                            {"--map", NULL, NULL},
                            {NULL, NULL, NULL}};
    char what[32];
    snprintf(what, sizeof what, "ckpt %s", sub);
    cli_args pa = {.cmd = what,
                   .help = help,
                   .c = &a.c,
                   .opts = opts,
                   .take = take_map,
                   .ctx = &a,
                   .form = &a.form,
                   .first = 2,
                   .pos = a.pos,
                   .npos = 4,
                   .npos_seen = &a.npos,
                   .too_many = "%s: too many arguments"};
    int pr = cli_parse_args(argc, argv, &pa);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (a.npos < cmd->min || a.npos > cmd->max)
        return cli_usage("ckpt %s: wrong number of arguments (see 'unroll ckpt --help')", sub);
    int rc;
    if (cmd->check && (rc = cmd->check(&a)))
        return rc;
    if (a.step_s && cli_int("--step", a.step_s, 0, INT64_MAX, &a.step))
        return UERR_USAGE;
    if (a.c.nsets && !a.config)
        return cli_usage("ckpt import: --set goes with --config");
    a.c.config = a.config;

    cli_command_line(argc, argv, a.cmdline, sizeof a.cmdline);
    uerr e = {0};
    store *db = NULL;
    if (cli_open_store(&a.c, cmd->write, &db, &e))
        return cli_fail(&e);
    rc = cmd->run(db, &a);
    store_close(db);
    return rc;
}
