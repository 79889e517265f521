/* outfile.c - see outfile.h. */
#include "base/outfile.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void outfile_free(outfile *o)
{
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    o->f = NULL;
}

int outfile_open(outfile *o, const char *path, uerr *e)
{
    memset(o, 0, sizeof *o);
    struct stat st;
    int exists = stat(path, &st) == 0;
    char *real = exists ? realpath(path, NULL) : NULL;
    o->path = real ? real : strdup(path);
    if (!o->path)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    if (exists && !S_ISREG(st.st_mode)) {
        /* a device or FIFO: there is nothing to replace, and it must stay */
        if (!(o->f = fopen(path, "wb"))) {
            int err = errno;
            outfile_free(o);
            return uerr_set(e, UERR_USER, "%s: cannot open: %s", path, strerror(err));
        }
        return 0;
    }
    const char *slash = strrchr(o->path, '/');
    size_t dlen = slash ? (size_t)(slash - o->path) + 1 : 0;
    const char *base = o->path + dlen;
    size_t n = dlen + strlen(base) + 16;
    if (!(o->tmp = malloc(n))) {
        outfile_free(o);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    }
    snprintf(o->tmp, n, "%.*s.%s.XXXXXX", (int)dlen, o->path, base);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int err = errno;
        outfile_free(o);
        return uerr_set(e, UERR_USER, "%s: cannot create: %s", path, strerror(err));
    }
    /* mkstemp makes 0600: give the file the mode it replaces, or what a
     * plain fopen would have (0666 less the umask) */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, exists ? (st.st_mode & 07777) : (0666 & ~mask));
    if (!(o->f = fdopen(fd, "wb"))) {
        int err = errno;
        close(fd);
        outfile_abort(o);
        return uerr_set(e, UERR_INTERNAL, "%s: cannot open: %s", path, strerror(err));
    }
    return 0;
}

int outfile_commit(outfile *o, const char *shown, uerr *e)
{
    int bad = ferror(o->f), err = bad ? EIO : 0;
    if (fclose(o->f) != 0 && !bad)
        bad = 1, err = errno;
    o->f = NULL;
    if (!bad && o->tmp && rename(o->tmp, o->path) != 0)
        bad = 1, err = errno;
    if (bad) {
        outfile_abort(o);
        return uerr_set(e, UERR_USER, "%s: write failed: %s", shown, strerror(err));
    }
    outfile_free(o);
    return 0;
}

void outfile_abort(outfile *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        remove(o->tmp);
    outfile_free(o);
}

int outfile_mkdir_p(const char *dir, uerr *e)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return uerr_set(e, UERR_USER, "%.64s...: path too long", dir);
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0)
            continue;
        *p = 0;
        struct stat st;
        if (mkdir(path, 0777) && (errno != EEXIST || stat(path, &st) || !S_ISDIR(st.st_mode)))
            return uerr_set(e, UERR_USER, "%s: cannot create directory: %s", path,
                            errno == EEXIST ? "a file is in the way" : strerror(errno));
        if (!(*p = c))
            return 0;
    }
}
