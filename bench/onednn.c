/*
 * onednn.c - the anchor of `make bench`: oneDNN's own RNN primitives
 * (Debian's oneDNN 2.6, C API) timed on issue 10's sizes, one JSON line
 * per size.
 *
 *   onednn [REPS] [SIZE...]     SIZE: S1 S2 S3 S4 L2 G2 (default: all),
 *                               or CELL:H:T:B (CELL rnn, lstm or gru)
 *
 * Each size is the recurrent layer alone, as issue 10 describes it: a
 * one-layer, left-to-right vanilla RNN (tanh), LSTM or GRU in PyTorch's
 * formula (dnnl_lbr_gru: the reset gate multiplies W_hn h + b_hn), float32,
 * its input layer H wide; no output projection, no softmax, no update.
 * One step is forward training over T (the workspace kept) then the full
 * backward pass: the gradients of the input, the initial state, both
 * weights and the bias. The diff weights are zeroed inside the step (the
 * primitive accumulates into them, as a training step must not).
 *
 * The weights are reordered into the layouts the primitives chose once,
 * outside the timing (forward and backward may choose different ones).
 * Threads: oneDNN's OpenMP runtime, OMP_NUM_THREADS or else every core;
 * bench/run.sh sets it to the cores. Printed per size: the median ms per
 * step over REPS steps after warm-up (and its process CPU time, which a
 * loaded machine does not inflate on one thread), the forward part alone, the layer's
 * FLOPs (2 M N K for each product: forward gates of the input and the
 * state, and in backward the two data gradients and the two weight
 * gradients) and both primitives' implementation strings.
 *
 * Every dnnl call's status is checked; a failure names the call and ends
 * that size with an "error" field (the others still run). Timing never
 * decides anything here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dnnl.h>
#include "bench/timing.h"

typedef struct size_def {
    const char *name;
    int cell; /* 0 vanilla tanh, 1 LSTM, 2 lbr_gru */
    long H, T, B;
} size_def;

/* V does not enter: the layer alone has no output projection */
static const size_def sizes[] = {
    {"S1", 0, 100, 25, 1},  {"S2", 0, 256, 64, 32}, {"S3", 0, 1024, 32, 64},
    {"S4", 0, 128, 1000, 1}, {"L2", 1, 256, 64, 32}, {"G2", 2, 256, 64, 32},
};
static const char *const cell_names[] = {"rnn_tanh", "lstm", "lbr_gru"};
static const int gates[] = {1, 4, 3};

/* The failing call, for the error field */
static char failed[160];

#define DN(call)                                                                                \
    do {                                                                                        \
        dnnl_status_t st_ = (call);                                                             \
        if (st_ != dnnl_success) {                                                              \
            snprintf(failed, sizeof failed, "%s:%d %.60s: status %d", __FILE__, __LINE__,      \
                     #call, (int)st_);                                                          \
            goto fail;                                                                          \
        }                                                                                       \
    } while (0)

static unsigned long long lcg = 12345;

/* uniform in [-scale, scale] */
static void fill(dnnl_memory_t m, const dnnl_memory_desc_t *md, float scale)
{
    void *p = NULL;
    if (dnnl_memory_get_data_handle(m, &p) != dnnl_success || !p)
        return;
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < n; i++) {
        lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = scale * ((float)(lcg >> 40) / 8388608.0f - 1.0f);
    }
}

static void zero(dnnl_memory_t m, const dnnl_memory_desc_t *md)
{
    void *p = NULL;
    if (dnnl_memory_get_data_handle(m, &p) == dnnl_success && p)
        memset(p, 0, dnnl_memory_desc_get_size(md));
}

/* The memory of one execute argument, allocated as the pd describes it;
 * NULL with failed[] set when that fails */
static dnnl_memory_t arg_mem(const_dnnl_primitive_desc_t pd, int arg, dnnl_engine_t eng)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    dnnl_memory_t m = NULL;
    if (!md || dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        snprintf(failed, sizeof failed, "memory for argument %d", arg);
        return NULL;
    }
    return m;
}

/* Copies user (plain ldigo) weights into the layout pd chose for arg. */
static dnnl_memory_t reorder_into(dnnl_memory_t user, const dnnl_memory_desc_t *umd,
                                  const_dnnl_primitive_desc_t pd, int arg, dnnl_engine_t eng,
                                  dnnl_stream_t s)
{
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t m = arg_mem(pd, arg, eng);
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (!m)
        return NULL;
    DN(dnnl_reorder_primitive_desc_create(&rpd, umd, eng, md, eng, NULL));
    DN(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}};
    DN(dnnl_primitive_execute(r, s, 2, a));
    DN(dnnl_stream_wait(s));
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    return m;
fail:
    if (r)
        dnnl_primitive_destroy(r);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(m);
    return NULL;
}

/* The layer's products: forward 2 per gate block (input and state, each
 * B x GH x H), backward 4 (two data gradients, two weight gradients) */
static double layer_flops(const size_def *z)
{
    double G = gates[z->cell];
    return (double)z->T * 6.0 * 2.0 * (double)z->B * G * (double)z->H * (double)z->H;
}

#define MAXARGS 24
typedef struct args {
    dnnl_exec_arg_t a[MAXARGS];
    int n;
} args;

static void add(args *x, int arg, dnnl_memory_t m)
{
    if (m && x->n < MAXARGS)
        x->a[x->n++] = (dnnl_exec_arg_t){arg, m};
}

/* The memories of one size, destroyed together */
#define NMEM 32
typedef struct mems {
    dnnl_memory_t m[NMEM];
    int n;
} mems;

static dnnl_memory_t keep(mems *k, dnnl_memory_t m)
{
    if (m && k->n < NMEM)
        k->m[k->n++] = m;
    return m;
}

/* Every execute argument but the weights: which primitive describes it,
 * the scale of its random fill (0: none) and whether the step zeroes it
 * (the gradients the primitive accumulates into) */
static const struct data_arg {
    int arg, bwd, lstm, zero;
    float fill;
} data_args[] = {
    {DNNL_ARG_SRC_LAYER, 0, 0, 0, 1.0f},
    {DNNL_ARG_SRC_ITER, 0, 0, 0, 0.5f},
    {DNNL_ARG_SRC_ITER_C, 0, 1, 0, 0.5f},
    {DNNL_ARG_BIAS, 0, 0, 0, 0.1f},
    {DNNL_ARG_DST_LAYER, 0, 0, 0, 0},
    {DNNL_ARG_WORKSPACE, 0, 0, 0, 0},
    {DNNL_ARG_DIFF_SRC_LAYER, 1, 0, 0, 0},
    {DNNL_ARG_DIFF_SRC_ITER, 1, 0, 0, 0},
    {DNNL_ARG_DIFF_SRC_ITER_C, 1, 1, 0, 0},
    {DNNL_ARG_DIFF_WEIGHTS_LAYER, 1, 0, 1, 0},
    {DNNL_ARG_DIFF_WEIGHTS_ITER, 1, 0, 1, 0},
    {DNNL_ARG_DIFF_BIAS, 1, 0, 1, 0},
    {DNNL_ARG_DIFF_DST_LAYER, 1, 0, 0, 0.01f},
};

static int run_size(const size_def *z, int reps, dnnl_engine_t eng, dnnl_stream_t s)
{
    const int lstm = z->cell == 1, gru = z->cell == 2;
    const dnnl_dim_t H = z->H, T = z->T, B = z->B, G = gates[z->cell];
    dnnl_dims_t d_layer = {T, B, H}, d_iter = {1, 1, B, H}, d_w = {1, 1, H, G, H},
                d_bias = {1, 1, G + gru, H};
    dnnl_memory_desc_t md_layer, md_iter, md_w_any, md_w_user, md_bias;
    dnnl_rnn_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_primitive_t fwd = NULL, bwd = NULL;
    mems k = {.n = 0};
    double *ms = NULL, *fms = NULL, *cms = NULL;
    failed[0] = 0;

    DN(dnnl_memory_desc_init_by_tag(&md_layer, 3, d_layer, dnnl_f32, dnnl_tnc));
    DN(dnnl_memory_desc_init_by_tag(&md_iter, 4, d_iter, dnnl_f32, dnnl_ldnc));
    DN(dnnl_memory_desc_init_by_tag(&md_w_any, 5, d_w, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&md_w_user, 5, d_w, dnnl_f32, dnnl_ldigo));
    DN(dnnl_memory_desc_init_by_tag(&md_bias, 4, d_bias, dnnl_f32, dnnl_ldgo));
    const dnnl_memory_desc_t *ic = lstm ? &md_iter : NULL; /* the LSTM's cell state */
    /* no final state out: the step's loss reads dst_layer only */
    if (z->cell == 0) {
        DN(dnnl_vanilla_rnn_forward_desc_init(&fd, dnnl_forward_training, dnnl_eltwise_tanh,
                                              dnnl_unidirectional_left2right, &md_layer, &md_iter,
                                              &md_w_any, &md_w_any, &md_bias, &md_layer, NULL, 0,
                                              0.f, 0.f));
        DN(dnnl_vanilla_rnn_backward_desc_init(
            &bd, dnnl_backward, dnnl_eltwise_tanh, dnnl_unidirectional_left2right, &md_layer,
            &md_iter, &md_w_any, &md_w_any, &md_bias, &md_layer, NULL, &md_layer, &md_iter,
            &md_w_any, &md_w_any, &md_bias, &md_layer, NULL, 0, 0.f, 0.f));
    } else if (lstm) {
        DN(dnnl_lstm_forward_desc_init(&fd, dnnl_forward_training, dnnl_unidirectional_left2right,
                                       &md_layer, &md_iter, ic, &md_w_any, &md_w_any, &md_bias,
                                       &md_layer, NULL, NULL, 0));
        DN(dnnl_lstm_backward_desc_init(&bd, dnnl_backward, dnnl_unidirectional_left2right,
                                        &md_layer, &md_iter, ic, &md_w_any, &md_w_any, &md_bias,
                                        &md_layer, NULL, NULL, &md_layer, &md_iter, ic, &md_w_any,
                                        &md_w_any, &md_bias, &md_layer, NULL, NULL, 0));
    } else {
        DN(dnnl_lbr_gru_forward_desc_init(&fd, dnnl_forward_training,
                                          dnnl_unidirectional_left2right, &md_layer, &md_iter,
                                          &md_w_any, &md_w_any, &md_bias, &md_layer, NULL, 0));
        DN(dnnl_lbr_gru_backward_desc_init(
            &bd, dnnl_backward, dnnl_unidirectional_left2right, &md_layer, &md_iter, &md_w_any,
            &md_w_any, &md_bias, &md_layer, NULL, &md_layer, &md_iter, &md_w_any, &md_w_any,
            &md_bias, &md_layer, NULL, 0));
    }
    DN(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    DN(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
    DN(dnnl_primitive_create(&fwd, fpd));
    DN(dnnl_primitive_create(&bwd, bpd));

    /* the data, then the weights in the user's layout and their copies in
     * each primitive's own; the backward reads all the forward's
     * arguments but the weights */
    args fa = {.n = 0}, ba = {.n = 0}, dw = {.n = 0};
    for (size_t i = 0; i < sizeof data_args / sizeof *data_args; i++) {
        const struct data_arg *d = &data_args[i];
        if (d->lstm && !lstm)
            continue;
        const_dnnl_primitive_desc_t pd = d->bwd ? bpd : fpd;
        dnnl_memory_t m = keep(&k, arg_mem(pd, d->arg, eng));
        if (!m)
            goto fail;
        if (d->fill > 0)
            fill(m, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, d->arg), d->fill);
        if (!d->bwd)
            add(&fa, d->arg, m);
        add(&ba, d->arg, m);
        if (d->zero)
            add(&dw, d->arg, m);
    }
    dnnl_memory_t wu[2] = {NULL, NULL};
    const int warg[2] = {DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER};
    for (int w = 0; w < 2; w++) {
        DN(dnnl_memory_create(&wu[w], &md_w_user, eng, DNNL_MEMORY_ALLOCATE));
        keep(&k, wu[w]);
        fill(wu[w], &md_w_user, 0.05f);
        dnnl_memory_t f = keep(&k, reorder_into(wu[w], &md_w_user, fpd, warg[w], eng, s));
        dnnl_memory_t b = keep(&k, reorder_into(wu[w], &md_w_user, bpd, warg[w], eng, s));
        if (!f || !b)
            goto fail;
        add(&fa, warg[w], f);
        add(&ba, warg[w], b);
    }

    int warm = reps / 4 > 2 ? reps / 4 : 2;
    ms = malloc((size_t)reps * sizeof *ms);
    fms = malloc((size_t)reps * sizeof *fms);
    cms = malloc((size_t)reps * sizeof *cms);
    if (!ms || !fms || !cms) {
        snprintf(failed, sizeof failed, "out of memory");
        goto fail;
    }
    for (int i = -warm; i < reps; i++) {
        double t0 = now_s(), c0 = cpu_now_s();
        for (int j = 0; j < dw.n; j++)
            zero(dw.a[j].memory, dnnl_primitive_desc_query_md(bpd, dnnl_query_exec_arg_md,
                                                              dw.a[j].arg));
        DN(dnnl_primitive_execute(fwd, s, fa.n, fa.a));
        DN(dnnl_stream_wait(s));
        double t1 = now_s();
        DN(dnnl_primitive_execute(bwd, s, ba.n, ba.a));
        DN(dnnl_stream_wait(s));
        if (i >= 0) {
            ms[i] = 1e3 * (now_s() - t0);
            cms[i] = 1e3 * (cpu_now_s() - c0);
            fms[i] = 1e3 * (t1 - t0);
        }
    }
    const char *fimpl = "?", *bimpl = "?";
    DN(dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &fimpl));
    DN(dnnl_primitive_desc_query(bpd, dnnl_query_impl_info_str, 0, &bimpl));
    double m = median(ms, reps), fl = layer_flops(z);
    printf("{\"size\": \"%s\", \"cell\": \"%s\", \"H\": %ld, \"T\": %ld, \"B\": %ld, "
           "\"ms\": %.6f, \"fwd_ms\": %.6f, \"cpu_ms\": %.6f, \"layer_flops\": %.0f, "
           "\"gflops\": %.2f, \"reps\": %d, \"impl_fwd\": \"%s\", \"impl_bwd\": \"%s\"}\n",
           z->name, cell_names[z->cell], z->H, z->T, z->B, m, median(fms, reps),
           median(cms, reps), fl, fl / (m * 1e-3) / 1e9, reps, fimpl, bimpl);
    fflush(stdout);
    failed[0] = 0;
fail:
    if (failed[0]) {
        printf("{\"size\": \"%s\", \"cell\": \"%s\", \"error\": \"%s\"}\n", z->name,
               cell_names[z->cell], failed);
        fflush(stdout);
    }
    free(ms);
    free(fms);
    free(cms);
    for (int i = 0; i < k.n; i++)
        dnnl_memory_destroy(k.m[i]);
    if (fwd)
        dnnl_primitive_destroy(fwd);
    if (bwd)
        dnnl_primitive_destroy(bwd);
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (bpd)
        dnnl_primitive_desc_destroy(bpd);
    return failed[0] ? 1 : 0;
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

/* "CELL:H:T:B" into z (its name the argument): 0, or -1 if it is not
 * one */
static int parse_size(const char *arg, size_def *z)
{
    static const char *const cells[] = {"rnn", "lstm", "gru"};
    char cell[8];
    long H, T, B;
    char end;
    if (sscanf(arg, "%7[a-z]:%ld:%ld:%ld%c", cell, &H, &T, &B, &end) != 4 || H < 1 || T < 1 ||
        B < 1)
        return -1;
    for (int c = 0; c < 3; c++)
        if (!strcmp(cell, cells[c])) {
            *z = (size_def){arg, c, H, T, B};
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1) {
        fprintf(stderr, "usage: onednn [REPS] [S1 S2 S3 S4 L2 G2 | CELL:H:T:B]...\n");
        return 2;
    }
    for (int a = 2; a < argc; a++) {
        int known = 0;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            known |= !strcmp(argv[a], sizes[i].name);
        size_def z;
        if (!known && parse_size(argv[a], &z)) {
            fprintf(stderr, "onednn: size '%s' is none of S1 S2 S3 S4 L2 G2 nor CELL:H:T:B "
                            "(CELL rnn, lstm or gru)\n", argv[a]);
            return 2;
        }
    }
    dnnl_engine_t eng = NULL;
    dnnl_stream_t s = NULL;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&s, eng, dnnl_stream_default_flags) != dnnl_success) {
        printf("{\"error\": \"oneDNN: no CPU engine or stream\"}\n");
        return 1;
    }
    const dnnl_version_t *v = dnnl_version();
    const char *omp = getenv("OMP_NUM_THREADS");
    printf("{\"size\": \"info\", \"version\": \"%d.%d.%d\", \"isa\": \"%s\", "
           "\"omp_num_threads\": \"%s\"}\n",
           v->major, v->minor, v->patch, isa_name(dnnl_get_effective_cpu_isa()),
           omp ? omp : "unset (every core)");
    int bad = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        int want = argc <= 2;
        for (int a = 2; a < argc; a++)
            want |= !strcmp(argv[a], sizes[i].name);
        if (want)
            bad |= run_size(&sizes[i], reps, eng, s);
    }
    for (int a = 2; a < argc; a++) {
        size_def z;
        if (!parse_size(argv[a], &z))
            bad |= run_size(&z, reps, eng, s);
    }
    dnnl_stream_destroy(s);
    dnnl_engine_destroy(eng);
    return bad;
}
