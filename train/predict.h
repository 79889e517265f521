/*
 * predict.h - a stored model applied to new data (`unroll predict`, and
 * `eval --data` on a new classify file).
 *
 * Lines (text and classify runs): a UTF-8 file read line by line. For a
 * classify run a line is `sequence<TAB>label` or a sequence alone (the
 * label, after the last TAB, is optional); the model is unrolled over
 * the file's longest sequence with B = 1 and a step mask, as validation
 * runs it, so bidirectional models predict too; the class distribution
 * is read at the sequence's own last step. For a text run each line is
 * scored from a zero state one character at a time (the newline before
 * it fed first, when the vocabulary has one): its loss per character
 * and the distribution of the character after it.
 *
 * Characters outside the run's vocabulary map to its unknown id; where
 * it has none they are refused: "PATH:LINE: character 'x' (U+0078) at
 * position K is not in the run's vocabulary" (K from 0 in the line).
 *
 * Arrays (npy runs): DIR/inputs.npy (int32 [N, T] ids or float [N, T, D])
 * and optional DIR/lengths.npy give outputs [N, T, O], or [N, O] for a
 * last-step model (the output at each sequence's own last step), in the
 * run's dtype.
 */
#ifndef UNROLL_PREDICT_H
#define UNROLL_PREDICT_H

#include "train/session.h"

typedef struct predict_item {
    int64_t line;      /* 1-based line of the file */
    const char *input; /* the sequence or line (UTF-8, no TAB label, no newline) */
    const char *label; /* the given label (classify), or NULL */
    int32_t label_id;  /* its class, or -1 (none given, or not a class) */
    const double *p;   /* [O] classes / next characters */
    int32_t best;      /* the most probable (the lowest index of ties) */
    double loss;       /* classify: -log p[label] (NaN without one); text:
                          nats per character (NaN: nothing scored) */
    int64_t scored;    /* text: characters scored */
} predict_item;

typedef int (*predict_fn)(void *ctx, const predict_item *it, uerr *e);

/* Calls fn for each line in order (classify: each non-empty one). */
int predict_lines(session *s, const char *path, predict_fn fn, void *ctx, uerr *e);

/* The outputs of DIR's inputs: *out malloc'd, in *dt, shape *sh. */
int predict_npy(session *s, const char *dir, void **out, dtype *dt, shape *sh, uerr *e);

#endif
