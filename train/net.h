/*
 * net.h - a model ready to run: the unrolled graph, its gradients, a plan
 * and an executor, and the memory the caller's side of the graph needs.
 *
 * Memory layout, in the manner of llm.c: all parameters in ONE block, all
 * gradients copied into ONE block of the same layout after each run (so
 * clipping and the optimiser are flat loops), activations in the plan's
 * arena. Per chunk the caller writes token ids into xs/ys ([T][B], time
 * major, so step t's leaf points at row t) and the initial state into h0.
 * Running a chunk allocates nothing.
 */
#ifndef UNROLL_NET_H
#define UNROLL_NET_H

#include "graph/autodiff.h"
#include "graph/exec.h"
#include "graph/plan.h"
#include "models/model.h"

enum net_mode {
    NET_TRAIN,      /* loss, gradients and final state */
    NET_FORWARD,    /* loss, every step's logits and the final state */
};

typedef struct net {
    model m;
    grad_table gt;
    plan p;
    exec x;
    int mode;
    dtype dt;
    size_t es;              /* bytes per float */
    int64_t nparam;         /* floats in the parameter block */
    int64_t off[MODEL_MAX_PARAMS]; /* each parameter's offset, in floats */
    void *params, *grads;
    void *h0;               /* [B, H] */
    int32_t *xs, *ys;       /* [T, B] */
} net;

int net_init(net *n, const spec *s, int64_t V, int64_t B, int64_t T, int mode,
             const plan_options *po, uerr *e);
void net_free(net *n);

/* N(0, std^2) for weights, zeros for biases. */
void net_init_params(net *n, uint64_t seed, double std);

/* Reads DIR/<name>.npy for every parameter (float32 or float64, C order,
 * the parameter's shape); a missing or mis-shaped file is an error naming it. */
int net_load_params_npy(net *n, const char *dir, uerr *e);

/* Copies inputs/targets given batch-major [B, T] into the time-major leaves. */
void net_set_batch(net *n, const int32_t *inputs, const int32_t *targets);

/* Runs the plan; in NET_TRAIN mode copies the gradients into n->grads. */
int net_run(net *n, double *loss, uerr *e);

/* The final state of the last run ([B, H], in the arena). */
const void *net_final_state(const net *n);

/* Makes n read its parameters from src's block (validation shares the
 * training parameters instead of copying them). */
void net_share_params(net *n, const net *src);

void *net_param(const net *n, int i);
void *net_grad(const net *n, int i);

#endif
