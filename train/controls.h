/*
 * controls.h - the training controls around a step that are not the
 * optimiser's own (train/optim.h has the rate schedule and weight decay):
 * gradient accumulation and early stopping.
 *
 * Accumulation (train.accumulate: A): the data source hands out batches of
 * A x train.batch rows and the net holds train.batch of them (a rank's
 * share under MPI); one update runs the net over the A row blocks in
 * order, summing losses and gradients, so it equals one step on the whole
 * batch up to the order of the sums. Each block carries its own state
 * between updates, kept here side by side as one [A x rows, S] block:
 * that block, not the net's, is what a checkpoint stores as "h".
 *
 * Early stopping (train.early_stop): after each validation, a loss below
 * best - min_delta is a new best; `patience` validations in a row without
 * one stop the run. The best value, the count and the best step are part
 * of the checkpoint ("early_stop"), so a resumed run stops where the
 * uninterrupted one does.
 */
#ifndef UNROLL_CONTROLS_H
#define UNROLL_CONTROLS_H

#include "train/net.h"

typedef struct accum {
    int64_t A;      /* micro-batches per update (1: no copies at all) */
    int64_t rows;   /* the net's rows per micro-batch */
    void *h;        /* [A * rows, S] carried states */
    int32_t *yprev; /* [A * rows] */
    void *yprevr;   /* [A * rows, out] real targets, or NULL */
    void *grads;    /* the summed gradients, the net's block layout */
} accum;

/* Nothing allocated for A = 1. */
int accum_init(accum *a, const net *n, int64_t A, uerr *e);
void accum_free(accum *a);
/* Zeroes every block's state (a batch that starts afresh). */
void accum_reset(accum *a, const net *n);
/* The net's state <- block k's, before its run; -> block k's, after. */
void accum_load(const accum *a, net *n, int64_t k);
void accum_save(accum *a, const net *n, int64_t k);
/* Adds the net's gradients into the sum (block 0 starts it). */
void accum_add(accum *a, const net *n, int64_t k);
/* The gradients an update reads: the sum, or the net's own for A = 1. */
void *accum_grads(const accum *a, const net *n);

typedef struct early_stop {
    double v[3]; /* best loss (inf: none yet), validations since, best step;
                    doubles so the checkpoint holds them as one tensor */
} early_stop;

void early_stop_init(early_stop *s);
/* Records a validation loss at step; 1 when it is a new best. */
int early_stop_see(early_stop *s, double loss, double min_delta, int64_t step);
/* Whether patience (> 0) validations have passed without a new best. */
int early_stop_due(const early_stop *s, int64_t patience);

#endif
