/*
 * test_text.c - train/text: strict UTF-8 decoding with exact error text,
 * the sorted training vocabulary, the unknown id, the split, prime text and
 * the id -> UTF-8 round trip.
 */
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

#include "train/text.h"

/* Checks that a call failed with exactly the message want. */
static void expect_err(int rc, const uerr *e, int code, const char *want, int line)
{
    CHECKF(rc != 0, "line %d: expected failure \"%s\", got success", line, want);
    CHECKF(e->code == code, "line %d: code %d, want %d", line, e->code, code);
    CHECKF(strcmp(e->msg, want) == 0, "line %d: got \"%s\", want \"%s\"", line, e->msg, want);
}
#define EXPECT_ERR(rc, e, code, want) expect_err((rc), (e), (code), (want), __LINE__)

typedef struct utf8_case {
    const char *bytes;
    size_t len;
    long bad; /* offset in the message, or -1 if the input is valid */
} utf8_case;

#define S(lit) lit, sizeof(lit) - 1

static void test_utf8_errors(void)
{
    static const utf8_case cases[] = {
        {S("ab\x80"), 2},                           /* lone continuation byte */
        {S("\xBF"), 0},                             /* continuation as lead */
        {S("\xC0\xAF"), 0},                         /* 2-byte overlong of '/' */
        {S("a\xC1\xBF"), 1},                        /* 2-byte overlong of U+007F */
        {S("x\xE0\x80\xAF"), 1},                    /* 3-byte overlong */
        {S("x\xE0\x9F\xBF"), 1},                    /* 3-byte overlong of U+07FF */
        {S("xy\xF0\x80\x80\xAF"), 2},               /* 4-byte overlong */
        {S("\xF0\x8F\xBF\xBF"), 0},                 /* 4-byte overlong of U+FFFF */
        {S("\xED\xA0\x80"), 0},                     /* surrogate U+D800 */
        {S("ok\xED\xBF\xBF"), 2},                   /* surrogate U+DFFF */
        {S("\xF4\x90\x80\x80"), 0},                 /* U+110000 */
        {S("\xF5\x80\x80\x80"), 0},                 /* lead byte past U+10FFFF */
        {S("\xF8\x88\x80\x80\x80"), 0},             /* old 5-byte form */
        {S("a\xFF"), 1},                            /* never valid */
        {S("abc\xE4\xB8"), 3},                      /* truncated at end of text */
        {S("\xE4\xB8x"), 0},                        /* continuation missing mid-text */
        {S("\xF0\x9F\x98"), 0},                     /* truncated 4-byte */
        {S("\xC3"), 0},                             /* truncated 2-byte */
        {S("\xE4\xB8\xAD\xE4\xB8\xAD\xE4\xB8"), 6}, /* offset counts bytes */
        /* valid boundaries */
        {S("\x7F"), -1},
        {S("\xC2\x80"), -1},         /* U+0080 */
        {S("\xDF\xBF"), -1},         /* U+07FF */
        {S("\xE0\xA0\x80"), -1},     /* U+0800 */
        {S("\xED\x9F\xBF"), -1},     /* U+D7FF */
        {S("\xEE\x80\x80"), -1},     /* U+E000 */
        {S("\xEF\xBB\xBF"), -1},     /* BOM: kept as U+FEFF */
        {S("\xEF\xBF\xBF"), -1},     /* U+FFFF */
        {S("\xF0\x90\x80\x80"), -1}, /* U+10000 */
        {S("\xF4\x8F\xBF\xBF"), -1}, /* U+10FFFF */
        {"a\0b", 3, -1},             /* NUL is a code point */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uerr e = {0};
        text_corpus c;
        int rc = text_corpus_from_buffer("data/x.txt", cases[i].bytes, cases[i].len, 0.0, &c, &e);
        if (cases[i].bad < 0) {
            CHECKF(rc == 0, "case %zu: unexpected error %s", i, e.msg);
        } else {
            char want[128];
            snprintf(want, sizeof want, "data/x.txt: invalid UTF-8 at byte %ld", cases[i].bad);
            CHECKF(rc == UERR_USER && strcmp(e.msg, want) == 0, "case %zu: got \"%s\", want \"%s\"",
                   i, e.msg, want);
        }
        text_corpus_free(&c);
    }
}

static void test_utf8_offset_far(void)
{
    char buf[1300];
    memset(buf, 'a', sizeof buf);
    buf[1234] = (char)0xC0;
    uerr e = {0};
    uint32_t *cp = (uint32_t *)1;
    int64_t n = 7;
    EXPECT_ERR(text_decode("data/x.txt", buf, sizeof buf, &cp, &n, &e), &e, UERR_USER,
               "data/x.txt: invalid UTF-8 at byte 1234");
    CHECK(cp == NULL && n == 0);
}

static void test_decode_values(void)
{
    /* a, é, 中, 😀, U+10FFFF, NUL */
    const char s[] = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF";
    uint32_t *cp;
    int64_t n;
    uerr e = {0};
    CHECK_OK(text_decode("t", s, sizeof s, &cp, &n, &e), &e);
    CHECK(n == 6);
    if (n == 6) {
        CHECK(cp[0] == 'a' && cp[1] == 0xE9 && cp[2] == 0x4E2D);
        CHECK(cp[3] == 0x1F600 && cp[4] == 0x10FFFF && cp[5] == 0);
    }
    free(cp);
}

static void test_encode_utf8(void)
{
    char b[TEXT_UTF8_MAX];
    CHECK(text_utf8_encode('A', b) == 1 && strcmp(b, "A") == 0);
    CHECK(text_utf8_encode(0xE9, b) == 2 && strcmp(b, "\xC3\xA9") == 0);
    CHECK(text_utf8_encode(0x2014, b) == 3 && strcmp(b, "\xE2\x80\x94") == 0);
    CHECK(text_utf8_encode(0x1F600, b) == 4 && strcmp(b, "\xF0\x9F\x98\x80") == 0);
    CHECK(text_utf8_encode(0xD800, b) == 0 && b[0] == '\0');
    CHECK(text_utf8_encode(0x110000, b) == 0);
}

static void test_empty_and_missing(void)
{
    uerr e = {0};
    text_corpus c;
    EXPECT_ERR(text_corpus_from_buffer("data/x.txt", "", 0, 0.0, &c, &e), &e, UERR_USER,
               "data/x.txt: empty text");
    text_corpus_free(&c);

    uerr_clear(&e);
    EXPECT_ERR(text_corpus_load("build/no/such/dir/x.txt", 0, 0.0, &c, &e), &e, UERR_USER,
               "build/no/such/dir/x.txt: no such file");
    text_corpus_free(&c);

    char dir[] = "/tmp/unroll_text_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], want[320];

    snprintf(path, sizeof path, "%s/empty.txt", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    uerr_clear(&e);
    snprintf(want, sizeof want, "%s: empty text", path);
    EXPECT_ERR(text_corpus_load(path, 0, 0.0, &c, &e), &e, UERR_USER, want);
    text_corpus_free(&c);
    remove(path);

    snprintf(path, sizeof path, "%s/bad.txt", dir);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("caf\xC3\xA9 \xE2\x80x", f);
        fclose(f);
    }
    uerr_clear(&e);
    snprintf(want, sizeof want, "%s: invalid UTF-8 at byte 6", path);
    EXPECT_ERR(text_corpus_load(path, 0, 0.0, &c, &e), &e, UERR_USER, want);
    text_corpus_free(&c);

    /* the same file, made valid, loads */
    f = fopen(path, "wb");
    if (f) {
        fputs("caf\xC3\xA9 \xE2\x80\x94 ok", f);
        fclose(f);
    }
    uerr_clear(&e);
    CHECK_OK(text_corpus_load(path, 0, 0.0, &c, &e), &e);
    CHECK(c.n_train == 9 && c.n_valid == 0 && c.valid == NULL);
    text_corpus_free(&c);
    remove(path);

    uerr_clear(&e);
    snprintf(want, sizeof want, "%s: Is a directory", dir);
    EXPECT_ERR(text_corpus_load(dir, 0, 0.0, &c, &e), &e, UERR_USER, want);
    text_corpus_free(&c);
    rmdir(dir);
}

static void test_vocab_sorted(void)
{
    /* first-seen order would be 中 c b a \n é */
    const char s[] = "\xE4\xB8\xAD"
                     "cba\ncab\xC3\xA9";
    uerr e = {0};
    text_corpus c;
    CHECK_OK(text_corpus_from_buffer("t", s, sizeof s - 1, 0.0, &c, &e), &e);
    const uint32_t want[] = {'\n', 'a', 'b', 'c', 0xE9, 0x4E2D};
    CHECK(c.vocab.n_known == 6 && c.vocab.size == 6 && c.vocab.unknown == -1);
    for (int i = 0; i < 6 && c.vocab.n_known == 6; i++) {
        CHECK(c.vocab.cp[i] == want[i]);
        CHECK(text_vocab_find(&c.vocab, want[i]) == i);
    }
    CHECK(text_vocab_find(&c.vocab, 'z') == -1);
    CHECK(text_vocab_find(&c.vocab, 0) == -1);
    CHECK(text_vocab_find(&c.vocab, 0x10FFFF) == -1);
    const int32_t ids[] = {5, 3, 2, 1, 0, 3, 1, 2, 4};
    CHECK(c.n_train == 9);
    for (int i = 0; i < 9 && c.n_train == 9; i++)
        CHECK(c.train[i] == ids[i]);
    text_corpus_free(&c);
}

static void test_split_and_unknown(void)
{
    uerr e = {0};
    text_corpus c;

    /* floor(0.2 * 5) = 1: valid "c" is unseen -> unknown id 2 */
    CHECK_OK(text_corpus_from_buffer("t", "aabbc", 5, 0.2, &c, &e), &e);
    CHECK(c.n_train == 4 && c.n_valid == 1);
    CHECK(c.vocab.n_known == 2 && c.vocab.unknown == 2 && c.vocab.size == 3);
    if (c.n_valid == 1)
        CHECK(c.valid[0] == 2);
    CHECK(strcmp(text_vocab_utf8(&c.vocab, 2), "\xEF\xBF\xBD") == 0);
    CHECK(text_vocab_find(&c.vocab, 'c') == -1);
    text_corpus_free(&c);

    /* valid "a" is known: no unknown id at all */
    CHECK_OK(text_corpus_from_buffer("t", "aabba", 5, 0.2, &c, &e), &e);
    CHECK(c.n_train == 4 && c.n_valid == 1);
    CHECK(c.vocab.n_known == 2 && c.vocab.unknown == -1 && c.vocab.size == 2);
    if (c.n_valid == 1)
        CHECK(c.valid[0] == 0);
    CHECK(text_vocab_utf8(&c.vocab, 2) == NULL);
    text_corpus_free(&c);

    /* floor(0.3 * 10) = 3; only validation chars decide the vocab size */
    CHECK_OK(text_corpus_from_buffer("t", "abcabcaxyb", 10, 0.3, &c, &e), &e);
    CHECK(c.n_train == 7 && c.n_valid == 3 && c.vocab.size == 4);
    if (c.n_valid == 3)
        CHECK(c.valid[0] == 3 && c.valid[1] == 3 && c.valid[2] == 1);
    text_corpus_free(&c);

    /* floor(0.09 * 10) = 0: no validation text */
    CHECK_OK(text_corpus_from_buffer("t", "abcabcaxyb", 10, 0.09, &c, &e), &e);
    CHECK(c.n_train == 10 && c.n_valid == 0 && c.valid == NULL);
    CHECK(c.vocab.size == 5 && c.vocab.unknown == -1);
    text_corpus_free(&c);

    EXPECT_ERR(text_corpus_from_buffer("data/x.txt", "ab", 2, 1.0, &c, &e), &e, UERR_USER,
               "data/x.txt: valid_fraction must be in [0, 1), got 1");
    text_corpus_free(&c);
    uerr_clear(&e);
    EXPECT_ERR(text_corpus_from_buffer("data/x.txt", "ab", 2, -0.5, &c, &e), &e, UERR_USER,
               "data/x.txt: valid_fraction must be in [0, 1), got -0.5");
    text_corpus_free(&c);
    uerr_clear(&e);
    EXPECT_ERR(text_corpus_from_buffer("data/x.txt", "ab", 2, nan(""), &c, &e), &e, UERR_USER,
               "data/x.txt: valid_fraction must be in [0, 1), got nan");
    text_corpus_free(&c);
}

static void test_round_trip_chinese(void)
{
    const char s[] = "\xE5\xAD\xA6\xE8\x80\x8C\xE6\x97\xB6\xE4\xB9\xA0"
                     "\xE4\xB9\x8B\xEF\xBC\x8C\xE4\xB8\x8D\xE4\xBA\xA6"
                     "\xE8\xAF\xB4\xE4\xB9\x8E\xEF\xBC\x9F\n"
                     "face. caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80 face. cafe.";
    uerr e = {0};
    text_corpus c;
    CHECK_OK(text_corpus_from_buffer("t", s, sizeof s - 1, 0.25, &c, &e), &e);
    char out[sizeof s];
    size_t k = 0;
    int ok = 1;
    for (int64_t i = 0; i < c.n_train + c.n_valid && ok; i++) {
        int32_t id = i < c.n_train ? c.train[i] : c.valid[i - c.n_train];
        const char *u = text_vocab_utf8(&c.vocab, id);
        ok = u != NULL && id != c.vocab.unknown && k + strlen(u) < sizeof out;
        if (ok) {
            memcpy(out + k, u, strlen(u));
            k += strlen(u);
        }
    }
    out[k] = '\0';
    /* floor(0.25 * 38) = 9: the tail "ce. cafe." has only training chars */
    CHECKF(ok && c.vocab.unknown == -1 && c.n_valid == 9, "ok=%d unknown=%d n_valid=%lld", ok,
           (int)c.vocab.unknown, (long long)c.n_valid);
    CHECK(k == sizeof s - 1 && strcmp(out, s) == 0);
    CHECK(text_vocab_utf8(&c.vocab, -1) == NULL);
    CHECK(text_vocab_utf8(&c.vocab, c.vocab.size) == NULL);
    text_corpus_free(&c);
}

static void test_prime(void)
{
    uerr e = {0};
    text_corpus c;
    const char s[] = "hello \xE4\xB8\xAD\xE6\x96\x87 world";
    CHECK_OK(text_corpus_from_buffer("t", s, sizeof s - 1, 0.0, &c, &e), &e);

    int32_t *ids;
    int64_t n;
    CHECK_OK(text_encode_prime(&c.vocab, "lo \xE4\xB8\xAD", 6, &ids, &n, &e), &e);
    CHECK(n == 4);
    if (n == 4) {
        CHECK(ids[0] == text_vocab_find(&c.vocab, 'l'));
        CHECK(ids[3] == text_vocab_find(&c.vocab, 0x4E2D));
        CHECK(strcmp(text_vocab_utf8(&c.vocab, ids[3]), "\xE4\xB8\xAD") == 0);
    }
    free(ids);

    CHECK_OK(text_encode_prime(&c.vocab, "", 0, &ids, &n, &e), &e);
    CHECK(ids != NULL && n == 0);
    free(ids);

    EXPECT_ERR(text_encode_prime(&c.vocab, "hez", 3, &ids, &n, &e), &e, UERR_USER,
               "prime text: 'z' (U+007A) at position 2 is not in the vocabulary");
    CHECK(ids == NULL && n == 0);
    uerr_clear(&e);
    EXPECT_ERR(text_encode_prime(&c.vocab, "\xE5\xAD\xA6", 3, &ids, &n, &e), &e, UERR_USER,
               "prime text: '\xE5\xAD\xA6' (U+5B66) at position 0 is not in the vocabulary");
    uerr_clear(&e);
    EXPECT_ERR(text_encode_prime(&c.vocab, "he\n", 3, &ids, &n, &e), &e, UERR_USER,
               "prime text: U+000A at position 2 is not in the vocabulary");
    uerr_clear(&e);
    EXPECT_ERR(text_encode_prime(&c.vocab, "h\xE4\xB8", 3, &ids, &n, &e), &e, UERR_USER,
               "prime text: invalid UTF-8 at byte 1");
    uerr_clear(&e);
    /* a vocabulary with an unknown id takes what it lacks there */
    text_vocab u;
    const uint32_t known[] = {'e', 'h'};
    CHECK_OK(text_vocab_init(&u, known, 2, 1, &e), &e);
    CHECK_OK(text_encode_prime(&u, "hez", 3, &ids, &n, &e), &e);
    CHECK(n == 3 && ids && ids[0] == 1 && ids[2] == u.unknown && u.unknown == 2);
    free(ids);
    text_vocab_free(&u);
    text_corpus_free(&c);
}

static void test_vocab_init(void)
{
    uerr e = {0};
    text_vocab v;
    const uint32_t ok[] = {'a', 0xE9, 0x4E2D};
    CHECK_OK(text_vocab_init(&v, ok, 3, 1, &e), &e);
    CHECK(v.size == 4 && v.unknown == 3 && text_vocab_find(&v, 0xE9) == 1);
    CHECK(strcmp(text_vocab_utf8(&v, 1), "\xC3\xA9") == 0);
    text_vocab_free(&v);
    text_vocab_free(&v); /* freeing twice is harmless */

    const uint32_t unsorted[] = {'b', 'a'};
    EXPECT_ERR(text_vocab_init(&v, unsorted, 2, 0, &e), &e, UERR_USER,
               "vocabulary: code points not strictly ascending at id 1 "
               "(U+0061 after U+0062)");
    uerr_clear(&e);
    const uint32_t sur[] = {'a', 0xDC00};
    EXPECT_ERR(text_vocab_init(&v, sur, 2, 0, &e), &e, UERR_USER,
               "vocabulary: U+DC00 is not a Unicode scalar value");
    uerr_clear(&e);
    text_corpus c;
    const uint32_t cps[] = {'a', 0x110000};
    EXPECT_ERR(text_corpus_from_codepoints("mem", cps, 2, 0.0, &c, &e), &e, UERR_USER,
               "mem: code point 1 (U+110000) is not a Unicode scalar value");
    text_corpus_free(&c);
}

/* The golden min-char-rnn text (tests run from the repository root): its
 * vocabulary must be the 47 code points tools/min_char_rnn_ref.py found
 * with Python's sorted(set(text)), recorded in its meta.json. */
static void test_golden_text(void)
{
    uerr e = {0};
    text_corpus c;
    CHECK_OK(text_corpus_load("tests/golden/min_char_rnn/text.txt", 0, 0.0, &c, &e), &e);
    CHECK(c.n_train == 2123 && c.n_valid == 0);
    CHECK(c.vocab.size == 47 && c.vocab.unknown == -1);
    if (c.vocab.n_known == 47) {
        CHECK(c.vocab.cp[0] == '\n' && c.vocab.cp[1] == ' ');
        CHECK(c.vocab.cp[43] == 0xE9 && c.vocab.cp[44] == 0x2014);
        CHECK(c.vocab.cp[45] == 0x6D77 && c.vocab.cp[46] == 0x98CE);
        CHECK(strcmp(text_vocab_utf8(&c.vocab, 46), "\xE9\xA3\x8E") == 0);
    }
    text_corpus_free(&c);
}

int main(void)
{
    RUN(test_utf8_errors);
    RUN(test_utf8_offset_far);
    RUN(test_decode_values);
    RUN(test_encode_utf8);
    RUN(test_empty_and_missing);
    RUN(test_vocab_sorted);
    RUN(test_split_and_unknown);
    RUN(test_round_trip_chinese);
    RUN(test_prime);
    RUN(test_vocab_init);
    RUN(test_golden_text);
    CHECK_EXIT();
}
