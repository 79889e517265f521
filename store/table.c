/* table.c - see table.h. */
#include "store/table.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "store/json.h"

#define TABLE_PLAIN_MAX 60 /* characters of a text cell shown in the plain form */

static char *table_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

int table_init(table *t, int ncols, const char *const *names, uerr *e)
{
    memset(t, 0, sizeof *t);
    t->cols = calloc((size_t)ncols, sizeof *t->cols);
    t->fmt = calloc((size_t)ncols, sizeof *t->fmt);
    if (!t->cols || !t->fmt) {
        table_free(t);
        return uerr_set(e, UERR_INTERNAL, "out of memory for a table");
    }
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        if (!(t->cols[i] = table_dup(names[i] ? names[i] : ""))) {
            table_free(t);
            return uerr_set(e, UERR_INTERNAL, "out of memory for a table");
        }
    return 0;
}

void table_free(table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols)
            free(t->cols[i]);
        if (t->fmt)
            free(t->fmt[i]);
    }
    for (int64_t i = 0; i < t->ncells; i++)
        free(t->cells[i].s);
    free(t->cols);
    free(t->fmt);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void table_clear_rows(table *t)
{
    for (int64_t i = 0; i < t->ncells; i++)
        free(t->cells[i].s);
    t->ncells = 0;
    t->nrows = 0;
}

int table_set_format(table *t, int col, const char *fmt, uerr *e)
{
    if (col < 0 || col >= t->ncols)
        return uerr_set(e, UERR_INTERNAL, "table: no column %d", col);
    char *f = table_dup(fmt);
    if (!f)
        return uerr_set(e, UERR_INTERNAL, "out of memory for a table");
    free(t->fmt[col]);
    t->fmt[col] = f;
    return 0;
}

static table_cell *table_next(table *t)
{
    if (t->oom || t->ncols == 0)
        return NULL;
    if (VEC_GROW(t->cells, t->cap, t->ncells + 1)) {
        t->oom = 1;
        return NULL;
    }
    table_cell *c = &t->cells[t->ncells++];
    memset(c, 0, sizeof *c);
    t->nrows = (t->ncells + t->ncols - 1) / t->ncols;
    return c;
}

void table_null(table *t)
{
    (void)table_next(t);
}

void table_int(table *t, int64_t v)
{
    table_cell *c = table_next(t);
    if (c) {
        c->type = TABLE_INT;
        c->i = v;
        c->r = (double)v;
    }
}

void table_real(table *t, double v)
{
    table_cell *c = table_next(t);
    if (c) {
        c->type = TABLE_REAL;
        c->r = v;
    }
}

void table_text(table *t, const char *s)
{
    table_cell *c = table_next(t);
    if (!c || !s)
        return;
    if (!(c->s = table_dup(s))) {
        t->oom = 1;
        return;
    }
    c->type = TABLE_TEXT;
}

int table_check(const table *t, uerr *e)
{
    return t->oom ? uerr_set(e, UERR_INTERNAL, "out of memory for a table") : 0;
}

const table_cell *table_at(const table *t, int64_t r, int c)
{
    int64_t k = r * t->ncols + c;
    if (r < 0 || c < 0 || c >= t->ncols || k >= t->ncells)
        return NULL;
    return &t->cells[k];
}

void table_csv_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* Code points in s (the plain form aligns by characters, not bytes). */
static int table_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The plain-form text of a cell into buf: escapes newlines and tabs, cuts
 * long text at a character boundary. */
static void table_show(const table *t, const table_cell *c, int col, char *buf, size_t n)
{
    switch (c->type) {
    case TABLE_NULL:
        snprintf(buf, n, "-");
        return;
    case TABLE_INT:
        snprintf(buf, n, "%" PRId64, c->i);
        return;
    case TABLE_REAL:
        if (isnan(c->r))
            snprintf(buf, n, "nan");
        else
        /* the format is one the caller chose for this column */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(buf, n, t->fmt[col] ? t->fmt[col] : "%.6g", c->r);
#pragma GCC diagnostic pop
        return;
    case TABLE_TEXT:
        break;
    }
    size_t k = 0;
    int chars = 0;
    for (const char *p = c->s; *p && k + 8 < n; p++) {
        int starts = ((unsigned char)*p & 0xc0) != 0x80;
        if (starts && chars == TABLE_PLAIN_MAX) {
            k += (size_t)snprintf(buf + k, n - k, "...");
            break;
        }
        chars += starts;
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            buf[k++] = '\\';
            buf[k++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
        } else {
            buf[k++] = *p;
        }
    }
    buf[k] = '\0';
}

/* One cell of an aligned row. Padding and the two-space separator are
 * owed, and written only before text that follows them, so a row whose
 * last columns are empty ends without trailing spaces. */
static void put_cell(FILE *f, const char *text, int pad, int right, int sep, int *owed)
{
    *owed += (sep ? 2 : 0) + (right ? pad : 0);
    if (*text) {
        fprintf(f, "%*s%s", *owed, "", text);
        *owed = 0;
    }
    if (!right)
        *owed += pad;
}

static void table_write_plain(const table *t, FILE *f, int64_t before)
{
    int *w = calloc((size_t)t->ncols, sizeof *w);
    int *right = calloc((size_t)t->ncols, sizeof *right);
    char buf[TABLE_PLAIN_MAX * 8 + 16];
    if (!w || !right) {
        free(w);
        free(right);
        fputs("(out of memory)\n", f);
        return;
    }
    for (int c = 0; c < t->ncols; c++)
        w[c] = table_width(t->cols[c]);
    for (int64_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const table_cell *x = table_at(t, r, c);
            if (!x)
                continue;
            table_show(t, x, c, buf, sizeof buf);
            int k = table_width(buf);
            if (k > w[c])
                w[c] = k;
            if (x->type == TABLE_INT || x->type == TABLE_REAL)
                right[c] = 1;
        }
    int owed = 0;
    for (int c = 0; before == 0 && c < t->ncols; c++)
        put_cell(f, t->cols[c], w[c] - table_width(t->cols[c]), right[c], c > 0, &owed);
    owed = 0; /* trailing padding is owed only within a line */
    if (before == 0)
        fputc('\n', f);
    for (int64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const table_cell *x = table_at(t, r, c);
            if (x)
                table_show(t, x, c, buf, sizeof buf);
            else
                buf[0] = '\0';
            put_cell(f, buf, w[c] - table_width(buf), right[c], c > 0, &owed);
        }
        owed = 0;
        fputc('\n', f);
    }
    free(w);
    free(right);
}

static void table_write_csv(const table *t, FILE *f, int64_t before)
{
    for (int c = 0; before == 0 && c < t->ncols; c++) {
        if (c)
            fputc(',', f);
        table_csv_field(f, t->cols[c]);
    }
    if (before == 0)
        fputc('\n', f);
    for (int64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const table_cell *x = table_at(t, r, c);
            if (c)
                fputc(',', f);
            if (!x || x->type == TABLE_NULL)
                continue;
            if (x->type == TABLE_INT)
                fprintf(f, "%" PRId64, x->i);
            else if (x->type == TABLE_REAL)
                fprintf(f, "%.17g", x->r);
            else
                table_csv_field(f, x->s);
        }
        fputc('\n', f);
    }
}

static void table_write_json(const table *t, FILE *f, int64_t before, int last)
{
    if (before == 0)
        fputc('[', f);
    for (int64_t r = 0; r < t->nrows; r++) {
        fputs(before + r ? ",\n{" : "\n{", f);
        for (int c = 0; c < t->ncols; c++) {
            const table_cell *x = table_at(t, r, c);
            if (c)
                fputs(", ", f);
            json_write_string(f, t->cols[c]);
            fputs(": ", f);
            if (!x || x->type == TABLE_NULL)
                fputs("null", f);
            else if (x->type == TABLE_INT)
                fprintf(f, "%" PRId64, x->i);
            else if (x->type == TABLE_REAL)
                json_write_number(f, x->r);
            else
                json_write_string(f, x->s);
        }
        fputc('}', f);
    }
    if (last)
        fputs(before + t->nrows ? "\n]\n" : "]\n", f);
}

int table_write(const table *t, FILE *f, table_form form, uerr *e)
{
    return table_write_part(t, f, form, 0, 1, e);
}

int table_write_part(const table *t, FILE *f, table_form form, int64_t before, int last, uerr *e)
{
    int rc;
    if ((rc = table_check(t, e)))
        return rc;
    if (form == TABLE_CSV)
        table_write_csv(t, f, before);
    else if (form == TABLE_JSON)
        table_write_json(t, f, before, last);
    else
        table_write_plain(t, f, before);
    if (fflush(f) != 0 || ferror(f))
        return uerr_set(e, UERR_USER, "writing the output failed: %s", strerror(errno));
    return 0;
}
