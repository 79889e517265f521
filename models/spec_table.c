/*
 * spec_table.c - the config's one table of keys (type, field, default,
 * range, names, doc) and the lookups over it: finding a key or section,
 * an enum value's name, and the "did you mean" suggestions for typos.
 *
 * Every key lives in spec_fields[] only: the loader, --set, the defaults,
 * the writer behind `unroll config show` and spec_value_name all read the
 * table, so they cannot disagree about a key's type, range or default.
 * Rows of one section must be contiguous (the writer opens each section
 * once); the round-trip test would catch a row out of place.
 */
#include "models/spec_table.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ops/ops.h"

static const char *const spec_data_kind_names[] = {"text", "classify", "npy", NULL};
static const char *const spec_cell_names[] = {"elman", "jordan", "lstm", "gru", "custom", NULL};
static const char *const spec_gru_names[] = {"cho", "torch", NULL};
static const char *const spec_output_names[] = {"softmax", "linear", "sigmoid", NULL};
static const char *const spec_loss_names[] = {"cross_entropy", "mse", "bce", NULL};
static const char *const spec_outputs_names[] = {"every_step", "last_step", NULL};
static const char *const spec_state_names[] = {"carry", "zero", NULL};
static const char *const spec_optim_names[] = {"sgd", "momentum", "adagrad", "adam", NULL};
static const char *const spec_schedule_names[] = {"constant", "step", "cosine", NULL};
static const char *const spec_dtype_names[] = {"float32", "float64", NULL};
static const char *const spec_fuse_names[] = {"all", "exact", "none", NULL};

#define SPEC_NNAMES(a) (sizeof(a) / sizeof((a)[0]) - 1)
_Static_assert(SPEC_NNAMES(spec_data_kind_names) == SPEC_DATA_NPY + 1, "data.kind");
_Static_assert(SPEC_NNAMES(spec_cell_names) == SPEC_CELL_CUSTOM + 1, "model.cell");
_Static_assert(SPEC_NNAMES(spec_gru_names) == SPEC_GRU_TORCH + 1, "model.gru");
_Static_assert(SPEC_NNAMES(spec_output_names) == SPEC_OUT_SIGMOID + 1, "model.output");
_Static_assert(SPEC_NNAMES(spec_loss_names) == SPEC_LOSS_BCE + 1, "model.loss");
_Static_assert(SPEC_NNAMES(spec_outputs_names) == SPEC_OUTPUTS_LAST_STEP + 1, "model.outputs");
_Static_assert(SPEC_NNAMES(spec_state_names) == SPEC_STATE_ZERO + 1, "train.state");
_Static_assert(SPEC_NNAMES(spec_optim_names) == SPEC_OPT_ADAM + 1, "optimizer.name");
_Static_assert(SPEC_NNAMES(spec_fuse_names) == 3, "train.fuse");
_Static_assert(SPEC_NNAMES(spec_schedule_names) == SPEC_SCHED_COSINE + 1, "lr_schedule.name");
/* Enum fields are stored through an int. */
_Static_assert(sizeof(spec_cell) == sizeof(int) && sizeof(dtype) == sizeof(int),
               "enums are int-sized");

#define SPEC_AT(m) .off = offsetof(spec, m), .size = sizeof(((spec *)0)->m)
#define F_STR(k, m, d, fl, doc_)                                                                   \
    {                                                                                              \
        .key = k, .type = SPEC_T_STR, SPEC_AT(m), .def = d, .flags = fl, .doc = doc_               \
    }
#define F_INT(k, m, d, lo, hi, doc_)                                                               \
    {                                                                                              \
        .key = k, .type = SPEC_T_INT, SPEC_AT(m), .def = d, .imin = lo, .imax = hi, .doc = doc_    \
    }
#define F_U64(k, m, d, doc_)                                                                       \
    {                                                                                              \
        .key = k, .type = SPEC_T_U64, SPEC_AT(m), .def = d, .doc = doc_                            \
    }
#define F_BYTES(k, m, d, doc_)                                                                     \
    {                                                                                              \
        .key = k, .type = SPEC_T_BYTES, SPEC_AT(m), .def = d, .doc = doc_                          \
    }
#define F_REAL(k, m, d, lo, hi, fl, doc_)                                                          \
    {                                                                                              \
        .key = k, .type = SPEC_T_REAL, SPEC_AT(m), .def = d, .rmin = lo, .rmax = hi, .flags = fl,  \
        .doc = doc_                                                                                \
    }
#define F_BOOL(k, m, d, doc_)                                                                      \
    {                                                                                              \
        .key = k, .type = SPEC_T_BOOL, SPEC_AT(m), .def = d, .doc = doc_                           \
    }
#define F_ENUM(k, m, d, nm, doc_)                                                                  \
    {                                                                                              \
        .key = k, .type = SPEC_T_ENUM, SPEC_AT(m), .def = d, .names = nm, .doc = doc_              \
    }
#define F_DTYPE(k, m, d, doc_)                                                                     \
    {                                                                                              \
        .key = k, .type = SPEC_T_DTYPE, SPEC_AT(m), .def = d, .names = spec_dtype_names,           \
        .doc = doc_                                                                                \
    }
/* an enum over the op table's names: the ops flagged OPF_ACTIVATION */
#define F_OPS(k, m, d, fn)                                                                         \
    {                                                                                              \
        .key = k, .type = SPEC_T_ENUM, SPEC_AT(m), .def = d, .names_fn = fn                        \
    }
#define F_NODE(k, m, doc_)                                                                         \
    {                                                                                              \
        .key = k, .type = SPEC_T_NODE, SPEC_AT(m), .doc = doc_                                     \
    }

const spec_field spec_fields[] = {
    F_STR("name", name, NULL, SPEC_NONEMPTY, "run name (default: the config's file name)"),

    F_ENUM("data.kind", data.kind, "text", spec_data_kind_names,
           "text: one character stream | classify: TSV lines sequence<TAB>label | npy: "
           "a directory of inputs.npy, targets.npy, lengths.npy"),
    F_STR("data.path", data.path, "", SPEC_NONEMPTY, "training data file (required)"),
    F_REAL("data.valid_fraction", data.valid_fraction, "0", 0, 0.5, 0,
           "share of the data held out for validation"),
    F_BYTES("data.max_bytes", data.max_bytes, "4GiB",
            "a text or TSV data file larger than this is refused before it fills memory "
            "(a source that never ends, such as /dev/zero, stops here)"),

    F_ENUM("model.cell", model.cell, "elman", spec_cell_names,
           "elman | jordan | lstm | gru | custom"),
    F_ENUM("model.gru", model.gru, "cho", spec_gru_names,
           "gru: cho (Wn @ (r * h)) | torch (r * (Wn @ h + bhn), as nn.GRU)"),
    F_INT("model.hidden", model.hidden, "100", 1, 65536, "hidden units per layer"),
    F_OPS("model.activation", model.activation, "tanh", op_activation_names),
    F_ENUM("model.output", model.output, "softmax", spec_output_names,
           "softmax | linear | sigmoid"),
    F_ENUM("model.loss", model.loss, "cross_entropy", spec_loss_names, "cross_entropy | mse | bce"),
    F_ENUM("model.outputs", model.outputs, "every_step", spec_outputs_names,
           "every_step | last_step"),
    F_INT("model.layers", model.layers, "1", 1, SPEC_MAX_LAYERS, "stacked recurrent layers"),
    F_BOOL("model.bidirectional", model.bidirectional, "false",
           "add a layer running backwards in time"),
    F_REAL("model.init.std", model.init.std, "0.01", 0, 0, SPEC_LO_OPEN | SPEC_NO_HI,
           "std of the normal initial weights"),
    F_REAL("model.dropout.input", model.dropout.input, "0", 0, 1, SPEC_HI_OPEN,
           "training only: chance an input is dropped (0 = off)"),
    F_REAL("model.dropout.output", model.dropout.output, "0", 0, 1, SPEC_HI_OPEN,
           "training only: chance a unit the output reads is dropped"),
    F_REAL("model.dropout.state", model.dropout.state, "0", 0, 1, SPEC_HI_OPEN,
           "training only: chance a unit of h[t-1] is dropped, one mask per chunk"),
    F_NODE("model.params", model.params, "custom cell: parameter shapes"),
    F_NODE("model.state", model.state, "custom cell: state sizes"),
    F_NODE("model.step", model.step, "custom cell: one equation per line"),

    F_DTYPE("train.dtype", train.dtype, "float32", "float32 | float64"),
    F_INT("train.seq_len", train.seq_len, "25", 1, 1000000, "time steps per unrolled chunk"),
    F_INT("train.batch", train.batch, "1", 1, 65536, "sequences per batch"),
    F_ENUM("train.state", train.state, "carry", spec_state_names, "carry (truncated BPTT) | zero"),
    F_INT("train.steps", train.steps, "1000", 1, SPEC_NOMAX, "optimiser steps"),
    F_ENUM("train.optimizer.name", train.optimizer.name, "adagrad", spec_optim_names,
           "sgd | momentum | adagrad | adam"),
    F_REAL("train.optimizer.lr", train.optimizer.lr, "0.1", 0, 0, SPEC_LO_OPEN | SPEC_NO_HI,
           "learning rate"),
    F_REAL("train.optimizer.eps", train.optimizer.eps, "1e-8", 0, 0, SPEC_LO_OPEN | SPEC_NO_HI,
           "adagrad, adam: added to the denominator"),
    F_REAL("train.optimizer.momentum", train.optimizer.momentum, "0.9", 0, 1, SPEC_HI_OPEN,
           "momentum: velocity decay"),
    F_REAL("train.optimizer.beta1", train.optimizer.beta1, "0.9", 0, 1, SPEC_HI_OPEN,
           "adam: first-moment decay"),
    F_REAL("train.optimizer.beta2", train.optimizer.beta2, "0.999", 0, 1, SPEC_HI_OPEN,
           "adam: second-moment decay"),
    F_ENUM("train.lr_schedule.name", train.lr_schedule.name, "constant", spec_schedule_names,
           "after the warm-up: constant | step (times gamma every `every` steps) | cosine "
           "(down to min_lr)"),
    F_INT("train.lr_schedule.warmup", train.lr_schedule.warmup, "0", 0, SPEC_NOMAX,
          "steps of linear warm-up from 0 to lr"),
    F_INT("train.lr_schedule.steps", train.lr_schedule.steps, "0", 0, SPEC_NOMAX,
          "steps the decay spans (0 = train.steps as the run began)"),
    F_INT("train.lr_schedule.every", train.lr_schedule.every, "1000", 1, SPEC_NOMAX,
          "step: steps between decays"),
    F_REAL("train.lr_schedule.gamma", train.lr_schedule.gamma, "0.1", 0, 1, SPEC_LO_OPEN,
           "step: the factor of each decay"),
    F_REAL("train.lr_schedule.min_lr", train.lr_schedule.min_lr, "0", 0, 0, SPEC_NO_HI,
           "cosine: the rate at the end"),
    F_REAL("train.weight_decay", train.weight_decay, "0", 0, 0, SPEC_NO_HI,
           "L2 penalty added to the gradient (adam: decoupled, AdamW); 0 = off"),
    F_INT("train.accumulate", train.accumulate, "1", 1, 65536,
          "micro-batches of train.batch whose gradients make one update"),
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
    F_INT("train.early_stop.patience", train.early_stop.patience, "0", 0, SPEC_NOMAX,
          "stop after this many validations without a better loss (0 = off)"),
    F_REAL("train.early_stop.min_delta", train.early_stop.min_delta, "0", 0, 0, SPEC_NO_HI,
           "how much lower a validation loss must be to count as better"),
    F_INT("train.log_every", train.log_every, "100", 1, SPEC_NOMAX, "steps between progress lines"),
    F_INT("train.ledger_every", train.ledger_every, "0", 0, SPEC_NOMAX,
          "steps between gradient ledgers in the metrics: per-step norms, sigma_max of each "
          "recurrent matrix (0 = never)"),
    F_ENUM("train.fuse", train.fuse, "all", spec_fuse_names,
           "plan rewrites: all | exact (bit-identical to none) | none (one kernel per node)"),
    F_BYTES("train.memory_budget", train.memory_budget, "0",
            "most bytes for activations and gradients, e.g. 64MiB; when exceeded, forward "
            "segments are recomputed in the backward pass (0 = no limit)"),
    F_INT("train.checkpoint.every", train.checkpoint.every, "0", 0, SPEC_NOMAX,
          "steps between checkpoints (0 = only at the end)"),
    F_REAL("train.checkpoint.minutes", train.checkpoint.minutes, "10", 0, 0, SPEC_NO_HI,
           "minutes of training between checkpoints (0 = off)"),
    F_STR("train.checkpoint.db", train.checkpoint.db, "unroll.db", SPEC_NONEMPTY,
          "SQLite checkpoint store"),
    F_INT("train.checkpoint.wait", train.checkpoint.wait, "600", 0, SPEC_NOMAX,
          "seconds a checkpoint waits for a lock held elsewhere"),

    F_INT("sample.length", sample.length, "200", 1, 1000000000, "characters to generate"),
    F_REAL("sample.temperature", sample.temperature, "1.0", 0, 0, SPEC_NO_HI,
           "softmax temperature (0 = greedy)"),
    F_STR("sample.prime", sample.prime, "", 0, "text fed in before sampling"),
    F_U64("sample.seed", sample.seed, "1", "sampling RNG seed"),
};

#define SPEC_NFIELDS (sizeof spec_fields / sizeof spec_fields[0])
const size_t spec_nfields = SPEC_NFIELDS;

/* ---- table lookups -------------------------------------------------- */

const spec_field *spec_field_find(const char *key, size_t len)
{
    for (size_t i = 0; i < SPEC_NFIELDS; i++)
        if (strlen(spec_fields[i].key) == len && !memcmp(spec_fields[i].key, key, len))
            return &spec_fields[i];
    return NULL;
}

/* A section is a proper prefix of some key, ending at a dot. */
bool spec_is_section(const char *key, size_t len)
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

const char *const *spec_names(const spec_field *f)
{
    return f->names_fn ? f->names_fn() : f->names;
}

/* The comment config show writes after a key. */
const char *spec_doc(const spec_field *f, char *buf, size_t n)
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

size_t spec_nnames(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
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
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
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
const char *spec_closest(const char *s, size_t len, const char *const *cands, size_t n)
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
 * every key and section for a typo, and for a key with the same last
 * part in another section ("model.lr" -> "train.optimizer.lr"). */
void spec_suggest_key(const char *key, size_t len, char *out, size_t n)
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
    /* the same last part in another section beats a typo of two edits
     * or more ("model.lr" is train.optimizer.lr, not model.gru) */
    const char *best = NULL;
    if (len <= 64) {
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
    const char *typo = spec_closest(key, len, cands, nc);
    if (typo && (!best || spec_distance(key, len, typo, strlen(typo)) <= 1))
        best = typo;
    if (best)
        snprintf(out, n, " (did you mean '%s'?)", best);
}
