/*
 * classify.h - sequence classification data: TSV lines `sequence<TAB>label`.
 *
 * Sequences are Unicode code points (UTF-8), labels are strings. The
 * examples are shuffled once with the seed, then the last valid_fraction
 * of them is held out, so a file sorted by label still splits fairly. The
 * input vocabulary is the sorted code points of the training sequences
 * (plus an unknown id when held-out text needs one); the classes are the
 * sorted distinct labels.
 *
 * A minibatch of B sequences is padded to T steps: inputs past a
 * sequence's end are -1 (a zero one-hot), the mask is 0 there, and the
 * target of row b is its label at its own last step and -1 (no loss)
 * everywhere else: the loss is at each sequence's own last step.
 */
#ifndef UNROLL_CLASSIFY_H
#define UNROLL_CLASSIFY_H

#include "train/rng.h"
#include "train/shuffle.h"
#include "train/text.h"

typedef struct cls_example {
    int64_t off; /* into ids */
    int32_t len;
    int32_t label;
} cls_example;

typedef struct cls_data {
    text_vocab vocab;
    int32_t nclasses;
    char **classes; /* [nclasses], sorted */
    int32_t *ids;   /* every sequence's ids, one after another */
    int64_t nids;
    cls_example *train, *valid;
    int64_t ntrain, nvalid;
    int32_t maxlen;        /* longest sequence */
    int64_t *train_counts; /* [nclasses] training examples per class */
} cls_data;

/* Sequences longer than max_len are an error naming their line. */
int cls_load(const char *path, uint64_t max_bytes, double valid_fraction, uint64_t seed,
             int32_t max_len, cls_data *out, uerr *e);
/* The same on the len bytes at buf (need not be NUL-terminated); name
 * stands for the path in messages. cls_load reads the file and calls it. */
int cls_load_buffer(const char *name, const char *buf, size_t len, double valid_fraction,
                    uint64_t seed, int32_t max_len, cls_data *out, uerr *e);
void cls_free(cls_data *d);

/* Fills one padded batch from examples ex[0..n) (n <= B; missing rows
 * are all padding). inputs, targets, mask: [B, T]; labels: [B] or NULL. */
void cls_fill(const cls_data *d, const cls_example *ex, int64_t n, int64_t B, int64_t T,
              int32_t *inputs, int32_t *targets, int32_t *mask, int32_t *labels);

/* Training order: a new random permutation of the training examples each
 * epoch; the state is (epoch, position) plus the RNG. */
typedef struct cls_cursor {
    const cls_data *d;
    shuffler sh;
} cls_cursor;

int cls_cursor_init(cls_cursor *c, const cls_data *d, uint64_t seed, uerr *e);
void cls_cursor_free(cls_cursor *c);
void cls_next(cls_cursor *c, int64_t B, int64_t T, int32_t *inputs, int32_t *targets,
              int32_t *mask);

#endif
