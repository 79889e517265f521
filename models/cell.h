/*
 * cell.h - a recurrent cell as the user could have written it: parameters
 * with their dimensions, state vectors, and step equations.
 *
 * The presets are exactly such descriptions, produced from text (see
 * cell.c), so a preset and its custom-form config build the same graph:
 *
 *   elman   h[t] = act(W @ h[t-1] + U @ x[t] + b);    o[t] = V @ h[t] + c
 *   jordan  h[t] = act(W @ y[t-1] + U @ x[t] + b);    o[t] = V @ h[t] + c
 *           (y[t-1]: the previous target under teacher forcing; y[-1] = 0)
 *   lstm    i, f, g, q gates from h[t-1] and x[t]; cell[t] = f*cell[t-1] + i*g;
 *           h[t] = q * tanh(cell[t])
 *   gru     z, r gates; n[t] = tanh(Wn @ (r[t] * h[t-1]) + Un @ x[t] + bn);
 *           h[t] = (1 - z[t]) * n[t] + z[t] * h[t-1]   (model.gru: cho)
 *           n[t] = tanh(Un @ x[t] + bn + r[t] * (Wn @ h[t-1] + bhn))
 *                                                      (model.gru: torch, nn.GRU's)
 *
 * Dimensions are `hidden`, `input`, `output` (resolved when the model is
 * built) or integers. Parameter names: one per matrix and gate, W* for
 * state-to-state, U* for input-to-state, b* for biases, V and c for the
 * output layer.
 */
#ifndef UNROLL_CELL_H
#define UNROLL_CELL_H

#include "models/equation.h"
#include "models/spec.h"

#define CELL_MAX_PARAMS 32
#define CELL_MAX_STATES 8
#define CELL_MAX_EQS 32

typedef struct cell_param {
    char name[EQ_NAME_MAX];
    int rank; /* 1 or 2 */
    char dim[2][EQ_NAME_MAX];
    int line, col;
    const spec_init *init; /* its model.init entry (in the spec), or NULL */
} cell_param;

typedef struct cell_state {
    char name[EQ_NAME_MAX];
    char dim[EQ_NAME_MAX];
    int line, col;
} cell_state;

typedef struct cell {
    char file[256]; /* where the equations came from */
    int nparams, nstates, neqs;
    cell_param param[CELL_MAX_PARAMS];
    cell_state state[CELL_MAX_STATES];
    equation eq[CELL_MAX_EQS];
    char output[EQ_NAME_MAX]; /* the symbol the loss reads: "o" */
} cell;

/* The cell of a spec: its preset expanded, or its custom equations, with
 * each parameter's model.init entry. Without an entry a matrix starts
 * normal(0, model.init.std) and a vector that the equations only ever add
 * (a bias) at 0; any other vector (a gain such as IndRNN's u in
 * u * h[t-1]) must have an entry: its start is the user's choice. */
int cell_from_spec(const spec *s, cell *c, uerr *e);
void cell_free(cell *c);

/* Refuses a parameter no equation reads, and a vector that is not a bias
 * without a model.init entry. Run after the equations were evaluated, so
 * that an error in an equation (which may be why a parameter goes unread)
 * is the one reported. */
int cell_check_params(const cell *c, uerr *e);

/* Whether an equation reads y[t-1]: an output-to-hidden path, the only
 * place where scheduled sampling and free-running evaluation change
 * anything. */
int cell_reads_output(const cell *c);

/* The dimension symbol's value, or -1 with *e set. */
int64_t cell_dim(const cell *c, const char *dim, int64_t hidden, int64_t input, int64_t output,
                 int line, int col, uerr *e);

#endif
