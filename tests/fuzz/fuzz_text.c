/*
 * fuzz_text.c - character text data (train/text.h): UTF-8 decoding, the
 * vocabulary and the train/validation split, from a buffer as
 * text_corpus_load gets it from a file.
 *
 * Input: one byte that picks data.valid_fraction (0 to 0.5 in 64ths, the
 * range the spec allows), then the text. Promises checked on success:
 * the vocabulary is the sorted distinct code points of the training
 * part, every training id is a known one, every validation id is known
 * or the unknown id, and the split has floor(f * N) validation points.
 * The training text, used as a sampling prime, encodes to its own ids.
 */
#include <math.h>

#include "tests/fuzz/fuzz.h"
#include "train/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    double f = (double)(data[0] % 33) / 64.0;
    const uint8_t *txt = data + 1;
    size_t len = size - 1;
    text_corpus c;
    uerr e = {0};
    if (text_corpus_from_buffer("fuzz.txt", txt, len, f, &c, &e)) {
        FUZZ_CHECK_ERR(&e);
        return 0;
    }
    const text_vocab *v = &c.vocab;
    int64_t n = c.n_train + c.n_valid;
    FUZZ_CHECK(c.n_train >= 1 && c.n_valid == (int64_t)floor(f * (double)n));
    FUZZ_CHECK(v->n_known >= 1 && v->size == v->n_known + (v->unknown >= 0));
    FUZZ_CHECK(v->unknown == -1 || v->unknown == v->n_known);
    for (int32_t i = 1; i < v->n_known; i++)
        FUZZ_CHECK(v->cp[i - 1] < v->cp[i]);
    for (int32_t i = 0; i < v->size; i++) /* U+0000 is a code point too: "" */
        FUZZ_CHECK(text_vocab_utf8(v, i) != NULL && (text_vocab_utf8(v, i)[0] || !v->cp[i]));
    FUZZ_CHECK(text_vocab_utf8(v, v->size) == NULL && text_vocab_utf8(v, -1) == NULL);
    for (int64_t i = 0; i < c.n_train; i++)
        FUZZ_CHECK(c.train[i] >= 0 && c.train[i] < v->n_known);
    for (int64_t i = 0; i < c.n_valid; i++)
        FUZZ_CHECK(c.valid[i] >= 0 && c.valid[i] < v->size);

    /* the training text as a prime: the same ids in the same order */
    size_t tbytes = 0;
    for (int64_t i = 0; i < c.n_train; i++) {
        char u[TEXT_UTF8_MAX];
        tbytes += (size_t)text_utf8_encode(v->cp[c.train[i]], u);
    }
    int32_t *ids;
    int64_t nids;
    uerr e2 = {0};
    FUZZ_CHECK(text_encode_prime(v, (const char *)txt, tbytes, &ids, &nids, &e2) == 0);
    FUZZ_CHECK(nids == c.n_train && !memcmp(ids, c.train, (size_t)nids * sizeof *ids));
    free(ids);
    /* and the whole text: a code point unseen in training (there is one
     * exactly when the unknown id exists) reads as the unknown id, so
     * every character gives one id and nothing fails */
    uerr e3 = {0};
    FUZZ_CHECK(text_encode_prime(v, (const char *)txt, len, &ids, &nids, &e3) == 0);
    FUZZ_CHECK(nids == n);
    for (int64_t i = 0; i < nids; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < v->size);
    free(ids);
    text_corpus_free(&c);
    return 0;
}
