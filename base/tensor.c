/* tensor.c - see tensor.h. */
#include "base/tensor.h"

#include <stdio.h>
#include <string.h>

size_t dtype_size(dtype dt)
{
    switch (dt) {
    case DT_F32:
        return 4;
    case DT_F64:
        return 8;
    case DT_I32:
        return 4;
    }
    return 0;
}

const char *dtype_name(dtype dt)
{
    switch (dt) {
    case DT_F32:
        return "float32";
    case DT_F64:
        return "float64";
    case DT_I32:
        return "int32";
    }
    return "?";
}

int dtype_from_name(const char *s, dtype *out)
{
    if (!strcmp(s, "float32"))
        *out = DT_F32;
    else if (!strcmp(s, "float64"))
        *out = DT_F64;
    else if (!strcmp(s, "int32"))
        *out = DT_I32;
    else
        return -1;
    return 0;
}

void dtype_convert(void *dst, dtype to, const void *src, dtype from, int64_t n)
{
    if (to == from) {
        memcpy(dst, src, (size_t)n * dtype_size(to));
        return;
    }
    DT_EACH_REAL(to, T, {
        T *d = dst;
        if (from == DT_F32)
            for (int64_t i = 0; i < n; i++)
                d[i] = (T)((const float *)src)[i];
        else
            for (int64_t i = 0; i < n; i++)
                d[i] = (T)((const double *)src)[i];
    });
}

int64_t shape_numel(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int shape_equal(const shape *a, const shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

shape shape_make(int rank, const int64_t *dim)
{
    shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dim[i] = dim[i];
    return s;
}

shape shape_0(void)
{
    return (shape){.rank = 0};
}
shape shape_1(int64_t a)
{
    return (shape){.rank = 1, .dim = {a}};
}
shape shape_2(int64_t a, int64_t b)
{
    return (shape){.rank = 2, .dim = {a, b}};
}

char *shape_str(const shape *s, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)s->dim[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}
