/*
 * text.h - character-level text data: UTF-8 decoding, the vocabulary and
 * the train/validation split.
 *
 * The unit of text is the Unicode code point, never the byte, so a model
 * trained on "café" has one id for 'é', not two byte ids.
 *
 * Invariants:
 * - Decoding is strict: a bad lead byte, a truncated sequence, an overlong
 *   encoding, a surrogate (U+D800..U+DFFF) or a value above U+10FFFF is an
 *   error "NAME: invalid UTF-8 at byte K", K being the 0-based offset of the
 *   first byte of the offending sequence (as Python reports it). A byte
 *   order mark is an ordinary code point (U+FEFF) and is kept.
 * - The vocabulary holds the distinct code points of the TRAINING part only,
 *   sorted ascending by code point, so ids do not depend on the order of the
 *   text and equal Python's sorted(set(train_text)).
 * - valid_fraction f in [0, 1) splits off the last floor(f * N) code points
 *   as validation text. Validation code points absent from the vocabulary
 *   map to one "unknown" id appended after the known ones
 *   (id == n_known); that id exists only if such a code point occurs.
 * - Everything returned is owned by the caller and released by the matching
 *   _free function, which also accepts a zeroed or already-freed struct.
 */
#ifndef UNROLL_TEXT_H
#define UNROLL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Bytes of the longest UTF-8 sequence plus its NUL. */
#define TEXT_UTF8_MAX 5

/* What the unknown id prints as when sampled: U+FFFD REPLACEMENT CHARACTER. */
#define TEXT_UNKNOWN_CP 0xFFFDu

typedef struct text_vocab {
    int32_t size;                /* number of ids: n_known, plus 1 if unknown >= 0 */
    int32_t n_known;             /* distinct training code points */
    int32_t unknown;             /* id of the unknown symbol (== n_known), or -1 */
    uint32_t *cp;                /* [n_known] code point of each known id, ascending */
    char (*utf8)[TEXT_UTF8_MAX]; /* [size] NUL-terminated UTF-8 of each id */
} text_vocab;

typedef struct text_corpus {
    text_vocab vocab;
    int32_t *train; /* [n_train] ids, all < vocab.n_known */
    int64_t n_train;
    int32_t *valid; /* [n_valid] ids, NULL when n_valid == 0 */
    int64_t n_valid;
} text_corpus;

/* Decodes len bytes of UTF-8 into *cp ([*n] code points, caller frees with
 * free()). name labels errors ("data/x.txt", "prime text"). An empty buffer
 * is the error "NAME: empty text". */
int text_decode(const char *name, const void *bytes, size_t len, uint32_t **cp, int64_t *n,
                uerr *e);

/* The bytes of a data file (text or TSV; a pipe or /dev/stdin too) into
 * *buf (malloc'd, NUL-terminated). A file of more than max bytes
 * (data.max_bytes; 0: TEXT_MAX_BYTES) is refused naming the key; a
 * missing file is "PATH: no such file"; other failures name the file and
 * the system's reason. */
#define TEXT_MAX_BYTES ((uint64_t)4 << 30)
int text_read_bytes(const char *path, uint64_t max, char **buf, size_t *len, uerr *e);

/* text_decode of a whole file read by text_read_bytes. */
int text_read_file(const char *path, uint64_t max, uint32_t **cp, int64_t *n, uerr *e);

/* Builds the vocabulary from the first N - floor(f * N) code points and
 * encodes both parts. name labels errors. */
int text_corpus_from_codepoints(const char *name, const uint32_t *cp, int64_t n,
                                double valid_fraction, text_corpus *out, uerr *e);
int text_corpus_from_buffer(const char *name, const void *bytes, size_t len, double valid_fraction,
                            text_corpus *out, uerr *e);
int text_corpus_load(const char *path, uint64_t max, double valid_fraction, text_corpus *out,
                     uerr *e);
void text_corpus_free(text_corpus *c);

/* Rebuilds a vocabulary from its code points (e.g. read back from a
 * checkpoint): cp must be strictly ascending valid scalar values. */
int text_vocab_init(text_vocab *v, const uint32_t *cp, int32_t n_known, int with_unknown, uerr *e);
void text_vocab_free(text_vocab *v);

/* Id of code point c, or -1 if it is not in the vocabulary (the unknown id
 * is never returned: whether to substitute it is the caller's choice). */
int32_t text_vocab_find(const text_vocab *v, uint32_t c);

/* NUL-terminated UTF-8 of an id (U+FFFD for the unknown id), or NULL if id
 * is out of range. The string lives as long as the vocabulary. */
const char *text_vocab_utf8(const text_vocab *v, int32_t id);

/* Encodes n code points into ids: one the vocabulary lacks maps to its
 * unknown id, or, where it has none, is the error "NAME: 'x' (U+0078) at
 * position K is not in the vocabulary" (K from 0; a control character
 * by its number alone). */
int text_encode(const text_vocab *v, const char *name, const uint32_t *cp, int64_t n, int32_t *ids,
                uerr *e);

/* Encodes a prime (seed) text for sampling with text_encode (name "prime
 * text"). *ids ([*n], caller frees with free()) is never NULL on
 * success, even for an empty prime. */
int text_encode_prime(const text_vocab *v, const char *utf8, size_t len, int32_t **ids, int64_t *n,
                      uerr *e);

/* Writes the UTF-8 of scalar value c and a NUL into out; returns the byte
 * count (1..4), or 0 if c is a surrogate or above U+10FFFF. */
int text_utf8_encode(uint32_t c, char out[TEXT_UTF8_MAX]);

#endif
