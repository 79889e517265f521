/*
 * valid.h - validation over a data source's held-out part: the loss per
 * unit (token, sequence or target) and, for class labels, the accuracy.
 * Used by the training loop and by train_evaluate (train.h).
 */
#ifndef UNROLL_VALID_H
#define UNROLL_VALID_H

#include "train/data.h"
#include "train/net.h"

/* The net mode validation needs: the loss alone for text, every step's
 * logits for labels. */
int train_valid_mode(const data_source *d);

/* Runs n (a validation net of d's batch) over d's held-out data, state
 * carried from zero (text); inputs and targets are [B, T] scratch. */
int train_validate(net *n, data_source *d, int32_t *inputs, int32_t *targets, double *per_unit,
                   double *accuracy, uerr *e);

#endif
