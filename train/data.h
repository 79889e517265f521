/*
 * data.h - where training batches come from, whatever the data kind.
 *
 *   text      one character stream cut into B parallel streams, chunks of
 *             T steps, the hidden state carried between chunks
 *             (train/batch.h); a target per step
 *   classify  TSV sequences with a label each (train/classify.h); batches
 *             of B sequences padded to the longest sequence of the data
 *             (T), a label at each one's own last step, the state zeroed
 *             for every batch, a step mask
 *
 *   npy       numpy arrays (train/npyset.h): one-hot ids or real vectors
 *             per step, a class per step or per sequence, optional
 *             lengths; shuffled batches, the state zeroed for each
 *
 * The trainer, `unroll grad` and `gradcheck` see only this interface.
 */
#ifndef UNROLL_DATA_H
#define UNROLL_DATA_H

#include "models/model.h"
#include "models/spec.h"
#include "train/batch.h"
#include "train/classify.h"
#include "train/npyset.h"
#include "train/text.h"

typedef struct data_source {
    spec_data_kind kind;
    const char *path; /* data.path of the spec it was opened from */
    int64_t B, T;     /* T: the unroll length the data needs */
    model_io io;
    text_corpus text; /* its train ids moved to ids, narrowed */
    void *ids;        /* text: the training ids, `width` bytes each (batch_narrow) */
    int width;
    batch_cursor cur;
    cls_data cls;
    cls_cursor ccur;
    npy_set npy;
    int32_t *mask;       /* [B, T]: classify, and npy with lengths */
    void *xdense;        /* [B, T, D] real inputs (npy with vectors) */
    void *yreal;         /* [B, T, K] real targets (npy) */
    int32_t *has;        /* [B, T] which rows have a real target */
    text_vocab no_vocab; /* npy inputs are ids or vectors, not characters */
    char hash[65];       /* of the training ids */
} data_source;

int data_open(data_source *d, const spec *s, uerr *e);

/* Validation asked for (train.valid_every and data.valid_fraction above 0)
 * on a held-out part too short for one batch would silently never run. */
int data_check_valid(const data_source *d, const spec *s, uerr *e);

/* The data at s's data.path against run's stored label map (a classifier
 * recorded since schema 3: the first difference named) and its stored
 * hash ("": none stored): scoring changed data as the run's held-out part
 * (its classes relabelled or removed) would compare against the wrong
 * answers. */
struct store_run;
int data_check_hash(const spec *s, const struct store_run *run, uerr *e);
/* The hash alone, for data already open. */
int data_same_hash(const data_source *d, const char *run, const char *want, uerr *e);
/* A classifier's classes as its file gives them, against the n stored
 * labels of run (n 0: nothing stored, nothing to compare). */
int data_same_labels(const data_source *d, const char *run, char *const *labels, int n, uerr *e);
/* A classifier's class names (*n of them); NULL and 0 for other data. */
const char *const *data_labels(const data_source *d, int *n);

/* Readies the training order. Apart from data_open because the text
 * cursor's size check ("too short for batch B x seq_len T") should come
 * after the model's memory check, whose message is the clearer one for an
 * absurd config. */
int data_prepare(data_source *d, uerr *e);
void data_free(data_source *d);

/* The vocabulary of the inputs. */
const text_vocab *data_vocab(const data_source *d);

/* The next training batch into inputs/targets [B, T] (and d->mask);
 * returns 1 when the state must start from zero. */
int data_next(data_source *d, int32_t *inputs, int32_t *targets);

/* Puts rows row0 .. row0 + (the net's batch) of a batch (inputs, targets
 * [B, T], and the source's mask, real inputs and targets) into the net's
 * leaves: all of it for a net of the whole batch, one rank's shard in
 * data-parallel training. */
struct net;
void data_to_net(const data_source *d, struct net *n, const int32_t *inputs, const int32_t *targets,
                 int64_t row0);

/* The share of training targets in the most common class: the accuracy
 * of always answering it (NaN for text). */
double data_majority(const data_source *d);

/* What one step's loss is summed over: tokens (text) or sequences. */
double data_units_per_step(const data_source *d);

/* Calls fn for each validation batch in order (d->mask set for classify);
 * n_real: rows of the batch that hold examples. */
typedef int (*data_batch_fn)(void *ctx, const int32_t *inputs, const int32_t *targets,
                             const int32_t *mask, int64_t n_real, int reset, uerr *e);
int data_valid_each(data_source *d, int32_t *inputs, int32_t *targets, data_batch_fn fn, void *ctx,
                    uerr *e);
int data_has_valid(const data_source *d);

#endif
