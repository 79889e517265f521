/*
 * safetensors.h - the safetensors file format (Hugging Face), for
 * `unroll ckpt export --safetensors` and `unroll ckpt import`:
 *
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object: for each tensor
 *               "name": {"dtype": "F32", "shape": [3, 4], "data_offsets": [b, e]}
 *             and optionally "__metadata__": {"key": "value", ...} (strings)
 *   the rest  the data buffer; tensor bytes are [b, e) of it, little-endian,
 *             C order
 *
 * Written: dtypes F32, F64, I32; tensors back to back in the given order;
 * the header padded with spaces to a multiple of 8 bytes (as the reference
 * implementation does, so the data buffer starts 8-byte aligned).
 *
 * Read: every claim of the file is checked before it is used. The header
 * length against the file size, the JSON strictly (store/json.h), each
 * entry's fields (no unknown ones), its dtype (F32, F64, I32; other
 * safetensors dtypes are named and refused), its shape (rank <= 4, no
 * overflow), its offsets against its shape and the buffer, and that the
 * tensors tile the buffer exactly: no overlap, no hole, nothing after.
 * Errors are one line "NAME: what is wrong", naming the tensor.
 */
#ifndef UNROLL_SAFETENSORS_H
#define UNROLL_SAFETENSORS_H

#include <stddef.h>

#include "base/err.h"
#include "base/tensor.h"

/* Largest header read (the reference implementation's limit). */
#define SFT_MAX_HEADER 100000000

typedef struct sft_tensor {
    const char *name;
    dtype dt;
    shape shape;
    const void *data; /* shape_numel elements of dt */
} sft_tensor;

/* Writes n tensors and nmeta metadata pairs (meta[2i] key, meta[2i+1]
 * value) to path. A partial file is removed on failure. */
int sft_write(const char *path, const sft_tensor *t, int n, const char *const *meta, int nmeta,
              uerr *e);

typedef struct sft_loaded {
    char *name;
    dtype dt;
    shape shape;
    void *data; /* nbytes, at least 1 allocated */
    size_t nbytes;
} sft_loaded;

typedef struct sft_file {
    int n;
    sft_loaded *t; /* in header order */
    int nmeta;
    char **meta; /* [2 * nmeta]: key, value, ... */
} sft_file;

int sft_read(const char *path, sft_file *out, uerr *e);
/* The same on n bytes in memory; name labels errors. */
int sft_parse(const void *buf, size_t n, const char *name, sft_file *out, uerr *e);
void sft_free(sft_file *f);

#endif
