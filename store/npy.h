/*
 * npy.h - numpy .npy files: the interchange format of `ckpt export --npy`,
 * `ckpt import` and the .npy data source.
 *
 * Read: format versions 1.0, 2.0 and 3.0 (3.0 only differs by a UTF-8
 * header), dtypes '<f4' (float32), '<f8' (float64), '<i4' (int32) and
 * '<i8' (converted to int32, every value range-checked), C order, rank
 * 0..4. Write: format 1.0, '<f4', '<f8' or '<i4', C order, with the
 * header padded so the data starts on a 64-byte boundary, as numpy does.
 *
 * Invariants: no size read from a file is trusted. The header length and
 * the data size implied by the shape are checked against the real number
 * of bytes before anything is allocated. Every malformed input yields one
 * line "NAME: what is wrong", where NAME is the path (or the display name
 * given to npy_parse). Nothing here prints or exits.
 *
 * Host byte order must be little-endian (checked at compile time), so
 * data bytes are copied as they are.
 */
#ifndef UNROLL_NPY_H
#define UNROLL_NPY_H

#include <stddef.h>

#include "base/err.h"
#include "base/tensor.h"

/* Writes data (shape_numel(s) elements of dt, C order) to path as .npy
 * format 1.0. On failure the partial file is removed. */
int npy_write(const char *path, dtype dt, const shape *s, const void *data, uerr *e);

/* Reads path. On success *dt, *s and *data are set; *data is malloc'd
 * (at least 1 byte, even for an empty array) and the caller frees it.
 * On failure *data is NULL. */
int npy_read(const char *path, dtype *dt, shape *s, void **data, uerr *e);

/* Same as npy_read on the n bytes at buf; display_name names the input in
 * error messages. buf is not modified and need not be aligned. */
int npy_parse(const void *buf, size_t n, const char *display_name, dtype *dt, shape *s, void **data,
              uerr *e);

#endif
