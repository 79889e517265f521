/*
 * stream_int.h - one stream of a model's unrolling (a layer and a
 * direction of a stacked or bidirectional model, or the whole model when
 * it has one of each): its cell's equations evaluated into graph nodes one
 * time step at a time. Internal to models/: the unroller (model.c) drives
 * the streams, models/stream.c evaluates them.
 */
#ifndef UNROLL_STREAM_INT_H
#define UNROLL_STREAM_INT_H

#include "models/cell.h"
#include "models/model.h"

/* The evaluation of a cell's equations, one step at a time, for one
 * stream: a layer and a direction of a stacked or bidirectional model, or
 * the whole model when it has one layer and one direction. */
typedef struct evaluator {
    model *m;
    const cell *c;
    int64_t t;
    int first;                 /* the first step of this stream: state from h0 */
    char prefix[32];           /* parameter names: "l1.", "bw.", "l0.fw.", or "" */
    const int32_t *input;      /* x[t] as per-step vectors (upper layers), or NULL */
    int reverse;               /* a backward-in-time stream */
    uint8_t use[CELL_MAX_EQS]; /* which equations this stream evaluates */
    /* per name (an equation target or a state): its node now and at t-1 */
    int nnames;
    char names[CELL_MAX_EQS + CELL_MAX_STATES][EQ_NAME_MAX];
    int32_t now[CELL_MAX_EQS + CELL_MAX_STATES], before[CELL_MAX_EQS + CELL_MAX_STATES];
    int is_state[CELL_MAX_EQS + CELL_MAX_STATES];
    int64_t state_off[CELL_MAX_EQS + CELL_MAX_STATES], state_dim[CELL_MAX_EQS + CELL_MAX_STATES];
    /* model.dropout: set while the output equation is evaluated (what it
     * reads at t is dropped), and h[t-1]'s mask, one per chunk (+1; 0:
     * none yet) */
    int in_output;
    int32_t state_mask[CELL_MAX_EQS + CELL_MAX_STATES];
    uerr *e;
} evaluator;

/* The index of a name (an equation target or a state) in ev, or -1. */
int stream_name_index(const evaluator *ev, const char *name);

/* Declares the stream's parameters (prefixed by ev->prefix) and states:
 * ev->m, ev->c, ev->prefix, ev->input, ev->reverse and ev->use are set by
 * the caller; in_dim and hid_dim size x and the hidden width. */
int stream_setup(evaluator *ev, const spec *s, int64_t in_dim, int64_t hid_dim, uerr *e);

/* Evaluates step t's equations (first: the stream's state comes from h0). */
int stream_step(evaluator *ev, int64_t t, int first);

/* Evaluates x at the stream's current step: its node when it is a
 * per-step vector, else -1 (with ev->e set if evaluating failed). */
int32_t stream_eval_vector(evaluator *ev, const expr *x);

#endif
