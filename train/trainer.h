/*
 * trainer.h - what one training run holds, shared by the files of the
 * training loop (train.c: the steps; run_store.c: the run's record in the
 * store). Internal to train/.
 */
#ifndef UNROLL_TRAINER_H
#define UNROLL_TRAINER_H

#include "train/controls.h"
#include "train/data.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/train.h"

/* Everything one training run holds, freed in one place. */
typedef struct trainer {
    const spec *s;
    const train_opts *o;
    data_source data;
    net tr;         /* training net */
    net *va;        /* validation net, or NULL */
    net *lg;        /* the per-step gradient ledger's net, or NULL */
    int64_t row0;   /* data parallel: this rank's first row of a batch */
    double *ledger; /* [T + nparams * T] its norms, then sigma's scratch */
    int has_valid;
    optim opt;
    optim_job job; /* the update the training net's plan runs, if it does */
    int32_t *inputs, *targets;
    int64_t run;
    int64_t saved_step; /* of the last checkpoint stored, -1 if none */
    uint64_t rng_state[4];
    accum acc;       /* train.accumulate's micro-batches (train/controls.h) */
    early_stop es;   /* train.early_stop's record */
    int64_t horizon; /* the steps train.lr_schedule decays over */
    profiler prof;   /* train_opts.profile_path: the last step's trace */
} trainer;

/* --from: the parameters of checkpoint l that fit this model (same name,
 * same shape; float32/float64 converted) replace their initial values. */
int trainer_load_from(trainer *t, const store_loaded *l, train_result *r, uerr *e);

/* The run's record: a new run (begin) or a new session of a stored one
 * (resume: the data must be the run's, unless forced), each with the
 * config resolved as this process trains it. */
int trainer_begin_run(trainer *t, train_result *r, uerr *e);
int trainer_resume_run(trainer *t, train_result *r, uerr *e);

/* Moves the tag "<run>.best" to checkpoint ckpt (the lowest validation
 * loss of an early-stopping run); a failure is a warning in r. */
void trainer_tag_best(trainer *t, int64_t ckpt, train_result *r);

#endif
