/* json.c - see json.h. */
#include "store/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/vec.h"

typedef struct json_parser {
    const char *name;
    const unsigned char *p, *start, *end;
    uerr *e;
} json_parser;

static int json_err(json_parser *ps, const char *what)
{
    return uerr_set(ps->e, UERR_USER, "%s: byte %ld: %s", ps->name, (long)(ps->p - ps->start),
                    what);
}

static int json_oom(json_parser *ps)
{
    return uerr_set(ps->e, UERR_INTERNAL, "%s: out of memory reading JSON", ps->name);
}

static void json_ws(json_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

void json_free(json_value *v)
{
    if (!v)
        return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

/* A growable byte buffer for decoded strings. */
typedef struct json_buf {
    char *b;
    size_t n, cap;
} json_buf;

static int json_put(json_buf *b, const char *s, size_t n)
{
    if (VEC_GROW(b->b, b->cap, b->n + n + 1))
        return -1;
    memcpy(b->b + b->n, s, n);
    b->n += n;
    b->b[b->n] = '\0';
    return 0;
}

static int json_hex4(json_parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return json_err(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = ps->p[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10u
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10u
                                            : 16u;
        if (d == 16)
            return json_err(ps, "bad \\u escape");
        v = v << 4 | d;
    }
    ps->p += 4;
    *out = v;
    return 0;
}

/* Parses a string at ps->p (which is at the opening quote). */
static int json_string(json_parser *ps, char **out)
{
    json_buf b = {0};
    ps->p++;
    int rc = 0;
    for (;;) {
        if (ps->p >= ps->end) {
            rc = json_err(ps, "unterminated string");
            break;
        }
        unsigned char c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            rc = json_err(ps, "control character in a string");
            break;
        }
        if (c != '\\') {
            uint32_t cp;
            int n = utf8_decode(ps->p, (size_t)(ps->end - ps->p), &cp);
            if (!n) {
                rc = json_err(ps, "invalid UTF-8 in a string");
                break;
            }
            if (json_put(&b, (const char *)ps->p, (size_t)n)) {
                rc = json_oom(ps);
                break;
            }
            ps->p += n;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            rc = json_err(ps, "unterminated string");
            break;
        }
        char esc = (char)*ps->p++, one = 0;
        switch (esc) {
        case '"':
            one = '"';
            break;
        case '\\':
            one = '\\';
            break;
        case '/':
            one = '/';
            break;
        case 'b':
            one = '\b';
            break;
        case 'f':
            one = '\f';
            break;
        case 'n':
            one = '\n';
            break;
        case 'r':
            one = '\r';
            break;
        case 't':
            one = '\t';
            break;
        case 'u':
            break;
        default:
            rc = json_err(ps, "unknown escape");
            break;
        }
        if (rc)
            break;
        if (esc != 'u') {
            if (json_put(&b, &one, 1)) {
                rc = json_oom(ps);
                break;
            }
            continue;
        }
        unsigned u;
        if ((rc = json_hex4(ps, &u)))
            break;
        if (u >= 0xdc00 && u <= 0xdfff) {
            rc = json_err(ps, "lone low surrogate escape");
            break;
        }
        if (u >= 0xd800 && u <= 0xdbff) {
            unsigned lo;
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                rc = json_err(ps, "lone high surrogate escape");
                break;
            }
            ps->p += 2;
            if ((rc = json_hex4(ps, &lo)))
                break;
            if (lo < 0xdc00 || lo > 0xdfff) {
                rc = json_err(ps, "bad surrogate pair");
                break;
            }
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (u == 0) {
            /* A NUL would silently cut the C string short. */
            rc = json_err(ps, "\\u0000 is not allowed here");
            break;
        }
        char enc[UTF8_MAX];
        if (json_put(&b, enc, (size_t)utf8_encode(u, enc))) {
            rc = json_oom(ps);
            break;
        }
    }
    if (!rc && !b.b && json_put(&b, "", 0))
        rc = json_oom(ps);
    if (rc) {
        free(b.b);
        return rc;
    }
    *out = b.b;
    return 0;
}

static int json_number(json_parser *ps, json_value *v)
{
    const unsigned char *s = ps->p, *q = s;
    int integer = 1;
    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end || *q < '0' || *q > '9')
        return json_err(ps, "expected a value");
    if (*q == '0') {
        q++;
        if (q < ps->end && *q >= '0' && *q <= '9')
            return json_err(ps, "leading zero in a number");
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && *q == '.') {
        integer = 0;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return json_err(ps, "expected a digit after '.'");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = 0;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return json_err(ps, "expected a digit in the exponent");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    /* strtod needs a terminated copy: the input need not be one. */
    char tmp[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof tmp)
        return json_err(ps, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    v->type = JSON_NUMBER;
    v->num = strtod(tmp, NULL);
    if (integer) {
        errno = 0;
        long long ll = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            v->is_int = 1;
            v->i = ll;
        }
    }
    ps->p = q;
    return 0;
}

static int json_value_at(json_parser *ps, json_value *v, int depth);

static int json_grow(json_value *v, int *cap, int with_keys)
{
    int kcap = *cap; /* keys grow with the items */
    if (with_keys && VEC_GROW(v->keys, kcap, v->n + 1))
        return -1;
    return VEC_GROW(v->items, *cap, v->n + 1);
}

/* The keys of one object seen so far, for the duplicate check: open
 * addressing over key indices (index + 1; 0 is an empty slot), at most
 * half full. A pairwise scan would be quadratic, and a safetensors header
 * may be 100 MB: a few megabytes of distinct keys would stall the reader
 * for minutes. */
typedef struct json_keyset {
    size_t *slot;
    size_t cap; /* a power of two, or 0 before the first key */
} json_keyset;

static size_t json_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

/* Adds key as index n, keys[0..n) being in the set already: 0 when
 * added, 1 when one of them equals it, -1 when out of memory. */
static int json_keyset_add(json_keyset *ks, char *const *keys, int n, const char *key)
{
    if ((size_t)n + 1 > ks->cap / 2) {
        size_t cap = ks->cap ? 2 * ks->cap : 16;
        size_t *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (int i = 0; i < n; i++) {
            size_t h = json_hash(keys[i]) & (cap - 1);
            while (slot[h])
                h = (h + 1) & (cap - 1);
            slot[h] = (size_t)i + 1;
        }
        free(ks->slot);
        ks->slot = slot;
        ks->cap = cap;
    }
    size_t mask = ks->cap - 1, h = json_hash(key) & mask;
    for (; ks->slot[h]; h = (h + 1) & mask)
        if (!strcmp(keys[ks->slot[h] - 1], key))
            return 1;
    ks->slot[h] = (size_t)n + 1;
    return 0;
}

static int json_members(json_parser *ps, json_value *v, int depth, json_keyset *ks);

static int json_container(json_parser *ps, json_value *v, int depth)
{
    json_keyset ks = {0};
    int rc = json_members(ps, v, depth, &ks);
    free(ks.slot);
    return rc;
}

static int json_members(json_parser *ps, json_value *v, int depth, json_keyset *ks)
{
    int obj = *ps->p == '{';
    char close = obj ? '}' : ']';
    v->type = obj ? JSON_OBJECT : JSON_ARRAY;
    if (depth >= JSON_MAX_DEPTH)
        return json_err(ps, "nested too deeply");
    ps->p++;
    json_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    int cap = 0, rc;
    for (;;) {
        json_ws(ps);
        char *key = NULL;
        if (obj) {
            if (ps->p >= ps->end || *ps->p != '"')
                return json_err(ps, "expected a string key");
            const unsigned char *at = ps->p;
            if ((rc = json_string(ps, &key)))
                return rc;
            int dup = json_keyset_add(ks, v->keys, v->n, key);
            if (dup) {
                free(key);
                if (dup < 0)
                    return json_oom(ps);
                ps->p = at;
                return json_err(ps, "duplicate key");
            }
            json_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return json_err(ps, "expected ':'");
            }
            ps->p++;
        }
        if (json_grow(v, &cap, obj)) {
            free(key);
            return json_oom(ps);
        }
        json_value *it = &v->items[v->n];
        memset(it, 0, sizeof *it);
        if (obj)
            v->keys[v->n] = key;
        v->n++;
        if ((rc = json_value_at(ps, it, depth + 1)))
            return rc;
        json_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return json_err(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int json_word(json_parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return json_err(ps, "expected a value");
    ps->p += n;
    return 0;
}

static int json_value_at(json_parser *ps, json_value *v, int depth)
{
    json_ws(ps);
    if (ps->p >= ps->end)
        return json_err(ps, "expected a value, found the end");
    switch (*ps->p) {
    case '{':
    case '[':
        return json_container(ps, v, depth);
    case '"':
        v->type = JSON_STRING;
        return json_string(ps, &v->str);
    case 't':
        v->type = JSON_BOOL;
        v->boolean = 1;
        return json_word(ps, "true");
    case 'f':
        v->type = JSON_BOOL;
        return json_word(ps, "false");
    case 'n':
        v->type = JSON_NULL;
        return json_word(ps, "null");
    default:
        return json_number(ps, v);
    }
}

int json_parse(const char *name, const char *text, size_t len, json_value *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    json_parser ps = {name, (const unsigned char *)text, (const unsigned char *)text,
                      (const unsigned char *)text + len, e};
    int rc = json_value_at(&ps, out, 0);
    if (!rc) {
        json_ws(&ps);
        if (ps.p != ps.end)
            rc = json_err(&ps, "unexpected text after the value");
    }
    if (rc)
        json_free(out);
    return rc;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return &obj->items[i];
    return NULL;
}

void json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_write_number(FILE *f, double v)
{
    if (!isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.17g", v);
}
