/*
 * infile.h - opening an input file without waiting on it.
 *
 * A plain fopen of a FIFO blocks until a writer opens its other end: a
 * config, data file or database path naming a FIFO would hang the reader
 * for ever. infile_open never waits: a FIFO with no writer reads as empty
 * (the caller's "empty" error names it), a pipe with one (<(cmd),
 * /dev/stdin) reads normally, and an input that must be seekable (npy,
 * safetensors) is refused before any byte is read unless it is a regular
 * file.
 */
#ifndef UNROLL_INFILE_H
#define UNROLL_INFILE_H

#include <stdio.h>

enum { INFILE_ANY = 0, INFILE_REGULAR = 1 };

/* *f: the open stream, blocking reads. Returns 0; -1 with errno set when
 * it cannot be opened; 1 when INFILE_REGULAR was asked and path is not a
 * regular file (nothing was read from it). */
int infile_open(const char *path, int want, FILE **f);

#endif
