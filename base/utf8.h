/*
 * utf8.h - the one UTF-8 decoder and encoder of the library.
 *
 * Only well-formed UTF-8 is decoded (RFC 3629): no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut
 * short by the end of the input. The text reader, the config reader and
 * the JSON reader all accept exactly this, so a string one of them takes
 * is never refused by another.
 */
#ifndef UNROLL_UTF8_H
#define UNROLL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the longest sequence. */
#define UTF8_MAX 4

/* The sequence at s (avail bytes left, avail >= 0): its length 1..4
 * with its code point in *cp, or 0 if it is not well formed (or avail
 * is 0); *cp is left alone then. */
int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);

/* 1 when c is a Unicode scalar value: below U+110000, not a surrogate. */
int utf8_scalar(uint32_t c);

/* Writes c as 1..4 bytes (no NUL) and returns their count, or 0 when c
 * is not a Unicode scalar value (a surrogate or above U+10FFFF). */
int utf8_encode(uint32_t c, char out[UTF8_MAX]);

#endif
