/*
 * text.c - UTF-8 text as code points, its vocabulary and its split.
 * See text.h for the contract. Decoding follows Unicode's table of
 * well-formed byte sequences (Table 3-7), which rejects overlongs and
 * surrogates by narrowing the range of the second byte rather than by
 * checking the decoded value afterwards.
 */
#include "train/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/file.h"
#include "base/utf8.h"

#define TEXT_CP_LIMIT 0x110000u /* one past U+10FFFF */

/* the NUL-terminated form the vocabulary keeps */
int text_utf8_encode(uint32_t c, char out[TEXT_UTF8_MAX])
{
    int n = utf8_encode(c, out);
    out[n] = '\0';
    return n;
}

/* Two passes (validate and count, then decode) so a large file costs
 * 4 bytes per code point rather than 4 per byte. An empty input is allowed
 * here: a prime text may be empty, a training text may not. */
static int text_decode_any(const char *name, const uint8_t *s, size_t len, uint32_t **cp,
                           int64_t *n, uerr *e)
{
    *cp = NULL;
    *n = 0;
    int64_t count = 0;
    uint32_t c;
    for (size_t i = 0; i < len;) {
        int k = utf8_decode(s + i, len - i, &c);
        if (k == 0)
            return uerr_set(e, UERR_USER, "%s: invalid UTF-8 at byte %zu", name, i);
        i += (size_t)k;
        count++;
    }
    uint32_t *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    if (!out)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory for %lld code points", name,
                        (long long)count);
    int64_t j = 0;
    for (size_t i = 0; i < len; j++)
        i += (size_t)utf8_decode(s + i, len - i, &out[j]);
    *cp = out;
    *n = count;
    return 0;
}

int text_decode(const char *name, const void *bytes, size_t len, uint32_t **cp, int64_t *n, uerr *e)
{
    *cp = NULL;
    *n = 0;
    if (len == 0)
        return uerr_set(e, UERR_USER, "%s: empty text", name);
    return text_decode_any(name, bytes, len, cp, n, e);
}

/* Reads with a growing buffer rather than fstat so pipes and /dev/stdin
 * work too; a source that never ends (/dev/zero) stops at max. */
int text_read_bytes(const char *path, uint64_t max, char **buf, size_t *len, uerr *e)
{
    char mb[BYTES_STR_MAX];
    if (!max)
        max = TEXT_MAX_BYTES;
    int rc = file_read_all(path, max > SIZE_MAX ? SIZE_MAX : (size_t)max, buf, len);
    if (rc == FILE_NOT_OPENED && errno == ENOENT)
        return uerr_set(e, UERR_USER, "%s: no such file", path);
    if (rc == FILE_NOT_OPENED)
        return uerr_set(e, UERR_USER, "%s: %s", path, strerror(errno));
    if (rc == FILE_NO_MEMORY)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    if (rc == FILE_TOO_LARGE)
        return uerr_set(e, UERR_USER,
                        "%s: more than %s (data.max_bytes); refusing to read on (raise "
                        "data.max_bytes to read it)",
                        path, bytes_str((size_t)max, mb));
    if (rc)
        return uerr_set(e, UERR_USER, "%s: %s", path, errno ? strerror(errno) : "read error");
    return 0;
}

int text_read_file(const char *path, uint64_t max, uint32_t **cp, int64_t *n, uerr *e)
{
    *cp = NULL;
    *n = 0;
    char *buf;
    size_t len;
    int rc = text_read_bytes(path, max, &buf, &len, e);
    if (rc)
        return rc;
    rc = text_decode(path, buf, len, cp, n, e);
    free(buf);
    return rc;
}

void text_vocab_free(text_vocab *v)
{
    if (!v)
        return;
    free(v->cp);
    free(v->utf8);
    memset(v, 0, sizeof *v);
}

int text_vocab_init(text_vocab *v, const uint32_t *cp, int32_t n_known, int with_unknown, uerr *e)
{
    memset(v, 0, sizeof *v);
    v->unknown = -1;
    if (n_known < 0 || n_known >= INT32_MAX)
        return uerr_set(e, UERR_INTERNAL, "vocabulary: bad size %ld", (long)n_known);
    for (int32_t i = 0; i < n_known; i++) {
        if (!utf8_scalar(cp[i]))
            return uerr_set(e, UERR_USER, "vocabulary: U+%04lX is not a Unicode scalar value",
                            (unsigned long)cp[i]);
        if (i > 0 && cp[i] <= cp[i - 1])
            return uerr_set(e, UERR_USER,
                            "vocabulary: code points not strictly ascending at "
                            "id %ld (U+%04lX after U+%04lX)",
                            (long)i, (unsigned long)cp[i], (unsigned long)cp[i - 1]);
    }
    int32_t size = n_known + (with_unknown ? 1 : 0);
    v->cp = malloc((size_t)(n_known ? n_known : 1) * sizeof *v->cp);
    v->utf8 = malloc((size_t)(size ? size : 1) * sizeof *v->utf8);
    if (!v->cp || !v->utf8) {
        text_vocab_free(v);
        v->unknown = -1;
        return uerr_set(e, UERR_INTERNAL, "vocabulary: out of memory for %ld ids", (long)size);
    }
    if (n_known)
        memcpy(v->cp, cp, (size_t)n_known * sizeof *cp);
    for (int32_t i = 0; i < n_known; i++)
        text_utf8_encode(cp[i], v->utf8[i]);
    v->n_known = n_known;
    v->size = size;
    if (with_unknown) {
        v->unknown = n_known;
        text_utf8_encode(TEXT_UNKNOWN_CP, v->utf8[n_known]);
    }
    return 0;
}

int32_t text_vocab_find(const text_vocab *v, uint32_t c)
{
    int32_t lo = 0, hi = v->n_known; /* search [lo, hi) */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (v->cp[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_known && v->cp[lo] == c ? lo : -1;
}

const char *text_vocab_utf8(const text_vocab *v, int32_t id)
{
    if (id < 0 || id >= v->size)
        return NULL;
    return v->utf8[id];
}

void text_corpus_free(text_corpus *c)
{
    if (!c)
        return;
    text_vocab_free(&c->vocab);
    free(c->train);
    free(c->valid);
    memset(c, 0, sizeof *c);
    c->vocab.unknown = -1;
}

/* A bitmap over all of Unicode (139 KB) marks the training code points; a
 * scan of it yields them already sorted, in time linear in the text.
 *
 * reuse: NULL, or cp itself, which the caller gives up: the training ids
 * are then written over the code points they replace (an id and a code
 * point are both 4 bytes) and the block becomes out->train. A text of N
 * characters then peaks at 4N bytes of ids and code points instead of 8N
 * (the demo text: 7.5 MiB less at startup). On failure the caller still
 * owns cp. */
static int corpus_build(const char *name, const uint32_t *cp, int64_t n, double valid_fraction,
                        text_corpus *out, uint32_t *reuse, uerr *e)
{
    memset(out, 0, sizeof *out);
    out->vocab.unknown = -1;
    if (!(valid_fraction >= 0.0 && valid_fraction < 1.0))
        return uerr_set(e, UERR_USER, "%s: valid_fraction must be in [0, 1), got %g", name,
                        valid_fraction);
    if (n <= 0)
        return uerr_set(e, UERR_USER, "%s: empty text", name);
    int64_t n_valid = (int64_t)floor(valid_fraction * (double)n);
    if (n_valid >= n) /* only by rounding, for f just below 1 */
        return uerr_set(e, UERR_USER, "%s: valid_fraction %g leaves no training text", name,
                        valid_fraction);
    int64_t n_train = n - n_valid;

    enum { WORDS = TEXT_CP_LIMIT / 32 };
    uint32_t *seen = calloc(WORDS, sizeof *seen);
    if (!seen)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
    for (int64_t i = 0; i < n; i++) {
        if (!utf8_scalar(cp[i])) {
            free(seen);
            return uerr_set(e, UERR_USER,
                            "%s: code point %lld (U+%04lX) is not a Unicode "
                            "scalar value",
                            name, (long long)i, (unsigned long)cp[i]);
        }
        if (i < n_train)
            seen[cp[i] >> 5] |= 1u << (cp[i] & 31);
    }
    int need_unknown = 0;
    for (int64_t i = n_train; i < n && !need_unknown; i++)
        need_unknown = !(seen[cp[i] >> 5] & (1u << (cp[i] & 31)));

    int32_t n_known = 0;
    for (uint32_t w = 0; w < WORDS; w++)
        for (uint32_t bits = seen[w]; bits; bits &= bits - 1)
            n_known++;
    uint32_t *known = malloc((size_t)n_known * sizeof *known);
    if (!known) {
        free(seen);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
    }
    int32_t k = 0;
    for (uint32_t w = 0; w < WORDS; w++)
        if (seen[w])
            for (uint32_t b = 0; b < 32; b++)
                if (seen[w] & (1u << b))
                    known[k++] = w * 32 + b;
    free(seen);
    int rc = text_vocab_init(&out->vocab, known, n_known, need_unknown, e);
    free(known);
    if (rc) {
        uerr_prefix(e, "%s", name);
        return rc;
    }

    out->train = reuse ? NULL : malloc((size_t)n_train * sizeof *out->train);
    out->valid = n_valid ? malloc((size_t)n_valid * sizeof *out->valid) : NULL;
    if ((!reuse && !out->train) || (n_valid && !out->valid)) {
        text_corpus_free(out);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory for %lld ids", name, (long long)n);
    }
    /* the validation part first: with reuse, the training ids overwrite
     * only [0, n_train) */
    for (int64_t i = 0; i < n_valid; i++) {
        int32_t id = text_vocab_find(&out->vocab, cp[n_train + i]);
        out->valid[i] = id >= 0 ? id : out->vocab.unknown;
    }
    if (reuse) {
        /* int32_t and uint32_t may alias (C11 6.5p7). The block keeps its
         * n entries; the last n_valid are not read again. */
        int32_t *ids = (int32_t *)reuse;
        for (int64_t i = 0; i < n_train; i++)
            ids[i] = text_vocab_find(&out->vocab, reuse[i]);
        out->train = ids;
    } else {
        for (int64_t i = 0; i < n_train; i++)
            out->train[i] = text_vocab_find(&out->vocab, cp[i]);
    }
    out->n_train = n_train;
    out->n_valid = n_valid;
    return 0;
}

int text_corpus_from_codepoints(const char *name, const uint32_t *cp, int64_t n,
                                double valid_fraction, text_corpus *out, uerr *e)
{
    return corpus_build(name, cp, n, valid_fraction, out, NULL, e);
}

int text_corpus_from_buffer(const char *name, const void *bytes, size_t len, double valid_fraction,
                            text_corpus *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    out->vocab.unknown = -1;
    uint32_t *cp;
    int64_t n;
    int rc = text_decode(name, bytes, len, &cp, &n, e);
    if (rc)
        return rc;
    rc = corpus_build(name, cp, n, valid_fraction, out, cp, e);
    if (rc)
        free(cp);
    return rc;
}

int text_corpus_load(const char *path, uint64_t max, double valid_fraction, text_corpus *out,
                     uerr *e)
{
    memset(out, 0, sizeof *out);
    out->vocab.unknown = -1;
    uint32_t *cp;
    int64_t n;
    int rc = text_read_file(path, max, &cp, &n, e);
    if (rc)
        return rc;
    rc = corpus_build(path, cp, n, valid_fraction, out, cp, e);
    if (rc)
        free(cp);
    return rc;
}

/* Control characters are named by number only, so the message stays on
 * one line and prints safely. */
static int text_printable(uint32_t c)
{
    return c >= 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0);
}

int text_encode(const text_vocab *v, const char *name, const uint32_t *cp, int64_t n, int32_t *ids,
                uerr *e)
{
    for (int64_t i = 0; i < n; i++) {
        ids[i] = text_vocab_find(v, cp[i]);
        if (ids[i] >= 0)
            continue;
        if (v->unknown >= 0) {
            ids[i] = v->unknown;
            continue;
        }
        char s[TEXT_UTF8_MAX];
        text_utf8_encode(cp[i], s);
        if (text_printable(cp[i]))
            return uerr_set(e, UERR_USER,
                            "%s: '%s' (U+%04lX) at position %lld is not in the vocabulary", name, s,
                            (unsigned long)cp[i], (long long)i);
        return uerr_set(e, UERR_USER, "%s: U+%04lX at position %lld is not in the vocabulary", name,
                        (unsigned long)cp[i], (long long)i);
    }
    return 0;
}

int text_encode_prime(const text_vocab *v, const char *utf8, size_t len, int32_t **ids, int64_t *n,
                      uerr *e)
{
    *ids = NULL;
    *n = 0;
    uint32_t *cp;
    int64_t count;
    int rc = text_decode_any("prime text", (const uint8_t *)utf8, len, &cp, &count, e);
    if (rc)
        return rc;
    int32_t *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    if (!out) {
        free(cp);
        return uerr_set(e, UERR_INTERNAL, "prime text: out of memory");
    }
    rc = text_encode(v, "prime text", cp, count, out, e);
    free(cp);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = count;
    return 0;
}
