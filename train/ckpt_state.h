/*
 * ckpt_state.h - the training state as checkpoint tensors, and the one
 * owner of the names those tensors carry.
 *
 * Saving and resuming both go through ckpt_state_collect, so whatever a
 * checkpoint holds is exactly what a resume restores: the parameters (by
 * their model names, role "param"), the optimiser slots ("adam.m.W",
 * role "optim"), the carried state "h" and "yprev", the data position
 * "cursor" (and "order" for shuffled data), the generator "rng" and the
 * optimiser's step count "optim.t", and with train.early_stop its state
 * "early_stop" (best loss, validations since, best step). ckpt_role gives back the role of any
 * of these names, so a checkpoint exported with --all imports as it was.
 */
#ifndef UNROLL_CKPT_STATE_H
#define UNROLL_CKPT_STATE_H

#include "store/store.h"
#include "train/controls.h"
#include "train/data.h"
#include "train/net.h"
#include "train/optim.h"

/* The parts of a trainer the state lives in. */
typedef struct ckpt_parts {
    net *n;
    optim *opt;
    data_source *data;
    uint64_t *rng_state; /* [4]; text data only (shuffled data has its own) */
    accum *acc;          /* train.accumulate > 1: the carried state is its
                            [A x rows, S] block; NULL or A = 1: the net's */
    early_stop *es;      /* NULL: train.early_stop is off */
} ckpt_parts;

/* The tensors of one collect; they point into the parts and into the
 * scratch arrays here, so they are valid while both are. */
typedef struct ckpt_state {
    store_tensor ts[3 * MODEL_MAX_PARAMS + 8];
    int n;
    char names[2 * MODEL_MAX_PARAMS][64];
    int32_t cur32[4], rng32[8], misc32[2];
    int32_t *order32; /* shuffled data: the epoch's example order */
} ckpt_state;

int ckpt_state_collect(const ckpt_parts *p, ckpt_state *sl, uerr *e);
/* The inverse: every tensor of the state is copied from checkpoint l (same
 * dtype and shape required), then the cursor, the RNG and the optimiser's
 * step count are unpacked. */
int ckpt_state_restore(const ckpt_parts *p, const store_loaded *l, uerr *e);
void ckpt_state_free(ckpt_state *sl);

/* The role ("param", "optim", "state", "cursor", "rng") that a tensor
 * called name has in a checkpoint. */
const char *ckpt_role(const char *name);

#endif
