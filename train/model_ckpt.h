/*
 * model_ckpt.h - a stored checkpoint ready to run: its run's config,
 * vocabulary and parameters. Shared by `unroll sample` and `unroll eval`.
 */
#ifndef UNROLL_MODEL_CKPT_H
#define UNROLL_MODEL_CKPT_H

#include "models/model.h"
#include "store/store.h"
#include "train/sample.h"

typedef struct model_ckpt {
    store_loaded ck;
    store_run run;
    spec s;
    text_vocab vocab;
    sample_param params[MODEL_MAX_PARAMS];
    int nparams;
} model_ckpt;

/* ref: a checkpoint reference (id, tag, RUN@STEP, run name), or NULL for
 * the database's latest checkpoint. */
int model_ckpt_load(store *db, const char *ref, model_ckpt *m, uerr *e);
void model_ckpt_free(model_ckpt *m);

/* The run's stored config against its stored hash: a text edited inside
 * the database (by hand, by another tool) is refused, naming the run,
 * rather than trained, replayed or scored as if it were the run's. */
int model_ckpt_check_config(const store_run *run, uerr *e);

/* A run imported without --config holds weights only (export, diff and
 * SQL serve it); what needs its model is refused, saying how to give it
 * one. 0 when the run has a config. */
int model_ckpt_has_config(const store_run *run, uerr *e);

#endif
