/*
 * vec.h - growable arrays: the one growth rule of the library.
 *
 * An array is a plain pointer and a capacity the caller keeps (int32_t,
 * int64_t or size_t, whichever its struct already uses). VEC_GROW(buf,
 * cap, need) makes room for need elements: the capacity at least
 * doubles, so n pushes cost O(n), and a first growth takes exactly what
 * is needed (at least VEC_MIN), so a large array sized once is not
 * rounded up to a power of two. On failure (out of memory, or a size
 * that does not fit) it returns -1 and leaves buf and cap as they were:
 * the caller still owns and frees the old array. Elements past the old
 * capacity are not initialised.
 */
#ifndef UNROLL_VEC_H
#define UNROLL_VEC_H

#include <stddef.h>
#include <stdint.h>

#define VEC_MIN 16

/* The capacity to grow cap to so that need fits (cap when it does). */
size_t vec_next_cap(size_t cap, size_t need);

/* Reallocates the array *pbuf (a pointer to any object pointer) to n
 * elements of elem bytes; 0, or -1 with *pbuf untouched. */
int vec_realloc(void *pbuf, size_t n, size_t elem);

int vec_grow_i32(void *pbuf, size_t elem, int32_t *cap, int64_t need);
int vec_grow_i64(void *pbuf, size_t elem, int64_t *cap, int64_t need);
int vec_grow_size(void *pbuf, size_t elem, size_t *cap, size_t need);

/* 0 when buf has room for need elements (grown if it had not), -1 when
 * out of memory. buf and cap are lvalues, each evaluated once. */
/* (clang-format does not know _Generic) */
/* clang-format off */
#define VEC_GROW(buf, cap, need)                                                                   \
    _Generic((cap), int32_t: vec_grow_i32, int64_t: vec_grow_i64, size_t: vec_grow_size)(          \
        (void *)&(buf), sizeof *(buf), &(cap), (need))
/* clang-format on */

#endif
