/*
 * test_base.c - the helpers of base/ that every layer shares: growable
 * vectors, and (as they come) UTF-8, byte sizes and conversions. Each is
 * the one copy in the library, so its edge cases are pinned here once.
 */
#include <stdint.h>
#include <stdlib.h>

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

int main(void)
{
    RUN(test_vec_push);
    RUN(test_vec_caps);
    RUN(test_utf8);
    CHECK_EXIT();
}
