/*
 * ops.h - the op table and the typed builders that add op nodes to a graph.
 *
 * Every op is one file in ops/ that defines `const op_def op_def_<ID>`
 * (arity, flags, shape inference, forward kernel, gradient builder, a
 * gradient-check example; where it has them, its accumulating kernel, how
 * equations call it and a worked example) and one line in graph/ops.def,
 * which gives its id and its name (the spelling in equations, DOT output
 * and messages: op_name). Nothing else lists ops: the table below is
 * generated; the equation evaluator (models/), the preset activations
 * (model.activation) and the function list in messages read it; and
 * tests/test_ops.c checks every entry (the gradient, or for an integer op
 * its worked example), so no op can skip it.
 *
 * Builders return the new node's index, or -1 with *e set. Any input of -1
 * makes a builder return -1 at once, so a chain of builders can be written
 * without a check after each call and reports the first failure.
 * New nodes are stamped with g->cur_t (the time step being built).
 */
#ifndef UNROLL_OPS_H
#define UNROLL_OPS_H

#include "graph/graph.h"

enum op_flags {
    OPF_NO_KERNEL = 1u << 1,  /* a leaf: bound by the caller */
    OPF_INDEX = 1u << 2,      /* computes integers: nothing to differentiate */
    OPF_INPLACE = 1u << 3,    /* elementwise: the output may be the
                                 buffer of an input of its size (each
                                 element is read before it is written) */
    OPF_CALL = 1u << 4,       /* equations can call it: name(args) */
    OPF_ACTIVATION = 1u << 5, /* a preset cell's model.activation may be
                                 it (OPF_CALL, one argument) */
};

/* Checks the inputs of n and sets n->shape and n->dt. */
typedef int (*op_infer_fn)(const graph *g, gnode *n, uerr *e);

/* Computes n from its inputs. in[i] points to input i's data, out to n's.
 * Kernels never allocate and never fail: shapes were checked at build.
 * An accumulating kernel (the plan's "accumulate" rewrite) adds n's value
 * into out instead, with the rounding of computing it and then adding it
 * with add wherever it can (see each op). */
typedef void (*op_forward_fn)(const graph *g, const gnode *n, void *const *in, void *out);

/* The bprop of Goodfellow et al. 6.5.6: adds nodes computing node's
 * contribution to d loss / d (input i), given gout = d loss / d node, and
 * returns it (a node of input i's shape), or -1 with *e set. Sets
 * *undefined instead when input i has no gradient (integer indices). */
typedef int32_t (*op_bprop_fn)(graph *g, int32_t node, int i, int32_t gout, int *undefined,
                               uerr *e);

/* Builds one instance of the op for the gradient check: its float leaves
 * flagged NODE_PARAM are checked; int leaves get values in [0, ip[0]). */
typedef int32_t (*op_example_fn)(graph *g, uerr *e);

/* An integer op's forward test: builds a small instance with fixed
 * inputs, runs its kernel and compares with the values worked out by
 * hand. 0 when they agree, else an error saying what differs. */
typedef int (*op_worked_fn)(uerr *e);

/* What an equation's call name(a, b, ...) gives the op's call builder:
 * its arguments on demand, evaluated by the equation evaluator (models/),
 * which also places every error at the equation's line and column. */
typedef struct op_args {
    graph *g;
    int n;     /* arguments written */
    void *ctx; /* the evaluator's */
    uerr *e;
    int placed; /* the error set already names its place */
    /* argument i as a per-step vector: its node, or -1 (error placed) */
    int32_t (*vector)(struct op_args *a, int i);
    /* argument i as a number: 1 and *num, or 0 when it is not one */
    int (*number)(struct op_args *a, int i, double *num);
    /* a user error about argument i (-1: the whole call); returns -1 */
    int32_t (*fail)(struct op_args *a, int i, const char *msg);
} op_args;

/* Builds op from an equation's call: the node, or -1 with the error set
 * (a builder's own error, such as a shape's, is placed by the caller). */
typedef int32_t (*op_call_fn)(int op, op_args *a);

/* Where the op is not differentiable (relu at 0, an argmax between two
 * scores): the region, a small integer, that element k of node n's output
 * lies in, read from its inputs and its output; the derivative is
 * continuous within a region. gradcheck skips (and counts) an element
 * whose perturbation moves any node's element to another region: central
 * differences across a kink measure no derivative. */
typedef int (*op_kink_fn)(const graph *g, const gnode *n, const void *const *in, const void *out,
                          int64_t k);

/* Which inputs an instance splits by rows with its output: bit k set when
 * input k is [M, ...] like the output [M, N] and row r of the output reads
 * row r of it alone (the other inputs whole: a weight, a bias, a scalar),
 * by the same arithmetic whichever rows one call computes. 0 when the
 * instance cannot be split. The engine then runs the rows of a run of such
 * instructions on several threads at once (engine/plan_rows.c): the bits
 * stay those of one call over all rows. */
typedef unsigned (*op_rows_fn)(const graph *g, const gnode *n);

typedef struct op_def {
    int arity; /* number of inputs; -1: 1..GRAPH_MAX_IN */
    unsigned flags;
    op_infer_fn infer;
    op_forward_fn forward;
    op_bprop_fn bprop; /* NULL: "no gradient for op X" */
    op_example_fn example;
    op_forward_fn accumulate; /* out += value (the plan's accumulate
                                 rewrite), or NULL */
    op_worked_fn worked;      /* OPF_INDEX ops: the forward test */
    /* OPF_CALL: how equations spell and call it */
    const char *call_name; /* NULL: the op's name */
    const char *call_args; /* its arguments for messages and docs;
                              NULL: "v" (one input) or "v, ..." */
    op_call_fn call;       /* NULL: op_call_vectors */
    op_kink_fn kink;       /* NULL: differentiable everywhere */
    op_rows_fn rows;       /* NULL: never split by rows */
} op_def;

extern const op_def *const op_table[OP_COUNT];

/* The accumulating kernel of an op (out += value), or NULL. */
op_forward_fn op_accumulate_fn(int op);

/* The op equations call by this name, or -1. */
int op_find_call(const char *name);
const char *op_call_name(int op);
/* "tanh, sigmoid, ...": every name equations can call, in table order. */
void op_call_list(char *buf, size_t n);
/* The call of an op whose arguments are all per-step vectors: every
 * argument is evaluated, then their number checked against the arity. */
int32_t op_call_vectors(int op, op_args *a);
/* The names of the OPF_ACTIVATION ops in table order, NULL-ended. */
const char *const *op_activation_names(void);

/* Infers the shape of *proto, pushes it, returns its id or -1. */
int32_t op_build(graph *g, gnode proto, uerr *e);

int32_t op_fill(graph *g, shape s, double value, uerr *e);
int32_t op_matmul(graph *g, int32_t a, int32_t b, int ta, int tb, uerr *e);
int32_t op_add(graph *g, int32_t a, int32_t b, uerr *e);
int32_t op_sub(graph *g, int32_t a, int32_t b, uerr *e);
int32_t op_mul(graph *g, int32_t a, int32_t b, uerr *e);
int32_t op_scale(graph *g, int32_t a, double s, uerr *e);
/* a elementwise to the constant power p (ops/power.c) */
int32_t op_pow(graph *g, int32_t a, double p, uerr *e);
int32_t op_unary(graph *g, int op, int32_t a, uerr *e);
int32_t op_binary(graph *g, int op, int32_t a, int32_t b, uerr *e);
int32_t op_softmax_xent(graph *g, int32_t logits, int32_t targets, uerr *e);
/* a real-target loss (OP_MSE or OP_SIGMOID_BCE) over the rows where
 * mask != 0 (mask < 0: every row) */
int32_t op_real_loss(graph *g, int op, int32_t pred, int32_t target, int32_t mask, uerr *e);
/* axis -1: sum of all elements (a scalar); axis 0: sum over every axis
 * but the last (the adjoint of broadcasting a row vector) */
int32_t op_sum(graph *g, int32_t a, int axis, uerr *e);
/* a scalar or a row vector [N] repeated to shape s (last dim N) */
int32_t op_broadcast(graph *g, int32_t a, shape s, uerr *e);
int32_t op_gather(graph *g, int32_t table, int32_t idx, uerr *e);
/* gather from a table stored transposed, [V, H]: rows, not columns */
int32_t op_gather_t(graph *g, int32_t table_t, int32_t idx, uerr *e);
int32_t op_scatter(graph *g, int32_t rows, int32_t idx, int64_t ncols, uerr *e);
/*
 * Sums over steps (the plan's graph builds them, PLAN_FUSE_ALL): the rows
 * of a [S * rows, N] matrix taken as S steps of `rows` rows, last to
 * first when reverse. op_sum_steps is sum(x_a) + sum(x_b) + ... and
 * op_scatter_steps scatter(x_a, i_a) + scatter(x_b, i_b) + ..., over the
 * steps in that order, with the bits of that chain of per-step sums
 * (each from 0 in row order) and adds; computed by columns (hidden units)
 * on the kernels' threads.
 */
int32_t op_sum_steps(graph *g, int32_t a, int64_t rows, int reverse, uerr *e);
int32_t op_scatter_steps(graph *g, int32_t a, int32_t idx, int64_t ncols, int64_t rows, int reverse,
                         uerr *e);
/* softmax_xent(l_a, t_a) + softmax_xent(l_b, t_b) + ... likewise, over
 * steps of logits [S * rows, N] and their targets [S * rows] */
int32_t op_xent_steps(graph *g, int32_t logits, int32_t targets, int64_t rows, int reverse,
                      uerr *e);
/* Their split: parts for ncols columns over work elements added, and the
 * first column of part k of n (any split gives the same bits); threads
 * for work elements however split (1 below what a wake-up costs). */
int op_steps_parts(int64_t ncols, int64_t work);
int op_steps_threads(int64_t work);
int64_t op_steps_start(int64_t ncols, int k, int n);
int32_t op_concat(graph *g, const int32_t *parts, int n, uerr *e);
int32_t op_slice(graph *g, int32_t a, int64_t start, int64_t len, uerr *e);
int32_t op_pad(graph *g, int32_t a, int64_t start, int64_t total, uerr *e);
int32_t op_transpose(graph *g, int32_t a, uerr *e);
/* The elements from one row of n's value to the next: its last
 * dimension, or more where the plan padded a transposed copy's rows to
 * whole cache lines (a transpose's ip[0]); and the bytes the value takes,
 * its padding included. */
int64_t op_row_stride(const gnode *n);
size_t op_value_bytes(const gnode *n);
/* A plan's folded product (ops/matmul.c): ip[3] MM_ADDEND when it is
 * added onto input 2 (else 1 + a gather's ip[0] with its table
 * and indices as inputs 2 and 3); which input is its bias, or -1. */
#define MM_ADDEND 3
int op_matmul_bias_input(const gnode *n);
/* Whether a product node runs split among the kernels' threads when it
 * runs alone (kernels/gemm.h gemm_splits; a few rows smallmm.c takes,
 * smm_splits): what the plan counts on. */
int op_matmul_splits(const graph *g, const gnode *n);
/* Columns c0 .. c1-1 of a product's output (every row), written (acc = 0)
 * or added to as its accumulating kernel adds (acc = 1): each element the
 * arithmetic of a call over all columns, so any split gives its bits. It
 * reads op(A) whole, so out must not overlap it. On the calling thread. */
void op_matmul_cols(const graph *g, const gnode *n, void *const *in, void *out, int acc, int64_t c0,
                    int64_t c1);
/* Columns j0 .. j1-1 of a gather's output (gather: as its forward kernel
 * writes them), row b at out + b * ldo elements. */
void op_gather_cols(const graph *g, const gnode *n, void *const *in, void *out, int64_t ldo,
                    int64_t j0, int64_t j1);
/* scheduled sampling: argmax o where coin != 0, else y (int32 [B]) */
int32_t op_choose(graph *g, int32_t o, int32_t y, int32_t coin, uerr *e);
/* rows of a where mask != 0, else rows of b */
int32_t op_where(graph *g, int32_t mask, int32_t a, int32_t b, uerr *e);

/* <a_r, b_r> for each row r of matrices a, b [R, N], repeated along the
 * row ([R, N]); built of mul and products, so it is differentiable. */
int32_t op_row_dot(graph *g, int32_t a, int32_t b, uerr *e);

/* The summed-over-broadcast gradient: reduces g (shaped like the op's
 * output) to the shape of a broadcast input (same shape, [N] or scalar). */
int32_t op_unbroadcast(graph *g, int32_t grad, const shape *to, uerr *e);

/* Shape inference of ops whose output is shaped like their first input,
 * all float inputs of the graph's dtype and the same shape. */
int op_infer_like_first(const graph *g, gnode *n, uerr *e);

/* z = x minus the max of its row, for x and z [R, N] of the real dtype dt
 * (z may be x, or NULL: the maxima alone), and each row's max in maxima
 * [R] unless it is NULL: the first step of a stable softmax, shared by
 * softmax and softmax_xent and its gradient. */
void op_rows_minus_max(dtype dt, const void *x, void *z, int64_t R, int64_t N, void *maxima);

/* op_rows_fn of elementwise ops: every input of the output's [M, N] shape
 * split, the others (a row vector, a scalar) whole. */
unsigned op_rows_same(const graph *g, const gnode *n);
/* op_rows_fn of ops along the last axis (concat, slice, pad): every input
 * is [M, Ni] and split. */
unsigned op_rows_lead(const graph *g, const gnode *n);

/* Defines the forward kernel fname of an elementwise op of one input:
 * y = EXPR for each element x (of C type T: float or double), x [any] ->
 * y [same]. */
#define OP_UNARY_KERNEL(fname, EXPR)                                                               \
    static void fname(const graph *g, const gnode *n, void *const *in, void *out)                  \
    {                                                                                              \
        (void)g;                                                                                   \
        int64_t total = shape_numel(&n->shape);                                                    \
        DT_EACH_REAL(n->dt, T, {                                                                   \
            const T *xs = in[0];                                                                   \
            T *ys = out;                                                                           \
            for (int64_t i = 0; i < total; i++) {                                                  \
                T x = xs[i];                                                                       \
                ys[i] = (EXPR);                                                                    \
            }                                                                                      \
        });                                                                                        \
    }

/* The kink region of element k of x (of n's real dtype) around 0: 0 below,
 * 1 at, 2 above; for ops not differentiable at 0 (abs, sqrt, pow). */
int op_zero_side(const gnode *n, const void *x, int64_t k);

/* Shared by the op files: one-line shape errors naming the op and inputs. */
int op_shape_error(const graph *g, const gnode *n, uerr *e, const char *what);

/* Helpers for examples: a random float leaf marked NODE_PARAM, an int leaf. */
int32_t op_example_param(graph *g, shape s, uerr *e);
int32_t op_example_index(graph *g, shape s, int64_t bound, uerr *e);
/* p * p + 0.25 of a random leaf p: inputs in [0.25, 1.25] for ops defined
 * on positive numbers only (log, sqrt, fractional powers) */
int32_t op_example_positive(graph *g, shape s, uerr *e);

#endif
