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
 * Parameter names and shapes follow the equations, so that exported
 * weights mean what the equations say. Elman:
 *   a_t = b + W h_{t-1} + U x_t,  h_t = act(a_t),  o_t = c + V h_t
 *   U [hidden, input]  W [hidden, hidden]  b [hidden]
 *   V [output, hidden] c [output]
 * Batched, rows are examples: A = H_{t-1} W^T + gather(U, x_t) + b.
 */
#ifndef UNROLL_MODEL_H
#define UNROLL_MODEL_H

#include "graph/graph.h"
#include "models/spec.h"

#define MODEL_MAX_PARAMS 32

typedef struct model_param {
    char name[32];
    int32_t node;
    shape shape;
    int is_bias;      /* initialised to zero, not N(0, std^2) */
} model_param;

typedef struct model {
    graph g;
    int64_t V;        /* input and output vocabulary */
    int64_t H, B, T;
    int nparams;
    model_param param[MODEL_MAX_PARAMS];
    int32_t *x, *y;   /* [T] data leaves, int32 [B] */
    int32_t *logits;  /* [T] o_t nodes [B, V] */
    int32_t h0, hT;
    int32_t loss;
} model;

/* Names a spec may not give a parameter: they are files of `unroll grad`. */
int model_reserved_name(const char *name);

/* Bytes the unrolled graph and its training plan will need, roughly:
 * checked against memory before anything is allocated. */
double model_estimate_bytes(const spec *s, int64_t V, int64_t B, int64_t T);

/* Unrolls s over T steps for batch B and vocabulary V. */
int model_build(model *m, const spec *s, int64_t V, int64_t B, int64_t T, uerr *e);
void model_free(model *m);

int model_find_param(const model *m, const char *name);

#endif
