/*
 * bench.c - unroll's side of `make bench`: one measurement per process, one
 * line of JSON, so that the peak RSS printed belongs to that measurement.
 *
 *   bench step   V H T B DTYPE [reps] [fuse]  training steps of an Elman net
 *   bench sample V H LENGTH [fuse]             generation, batch 1
 *   bench build  V H T [fuse]                  unroll + build_grad + plan time
 *   bench text   PATH V N                      a random text of V symbols
 *
 * A training step is what bench/ref.py times on the PyTorch side: token ids
 * in, forward over T steps, softmax cross-entropy summed over B x T tokens,
 * full BPTT, then a plain SGD update of every parameter. The ids are drawn
 * once, outside the timed loop. FUSE is the plan's rewrite level: all (the
 * default, as `unroll train` runs), exact or none.
 * Timing never decides anything here: bench/run.sh prints the figures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "graph/plan.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/rng.h"
#include "train/sample.h"
#include "train/text.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A spec for an Elman net of hidden size H; the data path is never read
 * (the nets here are fed ids directly) but a spec must name one. */
static int load_spec(spec *s, int64_t H, int64_t T, int64_t B, const char *dtype, uerr *e)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "name: bench\n"
             "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\n"
             "model: {cell: elman, hidden: %lld, activation: tanh, init: {std: 0.01}}\n"
             "train: {dtype: %s, seq_len: %lld, batch: %lld, steps: 1,\n"
             "        optimizer: {name: sgd, lr: 0.001}, seed: 1}\n",
             (long long)H, dtype, (long long)T, (long long)B);
    return spec_load_buffer(s, "bench.yaml", cfg, strlen(cfg), NULL, 0, e);
}

static int fail(const uerr *e)
{
    fprintf(stderr, "bench: %s\n", e->msg);
    return 1;
}

static int bench_step(int64_t V, int64_t H, int64_t T, int64_t B, const char *dtype, int reps,
                      int fuse)
{
    uerr e = {0};
    spec s;
    if (load_spec(&s, H, T, B, dtype, &e))
        return fail(&e);
    plan_options po = {.fuse = fuse};
    net n;
    double t0 = now_s();
    if (net_init(&n, &s, V, B, T, NET_TRAIN, &po, &e))
        return fail(&e);
    double build_s = now_s() - t0;
    net_init_params(&n, 1, 0.01);
    rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < T * B; i++) {
        n.xs[i] = (int32_t)rng_below(&r, (uint64_t)V);
        n.ys[i] = (int32_t)rng_below(&r, (uint64_t)V);
    }
    optim o;
    if (optim_init(&o, &s, n.nparam, &e))
        return fail(&e);
    int warm = reps / 4 > 2 ? reps / 4 : 2;
    double *ms = malloc((size_t)reps * sizeof(double)), loss = 0;
    for (int i = -warm; i < reps; i++) {
        double t1 = now_s();
        if (net_run(&n, &loss, &e))
            return fail(&e);
        optim_step(&o, n.params, n.grads);
        if (i >= 0)
            ms[i] = 1e3 * (now_s() - t1);
    }
    double med = median(ms, reps);
    /* the step's own tensors: parameters, gradients, optimiser state (none
     * for SGD) and what BPTT must keep per step (h_t and the logits) */
    double es = (double)n.es;
    double own = (2.0 * (double)n.nparam + (double)(T * B * (H + V))) * es;
    printf("{\"ms\": %.6f, \"tokens_per_s\": %.1f, \"rss_mib\": %.2f, \"arena_mib\": %.3f, "
           "\"own_mib\": %.3f, \"build_s\": %.4f, \"nodes\": %d, \"instrs\": %d, "
           "\"loss\": %.9g}\n",
           med, (double)(T * B) / (med * 1e-3), peak_rss_mib(), (double)n.p.arena_bytes / 1048576.0,
           own / 1048576.0, build_s, n.m.g.n, n.p.ninstr, loss);
    free(ms);
    optim_free(&o);
    net_free(&n);
    spec_free(&s);
    return 0;
}

static int bench_sample(int64_t V, int64_t H, int64_t length, int reps)
{
    uerr e = {0};
    spec s;
    if (load_spec(&s, H, 1, 1, "float32", &e))
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
    if (load_spec(&s, H, T, 1, "float32", &e))
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
        if (cp < 0x80)
            fputc((int)cp, f);
        else
            fputc((int)(0xc0 | (cp >> 6)), f), fputc((int)(0x80 | (cp & 0x3f)), f);
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
        return bench_step(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]),
                          argv[6], argc > 7 ? atoi(argv[7]) : 20, fuse_arg(argc, argv, 8));
    if (argc >= 5 && !strcmp(argv[1], "sample"))
        return bench_sample(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]),
                            argc > 5 ? atoi(argv[5]) : 3);
    if (argc >= 5 && !strcmp(argv[1], "build"))
        return bench_build(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]),
                           fuse_arg(argc, argv, 5));
    if (argc == 5 && !strcmp(argv[1], "text"))
        return bench_text(argv[2], atoll(argv[3]), atoll(argv[4]));
    fprintf(stderr, "usage: bench step V H T B DTYPE [REPS] [FUSE] | sample V H LENGTH [REPS] | "
                    "build V H T [FUSE] | text PATH V N\n");
    return 2;
}
