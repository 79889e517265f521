/*
 * table.h - a result set (named columns, typed cells) and its three
 * printed forms: an aligned table for people, CSV and JSON for scripts.
 * Every listing of the store (runs, checkpoints, lineage, metrics, free
 * SQL) is built as a table, so every listing has all three forms and they
 * can never disagree.
 *
 * Forms:
 * - TABLE_PLAIN: a header line and space-aligned columns; numbers right
 *   aligned, NULL as "-", reals with the column's printf format ("%.6g"
 *   unless set), text cut at 60 characters with "...", newlines shown as
 *   "\n". Meant for reading, not parsing.
 * - TABLE_CSV: RFC 4180; a header row; NULL as an empty field; reals with
 *   %.17g, so that they read back bit-exact.
 * - TABLE_JSON: an array of objects, one per row, keys in column order;
 *   NULL and non-finite reals as null; reals with %.17g.
 *
 * Cells are appended row by row, left to right; a table owns copies of
 * its strings. An allocation failure is remembered and reported by the
 * next table_* call that can return one.
 */
#ifndef UNROLL_TABLE_H
#define UNROLL_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef enum table_type {
    TABLE_NULL,
    TABLE_INT,
    TABLE_REAL,
    TABLE_TEXT,
} table_type;

typedef enum table_form {
    TABLE_PLAIN,
    TABLE_CSV,
    TABLE_JSON,
} table_form;

typedef struct table_cell {
    table_type type;
    int64_t i;
    double r;
    char *s;
} table_cell;

typedef struct table {
    int ncols;
    char **cols;
    char **fmt; /* [ncols] printf format for reals in TABLE_PLAIN, or NULL */
    int64_t nrows;
    int64_t ncells, cap;
    table_cell *cells; /* row-major */
    int oom;
} table;

/* A table with ncols columns named names[0..ncols-1]. */
int table_init(table *t, int ncols, const char *const *names, uerr *e);
void table_free(table *t);

/* The plain-form format of a real column, e.g. "%.4f". */
int table_set_format(table *t, int col, const char *fmt, uerr *e);

/* Appends one cell to the current row (a new row starts after the last
 * column). Failures are remembered: see table_check. */
void table_null(table *t);
void table_int(table *t, int64_t v);
void table_real(table *t, double v);
void table_text(table *t, const char *s); /* NULL appends a NULL cell */

/* 0, or an out-of-memory error if any append failed. */
int table_check(const table *t, uerr *e);

/* The cell at row r, column c (NULL if out of range). */
const table_cell *table_at(const table *t, int64_t r, int c);

/* Prints t in the given form; an error if writing fails. */
int table_write(const table *t, FILE *f, table_form form, uerr *e);

/* A result too long to hold, printed in parts: t holds the next rows,
 * before is how many rows earlier parts printed (0: this part starts
 * with the header, or JSON's '['), last closes JSON's array. The plain
 * form aligns each part's columns by that part alone. */
int table_write_part(const table *t, FILE *f, table_form form, int64_t before, int last, uerr *e);

/* Drops t's rows, keeping its columns, formats and memory, for the next
 * part. */
void table_clear_rows(table *t);

/* Writes one CSV field, quoted only when it needs it (RFC 4180), for
 * callers that write CSV by hand: the one CSV quoter of unroll. */
void table_csv_field(FILE *f, const char *s);

#endif
