/*
 * test_base.c - the helpers of base/ that every layer shares: growable
 * vectors, and (as they come) UTF-8, byte sizes and conversions. Each is
 * the one copy in the library, so its edge cases are pinned here once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/bytes.h"
#include "base/file.h"
#include "base/tensor.h"
#include "base/utf8.h"
#include "base/vec.h"
#include "check.h"

/* pushes one at a time: the capacity doubles, the contents survive */
static void test_vec_push(void)
{
    int32_t *a = NULL, cap = 0;
    int growths = 0;
    for (int32_t i = 0; i < 1000; i++) {
        int32_t old = cap;
        CHECK(VEC_GROW(a, cap, i + 1) == 0);
        growths += cap != old;
        CHECK(cap >= i + 1);
        a[i] = i * 3;
    }
    int ok = 1;
    for (int32_t i = 0; i < 1000; i++)
        ok &= a[i] == i * 3;
    CHECK(ok);
    CHECK(growths <= 8); /* 16, 32, ..., 1024 */
    free(a);
}

/* the other capacity types, a first sizing that takes what is asked,
 * and sizes that do not fit */
static void test_vec_caps(void)
{
    double *d = NULL;
    int64_t c64 = 0;
    CHECK(VEC_GROW(d, c64, 100000) == 0 && c64 == 100000);
    CHECK(VEC_GROW(d, c64, 100001) == 0 && c64 == 200000);
    CHECK(VEC_GROW(d, c64, 5) == 0 && c64 == 200000);
    free(d);
    char *s = NULL;
    size_t cs = 0;
    CHECK(VEC_GROW(s, cs, 1) == 0 && cs == VEC_MIN);
    CHECK(VEC_GROW(s, cs, SIZE_MAX) == -1 && cs == VEC_MIN && s);
    free(s);
    int32_t *a = NULL, ca = 0;
    CHECK(VEC_GROW(a, ca, (int64_t)INT32_MAX + 1) == -1 && ca == 0 && !a);
    CHECK(vec_next_cap(10, 3) == 10 && vec_next_cap(10, 11) == 20 && vec_next_cap(0, 1) == 16);
}

/* every code point round-trips; the ill-formed classes are refused */
static void test_utf8(void)
{
    int ok = 1;
    for (uint32_t c = 0; c < 0x110000; c++) {
        char b[UTF8_MAX];
        uint32_t back = 0xFFFFFFFF;
        int n = utf8_encode(c, b);
        if (c >= 0xD800 && c <= 0xDFFF) {
            ok &= n == 0;
            continue;
        }
        ok &= n == (c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4);
        ok &= utf8_decode((const unsigned char *)b, (size_t)n, &back) == n && back == c;
        ok &= n == 1 || utf8_decode((const unsigned char *)b, (size_t)n - 1, &back) == 0;
    }
    CHECK(ok);
    char b[UTF8_MAX];
    CHECK(utf8_encode(0x110000, b) == 0 && !utf8_scalar(0x110000) && utf8_scalar(0x10FFFF));
    static const char *const bad[] = {
        "\x80",             /* a continuation byte first */
        "\xC0\x80",         /* overlong NUL */
        "\xC1\xBF",         /* overlong */
        "\xE0\x9F\xBF",     /* overlong, below U+0800 */
        "\xED\xA0\x80",     /* a surrogate */
        "\xF0\x8F\xBF\xBF", /* overlong, below U+10000 */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF5\x80\x80\x80", /* no such lead byte */
        "\xC3\x28",         /* a second byte that does not continue */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t cp = 7;
        CHECKF(utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &cp) == 0 && cp == 7,
               "bad sequence %zu decoded", i);
    }
    uint32_t cp;
    CHECK(utf8_decode((const unsigned char *)"", 0, &cp) == 0);
}

/* one grammar for every size a user writes */
static void test_bytes_parse(void)
{
    static const struct {
        const char *s;
        uint64_t want;
        int ok;
    } cases[] = {
        {"0", 0, 1},
        {"4096", 4096, 1},
        {"12B", 12, 1},
        {"64K", 64 << 10, 1},
        {"64k", 64 << 10, 1},
        {"3M", 3 << 20, 1},
        {"2g", 2ull << 30, 1},
        {"1T", 1ull << 40, 1},
        {"5MiB", 5 << 20, 1},
        {"5miB", 5 << 20, 1},
        {"1.5GiB", 3ull << 29, 1},
        {"1.5G", 3ull << 29, 1},
        {"3 GiB", 3ull << 30, 1},
        {".5KiB", 512, 1},
        {"0.1KiB", 102, 1},
        {"2KB", 2000, 1},
        {"2kB", 2000, 1},
        {"7MB", 7000000, 1},
        {"1.5GB", 1500000000, 1},
        {"9007199254740993", 9007199254740993ull, 1}, /* exact past 2^53 */
        {"16777215TiB", 16777215ull << 40, 1},
        {"", 0, 0},
        {"MiB", 0, 0},
        {"iB", 0, 0},
        {"1.5", 0, 0},
        {"1.5B", 0, 0},
        {"-1", 0, 0},
        {"+1", 0, 0},
        {"1e6", 0, 0},
        {"12x", 0, 0},
        {"12 XB", 0, 0},
        {"3Ki", 0, 0},
        {"7mb", 0, 0},
        {"1  MiB", 0, 0},
        {" 1MiB", 0, 0},
        {"1MiB ", 0, 0},
        {"16777216TiB", 0, 0},
        {"17179869184G", 0, 0},
        {"99999999999999999999", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = 77;
        int rc = bytes_parse(cases[i].s, strlen(cases[i].s), &got);
        if (cases[i].ok)
            CHECKF(rc == 0 && got == cases[i].want, "'%s': rc %d, %llu", cases[i].s, rc,
                   (unsigned long long)got);
        else
            CHECKF(rc == -1 && got == 77, "'%s' accepted as %llu", cases[i].s,
                   (unsigned long long)got);
    }
}

/* messages never read "0.0 MiB"; the exact form reads back */
static void test_bytes_str(void)
{
    char b[BYTES_STR_MAX];
    CHECK(!strcmp(bytes_str(0, b), "0 B"));
    CHECK(!strcmp(bytes_str(1023, b), "1023 B"));
    CHECK(!strcmp(bytes_str(1024, b), "1.0 KiB"));
    CHECK(!strcmp(bytes_str(45000, b), "43.9 KiB"));
    CHECK(!strcmp(bytes_str(64u << 20, b), "64.0 MiB"));
    CHECK(!strcmp(bytes_str(3ull << 29, b), "1.5 GiB"));
    CHECK(!strcmp(bytes_str(UINT64_MAX, b), "16.0 EiB"));
    static const uint64_t exact[] = {0,          1,          2000,       1024,
                                     3ull << 29, 5ull << 40, 1ull << 62, UINT64_MAX};
    static const char *const want[] = {"0",       "1",    "2000",       "1KiB",
                                       "1536MiB", "5TiB", "4194304TiB", "18446744073709551615"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        uint64_t back = 0;
        bytes_exact_str(exact[i], b);
        CHECKF(!strcmp(b, want[i]) && bytes_parse(b, strlen(b), &back) == 0 && back == exact[i],
               "%s", b);
    }
}

/* float32 <-> float64 as C's casts; the same dtype copies the bits */
static void test_dtype_convert(void)
{
    const double d[4] = {1.0 / 3.0, -2.5, 1e-50, 0x1.000001p0};
    float f[4];
    dtype_convert(f, DT_F32, d, DT_F64, 4);
    CHECK(f[0] == (float)(1.0 / 3.0) && f[1] == -2.5f && f[2] == 0.0f && f[3] == 1.0f);
    double back[4];
    dtype_convert(back, DT_F64, f, DT_F32, 4);
    CHECK(back[0] == (double)f[0] && back[1] == -2.5 && back[2] == 0.0);
    double same[4];
    dtype_convert(same, DT_F64, d, DT_F64, 4);
    CHECK(!memcmp(same, d, sizeof d));
    dtype_convert(same, DT_F64, f, DT_F32, 0); /* nothing */
    CHECK(!memcmp(same, d, sizeof d));
}

/* whole files: contents and NUL, the size cap's edge, a missing file */
static void test_file_read_all(void)
{
    char path[] = "/tmp/unroll_base_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "wb");
    for (int i = 0; i < 200000; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    char *b = NULL;
    size_t n = 0;
    CHECK(file_read_all(path, 0, &b, &n) == FILE_OK && n == 200000 && b[n] == '\0');
    int same = b != NULL;
    for (size_t i = 0; same && i < n; i++)
        same = b[i] == 'a' + (int)(i % 26);
    CHECK(same);
    free(b);
    CHECK(file_read_all(path, 200000, &b, &n) == FILE_OK && n == 200000);
    free(b);
    CHECK(file_read_all(path, 199999, &b, &n) == FILE_TOO_LARGE && !b && n == 0);
    f = fopen(path, "wb");
    fclose(f);
    CHECK(file_read_all(path, 10, &b, &n) == FILE_OK && n == 0 && b && b[0] == '\0');
    free(b);
    remove(path);
    CHECK(file_read_all(path, 0, &b, &n) == FILE_NOT_OPENED && errno == ENOENT && !b);
}

int main(void)
{
    RUN(test_vec_push);
    RUN(test_vec_caps);
    RUN(test_utf8);
    RUN(test_bytes_parse);
    RUN(test_bytes_str);
    RUN(test_dtype_convert);
    RUN(test_file_read_all);
    CHECK_EXIT();
}
