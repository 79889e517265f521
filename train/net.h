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

#include "engine/autodiff.h"
#include "engine/exec.h"
#include "engine/plan.h"
#include "engine/recompute.h"
#include "models/model.h"
#include "train/optim.h"

enum net_mode {
    NET_TRAIN,   /* loss, gradients and final state */
    NET_FORWARD, /* loss, every step's logits and the final state */
    NET_LEDGER,  /* NET_TRAIN, and every per-step gradient term kept */
    NET_LOSS,    /* loss and final state only: no step's activations are
                    kept, so memory does not grow with T (text validation) */
    NET_HVP,     /* NET_TRAIN, and the Hessian-vector product H v for the
                    direction v written at net_hvp_v (autodiff_hvp) */
    NET_CUSTOM,  /* the caller built the graph's extra nodes and the plan
                    (train/jacobian.c), then called net_attach */
};

typedef struct net {
    model m;
    grad_table gt;
    grad_table hv;                  /* NET_HVP: hv.param_grad[i] = (H v)_i */
    int32_t hv_v[MODEL_MAX_PARAMS]; /* NET_HVP: the direction's leaves */
    void *hvv;                      /* NET_HVP: v, laid out as params */
    plan p;
    recompute_info rc; /* train.memory_budget: what the plan recomputes */
    exec x;
    int mode;
    dtype dt;
    size_t es;                     /* bytes per float */
    int64_t nparam;                /* floats in the parameter block: each
                                      parameter padded to 64 bytes (zeros) */
    int64_t nweights;              /* the parameters' own floats */
    int grads_in_arena;            /* grads is the plan's arena (plan.fixed) */
    int64_t off[MODEL_MAX_PARAMS]; /* each parameter's offset, in floats */
    void *params, *grads;
    void *h0;           /* [B, S]: every state vector side by side */
    size_t state_bytes; /* of h0 */
    int32_t *yprev;     /* [B]: y[t-1] before the first step */
    int32_t *xs, *ys;   /* [T, B] */
    int32_t *ms;        /* [T, B] step masks, when the model has them */
    void *xd;           /* [T, B, D] real inputs of a dense model */
    void *ysr;          /* [T, B, K] real targets */
    int32_t *lms;       /* [T, B] 1 where a row has a real target */
    void *yprevr;       /* [B, K] y[t-1] at t = 0, real targets */
    int32_t *cs;        /* [T, B] scheduled-sampling coins */
    void *drops;        /* model.dropout's masks side by side (model.h):
                           ones until net_set_dropout draws them */
} net;

/* po (NULL: the config's train.fuse) sets the plan's options. With
 * po->update_cycles > 0 a NET_TRAIN net planned whole (no
 * train.memory_budget) ends its plan with every parameter's update from
 * its gradient (plan.h: PLAN_UPDATE; n->p.nupdate says whether it does),
 * which the caller's exec_set_update function runs. */
int net_init_io(net *n, const spec *s, const model_io *io, int64_t B, int64_t T, int mode,
                const plan_options *po, uerr *e);

/* The caller's side of a net whose n->m, n->p and n->x are built (mode,
 * dt and es set): the parameter block, h0 and the data leaves' memory,
 * all bound. On failure the caller frees n with net_free. */
int net_attach(net *n, uerr *e);

/* The net of a text model: vocabulary V in and out, no masks. */
int net_init(net *n, const spec *s, int64_t V, int64_t B, int64_t T, int mode,
             const plan_options *po, uerr *e);
void net_free(net *n);

/* Every parameter's start, from seed: its model.init entry, else N(0,
 * std^2) for a matrix and 0 for a bias (train/param_init.h). */
void net_init_params(net *n, uint64_t seed, double std);

/* Reads DIR/<name>.npy for every parameter (float32 or float64, C order,
 * the parameter's shape); a missing or mis-shaped file is an error naming it. */
int net_load_params_npy(net *n, const char *dir, uerr *e);

/* NET_HVP: the direction v from DIR/<name>.npy for every parameter (as
 * net_load_params_npy; a missing file means zeros), or drawn N(0, 1) from
 * its own seed. */
int net_load_hvp_v_npy(net *n, const char *dir, uerr *e);
void net_random_hvp_v(net *n, uint64_t seed);

/* Copies inputs/targets given batch-major [B, T] into the time-major leaves. */
void net_set_batch(net *n, const int32_t *inputs, const int32_t *targets);

/* The same for the step masks [B, T] of a masked model (1: a real step). */
void net_set_mask(net *n, const int32_t *mask);

/* The real inputs [B, T, D] (in the net's dtype) of a dense model. */
void net_set_dense(net *n, const void *x);

/* Scheduled sampling: each coin is 1 with probability p, drawn from a
 * hash of (seed, step, t, b) rather than a stream, so a resumed run draws
 * the same coins without any state to save. */
void net_set_coins(net *n, double p, uint64_t seed, int64_t step);

/* model.dropout: every mask of a training net drawn for update `step`,
 * rows row0.. of the batch (a block of an accumulated update, a rank's
 * share): each element from a hash of (seed, step, mask, global row,
 * column), like the coins above, so that a resume, accumulation and data
 * parallelism draw what one process on the whole batch would, no state
 * is saved, and validation never draws. Nets other than NET_TRAIN and
 * NET_LEDGER are built without dropout. */
void net_set_dropout(net *n, uint64_t seed, int64_t step, int64_t row0);

/* Real targets [B, T, K] (net's dtype) and which rows have one [B, T]. */
void net_set_real(net *n, const void *y, const int32_t *has);

/* The state a chunk starts from after a reset: zeros, and no previous
 * target (y[t-1] = 0 at t = 0). */
void net_reset_state(net *n);

/* Carries the state of the last run into the next chunk: the final state
 * becomes the initial state, the last targets become y[t-1] at t = 0. */
void net_carry_state(net *n);

/* The per-time-step gradient ledger of the last run of a NET_LEDGER net
 * (seed 001's view of vanishing and exploding gradients): dh[t] =
 * ||dL/dh_t|| (0 where h is not on the loss's path), and term[i*T + t] =
 * the norm of step t's term in the sum that makes parameter i's gradient
 * (0 where step t does not use it). */
int net_ledger(const net *n, double *dh, double *term, uerr *e);

/* Runs the plan; in NET_TRAIN mode copies the gradients into n->grads. */
int net_run(net *n, double *loss, uerr *e);

/* The update o makes of n's parameters in a training step, every
 * gradient clamped to [-clip, clip] (0: none). net_update_begin, before
 * the run, begins it with j where n's plan runs it (n->p.nupdate);
 * net_train_step is the whole step: that, net_run, and the update after
 * the run where the plan does not make it. 1 when a gradient was NaN or
 * infinite (optim_step_clip), -1 on error. */
void net_update_begin(net *n, optim *o, optim_job *j, double clip);
int net_train_step(net *n, optim *o, optim_job *j, double clip, double *loss, uerr *e);

/* Makes n read its parameters from src's block (validation shares the
 * training parameters instead of copying them). */
void net_share_params(net *n, const net *src);

void *net_param(const net *n, int i);
void *net_grad(const net *n, int i);
/* NET_HVP: (H v)_i after a run, and where parameter i's part of v goes
 * (zeros until written). */
void *net_hvp(const net *n, int i);
void *net_hvp_v(const net *n, int i);

#endif
