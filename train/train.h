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
#include "train/profile.h"

typedef struct train_progress {
    int64_t step, steps;
    double loss;           /* this step's loss (summed over B x T tokens) */
    double tokens;         /* units per step: tokens B x T, or B sequences */
    double valid_loss;     /* per token (text) or sequence; NaN when not measured */
    double valid_accuracy; /* classification: the last measured; else NaN */
    double tokens_per_s;
    double elapsed_s, eta_s;
    int final; /* the last call */
} train_progress;

typedef void (*train_progress_fn)(void *ctx, const train_progress *p);

/* What was built, before the first step (for --verbose). */
typedef struct train_info {
    int64_t graph_nodes;  /* forward and backward */
    int64_t kernel_calls; /* per step, after the plan's rewrites */
    size_t arena_bytes;   /* activations and gradients */
    int64_t parameters;   /* floats */
    int64_t B, T, vocab;
    int ranks;
    /* train.memory_budget: segment length recomputed (0: none), the arena
     * storing every step, forward nodes computed twice */
    int32_t recompute_seg;
    size_t full_bytes;
    int32_t recompute_nodes;
    /* transposed weight copies the plan reads, and how many of them the
     * updates keep from one step to the next (engine/plan_mirror.c) */
    int32_t copies, copies_kept;
} train_info;

typedef struct train_opts {
    const char *params_dir; /* initial parameters from DIR/<name>.npy */
    const char *run_name;   /* NULL: the config's name, made unique */
    const char *command_line;
    store *db; /* NULL: nothing is stored */
    train_progress_fn progress;
    void *ctx;
    volatile sig_atomic_t *stop;                      /* set by a signal handler: stop, save */
    const struct dist *dist;                          /* data parallel over MPI ranks; NULL: one
                                                         process. Only rank 0 may have a db. */
    void (*ready)(void *ctx, const train_info *info); /* NULL: not told */
    /* Something worth a line while the run goes on (a checkpoint waiting
     * for the store's lock), said once per occasion; NULL: not told. */
    void (*note)(void *ctx, const char *msg);

    /* Resume: continue resume->run from that checkpoint, in the same run.
     * Everything a step reads is restored from it (parameters, optimiser
     * slots and step count, carried state, data cursor and order, RNG) and
     * steps continue after resume->step up to spec.train.steps, so the
     * result is bit-identical to a run that was never stopped. With a db,
     * the run must be the one stored there: its data hash and vocabulary
     * must match the data now (unless force), and the metrics it logged
     * after the checkpoint are dropped (store_run_resume). */
    const store_loaded *resume;
    int force;
    /* A new run starting from the parameters of another checkpoint: those
     * whose name and shape fit are loaded (dtype converted), the others
     * keep their initialisation; r->from_* says which. */
    const store_loaded *from;
    /* Called once at the end with the whole training state as a checkpoint
     * would hold it, whether or not anything is stored (replays compare
     * it with a stored checkpoint). */
    void (*on_state)(void *ctx, const store_tensor *t, int n);
    /* > 0: stop after this step, as a process stopped there would (a
     * replay up to a checkpoint); spec.train.steps keeps its meaning for
     * what depends on it (the last step's validation, scheduled
     * sampling's ramp). 0: train to spec.train.steps. */
    int64_t until;
    /* Traces the last step (train/profile.h): its timeline written to
     * this file, its sums in train_result.profile; NULL: no trace. */
    const char *profile_path;
} train_opts;

typedef struct train_result {
    int64_t run; /* store run id, 0 without a store */
    char run_name[256];
    int64_t steps_done;
    double first_loss, last_loss; /* per step, summed */
    double valid_loss;            /* last measured, per unit; NaN if none */
    double valid_accuracy;        /* classification; NaN if none */
    double majority;              /* classification: the majority-class share */
    double seconds;
    int64_t vocab;
    size_t arena_bytes;
    int64_t checkpoint; /* last checkpoint id */
    int interrupted;
    int early_stopped;       /* train.early_stop ended the run */
    double best_valid;       /* early stopping: the best validation loss */
    int64_t best_step;       /* ... and its step (a checkpoint, tagged RUN.best) */
    int64_t start_step;      /* resume: the checkpoint's step; else 0 */
    int64_t metrics_dropped; /* resume: rows logged after the checkpoint */
    char from_loaded[512];   /* --from: "U, W, b" */
    char from_skipped[1024]; /* --from: "V ([65, 8] there, [70, 8] here), ..." */
    char warning[512];       /* something the user should know, or "" */
    train_profile profile;   /* train_opts.profile_path: the step traced */
} train_result;

int train_run(const spec *s, const train_opts *o, train_result *r, uerr *e);

/* ckpt verify: replays the steps that led to checkpoint ckpt and compares
 * the result with it bit for bit. The replay starts from ckpt's parent
 * when that is in the same run (a resume of it), else from the start of
 * the run (from the seed, or from the parent's parameters for a run
 * started --from it). Nothing is written to the store. */
typedef struct train_verify_result {
    int64_t ckpt, from_ckpt; /* from_ckpt 0: replayed from the start */
    int64_t from_step, to_step;
    int tensors, tensors_differ;
    int64_t losses, losses_differ; /* logged values compared */
    char first_diff[512];          /* the first difference, or "" */
    /* what differs from the run's record: "config (...);
     * program (...)", or "" when all are as it was trained with */
    char changed[1024];
    char warning[512];
    double seconds;
} train_verify_result;

int train_verify(store *db, int64_t ckpt, train_progress_fn progress, void *ctx,
                 train_verify_result *vr, uerr *e);

struct net;
struct dist;
struct data_source;
struct sample_param;

/* Scores stored parameters on the part of the config's data its run held
 * out, as validation during training does: the loss per unit and, for
 * labelled data, the accuracy. */
int train_evaluate(const spec *s, const struct sample_param *params, int nparams, double *loss,
                   double *accuracy, int64_t *examples, uerr *e);

/* The net of a training run at its start: data loaded, parameters
 * initialised (from the seed, or DIR/<name>.npy), the first training chunk
 * bound and the initial state zero; mode NET_TRAIN or NET_LEDGER. Backs
 * `unroll grad` and `gradcheck`. */
int train_first_step(const spec *s, const char *params_dir, int mode, struct net *n,
                     struct data_source *d, uerr *e);

#endif
