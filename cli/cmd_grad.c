/*
 * cmd_grad.c - unroll grad (gradients, and Hessian-vector products, as
 * .npy files) and unroll gradcheck (build_grad against central
 * differences, to the first or the second order). Both run the first
 * training chunk of CONFIG from the initial parameters with a zero
 * initial state.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "base/outfile.h"
#include "cli/color.h"
#include "engine/gradcheck.h"
#include "store/npy.h"
#include "train/net.h"
#include "store/plot.h"
#include "train/data.h"
#include "train/jacobian.h"
#include "train/text.h"
#include "train/train.h"

static const char grad_help[] =
    "usage: unroll grad CONFIG [--set KEY=VALUE]... [--params DIR] [--per-step]\n"
    "                   [--hvp VDIR | --hvp-seed N] [--jacobian [--layer L] [--plot FILE.svg]]\n"
    "                   --out DIR\n"
    "\n"
    "Runs forward and backward on the first training batch from the initial\n"
    "parameters (hidden state zero) and writes numpy .npy files. At the top of DIR\n"
    "(created with its parents) only the parameters and the reserved names:\n"
    "  DIR/<name>.npy       the parameters used, under their own names (U, W, b, V, c;\n"
    "                       l0.fw.U, l1.bw.W, ... for stacked or bidirectional models)\n"
    "  DIR/inputs.npy       int32 [B, T] token ids\n"
    "  DIR/targets.npy      int32 [B, T]; [B] (one label each) for last_step models;\n"
    "                       real targets: float [B, T, K], or [B, K] for last_step\n"
    "  DIR/mask.npy         float64 [B, T], 1 for real steps (classify and masked data)\n"
    "  DIR/lengths.npy      int32 [B]: each sequence's real steps (the same models)\n"
    "  DIR/h0.npy           [B, S] the initial state, every state vector side by side\n"
    "  DIR/loss.npy         float64 scalar: the loss differentiated\n"
    "Everything else in a folder:\n"
    "  DIR/grad/<name>.npy  d loss / d parameter\n"
    "With --per-step, the gradient ledger too (and a table on standard output):\n"
    "  DIR/per_step/dh.npy       float64 [T]: ||d loss / d h_t||\n"
    "  DIR/per_step/<name>.npy   float64 [T]: the norm of step t's term in the\n"
    "                            sum that makes d loss / d <name>\n"
    "With --hvp VDIR, the Hessian-vector product too, computed symbolically (the\n"
    "gradient graph differentiated again: H v = d <grad L, v> / d parameters):\n"
    "  DIR/hvp/<name>.npy   (H v) for the parameter, v read from VDIR/<name>.npy\n"
    "                       (the parameter's shape; a missing file means zeros)\n"
    "--hvp-seed N draws v ~ N(0, 1) from the seed N instead and writes it:\n"
    "  DIR/hvp_v/<name>.npy the direction v used\n"
    "With --jacobian, how gradients vanish over time (float64, exact: T (H + 1)\n"
    "backward passes seeded per step, not estimated), row t, column k, 0 for k > t:\n"
    "  DIR/jacobian/dL_dh.npy    float64 [T, T]: ||d L_t / d h_k||, L_t step t's loss\n"
    "                            alone, Frobenius norm over the batch and the units\n"
    "  DIR/jacobian/dh_dh.npy    float64 [T, T]: ||d h_t / d h_k||, the spectral norm\n"
    "                            of the Jacobian (seed 001's product of W^T diag(1-h^2)\n"
    "                            for Elman), the largest over the batch's rows\n"
    "  h is the top layer's h[t] (--layer L: layer L, 0 the lowest; the forward\n"
    "  direction when bidirectional); every path from h_k counts, an LSTM's cell\n"
    "  state included. Prints the decay per step: a least-squares line through the\n"
    "  mean of log10 over each distance t - k. --plot FILE.svg draws both as\n"
    "  triangular heat maps and their decay against t - k with the fitted lines.\n"
    "\n"
    "example:\n"
    "  unroll grad configs/min_char_rnn.yaml --set train.seq_len=10 --out /tmp/g\n"
    "  unroll grad configs/min_char_rnn.yaml --hvp-seed 1 --out /tmp/g\n";

static const char gradcheck_help[] =
    "usage: unroll gradcheck CONFIG [--set KEY=VALUE]... [--params DIR] [--sample N]\n"
    "                        [--second-order [--hvp VDIR | --hvp-seed N]]\n"
    "\n"
    "Compares build_grad's gradient of every parameter with central differences\n"
    "(fourth-order, step h = 1e-3) in float64 on the first training batch. Parameters with\n"
    "at most N elements (default 200) are checked whole, larger ones on N random\n"
    "elements. An element passes when |a - n| <= atol + rtol max(|a|, |n|), a analytic,\n"
    "n numeric, rtol = 1e-6, atol = 10 eps max(1, |L|) / h (eps float64's epsilon, L\n"
    "the loss). An element that disagrees is tried again at h/10, h/100, ... while\n"
    "atol stays within rtol max(|a|, |n|) (min h: the smallest step needed). An\n"
    "element whose perturbation crosses a point where an op is not differentiable\n"
    "(relu at 0, an argmax's tie) at every step tried is skipped and counted (column\n"
    "kinks). diff/tol is the largest |a - n| / (atol + rtol max(|a|, |n|)). Exits 1 if\n"
    "any element disagrees. On a terminal (--color=WHEN) ok is green and FAIL red.\n"
    "\n"
    "--second-order checks the Hessian-vector product H v of `grad --hvp` instead:\n"
    "every element of every parameter's H v against the fourth-order central\n"
    "difference of the symbolic gradients g along v: u = v / ||v|| (over all\n"
    "parameters), n = ||v|| (8 (g(p+hu) - g(p-hu)) - (g(p+2hu) - g(p-2hu))) / 12h,\n"
    "by the same rule, atol scaled by S = max(|L|, G) ||v||, G the largest gradient\n"
    "element: atol = 10 eps max(1, S) / h. v as for grad: --hvp VDIR, or\n"
    "--hvp-seed N (default: train.seed).\n"
    "\n"
    "example:\n"
    "  unroll gradcheck configs/elman_char.yaml --set model.hidden=8 --set train.seq_len=6\n"
    "  unroll gradcheck configs/elman_char.yaml --set model.hidden=8 --second-order\n";

typedef struct grad_args {
    cli_common c;
    const char *params, *out, *sample, *hvp, *hvp_seed, *layer, *plot;
    int per_step, second_order, jacobian;
} grad_args;

static int parse(int argc, char **argv, const char *cmd, const char *help, grad_args *a)
{
    const cli_opt opts[] = {{"--params", &a->params, NULL},
                            {"--out", &a->out, NULL},
                            {"--sample", &a->sample, NULL},
                            {"--per-step", NULL, &a->per_step},
                            {"--hvp", &a->hvp, NULL},
                            {"--hvp-seed", &a->hvp_seed, NULL},
                            {"--second-order", NULL, &a->second_order},
                            {"--jacobian", NULL, &a->jacobian},
                            {"--layer", &a->layer, NULL},
                            {"--plot", &a->plot, NULL},
                            {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, cmd, help, &a->c, opts, &a->c.config, 1);
    if (pr)
        return pr;
    if (!a->c.config)
        return cli_usage("%s: which config? (unroll %s CONFIG)", cmd, cmd);
    if (a->hvp && a->hvp_seed)
        return cli_usage("%s: --hvp VDIR and --hvp-seed N both give v: choose one", cmd);
    return 0;
}

/* v for H v: read from --hvp VDIR, or drawn from --hvp-seed N (else
 * dflt_seed); *drawn says which. */
static int set_direction(net *n, const grad_args *a, uint64_t dflt_seed, int *drawn, uerr *e)
{
    long long seed = (long long)(dflt_seed & 0x7fffffffffffffffull);
    *drawn = !a->hvp;
    if (a->hvp)
        return net_load_hvp_v_npy(n, a->hvp, e);
    if (a->hvp_seed && cli_int("--hvp-seed", a->hvp_seed, 0, INT64_MAX, &seed))
        return UERR_USAGE;
    net_random_hvp_v(n, (uint64_t)seed);
    return 0;
}

/* DIR/SUB/<name>.npy for every parameter: its gradient, H v or v. */
enum per_param { PP_GRAD, PP_HVP, PP_HVP_V };

static int write_per_param(const net *n, const char *dir, const char *sub, int what, uerr *e)
{
    char d[4200], path[4400];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    int rc = outfile_mkdir_p(d, e);
    for (int i = 0; i < n->m.nparams && !rc; i++) {
        const model_param *p = &n->m.param[i];
        const void *x = what == PP_GRAD  ? net_grad(n, i)
                        : what == PP_HVP ? net_hvp(n, i)
                                         : net_hvp_v(n, i);
        snprintf(path, sizeof path, "%s/%s.npy", d, p->name);
        rc = npy_write(path, n->dt, &p->shape, x, e);
    }
    return rc;
}

/* Real targets as the data gave them: [B, T, K] per step, or [B, K] the
 * target at each sequence's last step. */
static int write_real_targets(const net *n, const char *path, int last_step, uerr *e)
{
    int64_t B = n->m.B, T = n->m.T, K = n->m.out;
    size_t row = (size_t)K * n->es;
    char *out = calloc(B * T > 0 ? (size_t)(B * T) : 1, row);
    if (!out)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const char *src = (const char *)n->ysr + (size_t)(t * B + b) * row;
            if (!last_step)
                memcpy(out + (size_t)(b * T + t) * row, src, row);
            else if (n->lms[t * B + b])
                memcpy(out + (size_t)b * row, src, row);
        }
    shape s = last_step ? shape_2(B, K) : shape_make(3, (int64_t[]){B, T, K});
    int rc = npy_write(path, n->dt, &s, out, e);
    free(out);
    return rc;
}

/* The per-step ledger as .npy files and, unless quiet, a table. */
static int write_ledger(const net *n, const char *out, int quiet, uerr *e)
{
    int64_t T = n->m.T;
    int np = n->m.nparams;
    double *dh = malloc((size_t)T * sizeof(double));
    double *term = malloc((size_t)(T * np) * sizeof(double));
    char dir[4200], path[4300];
    snprintf(dir, 4100, "%s/per_step", out);
    int rc = !dh || !term ? uerr_set(e, UERR_INTERNAL, "out of memory") : 0;
    if (!rc)
        rc = net_ledger(n, dh, term, e);
    if (!rc)
        rc = outfile_mkdir_p(dir, e);
    shape st = shape_1(T);
    snprintf(path, sizeof path, "%s/dh.npy", dir);
    if (!rc)
        rc = npy_write(path, DT_F64, &st, dh, e);
    for (int i = 0; i < np && !rc; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, n->m.param[i].name);
        rc = npy_write(path, DT_F64, &st, term + (size_t)i * (size_t)T, e);
    }
    if (!rc && !quiet) {
        printf("%5s %12s", "t", "|dL/dh_t|");
        for (int i = 0; i < np; i++)
            printf(" %11s", n->m.param[i].name);
        printf("\n");
        for (int64_t t = 0; t < T; t++) {
            printf("%5lld %12.4e", (long long)t, dh[t]);
            for (int i = 0; i < np; i++)
                printf(" %11.3e", term[(size_t)i * (size_t)T + (size_t)t]);
            printf("\n");
        }
    }
    free(dh);
    free(term);
    return rc;
}

static int write_plot(const char *path, const plot_ledger_panel *pan, const char *title, int64_t T,
                      uerr *e)
{
    outfile of = {0};
    int rc = outfile_open(&of, path, e);
    if (!rc)
        rc = plot_ledger_svg(of.f, pan, 2, T, title, e);
    if (!rc)
        return outfile_commit(&of, path, e);
    outfile_abort(&of);
    return rc;
}

/* The vanishing-gradient ledger: two .npy files, the fitted decays on
 * standard output (unless quiet) and, if asked, a picture. */
static int write_jacobian(const spec *s, const data_source *d, const net *n, const grad_args *a,
                          uerr *e)
{
    long long layer = -1;
    if (a->layer && cli_int("--layer", a->layer, 0, SPEC_MAX_LAYERS - 1, &layer))
        return UERR_USAGE;
    int64_t T = n->m.T;
    double *m = malloc((size_t)(2 * T * T) * sizeof(double));
    double *prof = malloc((size_t)(2 * T) * sizeof(double));
    char dir[4200], path[4300];
    snprintf(dir, 4100, "%s/jacobian", a->out);
    int rc = !m || !prof ? uerr_set(e, UERR_INTERNAL, "out of memory") : 0;
    if (!rc)
        rc = jacobian_ledger(s, &d->io, n, (int)layer, m, m + T * T, e);
    if (!rc)
        rc = outfile_mkdir_p(dir, e);
    static const char *const file[2] = {"dL_dh", "dh_dh"};
    static const char *const what[2] = {"||dL_t/dh_k||", "||dh_t/dh_k||"};
    plot_ledger_panel pan[2];
    shape sq = shape_2(T, T);
    for (int k = 0; k < 2 && !rc; k++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, file[k]);
        rc = npy_write(path, DT_F64, &sq, m + k * T * T, e);
        pan[k] = (plot_ledger_panel){what[k], m + k * T * T, prof + k * T, NAN, NAN};
        jacobian_decay_profile(pan[k].z, T, prof + k * T);
        int used = jacobian_decay_fit(pan[k].prof, T, &pan[k].slope, &pan[k].intercept);
        if (!a->c.quiet && used >= 2)
            printf("%-14s x%.4g per step (10^%.4f) over t - k = 0..%lld: least squares on "
                   "the mean log10 at each distance\n",
                   what[k], pow(10, pan[k].slope), pan[k].slope, (long long)T - 1);
        else if (!a->c.quiet)
            printf("%-14s no decay to fit: zero wherever k < t (nothing flows back in time)\n",
                   what[k]);
    }
    if (!rc && a->plot) {
        char title[512];
        snprintf(title, sizeof title, "%s: %s, h of %s%s, T=%lld, B=%lld, hidden %d", s->path,
                 spec_value_name("model.cell", (int)s->model.cell),
                 a->layer ? "layer " : "the top layer", a->layer ? a->layer : "", (long long)T,
                 (long long)n->m.B, s->model.hidden);
        rc = write_plot(a->plot, pan, title, T, e);
    }
    free(m);
    free(prof);
    return rc;
}

int cmd_grad(int argc, char **argv)
{
    grad_args a = {0};
    int rc = parse(argc, argv, "grad", grad_help, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!a.out)
        return cli_usage("grad: --out DIR is required");
    int hvp = a.hvp || a.hvp_seed, drawn = 0;
    if (hvp && a.per_step)
        return cli_usage("grad: --per-step and --hvp/--hvp-seed cannot be combined (run twice)");
    if (a.second_order)
        return cli_usage("grad: --second-order is gradcheck's (unroll gradcheck CONFIG "
                         "--second-order)");
    if ((a.plot || a.layer) && !a.jacobian)
        return cli_usage("grad: %s draws or picks the ledger of --jacobian: add it",
                         a.plot ? "--plot" : "--layer");
    uerr e = {0};
    spec s;
    if (spec_load(&s, a.c.config, a.c.sets, a.c.nsets, &e))
        return cli_fail(&e);
    net n = {0};
    data_source corpus = {0};
    char path[4200];
    double loss = 0;
    int mode = a.per_step ? NET_LEDGER : hvp ? NET_HVP : NET_TRAIN;
    if ((rc = train_first_step(&s, a.params, mode, &n, &corpus, &e)) ||
        (hvp && (rc = set_direction(&n, &a, 0, &drawn, &e))) || (rc = net_run(&n, &loss, &e)) ||
        (rc = outfile_mkdir_p(a.out, &e)))
        goto out;
    for (int i = 0; i < n.m.nparams && !rc; i++) {
        const model_param *p = &n.m.param[i];
        snprintf(path, sizeof path, "%s/%s.npy", a.out, p->name);
        rc = npy_write(path, n.dt, &p->shape, net_param(&n, i), &e);
    }
    if (rc || (rc = write_per_param(&n, a.out, "grad", PP_GRAD, &e)) ||
        (hvp && (rc = write_per_param(&n, a.out, "hvp", PP_HVP, &e))) ||
        (drawn && (rc = write_per_param(&n, a.out, "hvp_v", PP_HVP_V, &e))))
        goto out;
    int64_t B = n.m.B, T = n.m.T;
    int32_t *bt = malloc((size_t)(B * T) * sizeof(int32_t));
    double *mk = malloc((size_t)(B * T) * sizeof(double));
    if (!bt || !mk) {
        free(bt);
        free(mk);
        rc = uerr_set(&e, UERR_INTERNAL, "out of memory");
        goto out;
    }
    shape sbt = shape_2(B, T), sb = shape_1(B), s0 = shape_0();
    int last_step = s.model.outputs == SPEC_OUTPUTS_LAST_STEP;
    for (int k = 0; k < 2 && !rc; k++) {
        const int32_t *tm = k == 0 ? n.xs : n.ys;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                bt[b * T + t] = tm[t * B + b];
        snprintf(path, sizeof path, "%s/%s.npy", a.out, k == 0 ? "inputs" : "targets");
        if (k == 1 && n.ysr) {
            rc = write_real_targets(&n, path, last_step, &e);
        } else if (k == 1 && last_step) {
            /* one label per sequence: the target at its own last step */
            for (int64_t b = 0; b < B; b++) {
                int32_t label = -1;
                for (int64_t t = 0; t < T; t++)
                    label = bt[b * T + t] >= 0 ? bt[b * T + t] : label;
                bt[b] = label;
            }
            rc = npy_write(path, DT_I32, &sb, bt, &e);
        } else {
            rc = npy_write(path, DT_I32, &sbt, bt, &e);
        }
    }
    if (n.ms) {
        /* sequences start at step 0: a row's length is its count of real steps */
        for (int64_t b = 0; b < B; b++) {
            bt[b] = 0;
            for (int64_t t = 0; t < T; t++)
                bt[b] += (int32_t)(mk[b * T + t] = n.ms[t * B + b]);
        }
        snprintf(path, sizeof path, "%s/mask.npy", a.out);
        if (!rc)
            rc = npy_write(path, DT_F64, &sbt, mk, &e);
        snprintf(path, sizeof path, "%s/lengths.npy", a.out);
        if (!rc)
            rc = npy_write(path, DT_I32, &sb, bt, &e);
    }
    free(bt);
    free(mk);
    shape sh0 = shape_2(B, n.m.S);
    snprintf(path, sizeof path, "%s/h0.npy", a.out);
    if (!rc && n.m.S > 0)
        rc = npy_write(path, n.dt, &sh0, n.h0, &e);
    snprintf(path, sizeof path, "%s/loss.npy", a.out);
    if (!rc)
        rc = npy_write(path, DT_F64, &s0, &loss, &e);
    if (!rc && a.per_step)
        rc = write_ledger(&n, a.out, a.c.quiet, &e);
    if (!rc && a.jacobian)
        rc = write_jacobian(&s, &corpus, &n, &a, &e);
    if (!rc && !a.c.quiet)
        fprintf(stderr, "loss %.17g over %lld x %lld tokens; %d parameters and gradients%s in %s\n",
                loss, (long long)B, (long long)T, n.m.nparams, hvp ? " and H v" : "", a.out);
out:
    net_free(&n);
    data_free(&corpus);
    spec_free(&s);
    return rc ? cli_fail(&e) : 0;
}

int cmd_gradcheck(int argc, char **argv)
{
    grad_args a = {0};
    int rc = parse(argc, argv, "gradcheck", gradcheck_help, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    long long sample = 200;
    if (a.sample && cli_int("--sample", a.sample, 1, 1000000000, &sample))
        return UERR_USAGE;
    if ((a.hvp || a.hvp_seed) && !a.second_order)
        return cli_usage("gradcheck: --hvp and --hvp-seed give the v of --second-order");
    if (a.c.nsets + 1 > CLI_MAX_SETS)
        return cli_usage("gradcheck: too many --set options");
    a.c.sets[a.c.nsets++] = "train.dtype=float64";
    uerr e = {0};
    spec s;
    if (spec_load(&s, a.c.config, a.c.sets, a.c.nsets, &e))
        return cli_fail(&e);
    net n = {0};
    data_source corpus = {0};
    plan ploss = {0};
    exec xloss = {0};
    gradcheck_report rep[MODEL_MAX_PARAMS];
    int drawn = 0;
    if ((rc = train_first_step(&s, a.params, a.second_order ? NET_HVP : NET_TRAIN, &n, &corpus,
                               &e)) ||
        (a.second_order && (rc = set_direction(&n, &a, s.train.seed, &drawn, &e))))
        goto out;
    /* a second plan for the loss alone, reading the same leaves */
    if ((rc = plan_build(&n.m.g, &n.m.loss, 1, NULL, &ploss, &e)) ||
        (rc = exec_init(&xloss, &n.m.g, &ploss, &e)))
        goto out;
    for (int32_t i = 0; i < ploss.nleaves; i++)
        exec_bind(&xloss, ploss.leaves[i], exec_value(&n.x, ploss.leaves[i]));
    const double *v[MODEL_MAX_PARAMS];
    for (int i = 0; i < n.m.nparams; i++)
        v[i] = net_hvp_v(&n, i);
    if (a.second_order)
        rc = gradcheck_hvp(&n.x, &xloss, n.m.loss, &n.gt, &n.hv, v, rep, &e);
    else
        rc = gradcheck_run(&n.x, &xloss, n.m.loss, &n.gt, sample, s.train.seed, rep, &e);
    if (rc)
        goto out;
    printf("%-10s %-12s %9s %7s %12s %12s %8s %6s\n", "parameter", "shape", "checked", "kinks",
           a.second_order ? "max|Hv|" : "max|grad|", "max|diff|", "diff/tol", "min h");
    for (int i = 0; i < n.gt.nparams; i++) {
        char sb[64];
        int ok = rep[i].failed == 0;
        printf("%-10s %-12s %4lld/%-4lld %7lld %12.4e %12.4e %8.2g %6.0e  %s%s%s\n",
               n.m.param[i].name, shape_str(&n.m.param[i].shape, sb, sizeof sb),
               (long long)rep[i].checked, (long long)rep[i].numel, (long long)rep[i].skipped,
               rep[i].max_abs_grad, rep[i].max_abs_err, rep[i].ratio, rep[i].min_step,
               cli_sgr(stdout, ok ? CLI_GOOD : CLI_ERROR), ok ? "ok" : "FAIL", cli_sgr_end(stdout));
    }
    char verdict[256];
    int bad = gradcheck_summary(rep, n.gt.nparams, verdict, sizeof verdict);
    printf("%s%.6s%s%s%s\n"
           "  (%s = %.6g, h = %.0e, atol = 10 eps max(1, %s) / h; T=%d, B=%d, hidden %d)\n",
           cli_sgr(stdout, bad ? CLI_ERROR : CLI_GOOD), verdict, cli_sgr_end(stdout), verdict + 6,
           a.second_order ? " for H v" : "", a.second_order ? "S = max(|L|, max|grad|) ||v||" : "L",
           n.gt.nparams ? rep[0].loss : 0.0, GRADCHECK_EPS, a.second_order ? "S" : "|L|",
           (int)n.m.T, (int)n.m.B, s.model.hidden);
    if (bad)
        rc = uerr_set(&e, UERR_USER,
                      "gradcheck: %d of %d parameters disagree with central "
                      "differences%s",
                      bad, n.gt.nparams, a.second_order ? " (second order)" : "");
out:
    exec_free(&xloss);
    plan_free(&ploss);
    net_free(&n);
    data_free(&corpus);
    spec_free(&s);
    return rc ? cli_fail(&e) : 0;
}
