/*
 * bench.c - unroll's side of `make bench`: one measurement per process, one
 * line of JSON, so that the peak RSS printed belongs to that measurement.
 *
 *   bench step   V H T B DTYPE [reps] [fuse] [cell] [opt]  training steps
 *   bench pair   V H T B DTYPE reps fuse A B  two cells' steps, interleaved
 *   bench trace  V H T B DTYPE [steps] [fuse] [cell] [opt]  one step, task by task
 *   bench own    CONFIG V [KEY=VALUE]...      the memory of `unroll train`'s step
 *   bench sample V H LENGTH [reps]             generation, batch 1
 *   bench build  V H T [fuse]                  unroll + build_grad + plan time
 *   bench text   PATH V N                      a random text of V symbols
 *
 * A training step is what bench/ref.py times on the PyTorch side: token ids
 * in, forward over T steps, softmax cross-entropy summed over B x T tokens,
 * full BPTT, then a plain SGD update of every parameter. The ids are drawn
 * once, outside the timed loop. FUSE is the plan's rewrite level: all (the
 * default, as `unroll train` runs), exact or none. CELL is a preset (elman,
 * the default; jordan, lstm, gru) or a config file whose model is used
 * (configs/lstm_custom.yaml: the preset written as equations). OPT is
 * sgd (the default) or minchar: min-char-rnn's Adagrad (rate 0.1) with
 * every gradient clipped to [-5, 5], as bench/ref.py's numpy loop runs.
 * The update runs inside the step's plan where `unroll train` runs it so.
 * Timing never decides anything here: bench/run.sh prints the figures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/utf8.h"
#include "engine/plan.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/profile.h"
#include "train/rng.h"
#include "train/sample.h"
#include "train/text.h"
#include "bench/timing.h"

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* A spec of hidden size H for CELL: a preset's name (elman, jordan, lstm,
 * gru) or the path of a YAML config (configs/lstm_custom.yaml), read with
 * the same sizes, dtype and plain SGD set over it, so that a preset and
 * its custom form do the same work. The data path is never read (the nets
 * here are fed ids directly) but a spec must name one. */
#define BENCH_TEXT "tests/golden/min_char_rnn/text.txt"
static int load_spec(spec *s, const char *cell, int64_t H, int64_t T, int64_t B,
                     const char *dt_name, int minchar, uerr *e)
{
    const char *opt = minchar ? "{name: adagrad, lr: 0.1}, clip: {value: 5}"
                              : "{name: sgd, lr: 0.001}";
    if (strstr(cell, ".yaml")) {
        char sets[10][96];
        snprintf(sets[0], sizeof sets[0], "model.hidden=%lld", (long long)H);
        snprintf(sets[1], sizeof sets[1], "train.seq_len=%lld", (long long)T);
        snprintf(sets[2], sizeof sets[2], "train.batch=%lld", (long long)B);
        snprintf(sets[3], sizeof sets[3], "train.dtype=%s", dt_name);
        snprintf(sets[4], sizeof sets[4], "train.optimizer.name=%s", minchar ? "adagrad" : "sgd");
        snprintf(sets[5], sizeof sets[5], "train.optimizer.lr=%s", minchar ? "0.1" : "0.001");
        snprintf(sets[6], sizeof sets[6], "model.init.std=0.01");
        snprintf(sets[7], sizeof sets[7], "train.seed=1");
        snprintf(sets[8], sizeof sets[8], "data.path=" BENCH_TEXT);
        snprintf(sets[9], sizeof sets[9], "train.clip.value=%d", minchar ? 5 : 0);
        const char *sp[10];
        for (int i = 0; i < 10; i++)
            sp[i] = sets[i];
        return spec_load(s, cell, sp, 10, e);
    }
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "name: bench\n"
             "data: {kind: text, path: " BENCH_TEXT "}\n"
             "model: {cell: %s, hidden: %lld, init: {std: 0.01}}\n"
             "train: {dtype: %s, seq_len: %lld, batch: %lld, steps: 1,\n"
             "        optimizer: %s, seed: 1}\n",
             cell, (long long)H, dt_name, (long long)T, (long long)B, opt);
    return spec_load_buffer(s, "bench.yaml", cfg, strlen(cfg), NULL, 0, e);
}

/* The bytes of the activations a step stores for its backward pass: each
 * computed forward value that a gradient node reads, once. With the
 * parameters, their gradients and the optimiser's state these are the
 * step's own tensors, the base of issue 5's memory limit; the plan's arena
 * (every activation and gradient buffer, temporaries and the plan's own
 * copies included) is printed beside them. */
static double stored_bytes(const graph *g)
{
    char *seen = calloc((size_t)g->n + 1, 1);
    double sum = 0;
    for (int32_t u = 0; seen && u < g->n; u++) {
        const gnode *nd = &g->nodes[u];
        if (!(nd->flags & NODE_GRAD))
            continue;
        for (int k = 0; k < nd->nin; k++) {
            int32_t v = nd->in[k];
            const gnode *in = &g->nodes[v];
            if (seen[v] || in->nin == 0 || (in->flags & NODE_GRAD))
                continue;
            seen[v] = 1;
            sum += (double)shape_numel(&in->shape) * (double)dtype_size((dtype)in->dt);
        }
    }
    free(seen);
    return sum;
}

/* The step's own tensors (see stored_bytes) and the arena, as JSON fields. */
static void print_memory(const net *n, const optim *o)
{
    int slots = (optim_slot_name(o, 0) != NULL) + (optim_slot_name(o, 1) != NULL);
    double params = (double)n->nparam * (double)n->es, stored = stored_bytes(&n->m.g);
    printf("\"param_mib\": %.3f, \"optim_mib\": %.3f, \"stored_mib\": %.3f, "
           "\"own_mib\": %.3f, \"arena_mib\": %.3f",
           params / 1048576.0, slots * params / 1048576.0, stored / 1048576.0,
           ((2 + slots) * params + stored) / 1048576.0, (double)n->p.arena_bytes / 1048576.0);
}

static int fail(const uerr *e)
{
    fprintf(stderr, "bench: %s\n", e->msg);
    return 1;
}

/* A net of CELL at the given sizes with its SGD, ready to step: what
 * bench step and bench pair time. The ids are drawn once (seed 2), so two
 * steppers of the same sizes read the same data. */
typedef struct stepper {
    spec s;
    net n;
    optim o;
    optim_job job; /* the update, when the plan runs it (as in `unroll train`) */
    double build_s;
} stepper;

static int stepper_init(stepper *st, int64_t V, int64_t H, int64_t T, int64_t B,
                        const char *dt_name, int fuse, const char *cell, int minchar, uerr *e)
{
    memset(st, 0, sizeof *st);
    if (load_spec(&st->s, cell, H, T, B, dt_name, minchar, e))
        return 1;
    plan_options po = {.fuse = fuse,
                       .update_cycles = optim_cycles(st->s.train.optimizer.name, st->s.train.dtype)};
    double t0 = now_s();
    if (net_init(&st->n, &st->s, V, B, T, NET_TRAIN, &po, e))
        return 1;
    st->build_s = now_s() - t0;
    net_init_params(&st->n, 1, 0.01);
    rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < T * B; i++) {
        st->n.xs[i] = (int32_t)rng_below(&r, (uint64_t)V);
        st->n.ys[i] = (int32_t)rng_below(&r, (uint64_t)V);
    }
    return optim_init(&st->o, &st->s, st->n.nparam, e);
}

/* one training step: wall and process-CPU milliseconds */
static int stepper_step(stepper *st, double *loss, double *ms, double *cpu_ms, uerr *e)
{
    double t1 = now_s(), c1 = cpu_now_s();
    /* only the steps' own updates write the parameters (as in train.c) */
    exec_params_kept(&st->n.x);
    if (net_train_step(&st->n, &st->o, &st->job, st->s.train.clip.value, loss, e) < 0)
        return 1;
    *ms = 1e3 * (now_s() - t1);
    *cpu_ms = 1e3 * (cpu_now_s() - c1);
    return 0;
}

static void stepper_free(stepper *st)
{
    optim_free(&st->o);
    net_free(&st->n);
    spec_free(&st->s);
}

/* Steps run before the timed ones: a quarter of them, and at least the
 * runs in which the executor tries each way to run a region of two
 * lanes (exec.h: EXEC_PICK_TRIES + 1 each way, once per 1,024 runs),
 * which a long run pays once in a thousand. With a quarter alone, 20
 * timed steps held 7 of the tries in order, each near twice a step on
 * two lanes where the lanes win. */
static int warm_steps(int reps)
{
    int w = reps / 4, tries = 2 * (EXEC_PICK_TRIES + 1);
    return w > tries ? w : tries;
}

static int bench_step(int64_t V, int64_t H, int64_t T, int64_t B, const char *dt_name, int reps,
                      int fuse, const char *cell, int minchar)
{
    uerr e = {0};
    stepper st;
    if (stepper_init(&st, V, H, T, B, dt_name, fuse, cell, minchar, &e))
        return fail(&e);
    int warm = warm_steps(reps);
    double *ms = malloc((size_t)reps * sizeof(double)), loss = 0;
    double *cms = malloc((size_t)reps * sizeof(double));
    for (int i = -warm; i < reps; i++) {
        double w, c;
        if (stepper_step(&st, &loss, &w, &c, &e))
            return fail(&e);
        if (i >= 0)
            ms[i] = w, cms[i] = c;
    }
    double med = median(ms, reps);
    printf("{\"ms\": %.6f, \"cpu_ms\": %.6f, \"tokens_per_s\": %.1f, \"rss_mib\": %.2f, ", med,
           median(cms, reps), (double)(T * B) / (med * 1e-3), peak_rss_mib());
    print_memory(&st.n, &st.o);
    printf(", \"build_s\": %.4f, \"nodes\": %d, \"instrs\": %d, \"plan\": \"%016llx\", "
           "\"loss\": %.9g}\n",
           st.build_s, st.n.m.g.n, st.n.p.ninstr,
           (unsigned long long)plan_digest(&st.n.p, &st.n.m.g), loss);
    free(ms);
    free(cms);
    stepper_free(&st);
    return 0;
}

/* one span of a trace, printed: lane (or "-" in order), start, end and
 * length in microseconds, then what ran */
static void print_span(const exec *x, const exec_span *sp)
{
    char nm[192];
    printf("%s %9.2f %9.2f %8.2f  i%-5d %s\n", sp->lane < 0 ? "- " : sp->lane ? "L1" : "L0",
           sp->t0 / 1e3, sp->t1 / 1e3, (sp->t1 - sp->t0) / 1e3, sp->instr,
           exec_span_name(x, sp, nm, sizeof nm));
}

static int span_cmp(const void *a, const void *b)
{
    const exec_span *p = a, *q = b;
    return p->t0 < q->t0 ? -1 : p->t0 > q->t0;
}

/* bench trace: after STEPS steps (the executor's tries among them), the
 * next step traced (engine/exec.h: exec_trace_next), task by task, and
 * each lane's busy time: where the step's time goes and what waits */
static int bench_trace(int64_t V, int64_t H, int64_t T, int64_t B, const char *dt_name, int steps,
                       int fuse, const char *cell, int minchar)
{
    uerr e = {0};
    stepper st;
    if (stepper_init(&st, V, H, T, B, dt_name, fuse, cell, minchar, &e))
        return fail(&e);
    double loss, w, c;
    for (int i = 0; i < steps; i++)
        if (stepper_step(&st, &loss, &w, &c, &e))
            return fail(&e);
    profiler pf;
    if (profiler_arm(&pf, &st.n, &e) || stepper_step(&st, &loss, &w, &c, &e))
        return fail(&e);
    exec_trace *tr = &pf.tr;
    int32_t n = atomic_load(&tr->n) < tr->cap ? atomic_load(&tr->n) : tr->cap;
    qsort(tr->span, (size_t)n, sizeof *tr->span, span_cmp);
    printf("lane   start us    end us   length  instruction\n");
    double busy[3] = {0, 0, 0}, end = 0;
    for (int32_t k = 0; k < n; k++) {
        print_span(&st.n.x, &tr->span[k]);
        busy[tr->span[k].lane + 1] += (double)(tr->span[k].t1 - tr->span[k].t0) / 1e3;
        end = end > tr->span[k].t1 / 1e3 ? end : tr->span[k].t1 / 1e3;
    }
    printf("the step %.3f ms traced, its plan's run %.2f us; busy us: in order %.2f, lane 0 %.2f, "
           "lane 1 %.2f; %d spans%s\n",
           w, end, busy[0], busy[1], busy[2], n, atomic_load(&tr->n) > tr->cap ? " (some lost)" : "");
    profiler_free(&pf);
    stepper_free(&st);
    return 0;
}

/* Two nets in one process (a preset and its custom form), their steps
 * interleaved, in turn first: both see the same load, the same clock
 * speed and the same heap, so their ratio holds on a busy machine where
 * two processes' medians do not. Each net's step starts with the other's
 * data in the caches: the figures are of that, for both alike. */
static int bench_pair(int64_t V, int64_t H, int64_t T, int64_t B, const char *dt_name, int reps,
                      int fuse, const char *cell_a, const char *cell_b)
{
    uerr e = {0};
    stepper st[2];
    if (stepper_init(&st[0], V, H, T, B, dt_name, fuse, cell_a, 0, &e) ||
        stepper_init(&st[1], V, H, T, B, dt_name, fuse, cell_b, 0, &e))
        return fail(&e);
    int warm = warm_steps(reps);
    double *ms = malloc(5 * (size_t)reps * sizeof(double)), loss[2] = {0, 0};
    double *cms = ms + reps * 2, *ratio = ms + reps * 4;
    for (int i = -warm; i < reps; i++)
        for (int k = 0; k < 2; k++) {
            int which = (k + (i & 1)) % 2;
            double w, c;
            if (stepper_step(&st[which], &loss[which], &w, &c, &e))
                return fail(&e);
            if (i >= 0)
                ms[which * reps + i] = w, cms[which * reps + i] = c;
        }
    for (int i = 0; i < reps; i++)
        ratio[i] = ms[reps + i] / ms[i];
    uint64_t da = plan_digest(&st[0].n.p, &st[0].n.m.g), db = plan_digest(&st[1].n.p, &st[1].n.m.g);
    printf("{\"ms_a\": %.6f, \"ms_b\": %.6f, \"ratio\": %.6f, ", median(ms, reps),
           median(ms + reps, reps), median(ratio, reps));
    printf("\"cpu_ms_a\": %.6f, \"cpu_ms_b\": %.6f, \"nodes_a\": %d, \"nodes_b\": %d, "
           "\"instrs_a\": %d, \"instrs_b\": %d, \"same_plan\": %s, \"loss_a\": %.9g, "
           "\"loss_b\": %.9g}\n",
           median(cms, reps), median(cms + reps, reps), st[0].n.m.g.n, st[1].n.m.g.n,
           st[0].n.p.ninstr, st[1].n.p.ninstr, da == db ? "true" : "false", loss[0], loss[1]);
    free(ms);
    stepper_free(&st[0]);
    stepper_free(&st[1]);
    return 0;
}

static int bench_sample(int64_t V, int64_t H, int64_t length, int reps)
{
    uerr e = {0};
    spec s;
    if (load_spec(&s, "elman", H, 1, 1, "float32", 0, &e))
        return fail(&e);
    /* V printable code points from '!' on */
    uint32_t cp[512];
    for (int64_t i = 0; i < V && i < 512; i++)
        cp[i] = (uint32_t)(33 + i);
    text_vocab v;
    if (text_vocab_init(&v, cp, (int32_t)V, 0, &e))
        return fail(&e);
    /* parameters: N(0, 0.1^2) weights, as sample_param blocks */
    const char *names[5] = {"U", "W", "b", "V", "c"};
    int64_t numel[5] = {H * V, H * H, H, V * H, V};
    sample_param sp[5];
    rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 5; i++) {
        float *p = malloc((size_t)numel[i] * sizeof(float));
        for (int64_t k = 0; k < numel[i]; k++)
            p[k] = (float)(0.1 * rng_normal(&r));
        sp[i] = (sample_param){names[i], DT_F32, p, numel[i]};
    }
    sample_opts so = {.length = length, .temperature = 1.0, .prime = "", .seed = 5};
    double *cps = malloc((size_t)reps * sizeof(double));
    for (int i = -1; i < reps; i++) {
        char *out = NULL;
        double c = 0;
        if (sample_text(&s, &v, sp, 5, &so, &out, &c, &e))
            return fail(&e);
        free(out);
        if (i >= 0)
            cps[i] = c;
    }
    printf("{\"chars_per_s\": %.1f, \"rss_mib\": %.2f}\n", median(cps, reps), peak_rss_mib());
    for (int i = 0; i < 5; i++)
        free((void *)sp[i].data);
    free(cps);
    text_vocab_free(&v);
    spec_free(&s);
    return 0;
}

static int bench_build(int64_t V, int64_t H, int64_t T, int fuse)
{
    uerr e = {0};
    spec s;
    if (load_spec(&s, "elman", H, T, 1, "float32", 0, &e))
        return fail(&e);
    plan_options po = {.fuse = fuse};
    net n;
    double t0 = now_s();
    if (net_init(&n, &s, V, 1, T, NET_TRAIN, &po, &e))
        return fail(&e);
    double dt = now_s() - t0;
    printf("{\"build_s\": %.4f, \"nodes\": %d, \"instrs\": %d, \"us_per_step\": %.3f, "
           "\"arena_mib\": %.3f, \"rss_mib\": %.2f}\n",
           dt, n.m.g.n, n.p.ninstr, 1e6 * dt / (double)T, (double)n.p.arena_bytes / 1048576.0,
           peak_rss_mib());
    net_free(&n);
    spec_free(&s);
    return 0;
}

/* The step's own tensors of `unroll train CONFIG --set ...` on text of V
 * symbols: the net train builds (the config's fuse and memory budget),
 * without data or a store. */
static int bench_own(const char *config, int64_t V, int nsets, char **sets)
{
    uerr e = {0};
    spec s;
    if (spec_load(&s, config, (const char *const *)sets, nsets, &e))
        return fail(&e);
    net n;
    optim o;
    if (net_init(&n, &s, V, s.train.batch, s.train.seq_len, NET_TRAIN, NULL, &e) ||
        optim_init(&o, &s, n.nparam, &e))
        return fail(&e);
    printf("{");
    print_memory(&n, &o);
    printf(", \"nodes\": %d, \"instrs\": %d}\n", n.m.g.n, n.p.ninstr);
    optim_free(&o);
    net_free(&n);
    spec_free(&s);
    return 0;
}

/* N characters drawn uniformly from V symbols (code points from '!' on,
 * past '~' into Latin-1), one UTF-8 text file: data for `unroll train`
 * with the vocabulary size of a benchmark size */
static int bench_text(const char *path, int64_t V, int64_t N)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        return 1;
    }
    rng r;
    rng_seed(&r, 9);
    for (int64_t i = 0; i < N; i++) {
        uint32_t cp = 33 + (uint32_t)rng_below(&r, (uint64_t)V);
        if (cp > 126)
            cp += 161 - 127; /* skip DEL and the C1 controls */
        char u[UTF8_MAX];
        fwrite(u, 1, (size_t)utf8_encode(cp, u), f);
    }
    return fclose(f) ? 1 : 0;
}

/* "all" (the default), "exact" or "none" */
static int fuse_arg(int argc, char **argv, int i)
{
    int f = PLAN_FUSE_ALL;
    if (argc > i && plan_fuse_from_name(argv[i], &f))
        fprintf(stderr, "bench: unknown fuse level '%s', using all\n", argv[i]);
    return f;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && !strcmp(argv[1], "step"))
        return bench_step(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), argv[6],
                          argc > 7 ? atoi(argv[7]) : 20, fuse_arg(argc, argv, 8),
                          argc > 9 ? argv[9] : "elman", argc > 10 && !strcmp(argv[10], "minchar"));
    if (argc >= 7 && !strcmp(argv[1], "trace"))
        return bench_trace(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), argv[6],
                           argc > 7 ? atoi(argv[7]) : 200, fuse_arg(argc, argv, 8),
                           argc > 9 ? argv[9] : "elman", argc > 10 && !strcmp(argv[10], "minchar"));
    if (argc == 11 && !strcmp(argv[1], "pair"))
        return bench_pair(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), argv[6],
                          atoi(argv[7]), fuse_arg(argc, argv, 8), argv[9], argv[10]);
    if (argc >= 4 && !strcmp(argv[1], "own"))
        return bench_own(argv[2], atoll(argv[3]), argc - 4, argv + 4);
    if (argc >= 5 && !strcmp(argv[1], "sample"))
        return bench_sample(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]),
                            argc > 5 ? atoi(argv[5]) : 3);
    if (argc >= 5 && !strcmp(argv[1], "build"))
        return bench_build(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), fuse_arg(argc, argv, 5));
    if (argc == 5 && !strcmp(argv[1], "text"))
        return bench_text(argv[2], atoll(argv[3]), atoll(argv[4]));
    fprintf(stderr, "usage: bench step V H T B DTYPE [REPS] [FUSE] [CELL|CONFIG.yaml] [sgd|minchar] | "
                    "trace V H T B DTYPE [STEPS] [FUSE] [CELL] [OPT] | "
                    "pair V H T B DTYPE REPS FUSE CELL_A CELL_B | own CONFIG V [KEY=VALUE]... | "
                    "sample V H LENGTH [REPS] | build V H T [FUSE] | "
                    "text PATH V N\n");
    return 2;
}
