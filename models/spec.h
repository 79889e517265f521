/*
 * spec.h - the typed experiment config, loaded from YAML.
 *
 * One static table in spec_table.c lists every key (dotted path, type, field,
 * default, range, allowed values, one-line doc); loading, --set overrides,
 * defaults and `unroll config show` all walk that table, so a key exists in
 * exactly one place. Adding a key = one field here + one table row.
 *
 * Invariants of a spec returned by spec_load / spec_load_buffer:
 *   - every field holds a value in its documented range (a default when
 *     the config does not mention it); strings are non-NULL, NUL-terminated
 *     UTF-8 without NUL bytes;
 *   - data.path is non-empty (data.kind text is the only kind so far);
 *   - model.params / model.state / model.step are non-NULL only when
 *     model.cell is custom (model.step is then always present); they point
 *     into `tree`, which the spec owns, and stay valid until spec_free;
 *   - `text` is the config exactly as read, `path` the name it was read
 *     under: both are what the store records with a run;
 *   - each model.init entry has a kind, and std only with normal or
 *     uniform; whether its name is a parameter is checked when the cell
 *     is built (models/cell.c), which the spec does not know;
 *   - model.activation_given is false for a custom cell.
 * Errors are one line: `PATH:LINE:COL: message` for a place in the file,
 * `PATH: key: message` for a whole-config check, and
 * `--set KEY=VALUE: message` for an override.
 */
#ifndef UNROLL_SPEC_H
#define UNROLL_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/tensor.h"
#include "models/yamltree.h"

/* Stacked layers: model.layers is refused above this where it is read
 * (the spec), and the model keeps every layer's state for hT in an array
 * of this size. */
#define SPEC_MAX_LAYERS 10

/* Each enum's values are spelled in YAML as in the comment, in order. */
typedef enum spec_data_kind {
    SPEC_DATA_TEXT,     /* text */
    SPEC_DATA_CLASSIFY, /* classify */
    SPEC_DATA_NPY,      /* npy */
} spec_data_kind;

typedef enum spec_cell {
    SPEC_CELL_ELMAN,  /* elman: h = act(W h[t-1] + U x + b) */
    SPEC_CELL_JORDAN, /* jordan: h = act(W y[t-1] + U x + b) */
    SPEC_CELL_LSTM,   /* lstm */
    SPEC_CELL_GRU,    /* gru */
    SPEC_CELL_CUSTOM, /* custom: model.params / state / step equations */
} spec_cell;

/* model.gru: where the GRU's reset gate acts on the recurrent product. */
typedef enum spec_gru {
    SPEC_GRU_CHO,   /* cho: n = tanh(Wn @ (r * h[t-1]) + Un @ x + bn) */
    SPEC_GRU_TORCH, /* torch: n = tanh(Un @ x + bn + r * (Wn @ h[t-1] + bhn)), as nn.GRU */
} spec_gru;

typedef enum spec_output {
    SPEC_OUT_SOFTMAX, /* softmax */
    SPEC_OUT_LINEAR,  /* linear */
    SPEC_OUT_SIGMOID, /* sigmoid */
} spec_output;

typedef enum spec_loss {
    SPEC_LOSS_CROSS_ENTROPY, /* cross_entropy */
    SPEC_LOSS_MSE,           /* mse */
    SPEC_LOSS_BCE,           /* bce */
} spec_loss;

typedef enum spec_outputs {
    SPEC_OUTPUTS_EVERY_STEP, /* every_step */
    SPEC_OUTPUTS_LAST_STEP,  /* last_step */
} spec_outputs;

typedef enum spec_state {
    SPEC_STATE_CARRY, /* carry: truncated BPTT, state kept between chunks */
    SPEC_STATE_ZERO,  /* zero: every chunk starts from a zero state */
} spec_state;

typedef enum spec_optim {
    SPEC_OPT_SGD,      /* sgd */
    SPEC_OPT_MOMENTUM, /* momentum */
    SPEC_OPT_ADAGRAD,  /* adagrad */
    SPEC_OPT_ADAM,     /* adam */
} spec_optim;

/* model.init.NAME.kind: how one parameter starts (models/spec_init.c). */
typedef enum spec_init_kind {
    SPEC_INIT_CONSTANT,   /* constant: every element is value */
    SPEC_INIT_NORMAL,     /* normal: N(value, std^2) */
    SPEC_INIT_UNIFORM,    /* uniform: [value - sqrt(3) std, value + sqrt(3) std),
                             the mean and std of normal */
    SPEC_INIT_ORTHOGONAL, /* orthogonal (2-D): orthonormal columns (rows when
                             wider than tall), times value */
    SPEC_INIT_IDENTITY,   /* identity (2-D): value on the diagonal, 0 elsewhere */
} spec_init_kind;

#define SPEC_MAX_INITS 32

/* One model.init entry: NAME: {kind: K, value: X, std: X}. */
typedef struct spec_init {
    char name[32]; /* a parameter of the cell (checked when the cell is built) */
    spec_init_kind kind;
    double value;  /* default 0 (constant, normal, uniform) or 1 (orthogonal, identity) */
    double std;    /* normal, uniform: > 0; < 0 means model.init.std */
    int line, col; /* of NAME in the file; 0 when set by --set */
    bool has_kind, has_value, has_std;
} spec_init;

typedef enum spec_schedule {
    SPEC_SCHED_CONSTANT, /* constant */
    SPEC_SCHED_STEP,     /* step: lr * gamma^floor(k / every) */
    SPEC_SCHED_COSINE,   /* cosine: from lr down to min_lr */
} spec_schedule;

typedef struct spec {
    char *name; /* default: the config file's basename without .yaml/.yml */

    struct {
        spec_data_kind kind;
        char *path;
        double valid_fraction; /* [0, 0.5] */
        uint64_t max_bytes;    /* a data file larger than this is refused */
    } data;

    struct {
        spec_cell cell;
        spec_gru gru;          /* cell gru only */
        int hidden;            /* 1..65536 */
        int activation;        /* index into op_activation_names() (ops/ops.h):
                                  spec_value_name("model.activation", i) */
        bool activation_given; /* written in the file or by --set: refused
                                  for a custom cell, whose equations name
                                  their functions */
        spec_output output;
        spec_loss loss;
        spec_outputs outputs;
        int layers; /* 1..64 */
        bool bidirectional;
        struct {
            double std; /* > 0 */
            int n;      /* per-parameter entries, in the order written */
            spec_init param[SPEC_MAX_INITS];
        } init;
        struct {
            double input;  /* [0, 1): chance of dropping an input, per step */
            double output; /* [0, 1): a unit the output reads, per step */
            double state;  /* [0, 1): a unit of h[t-1], one mask per chunk */
        } dropout;
        /* custom cell only, else NULL; unparsed, owned by `tree` */
        const ytree_node *params; /* any node */
        const ytree_node *state;  /* any node */
        const ytree_node *step;   /* any node; required when custom */
    } model;

    struct {
        dtype dtype; /* DT_F32 or DT_F64 */
        int seq_len; /* 1..1000000 */
        int batch;   /* 1..65536 */
        spec_state state;
        int64_t steps; /* >= 1 */
        struct {
            spec_optim name;
            double lr;       /* > 0 */
            double eps;      /* > 0 */
            double momentum; /* [0, 1) */
            double beta1;    /* [0, 1) */
            double beta2;    /* [0, 1) */
        } optimizer;
        struct {
            spec_schedule name;
            int64_t warmup; /* >= 0: steps of linear warm-up */
            int64_t steps;  /* >= 0: the decay's length; 0 = train.steps
                               as the run began (train.c records it) */
            int64_t every;  /* >= 1: step: steps between decays */
            double gamma;   /* (0, 1]: step: the factor of each decay */
            double min_lr;  /* >= 0: cosine: the rate it ends at */
        } lr_schedule;
        double weight_decay; /* >= 0: L2 in the gradient; adam: decoupled */
        int64_t accumulate;  /* 1..65536: micro-batches per update */
        struct {
            int64_t patience; /* >= 0: validations without improvement
                                 before stopping; 0 = off */
            double min_delta; /* >= 0: what counts as an improvement */
        } early_stop;
        struct {
            double value; /* >= 0, 0 = off */
            double norm;  /* >= 0, 0 = off */
        } clip;
        struct {
            double start; /* [0, 1] */
            double end;   /* [0, 1] */
        } scheduled_sampling;
        uint64_t seed;
        int64_t valid_every;    /* >= 0, 0 = never */
        int64_t log_every;      /* >= 1 */
        int64_t ledger_every;   /* >= 0, 0 = never */
        int fuse;               /* the plan's rewrites: 0 all, 1 exact, 2 none
                                   (engine/plan.h, enum plan_fuse) */
        uint64_t memory_budget; /* bytes of plan arena, 0 = no limit
                                   (engine/recompute.h) */
        struct {
            int64_t every; /* >= 0, 0 = only at the end */
            char *db;
            int64_t wait;   /* seconds a checkpoint waits for a lock held elsewhere */
            double minutes; /* >= 0: wall-clock minutes between checkpoints; 0 = off */
        } checkpoint;
    } train;

    struct {
        int64_t length;     /* 1..1000000000 */
        double temperature; /* >= 0; 0 = greedy */
        char *prime;        /* may be "" */
        uint64_t seed;
    } sample;

    char *path;      /* the name the config was loaded under */
    char *text;      /* the config text exactly as read, NUL-terminated */
    size_t text_len; /* bytes in text */
    ytree *tree;     /* the parsed config; owns model.params/state/step */
} spec;

/* Loads PATH, applies the nsets `KEY=VALUE` overrides in order, then runs
 * the cross-field checks. On failure *out is left empty (spec_free on it
 * is harmless) and e holds one line. */
int spec_load(spec *out, const char *path, const char *const *sets, int nsets, uerr *e);

/* The same from memory: name is what messages and `path` show, and what
 * the default run name derives from. buf need not be NUL-terminated. */
int spec_load_buffer(spec *out, const char *name, const char *buf, size_t len,
                     const char *const *sets, int nsets, uerr *e);

/* One override, "model.hidden=128", parsed by the same rules as the file
 * (the value is taken literally: no YAML quoting). Does not rerun the
 * cross-field checks: call spec_check after the last one. */
int spec_set(spec *s, const char *assignment, uerr *e);

/* The checks that involve more than one key (data.path required, custom
 * keys only with model.cell: custom, ...). spec_load runs them. */
int spec_check(const spec *s, uerr *e);

/* Every key with its resolved value, as YAML that spec_load reads back to
 * the same spec, one `# doc` comment per key. 0, or -1 if f reports a
 * write error. */
int spec_write_yaml(const spec *s, FILE *f);

/* How an enum (or train.dtype) value is spelled in YAML, e.g.
 * spec_value_name("model.cell", s->model.cell) -> "elman"; NULL if key is
 * not an enum key or value is out of range. */
const char *spec_value_name(const char *key, int value);

/* Where a dotted key ("train.scheduled_sampling") was written: "PATH:LINE:COL"
 * of its key in the file, or "PATH" when the file does not have it (a
 * default, or a --set). Returns buf. */
const char *spec_key_place(const spec *s, const char *key, char *buf, size_t n);

void spec_free(spec *s);

#endif
