/*
 * npy.c - reader and writer of numpy .npy files (see npy.h for what is
 * accepted).
 *
 * The layout (numpy's NEP 1): the magic "\x93NUMPY", one byte major and
 * one byte minor version, the header length (2 bytes little-endian in
 * 1.0, 4 bytes in 2.0 and 3.0), then the header: a Python dict literal
 * such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n'; then the raw data.
 *
 * Both entry points (file and memory) go through the same three checks:
 * npy_preamble (magic, version, header length against the input size),
 * npy_header (the dict) and npy_data_size (shape x item size against the
 * bytes that follow the header). Only after all three agree is memory for
 * the data allocated, so a hostile header cannot make us allocate more
 * than the input holds.
 */
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/infile.h"
#include "base/outfile.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c copies little-endian data as is: a big-endian host needs byte swapping"
#endif

static const char npy_magic[6] = {(char)0x93, 'N', 'U', 'M', 'P', 'Y'};

/* What the header says. file_itemsize differs from dtype_size(dt) only
 * for '<i8', which is narrowed to int32 after reading. */
typedef struct npy_info {
    dtype dt;
    size_t file_itemsize;
    shape s;
    uint64_t nbytes; /* bytes of data the file must hold */
} npy_info;

/* ---- preamble --------------------------------------------------------- */

/* p holds the first avail bytes of an input of total bytes (avail is at
 * least min(total, 12)). Sets *start to the offset of the header text and
 * *hlen to its length, after checking both fit in total. */
static int npy_preamble(const unsigned char *p, size_t avail, uint64_t total, const char *name,
                        size_t *start, size_t *hlen, uerr *e)
{
    size_t m = avail < sizeof npy_magic ? avail : sizeof npy_magic;
    if (memcmp(p, npy_magic, m) != 0 || total < sizeof npy_magic)
        return uerr_set(e, UERR_USER, "%s: bad magic (not a .npy file)", name);
    if (total < 8)
        return uerr_set(e, UERR_USER,
                        "%s: truncated header (file has %" PRIu64 " bytes, no version)", name,
                        total);
    int major = p[6], minor = p[7];
    size_t lenbytes;
    if (major == 1 && minor == 0)
        lenbytes = 2;
    else if ((major == 2 || major == 3) && minor == 0)
        lenbytes = 4;
    else
        return uerr_set(e, UERR_USER,
                        "%s: unsupported .npy format version %d.%d (expected 1.0, 2.0 or 3.0)",
                        name, major, minor);
    if (total < 8 + lenbytes)
        return uerr_set(e, UERR_USER,
                        "%s: truncated header (file has %" PRIu64 " bytes, no header length)", name,
                        total);
    uint64_t len = (uint64_t)p[8] | (uint64_t)p[9] << 8;
    if (lenbytes == 4)
        len |= (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
    if (len > total - (8 + lenbytes))
        return uerr_set(e, UERR_USER,
                        "%s: truncated header (header of %" PRIu64
                        " bytes needs a file of at least %" PRIu64 " bytes, found %" PRIu64 ")",
                        name, len, len + 8 + lenbytes, total);
    *start = 8 + lenbytes;
    *hlen = (size_t)len;
    return 0;
}

/* ---- header dict ------------------------------------------------------ */

/* A cursor over the header text; errors name the input. */
typedef struct npy_lex {
    const char *p, *end;
    const char *name;
    uerr *e;
} npy_lex;

static void npy_skip_ws(npy_lex *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
        x->p++;
}

/* A short printable excerpt of [p, end) for quoting between q's, so the
 * message stays one line whatever bytes the file holds. */
static void npy_excerpt(const char *p, const char *end, char q, char *out, size_t n)
{
    size_t k = 0;
    for (; p < end && k + 4 < n; p++)
        out[k++] = (*p >= 0x20 && *p < 0x7f && *p != q) ? *p : '?';
    if (p < end && k + 3 < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

static int npy_malformed(npy_lex *x, const char *expected)
{
    if (x->p >= x->end)
        return uerr_set(x->e, UERR_USER, "%s: malformed header: expected %s, found its end",
                        x->name, expected);
    char near[24];
    npy_excerpt(x->p, x->end, '"', near, sizeof near);
    return uerr_set(x->e, UERR_USER, "%s: malformed header: expected %s at \"%s\"", x->name,
                    expected, near);
}

static int npy_expect(npy_lex *x, char c, const char *expected)
{
    npy_skip_ws(x);
    if (x->p < x->end && *x->p == c) {
        x->p++;
        return 0;
    }
    return npy_malformed(x, expected);
}

/* A quoted string without escapes (numpy writes none in these fields).
 * A string too long for out is cut and marked "...", so it can never
 * compare equal to a name we accept. */
static int npy_string(npy_lex *x, char *out, size_t n)
{
    npy_skip_ws(x);
    if (x->p >= x->end || (*x->p != '\'' && *x->p != '"'))
        return npy_malformed(x, "a quoted string");
    char q = *x->p++;
    const char *s = x->p;
    while (x->p < x->end && *x->p != q && *x->p != '\\' && *x->p != '\n')
        x->p++;
    if (x->p >= x->end || *x->p != q)
        return npy_malformed(x, "a closing quote");
    size_t len = (size_t)(x->p - s);
    x->p++;
    if (len < n) {
        memcpy(out, s, len);
        out[len] = '\0';
    } else {
        memcpy(out, s, n - 4);
        memcpy(out + n - 4, "...", 4);
    }
    return 0;
}

static int npy_descr(npy_lex *x, npy_info *in)
{
    npy_skip_ws(x);
    if (x->p < x->end && *x->p == '[')
        return uerr_set(x->e, UERR_USER,
                        "%s: unsupported dtype: structured arrays are not supported", x->name);
    char d[32];
    if (npy_string(x, d, sizeof d))
        return UERR_USER;
    if (!strcmp(d, "<f4")) {
        in->dt = DT_F32;
        in->file_itemsize = 4;
    } else if (!strcmp(d, "<f8")) {
        in->dt = DT_F64;
        in->file_itemsize = 8;
    } else if (!strcmp(d, "<i4")) {
        in->dt = DT_I32;
        in->file_itemsize = 4;
    } else if (!strcmp(d, "<i8")) {
        in->dt = DT_I32;
        in->file_itemsize = 8;
    } else {
        char shown[32];
        npy_excerpt(d, d + strlen(d), '\'', shown, sizeof shown);
        return uerr_set(x->e, UERR_USER,
                        "%s: unsupported dtype '%s' (expected '<f4', '<f8', '<i4' or '<i8')",
                        x->name, shown);
    }
    return 0;
}

static int npy_fortran(npy_lex *x)
{
    npy_skip_ws(x);
    const char *s = x->p;
    while (x->p < x->end && ((*x->p >= 'a' && *x->p <= 'z') || (*x->p >= 'A' && *x->p <= 'Z')))
        x->p++;
    size_t len = (size_t)(x->p - s);
    if (len == 5 && !memcmp(s, "False", 5))
        return 0;
    if (len == 4 && !memcmp(s, "True", 4))
        return uerr_set(x->e, UERR_USER,
                        "%s: fortran_order is True: only C-order arrays are supported", x->name);
    x->p = s;
    return npy_malformed(x, "True or False for 'fortran_order'");
}

/* A tuple of non-negative ints, as Python writes it: (), (3,), (3, 4).
 * Python 2 era files may suffix each int with L. */
static int npy_shape(npy_lex *x, shape *s)
{
    /* No dimension can exceed this and still describe data in a file. */
    const uint64_t dim_max = (uint64_t)1 << 62;
    if (npy_expect(x, '(', "a tuple for 'shape'"))
        return UERR_USER;
    s->rank = 0;
    int commas = 0;
    for (;;) {
        npy_skip_ws(x);
        if (x->p < x->end && *x->p == ')') {
            x->p++;
            break;
        }
        if (x->p < x->end && *x->p == '-')
            return uerr_set(x->e, UERR_USER, "%s: shape has a negative dimension", x->name);
        if (x->p >= x->end || *x->p < '0' || *x->p > '9')
            return npy_malformed(x, "an integer in 'shape'");
        uint64_t v = 0;
        while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
            /* checked before the step: v * 10 can wrap around 2^64 and
             * land below the limit (2^64 + 4 would read as 4) */
            uint64_t d = (uint64_t)(*x->p++ - '0');
            if (v > (dim_max - d) / 10)
                return uerr_set(x->e, UERR_USER, "%s: shape has a dimension too large", x->name);
            v = v * 10 + d;
        }
        if (x->p < x->end && *x->p == 'L')
            x->p++;
        if (s->rank == TENSOR_MAX_RANK)
            return uerr_set(x->e, UERR_USER, "%s: shape has more than %d dimensions", x->name,
                            TENSOR_MAX_RANK);
        s->dim[s->rank++] = (int64_t)v;
        npy_skip_ws(x);
        if (x->p < x->end && *x->p == ',') {
            x->p++;
            commas++;
        } else if (x->p < x->end && *x->p == ')') {
            x->p++;
            break;
        } else {
            return npy_malformed(x, "',' or ')' in 'shape'");
        }
    }
    /* "(3)" is the int 3 in Python, not a tuple: numpy refuses it too. */
    if (s->rank == 1 && commas == 0)
        return uerr_set(x->e, UERR_USER, "%s: 'shape' is not a tuple (a 1-D shape is written (n,))",
                        x->name);
    return 0;
}

static int npy_header(const char *h, size_t hlen, const char *name, npy_info *in, uerr *e)
{
    /* The padding is not part of the dict; without it, excerpts in
     * messages show content rather than spaces. */
    while (hlen > 0 && (h[hlen - 1] == ' ' || h[hlen - 1] == '\n' || h[hlen - 1] == '\r' ||
                        h[hlen - 1] == '\t'))
        hlen--;
    npy_lex x = {.p = h, .end = h + hlen, .name = name, .e = e};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    npy_skip_ws(&x);
    if (x.p >= x.end || *x.p != '{') {
        char near[24];
        npy_excerpt(x.p, x.end, '"', near, sizeof near);
        return uerr_set(e, UERR_USER, "%s: header is not a dict (it starts with \"%s\")", name,
                        near);
    }
    x.p++;
    for (;;) {
        npy_skip_ws(&x);
        if (x.p < x.end && *x.p == '}') {
            x.p++;
            break;
        }
        char key[32];
        if (npy_string(&x, key, sizeof key) || npy_expect(&x, ':', "':' after a key"))
            return UERR_USER;
        int *seen = !strcmp(key, "descr")           ? &have_descr
                    : !strcmp(key, "fortran_order") ? &have_fortran
                    : !strcmp(key, "shape")         ? &have_shape
                                                    : NULL;
        if (!seen) {
            char shown[32];
            npy_excerpt(key, key + strlen(key), '\'', shown, sizeof shown);
            return uerr_set(e, UERR_USER, "%s: unexpected key '%s' in header", name, shown);
        }
        if (*seen)
            return uerr_set(e, UERR_USER, "%s: key '%s' appears twice in header", name, key);
        int rc = seen == &have_descr     ? npy_descr(&x, in)
                 : seen == &have_fortran ? npy_fortran(&x)
                                         : npy_shape(&x, &in->s);
        if (rc)
            return rc;
        *seen = 1;
        npy_skip_ws(&x);
        if (x.p < x.end && *x.p == ',')
            x.p++;
        else if (!(x.p < x.end && *x.p == '}'))
            return npy_malformed(&x, "',' or '}' after a value");
    }
    npy_skip_ws(&x);
    if (x.p != x.end)
        return npy_malformed(&x, "only padding after the dict");
    if (!have_descr || !have_fortran || !have_shape)
        return uerr_set(e, UERR_USER, "%s: header has no '%s' key", name,
                        !have_descr     ? "descr"
                        : !have_fortran ? "fortran_order"
                                        : "shape");
    uint64_t n = in->file_itemsize;
    for (int i = 0; i < in->s.rank; i++) {
        uint64_t d = (uint64_t)in->s.dim[i];
        if (d && n > UINT64_MAX / 2 / d) {
            char buf[128];
            return uerr_set(e, UERR_USER, "%s: shape %s is too large", name,
                            shape_str(&in->s, buf, sizeof buf));
        }
        n *= d;
    }
    in->nbytes = n;
    return 0;
}

static int npy_data_size(const npy_info *in, uint64_t avail, const char *name, uerr *e)
{
    if (in->nbytes != avail)
        return uerr_set(e, UERR_USER, "%s: expected %" PRIu64 " bytes of data, found %" PRIu64,
                        name, in->nbytes, avail);
    if (in->nbytes > SIZE_MAX)
        return uerr_set(e, UERR_USER, "%s: data too large for this machine", name);
    return 0;
}

/* Narrows n little-endian int64 values at src to int32 at dst. dst may
 * equal src: element i is read (bytes 8i..8i+7) before it is written
 * (bytes 4i..4i+3), and later reads start at 8(i+1) > 4i+3. */
static int npy_i64_to_i32(const unsigned char *src, unsigned char *dst, uint64_t n,
                          const char *name, uerr *e)
{
    for (uint64_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, src + 8 * i, 8);
        if (v < INT32_MIN || v > INT32_MAX)
            return uerr_set(e, UERR_USER,
                            "%s: int64 value %" PRId64 " at flat index %" PRIu64
                            " does not fit in int32",
                            name, v, i);
        int32_t w = (int32_t)v;
        memcpy(dst + 4 * i, &w, 4);
    }
    return 0;
}

/* ---- entry points ----------------------------------------------------- */

int npy_parse(const void *buf, size_t n, const char *display_name, dtype *dt, shape *s, void **data,
              uerr *e)
{
    const unsigned char *b = buf;
    const char *name = display_name ? display_name : "<buffer>";
    size_t start, hlen;
    npy_info in = {0};
    int rc;
    *data = NULL;
    if ((rc = npy_preamble(b, n, n, name, &start, &hlen, e)) ||
        (rc = npy_header((const char *)b + start, hlen, name, &in, e)) ||
        (rc = npy_data_size(&in, n - start - hlen, name, e)))
        return rc;
    uint64_t numel = in.nbytes / in.file_itemsize;
    size_t out_bytes = (size_t)numel * dtype_size(in.dt);
    unsigned char *out = malloc(out_bytes ? out_bytes : 1);
    if (!out)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory for %zu bytes of data", name,
                        out_bytes);
    const unsigned char *src = b + start + hlen;
    if (in.file_itemsize == dtype_size(in.dt)) {
        if (out_bytes)
            memcpy(out, src, out_bytes);
    } else if ((rc = npy_i64_to_i32(src, out, numel, name, e))) {
        free(out);
        return rc;
    }
    *dt = in.dt;
    *s = in.s;
    *data = out;
    return 0;
}

static int npy_read_exact(FILE *f, void *buf, size_t n, const char *path, uerr *e)
{
    if (n && fread(buf, 1, n, f) != n)
        return uerr_set(e, UERR_INTERNAL, "%s: read failed: %s", path,
                        ferror(f) ? strerror(errno) : "file shrank while being read");
    return 0;
}

int npy_read(const char *path, dtype *dt, shape *s, void **data, uerr *e)
{
    *data = NULL;
    FILE *f;
    int oc = infile_open(path, INFILE_REGULAR, &f);
    if (oc)
        return oc > 0 ? uerr_set(e, UERR_USER, "%s: not a regular file", path)
                      : uerr_set(e, UERR_USER, "%s: cannot open: %s", path, strerror(errno));
    char *h = NULL;
    unsigned char *out = NULL;
    int rc = 0;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = uerr_set(e, UERR_USER, "%s: not a regular file", path);
        goto done;
    }
    uint64_t total = (uint64_t)st.st_size;
    unsigned char pre[12];
    size_t npre = total < sizeof pre ? (size_t)total : sizeof pre;
    size_t start, hlen;
    npy_info in = {0};
    if ((rc = npy_read_exact(f, pre, npre, path, e)) ||
        (rc = npy_preamble(pre, npre, total, path, &start, &hlen, e)))
        goto done;
    /* hlen is now known to fit in the file, so this allocation is bounded
     * by the file's real size. */
    if (!(h = malloc(hlen + 1))) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for the header", path);
        goto done;
    }
    if (fseek(f, (long)start, SEEK_SET) != 0) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: seek failed: %s", path, strerror(errno));
        goto done;
    }
    if ((rc = npy_read_exact(f, h, hlen, path, e)) || (rc = npy_header(h, hlen, path, &in, e)) ||
        (rc = npy_data_size(&in, total - start - hlen, path, e)))
        goto done;
    size_t nbytes = (size_t)in.nbytes;
    if (!(out = malloc(nbytes ? nbytes : 1))) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for %zu bytes of data", path, nbytes);
        goto done;
    }
    if ((rc = npy_read_exact(f, out, nbytes, path, e)))
        goto done;
    if (in.file_itemsize != dtype_size(in.dt)) {
        uint64_t numel = in.nbytes / in.file_itemsize;
        if ((rc = npy_i64_to_i32(out, out, numel, path, e)))
            goto done;
        /* Give back the upper half; keeping it on failure is harmless. */
        void *smaller = realloc(out, numel ? (size_t)numel * 4 : 1);
        if (smaller)
            out = smaller;
    }
    *dt = in.dt;
    *s = in.s;
    *data = out;
    out = NULL;
done:
    free(out);
    free(h);
    fclose(f);
    return rc;
}

static const char *npy_descr_of(dtype dt)
{
    switch (dt) {
    case DT_F32:
        return "<f4";
    case DT_F64:
        return "<f8";
    case DT_I32:
        return "<i4";
    }
    return NULL;
}

int npy_write(const char *path, dtype dt, const shape *s, const void *data, uerr *e)
{
    const char *descr = npy_descr_of(dt);
    if (!descr)
        return uerr_set(e, UERR_INTERNAL, "%s: cannot write dtype %d", path, (int)dt);
    if (s->rank < 0 || s->rank > TENSOR_MAX_RANK)
        return uerr_set(e, UERR_INTERNAL, "%s: cannot write rank %d", path, s->rank);
    char hdr[256];
    memcpy(hdr, npy_magic, sizeof npy_magic);
    hdr[6] = 1; /* format 1.0: 2-byte header length at 8..9 */
    hdr[7] = 0;
    int k = 10 + snprintf(hdr + 10, sizeof hdr - 10,
                          "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    uint64_t numel = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] < 0)
            return uerr_set(e, UERR_INTERNAL, "%s: cannot write a negative dimension", path);
        numel *= (uint64_t)s->dim[i];
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, i ? ", %" PRId64 : "%" PRId64, s->dim[i]);
    }
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s", s->rank == 1 ? ",), }" : "), }");
    /* Like numpy (>= 1.22), reserve room for dim 0 to grow to 21 digits,
     * so appending tools can rewrite the header in place; our files are
     * then byte-identical to np.save's. */
    if (s->rank > 0) {
        char d0[24];
        int nd = snprintf(d0, sizeof d0, "%" PRId64, s->dim[0]);
        for (int i = nd; i < 21; i++)
            hdr[k++] = ' ';
    }
    /* Spaces, then '\n', so the data starts at a multiple of 64 bytes:
     * numpy can then memory-map it aligned. k < 200 always. */
    size_t total = ((size_t)k + 1 + 63) / 64 * 64;
    memset(hdr + k, ' ', total - 1 - (size_t)k);
    hdr[total - 1] = '\n';
    size_t hlen = total - 10;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    size_t nbytes = (size_t)numel * dtype_size(dt);
    if (nbytes && !data)
        return uerr_set(e, UERR_INTERNAL, "%s: no data to write", path);

    outfile of;
    int rc = outfile_open(&of, path, e);
    if (rc)
        return rc;
    int ok = fwrite(hdr, 1, total, of.f) == total &&
             (!nbytes || fwrite(data, 1, nbytes, of.f) == nbytes);
    if (!ok) {
        int err = errno;
        outfile_abort(&of);
        return uerr_set(e, UERR_USER, "%s: write failed: %s", path, strerror(err));
    }
    return outfile_commit(&of, path, e);
}
