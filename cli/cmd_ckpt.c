/*
 * cmd_ckpt.c - stored checkpoints: unroll ckpt list | log | show | best |
 * diff | tag | prune | verify | export | import. Thin: each subcommand
 * parses its arguments and calls the store (store/store.h), the
 * interchange formats (store/npy.h, store/safetensors.h) or the trainer
 * (train_verify); the arithmetic here is only what a listing shows.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/color.h"
#include "cli/progress.h"
#include "store/json.h"
#include "store/npy.h"
#include "store/safetensors.h"
#include "train/data.h"
#include "train/net.h"
#include "train/train.h"

#ifndef UNROLL_VERSION
#define UNROLL_VERSION "0.1.0"
#endif

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
    "                          [--step N]\n"
    "       (every form takes --db FILE, default unroll.db, and --color=WHEN)\n"
    "\n"
    "CKPT is a checkpoint id, a tag, RUN@STEP (the latest version at that step)\n"
    "or a run name (its latest checkpoint), tried in that order.\n"
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
    "        safetensors file; --torch names them as a torch.nn.RNN + nn.Linear\n"
    "        state_dict (docs/store.md)\n"
    "import  makes a checkpoint of run RUN from .npy files or a safetensors file\n"
    "        (torch names are mapped back); with --config the tensors are checked\n"
    "        against that model and the run gets its config and vocabulary, so\n"
    "        sample, eval and --from work on it\n"
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
    int rc = cli_print_table(&t, form);
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
    int rc = cli_print_table(&t, form);
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
    printf("%s; %lld tensor%s no longer used (%.1f KiB)\n", removed.nrows ? ")" : "",
           (long long)st.tensors, st.tensors == 1 ? "" : "s", (double)st.bytes / 1024.0);
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
    printf("%sNOT verified:%s %s\n", cli_sgr(stdout, CLI_ERROR), cli_sgr_end(stdout),
           vr.first_diff);
    return UERR_USER;
}

/* ---- export ------------------------------------------------------------------ */

/* torch.nn.RNN (tanh, one layer) + nn.Linear: the state_dict names of the
 * Elman parameters. PyTorch has two hidden biases; b goes to bias_ih_l0
 * and bias_hh_l0 gets zeros (their sum is what the cell adds). */
static const char *const torch_names[][2] = {
    {"U", "rnn.weight_ih_l0"}, {"W", "rnn.weight_hh_l0"}, {"b", "rnn.bias_ih_l0"},
    {"V", "linear.weight"},    {"c", "linear.bias"},
};

static int ckpt_export(store *db, const char *ref, const char *npy_dir, const char *sft_path,
                       int all, int torch)
{
    uerr e = {0};
    store_loaded l = {0};
    store_run r = {0};
    if (load_ref(db, ref, &l, &e) || store_run_get(db, l.run, &r, &e)) {
        store_loaded_free(&l);
        return cli_fail(&e);
    }
    sft_tensor *out = calloc((size_t)l.n + 1, sizeof *out);
    void *zeros = NULL;
    int n = 0, rc = 0;
    if (!out)
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
    for (int i = 0; !rc && i < l.n; i++)
        if (all || !strcmp(l.t[i].role, "param"))
            out[n++] = (sft_tensor){l.t[i].name, l.t[i].dt, l.t[i].shape, l.t[i].data};
    if (!rc && torch) {
        int np = 0;
        const store_loaded_tensor *b = NULL;
        for (int i = 0; i < n; i++) {
            const char *tn = NULL;
            for (size_t k = 0; k < sizeof torch_names / sizeof torch_names[0]; k++)
                if (!strcmp(out[i].name, torch_names[k][0]))
                    tn = torch_names[k][1];
            if (tn)
                out[i].name = tn, np++;
            if (!strcmp(l.t[i].name, "b"))
                b = &l.t[i];
        }
        if (all || np != 5 || n != 5 || !b)
            rc = uerr_set(&e, UERR_USER,
                          "--torch maps the parameters U, W, b, V, c of an Elman cell (and "
                          "goes without --all); checkpoint %lld has %d parameters",
                          (long long)l.id, n);
        else if (!(zeros = calloc(b->nbytes ? b->nbytes : 1, 1)))
            rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
        else
            out[n++] = (sft_tensor){"rnn.bias_hh_l0", b->dt, b->shape, zeros};
    }
    if (!rc && n == 0)
        rc =
            uerr_set(&e, UERR_USER, "checkpoint %lld has no parameters to export", (long long)l.id);
    if (!rc && npy_dir) {
        if (mkdir(npy_dir, 0777) != 0 && errno != EEXIST)
            rc = uerr_set(&e, UERR_USER, "%s: cannot create: %s", npy_dir, strerror(errno));
        for (int i = 0; !rc && i < n; i++) {
            /* a name must stay one file inside DIR */
            if (strchr(out[i].name, '/') || out[i].name[0] == '.') {
                rc = uerr_set(&e, UERR_USER, "tensor '%s' cannot be a file name", out[i].name);
                break;
            }
            char path[4200];
            snprintf(path, sizeof path, "%s/%s.npy", npy_dir, out[i].name);
            rc = npy_write(path, out[i].dt, &out[i].shape, out[i].data, &e);
        }
    }
    if (!rc && sft_path) {
        char id[32], step[32];
        snprintf(id, sizeof id, "%lld", (long long)l.id);
        snprintf(step, sizeof step, "%lld", (long long)l.step);
        const char *meta[] = {"format", "pt",          "unroll.run", r.name, "unroll.checkpoint",
                              id,       "unroll.step", step};
        rc = sft_write(sft_path, out, n, meta, 4, &e);
    }
    if (!rc) {
        printf("exported %d tensor%s of checkpoint %lld (run '%s', step %lld) to %s:", n,
               n == 1 ? "" : "s", (long long)l.id, r.name, (long long)l.step,
               npy_dir ? npy_dir : sft_path);
        for (int i = 0; i < n; i++) {
            char shp[96];
            printf("%s %s %s", i ? "," : "", out[i].name,
                   shape_str(&out[i].shape, shp, sizeof shp));
        }
        printf("\n");
    }
    free(zeros);
    free(out);
    store_run_free(&r);
    store_loaded_free(&l);
    return rc ? cli_fail(&e) : 0;
}

/* ---- import ------------------------------------------------------------------ */

typedef struct imp_tensor {
    char *name;
    dtype dt;
    shape shape;
    void *data;
} imp_tensor;

typedef struct imp_set {
    imp_tensor *t;
    int n, cap;
} imp_set;

static void imp_free(imp_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].data);
    }
    free(s->t);
    memset(s, 0, sizeof *s);
}

/* Takes ownership of name and data. */
static int imp_add(imp_set *s, char *name, dtype dt, shape sh, void *data, uerr *e)
{
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 16;
        imp_tensor *t = realloc(s->t, (size_t)nc * sizeof *t);
        if (!t) {
            free(name);
            free(data);
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        }
        s->t = t;
        s->cap = nc;
    }
    s->t[s->n++] = (imp_tensor){name, dt, sh, data};
    return 0;
}

static int imp_name_cmp(const void *a, const void *b)
{
    return strcmp(((const imp_tensor *)a)->name, ((const imp_tensor *)b)->name);
}

static int imp_read(const char *src, imp_set *set, uerr *e)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return uerr_set(e, UERR_USER, "%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        sft_file f;
        int rc = sft_read(src, &f, e);
        for (int i = 0; !rc && i < f.n; i++) {
            rc = imp_add(set, f.t[i].name, f.t[i].dt, f.t[i].shape, f.t[i].data, e);
            f.t[i].name = NULL;
            f.t[i].data = NULL;
        }
        if (!rc && set->n == 0)
            rc = uerr_set(e, UERR_USER, "%s: no tensors", src);
        sft_free(&f);
        return rc;
    }
    DIR *d = opendir(src);
    if (!d)
        return uerr_set(e, UERR_USER, "%s: %s", src, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || strcmp(de->d_name + len - 4, ".npy") || de->d_name[0] == '.')
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", src, de->d_name);
        dtype dt;
        shape sh;
        void *data = NULL;
        if ((rc = npy_read(path, &dt, &sh, &data, e)))
            break;
        char *name = strndup(de->d_name, len - 4);
        if (!name) {
            free(data);
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            break;
        }
        rc = imp_add(set, name, dt, sh, data, e);
    }
    closedir(d);
    if (!rc && set->n == 0)
        rc = uerr_set(e, UERR_USER, "%s: no .npy files", src);
    if (!rc)
        qsort(set->t, (size_t)set->n, sizeof *set->t, imp_name_cmp);
    return rc;
}

static imp_tensor *imp_find(imp_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    return NULL;
}

/* torch state_dict names (with or without the "rnn." prefix) back to U,
 * W, b = bias_ih + bias_hh, V, c. */
static int imp_from_torch(imp_set *s, uerr *e)
{
    imp_tensor *wih = imp_find(s, "rnn.weight_ih_l0");
    if (!wih)
        wih = imp_find(s, "weight_ih_l0");
    if (!wih)
        return 0;
    int pre = !strncmp(wih->name, "rnn.", 4);
    static const char *const map[][2] = {{"weight_ih_l0", "U"},
                                         {"weight_hh_l0", "W"},
                                         {"bias_ih_l0", "b"},
                                         {"linear.weight", "V"},
                                         {"linear.bias", "c"}};
    imp_tensor *bhh = imp_find(s, pre ? "rnn.bias_hh_l0" : "bias_hh_l0");
    imp_tensor *bih = imp_find(s, pre ? "rnn.bias_ih_l0" : "bias_ih_l0");
    if (bhh && bih) {
        if (bhh->dt != bih->dt || !shape_equal(&bhh->shape, &bih->shape) || bhh->dt == DT_I32)
            return uerr_set(e, UERR_USER, "bias_ih_l0 and bias_hh_l0 differ in dtype or shape");
        int64_t n = shape_numel(&bih->shape);
        DT_EACH_REAL(bih->dt, T, {
            T *x = bih->data;
            const T *y = bhh->data;
            for (int64_t k = 0; k < n; k++)
                x[k] += y[k];
        });
    }
    for (int i = 0; i < s->n; i++) {
        const char *nm = s->t[i].name;
        if (pre && !strncmp(nm, "rnn.", 4))
            nm += 4;
        if (!strcmp(nm, "bias_hh_l0")) {
            /* summed into b above; dropped */
            free(s->t[i].name);
            free(s->t[i].data);
            s->t[i--] = s->t[--s->n];
            continue;
        }
        for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
            if (!strcmp(nm, map[k][0])) {
                char *c = strdup(map[k][1]);
                if (!c)
                    return uerr_set(e, UERR_INTERNAL, "out of memory");
                /* nm points into the name freed here: stop looking */
                free(s->t[i].name);
                s->t[i].name = c;
                break;
            }
    }
    return 0;
}

/* The role a tensor of an --all export had, from its name. */
static const char *imp_role(const char *name)
{
    static const char *const optim[] = {"adagrad.mem.", "adam.m.", "adam.v.", "momentum.velocity."};
    for (size_t i = 0; i < sizeof optim / sizeof optim[0]; i++)
        if (!strncmp(name, optim[i], strlen(optim[i])))
            return "optim";
    if (!strcmp(name, "h") || !strcmp(name, "yprev") || !strcmp(name, "optim.t"))
        return "state";
    if (!strcmp(name, "cursor") || !strcmp(name, "order"))
        return "cursor";
    if (!strcmp(name, "rng"))
        return "rng";
    return "param";
}

static int ckpt_import(store *db, const char *src, const char *name, const cli_common *c,
                       long long step, const char *cmdline)
{
    uerr e = {0};
    imp_set set = {0};
    spec s = {0};
    net n = {0};
    data_source d = {0};
    int have_model = 0;
    char *resolved = NULL;
    int32_t *cps = NULL;
    store_tensor *ts = NULL;
    int rc = imp_read(src, &set, &e);
    if (!rc)
        rc = imp_from_torch(&set, &e);
    if (!rc && c->config) {
        /* Check against the model the config builds, on its data. */
        if (!(rc = spec_load(&s, c->config, c->sets, c->nsets, &e)))
            rc = train_first_step(&s, NULL, NET_TRAIN, &n, &d, &e);
        have_model = !rc;
        for (int i = 0; !rc && i < n.m.nparams; i++) {
            const model_param *p = &n.m.param[i];
            imp_tensor *x = imp_find(&set, p->name);
            char s1[96], s2[96];
            if (!x)
                rc = uerr_set(&e, UERR_USER, "%s: no tensor '%s' (the model's parameter %s %s)",
                              src, p->name, p->name, shape_str(&p->shape, s1, sizeof s1));
            else if (!shape_equal(&x->shape, &p->shape) || x->dt == DT_I32)
                rc = uerr_set(&e, UERR_USER, "%s: tensor '%s' is %s %s, the model needs %s %s", src,
                              p->name, dtype_name(x->dt), shape_str(&x->shape, s1, sizeof s1),
                              dtype_name(s.train.dtype), shape_str(&p->shape, s2, sizeof s2));
            else if (x->dt != s.train.dtype) {
                /* stored in the config's dtype, as training would */
                int64_t k = shape_numel(&x->shape);
                void *conv = malloc((size_t)(k ? k : 1) * dtype_size(s.train.dtype));
                if (!conv) {
                    rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
                    break;
                }
                DT_EACH_REAL(s.train.dtype, T, {
                    T *o = conv;
                    for (int64_t j = 0; j < k; j++)
                        o[j] =
                            x->dt == DT_F32 ? (T)((float *)x->data)[j] : (T)((double *)x->data)[j];
                });
                free(x->data);
                x->data = conv;
                x->dt = s.train.dtype;
            }
        }
        for (int i = 0; !rc && i < set.n; i++) {
            int known = 0;
            for (int j = 0; j < n.m.nparams && !known; j++)
                known = !strcmp(n.m.param[j].name, set.t[i].name);
            if (!known && !strcmp(imp_role(set.t[i].name), "param"))
                rc = uerr_set(&e, UERR_USER, "%s: tensor '%s' is not a parameter of this model",
                              src, set.t[i].name);
        }
        size_t rl;
        FILE *m = rc ? NULL : open_memstream(&resolved, &rl);
        if (!rc && (!m || spec_write_yaml(&s, m) || fclose(m)))
            rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
    }
    for (int i = 0; !rc && i < set.n; i++) {
        const char *nm = set.t[i].name;
        if (!*nm || strlen(nm) > 200)
            rc = uerr_set(&e, UERR_USER, "%s: tensor name '%.40s' is empty or too long", src, nm);
        for (const char *p = nm; !rc && *p; p++)
            if ((unsigned char)*p < 0x20)
                rc = uerr_set(&e, UERR_USER, "%s: a tensor name has a control character", src);
    }
    int nv = 0;
    if (!rc && have_model) {
        const text_vocab *v = data_vocab(&d);
        nv = v->size;
        if (!(cps = malloc((size_t)(nv ? nv : 1) * sizeof *cps)))
            rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
        for (int i = 0; !rc && i < nv; i++)
            cps[i] = i < v->n_known ? (int32_t)v->cp[i] : -1;
    }
    if (!rc && !(ts = calloc((size_t)set.n, sizeof *ts)))
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
    for (int i = 0; !rc && i < set.n; i++)
        ts[i] = (store_tensor){set.t[i].name, imp_role(set.t[i].name), set.t[i].dt, set.t[i].shape,
                               set.t[i].data};
    int64_t run = 0, ck = 0;
    if (!rc) {
        store_run_info info = {.name = name,
                               .config_text = resolved ? resolved : "",
                               .command_line = cmdline,
                               .program_version = UNROLL_VERSION,
                               .data_hash = have_model ? d.hash : "",
                               .vocab = cps,
                               .nvocab = nv,
                               .init = "import"};
        rc = store_run_begin(db, &info, &run, &e);
    }
    if (!rc) {
        rc = store_checkpoint_save(db, run, step, ts, set.n, NULL, &ck, &e);
        if (!rc)
            rc = store_run_finish(db, run, "finished", &e);
        if (rc) {
            /* no half-imported run left behind */
            store_removed st;
            uerr e2 = {0};
            (void)store_run_delete(db, run, 1, &st, &e2);
        }
    }
    if (!rc)
        printf("imported %d tensor%s from %s as run '%s', checkpoint %lld (step %lld)%s\n", set.n,
               set.n == 1 ? "" : "s", src, name, (long long)ck, step,
               have_model ? ", checked against the config's model" : "");
    free(ts);
    free(cps);
    free(resolved);
    if (n.params)
        net_free(&n);
    data_free(&d);
    spec_free(&s);
    imp_free(&set);
    return rc ? cli_fail(&e) : 0;
}

/* ---- dispatch ----------------------------------------------------------------- */

int cmd_ckpt(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(
            "ckpt: list, log, show, best, diff, tag, prune, verify, export or import?");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, stdout);
        return 0;
    }
    static const char *const subs[] = {"list", "log",   "show",   "best",   "diff",
                                       "tag",  "prune", "verify", "export", "import"};
    const char *sub = argv[1];
    int which = -1;
    for (int i = 0; i < 10; i++)
        if (!strcmp(sub, subs[i]))
            which = i;
    if (which < 0)
        return cli_usage("ckpt: unknown subcommand '%s' (list, log, show, best, diff, tag, prune, "
                         "verify, export, import)",
                         sub);
    cli_common c = {0};
    table_form form = TABLE_PLAIN;
    const char *pos[4], *metric = NULL, *keep_s = NULL, *npy = NULL, *sft = NULL, *name = NULL,
                        *step_s = NULL, *config = NULL;
    int npos = 0, maximize = 0, remove_tag = 0, dry = 0, all = 0, torch = 0;
    for (int i = 2; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, &c);
        if (r < 0)
            return UERR_USAGE;
        if (r > 0 || cli_form_opt(argv[i], &form))
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if ((r = cli_value(argc, argv, &i, "--metric", &metric)) != 0 ||
            (r = cli_value(argc, argv, &i, "--keep-last", &keep_s)) != 0 ||
            (r = cli_value(argc, argv, &i, "--npy", &npy)) != 0 ||
            (r = cli_value(argc, argv, &i, "--safetensors", &sft)) != 0 ||
            (r = cli_value(argc, argv, &i, "--name", &name)) != 0 ||
            (r = cli_value(argc, argv, &i, "--step", &step_s)) != 0 ||
            (r = cli_value(argc, argv, &i, "--config", &config)) != 0) {
            if (r < 0)
                return UERR_USAGE;
            continue;
        }
        int *flag = !strcmp(argv[i], "--max")       ? &maximize
                    : !strcmp(argv[i], "--remove")  ? &remove_tag
                    : !strcmp(argv[i], "--dry-run") ? &dry
                    : !strcmp(argv[i], "--all")     ? &all
                    : !strcmp(argv[i], "--torch")   ? &torch
                                                    : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("ckpt %s: unknown option '%s'", sub, argv[i]);
        if (npos == 4)
            return cli_usage("ckpt %s: too many arguments", sub);
        pos[npos++] = argv[i];
    }
    /* arguments each form takes: min, max */
    static const int nargs[10][2] = {{0, 1}, {1, 1}, {1, 1}, {0, 1}, {2, 2},
                                     {1, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
    if (npos < nargs[which][0] || npos > nargs[which][1])
        return cli_usage("ckpt %s: wrong number of arguments (see 'unroll ckpt --help')", sub);
    if (which == 5 && (npos == 2) == remove_tag)
        return cli_usage("ckpt tag: CKPT NAME, or CKPT --remove");
    long long keep = 0, step = 0;
    if (which == 6 && (!keep_s || cli_int("--keep-last", keep_s, 1, 1000000000, &keep)))
        return keep_s ? UERR_USAGE : cli_usage("ckpt prune: --keep-last K is required");
    if (which == 8 && !npy == !sft)
        return cli_usage("ckpt export: --npy DIR or --safetensors FILE");
    if (which == 9 && !name)
        return cli_usage("ckpt import: --name RUN is required");
    if (step_s && cli_int("--step", step_s, 0, INT64_MAX, &step))
        return UERR_USAGE;
    if (c.nsets && !config)
        return cli_usage("ckpt import: --set goes with --config");
    c.config = config;

    char cmdline[4096];
    size_t k = (size_t)snprintf(cmdline, sizeof cmdline, "unroll ckpt");
    for (int i = 1; i < argc && k < sizeof cmdline; i++)
        k += (size_t)snprintf(cmdline + k, sizeof cmdline - k, " %s", argv[i]);
    uerr e = {0};
    store *db = NULL;
    int write = which == 5 || which == 6 || which == 9;
    if (cli_open_store(&c, write, &db, &e))
        return cli_fail(&e);
    int rc;
    switch (which) {
    case 0:
        rc = ckpt_list(db, npos ? pos[0] : NULL, form);
        break;
    case 1:
        rc = ckpt_log(db, pos[0], form);
        break;
    case 2:
        rc = ckpt_show(db, pos[0], form);
        break;
    case 3:
        rc = ckpt_best(db, npos ? pos[0] : NULL, metric ? metric : "valid_loss", maximize, form);
        break;
    case 4:
        rc = ckpt_diff(db, pos[0], pos[1], all, form);
        break;
    case 5:
        rc = ckpt_tag(db, pos[0], remove_tag ? NULL : pos[1]);
        break;
    case 6:
        rc = ckpt_prune(db, pos[0], keep, metric, dry);
        break;
    case 7:
        rc = ckpt_verify(db, pos[0], c.quiet);
        break;
    case 8:
        rc = ckpt_export(db, pos[0], npy, sft, all, torch);
        break;
    default:
        rc = ckpt_import(db, pos[0], name, &c, step, cmdline);
        break;
    }
    store_close(db);
    return rc;
}
