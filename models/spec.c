/*
 * spec.c - the experiment config: one table of keys, and the code that
 * walks it (see spec.h).
 *
 * Every key lives in spec_fields[] only: the loader, --set, the defaults,
 * the writer behind `unroll config show` and spec_value_name all read the
 * table, so they cannot disagree about a key's type, range or default.
 * Rows of one section must be contiguous (the writer opens each section
 * once); the round-trip test would catch a row out of place.
 *
 * Type rules, the same for the file and for --set:
 *   int   decimal digits with an optional sign; 1e3, 1000.0 and 0x10 are
 *         not integers. In the file a quoted "100" is a string, not an int.
 *   real  decimal or exponent notation, ints accepted; inf/nan refused.
 *   bool  true or false, nothing else (no yes/no/on/off).
 *   enum  one of the listed names (quoted or not).
 *   str   any scalar except null; "~" or an empty value is null.
 * A section written with nothing under it (`model:`) is empty, not an
 * error, so all its keys can be commented out.
 *
 * Reals are parsed with strtod: the process must keep the "C" numeric
 * locale (never setlocale(LC_NUMERIC, "")), or "0.1" stops parsing.
 */
#include "models/spec.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/bytes.h"
#include "ops/ops.h"

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
    const char *const *names; /* enum: value i is spelled names[i]; NULL-ended */
    const char *const *(*names_fn)(void); /* or the names from the op table */
    const char *doc;          /* NULL: the names, "a | b | c" */
} spec_field;

static const char *const spec_data_kind_names[] = {"text", "classify", "npy", NULL};
static const char *const spec_cell_names[] = {"elman", "jordan", "lstm", "gru", "custom",
                                              NULL};
static const char *const spec_output_names[] = {"softmax", "linear", "sigmoid", NULL};
static const char *const spec_loss_names[] = {"cross_entropy", "mse", "bce", NULL};
static const char *const spec_outputs_names[] = {"every_step", "last_step", NULL};
static const char *const spec_state_names[] = {"carry", "zero", NULL};
static const char *const spec_optim_names[] = {"sgd", "momentum", "adagrad", "adam", NULL};
static const char *const spec_dtype_names[] = {"float32", "float64", NULL};
static const char *const spec_fuse_names[] = {"all", "exact", "none", NULL};

#define SPEC_NNAMES(a) (sizeof(a) / sizeof((a)[0]) - 1)
_Static_assert(SPEC_NNAMES(spec_data_kind_names) == SPEC_DATA_NPY + 1, "data.kind");
_Static_assert(SPEC_NNAMES(spec_cell_names) == SPEC_CELL_CUSTOM + 1, "model.cell");
_Static_assert(SPEC_NNAMES(spec_output_names) == SPEC_OUT_SIGMOID + 1, "model.output");
_Static_assert(SPEC_NNAMES(spec_loss_names) == SPEC_LOSS_BCE + 1, "model.loss");
_Static_assert(SPEC_NNAMES(spec_outputs_names) == SPEC_OUTPUTS_LAST_STEP + 1,
               "model.outputs");
_Static_assert(SPEC_NNAMES(spec_state_names) == SPEC_STATE_ZERO + 1, "train.state");
_Static_assert(SPEC_NNAMES(spec_optim_names) == SPEC_OPT_ADAM + 1, "optimizer.name");
_Static_assert(SPEC_NNAMES(spec_fuse_names) == 3, "train.fuse");
/* Enum fields are stored through an int. */
_Static_assert(sizeof(spec_cell) == sizeof(int) && sizeof(dtype) == sizeof(int),
               "enums are int-sized");

#define SPEC_AT(m) .off = offsetof(spec, m), .size = sizeof(((spec *)0)->m)
#define F_STR(k, m, d, fl, doc_)                                                    \
    {.key = k, .type = SPEC_T_STR, SPEC_AT(m), .def = d, .flags = fl, .doc = doc_}
#define F_INT(k, m, d, lo, hi, doc_)                                                \
    {.key = k, .type = SPEC_T_INT, SPEC_AT(m), .def = d, .imin = lo, .imax = hi,    \
     .doc = doc_}
#define F_U64(k, m, d, doc_) {.key = k, .type = SPEC_T_U64, SPEC_AT(m), .def = d, .doc = doc_}
#define F_BYTES(k, m, d, doc_)                                                      \
    {.key = k, .type = SPEC_T_BYTES, SPEC_AT(m), .def = d, .doc = doc_}
#define F_REAL(k, m, d, lo, hi, fl, doc_)                                           \
    {.key = k, .type = SPEC_T_REAL, SPEC_AT(m), .def = d, .rmin = lo, .rmax = hi,   \
     .flags = fl, .doc = doc_}
#define F_BOOL(k, m, d, doc_) {.key = k, .type = SPEC_T_BOOL, SPEC_AT(m), .def = d, .doc = doc_}
#define F_ENUM(k, m, d, nm, doc_)                                                   \
    {.key = k, .type = SPEC_T_ENUM, SPEC_AT(m), .def = d, .names = nm, .doc = doc_}
#define F_DTYPE(k, m, d, doc_)                                                      \
    {.key = k, .type = SPEC_T_DTYPE, SPEC_AT(m), .def = d, .names = spec_dtype_names, \
     .doc = doc_}
/* an enum over the op table's names: the ops flagged OPF_ACTIVATION */
#define F_OPS(k, m, d, fn) {.key = k, .type = SPEC_T_ENUM, SPEC_AT(m), .def = d, .names_fn = fn}
#define F_NODE(k, m, doc_) {.key = k, .type = SPEC_T_NODE, SPEC_AT(m), .doc = doc_}

#define SPEC_NOMAX INT64_MAX

static const spec_field spec_fields[] = {
    F_STR("name", name, NULL, SPEC_NONEMPTY, "run name (default: the config's file name)"),

    F_ENUM("data.kind", data.kind, "text", spec_data_kind_names,
           "text: one character stream | classify: TSV lines sequence<TAB>label | npy: "
           "a directory of inputs.npy, targets.npy, lengths.npy"),
    F_STR("data.path", data.path, "", SPEC_NONEMPTY, "training data file (required)"),
    F_REAL("data.valid_fraction", data.valid_fraction, "0", 0, 0.5, 0,
           "share of the data held out for validation"),

    F_ENUM("model.cell", model.cell, "elman", spec_cell_names,
           "elman | jordan | lstm | gru | custom"),
    F_INT("model.hidden", model.hidden, "100", 1, 65536, "hidden units per layer"),
    F_OPS("model.activation", model.activation, "tanh", op_activation_names),
    F_ENUM("model.output", model.output, "softmax", spec_output_names,
           "softmax | linear | sigmoid"),
    F_ENUM("model.loss", model.loss, "cross_entropy", spec_loss_names,
           "cross_entropy | mse | bce"),
    F_ENUM("model.outputs", model.outputs, "every_step", spec_outputs_names,
           "every_step | last_step"),
    F_INT("model.layers", model.layers, "1", 1, SPEC_MAX_LAYERS, "stacked recurrent layers"),
    F_BOOL("model.bidirectional", model.bidirectional, "false",
           "add a layer running backwards in time"),
    F_REAL("model.init.std", model.init.std, "0.01", 0, 0, SPEC_LO_OPEN | SPEC_NO_HI,
           "std of the normal initial weights"),
    F_NODE("model.params", model.params, "custom cell: parameter shapes"),
    F_NODE("model.state", model.state, "custom cell: state sizes"),
    F_NODE("model.step", model.step, "custom cell: one equation per line"),

    F_DTYPE("train.dtype", train.dtype, "float32", "float32 | float64"),
    F_INT("train.seq_len", train.seq_len, "25", 1, 1000000, "time steps per unrolled chunk"),
    F_INT("train.batch", train.batch, "1", 1, 65536, "sequences per batch"),
    F_ENUM("train.state", train.state, "carry", spec_state_names,
           "carry (truncated BPTT) | zero"),
    F_INT("train.steps", train.steps, "1000", 1, SPEC_NOMAX, "optimiser steps"),
    F_ENUM("train.optimizer.name", train.optimizer.name, "adagrad", spec_optim_names,
           "sgd | momentum | adagrad | adam"),
    F_REAL("train.optimizer.lr", train.optimizer.lr, "0.1", 0, 0,
           SPEC_LO_OPEN | SPEC_NO_HI, "learning rate"),
    F_REAL("train.optimizer.eps", train.optimizer.eps, "1e-8", 0, 0,
           SPEC_LO_OPEN | SPEC_NO_HI, "adagrad, adam: added to the denominator"),
    F_REAL("train.optimizer.momentum", train.optimizer.momentum, "0.9", 0, 1, SPEC_HI_OPEN,
           "momentum: velocity decay"),
    F_REAL("train.optimizer.beta1", train.optimizer.beta1, "0.9", 0, 1, SPEC_HI_OPEN,
           "adam: first-moment decay"),
    F_REAL("train.optimizer.beta2", train.optimizer.beta2, "0.999", 0, 1, SPEC_HI_OPEN,
           "adam: second-moment decay"),
    F_REAL("train.clip.value", train.clip.value, "0", 0, 0, SPEC_NO_HI,
           "clip each gradient element to +-value (0 = off)"),
    F_REAL("train.clip.norm", train.clip.norm, "0", 0, 0, SPEC_NO_HI,
           "rescale gradients to this global norm (0 = off)"),
    F_REAL("train.scheduled_sampling.start", train.scheduled_sampling.start, "0", 0, 1, 0,
           "chance of feeding y[t-1] the model's own prediction, at the first step"),
    F_REAL("train.scheduled_sampling.end", train.scheduled_sampling.end, "0", 0, 1, 0,
           "the same at the last step (linear in between; 0 and 0 = teacher forcing)"),
    F_U64("train.seed", train.seed, "42", "initialisation and data order"),
    F_INT("train.valid_every", train.valid_every, "0", 0, SPEC_NOMAX,
          "steps between validations (0 = never)"),
    F_INT("train.log_every", train.log_every, "100", 1, SPEC_NOMAX,
          "steps between progress lines"),
    F_INT("train.ledger_every", train.ledger_every, "0", 0, SPEC_NOMAX,
          "steps between per-time-step gradient ledgers in the metrics (0 = never)"),
    F_ENUM("train.fuse", train.fuse, "all", spec_fuse_names,
           "plan rewrites: all | exact (bit-identical to none) | none (one kernel per node)"),
    F_BYTES("train.memory_budget", train.memory_budget, "0",
            "most bytes for activations and gradients, e.g. 64MiB; when exceeded, forward "
            "segments are recomputed in the backward pass (0 = no limit)"),
    F_INT("train.checkpoint.every", train.checkpoint.every, "0", 0, SPEC_NOMAX,
          "steps between checkpoints (0 = only at the end)"),
    F_STR("train.checkpoint.db", train.checkpoint.db, "unroll.db", SPEC_NONEMPTY,
          "SQLite checkpoint store"),
    F_INT("train.checkpoint.wait", train.checkpoint.wait, "600", 0, SPEC_NOMAX,
          "seconds a checkpoint waits for a lock held elsewhere"),

    F_INT("sample.length", sample.length, "200", 1, 1000000000, "characters to generate"),
    F_REAL("sample.temperature", sample.temperature, "1.0", 0, 0,
           SPEC_LO_OPEN | SPEC_NO_HI, "softmax temperature"),
    F_STR("sample.prime", sample.prime, "", 0, "text fed in before sampling"),
    F_U64("sample.seed", sample.seed, "1", "sampling RNG seed"),
};

#define SPEC_NFIELDS (sizeof spec_fields / sizeof spec_fields[0])

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

/* ---- table lookups -------------------------------------------------- */

static const spec_field *spec_field_find(const char *key, size_t len)
{
    for (size_t i = 0; i < SPEC_NFIELDS; i++)
        if (strlen(spec_fields[i].key) == len && !memcmp(spec_fields[i].key, key, len))
            return &spec_fields[i];
    return NULL;
}

/* A section is a proper prefix of some key, ending at a dot. */
static bool spec_is_section(const char *key, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < SPEC_NFIELDS; i++) {
        const char *k = spec_fields[i].key;
        if (strlen(k) > len && !memcmp(k, key, len) && k[len] == '.')
            return true;
    }
    return false;
}

static const char *const *spec_names(const spec_field *f)
{
    return f->names_fn ? f->names_fn() : f->names;
}

/* The comment config show writes after a key. */
static const char *spec_doc(const spec_field *f, char *buf, size_t n)
{
    if (f->doc)
        return f->doc;
    const char *const *nm = spec_names(f);
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; nm[i] && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? " | " : "", nm[i]);
    return buf;
}

static size_t spec_nnames(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

/* ---- suggestions ---------------------------------------------------- */

static int spec_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal-string-alignment distance, ASCII case folded: an adjacent swap
 * ("lsmt") costs 1 like any other typo. Inputs are at most 64 bytes. */
static int spec_distance(const char *a, size_t la, const char *b, size_t lb)
{
    int d[3][65];
    int *pp = d[0], *p = d[1], *c = d[2];
    for (size_t j = 0; j <= lb; j++)
        p[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = spec_lower((unsigned char)a[i - 1]) != spec_lower((unsigned char)b[j - 1]);
            int v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        int *t = pp;
        pp = p, p = c, c = t;
    }
    return p[lb];
}

static int spec_typo_limit(size_t len)
{
    int lim = (int)(len / 3);
    return lim < 1 ? 1 : lim > 3 ? 3 : lim;
}

/* The closest of cands[0..n) to s, or NULL if none is a plausible typo. */
static const char *spec_closest(const char *s, size_t len, const char *const *cands,
                                size_t n)
{
    if (len == 0 || len > 64)
        return NULL;
    const char *best = NULL;
    int bestd = spec_typo_limit(len) + 1;
    for (size_t i = 0; i < n; i++) {
        size_t lc = strlen(cands[i]);
        if (lc > 64)
            continue;
        int d = spec_distance(s, len, cands[i], lc);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

/* " (did you mean 'model.hidden'?)" for an unknown key, or "". Looks at
 * every key and section for a typo, then for a key with the same last
 * part in another section ("model.lr" -> "train.optimizer.lr"). */
static void spec_suggest_key(const char *key, size_t len, char *out, size_t n)
{
    /* Sections are key prefixes; a prefix is cut into buf. */
    char sections[SPEC_NFIELDS * 2][48];
    const char *cands[SPEC_NFIELDS * 3];
    size_t nc = 0, ns = 0;
    out[0] = '\0';
    for (size_t i = 0; i < SPEC_NFIELDS; i++) {
        const char *k = spec_fields[i].key;
        cands[nc++] = k;
        for (const char *dot = strchr(k, '.'); dot && ns < SPEC_NFIELDS * 2;
             dot = strchr(dot + 1, '.')) {
            size_t pl = (size_t)(dot - k);
            if (pl < sizeof sections[0]) {
                memcpy(sections[ns], k, pl);
                sections[ns][pl] = '\0';
                cands[nc++] = sections[ns++];
            }
        }
    }
    const char *best = spec_closest(key, len, cands, nc);
    if (!best && len <= 64) {
        const char *last = key;
        for (size_t i = 0; i < len; i++)
            if (key[i] == '.')
                last = key + i + 1;
        size_t ll = len - (size_t)(last - key);
        for (size_t i = 0; i < SPEC_NFIELDS && !best && ll > 0; i++) {
            const char *k = spec_fields[i].key;
            const char *kl = strrchr(k, '.');
            kl = kl ? kl + 1 : k;
            if (strlen(kl) == ll && !strncasecmp(kl, last, ll))
                best = k;
        }
    }
    if (best)
        snprintf(out, n, " (did you mean '%s'?)", best);
}

/* ---- parsing values ------------------------------------------------- */

static bool spec_parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return false;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (lim - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    /* -2^63 has no positive counterpart: negate in unsigned arithmetic. */
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (neg && v == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    return true;
}

static bool spec_parse_u64(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0;
    if (i < len && s[i] == '+')
        i++;
    if (i == len)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = v;
    return true;
}

/* Decimal notation only, checked before strtod so that strtod's extras
 * (hex floats, "inf", "nan", leading spaces) never get through. */
static bool spec_parse_real(const char *s, size_t len, double *out)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (ed == 0)
            return false;
    }
    if (i != len || len >= 64)
        return false;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* "an integer from 1 to 65536", "a number > 0", "one of a, b, c", ... */
static void spec_expect(const spec_field *f, char *buf, size_t n)
{
    switch (f->type) {
    case SPEC_T_STR:
        snprintf(buf, n, "%s", f->flags & SPEC_NONEMPTY ? "a non-empty string" : "a string");
        return;
    case SPEC_T_INT:
        if (f->imax == SPEC_NOMAX)
            snprintf(buf, n, "an integer >= %" PRId64, f->imin);
        else
            snprintf(buf, n, "an integer from %" PRId64 " to %" PRId64, f->imin, f->imax);
        return;
    case SPEC_T_U64:
        snprintf(buf, n, "an integer from 0 to %" PRIu64, UINT64_MAX);
        return;
    case SPEC_T_BYTES:
        snprintf(buf, n, "%s", BYTES_FORMS);
        return;
    case SPEC_T_REAL:
        if (f->flags & SPEC_NO_HI)
            snprintf(buf, n, "a number %s %g", f->flags & SPEC_LO_OPEN ? ">" : ">=", f->rmin);
        else if (!(f->flags & (SPEC_LO_OPEN | SPEC_HI_OPEN)))
            snprintf(buf, n, "a number from %g to %g", f->rmin, f->rmax);
        else
            snprintf(buf, n, "a number in %c%g, %g%c", f->flags & SPEC_LO_OPEN ? '(' : '[',
                     f->rmin, f->rmax, f->flags & SPEC_HI_OPEN ? ')' : ']');
        return;
    case SPEC_T_BOOL:
        snprintf(buf, n, "true or false");
        return;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE: {
        const char *const *nm = spec_names(f);
        size_t k = spec_nnames(nm), o = 0;
        buf[0] = '\0';
        if (k > 2)
            o += (size_t)snprintf(buf, n, "one of ");
        for (size_t i = 0; i < k && o < n; i++) {
            const char *sep = i == 0 ? "" : k == 2 ? " or " : ", ";
            o += (size_t)snprintf(buf + o, n - o, "%s%s", sep, nm[i]);
        }
        return;
    }
    case SPEC_T_NODE:
        snprintf(buf, n, "a value");
        return;
    }
}

/* Parses text as f's type and checks its range. On failure returns -1
 * and leaves a suggestion (" (did you mean 'lstm'?)") or "" in hint.
 * Defaults skip the non-empty rule: data.path starts out empty. */
static int spec_parse(const spec_field *f, const char *s, size_t len, bool is_default,
                      spec_value *v, char *hint, size_t nhint)
{
    memset(v, 0, sizeof *v);
    hint[0] = '\0';
    switch (f->type) {
    case SPEC_T_STR:
        if (memchr(s, '\0', len) || !ytree_utf8_valid(s, len))
            return -1;
        if (len == 0 && (f->flags & SPEC_NONEMPTY) && !is_default)
            return -1;
        v->s = s;
        v->slen = len;
        return 0;
    case SPEC_T_INT:
        if (!spec_parse_int(s, len, &v->i) || v->i < f->imin || v->i > f->imax)
            return -1;
        return 0;
    case SPEC_T_U64:
        return spec_parse_u64(s, len, &v->u) ? 0 : -1;
    case SPEC_T_BYTES:
        return bytes_parse(s, len, &v->u);
    case SPEC_T_REAL: {
        double r;
        if (!spec_parse_real(s, len, &r))
            return -1;
        bool lo_ok = f->flags & SPEC_LO_OPEN ? r > f->rmin : r >= f->rmin;
        bool hi_ok = f->flags & SPEC_NO_HI      ? true
                     : f->flags & SPEC_HI_OPEN ? r < f->rmax
                                               : r <= f->rmax;
        if (!lo_ok || !hi_ok)
            return -1;
        v->r = r;
        return 0;
    }
    case SPEC_T_BOOL:
        if (len == 4 && !memcmp(s, "true", 4))
            v->b = true;
        else if (len == 5 && !memcmp(s, "false", 5))
            v->b = false;
        else
            return -1;
        return 0;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE: {
        const char *const *nm = spec_names(f);
        size_t k = spec_nnames(nm);
        for (size_t i = 0; i < k; i++) {
            if (strlen(nm[i]) == len && !memcmp(nm[i], s, len)) {
                if (f->type == SPEC_T_DTYPE) {
                    dtype dt;
                    if (dtype_from_name(nm[i], &dt))
                        return -1;
                    v->en = (int)dt;
                } else {
                    v->en = (int)i;
                }
                return 0;
            }
        }
        const char *best = spec_closest(s, len, nm, k);
        if (best)
            snprintf(hint, nhint, " (did you mean '%s'?)", best);
        return -1;
    }
    case SPEC_T_NODE:
        return -1;
    }
    return -1;
}

static char *spec_dup(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static int spec_store(spec *s, const spec_field *f, const spec_value *v)
{
    char *slot = (char *)s + f->off;
    switch (f->type) {
    case SPEC_T_STR: {
        char *copy = spec_dup(v->s, v->slen);
        if (!copy)
            return -1;
        char *old;
        memcpy(&old, slot, sizeof old);
        free(old);
        memcpy(slot, &copy, sizeof copy);
        return 0;
    }
    case SPEC_T_INT:
        if (f->size == sizeof(int)) {
            int x = (int)v->i;
            memcpy(slot, &x, sizeof x);
        } else {
            int64_t x = v->i;
            memcpy(slot, &x, sizeof x);
        }
        return 0;
    case SPEC_T_U64:
    case SPEC_T_BYTES:
        memcpy(slot, &v->u, sizeof v->u);
        return 0;
    case SPEC_T_REAL:
        memcpy(slot, &v->r, sizeof v->r);
        return 0;
    case SPEC_T_BOOL:
        memcpy(slot, &v->b, sizeof v->b);
        return 0;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE:
        memcpy(slot, &v->en, sizeof v->en);
        return 0;
    case SPEC_T_NODE:
        return -1;
    }
    return -1;
}

/* ---- defaults ------------------------------------------------------- */

/* "configs/elman_char.yaml" -> "elman_char". */
static char *spec_default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    static const char *const exts[] = {".yaml", ".yml"};
    for (size_t i = 0; i < 2; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && !strcmp(base + len - el, exts[i])) {
            len -= el;
            break;
        }
    }
    if (len == 0)
        return spec_dup("run", 3);
    /* 123.yaml: a run name of digits would read as a run id */
    size_t digits = 0;
    while (digits < len && base[digits] >= '0' && base[digits] <= '9')
        digits++;
    if (digits == len) {
        char *p = malloc(len + 5);
        if (p)
            snprintf(p, len + 5, "run-%.*s", (int)len, base);
        return p;
    }
    return spec_dup(base, len);
}

static int spec_defaults(spec *s, const char *path, uerr *e)
{
    for (size_t i = 0; i < SPEC_NFIELDS; i++) {
        const spec_field *f = &spec_fields[i];
        spec_value v;
        char hint[8];
        if (!f->def)
            continue;
        if (spec_parse(f, f->def, strlen(f->def), true, &v, hint, sizeof hint))
            return uerr_set(e, UERR_INTERNAL, "spec table: bad default '%s' for %s", f->def,
                            f->key);
        if (spec_store(s, f, &v))
            return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    }
    s->name = spec_default_name(path);
    if (!s->name)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    return 0;
}

/* ---- the walk over the file ----------------------------------------- */

typedef struct spec_loader {
    spec *s;
    const char *path;
    uerr *e;
} spec_loader;

static int spec_at(spec_loader *L, const ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int spec_at(spec_loader *L, const ytree_node *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return uerr_set(L->e, UERR_USER, "%s:%d:%d: %s", L->path, n->line, n->col, msg);
}

/* What a node is, for "found ...". */
static const char *spec_found(const ytree_node *n, char *buf, size_t size)
{
    char shown[256];
    if (n->kind != YTREE_SCALAR)
        return ytree_kind_name(n->kind);
    if (ytree_is_null(n))
        return n->len ? "null" : "nothing";
    ytree_show(shown, sizeof shown, n->text, n->len);
    if (n->quoted)
        snprintf(buf, size, "the string \"%s\"", shown);
    else
        snprintf(buf, size, "'%s'", shown);
    return buf;
}

static int spec_take(spec_loader *L, const spec_field *f, const ytree_node *val)
{
    char expect[160], found[300], hint[96];
    if (f->type == SPEC_T_NODE) {
        memcpy((char *)L->s + f->off, &val, sizeof val);
        return 0;
    }
    bool typed = f->type == SPEC_T_INT || f->type == SPEC_T_U64 ||
                 f->type == SPEC_T_REAL || f->type == SPEC_T_BOOL;
    spec_expect(f, expect, sizeof expect);
    if (val->kind != YTREE_SCALAR || ytree_is_null(val) || (typed && val->quoted))
        return spec_at(L, val, "%s: expected %s, found %s", f->key, expect,
                       spec_found(val, found, sizeof found));
    if (f->type == SPEC_T_STR && memchr(val->text, '\0', val->len))
        return spec_at(L, val, "%s: a string cannot contain a NUL byte", f->key);
    spec_value v;
    if (spec_parse(f, val->text, val->len, false, &v, hint, sizeof hint))
        return spec_at(L, val, "%s: expected %s, found %s%s", f->key, expect,
                       spec_found(val, found, sizeof found), hint);
    if (spec_store(L->s, f, &v))
        return uerr_set(L->e, UERR_INTERNAL, "%s: out of memory", L->path);
    return 0;
}

/* The recursion follows table sections (at most three levels), not the
 * file's depth. */
static int spec_walk(spec_loader *L, const ytree_node *map, const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        const ytree_node *key = map->kids[2 * i], *val = map->kids[2 * i + 1];
        char path[160], shown[256], hint[96];
        size_t pl = strlen(prefix);
        ytree_show(shown, sizeof shown, key->text, key->len);
        if (memchr(key->text, '.', key->len))
            return spec_at(L, key,
                           "unknown key '%s%s%s' (write nested keys as mappings, not dotted)",
                           prefix, pl ? "." : "", shown);
        bool fits = pl + 1 + key->len < sizeof path && !memchr(key->text, '\0', key->len);
        size_t len = 0;
        if (fits) {
            memcpy(path, prefix, pl);
            len = pl;
            if (pl)
                path[len++] = '.';
            memcpy(path + len, key->text, key->len);
            len += key->len;
            path[len] = '\0';
        }
        const spec_field *f = fits ? spec_field_find(path, len) : NULL;
        if (f) {
            if (spec_take(L, f, val))
                return -1;
        } else if (fits && spec_is_section(path, len)) {
            char found[300];
            if (ytree_is_null(val))
                continue;
            if (val->kind != YTREE_MAP)
                return spec_at(L, val, "%s: expected a mapping, found %s", path,
                               spec_found(val, found, sizeof found));
            if (spec_walk(L, val, path))
                return -1;
        } else {
            hint[0] = '\0';
            if (fits)
                spec_suggest_key(path, len, hint, sizeof hint);
            return spec_at(L, key, "unknown key '%s%s%s'%s", prefix, pl ? "." : "", shown,
                           hint);
        }
    }
    return 0;
}

/* ---- public --------------------------------------------------------- */

int spec_set(spec *s, const char *assignment, uerr *e)
{
    char shown[256], hint[96], expect[160];
    const char *eq = strchr(assignment, '=');
    ytree_show(shown, sizeof shown, assignment, strlen(assignment));
    if (!eq || eq == assignment)
        return uerr_set(e, UERR_USER, "--set %s: expected KEY=VALUE", shown);
    size_t klen = (size_t)(eq - assignment);
    const char *val = eq + 1;
    const spec_field *f = spec_field_find(assignment, klen);
    if (!f) {
        char key[256];
        ytree_show(key, sizeof key, assignment, klen);
        if (spec_is_section(assignment, klen))
            return uerr_set(e, UERR_USER, "--set %s: '%s' is a section; set one of its keys",
                            shown, key);
        hint[0] = '\0';
        spec_suggest_key(assignment, klen, hint, sizeof hint);
        return uerr_set(e, UERR_USER, "--set %s: unknown key '%s'%s", shown, key, hint);
    }
    if (f->type == SPEC_T_NODE)
        return uerr_set(e, UERR_USER, "--set %s: %s can only be written in the config file",
                        shown, f->key);
    spec_value v;
    if (spec_parse(f, val, strlen(val), false, &v, hint, sizeof hint)) {
        spec_expect(f, expect, sizeof expect);
        if (f->type == SPEC_T_STR && !ytree_utf8_valid(val, strlen(val)))
            snprintf(expect, sizeof expect, "UTF-8 text");
        return uerr_set(e, UERR_USER, "--set %s: expected %s%s", shown, expect, hint);
    }
    if (spec_store(s, f, &v))
        return uerr_set(e, UERR_INTERNAL, "--set %s: out of memory", shown);
    return 0;
}

int spec_check(const spec *s, uerr *e)
{
    static const char *const custom_keys[] = {"params", "state", "step"};
    const ytree_node *custom[] = {s->model.params, s->model.state, s->model.step};
    const char *path = s->path ? s->path : "config";
    if (s->model.cell != SPEC_CELL_CUSTOM) {
        for (size_t i = 0; i < 3; i++) {
            if (!custom[i])
                continue;
            const ytree_node *key = NULL;
            const ytree_node *model =
                s->tree ? ytree_map_get(s->tree->root, "model", NULL) : NULL;
            ytree_map_get(model, custom_keys[i], &key);
            const ytree_node *at = key ? key : custom[i];
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.%s is only valid with model.cell: custom", path,
                            at->line, at->col, custom_keys[i]);
        }
    } else if (!s->model.step) {
        return uerr_set(e, UERR_USER, "%s: model.step: required with model.cell: custom",
                        path);
    }
    if (!s->data.path || !s->data.path[0])
        return uerr_set(e, UERR_USER, "%s: data.path: required", path);
    return 0;
}

int spec_load_buffer(spec *out, const char *name, const char *buf, size_t len,
                     const char *const *sets, int nsets, uerr *e)
{
    spec s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    int rc = ytree_parse_buffer(&s.tree, name, buf, len, e);
    if (rc)
        return rc;
    s.path = spec_dup(name, strlen(name));
    s.text = spec_dup(len ? buf : "", len);
    s.text_len = len;
    if (!s.path || !s.text) {
        spec_free(&s);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
    }
    if ((rc = spec_defaults(&s, name, e))) {
        spec_free(&s);
        return rc;
    }
    spec_loader L = {&s, name, e};
    const ytree_node *root = s.tree->root;
    char found[300];
    if (!root || ytree_is_null(root))
        rc = uerr_set(e, UERR_USER, "%s: empty config", name);
    else if (root->kind != YTREE_MAP)
        rc = spec_at(&L, root, "the top level must be a mapping, found %s",
                     spec_found(root, found, sizeof found));
    else if (spec_walk(&L, root, ""))
        rc = e && e->code ? e->code : UERR_USER;
    for (int i = 0; !rc && i < nsets; i++)
        rc = spec_set(&s, sets[i], e);
    if (!rc)
        rc = spec_check(&s, e);
    if (rc) {
        spec_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int spec_load(spec *out, const char *path, const char *const *sets, int nsets, uerr *e)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = ytree_read_file(path, &text, &len, e);
    if (rc)
        return rc;
    rc = spec_load_buffer(out, path, text, len, sets, nsets, e);
    free(text);
    return rc;
}

void spec_free(spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SPEC_NFIELDS; i++) {
        if (spec_fields[i].type == SPEC_T_STR) {
            char *p;
            memcpy(&p, (char *)s + spec_fields[i].off, sizeof p);
            free(p);
        }
    }
    free(s->path);
    free(s->text);
    ytree_free(s->tree);
    memset(s, 0, sizeof *s);
}

const char *spec_value_name(const char *key, int value)
{
    const spec_field *f = spec_field_find(key, strlen(key));
    if (!f || (f->type != SPEC_T_ENUM && f->type != SPEC_T_DTYPE) || value < 0)
        return NULL;
    if (f->type == SPEC_T_DTYPE)
        return value == DT_F32 || value == DT_F64 ? dtype_name((dtype)value) : NULL;
    const char *const *nm = spec_names(f);
    return (size_t)value < spec_nnames(nm) ? nm[value] : NULL;
}

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
    for (size_t i = 0; i < SPEC_NFIELDS; i++) {
        const spec_field *fd = &spec_fields[i];
        const char *dot = strrchr(fd->key, '.');
        size_t seclen = dot ? (size_t)(dot - fd->key) : 0;
        const char *leaf = dot ? dot + 1 : fd->key;
        const ytree_node *node = NULL;
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
            fprintf(f, "%*s# %s\n%*s%s:", indent, "", spec_doc(fd, doc, sizeof doc), indent,
                    "", leaf);
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
    }
    return ferror(f) ? -1 : 0;
}
