/*
 * outfile.h - writing a file so that a failure never destroys what stood
 * at its path.
 *
 * A regular file (or a missing one) is written to a temporary file in the
 * same folder, renamed over the target only when every byte is written
 * and closed; on failure only that temporary file is removed. A symbolic
 * link is followed: its target is the file replaced, the link stays. A
 * target that is not a regular file (a device such as /dev/null or
 * /dev/stdout, a FIFO) is written in place and never removed.
 */
#ifndef UNROLL_OUTFILE_H
#define UNROLL_OUTFILE_H

#include <stdio.h>

#include "base/err.h"

typedef struct outfile {
    FILE *f;    /* write here */
    char *path; /* the file the result goes to (a link resolved) */
    char *tmp;  /* the temporary file, NULL when written in place */
} outfile;

/* Opens o for writing the file at path; the error names path. */
int outfile_open(outfile *o, const char *path, uerr *e);
/* Closes and renames into place; on a failure (e.g. a full disk), as
 * outfile_abort. The error names shown, the path as the user gave it. */
int outfile_commit(outfile *o, const char *shown, uerr *e);
/* Closes and removes the temporary file only; o may be unopened (zeroed). */
void outfile_abort(outfile *o);

/* dir and any missing parents, as mkdir -p, so that every command that
 * writes into a folder (grad --out, ckpt export --npy, predict --out)
 * accepts a new nested one alike. */
int outfile_mkdir_p(const char *dir, uerr *e);

#endif
