/*
 * fuzz_classify.c - the classification TSV loader (train/classify.h) on
 * bytes in memory, cls_load_buffer, which cls_load calls on a file.
 *
 * Input: one byte for data.valid_fraction (0 to 0.5 in 64ths), one for
 * the longest sequence allowed (train.seq_len, 1 to 256), then the TSV.
 * Promises checked on success: sorted distinct classes, every example's
 * ids inside the id array and the vocabulary, no sequence over the
 * limit, at least one training example. A padded batch is then filled
 * from the held-out examples and one from the training cursor.
 */
#include "tests/fuzz/fuzz.h"
#include "train/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    double f = (double)(data[0] % 33) / 64.0;
    int32_t max_len = 1 + data[1];
    cls_data d;
    uerr e = {0};
    if (cls_load_buffer("fuzz.tsv", (const char *)data + 2, size - 2, f, 7, max_len, &d, &e)) {
        FUZZ_CHECK_ERR(&e);
        return 0;
    }
    FUZZ_CHECK(d.ntrain >= 1 && d.nvalid >= 0 && d.nclasses >= 1);
    FUZZ_CHECK(d.maxlen >= 1 && d.maxlen <= max_len);
    for (int32_t c = 1; c < d.nclasses; c++)
        FUZZ_CHECK(strcmp(d.classes[c - 1], d.classes[c]) < 0);
    for (int64_t i = 0; i < d.ntrain + d.nvalid; i++) {
        const cls_example *x = &d.train[i];
        FUZZ_CHECK(x->label >= 0 && x->label < d.nclasses);
        FUZZ_CHECK(x->len >= 1 && x->len <= d.maxlen && x->off >= 0 && x->off + x->len <= d.nids);
    }
    for (int64_t i = 0; i < d.nids; i++)
        FUZZ_CHECK(d.ids[i] >= 0 && d.ids[i] < d.vocab.size);
    int64_t counted = 0;
    for (int32_t c = 0; c < d.nclasses; c++)
        counted += d.train_counts[c];
    FUZZ_CHECK(counted == d.ntrain);

    enum { B = 3 };
    int64_t T = d.maxlen;
    int32_t *in = malloc((size_t)(B * T) * sizeof *in);
    int32_t *tg = malloc((size_t)(B * T) * sizeof *tg);
    int32_t *mask = malloc((size_t)(B * T) * sizeof *mask);
    int32_t labels[B];
    FUZZ_CHECK(in && tg && mask);
    int64_t nv = d.nvalid < B ? d.nvalid : B;
    cls_fill(&d, d.valid, nv, B, T, in, tg, mask, labels);
    cls_cursor cur;
    uerr e2 = {0};
    FUZZ_CHECK(cls_cursor_init(&cur, &d, 7, &e2) == 0);
    cls_next(&cur, B, T, in, tg, mask);
    for (int64_t i = 0; i < B * T; i++)
        FUZZ_CHECK(in[i] >= -1 && in[i] < d.vocab.size && tg[i] >= -1 && tg[i] < d.nclasses);
    cls_cursor_free(&cur);
    free(in);
    free(tg);
    free(mask);
    cls_free(&d);
    return 0;
}
