/* infile.c - see infile.h. */
#include "base/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int infile_open(const char *path, int want, FILE **f)
{
    *f = NULL;
    /* O_NONBLOCK only for the open (where a FIFO would wait); reads block
     * again afterwards, so a pipe whose writer is slow is read whole */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (want == INFILE_REGULAR && !S_ISREG(st.st_mode)) {
        close(fd);
        return 1;
    }
    if (!(*f = fdopen(fd, "rb"))) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return 0;
}
