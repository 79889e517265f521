/*
 * test_base.c - the helpers of base/ that every layer shares: growable
 * vectors, and (as they come) UTF-8, byte sizes and conversions. Each is
 * the one copy in the library, so its edge cases are pinned here once.
 */
#include <stdint.h>
#include <stdlib.h>

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

int main(void)
{
    RUN(test_vec_push);
    RUN(test_vec_caps);
    CHECK_EXIT();
}
