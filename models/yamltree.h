/*
 * yamltree.h - a YAML document as a small owned tree, read with libyaml.
 *
 * Only the part of YAML a config needs survives: mappings, sequences and
 * scalars, each with the 1-based line and column it starts at, so every
 * later error can point at the exact place. Whatever would make a config
 * ambiguous or expensive is rejected with one line `NAME:LINE:COL: message`:
 * anchors and aliases (the billion-laughs bomb), tags, duplicate keys,
 * non-scalar keys, more than one document, nesting deeper than
 * YTREE_MAX_DEPTH and input larger than YTREE_MAX_BYTES.
 *
 * Invariants of a tree returned by a successful parse:
 *   - every node belongs to the tree and is freed by ytree_free;
 *   - a mapping's keys are scalars and pairwise distinct (byte-wise);
 *   - depth <= YTREE_MAX_DEPTH (the root collection is depth 1), so code
 *     walking the tree may recurse;
 *   - scalar text is valid UTF-8 (libyaml decodes to UTF-8) and
 *     NUL-terminated; it may still hold a NUL byte written as "\0", so
 *     `len`, not strlen, is its length.
 * Nothing here prints, exits or aborts; failures come back through uerr.
 */
#ifndef UNROLL_YAMLTREE_H
#define UNROLL_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

#define YTREE_MAX_BYTES (1024 * 1024)
#define YTREE_MAX_DEPTH 32

typedef enum ytree_kind {
    YTREE_SCALAR = 0,
    YTREE_SEQ = 1,
    YTREE_MAP = 2,
} ytree_kind;

typedef struct ytree_node ytree_node;
struct ytree_node {
    ytree_kind kind;
    int line, col;     /* 1-based position of the node's first character */
    bool quoted;       /* scalar not plain: '...', "...", | or > */
    char *text;        /* scalar: the value, NUL-terminated */
    size_t len;        /* scalar: bytes in text */
    size_t n;          /* sequence: items; mapping: key/value pairs */
    ytree_node **kids; /* sequence: n items; mapping: 2n, key i at [2i],
                          its value at [2i+1] */
};

typedef struct ytree {
    char *name;       /* display name used in messages (a path or "<stdin>") */
    ytree_node *root; /* NULL when the stream holds no document at all */
} ytree;

/* Parses len bytes of buf (need not be NUL-terminated). On success *out
 * owns a new tree; on failure *out is NULL, e holds the message. */
int ytree_parse_buffer(ytree **out, const char *name, const char *buf, size_t len, uerr *e);
int ytree_parse_file(ytree **out, const char *path, uerr *e);

/* Reads a whole file of at most YTREE_MAX_BYTES into a new NUL-terminated
 * buffer (*len excludes the NUL). Shared with spec, which keeps the text. */
int ytree_read_file(const char *path, char **text, size_t *len, uerr *e);

void ytree_free(ytree *t);

/* The value stored under key in a mapping, or NULL (also when map is NULL
 * or not a mapping). If key_node is non-NULL it receives the key. */
const ytree_node *ytree_map_get(const ytree_node *map, const char *key,
                                const ytree_node **key_node);

/* A plain scalar YAML reads as null: empty, ~, null, Null, NULL. */
bool ytree_is_null(const ytree_node *n);

/* "a scalar", "a sequence", "a mapping": for "found ..." messages. */
const char *ytree_kind_name(ytree_kind k);

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool ytree_utf8_valid(const char *s, size_t len);

/* s[0..len) made safe for a one-line message into buf: control bytes and
 * invalid UTF-8 become \n, \t or \xHH, and text past about 60 bytes is cut
 * with "...". Returns buf. */
char *ytree_show(char *buf, size_t n, const char *s, size_t len);

/* Writes a scalar so that libyaml reads back exactly s[0..len): plain when
 * that is unambiguous, double-quoted with escapes otherwise. With
 * as_string, text a YAML reader could take for a number, bool or null
 * ("12", "true", "~") is quoted as well. */
void ytree_write_scalar(FILE *f, const char *s, size_t len, bool as_string);

/* Writes node as the value that follows "key:" or "-" already on the
 * current line: " scalar\n", " {}\n", " [a, b]\n" for a short list of
 * scalars, or a newline and a block indented by indent spaces. libyaml
 * reads the output back to the same tree (positions aside). Quoted
 * scalars stay quoted and plain ones plain, so the type a YAML reader
 * infers does not change; the one exception is a plain scalar with no
 * one-line plain spelling (folded over lines), which is written quoted. */
void ytree_write_value(FILE *f, const ytree_node *node, int indent);

#endif
