/*
 * optim.h - optimisers and gradient clipping over one flat parameter
 * block (see net.h), float32 or float64.
 *
 *   sgd       p -= lr g
 *   momentum  v = mu v + g;  p -= lr v
 *   adagrad   m += g^2;  p -= lr g / sqrt(m + eps)   (min-char-rnn's form)
 *   adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *             p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *
 * With train.weight_decay wd > 0, sgd, momentum and adagrad read the
 * gradient g + wd p (L2 in the loss); adam decays the weights apart from
 * its moments, p -= lr wd p before its step (AdamW, decoupled). wd = 0
 * computes exactly what it did before the key existed.
 *
 * The state (m, v, the step count t) is part of a checkpoint, so that a
 * resumed run continues bit for bit. The rate `lr` is the caller's to set
 * before each step (optim_lr_at: the schedule).
 */
#ifndef UNROLL_OPTIM_H
#define UNROLL_OPTIM_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"
#include "models/spec.h"

/* Bytes of parameters from which an update is split among the kernels'
 * threads. Below, the parameters and their gradients stay in the caches
 * of the core that runs the step's products and transposes; a split
 * sends half of them to the other core and back at every step. S1's SGD
 * step (23k parameters) took 0.0793 ms on one thread's update against
 * 0.0824 on two in float64, 0.0474 against 0.0482 in float32; under
 * Adagrad (min-char-rnn, 33k float64) and Adam (S2, 100k float32), whose
 * updates cost more an element, both ran as fast (from 16,384 elements,
 * the rule before). */
#define OPTIM_SPLIT_BYTES ((int64_t)512 << 10)

typedef struct optim {
    spec_optim kind;
    double lr, eps, mu, b1, b2;
    double wd; /* weight decay, 0: none */
    dtype dt;
    int64_t n;   /* floats in the block */
    int64_t t;   /* updates done */
    void *m, *v; /* state slots; v only for adam */
} optim;

int optim_init(optim *o, const spec *s, int64_t n, uerr *e);
void optim_free(optim *o);
void optim_step(optim *o, void *params, const void *grads);
/* The same with every gradient clamped to [-clip, clip] as it is read
 * (clip > 0; none if 0): the bits of clip_by_value and then optim_step,
 * in one pass, and grads is left as it was. Returns 1 if a gradient (as
 * given, before the clamp) was NaN or infinite: the parameters and the
 * state are then no longer usable, and first_nonfinite says where. */
int optim_step_clip(optim *o, void *params, const void *grads, double clip);

/*
 * An update run in ranges: begun (the step count advances), then each
 * element range given to optim_job_range once, in any order and on any
 * threads (split: the range may be cut among the kernels' threads; the
 * step's plan runs it so, exec_update_fn), with the bits of
 * optim_step_clip over the whole block. bad: a gradient was NaN or
 * infinite (as there).
 */
typedef struct optim_job {
    optim *o;
    void *params;
    const void *grads;
    double clip;
    atomic_int bad;
} optim_job;

/* A guess of the update's cycles an element, from the optimiser and the
 * dtype alone (the step plan's cost model: plan_options.update_cycles) */
double optim_cycles(spec_optim kind, dtype dt);

void optim_job_begin(optim_job *j, optim *o, void *params, const void *grads, double clip);
void optim_job_range(void *job, int64_t e0, int64_t e1, int split);
int optim_job_bad(optim_job *j);

/* The rate of update `step` (1-based) under s's train.lr_schedule: a
 * linear warm-up to lr over `warmup` steps, then constant, step (times
 * gamma every `every` steps) or cosine (to min_lr); the decay spans
 * steps `warmup`..horizon and holds its last value after it. horizon is
 * lr_schedule.steps, or train.steps as the run began. */
double optim_lr_at(const spec *s, int64_t horizon, int64_t step);

/* Names of the state slots a checkpoint stores ("adagrad.mem", ...); NULL
 * when the slot is unused. */
const char *optim_slot_name(const optim *o, int slot);

/* Every element clamped to [-value, value]. */
void clip_by_value(dtype dt, void *g, int64_t n, double value);

/* Scales g so its L2 norm is at most max_norm; returns the norm before. */
double clip_by_norm(dtype dt, void *g, int64_t n, double max_norm);

/* Index of the first NaN or infinity in g, or -1. */
int64_t first_nonfinite(dtype dt, const void *g, int64_t n);

#endif
