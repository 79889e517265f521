/*
 * eval.h - scoring a trained character model on text.
 *
 * The model runs one step at a time (B = 1, T = 1), its final state fed
 * back, so that the input of y[t-1] can be either the true previous
 * character (teacher forcing, as in training) or the model's own previous
 * prediction (free-running: the most probable class). A model that does
 * not read y[t-1] has nothing to feed back: free-running is refused for
 * it (eval_free_running_check), as for classify data. Text is encoded with the run's
 * vocabulary; characters it lacks map to its unknown id, or are an error
 * naming the character when the vocabulary has none.
 */
#ifndef UNROLL_EVAL_H
#define UNROLL_EVAL_H

#include "train/npyset.h"
#include "train/sample.h"

typedef struct eval_result {
    double loss;     /* per character (target), nats */
    int64_t chars;   /* characters (targets) scored */
    double accuracy; /* share of next characters (targets) predicted exactly */
    double chars_per_s;
} eval_result;

/* 0 when free-running evaluation means something for the model of s
 * (an equation reads y[t-1], and the data is not classify), else a
 * one-line error naming --free-running. */
int eval_free_running_check(const spec *s, uerr *e);

/* Scores the n code points cp. */
int eval_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
              const uint32_t *cp, int64_t n, int free_running, eval_result *r, uerr *e);

/* Scores held-out npy examples (all of them when none were held out) one
 * step at a time; free_running feeds the most probable class back as
 * y[t-1]. accuracy: over every step that has a target. */
int eval_npy(const spec *s, const sample_param *params, int nparams, const npy_set *set,
             int free_running, eval_result *r, uerr *e);

#endif
