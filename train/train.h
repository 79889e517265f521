/*
 * train.h - the training loop: data, the unrolled net, clipping, the
 * optimiser, validation, metrics and checkpoints in the store.
 *
 * Steps are numbered from 1 and spec.train.steps is the total. Each step
 * takes the next [B, T] chunk (train/batch.h), zeroes the carried state
 * when the chunk does not continue the previous one (or always, with
 * train.state: zero), runs forward and backward, checks the loss and the
 * gradients for NaN/Inf BEFORE clipping (clipping would hide them), clips,
 * updates, and logs the loss of that step. Nothing is printed here: the
 * caller gets a progress callback.
 */
#ifndef UNROLL_TRAIN_H
#define UNROLL_TRAIN_H

#include <signal.h>

#include "models/spec.h"
#include "store/store.h"

typedef struct train_progress {
    int64_t step, steps;
    double loss;            /* this step's loss (summed over B x T tokens) */
    double tokens;          /* units per step: tokens B x T, or B sequences */
    double valid_loss;      /* per token (text) or sequence; NaN when not measured */
    double valid_accuracy;  /* classification: the last measured; else NaN */
    double tokens_per_s;
    double elapsed_s, eta_s;
    int final;              /* the last call */
} train_progress;

typedef void (*train_progress_fn)(void *ctx, const train_progress *p);

typedef struct train_opts {
    const char *params_dir;     /* initial parameters from DIR/<name>.npy */
    const char *run_name;       /* NULL: the config's name, made unique */
    const char *command_line;
    store *db;                  /* NULL: nothing is stored */
    train_progress_fn progress;
    void *ctx;
    volatile sig_atomic_t *stop;/* set by a signal handler: stop, save */
} train_opts;

typedef struct train_result {
    int64_t run;                /* store run id, 0 without a store */
    char run_name[256];
    int64_t steps_done;
    double first_loss, last_loss;       /* per step, summed */
    double valid_loss;                  /* last measured, per unit; NaN if none */
    double valid_accuracy;              /* classification; NaN if none */
    double majority;                    /* classification: the majority-class share */
    double seconds;
    int64_t vocab;
    size_t arena_bytes;
    int64_t checkpoint;                 /* last checkpoint id */
    int interrupted;
} train_result;

int train_run(const spec *s, const train_opts *o, train_result *r, uerr *e);

struct net;
struct data_source;

/* The net of a training run at its start: data loaded, parameters
 * initialised (from the seed, or DIR/<name>.npy), the first training chunk
 * bound and the initial state zero. Backs `unroll grad` and `gradcheck`. */
int train_first_step(const spec *s, const char *params_dir, struct net *n,
                     struct data_source *d, uerr *e);

#endif
