/*
 * test_npy.c - .npy round trips for every dtype and rank, the exact bytes
 * of a header, files written the way numpy writes them (format 2.0, '<i8'),
 * and one malformed file per error message with its exact text; and the
 * npy data set built from arrays in memory (train/npyset.h) at the edge
 * of int32 ids.
 *
 * Files live in a fresh mkdtemp directory that the test removes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/npy.h"
#include "train/npyset.h"

static char tmpdir[64];

static const char *tpath(const char *name)
{
    static char buf[8][160];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static void put_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* A .npy image: magic, version, header padded to a 64-byte boundary (or
 * not, when pad is 0), then data. Returns the total length in out. */
static size_t make_npy(unsigned char *out, int major, int minor, const char *dict, int pad,
                       const void *data, size_t nbytes)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t hl = strlen(dict) + 1;
    if (pad)
        hl = ((pre + hl + 63) / 64) * 64 - pre;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = (unsigned char)minor;
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    if (pre == 12) {
        out[10] = (unsigned char)(hl >> 16);
        out[11] = (unsigned char)(hl >> 24);
    }
    memset(out + pre, ' ', hl);
    memcpy(out + pre, dict, strlen(dict));
    out[pre + hl - 1] = '\n';
    if (nbytes)
        memcpy(out + pre + hl, data, nbytes);
    return pre + hl + nbytes;
}

static void test_round_trip(void)
{
    const dtype dts[3] = {DT_F32, DT_F64, DT_I32};
    const int64_t dims[4] = {2, 3, 1, 4};
    for (int d = 0; d < 3; d++) {
        for (int rank = 0; rank <= 4; rank++) {
            shape s = shape_make(rank, dims);
            size_t n = (size_t)shape_numel(&s), es = dtype_size(dts[d]);
            unsigned char *buf = malloc(n * es);
            for (size_t i = 0; i < n; i++) {
                if (dts[d] == DT_F32)
                    ((float *)buf)[i] = (float)i * 0.1f - 1.0f;
                else if (dts[d] == DT_F64)
                    ((double *)buf)[i] = (double)i / 3.0 - 7.0;
                else
                    ((int32_t *)buf)[i] = (int32_t)i * 1000003 - 5;
            }
            const char *p = tpath("rt.npy");
            uerr e = {0};
            CHECK_OK(npy_write(p, dts[d], &s, buf, &e), &e);
            dtype got;
            shape gs;
            void *data = NULL;
            CHECK_OK(npy_read(p, &got, &gs, &data, &e), &e);
            CHECKF(got == dts[d] && shape_equal(&gs, &s) && data && !memcmp(data, buf, n * es),
                   "round trip of %s rank %d", dtype_name(dts[d]), rank);
            free(data);

            /* The same bytes through the in-memory entry point. */
            FILE *f = fopen(p, "rb");
            unsigned char img[512];
            size_t len = f ? fread(img, 1, sizeof img, f) : 0;
            if (f)
                fclose(f);
            CHECK(len % 64 == (n * es) % 64); /* data starts on a 64-byte boundary */
            CHECK(img[len - n * es - 1] == '\n');
            CHECK_OK(npy_parse(img, len, "mem", &got, &gs, &data, &e), &e);
            CHECK(got == dts[d] && shape_equal(&gs, &s) && !memcmp(data, buf, n * es));
            free(data);
            free(buf);
        }
    }
}

static void test_empty_array(void)
{
    shape s = shape_2(0, 5);
    uerr e = {0};
    const char *p = tpath("empty.npy");
    CHECK_OK(npy_write(p, DT_F64, &s, NULL, &e), &e);
    dtype dt;
    shape gs;
    void *data = NULL;
    CHECK_OK(npy_read(p, &dt, &gs, &data, &e), &e);
    CHECK(dt == DT_F64 && shape_equal(&gs, &s) && data != NULL);
    free(data);
}

/* The exact bytes numpy 1.24 writes for np.zeros((2, 3), np.float32) and
 * np.zeros(7, np.int32): the dict, 20 spaces numpy reserves for dim 0 to
 * grow, padding to 128 bytes. */
static void test_header_bytes(void)
{
    float z[6] = {0};
    shape s = shape_2(2, 3);
    uerr e = {0};
    const char *p = tpath("hdr.npy");
    CHECK_OK(npy_write(p, DT_F32, &s, z, &e), &e);
    unsigned char img[256];
    FILE *f = fopen(p, "rb");
    size_t len = f ? fread(img, 1, sizeof img, f) : 0;
    if (f)
        fclose(f);
    unsigned char want[256];
    size_t wl = make_npy(want, 1, 0,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                         "                    ",
                         1, z, sizeof z);
    CHECK(len == wl && len == 128 + 24 && !memcmp(img, want, wl));

    shape s1 = shape_1(7);
    int32_t v[7] = {0};
    CHECK_OK(npy_write(p, DT_I32, &s1, v, &e), &e);
    f = fopen(p, "rb");
    len = f ? fread(img, 1, sizeof img, f) : 0;
    if (f)
        fclose(f);
    wl = make_npy(want, 1, 0,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (7,), }"
                  "                    ",
                  1, v, sizeof v);
    CHECK(len == wl && len == 128 + 28 && !memcmp(img, want, wl));
}

/* Format 2.0, keys in another order, double quotes, Python 2 longs, and
 * '<i8' narrowed to int32: all things numpy (or its past) can write. */
static void test_numpy_variants(void)
{
    unsigned char img[256];
    int64_t v[3] = {-2147483648LL, 0, 2147483647LL};
    size_t n =
        make_npy(img, 2, 0, "{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<i8\"}", 1,
                 v, sizeof v);
    const char *p = tpath("v2.npy");
    put_file(p, img, n);
    uerr e = {0};
    dtype dt;
    shape s;
    void *data = NULL;
    CHECK_OK(npy_read(p, &dt, &s, &data, &e), &e);
    CHECK(dt == DT_I32 && s.rank == 1 && s.dim[0] == 3);
    if (data) {
        const int32_t *w = data;
        CHECK(w[0] == INT32_MIN && w[1] == 0 && w[2] == INT32_MAX);
    }
    free(data);
    data = NULL;
    CHECK_OK(npy_parse(img, n, "v2", &dt, &s, &data, &e), &e);
    CHECK(data && ((int32_t *)data)[2] == INT32_MAX);
    free(data);

    /* Scalar, unpadded header, format 3.0. */
    double x = 2.5;
    n = make_npy(img, 3, 0, "{'descr':'<f8','fortran_order':False,'shape':()}", 0, &x, sizeof x);
    data = NULL;
    CHECK_OK(npy_parse(img, n, "v3", &dt, &s, &data, &e), &e);
    CHECK(dt == DT_F64 && s.rank == 0 && data && *(double *)data == 2.5);
    free(data);
}

/* Each case: file contents, and the message after "PATH: ". */
typedef struct bad_case {
    const char *file;
    int major;
    const char *dict; /* NULL: raw bytes below */
    const char *raw;
    size_t rawlen;
    size_t data_bytes; /* data appended after the header */
    const char *msg;
} bad_case;

static void test_malformed(void)
{
    static const int64_t big[2] = {7, (int64_t)1 << 32};
    static const bad_case cases[] = {
        {"magic.npy", 0, NULL, "hello, world\n", 13, 0, "bad magic (not a .npy file)"},
        {"short.npy", 0, NULL, "\x93NU", 3, 0, "bad magic (not a .npy file)"},
        {"nolen.npy", 0, NULL, "\x93NUMPY\x01\x00", 8, 0,
         "truncated header (file has 8 bytes, no header length)"},
        {"trunc.npy", 0, NULL, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', ", 27, 0,
         "truncated header (header of 118 bytes needs a file of at least 128 bytes, found 27)"},
        {"ver.npy", 0, NULL, "\x93NUMPY\x04\x00\x10\x00{}", 12, 0,
         "unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)"},
        {"list.npy", 1, "[('descr', '<f4')]", NULL, 0, 0,
         "header is not a dict (it starts with \"[('descr', '<f4')]\")"},
        {"dtype.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 16,
         "unsupported dtype '<c8' (expected '<f4', '<f8', '<i4' or '<i8')"},
        {"bigend.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 8,
         "unsupported dtype '>f4' (expected '<f4', '<f8', '<i4' or '<i8')"},
        {"struct.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
         NULL, 0, 8, "unsupported dtype: structured arrays are not supported"},
        {"fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", NULL, 0,
         24, "fortran_order is True: only C-order arrays are supported"},
        {"few.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", NULL, 0, 20,
         "expected 24 bytes of data, found 20"},
        {"many.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", NULL, 0, 52,
         "expected 48 bytes of data, found 52"},
        {"noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", NULL, 0, 4,
         "header has no 'shape' key"},
        {"extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", NULL, 0,
         4, "unexpected key 'x' in header"},
        {"twice.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}",
         NULL, 0, 4, "key 'descr' appears twice in header"},
        {"rank5.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }",
         NULL, 0, 4, "shape has more than 4 dimensions"},
        {"neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", NULL, 0, 0,
         "shape has a negative dimension"},
        {"notuple.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", NULL, 0, 12,
         "'shape' is not a tuple (a 1-D shape is written (n,))"},
        {"comma.npy", 1, "{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}", NULL, 0, 12,
         "malformed header: expected ',' or '}' after a value at \"'fortran_order': Fal...\""},
        {"open.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,", NULL, 0, 12,
         "malformed header: expected an integer in 'shape', found its end"},
        {"huge.npy", 1,
         "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", NULL, 0,
         8, "shape [4611686018427387904, 4] is too large"},
        /* 2^64 + 4: read by wrapping around, this was once the shape (4,) */
        {"wrap.npy", 1,
         "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551620,), }", NULL, 0,
         16, "shape has a dimension too large"},
        {"dimmax.npy", 1,
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387905,), }", NULL, 0, 16,
         "shape has a dimension too large"},
        {"i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
         (const char *)big, 0, 16, "int64 value 4294967296 at flat index 1 does not fit in int32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        unsigned char img[512], zeros[64] = {0};
        size_t n;
        if (c->dict)
            n = make_npy(img, c->major, 0, c->dict, 1, c->raw ? (const void *)c->raw : zeros,
                         c->data_bytes);
        else {
            memcpy(img, c->raw, c->rawlen);
            n = c->rawlen;
        }
        const char *p = tpath(c->file);
        put_file(p, img, n);
        char want[512];
        snprintf(want, sizeof want, "%s: %s", p, c->msg);
        uerr e = {0};
        dtype dt;
        shape s;
        void *data = (void *)1;
        int rc = npy_read(p, &dt, &s, &data, &e);
        CHECKF(rc == UERR_USER && !strcmp(e.msg, want) && data == NULL,
               "%s:\n    got  '%s'\n    want '%s'", c->file, e.msg, want);
        /* The in-memory parser gives the same message under its name. */
        uerr e2 = {0};
        snprintf(want, sizeof want, "%s: %s", c->file, c->msg);
        rc = npy_parse(img, n, c->file, &dt, &s, &data, &e2);
        CHECKF(rc == UERR_USER && !strcmp(e2.msg, want), "parse %s: got '%s'", c->file, e2.msg);
    }
}

static void test_file_errors(void)
{
    uerr e = {0};
    dtype dt;
    shape s;
    void *data;
    char want[256];
    const char *p = tpath("missing.npy");
    CHECK(npy_read(p, &dt, &s, &data, &e) != 0);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);

    uerr_clear(&e);
    CHECK(npy_read(tmpdir, &dt, &s, &data, &e) != 0);
    snprintf(want, sizeof want, "%s: not a regular file", tmpdir);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);

    uerr_clear(&e);
    p = tpath("nodir/x.npy");
    shape s1 = shape_1(1);
    float one = 1;
    CHECK(npy_write(p, DT_F32, &s1, &one, &e) != 0);
    snprintf(want, sizeof want, "%s: cannot create: No such file or directory", p);
    CHECKF(!strcmp(e.msg, want), "got '%s'", e.msg);
}

/* Every prefix of a valid file, and every single-byte change to its
 * header, must give a clean error or a valid array: never a crash or an
 * out-of-bounds read (run under ASan to mean it). */
static void test_prefixes_and_flips(void)
{
    unsigned char img[256];
    float v[6] = {1, 2, 3, 4, 5, 6};
    size_t n = make_npy(img, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1,
                        v, sizeof v);
    int errors = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char *cut = malloc(k ? k : 1);
        memcpy(cut, img, k);
        uerr e = {0};
        dtype dt;
        shape s;
        void *data = NULL;
        if (npy_parse(cut, k, "cut", &dt, &s, &data, &e) != 0)
            errors++;
        CHECK(strchr(e.msg, '\n') == NULL);
        free(data);
        free(cut);
    }
    CHECK(errors == (int)n);
    const unsigned char flips[] = {0, ' ', '\'', '(', ')', ',', '9', '{', '}', 0xff};
    for (size_t k = 0; k < 64; k++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            unsigned char m[256];
            memcpy(m, img, n);
            m[k] = flips[f];
            uerr e = {0};
            dtype dt;
            shape s;
            void *data = NULL;
            int rc = npy_parse(m, n, "flip", &dt, &s, &data, &e);
            CHECK(rc == 0 ? data != NULL : data == NULL && e.msg[0] != '\0');
            free(data);
        }
    }
}

/* Ids and classes of INT32_MAX (counted in 64 bits: one more than
 * INT32_MAX was signed overflow, found by tests/fuzz/fuzz_npyset.c) are
 * refused naming the file and element, as is a NaN among real inputs,
 * instead of surfacing as a model size or a diverging loss. */
static int npyset_try(int dense, int32_t xi, int32_t yi, float xf, char *msg, size_t nmsg)
{
    void *x = malloc(2 * sizeof(float));
    int32_t *y = malloc(2 * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return -1;
    }
    if (dense)
        ((float *)x)[0] = xf, ((float *)x)[1] = 0;
    else
        ((int32_t *)x)[0] = xi, ((int32_t *)x)[1] = -1;
    y[0] = -1, y[1] = yi;
    npy_array in = {dense ? DT_F32 : DT_I32, shape_2(1, 2), x}, tg = {DT_I32, shape_2(1, 2), y},
              ln = {DT_I32, {0}, NULL};
    if (dense)
        in.shape = (shape){.rank = 3, .dim = {1, 2, 1}};
    npy_set s;
    uerr e = {0};
    int rc = npyset_from_arrays("d", &in, &tg, &ln, 0.0, 1, DT_F32, &s, &e);
    snprintf(msg, nmsg, "%s", e.msg);
    if (!rc)
        npyset_free(&s);
    return rc;
}

static void test_npyset_extreme_ids(void)
{
    char m[1024];
    CHECK(npyset_try(0, INT32_MAX, 0, 0, m, sizeof m) == UERR_USER);
    CHECKF(strstr(m, "d/inputs.npy: element 0 is 2147483647") != NULL, "got: %s", m);
    CHECK(npyset_try(0, 0, INT32_MAX, 0, m, sizeof m) == UERR_USER);
    CHECKF(strstr(m, "d/targets.npy: element 1 is class 2147483647") != NULL, "got: %s", m);
    CHECK(npyset_try(1, 0, 0, NAN, m, sizeof m) == UERR_USER);
    CHECKF(strstr(m, "d/inputs.npy: element 0 is not a finite number") != NULL, "got: %s", m);
    CHECK(npyset_try(0, (1 << 20) - 1, (1 << 20) - 1, 0, m, sizeof m) == 0);
}

int main(void)
{
    if (check_tmpdir(tmpdir, sizeof tmpdir, "npy"))
        return 1;
    RUN(test_round_trip);
    RUN(test_empty_array);
    RUN(test_header_bytes);
    RUN(test_numpy_variants);
    RUN(test_malformed);
    RUN(test_file_errors);
    RUN(test_prefixes_and_flips);
    RUN(test_npyset_extreme_ids);
    check_rmdir(tmpdir);
    CHECK_EXIT();
}
