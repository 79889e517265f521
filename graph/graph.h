/*
 * graph.h - the DAG of op nodes and its builder.
 *
 * Nodes live in one growable array owned by the graph and refer to each
 * other by index, never by pointer, so the array may move and a graph of
 * millions of nodes is walked with plain loops. A node's inputs always have
 * smaller indices than the node: index order IS a topological order, and
 * every pass over the graph (autodiff, planning, execution) is a loop, not
 * a recursion, whatever the unroll length.
 *
 * This layer knows op ids (from graph/ops.def) but not what ops mean: shape
 * inference, kernels and gradients live in ops/. Memory is bounded by
 * g->limit_bytes; a push past it is an error, never an abort. graph_init
 * takes the limit from the environment variable UNROLL_GRAPH_LIMIT (a size
 * in base/bytes.h's grammar, the one train.memory_budget takes; unset or
 * empty: no limit), and the executor
 * holds a plan's buffer arena to the same number (exec.h).
 */
#ifndef UNROLL_GRAPH_H
#define UNROLL_GRAPH_H

#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"

typedef enum op_id {
#define X(id, name) OP_##id,
#include "graph/ops.def"
#undef X
    OP_COUNT
} op_id;

enum node_flags {
    NODE_PARAM = 1u << 0, /* a trainable parameter (a leaf) */
    NODE_DATA = 1u << 1,  /* a data input bound per batch (a leaf) */
    NODE_GRAD = 1u << 2,  /* created by build_grad */
    NODE_GRAD2 = 1u << 3, /* created differentiating the gradients again
                             (Hessian-vector products) */
};

#define GRAPH_MAX_IN 5
#define GRAPH_MAX_IP 4

typedef struct gnode {
    int32_t in[GRAPH_MAX_IN];
    int64_t ip[GRAPH_MAX_IP]; /* integer op parameters; for an int leaf,
                                 ip[0] is the exclusive bound of its values */
    double fp;                /* real op parameter */
    shape shape;
    uint16_t op;
    uint8_t dt;
    uint8_t nin;
    uint32_t flags;
    int32_t t;     /* time step, -1 when the node has none */
    uint32_t name; /* offset into the name pool, 0 = unnamed */
} gnode;

typedef struct graph {
    gnode *nodes;
    int32_t n, cap;
    char *names; /* pool of NUL-terminated names; [0] = "" */
    size_t names_len, names_cap;
    size_t limit_bytes; /* 0 = unlimited */
    size_t used_bytes;
    dtype dt;      /* the floating dtype of this graph */
    int32_t cur_t; /* time step stamped on nodes built now */
} graph;

/* Fails (UERR_USER) only on a malformed UNROLL_GRAPH_LIMIT, or when out of
 * memory. */
int graph_init(graph *g, dtype dt, uerr *e);

/* UNROLL_GRAPH_LIMIT in bytes, 0 when unset or empty; a value that is not
 * a positive size is a one-line UERR_USER. */
int graph_env_limit(size_t *limit, uerr *e);
void graph_free(graph *g);

/* Appends a copy of *proto (inputs, shape, op parameters already valid),
 * returning its index in *id. Fails when the memory limit is reached. */
int graph_push(graph *g, const gnode *proto, const char *name, int32_t *id, uerr *e);

/* A leaf: a parameter, a data input or a constant slot. */
int graph_leaf(graph *g, const char *name, dtype dt, shape s, uint32_t flags, int32_t t,
               int32_t *id, uerr *e);

int graph_set_name(graph *g, int32_t id, const char *name, uerr *e);
const char *graph_name(const graph *g, int32_t id);

/* "W", or "tanh@t3" for an unnamed node, or "#17" */
const char *graph_label(const graph *g, int32_t id, char *buf, size_t n);

const char *op_name(int op);

#endif
