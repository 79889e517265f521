/*
 * model.h - a spec unrolled over T time steps into a forward graph.
 *
 * The graph is the honest unrolled one: T copies of the cell, each op
 * belonging to one time step (its node's t), all of them reading the same
 * parameter leaves. Per step t there are two int32 data leaves, x[t] and
 * y[t] (token ids [B]); the initial state h0 [B, H] is a data leaf too
 * (zeros, or the state carried from the previous chunk) and the final
 * state is the node hT. The loss is the sum over steps and batch rows of
 * each step's loss, as in the seeds.
 *
 * Each step evaluates the cell's equations (models/cell.h) in order, per
 * example in column-vector form, batched with rows as examples:
 *   P @ v      -> v P^T (matmul with a transpose flag), or, when v is a
 *                 one-hot input (x[t], y[t-1]), gather(P, ids): a lookup
 *   a + b, a - b, a * b -> elementwise, a parameter vector broadcast as a
 *                 bias, a number as a scalar
 *   f(a, ...)  -> an op equations can call (OPF_CALL in its ops/ file; the
 *                 "unknown function" message lists them)
 * State vectors read at t-1 come from the previous step, or at t = 0 from
 * the initial state: one data leaf h0 [B, S] holding every state vector
 * side by side (S = their total width), so that carrying the state between
 * chunks is one copy of hT, the final states side by side.
 * y[t-1] is the previous step's target (teacher forcing); before the first
 * step it is the leaf yprev, which holds the last target of the previous
 * chunk, or -1 (a zero one-hot) after a reset.
 *
 * Parameter names and shapes are those of the equations, so that exported
 * weights mean what the equations say. Elman:
 *   a_t = b + W h_{t-1} + U x_t,  h_t = act(a_t),  o_t = c + V h_t
 *   U [hidden, input]  W [hidden, hidden]  b [hidden]
 *   V [output, hidden] c [output]
 */
#ifndef UNROLL_MODEL_H
#define UNROLL_MODEL_H

#include "graph/graph.h"
#include "models/spec.h"

#define MODEL_MAX_PARAMS 128

typedef struct model_param {
    char name[32];
    int32_t node;
    shape shape;
    int is_bias;    /* a vector without a model.init entry: starts at 0 */
    int recurrent;  /* a matrix applied to a state read at t-1 (P @ h[t-1]) */
    int has_init;   /* init holds its model.init entry */
    spec_init init; /* how it starts, when has_init (train/param_init.c) */
} model_param;

/* model.dropout: a mask leaf, float [B, w] of the graph's dtype, each
 * element 0 (dropped) or 1 / (1 - p) (kept, so a unit's expected value
 * is unchanged and evaluation needs no scaling), multiplied into
 *   input   x[t] of the first layer (one-hot ids: into each P @ x[t]
 *           lookup, one draw per row, so a dropped input is a whole
 *           symbol, as if it were absent);
 *   output  what the output equation reads at t (h[t]);
 *   state   h[t-1] where the equations read it, one mask for all steps of
 *           a chunk (variational dropout, Gal and Ghahramani 2016).
 * The masks are data leaves: the trainer fills them before each run
 * (train/net.h: net_set_dropout), and gradients flow through the product
 * as through any other, so the gradient check sees a fixed mask. Only
 * training nets have them; evaluation, prediction and sampling build the
 * model without. */
enum { MODEL_DROP_INPUT, MODEL_DROP_OUTPUT, MODEL_DROP_STATE, MODEL_DROP_KINDS };

typedef struct model_drop {
    int32_t node; /* the mask leaf */
    int kind;     /* MODEL_DROP_* */
    int per_row;  /* one draw per row, spread over the row */
    int32_t t;    /* its step; -1: every step of the chunk */
    int32_t slot; /* tells masks of one kind and step apart */
} model_drop;

typedef struct model {
    graph g;
    int64_t V; /* input and output vocabulary */
    int64_t H, B, T;
    int64_t S; /* width of all state vectors side by side (0: none) */
    int nparams;
    model_param param[MODEL_MAX_PARAMS];
    int64_t out;     /* output classes (V for text) */
    int dense;       /* x[t] leaves are float [B, V] vectors */
    int32_t *x, *y;  /* [T] data leaves, int32 [B] */
    int32_t *mask;   /* [T] int32 [B] leaves (1: a real step), or NULL */
    int real;        /* real targets: yr, lmask instead of y */
    int32_t *yr;     /* [T] float [B, out] target leaves */
    int32_t *lmask;  /* [T] int32 [B]: 1 where a row has a target at t */
    int32_t *coin;   /* [T] int32 [B] scheduled-sampling coins, or NULL:
                        1 feeds y[t-1] the model's own prediction */
    int32_t *logits; /* [T] o_t nodes [B, V] */
    int32_t *hstate; /* [T] the h[t] the output reads (top layer), or -1 */
    int layers;      /* model.layers */
    int32_t *hlayer; /* [layers][T] each layer's own h[t] (the forward
                        direction's), the node its recurrence reads, or -1 */
    int32_t *lstep;  /* [T] step t's loss L_t; loss is their sum */
    int32_t h0, hT;  /* [B, S] leaf and node; -1 when S = 0 */
    int32_t yprev;   /* int32 [B] (real targets: float [B, out]) leaf for
                        y[t-1] at t = 0, or -1 */
    int32_t loss;
    double pdrop[MODEL_DROP_KINDS]; /* model.dropout's chances */
    model_drop *drop;               /* the mask leaves, ndrop of them */
    int ndrop, capdrop;
} model;

/* Names a spec may not give a parameter: files and folders of `unroll grad`. */
int model_reserved_name(const char *name);

/* Bytes the unrolled graph and its training plan will need, roughly:
 * checked against memory before anything is allocated. */
double model_estimate_bytes(const spec *s, int64_t V, int64_t B, int64_t T);

/* What the data gives the model: one-hot inputs over `input` ids, targets
 * over `output` classes; masked: sequences of a batch end at different
 * steps, and a per-step mask keeps the state of ended ones unchanged. */
typedef struct model_io {
    int64_t input, output;
    int masked;
    int dense; /* x[t] is a real vector [B, input], not one-hot ids */
    int real;  /* targets are real vectors [B, output] (linear + mse,
                  sigmoid + bce), with a per-step row mask */
} model_io;

/* Unrolls s over T steps for batch B. */
int model_build_io(model *m, const spec *s, const model_io *io, int64_t B, int64_t T, uerr *e);
void model_free(model *m);

int model_find_param(const model *m, const char *name);

/* node times a new mask leaf of its shape (models/dropout.c); the
 * product's id, or -1 with e set. */
int32_t model_dropout(model *m, int kind, int32_t node, int32_t t, int32_t slot, int per_row,
                      uerr *e);

#endif
