/*
 * ckpt_torch.h - PyTorch's state_dict names for unroll's preset models:
 * nn.RNN (elman, tanh or relu), nn.LSTM (lstm) and nn.GRU (gru with
 * model.gru: torch), any number of layers, one or two directions, and an
 * nn.Linear head `fc`.
 *
 * A PyTorch tensor is unroll parameters stacked as row blocks, in
 * PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n):
 *
 *   {P}weight_ih_l{k}[_reverse]  U blocks    (U, or Ui Uf Ug Uo, or Ur Uz Un)
 *   {P}weight_hh_l{k}[_reverse]  W blocks
 *   {P}bias_ih_l{k}[_reverse]    b blocks
 *   {P}bias_hh_l{k}[_reverse]    b blocks again, except GRU's n: bhn
 *   fc.weight, fc.bias           V, c
 *
 * where layer k, direction d is unroll's "l{k}." (more than one layer) and
 * "fw."/"bw." (two directions) prefix. A bias that PyTorch keeps twice
 * (bias_ih and bias_hh both add it) is one unroll parameter: their sum on
 * import; on export bias_ih holds it and bias_hh zeros (TORCH_ZERO), or,
 * for gradients, both hold it (TORCH_COPY: PyTorch's gradient of each).
 *
 * Invariants: every parameter of the model is in exactly one block that
 * is not such a second copy, so export then import gives back the same
 * bits (x + 0 = x). Nothing here prints.
 */
#ifndef UNROLL_CKPT_TORCH_H
#define UNROLL_CKPT_TORCH_H

#include "base/err.h"
#include "base/tensor.h"
#include "models/spec.h"

#define TORCH_MAX_PARTS 4
#define TORCH_MAX_TENSORS (4 * 2 * SPEC_MAX_LAYERS + 2)
#define TORCH_NAME_MAX 160 /* a module prefix and "bias_hh_l9_reverse" */

typedef struct torch_tensor {
    char name[TORCH_NAME_MAX];
    int nparts;
    int part[TORCH_MAX_PARTS];      /* index into the caller's parameter list */
    int second[TORCH_MAX_PARTS];    /* 1: bias_hh's copy of a bias bias_ih holds */
    int64_t numel[TORCH_MAX_PARTS]; /* elements of each block */
    shape shape;
} torch_tensor;

typedef struct torch_map {
    const char *module; /* "nn.LSTM" */
    int n;
    torch_tensor t[TORCH_MAX_TENSORS];
} torch_map;

/* The map of spec s's model with recurrent tensors named prefix + PyTorch
 * name ("rnn." or ""), over the parameters names[i] with shapes[i] (the
 * model's, or a checkpoint's). Refuses, with one line naming the reason, a
 * model PyTorch has no module for and a parameter list that is not the
 * model's. */
int torch_map_build(const spec *s, const char *prefix, const char *const *names,
                    const shape *shapes, int n, torch_map *m, uerr *e);

enum { TORCH_ZERO, TORCH_COPY };

/* out[j] (allocated here, dtype dt) = PyTorch tensor j from the
 * parameters' data src[i]; second copies per mode. On failure nothing is
 * left allocated. */
int torch_pack(const torch_map *m, dtype dt, const void *const *src, int mode, void **out, uerr *e);

/* out[i] (allocated here, dtype dt, the parameter's shape) from PyTorch
 * tensors src[j], second copies summed into their parameter. */
int torch_unpack(const torch_map *m, dtype dt, const void *const *src, const shape *shapes,
                 int nparams, void **out, uerr *e);

#endif
