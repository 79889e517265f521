/* file.c - whole files; see file.h. */
#include "base/file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/infile.h"
#include "base/vec.h"

int file_read_all(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f;
    if (infile_open(path, INFILE_ANY, &f)) /* a FIFO without a writer reads as empty */
        return FILE_NOT_OPENED;
    /* a byte past max tells "exactly max" from "more" */
    size_t limit = max ? max + 1 : SIZE_MAX - 1, cap = 0, n = 0;
    char *b = NULL;
    int rc = FILE_OK, err = 0;
    for (;;) {
        /* room for one more byte and the NUL, 64 KiB to start with */
        if (VEC_GROW(b, cap, n + 2 > 65536 ? n + 2 : 65536)) {
            rc = FILE_NO_MEMORY;
            break;
        }
        size_t room = cap - 1 - n < limit - n ? cap - 1 - n : limit - n;
        errno = 0;
        size_t got = fread(b + n, 1, room, f);
        n += got;
        if (got == 0 || n == limit)
            break;
    }
    if (!rc && ferror(f))
        rc = FILE_READ_ERROR, err = errno;
    fclose(f);
    if (!rc && max && n > max)
        rc = FILE_TOO_LARGE;
    if (rc) {
        free(b);
        errno = err;
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return FILE_OK;
}
