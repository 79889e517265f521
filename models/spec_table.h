/*
 * spec_table.h - inside the config module: the key table and what reads
 * it, shared by spec.c (loading, --set), spec_table.c (the table, lookups,
 * suggestions) and spec_write.c (config show). Not part of the public API:
 * only models/spec*.c include it.
 *
 * Invariant: spec_fields[] has spec_nfields rows, each key once, and the
 * rows of one section are contiguous (the writer opens each section once).
 */
#ifndef UNROLL_SPEC_TABLE_H
#define UNROLL_SPEC_TABLE_H

#include "models/spec.h"

typedef enum spec_type {
    SPEC_T_STR,
    SPEC_T_INT, /* int or int64_t, by the field's size */
    SPEC_T_U64,
    SPEC_T_BYTES, /* a byte count: 1048576, 64MiB, 1.5GiB, 500MB */
    SPEC_T_REAL,
    SPEC_T_BOOL,
    SPEC_T_ENUM,
    SPEC_T_DTYPE,
    SPEC_T_NODE, /* a raw ytree node: read from the file only */
} spec_type;

enum {
    SPEC_LO_OPEN = 1,  /* real: value > lo rather than >= lo */
    SPEC_HI_OPEN = 2,  /* real: value < hi rather than <= hi */
    SPEC_NO_HI = 4,    /* real: no upper bound */
    SPEC_NONEMPTY = 8, /* string: "" is not allowed from the user */
};

typedef struct spec_field {
    const char *key; /* dotted path */
    spec_type type;
    size_t off, size; /* the field inside struct spec */
    const char *def;  /* default, as it would be written in YAML; NULL: computed */
    int64_t imin, imax;
    double rmin, rmax;
    unsigned flags;
    const char *const *names;             /* enum: value i is spelled names[i]; NULL-ended */
    const char *const *(*names_fn)(void); /* or the names from the op table */
    const char *doc;                      /* NULL: the names, "a | b | c" */
} spec_field;

#define SPEC_NOMAX INT64_MAX

/* A parsed value, before it is stored into its field. */
typedef struct spec_value {
    const char *s; /* string: not owned */
    size_t slen;
    int64_t i;
    uint64_t u;
    double r;
    bool b;
    int en;
} spec_value;

/* Decimal or exponent notation, finite: the config's one rule for reals. */
bool spec_parse_real(const char *s, size_t len, double *out);

/* model.init's per-parameter entries (spec_init.c). spec_init_take reads
 * the mapping val under key NAME of model.init; spec_init_set an override
 * "model.init.NAME.FIELD" (klen bytes of key) to val, or returns -1 when
 * key is not of that form (no error set); spec_init_check the rules
 * between an entry's fields; spec_init_write the entries for config show,
 * each on a line at indent. */
int spec_init_take(spec *s, const char *path, const ytree_node *key, const ytree_node *val,
                   uerr *e);
int spec_init_set(spec *s, const char *key, size_t klen, const char *val, uerr *e);
int spec_init_check(const spec *s, uerr *e);
void spec_init_write(const spec *s, FILE *f, int indent);

extern const spec_field spec_fields[];
extern const size_t spec_nfields;

/* The row of a dotted key, or NULL. */
const spec_field *spec_field_find(const char *key, size_t len);
/* True if key is a proper prefix of some key, ending at a dot. */
bool spec_is_section(const char *key, size_t len);
/* An enum's names, NULL-ended. */
const char *const *spec_names(const spec_field *f);
size_t spec_nnames(const char *const *names);
/* The comment config show writes after a key (buf holds it if built). */
const char *spec_doc(const spec_field *f, char *buf, size_t n);
/* The closest of cands[0..n) to s, or NULL if none is a plausible typo. */
const char *spec_closest(const char *s, size_t len, const char *const *cands, size_t n);
/* " (did you mean 'model.hidden'?)" for an unknown key, or "". */
void spec_suggest_key(const char *key, size_t len, char *out, size_t n);

#endif
