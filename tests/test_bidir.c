/*
 * test_bidir.c - bidirectional models read each direction where it has
 * seen the whole sequence, as PyTorch's bidirectional nn.RNN over
 * pack_padded_sequence does.
 *
 * - A many-to-one head reads [h_fw at the sequence's last real step;
 *   h_bw at its first], and each layer above the first reads
 *   [h_fw_t; h_bw_t]. The reference below is a plain float64 forward
 *   written from that definition alone (per sequence, over its real
 *   steps only: no masks, no graph); unroll's loss must equal it to
 *   1e-12 for 1, 2 and 3 layers, with sequences of different lengths.
 *   A per-step head (every_step) reads [h_fw_t; h_bw_t] at each step.
 * - tests/golden/bidir_torch.txt holds the loss and every gradient
 *   PyTorch 1.13 gives for Elman (nn.RNN) with 1, 2 and 3 layers and LSTM
 *   (nn.LSTM) with 1 and 2 (made once by tools/bidir_torch_ref.py; no
 *   Python here): equal to 1e-12.
 * - The bug this guards: word_language with two bidirectional layers gave
 *   the top backward layer's W a gradient of exactly 0, because the head
 *   read the backward direction after one character.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>

#include "train/data.h"
#include "train/net.h"
#include "train/train.h"

enum { H = 3, NIN = 5, K = 3, B = 2, T = 4, MAXL = 3 };

static const int lens[B] = {4, 2};
static const int32_t ids[B][T] = {{1, 4, 0, 2}, {3, 1, -1, -1}};
static const int32_t labels[B] = {2, 0};

/* A fixed value for element k of parameter i, the same in
 * tools/bidir_torch_ref.py. */
static double weight(int i, int64_t k)
{
    return 0.5 * sin(1.3 * (double)k + 0.7 * (double)i + 0.1);
}

static const double *param(const net *n, const char *name)
{
    int i = model_find_param(&n->m, name);
    return i < 0 ? NULL : net_param(n, i);
}

static double logsumexp_minus(const double *o, int y)
{
    double mx = o[0], s = 0;
    for (int k = 1; k < K; k++)
        mx = fmax(mx, o[k]);
    for (int k = 0; k < K; k++)
        s += exp(o[k] - mx);
    return mx + log(s) - o[y];
}

/* The reference: L layers, two directions, each sequence over its own
 * real steps from a zero state. last: one loss per sequence from
 * [h_fw(len-1); h_bw(0)], else a loss per real step from [h_fw_t; h_bw_t]
 * with target ids[b][(t + 1) % len]. Returns NAN if a parameter is
 * missing. */
static double reference(const net *n, int L, int last)
{
    static double out[MAXL][B][T][2 * H];
    double loss = 0;
    for (int l = 0; l < L; l++)
        for (int dir = 0; dir < 2; dir++) {
            char pre[32], nu[40], nw[40], nb[40];
            if (L > 1)
                snprintf(pre, sizeof pre, "l%d.%s", l, dir ? "bw." : "fw.");
            else
                snprintf(pre, sizeof pre, "%s", dir ? "bw." : "fw.");
            snprintf(nu, sizeof nu, "%sU", pre);
            snprintf(nw, sizeof nw, "%sW", pre);
            snprintf(nb, sizeof nb, "%sb", pre);
            const double *U = param(n, nu), *W = param(n, nw), *bb = param(n, nb);
            if (!U || !W || !bb)
                return NAN;
            int in = l ? 2 * H : NIN;
            for (int b = 0; b < B; b++) {
                double h[H] = {0};
                for (int i = 0; i < lens[b]; i++) {
                    int t = dir ? lens[b] - 1 - i : i;
                    double a[H];
                    for (int j = 0; j < H; j++) {
                        a[j] = bb[j];
                        for (int q = 0; q < H; q++)
                            a[j] += W[j * H + q] * h[q];
                        if (l == 0)
                            a[j] += U[j * in + ids[b][t]];
                        else
                            for (int q = 0; q < in; q++)
                                a[j] += U[j * in + q] * out[l - 1][b][t][q];
                    }
                    for (int j = 0; j < H; j++)
                        out[l][b][t][dir * H + j] = h[j] = tanh(a[j]);
                }
            }
        }
    const double *V = param(n, "V"), *c = param(n, "c");
    if (!V || !c)
        return NAN;
    for (int b = 0; b < B; b++)
        for (int t = last ? lens[b] - 1 : 0; t < lens[b]; t++) {
            double z[2 * H], o[K];
            for (int j = 0; j < H; j++) {
                z[j] = out[L - 1][b][t][j];
                z[H + j] = out[L - 1][b][last ? 0 : t][H + j];
            }
            for (int k = 0; k < K; k++) {
                o[k] = c[k];
                for (int j = 0; j < 2 * H; j++)
                    o[k] += V[k * 2 * H + j] * z[j];
            }
            loss += logsumexp_minus(o, last ? labels[b] : ids[b][(t + 1) % lens[b]] % K);
        }
    return loss;
}

/* unroll on the same model and batch: r->n and r->s stay for the caller
 * (run_free). */
typedef struct run {
    spec s;
    net n;
    double loss;
} run;

static void run_free(run *r)
{
    net_free(&r->n);
    spec_free(&r->s);
}

static int run_model(run *r, const char *cell, int L, int last)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "data: {kind: %s, path: x}\nmodel: {cell: %s, hidden: %d, bidirectional: true, "
             "layers: %d, outputs: %s}\ntrain: {dtype: float64}\n",
             last ? "classify" : "npy", cell, H, L, last ? "last_step" : "every_step");
    uerr e = {0};
    memset(r, 0, sizeof *r);
    model_io io = {.input = NIN, .output = K, .masked = 1};
    if (spec_load_buffer(&r->s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e) ||
        net_init_io(&r->n, &r->s, &io, B, T, NET_TRAIN, NULL, &e)) {
        printf("  %s\n", e.msg);
        return 1;
    }
    net *n = &r->n;
    for (int i = 0; i < n->m.nparams; i++) {
        double *p = net_param(n, i);
        for (int64_t k = 0; k < shape_numel(&n->m.param[i].shape); k++)
            p[k] = weight(i, k);
    }
    int32_t in[B * T], tg[B * T], mask[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int real = t < lens[b];
            in[b * T + t] = ids[b][t];
            mask[b * T + t] = real;
            tg[b * T + t] = !real  ? -1
                            : last ? (t == lens[b] - 1 ? labels[b] : -1)
                                   : ids[b][(t + 1) % lens[b]] % K;
        }
    net_set_batch(n, in, tg);
    net_set_mask(n, mask);
    int rc = net_run(n, &r->loss, &e);
    if (rc)
        printf("  %s\n", e.msg);
    return rc;
}

static void compare_with_reference(int L, int last)
{
    run r;
    CHECK(run_model(&r, "elman", L, last) == 0);
    double want = reference(&r.n, L, last);
    printf("  %d layer(s), %s: unroll %.17g  reference %.17g  diff %.1e\n", L,
           last ? "last_step" : "every_step", r.loss, want, fabs(r.loss - want));
    CHECKF(fabs(r.loss - want) <= 1e-12, "%d layers: %.17g != %.17g", L, r.loss, want);
    run_free(&r);
}

static void test_many_to_one_matches_reference(void)
{
    for (int L = 1; L <= MAXL; L++)
        compare_with_reference(L, 1);
}

static void test_every_step_matches_reference(void)
{
    for (int L = 1; L <= 2; L++)
        compare_with_reference(L, 0);
}

/* Lines "loss CELL L X": the loss PyTorch gave for CELL with L layers;
 * lines "grad CELL L NAME g0 g1 ...": its gradient of unroll's parameter
 * NAME. */
static void test_many_to_one_matches_torch(void)
{
    FILE *f = fopen("tests/golden/bidir_torch.txt", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    static char line[8192];
    int nloss = 0, ngrad = 0, L = 0;
    char cell[16] = "";
    run r = {0};
    double worst = 0;
    while (fgets(line, sizeof line, f)) {
        double torch = 0;
        int l = 0, used = 0;
        char name[32], c[16];
        if (sscanf(line, "loss %15s %d %lf", c, &l, &torch) == 3) {
            if (L)
                run_free(&r);
            L = l;
            snprintf(cell, sizeof cell, "%s", c);
            CHECK(L >= 1 && L <= MAXL && run_model(&r, cell, L, 1) == 0);
            printf("  %s, %d layer(s): unroll %.17g  torch %.17g  diff %.1e\n", cell, L, r.loss,
                   torch, fabs(r.loss - torch));
            CHECKF(fabs(r.loss - torch) <= 1e-12, "%s %d layers: %.17g != torch %.17g", cell, L,
                   r.loss, torch);
            nloss++;
        } else if (sscanf(line, "grad %15s %d %31s %n", c, &l, name, &used) == 3 && l == L &&
                   !strcmp(c, cell)) {
            int i = model_find_param(&r.n.m, name);
            CHECKF(i >= 0, "%s %d layers: no parameter %s", cell, L, name);
            if (i < 0)
                continue;
            const double *g = net_grad(&r.n, i);
            int64_t k = 0, numel = shape_numel(&r.n.m.param[i].shape);
            char *p = line + used, *end;
            for (double v = strtod(p, &end); end != p; p = end, v = strtod(p, &end), k++) {
                if (k < numel)
                    worst = fmax(worst, fabs(g[k] - v));
                CHECKF(k < numel && fabs(g[k] - v) <= 1e-12,
                       "%s %d layers: %s[%lld] %.17g != "
                       "torch %.17g",
                       cell, L, name, (long long)k, k < numel ? g[k] : NAN, v);
            }
            CHECKF(k == numel, "%s %d layers: %s has %lld values, torch %lld", cell, L, name,
                   (long long)numel, (long long)k);
            ngrad++;
        }
    }
    if (L)
        run_free(&r);
    fclose(f);
    printf("  %d gradients, largest |unroll - torch| %.1e\n", ngrad, worst);
    CHECK(nloss == MAXL + 2 && ngrad > 0);
}

/* The reported case: every parameter of word_language with two
 * bidirectional layers gets a gradient, the top backward W included. */
static void test_top_backward_layer_learns(void)
{
    uerr e = {0};
    spec s;
    const char *sets[] = {"data.path=tests/data/words_small.tsv", "model.bidirectional=true",
                          "model.layers=2", "model.hidden=8", "train.dtype=float64"};
    CHECK_OK(spec_load(&s, "configs/word_language.yaml", sets, 5, &e), &e);
    if (e.code)
        return;
    net n = {0};
    data_source d = {0};
    double loss = 0;
    CHECK_OK(train_first_step(&s, NULL, NET_TRAIN, &n, &d, &e), &e);
    if (!e.code)
        CHECK_OK(net_run(&n, &loss, &e), &e);
    CHECK(model_find_param(&n.m, "l1.bw.W") >= 0);
    for (int i = 0; !e.code && i < n.m.nparams; i++) {
        const double *g = net_grad(&n, i);
        double mx = 0;
        for (int64_t k = 0; k < shape_numel(&n.m.param[i].shape); k++)
            mx = fmax(mx, fabs(g[k]));
        CHECKF(mx > 1e-6, "%s: max |grad| %.3g", n.m.param[i].name, mx);
    }
    net_free(&n);
    data_free(&d);
    spec_free(&s);
}

int main(void)
{
    RUN(test_many_to_one_matches_reference);
    RUN(test_every_step_matches_reference);
    RUN(test_many_to_one_matches_torch);
    RUN(test_top_backward_layer_learns);
    CHECK_EXIT();
}
