/*
 * test_batch.c - train/batch (the min-char-rnn chunk rule, B streams,
 * resume, validation walk) and train/rng (known answers, determinism,
 * state round trip, distributions). rng lives here because both are the
 * data-side randomness/ordering a resumed run must reproduce exactly.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

#include "train/batch.h"
#include "train/rng.h"

static void expect_err(int rc, const uerr *e, const char *want, int line)
{
    CHECKF(rc != 0, "line %d: expected failure \"%s\"", line, want);
    CHECKF(strcmp(e->msg, want) == 0, "line %d: got \"%s\", want \"%s\"", line, e->msg, want);
}
#define EXPECT_ERR(rc, e, want) expect_err((rc), (e), (want), __LINE__)

/* ids[i] = 100 + i, so a chunk's contents reveal the positions read. */
static void fill_ids(int32_t *ids, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        ids[i] = (int32_t)(100 + i);
}

/* min-char-rnn's loop transcribed literally (B = 1), as the oracle. */
static void min_char_rnn_positions(int64_t len, int64_t T, int64_t steps, int64_t *pos, int *reset)
{
    int64_t p = 0;
    for (int64_t n = 0; n < steps; n++) {
        reset[n] = 0;
        if (p + T + 1 >= len || n == 0) {
            reset[n] = 1;
            p = 0;
        }
        pos[n] = p;
        p += T;
    }
}

static void test_b1_matches_min_char_rnn(void)
{
    /* N = 11, T = 3: chunks at 0(reset), 3, 6, then 9+4 >= 11 wraps */
    static const int64_t want_pos[] = {0, 3, 6, 0, 3, 6, 0};
    static const int want_reset[] = {1, 0, 0, 1, 0, 0, 1};
    int32_t ids[11], in[3], tg[3];
    fill_ids(ids, 11);
    uerr e = {0};
    batch_cursor c;
    CHECK_OK(batch_init(&c, ids, 11, 1, 3, &e), &e);
    for (int n = 0; n < 7; n++) {
        int r = batch_next(&c, in, tg);
        int64_t p = c.p - 3;
        CHECKF(r == want_reset[n] && p == want_pos[n], "chunk %d: p=%lld reset=%d", n, (long long)p,
               r);
        for (int t = 0; t < 3; t++) {
            CHECK(in[t] == 100 + p + t);
            CHECK(tg[t] == 100 + p + t + 1);
        }
    }

    /* N = 10, T = 3: 6+4 >= 10 already wraps after two chunks */
    CHECK_OK(batch_init(&c, ids, 10, 1, 3, &e), &e);
    static const int64_t want10[] = {0, 3, 0, 3, 0};
    for (int n = 0; n < 5; n++) {
        int r = batch_next(&c, NULL, NULL);
        CHECK(c.p - 3 == want10[n] && r == (want10[n] == 0));
    }

    /* a longer run against the transcribed loop, several sizes */
    enum { STEPS = 200 };
    int64_t pos[STEPS];
    int reset[STEPS];
    static const int64_t sizes[][2] = {{27, 25}, {100, 25}, {101, 25}, {102, 25}, {53, 7}, {5, 3}};
    int32_t big[102];
    fill_ids(big, 102);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t len = sizes[s][0], T = sizes[s][1];
        min_char_rnn_positions(len, T, STEPS, pos, reset);
        CHECK_OK(batch_init(&c, big, len, 1, T, &e), &e);
        for (int n = 0; n < STEPS; n++) {
            int r = batch_next(&c, NULL, NULL);
            CHECKF(r == reset[n] && c.p - T == pos[n], "len %lld T %lld chunk %d", (long long)len,
                   (long long)T, n);
        }
    }
}

/* The golden min-char-rnn run: 2123 code points, T = 25, 100 steps; the
 * reference recorded resets at steps 0 and 84 (meta.json reset_steps). */
static void test_golden_resets(void)
{
    static int32_t ids[2123];
    fill_ids(ids, 2123);
    uerr e = {0};
    batch_cursor c;
    CHECK_OK(batch_init(&c, ids, 2123, 1, 25, &e), &e);
    int n_resets = 0;
    for (int n = 0; n < 100; n++)
        if (batch_next(&c, NULL, NULL)) {
            CHECKF(n == 0 || n == 84, "reset at step %d", n);
            n_resets++;
        }
    CHECK(n_resets == 2);
}

static void test_b3_streams(void)
{
    /* N = 23, B = 3 -> S = 7, ids 121 and 122 unused; T = 2 */
    int32_t ids[23], in[6], tg[6];
    fill_ids(ids, 23);
    uerr e = {0};
    batch_cursor c;
    CHECK_OK(batch_init(&c, ids, 23, 3, 2, &e), &e);
    CHECK(c.S == 7);
    static const int64_t want_pos[] = {0, 2, 0, 2};
    for (int n = 0; n < 4; n++) {
        int r = batch_next(&c, in, tg);
        int64_t p = want_pos[n];
        CHECK(r == (p == 0));
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 2; t++) {
                CHECK(in[b * 2 + t] == 100 + b * 7 + p + t);
                CHECK(tg[b * 2 + t] == 100 + b * 7 + p + t + 1);
            }
    }
    /* explicit first chunk, to read at a glance */
    CHECK_OK(batch_init(&c, ids, 23, 3, 2, &e), &e);
    batch_next(&c, in, tg);
    static const int32_t want_in[] = {100, 101, 107, 108, 114, 115};
    static const int32_t want_tg[] = {101, 102, 108, 109, 115, 116};
    CHECK(memcmp(in, want_in, sizeof in) == 0);
    CHECK(memcmp(tg, want_tg, sizeof tg) == 0);
}

static void test_too_short(void)
{
    int32_t ids[12];
    fill_ids(ids, 12);
    uerr e = {0};
    batch_cursor c;
    /* S = 5 < T + 2 = 6 */
    EXPECT_ERR(batch_init(&c, ids, 10, 2, 4, &e), &e,
               "text of 10 tokens is too short for batch 2 x seq_len 4");
    uerr_clear(&e);
    EXPECT_ERR(batch_init(&c, ids, 11, 2, 4, &e), &e,
               "text of 11 tokens is too short for batch 2 x seq_len 4");
    uerr_clear(&e);
    CHECK_OK(batch_init(&c, ids, 12, 2, 4, &e), &e); /* S = 6: just fits */
    for (int n = 0; n < 3; n++)
        CHECK(batch_next(&c, NULL, NULL) == 1); /* every chunk resets */
    EXPECT_ERR(batch_init(&c, ids, 12, 0, 4, &e), &e, "batch must be in [1, 1073741824], got 0");
    uerr_clear(&e);
    EXPECT_ERR(batch_init(&c, ids, 12, 1, -1, &e), &e,
               "seq_len must be in [1, 1073741824], got -1");
}

static void test_save_restore(void)
{
    enum { N = 200, B = 2, T = 7, K = 40 };
    int32_t ids[N];
    fill_ids(ids, N);
    uerr e = {0};
    batch_cursor a, b;
    CHECK_OK(batch_init(&a, ids, N, B, T, &e), &e);
    for (int n = 0; n < 13; n++)
        batch_next(&a, NULL, NULL);
    int64_t st[2];
    batch_save(&a, st);
    CHECK(st[1] == 13);

    CHECK_OK(batch_init(&b, ids, N, B, T, &e), &e);
    CHECK_OK(batch_restore(&b, st, &e), &e);
    int32_t ia[B * T], ta[B * T], ib[B * T], tb[B * T];
    for (int n = 0; n < K; n++) {
        int ra = batch_next(&a, ia, ta), rb = batch_next(&b, ib, tb);
        CHECK(ra == rb && a.p == b.p && a.n_chunks == b.n_chunks);
        CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(ta, tb, sizeof ta) == 0);
    }

    /* a fresh state restored is the fresh cursor (n == 0 forces a reset) */
    const int64_t fresh[2] = {0, 0};
    CHECK_OK(batch_restore(&b, fresh, &e), &e);
    CHECK(batch_next(&b, NULL, NULL) == 1 && b.p == T);

    const int64_t bad[][2] = {{-7, 3}, {3, 5}, {100, 5}, {7, -1}, {7, 0}};
    const char *want[] = {
        "batch cursor state (p=-7, n=3) does not fit streams of 100 tokens "
        "with seq_len 7",
        "batch cursor state (p=3, n=5) does not fit streams of 100 tokens "
        "with seq_len 7",
        "batch cursor state (p=100, n=5) does not fit streams of 100 tokens "
        "with seq_len 7",
        "batch cursor state (p=7, n=-1) does not fit streams of 100 tokens "
        "with seq_len 7",
        "batch cursor state (p=7, n=0) does not fit streams of 100 tokens "
        "with seq_len 7",
    };
    for (int i = 0; i < 5; i++) {
        uerr_clear(&e);
        EXPECT_ERR(batch_restore(&b, bad[i], &e), &e, want[i]);
    }
}

/* Narrowed ids give the chunks the int32 ids give, at each vocabulary
 * size's edge: 256 symbols in 1 byte (id 255), 257 and 65536 in 2 (ids
 * 256 and 65535), 65537 in 4; every id of the vocabulary's top present. */
static void test_narrow(void)
{
    enum { N = 1000, B = 3, T = 7 };
    static const int32_t vocabs[] = {2, 256, 257, 65536, 65537};
    static const int widths[] = {1, 1, 2, 2, 4};
    for (int v = 0; v < 5; v++) {
        int32_t ref[N], *ids = malloc(N * sizeof *ids);
        for (int64_t i = 0; i < N; i++)
            ref[i] = ids[i] = (int32_t)((i * 7919 + (i % 3 ? 0 : vocabs[v] - 1)) % vocabs[v]);
        int width;
        void *narrow = batch_narrow(ids, N, vocabs[v], &width);
        CHECKF(width == widths[v], "vocabulary %d: width %d", vocabs[v], width);
        uerr e = {0};
        batch_cursor a, b;
        CHECK_OK(batch_init(&a, ref, N, B, T, &e), &e);
        CHECK_OK(batch_init_width(&b, narrow, width, N, B, T, &e), &e);
        int32_t ia[B * T], ta[B * T], ib[B * T], tb[B * T];
        for (int n = 0; n < 60; n++) {
            int ra = batch_next(&a, ia, ta), rb = batch_next(&b, ib, tb);
            CHECKF(ra == rb && !memcmp(ia, ib, sizeof ia) && !memcmp(ta, tb, sizeof ta),
                   "vocabulary %d, chunk %d", vocabs[v], n);
        }
        free(narrow);
    }
}

typedef struct valid_log {
    int64_t calls;
    int32_t in[8][6], tg[8][6];
    int reset[8];
    int64_t stop_at; /* fail on this call, or -1 */
} valid_log;

static int valid_record(void *ctx, const int32_t *inputs, const int32_t *targets, int reset,
                        uerr *e)
{
    valid_log *L = ctx;
    if (L->calls == L->stop_at)
        return uerr_set(e, UERR_USER, "stop at %lld", (long long)L->calls);
    memcpy(L->in[L->calls], inputs, sizeof L->in[0]);
    memcpy(L->tg[L->calls], targets, sizeof L->tg[0]);
    L->reset[L->calls] = reset;
    L->calls++;
    return 0;
}

static void test_valid_walk(void)
{
    /* N = 23, B = 3, T = 2: S = 7, chunks at p = 0, 2, 4 ((7-1)/2 = 3) */
    int32_t ids[23], in[6], tg[6];
    fill_ids(ids, 23);
    CHECK(batch_valid_count(23, 3, 2) == 3);
    CHECK(batch_valid_count(22, 3, 2) == 3); /* S = 7 */
    CHECK(batch_valid_count(20, 3, 2) == 2); /* S = 6: tail dropped */
    CHECK(batch_valid_count(6, 3, 2) == 0);  /* S = 2 < T + 1 */
    CHECK(batch_valid_count(9, 3, 2) == 1);  /* S = 3 = T + 1 */
    CHECK(batch_valid_count(2, 3, 2) == 0);  /* S = 0 */
    uerr e = {0};
    valid_log L = {.stop_at = -1};
    int64_t count = -1;
    CHECK_OK(batch_valid_each(ids, 23, 3, 2, in, tg, valid_record, &L, &count, &e), &e);
    CHECK(count == 3 && L.calls == 3);
    for (int k = 0; k < 3 && L.calls == 3; k++) {
        CHECK(L.reset[k] == (k == 0));
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 2; t++) {
                CHECK(L.in[k][b * 2 + t] == 100 + b * 7 + 2 * k + t);
                CHECK(L.tg[k][b * 2 + t] == 100 + b * 7 + 2 * k + t + 1);
            }
    }
    /* the last target of the last chunk is the last token of each stream */
    CHECK(L.tg[2][1] == 106 && L.tg[2][5] == 120);

    valid_log S = {.stop_at = 1};
    EXPECT_ERR(batch_valid_each(ids, 23, 3, 2, in, tg, valid_record, &S, &count, &e), &e,
               "stop at 1");
    CHECK(count == 1);

    valid_log Z = {.stop_at = -1};
    uerr_clear(&e);
    CHECK_OK(batch_valid_each(ids, 6, 3, 2, in, tg, valid_record, &Z, &count, &e), &e);
    CHECK(count == 0 && Z.calls == 0);
}

/* Known answers from an independent Python transcription of the reference
 * splitmix64 / xoshiro256** code; splitmix64(1234567) is the published
 * test vector. */
static void test_rng_known_answers(void)
{
    rng r;
    rng_seed(&r, 42);
    CHECK(r.s[0] == 0xbdd732262feb6e95u && r.s[1] == 0x28efe333b266f103u);
    CHECK(r.s[2] == 0x47526757130f9f52u && r.s[3] == 0x581ce1ff0e4ae394u);
    CHECK(rng_u64(&r) == 0x15780b2e0c2ec716u);
    CHECK(rng_u64(&r) == 0x6104d9866d113a7eu);
    CHECK(rng_u64(&r) == 0xae17533239e499a1u);
    CHECK(rng_u64(&r) == 0xecb8ad4703b360a1u);

    rng_seed(&r, 1234567);
    CHECK(r.s[0] == 6457827717110365317u && r.s[1] == 3203168211198807973u);
    CHECK(r.s[2] == 9817491932198370423u && r.s[3] == 4593380528125082431u);
    rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafu);
}

static void test_rng_determinism_and_state(void)
{
    rng a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        same &= rng_u64(&a) == rng_u64(&b);
        same &= rng_normal(&a) == rng_normal(&b);
    }
    CHECK(same);
    rng_seed(&b, 8);
    CHECK(rng_u64(&a) != rng_u64(&b));

    uint64_t st[4];
    rng_save(&a, st);
    double x[50], y[50];
    for (int i = 0; i < 50; i++)
        x[i] = i % 2 ? rng_normal(&a) : rng_uniform(&a);
    uerr e = {0};
    CHECK_OK(rng_restore(&b, st, &e), &e);
    for (int i = 0; i < 50; i++)
        y[i] = i % 2 ? rng_normal(&b) : rng_uniform(&b);
    CHECK(memcmp(x, y, sizeof x) == 0);

    const uint64_t zero[4] = {0, 0, 0, 0};
    CHECK(rng_restore(&b, zero, &e) == UERR_USER);
    CHECK(strcmp(e.msg, "rng state is all zero") == 0);
}

static void test_rng_distributions(void)
{
    rng r;
    rng_seed(&r, 2024);
    enum { M = 200000 };
    double lo = 1, hi = 0, sum = 0, sum2 = 0;
    for (int i = 0; i < M; i++) {
        double u = rng_uniform(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
    }
    CHECK(lo >= 0.0 && hi < 1.0 && fabs(sum / M - 0.5) < 0.005);

    sum = 0;
    for (int i = 0; i < M; i++) {
        double z = rng_normal(&r);
        sum += z;
        sum2 += z * z;
    }
    double mean = sum / M, var = sum2 / M - mean * mean;
    CHECKF(fabs(mean) < 0.01 && fabs(var - 1.0) < 0.02, "mean %g var %g", mean, var);

    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t k = rng_below(&r, 7);
        CHECK(k < 7);
        if (k < 7)
            hist[k]++;
    }
    for (int k = 0; k < 7; k++)
        CHECKF(abs(hist[k] - 10000) < 500, "below(7): %d x %d", k, hist[k]);
    CHECK(rng_below(&r, 1) == 0);
}

static void test_rng_categorical(void)
{
    rng r;
    rng_seed(&r, 99);
    const double p[] = {0.0, 0.25, 0.0, 0.75, 0.0};
    int hist[5] = {0};
    enum { M = 40000 };
    for (int i = 0; i < M; i++) {
        int64_t k = rng_categorical(&r, p, 5);
        CHECK(k >= 0 && k < 5);
        if (k >= 0 && k < 5)
            hist[k]++;
    }
    CHECK(hist[0] == 0 && hist[2] == 0 && hist[4] == 0);
    CHECKF(abs(hist[1] - M / 4) < 600, "p=0.25 drew %d of %d", hist[1], M);

    /* unnormalised weights and float32 give the same draws as normalised */
    const double w[] = {1.0, 3.0};
    const float wf[] = {0.25f, 0.75f};
    rng a, b;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= rng_categorical(&a, w, 2) == rng_categorical_f32(&b, wf, 2);
    CHECK(same);

    /* invalid vectors return -1 and consume nothing */
    const double neg[] = {0.5, -0.1}, zero[] = {0.0, 0.0}, bad[] = {0.5, NAN},
                 inf[] = {1.0, INFINITY};
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    CHECK(rng_categorical(&a, neg, 2) == -1);
    CHECK(rng_categorical(&a, zero, 2) == -1);
    CHECK(rng_categorical(&a, bad, 2) == -1);
    CHECK(rng_categorical(&a, inf, 2) == -1);
    CHECK(rng_categorical(&a, p, 0) == -1);
    CHECK(rng_u64(&a) == rng_u64(&b));

    /* a single positive weight is always chosen */
    const double one[] = {0.0, 0.0, 1e-300};
    for (int i = 0; i < 100; i++)
        CHECK(rng_categorical(&a, one, 3) == 2);
}

int main(void)
{
    RUN(test_b1_matches_min_char_rnn);
    RUN(test_golden_resets);
    RUN(test_b3_streams);
    RUN(test_too_short);
    RUN(test_save_restore);
    RUN(test_valid_walk);
    RUN(test_narrow);
    RUN(test_rng_known_answers);
    RUN(test_rng_determinism_and_state);
    RUN(test_rng_distributions);
    RUN(test_rng_categorical);
    CHECK_EXIT();
}
