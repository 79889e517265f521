/*
 * spec_write.c - `unroll config show`: a spec written back as YAML in the
 * table's order, one key a line with its doc as a comment. Reals are
 * written so that they read back to the same bits; the round-trip test in
 * tests/test_spec.c pins that loading the output gives the same spec.
 */
#include "models/spec_table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

/* ---- writing -------------------------------------------------------- */

/* The shortest text that strtod reads back to exactly r, always with a
 * '.' or an exponent mantissa dot ("1.0e-08"), so YAML 1.1 readers such
 * as PyYAML also see a float. */
static void spec_format_real(double r, char *buf, size_t n)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, r);
        if (strtod(tmp, NULL) == r)
            break;
    }
    char *ex = strchr(tmp, 'e');
    if (!strchr(tmp, '.')) {
        if (ex)
            snprintf(buf, n, "%.*s.0%s", (int)(ex - tmp), tmp, ex);
        else
            snprintf(buf, n, "%s.0", tmp);
    } else {
        snprintf(buf, n, "%s", tmp);
    }
}

/* Writes f's value from s after "key:" (with its leading space). */
static void spec_write_value(const spec *s, const spec_field *f, FILE *out)
{
    const char *slot = (const char *)s + f->off;
    char buf[64];
    switch (f->type) {
    case SPEC_T_STR: {
        const char *str;
        memcpy(&str, slot, sizeof str);
        fputc(' ', out);
        ytree_write_scalar(out, str ? str : "", str ? strlen(str) : 0, true);
        return;
    }
    case SPEC_T_INT:
        if (f->size == sizeof(int)) {
            int x;
            memcpy(&x, slot, sizeof x);
            fprintf(out, " %d", x);
        } else {
            int64_t x;
            memcpy(&x, slot, sizeof x);
            fprintf(out, " %" PRId64, x);
        }
        return;
    case SPEC_T_U64: {
        uint64_t x;
        memcpy(&x, slot, sizeof x);
        fprintf(out, " %" PRIu64, x);
        return;
    }
    case SPEC_T_BYTES: {
        uint64_t x;
        char b[BYTES_STR_MAX];
        memcpy(&x, slot, sizeof x);
        fprintf(out, " %s", bytes_exact_str(x, b));
        return;
    }
    case SPEC_T_REAL: {
        double x;
        memcpy(&x, slot, sizeof x);
        spec_format_real(x, buf, sizeof buf);
        fprintf(out, " %s", buf);
        return;
    }
    case SPEC_T_BOOL: {
        bool x;
        memcpy(&x, slot, sizeof x);
        fprintf(out, " %s", x ? "true" : "false");
        return;
    }
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE: {
        int x;
        memcpy(&x, slot, sizeof x);
        const char *nm = spec_value_name(f->key, x);
        fprintf(out, " %s", nm ? nm : "?");
        return;
    }
    case SPEC_T_NODE:
        return;
    }
}

/* Number of leading dot-separated parts two section paths share. */
static size_t spec_common_parts(const char *a, size_t la, const char *b, size_t lb)
{
    size_t parts = 0, i = 0;
    for (;;) {
        size_t ea = i, eb = i;
        while (ea < la && a[ea] != '.')
            ea++;
        while (eb < lb && b[eb] != '.')
            eb++;
        if (i >= la || i >= lb || ea != eb || memcmp(a + i, b + i, ea - i))
            return parts;
        parts++;
        i = ea + 1;
    }
}

int spec_write_yaml(const spec *s, FILE *f)
{
    const char *cur = "";
    size_t curlen = 0;
    for (size_t i = 0; i < spec_nfields; i++) {
        const spec_field *fd = &spec_fields[i];
        const char *dot = strrchr(fd->key, '.');
        size_t seclen = dot ? (size_t)(dot - fd->key) : 0;
        const char *leaf = dot ? dot + 1 : fd->key;
        const ytree_node *node = NULL;
        /* a custom cell's equations name their functions: no activation */
        if (s->model.cell == SPEC_CELL_CUSTOM && fd->off == offsetof(spec, model.activation))
            continue;
        if (fd->type == SPEC_T_NODE) {
            memcpy(&node, (const char *)s + fd->off, sizeof node);
            if (!node)
                continue;
        }
        /* Open the sections of this key that are not open yet. */
        size_t common = spec_common_parts(cur, curlen, fd->key, seclen);
        size_t p = 0, part = 0;
        while (p < seclen) {
            size_t end = p;
            while (end < seclen && fd->key[end] != '.')
                end++;
            if (part >= common)
                fprintf(f, "%*s%.*s:\n", (int)(2 * part), "", (int)(end - p), fd->key + p);
            part++;
            p = end + 1;
        }
        cur = fd->key;
        curlen = seclen;
        int indent = (int)(2 * part);
        char doc[128];
        if (node) {
            fprintf(f, "%*s# %s\n%*s%s:", indent, "", spec_doc(fd, doc, sizeof doc), indent, "",
                    leaf);
            ytree_write_value(f, node, indent + 2);
            continue;
        }
        /* Build the line in memory so the comments line up. */
        char *line = NULL;
        size_t linelen = 0;
        FILE *m = open_memstream(&line, &linelen);
        if (!m)
            return -1;
        fprintf(m, "%*s%s:", indent, "", leaf);
        spec_write_value(s, fd, m);
        if (fclose(m) != 0 || !line) {
            free(line);
            return -1;
        }
        int pad = linelen < 34 ? 34 - (int)linelen : 1;
        fprintf(f, "%s%*s# %s\n", line, pad, "", spec_doc(fd, doc, sizeof doc));
        free(line);
        if (fd->off == offsetof(spec, model.init.std))
            spec_init_write(s, f, indent);
    }
    return ferror(f) ? -1 : 0;
}
