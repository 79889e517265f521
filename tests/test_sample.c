/*
 * test_sample.c - the draw behind `unroll sample` (sample_pick): greedy at
 * temperature 0, the top-k and top-p cuts, determinism given the seed,
 * and the plain draw unchanged from before the cuts existed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "train/rng.h"
#include "train/sample.h"

enum { V = 6 };

static int32_t pick(const double *logits, const sample_opts *o, rng *r)
{
    double l[V];
    sample_cand work[V];
    memcpy(l, logits, sizeof l);
    return sample_pick(l, V, o, r, work);
}

static void random_logits(rng *r, double *l)
{
    for (int j = 0; j < V; j++)
        l[j] = 4 * rng_normal(r);
}

static void test_greedy_is_argmax(void)
{
    rng g, r;
    rng_seed(&g, 11);
    for (int it = 0; it < 200; it++) {
        double l[V];
        random_logits(&g, l);
        int best = 0;
        for (int j = 1; j < V; j++)
            best = l[j] > l[best] ? j : best;
        sample_opts o = {.temperature = 0};
        rng_seed(&r, (uint64_t)it);
        uint64_t before[4], after[4];
        rng_save(&r, before);
        CHECK(pick(l, &o, &r) == best);
        rng_save(&r, after);
        CHECK(!memcmp(before, after, sizeof before)); /* no draw */
    }
    /* ties: the first */
    const double tie[V] = {0, 3, 1, 3, 3, -1};
    sample_opts o = {.temperature = 0};
    rng_seed(&r, 1);
    CHECK(pick(tie, &o, &r) == 1);
}

static void test_top_k_1_is_greedy(void)
{
    rng g, r;
    rng_seed(&g, 12);
    for (int it = 0; it < 200; it++) {
        double l[V];
        random_logits(&g, l);
        sample_opts greedy = {.temperature = 0};
        sample_opts k1 = {.temperature = 0.5 + it % 3, .top_k = 1};
        rng_seed(&r, (uint64_t)it);
        CHECK(pick(l, &k1, &r) == pick(l, &greedy, &r));
    }
}

/* softmax of these at temperature 1: about .61 .22 .08 .05 .03 .01 */
static const double skew[V] = {3, 2, 1, 0.5, 0, -1};

static void counts(const sample_opts *o, uint64_t seed, int n, int *c)
{
    rng r;
    rng_seed(&r, seed);
    memset(c, 0, V * sizeof *c);
    for (int i = 0; i < n; i++) {
        int32_t id = pick(skew, o, &r);
        CHECK(id >= 0 && id < V);
        if (id >= 0 && id < V)
            c[id]++;
    }
}

static void test_top_p_keeps_the_nucleus(void)
{
    int c[V];
    /* .61 < .7 <= .61 + .22: the two most likely, both drawn */
    sample_opts o = {.temperature = 1, .top_p = 0.7};
    counts(&o, 5, 4000, c);
    CHECK(c[0] > 0 && c[1] > 0);
    CHECK(c[2] + c[3] + c[4] + c[5] == 0);
    /* the first alone reaches .5 */
    o.top_p = 0.5;
    counts(&o, 5, 1000, c);
    CHECK(c[0] == 1000);
    /* top-k within top-p: k = 3 and p = .99 keep three */
    o = (sample_opts){.temperature = 1, .top_p = 0.99, .top_k = 3};
    counts(&o, 6, 4000, c);
    CHECK(c[0] > 0 && c[1] > 0 && c[2] > 0 && c[3] + c[4] + c[5] == 0);
    /* p = 1 is no cut: every id shows up in enough draws */
    o = (sample_opts){.temperature = 1, .top_p = 1};
    counts(&o, 7, 20000, c);
    for (int j = 0; j < V; j++)
        CHECK(c[j] > 0);
}

static void test_top_k_keeps_k(void)
{
    int c[V];
    sample_opts o = {.temperature = 2, .top_k = 2};
    counts(&o, 8, 4000, c);
    CHECK(c[0] > 0 && c[1] > 0 && c[2] + c[3] + c[4] + c[5] == 0);
    /* the kept two keep their ratio, exp(1 / 2) ~ 1.65, roughly */
    double ratio = (double)c[0] / c[1];
    CHECKF(ratio > 1.4 && ratio < 1.9, "ratio %g", ratio);
}

static void test_deterministic_given_seed(void)
{
    int a[V], b[V];
    sample_opts o = {.temperature = 0.8, .top_k = 4, .top_p = 0.9};
    counts(&o, 9, 500, a);
    counts(&o, 9, 500, b);
    CHECK(!memcmp(a, b, sizeof a));
}

/* Without cuts the draw is the one sample used before them: softmax of
 * logits / T, normalised, into rng_categorical. */
static void test_plain_draw_unchanged(void)
{
    rng g, r1, r2;
    rng_seed(&g, 13);
    rng_seed(&r1, 77);
    rng_seed(&r2, 77);
    for (int it = 0; it < 300; it++) {
        double l[V], p[V], mx = -INFINITY, s = 0;
        random_logits(&g, l);
        for (int j = 0; j < V; j++) {
            p[j] = l[j] / 0.7;
            mx = p[j] > mx ? p[j] : mx;
        }
        for (int j = 0; j < V; j++)
            s += p[j] = exp(p[j] - mx);
        for (int j = 0; j < V; j++)
            p[j] /= s;
        sample_opts o = {.temperature = 0.7};
        CHECK(pick(l, &o, &r1) == rng_categorical(&r2, p, V));
    }
}

static void test_non_finite(void)
{
    const double bad[V] = {0, NAN, 1, 2, 3, 4};
    rng r;
    rng_seed(&r, 1);
    sample_opts o = {.temperature = 0};
    CHECK(pick(bad, &o, &r) == -1);
    o = (sample_opts){.temperature = 1, .top_k = 2};
    CHECK(pick(bad, &o, &r) == -1);
    o = (sample_opts){.temperature = 1};
    CHECK(pick(bad, &o, &r) == -1);
}

int main(void)
{
    RUN(test_greedy_is_argmax);
    RUN(test_top_k_1_is_greedy);
    RUN(test_top_p_keeps_the_nucleus);
    RUN(test_top_k_keeps_k);
    RUN(test_deterministic_given_seed);
    RUN(test_plain_draw_unchanged);
    RUN(test_non_finite);
    CHECK_EXIT();
}
