/*
 * file.h - a whole file read into memory: the one read loop of the
 * library (configs, texts, classify and predict data).
 *
 * The callers word their own errors (a config, a text and a data file
 * each say what failed in their own terms, and tests pin those words), so
 * this returns what happened, with errno kept from the failing call,
 * instead of filling a uerr. The file is opened with infile_open, so a
 * FIFO without a writer reads as empty instead of blocking.
 */
#ifndef UNROLL_FILE_H
#define UNROLL_FILE_H

#include <stddef.h>

enum {
    FILE_OK = 0,
    FILE_NOT_OPENED, /* infile_open failed: errno says why */
    FILE_NO_MEMORY,
    FILE_READ_ERROR, /* fread failed: errno says why (0 if it did not) */
    FILE_TOO_LARGE,  /* more than max bytes */
};

/* Reads path into *buf (NUL-terminated, caller frees; *len bytes before
 * the NUL). max > 0: a file of more than max bytes is FILE_TOO_LARGE,
 * and no more than max + 1 bytes are read to find out. On failure *buf
 * is NULL and *len 0. */
int file_read_all(const char *path, size_t max, char **buf, size_t *len);

#endif
