/*
 * ckpt_io.h - checkpoints to and from files other programs read: .npy
 * directories and safetensors files, with PyTorch's state_dict names
 * (train/ckpt_torch.h) in both directions.
 *
 * Invariants:
 * - An export with torch names imports back to the same bits (each
 *   bias_hh that repeats a bias, zeros on export, is summed into it on
 *   import).
 * - A torch import that does not fit the config's model is refused with
 *   one line naming the first tensor that does not; nothing is stored.
 * - An import stores each tensor under the role ckpt_role gives its name
 *   (train/ckpt_state.h), so an --all export comes back as it was.
 * - An import that fails leaves no run behind.
 * Nothing here prints: the caller reports from the results.
 */
#ifndef UNROLL_CKPT_IO_H
#define UNROLL_CKPT_IO_H

#include "store/safetensors.h"
#include "store/store.h"
#include "train/ckpt_torch.h"

typedef struct ckpt_export_opts {
    const char *npy_dir;  /* DIR/<name>.npy files, or */
    const char *sft_path; /* one safetensors file */
    int all;              /* every tensor, not only the parameters */
    int torch;            /* PyTorch state_dict names (train/ckpt_torch.h) */
} ckpt_export_opts;

/* What was written: the checkpoint, its run, and the tensors as named in
 * the files. */
typedef struct ckpt_exported {
    store_loaded l;
    store_run r;
    sft_tensor *t;
    int n;
    void **owned; /* the tensors of a torch export */
    int nowned;
    char (*names)[TORCH_NAME_MAX]; /* and their names */
} ckpt_exported;

/* Writes checkpoint ref (a reference as store_checkpoint_resolve takes). */
int ckpt_io_export(store *db, const char *ref, const ckpt_export_opts *o, ckpt_exported *x,
                   uerr *e);
void ckpt_exported_free(ckpt_exported *x);

typedef struct ckpt_import_opts {
    const char *src;  /* a directory of .npy files or a safetensors file */
    const char *name; /* the new run's name */
    /* With a config, the tensors are checked against (and converted to
     * the dtype of) the model it builds, and the run gets its config and
     * vocabulary; NULL: stored as they are. */
    const char *config;
    const char *const *sets;
    int nsets;
    int64_t step;
    const char *command_line, *program_version;
    int allow_nonfinite; /* store NaN and inf as they are (else refused) */
    /* PyTorch state_dict names (train/ckpt_torch.h), mapped to the model
     * of config (required); without it, such names are refused. */
    int torch;
    /* "OLD=NEW": tensor OLD of src is read as NEW (before the torch
     * names are mapped: --map classifier.weight=fc.weight) */
    const char *const *maps;
    int nmaps;
} ckpt_import_opts;

typedef struct ckpt_imported {
    int n;             /* tensors */
    int64_t run, ckpt; /* the new run and its checkpoint */
    int checked;       /* checked against the config's model */
} ckpt_imported;

int ckpt_io_import(store *db, const ckpt_import_opts *o, ckpt_imported *out, uerr *e);

#endif
