/*
 * yamltree.c - libyaml events folded into an owned tree (see yamltree.h).
 *
 * The builder keeps an explicit stack of the collections still open; a
 * node is attached to its parent the moment it starts, so at any instant
 * every node allocated so far hangs off the root and one ytree_free
 * releases everything, whatever event the parse fails on. Checks that can
 * reject an event (anchor, tag, depth, key kind, duplicate) run before the
 * node for it is allocated or right after, before it is attached.
 *
 * Duplicate keys are found with a small open-addressing table per open
 * mapping: a 1 MiB document can hold ~150k keys, and a pairwise scan of
 * those would let one crafted file stall the loader for minutes.
 */
#include "models/yamltree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/file.h"
#include "base/utf8.h"
#include "base/vec.h"

typedef struct ytree_frame {
    ytree_node *node;
    size_t used;   /* kids in use (a mapping: keys and values interleaved) */
    size_t cap;    /* kids allocated */
    size_t *slots; /* mapping: key index + 1 per slot, 0 = empty */
    size_t nslots; /* a power of two, or 0 before the first key */
} ytree_frame;

typedef struct ytree_builder {
    const char *name;
    const char *buf;
    size_t len;
    ytree_node *root;
    ytree_frame stack[YTREE_MAX_DEPTH];
    int depth;
    int ndocs;
    uerr *e;
} ytree_builder;

/* ---- UTF-8 ---------------------------------------------------------- */

bool ytree_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = (size_t)utf8_decode(u + i, len - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* ---- small helpers -------------------------------------------------- */

const char *ytree_kind_name(ytree_kind k)
{
    switch (k) {
    case YTREE_SCALAR:
        return "a scalar";
    case YTREE_SEQ:
        return "a sequence";
    case YTREE_MAP:
        return "a mapping";
    }
    return "a node";
}

char *ytree_show(char *buf, size_t n, const char *s, size_t len)
{
    /* Room for the longest escape (\xHH or a 4-byte sequence), "..." and
     * the NUL; keeping 60 bytes of input keeps the message on one
     * readable line. */
    const size_t keep = 60;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    if (n == 0)
        return buf;
    for (size_t i = 0; i < len;) {
        char tmp[8];
        size_t tn;
        uint32_t cp;
        size_t k = 0;
        if (i >= keep) {
            if (o + 3 < n) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (u[i] == '\n') {
            memcpy(tmp, "\\n", 2), tn = 2;
        } else if (u[i] == '\t') {
            memcpy(tmp, "\\t", 2), tn = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7F) {
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", u[i]);
        } else if (u[i] < 0x80) {
            tmp[0] = (char)u[i], tn = 1;
        } else if ((k = (size_t)utf8_decode(u + i, len - i, &cp)) != 0 && cp >= 0xA0) {
            memcpy(tmp, u + i, k), tn = k;
        } else {
            tn = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", u[i]);
            k = 0;
        }
        if (o + tn >= n)
            break;
        memcpy(buf + o, tmp, tn);
        o += tn;
        i += k ? k : 1;
    }
    buf[o] = '\0';
    return buf;
}

bool ytree_is_null(const ytree_node *n)
{
    if (!n || n->kind != YTREE_SCALAR || n->quoted)
        return false;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (n->len == strlen(nulls[i]) && !memcmp(n->text, nulls[i], n->len))
            return true;
    return false;
}

const ytree_node *ytree_map_get(const ytree_node *map, const char *key, const ytree_node **key_node)
{
    if (key_node)
        *key_node = NULL;
    if (!map || map->kind != YTREE_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const ytree_node *k = map->kids[2 * i];
        if (k->len == klen && !memcmp(k->text, key, klen)) {
            if (key_node)
                *key_node = k;
            return map->kids[2 * i + 1];
        }
    }
    return NULL;
}

/* ---- freeing -------------------------------------------------------- */

/* Depth is bounded by YTREE_MAX_DEPTH, so recursion is safe here. A
 * mapping whose last key still waits for its value has a NULL slot. */
static void ytree_node_free(ytree_node *n)
{
    if (!n)
        return;
    size_t nk = n->kind == YTREE_MAP ? 2 * n->n : n->kind == YTREE_SEQ ? n->n : 0;
    for (size_t i = 0; i < nk; i++)
        ytree_node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

void ytree_free(ytree *t)
{
    if (!t)
        return;
    ytree_node_free(t->root);
    free(t->name);
    free(t);
}

/* ---- building ------------------------------------------------------- */

static int ytree_at(ytree_builder *b, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ytree_at(ytree_builder *b, yaml_mark_t m, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return uerr_set(b->e, UERR_USER, "%s:%zu:%zu: %s", b->name, m.line + 1, m.column + 1, msg);
}

static int ytree_oom(ytree_builder *b)
{
    return uerr_set(b->e, UERR_INTERNAL, "%s: out of memory while reading YAML", b->name);
}

static uint64_t ytree_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool ytree_same_key(const ytree_node *a, const ytree_node *b)
{
    return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

/* Inserts key number idx of f's mapping into its table; the keys before
 * it are already in kids[0, 2, ..]. */
static int ytree_key_insert(ytree_frame *f, size_t idx, const ytree_node *key, size_t *dup)
{
    if ((idx + 1) * 2 > f->nslots) {
        size_t ns = f->nslots ? f->nslots * 2 : 16;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t j = 0; j < idx; j++) {
            const ytree_node *k = f->node->kids[2 * j];
            size_t h = (size_t)ytree_hash(k->text, k->len) & (ns - 1);
            while (slots[h])
                h = (h + 1) & (ns - 1);
            slots[h] = j + 1;
        }
        free(f->slots);
        f->slots = slots;
        f->nslots = ns;
    }
    size_t mask = f->nslots - 1;
    size_t h = (size_t)ytree_hash(key->text, key->len) & mask;
    while (f->slots[h]) {
        size_t j = f->slots[h] - 1;
        if (ytree_same_key(f->node->kids[2 * j], key)) {
            *dup = j;
            return 1;
        }
        h = (h + 1) & mask;
    }
    f->slots[h] = idx + 1;
    return 0;
}

static int ytree_append(ytree_builder *b, ytree_frame *f, ytree_node *kid)
{
    size_t old = f->cap;
    if (VEC_GROW(f->node->kids, f->cap, f->used + 1))
        return ytree_oom(b);
    memset(f->node->kids + old, 0, (f->cap - old) * sizeof *f->node->kids);
    f->node->kids[f->used++] = kid;
    f->node->n = f->node->kind == YTREE_MAP ? (f->used + 1) / 2 : f->used;
    return 0;
}

/* Attaches a fresh node to the open collection (or makes it the root).
 * Takes ownership of node: on failure it is freed here. */
static int ytree_attach(ytree_builder *b, ytree_node *node, yaml_mark_t m)
{
    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    ytree_frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == YTREE_MAP && f->used % 2 == 0) {
        if (node->kind != YTREE_SCALAR) {
            const char *kind = ytree_kind_name(node->kind);
            ytree_node_free(node);
            return ytree_at(b, m, "a mapping key must be a scalar, found %s", kind);
        }
        size_t dup = 0;
        int r = ytree_key_insert(f, f->used / 2, node, &dup);
        if (r < 0) {
            ytree_node_free(node);
            return ytree_oom(b);
        }
        if (r > 0) {
            char shown[256];
            int first = f->node->kids[2 * dup]->line;
            ytree_show(shown, sizeof shown, node->text, node->len);
            ytree_node_free(node);
            return ytree_at(b, m, "duplicate key '%s' (first at line %d)", shown, first);
        }
    }
    if (ytree_append(b, f, node)) {
        ytree_node_free(node);
        return -1;
    }
    return 0;
}

static ytree_node *ytree_new(ytree_kind kind, yaml_mark_t m)
{
    ytree_node *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        /* Marks past INT_MAX cannot occur: input is capped at 1 MiB. */
        n->line = (int)m.line + 1;
        n->col = (int)m.column + 1;
    }
    return n;
}

/* Tags are refused rather than ignored: `!!str 12` or `!!float 1` would
 * silently change a value's type for YAML readers but not for us. */
static const char *ytree_tag_shown(const unsigned char *tag, char *buf, size_t n)
{
    const char *t = (const char *)tag;
    const char *core = "tag:yaml.org,2002:";
    if (!strncmp(t, core, strlen(core))) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "!!%s", t + strlen(core));
        return ytree_show(buf, n, tmp, strlen(tmp));
    }
    return ytree_show(buf, n, t, strlen(t));
}

static int ytree_check_props(ytree_builder *b, yaml_mark_t m, const unsigned char *anchor,
                             const unsigned char *tag)
{
    if (anchor)
        return ytree_at(b, m, "anchors and aliases are not supported");
    if (tag) {
        char shown[200];
        return ytree_at(b, m, "tags are not supported (found '%s')",
                        ytree_tag_shown(tag, shown, sizeof shown));
    }
    return 0;
}

static int ytree_open(ytree_builder *b, ytree_kind kind, yaml_mark_t m, const unsigned char *anchor,
                      const unsigned char *tag)
{
    if (ytree_check_props(b, m, anchor, tag))
        return -1;
    if (b->depth == YTREE_MAX_DEPTH)
        return ytree_at(b, m, "nesting deeper than %d levels", YTREE_MAX_DEPTH);
    ytree_node *node = ytree_new(kind, m);
    if (!node)
        return ytree_oom(b);
    if (ytree_attach(b, node, m))
        return -1;
    ytree_frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    return 0;
}

static void ytree_close(ytree_builder *b)
{
    if (b->depth > 0) {
        ytree_frame *f = &b->stack[--b->depth];
        free(f->slots);
        memset(f, 0, sizeof *f);
    }
}

static int ytree_scalar(ytree_builder *b, const yaml_event_t *ev)
{
    if (ytree_check_props(b, ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag))
        return -1;
    ytree_node *node = ytree_new(YTREE_SCALAR, ev->start_mark);
    if (!node)
        return ytree_oom(b);
    node->len = ev->data.scalar.length;
    node->text = malloc(node->len + 1);
    if (!node->text) {
        ytree_node_free(node);
        return ytree_oom(b);
    }
    if (node->len)
        memcpy(node->text, ev->data.scalar.value, node->len);
    node->text[node->len] = '\0';
    node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return ytree_attach(b, node, ev->start_mark);
}

static int ytree_event(ytree_builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->ndocs++ > 0)
            return ytree_at(b, ev->start_mark, "more than one document (a config is one document)");
        if (ev->data.document_start.tag_directives.start !=
            ev->data.document_start.tag_directives.end)
            return ytree_at(b, ev->start_mark, "tags are not supported (found %%TAG)");
        return 0;
    case YAML_ALIAS_EVENT:
        return ytree_at(b, ev->start_mark, "anchors and aliases are not supported");
    case YAML_SCALAR_EVENT:
        return ytree_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return ytree_open(b, YTREE_SEQ, ev->start_mark, ev->data.sequence_start.anchor,
                          ev->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
        return ytree_open(b, YTREE_MAP, ev->start_mark, ev->data.mapping_start.anchor,
                          ev->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        ytree_close(b);
        return 0;
    default:
        return 0;
    }
}

/* libyaml's reader reports a byte offset, not a mark. */
static yaml_mark_t ytree_mark_of(const char *buf, size_t len, size_t off)
{
    yaml_mark_t m = {0, 0, 0};
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static int ytree_parser_error(ytree_builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return ytree_oom(b);
    case YAML_READER_ERROR: {
        yaml_mark_t m = ytree_mark_of(b->buf, b->len, p->problem_offset);
        if (p->problem_value != -1)
            return ytree_at(b, m, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value & 0xFFu);
        return ytree_at(b, m, "%s", problem);
    }
    default:
        if (p->context)
            return ytree_at(b, p->problem_mark, "%s (%s at %zu:%zu)", problem, p->context,
                            p->context_mark.line + 1, p->context_mark.column + 1);
        return ytree_at(b, p->problem_mark, "%s", problem);
    }
}

int ytree_parse_buffer(ytree **out, const char *name, const char *buf, size_t len, uerr *e)
{
    *out = NULL;
    if (len > YTREE_MAX_BYTES)
        return uerr_set(e, UERR_USER, "%s: config is larger than 1 MiB", name);
    ytree *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory while reading YAML", name);
    }
    ytree_builder b;
    memset(&b, 0, sizeof b);
    b.name = name;
    b.buf = buf;
    b.len = len;
    b.e = e;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        ytree_free(t);
        return ytree_oom(&b);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(len ? buf : ""), len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = ytree_parser_error(&b, &p);
            break;
        }
        yaml_event_type_t type = ev.type;
        rc = ytree_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc || type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    while (b.depth > 0)
        ytree_close(&b);
    t->root = b.root;
    if (rc) {
        ytree_free(t);
        return e && e->code ? e->code : UERR_USER;
    }
    *out = t;
    return 0;
}

int ytree_read_file(const char *path, char **text, size_t *len, uerr *e)
{
    int rc = file_read_all(path, YTREE_MAX_BYTES, text, len);
    if (rc == FILE_NOT_OPENED)
        return uerr_set(e, UERR_USER, "%s: cannot open: %s", path, strerror(errno));
    if (rc == FILE_NO_MEMORY)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    if (rc == FILE_READ_ERROR)
        return uerr_set(e, UERR_USER, "%s: cannot read: %s", path, strerror(errno));
    if (rc == FILE_TOO_LARGE)
        return uerr_set(e, UERR_USER, "%s: config is larger than 1 MiB", path);
    return 0;
}

int ytree_parse_file(ytree **out, const char *path, uerr *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = ytree_read_file(path, &text, &len, e);
    if (rc)
        return rc;
    rc = ytree_parse_buffer(out, path, text, len, e);
    free(text);
    return rc;
}

/* ---- writing -------------------------------------------------------- */

/* Code points libyaml would fold, break on or strip if written raw. */
static bool ytree_cp_needs_escape(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
           cp == 0xFFFE || cp == 0xFFFF;
}

/* Conservative: a plain scalar after "key: " or "- " in block context
 * that libyaml reads back byte for byte. Anything doubtful gets quoted. */
static bool ytree_plain_ok(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return false;
    unsigned c0 = u[0];
    /* libyaml starts a plain scalar on anything but an indicator; "-x"
     * is plain, "- x" a sequence entry. */
    if (c0 <= ' ' || strchr("?:,[]{}#&*!|>'\"%@`", (int)c0))
        return false;
    if (c0 == '-' && (len == 1 || u[1] == ' ' || u[1] == '\t'))
        return false;
    if (len >= 3 && (!memcmp(s, "---", 3) || !memcmp(s, "...", 3)))
        return false; /* document markers, were they ever at column 1 */
    if (u[len - 1] == ' ' || u[len - 1] == '\t' || u[len - 1] == ':')
        return false;
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = (size_t)utf8_decode(u + i, len - i, &cp);
            if (k == 0 || ytree_cp_needs_escape(cp))
                return false;
            i += k;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return false;
        if (c == ':' && i + 1 < len && (u[i + 1] == ' ' || u[i + 1] == '\t'))
            return false;
        if (c == '#' && i > 0 && (u[i - 1] == ' ' || u[i - 1] == '\t'))
            return false;
        i++;
    }
    return true;
}

/* Would a YAML reader resolve this plain text to something not a string? */
static bool ytree_looks_typed(const char *s, size_t len)
{
    static const char *const words[] = {"~",  "null", "true", "false", "yes",  "no",
                                        "on", "off",  "y",    "n",     ".inf", ".nan"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (len == strlen(words[i]) && !strncasecmp(s, words[i], len))
            return true;
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    if (i < len && s[i] == '.')
        i++;
    return i < len && s[i] >= '0' && s[i] <= '9';
}

static void ytree_write_quoted(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        uint32_t cp = c;
        size_t k = 1;
        if (c >= 0x80 && (k = (size_t)utf8_decode(u + i, len - i, &cp)) == 0) {
            /* Not UTF-8: YAML cannot carry the byte; keep it visible. */
            fprintf(f, "\\x%02X", c);
            i++;
            continue;
        }
        switch (cp) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case 0:
            fputs("\\0", f);
            break;
        case 0x2028:
            fputs("\\L", f);
            break;
        case 0x2029:
            fputs("\\P", f);
            break;
        default:
            if (ytree_cp_needs_escape(cp)) {
                if (cp < 0x100)
                    fprintf(f, "\\x%02X", (unsigned)cp);
                else
                    fprintf(f, "\\u%04X", (unsigned)cp);
            } else {
                fwrite(u + i, 1, k, f);
            }
        }
        i += k;
    }
    fputc('"', f);
}

void ytree_write_scalar(FILE *f, const char *s, size_t len, bool as_string)
{
    if (ytree_plain_ok(s, len) && !(as_string && ytree_looks_typed(s, len)))
        fwrite(s, 1, len, f);
    else
        ytree_write_quoted(f, s, len);
}

static void ytree_write_node_scalar(FILE *f, const ytree_node *n)
{
    if (n->quoted || !ytree_plain_ok(n->text, n->len))
        ytree_write_quoted(f, n->text, n->len);
    else
        fwrite(n->text, 1, n->len, f);
}

/* A short sequence of scalars reads best on one line, `[hidden, input]`,
 * as people write shapes. Only when every item keeps its style there: a
 * plain item that would need quotes in flow context (an empty null, an
 * equation with brackets) keeps the sequence in block style. */
static bool ytree_flow_ok(const ytree_node *seq)
{
    size_t width = 0;
    for (size_t i = 0; i < seq->n; i++) {
        const ytree_node *k = seq->kids[i];
        if (k->kind != YTREE_SCALAR)
            return false;
        if (!k->quoted &&
            (k->len == 0 || (ytree_plain_ok(k->text, k->len) && strpbrk(k->text, ",[]{}:"))))
            return false; /* plain in a block, but not in flow: stay a block */
        width += k->len + 2;
    }
    return width <= 60;
}

void ytree_write_value(FILE *f, const ytree_node *node, int indent)
{
    switch (node->kind) {
    case YTREE_SCALAR:
        if (node->len == 0 && !node->quoted) {
            fputc('\n', f); /* plain empty: null, as it was */
            return;
        }
        fputc(' ', f);
        ytree_write_node_scalar(f, node);
        fputc('\n', f);
        return;
    case YTREE_SEQ:
        if (node->n == 0) {
            fputs(" []\n", f);
            return;
        }
        if (ytree_flow_ok(node)) {
            fputs(" [", f);
            for (size_t i = 0; i < node->n; i++) {
                const ytree_node *k = node->kids[i];
                if (i)
                    fputs(", ", f);
                ytree_write_node_scalar(f, k);
            }
            fputs("]\n", f);
            return;
        }
        fputc('\n', f);
        for (size_t i = 0; i < node->n; i++) {
            fprintf(f, "%*s-", indent, "");
            ytree_write_value(f, node->kids[i], indent + 2);
        }
        return;
    case YTREE_MAP:
        if (node->n == 0) {
            fputs(" {}\n", f);
            return;
        }
        fputc('\n', f);
        for (size_t i = 0; i < node->n; i++) {
            fprintf(f, "%*s", indent, "");
            ytree_write_node_scalar(f, node->kids[2 * i]);
            fputc(':', f);
            ytree_write_value(f, node->kids[2 * i + 1], indent + 2);
        }
        return;
    }
}
