/*
 * test_jacobian.c - the vanishing-gradient ledger (train/jacobian.h) is
 * exact.
 *
 * - Elman against a direct computation written from seed 001 alone: the
 *   forward pass by hand, J_t = diag(1 - h_t^2) W, products of them, the
 *   per-step output gradient V^T (p_t - onehot(y_t)), and spectral norms
 *   by power iteration (another method than the library's Jacobi).
 * - Every preset and the top layer of stacked models against central
 *   differences: the
 *   model is split at step k (a net over steps 0..k gives the state at k,
 *   a second net starts from it), h_k is perturbed in the second net's
 *   initial state (its other state vectors, an LSTM's cell, held fixed, as
 *   the ledger defines the derivative), and L_t alone is the loss where
 *   every other step's target is -1 (no loss). A lower layer's h_k also
 *   reaches L_t through the layer above at step k itself, a path such a
 *   split cuts: a 2-layer Elman model's is checked by BPTT written out.
 * - The spectral norm of known matrices, and the decay fit of an exact
 *   geometric decay.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>

#include "train/jacobian.h"
#include "train/net.h"

enum { H = 3, NIN = 5, K = 4, B = 2, T = 6 };

static const int32_t ids[B][T] = {{1, 4, 0, 2, 3, 1}, {3, 1, 2, 0, 4, 4}};
static const int32_t tgt[B][T] = {{2, 0, 3, 1, 1, 0}, {0, 3, 3, 2, 1, 2}};

static double weight(int i, int64_t k)
{
    return 0.9 * sin(1.3 * (double)k + 0.7 * (double)i + 0.1);
}

/* A net over steps [from, from + len) of the batch above, its parameters
 * from weight(); targets -1 except at step `only` (or every step when
 * only < 0). */
static int make(net *n, spec *s, const char *cell, int layers, int64_t from, int64_t len,
                int64_t only)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "data: {kind: npy, path: x}\nmodel: {cell: %s, hidden: %d, layers: %d}\n"
             "train: {dtype: float64}\n",
             cell, H, layers);
    uerr e = {0};
    model_io io = {.input = NIN, .output = K};
    if (spec_load_buffer(s, "t.yaml", cfg, strlen(cfg), NULL, 0, &e) ||
        net_init_io(n, s, &io, B, len, NET_LOSS, NULL, &e)) {
        printf("  %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < n->m.nparams; i++) {
        double *p = net_param(n, i);
        for (int64_t k = 0; k < shape_numel(&n->m.param[i].shape); k++)
            p[k] = weight(i, k);
    }
    int32_t in[B * T], tg[B * T];
    for (int b = 0; b < B; b++)
        for (int64_t t = 0; t < len; t++) {
            in[b * len + t] = ids[b][from + t];
            tg[b * len + t] = only < 0 || from + t == only ? tgt[b][from + t] : -1;
        }
    net_set_batch(n, in, tg);
    return 0;
}

static double power_norm(const double *a, int n)
{
    double v[H] = {1, 0.5, 0.25}, w[H];
    double s = 0;
    for (int it = 0; it < 5000; it++) {
        for (int i = 0; i < n; i++) {
            w[i] = 0;
            for (int j = 0; j < n; j++)
                w[i] += a[i * n + j] * v[j];
        }
        double nv = 0;
        for (int j = 0; j < n; j++) {
            v[j] = 0;
            for (int i = 0; i < n; i++)
                v[j] += a[i * n + j] * w[i];
            nv += v[j] * v[j];
        }
        nv = sqrt(nv);
        for (int j = 0; j < n; j++)
            v[j] /= nv;
        s = sqrt(nv);
    }
    return s;
}

static int close_to(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + 1e-300;
}

/* The ledger of layer `layer` of a model of `cell` over the whole batch,
 * the net left in n (and s) for the caller to free; a failure fails the
 * test and frees them. */
static int ledger_of(const char *cell, int layers, int layer, spec *s, net *n, double *dl,
                     double *dh)
{
    uerr e = {0};
    model_io io = {.input = NIN, .output = K};
    if (make(n, s, cell, layers, 0, T, -1)) {
        CHECK(0);
        return 1;
    }
    if (jacobian_ledger(s, &io, n, layer, dl, dh, &e)) {
        CHECKF(0, "%s", e.msg);
        net_free(n);
        spec_free(s);
        return 1;
    }
    return 0;
}

static void test_elman_matches_seed_001(void)
{
    spec s;
    net n;
    static double dl[T * T], dh[T * T];
    if (ledger_of("elman", 1, -1, &s, &n, dl, dh))
        return;
    const double *U = net_param(&n, model_find_param(&n.m, "U"));
    const double *W = net_param(&n, model_find_param(&n.m, "W"));
    const double *bb = net_param(&n, model_find_param(&n.m, "b"));
    const double *V = net_param(&n, model_find_param(&n.m, "V"));
    const double *c = net_param(&n, model_find_param(&n.m, "c"));
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int k = 0; k <= t; k++) {
            double ss = 0, most = 0;
            for (int b = 0; b < B; b++) {
                /* forward, keeping every h of this row */
                double h[T][H], prev[H] = {0};
                for (int u = 0; u < T; u++) {
                    for (int j = 0; j < H; j++) {
                        double a = bb[j] + U[j * NIN + ids[b][u]];
                        for (int q = 0; q < H; q++)
                            a += W[j * H + q] * prev[q];
                        h[u][j] = tanh(a);
                    }
                    memcpy(prev, h[u], sizeof prev);
                }
                /* P = J_t ... J_{k+1}, J_u = diag(1 - h_u^2) W */
                double P[H * H] = {0}, Q[H * H];
                for (int j = 0; j < H; j++)
                    P[j * H + j] = 1;
                for (int u = k + 1; u <= t; u++) {
                    for (int i = 0; i < H; i++)
                        for (int j = 0; j < H; j++) {
                            Q[i * H + j] = 0;
                            for (int q = 0; q < H; q++)
                                Q[i * H + j] +=
                                    (1 - h[u][i] * h[u][i]) * W[i * H + q] * P[q * H + j];
                        }
                    memcpy(P, Q, sizeof P);
                }
                most = fmax(most, power_norm(P, H));
                /* dL_t/dh_t = V^T (softmax(o_t) - onehot(y_t)) */
                double o[K], mx = -INFINITY, z = 0, g[H] = {0};
                for (int q = 0; q < K; q++) {
                    o[q] = c[q];
                    for (int j = 0; j < H; j++)
                        o[q] += V[q * H + j] * h[t][j];
                    mx = fmax(mx, o[q]);
                }
                for (int q = 0; q < K; q++)
                    z += exp(o[q] - mx);
                for (int q = 0; q < K; q++) {
                    double d = exp(o[q] - mx) / z - (q == tgt[b][t]);
                    for (int j = 0; j < H; j++)
                        g[j] += V[q * H + j] * d;
                }
                for (int j = 0; j < H; j++) {
                    double gk = 0;
                    for (int i = 0; i < H; i++)
                        gk += P[i * H + j] * g[i];
                    ss += gk * gk;
                }
            }
            worst = fmax(worst, fabs(dl[t * T + k] - sqrt(ss)) / sqrt(ss));
            worst = fmax(worst, fabs(dh[t * T + k] - most) / most);
            CHECKF(close_to(dl[t * T + k], sqrt(ss), 1e-11), "dL_dh[%d,%d] %.17g != %.17g", t, k,
                   dl[t * T + k], sqrt(ss));
            CHECKF(close_to(dh[t * T + k], most, 1e-11), "dh_dh[%d,%d] %.17g != %.17g", t, k,
                   dh[t * T + k], most);
        }
    for (int t = 0; t < T; t++)
        for (int k = t + 1; k < T; k++)
            CHECK(dl[t * T + k] == 0 && dh[t * T + k] == 0);
    printf("  elman, T=%d: largest relative difference from the direct computation %.1e\n", T,
           worst);
    net_free(&n);
    spec_free(&s);
}

/* ||dL_t / d h_k|| of layer `layer` of a 2-layer Elman model by BPTT
 * written out by hand: the gradient reaching l0.h_u comes from l0.h_{u+1}
 * (W0^T diag(1 - h^2)) and from l1.h_u of the same step (U1^T diag(1 - h^2)),
 * a path a split of the model at step k would cut. */
static double stacked_by_hand(const net *n, int layer, int t, int k)
{
    const double *p[8];
    static const char *const names[8] = {"l0.U", "l0.W", "l0.b", "l1.U", "l1.W", "l1.b", "V", "c"};
    for (int i = 0; i < 8; i++)
        p[i] = net_param(n, model_find_param(&n->m, names[i]));
    double ss = 0;
    for (int b = 0; b < B; b++) {
        double h[2][T][H], g[2][T][H] = {{{0}}};
        for (int l = 0; l < 2; l++)
            for (int u = 0; u < T; u++)
                for (int j = 0; j < H; j++) {
                    const double *U = p[3 * l], *W = p[3 * l + 1];
                    double a = p[3 * l + 2][j];
                    for (int q = 0; q < H; q++)
                        a += W[j * H + q] * (u ? h[l][u - 1][q] : 0) +
                             (l ? U[j * H + q] * h[0][u][q] : 0);
                    h[l][u][j] = tanh(a + (l ? 0 : U[j * NIN + ids[b][u]]));
                }
        double o[K], mx = -INFINITY, z = 0;
        for (int q = 0; q < K; q++) {
            o[q] = p[7][q];
            for (int j = 0; j < H; j++)
                o[q] += p[6][q * H + j] * h[1][t][j];
            mx = fmax(mx, o[q]);
        }
        for (int q = 0; q < K; q++)
            z += exp(o[q] - mx);
        for (int q = 0; q < K; q++)
            for (int j = 0; j < H; j++)
                g[1][t][j] += p[6][q * H + j] * (exp(o[q] - mx) / z - (q == tgt[b][t]));
        /* step by step down: g[1][u] whole first, then g[0][u] from it and
         * from g[0][u + 1] (whole since the step before) */
        for (int u = t; u >= k; u--) {
            for (int j = 0; j < H; j++)
                for (int i = 0; u < t && i < H; i++)
                    g[1][u][j] +=
                        p[4][i * H + j] * (1 - h[1][u + 1][i] * h[1][u + 1][i]) * g[1][u + 1][i];
            for (int j = 0; j < H; j++)
                for (int i = 0; i < H; i++) {
                    g[0][u][j] += p[3][i * H + j] * (1 - h[1][u][i] * h[1][u][i]) * g[1][u][i];
                    if (u < t)
                        g[0][u][j] += p[1][i * H + j] * (1 - h[0][u + 1][i] * h[0][u + 1][i]) *
                                      g[0][u + 1][i];
                }
        }
        for (int j = 0; j < H; j++)
            ss += g[layer][k][j] * g[layer][k][j];
    }
    return sqrt(ss);
}

static void test_stacked_lower_layer_by_hand(void)
{
    spec s;
    net n;
    uerr e = {0};
    if (make(&n, &s, "elman", 2, 0, T, -1)) {
        CHECK(0);
        return;
    }
    static double dl[T * T], dh[T * T];
    model_io io = {.input = NIN, .output = K};
    for (int layer = 0; layer < 2; layer++) {
        CHECK_OK(jacobian_ledger(&s, &io, &n, layer, dl, dh, &e), &e);
        for (int t = 0; t < T; t++)
            for (int k = 0; k <= t; k++) {
                double want = stacked_by_hand(&n, layer, t, k);
                CHECKF(close_to(dl[t * T + k], want, 1e-11), "layer %d dL_dh[%d,%d] %.17g != %.17g",
                       layer, t, k, dl[t * T + k], want);
            }
    }
    net_free(&n);
    spec_free(&s);
}

/* dL_t/dh_k and d h_t/dh_k by central differences for (t, k): h of the
 * stream whose columns start at `off` in the state. */
static void by_differences(const char *cell, int layers, int64_t off, int64_t t, int64_t k,
                           double *dl, double *dh)
{
    spec s1, s2;
    net a, q;
    uerr e = {0};
    if (make(&a, &s1, cell, layers, 0, k + 1, -1) || make(&q, &s2, cell, layers, k + 1, t - k, t)) {
        CHECK(0);
        return;
    }
    double loss, lp, lm;
    CHECK_OK(net_run(&a, &loss, &e), &e);
    int64_t S = q.m.S;
    double *h0 = q.h0, J[B][H * H], g[B][H], eps = 1e-6, hp[B * 64], ss = 0;
    memcpy(h0, exec_value(&a.x, a.m.hT), (size_t)(B * S) * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double keep = h0[b * S + off + j];
            h0[b * S + off + j] = keep + eps;
            CHECK_OK(net_run(&q, &lp, &e), &e);
            memcpy(hp, exec_value(&q.x, q.m.hT), (size_t)(B * S) * sizeof(double));
            h0[b * S + off + j] = keep - eps;
            CHECK_OK(net_run(&q, &lm, &e), &e);
            const double *hm = exec_value(&q.x, q.m.hT);
            h0[b * S + off + j] = keep;
            g[b][j] = (lp - lm) / (2 * eps);
            ss += g[b][j] * g[b][j];
            for (int i = 0; i < H; i++)
                J[b][i * H + j] = (hp[b * S + off + i] - hm[b * S + off + i]) / (2 * eps);
        }
    *dl = sqrt(ss);
    *dh = 0;
    for (int b = 0; b < B; b++)
        *dh = fmax(*dh, power_norm(J[b], H));
    net_free(&a);
    net_free(&q);
    spec_free(&s1);
    spec_free(&s2);
}

static void against_differences(const char *cell, int layers, int layer, int64_t off)
{
    spec s;
    net n;
    static double dl[T * T], dh[T * T];
    if (ledger_of(cell, layers, layer, &s, &n, dl, dh))
        return;
    double worst = 0;
    static const int64_t pairs[][2] = {{5, 1}, {4, 3}, {3, 0}, {5, 4}};
    for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++) {
        int64_t t = pairs[p][0], k = pairs[p][1];
        double fl = NAN, fh = NAN;
        by_differences(cell, layers, off, t, k, &fl, &fh);
        worst = fmax(worst, fabs(fl - dl[t * T + k]) / fmax(fl, 1e-12));
        worst = fmax(worst, fabs(fh - dh[t * T + k]) / fmax(fh, 1e-12));
        CHECKF(fabs(fl - dl[t * T + k]) <= 1e-6 * fl + 1e-10, "%s dL_dh[%lld,%lld] %.10g != %.10g",
               cell, (long long)t, (long long)k, dl[t * T + k], fl);
        CHECKF(fabs(fh - dh[t * T + k]) <= 1e-6 * fh + 1e-10, "%s dh_dh[%lld,%lld] %.10g != %.10g",
               cell, (long long)t, (long long)k, dh[t * T + k], fh);
    }
    for (int64_t t = 0; t < T; t++)
        CHECKF(fabs(dh[t * T + t] - 1) < 1e-15, "%s: dh_dh[t,t] = %.17g", cell, dh[t * T + t]);
    printf("  %s, %d layer(s), h of layer %d: largest relative difference %.1e\n", cell, layers,
           layer < 0 ? layers - 1 : layer, worst);
    net_free(&n);
    spec_free(&s);
}

static void test_presets_against_differences(void)
{
    against_differences("elman", 1, -1, 0);
    against_differences("lstm", 1, -1, 0); /* state [h, cell] */
    against_differences("gru", 1, -1, 0);
}

static void test_stacked_against_differences(void)
{
    against_differences("elman", 2, -1, H);   /* state [l0.h, l1.h] */
    against_differences("lstm", 2, 1, 2 * H); /* [l0.h, l0.cell, l1.h, l1.cell] */
}

/* Jordan feeds y[t-1] (the target), not h[t-1]: nothing flows back. */
static void test_jordan_has_no_path_back(void)
{
    uerr e = {0};
    model_io io = {.input = NIN, .output = K};
    spec s;
    net n;
    static double dl[T * T], dh[T * T];
    if (ledger_of("jordan", 1, -1, &s, &n, dl, dh))
        return;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < t; k++)
            CHECK(dl[t * T + k] == 0 && dh[t * T + k] == 0);
    for (int t = 0; t < T; t++)
        CHECK(dl[t * T + t] > 0 && dh[t * T + t] == 1);
    CHECK(jacobian_ledger(&s, &io, &n, 1, dl, dh, &e) == UERR_USER);
    CHECK(strstr(e.msg, "--layer 1: the model has layers 0 to 0") != NULL);
    net_free(&n);
    spec_free(&s);
}

static void test_spectral_norm_and_fit(void)
{
    double g[9];
    const double a[4] = {3, 0, 4, 5}; /* singular values sqrt(45), sqrt(5) */
    CHECK(fabs(jacobian_spectral_norm(a, 2, 2, g) - sqrt(45)) < 1e-14);
    const double r[6] = {1, 2, 2, 2, 4, 4}; /* rank one: 3 * sqrt(5) */
    CHECK(fabs(jacobian_spectral_norm(r, 2, 3, g) - 3 * sqrt(5)) < 1e-14);
    const double z[9] = {0};
    CHECK(jacobian_spectral_norm(z, 3, 3, g) == 0);
    const double id[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    CHECK(fabs(jacobian_spectral_norm(id, 3, 3, g) - 1) < 1e-15);
    double m[T * T] = {0}, prof[T], slope, icept;
    for (int t = 0; t < T; t++)
        for (int k = 0; k <= t; k++)
            m[t * T + k] = 2 * pow(0.5, t - k);
    jacobian_decay_profile(m, T, prof);
    CHECK(jacobian_decay_fit(prof, T, &slope, &icept) == T);
    CHECKF(fabs(slope - log10(0.5)) < 1e-12 && fabs(icept - log10(2)) < 1e-12, "%g %g", slope,
           icept);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < t; k++)
            m[t * T + k] = 0;
    jacobian_decay_profile(m, T, prof);
    CHECK(isnan(prof[1]) && jacobian_decay_fit(prof, T, &slope, &icept) == 1 && isnan(slope));
}

int main(void)
{
    RUN(test_elman_matches_seed_001);
    RUN(test_presets_against_differences);
    RUN(test_stacked_against_differences);
    RUN(test_stacked_lower_layer_by_hand);
    RUN(test_jordan_has_no_path_back);
    RUN(test_spectral_norm_and_fit);
    CHECK_EXIT();
}
