/*
 * json.h - the little JSON the store needs: writing strings and numbers
 * (listings with --json, safetensors headers) and reading a document into
 * a tree (safetensors headers on import, a checkpoint's metrics).
 *
 * Reading is strict RFC 8259: one value, no trailing commas, no comments,
 * strings must be valid UTF-8 (escapes included; a lone surrogate is an
 * error), nesting at most JSON_MAX_DEPTH. An object with a duplicate key
 * is an error, since a safetensors header with two entries for one tensor
 * has no single meaning. Integers are kept exactly (int64) as well as as
 * doubles, because safetensors offsets can exceed 2^53.
 *
 * Errors are one line, "NAME: byte K: what", K the 0-based offset.
 * Nothing here prints (except to the FILE a writer is given) or exits.
 */
#ifndef UNROLL_JSON_H
#define UNROLL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

#define JSON_MAX_DEPTH 64

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value {
    json_type type;
    int boolean;              /* JSON_BOOL */
    double num;               /* JSON_NUMBER */
    int is_int;               /* the number was written as an integer that fits int64 */
    int64_t i;                /* its exact value when is_int */
    char *str;                /* JSON_STRING: NUL-terminated UTF-8 (no NUL inside) */
    int n;                    /* JSON_ARRAY, JSON_OBJECT: number of items */
    struct json_value *items; /* [n] */
    char **keys;              /* JSON_OBJECT: [n] keys, in document order */
} json_value;

/* Parses len bytes at text. name labels errors. On failure *out holds
 * nothing to free. */
int json_parse(const char *name, const char *text, size_t len, json_value *out, uerr *e);
void json_free(json_value *v);

/* The member called key of an object, or NULL (also for a non-object). */
const json_value *json_get(const json_value *obj, const char *key);

/* Writes s as a JSON string (quotes included). Control characters and
 * the quote and backslash are escaped; other bytes pass through. */
void json_write_string(FILE *f, const char *s);
/* Writes a number that reads back to exactly v (%.17g); NaN and the
 * infinities, which JSON cannot express, as null. */
void json_write_number(FILE *f, double v);

#endif
