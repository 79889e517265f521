/* vec.c - growable arrays; see vec.h. */
#include "base/vec.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t vec_next_cap(size_t cap, size_t need)
{
    if (need <= cap)
        return cap;
    size_t n = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (n < need)
        n = need;
    return n < VEC_MIN ? VEC_MIN : n;
}

/* *pbuf is read and written through memcpy: it may be an int32_t *, a
 * char * or any other object pointer, which all share void *'s
 * representation on the platforms unroll builds on. */
int vec_realloc(void *pbuf, size_t n, size_t elem)
{
    /* no object is larger than PTRDIFF_MAX: such a size is refused here,
     * not handed to realloc (AddressSanitizer's aborts on it) */
    if (elem && n > PTRDIFF_MAX / elem)
        return -1;
    void *old;
    memcpy(&old, pbuf, sizeof old);
    void *p = realloc(old, n && elem ? n * elem : 1);
    if (!p)
        return -1;
    memcpy(pbuf, &p, sizeof p);
    return 0;
}

/* The growth itself, on a size_t capacity capped at max: the signed
 * capacities refuse a size past their own type's range. */
static int vec_grow_capped(void *pbuf, size_t elem, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return -1;
    size_t n = vec_next_cap(*cap, need);
    if (n > max)
        n = max;
    if (vec_realloc(pbuf, n, elem))
        return -1;
    *cap = n;
    return 0;
}

int vec_grow_size(void *pbuf, size_t elem, size_t *cap, size_t need)
{
    return vec_grow_capped(pbuf, elem, cap, need, SIZE_MAX);
}

int vec_grow_i64(void *pbuf, size_t elem, int64_t *cap, int64_t need)
{
    size_t c = (size_t)*cap;
    int rc = need <= *cap ? 0 : vec_grow_capped(pbuf, elem, &c, (size_t)need, INT64_MAX);
    *cap = (int64_t)c;
    return rc;
}

int vec_grow_i32(void *pbuf, size_t elem, int32_t *cap, int64_t need)
{
    size_t c = (size_t)*cap;
    int rc = need <= *cap ? 0 : vec_grow_capped(pbuf, elem, &c, (size_t)need, INT32_MAX);
    *cap = (int32_t)c;
    return rc;
}
