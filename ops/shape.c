/*
 * shape.c - concat, slice and pad along the last axis. slice and pad are
 * adjoints of each other, and concat's gradient is a slice per input; all
 * other axes must agree.
 */
#include "ops/ops.h"

#include <stdio.h>
#include <string.h>

static int64_t last_dim(const shape *s)
{
    return s->dim[s->rank - 1];
}

static int same_leading(const shape *a, const shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i + 1 < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static int concat_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->shape.rank < 1)
        return op_shape_error(g, n, e, "expected inputs with at least one axis");
    int64_t total = 0;
    for (int i = 0; i < n->nin; i++) {
        const gnode *x = &g->nodes[n->in[i]];
        if (x->dt != g->dt || !same_leading(&x->shape, &a->shape))
            return op_shape_error(g, n, e, "inputs differ in dtype or in an axis but the last");
        total += last_dim(&x->shape);
    }
    n->dt = a->dt;
    n->shape = a->shape;
    n->shape.dim[n->shape.rank - 1] = total;
    return 0;
}

/* inputs [R, Ni] -> [R, sum Ni] */
static void concat_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    size_t es = dtype_size((dtype)n->dt);
    int64_t N = last_dim(&n->shape), R = shape_numel(&n->shape) / N;
    int64_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        int64_t Ni = last_dim(&g->nodes[n->in[i]].shape);
        const char *x = in[i];
        char *y = out;
        for (int64_t r = 0; r < R; r++)
            memcpy(y + (size_t)(r * N + off) * es, x + (size_t)(r * Ni) * es, (size_t)Ni * es);
        off += Ni;
    }
}

static int32_t concat_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)u;
    const gnode *n = &g->nodes[node];
    int64_t off = 0;
    for (int k = 0; k < i; k++)
        off += last_dim(&g->nodes[n->in[k]].shape);
    return op_slice(g, gout, off, last_dim(&g->nodes[n->in[i]].shape), e);
}

static int32_t concat_example(graph *g, uerr *e)
{
    int32_t p[3] = {op_example_param(g, shape_2(2, 3), e), op_example_param(g, shape_2(2, 1), e),
                    op_example_param(g, shape_2(2, 4), e)};
    return op_concat(g, p, 3, e);
}

const op_def op_def_CONCAT = {.arity = -1,
                              .flags = OPF_CALL,
                              .infer = concat_infer,
                              .rows = op_rows_lead,
                              .forward = concat_forward,
                              .bprop = concat_bprop,
                              .example = concat_example};

static int slice_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt || a->shape.rank < 1)
        return op_shape_error(g, n, e, "expected a floating input with at least one axis");
    int64_t start = n->ip[0], len = n->ip[1];
    if (start < 0 || len < 1 || start + len > last_dim(&a->shape))
        return op_shape_error(g, n, e, "slice out of range of the last axis");
    n->dt = a->dt;
    n->shape = a->shape;
    n->shape.dim[n->shape.rank - 1] = len;
    return 0;
}

/* x [R, N] -> [R, len] from column start */
static void slice_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    size_t es = dtype_size((dtype)n->dt);
    int64_t N = last_dim(&g->nodes[n->in[0]].shape), len = n->ip[1];
    int64_t R = shape_numel(&n->shape) / len;
    const char *x = in[0];
    char *y = out;
    for (int64_t r = 0; r < R; r++)
        memcpy(y + (size_t)(r * len) * es, x + (size_t)(r * N + n->ip[0]) * es, (size_t)len * es);
}

static int32_t slice_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    const gnode *n = &g->nodes[node];
    return op_pad(g, gout, n->ip[0], last_dim(&g->nodes[n->in[0]].shape), e);
}

static int32_t slice_example(graph *g, uerr *e)
{
    return op_slice(g, op_example_param(g, shape_2(3, 6), e), 2, 3, e);
}

/* chunk(v, k, n): the k-th of n equal parts of v (k from 0), as torch.chunk
 * cuts: one product makes an LSTM's four gates, chunk takes them apart. */
static int32_t slice_call(int op, op_args *a)
{
    (void)op;
    char msg[160];
    if (a->n != 3)
        return a->fail(a, -1, "chunk takes three arguments: chunk(v, k, n)");
    int32_t v = a->vector(a, 0);
    if (v < 0)
        return -1;
    double k = 0, n = 0;
    for (int i = 1; i < 3; i++) {
        double num = -1;
        int isnum = a->number(a, i, &num);
        if (!isnum || num != (double)(int64_t)num || num < (i == 1 ? 0 : 1)) {
            snprintf(msg, sizeof msg, "chunk's %s must be %s", i == 1 ? "k" : "n",
                     i == 1 ? "an integer from 0 to n - 1" : "a positive integer");
            return a->fail(a, i, msg);
        }
        *(i == 1 ? &k : &n) = num;
    }
    const gnode *vn = &a->g->nodes[v];
    int64_t width = vn->shape.dim[vn->shape.rank - 1];
    if (k >= n || width % (int64_t)n) {
        snprintf(msg, sizeof msg,
                 "chunk(v, %g, %g): v has %lld elements, not %g parts of equal size", k, n,
                 (long long)width, n);
        return a->fail(a, -1, msg);
    }
    int64_t len = width / (int64_t)n;
    return op_slice(a->g, v, (int64_t)k * len, len, a->e);
}

const op_def op_def_SLICE = {.arity = 1,
                             .flags = OPF_CALL,
                             .infer = slice_infer,
                             .rows = op_rows_lead,
                             .forward = slice_forward,
                             .bprop = slice_bprop,
                             .example = slice_example,
                             .call_name = "chunk",
                             .call_args = "v, k, n",
                             .call = slice_call};

static int pad_infer(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    if (a->dt != g->dt || a->shape.rank < 1)
        return op_shape_error(g, n, e, "expected a floating input with at least one axis");
    if (n->ip[0] < 0 || n->ip[0] + last_dim(&a->shape) > n->ip[1])
        return op_shape_error(g, n, e, "padding does not contain the input");
    n->dt = a->dt;
    n->shape = a->shape;
    n->shape.dim[n->shape.rank - 1] = n->ip[1];
    return 0;
}

/* x [R, len] -> [R, total], zeros outside columns start..start+len-1 */
static void pad_forward(const graph *g, const gnode *n, void *const *in, void *out)
{
    size_t es = dtype_size((dtype)n->dt);
    int64_t len = last_dim(&g->nodes[n->in[0]].shape), N = n->ip[1];
    int64_t R = shape_numel(&n->shape) / N;
    const char *x = in[0];
    char *y = out;
    memset(y, 0, (size_t)(R * N) * es);
    for (int64_t r = 0; r < R; r++)
        memcpy(y + (size_t)(r * N + n->ip[0]) * es, x + (size_t)(r * len) * es, (size_t)len * es);
}

/* out += pad(x), touching only the columns x fills: build_grad's sum of
 * the pads of a vector's slices (an LSTM's four gates) becomes one buffer
 * each slice's gradient is added into */
static void op_pad_accumulate(const graph *g, const gnode *n, void *const *in, void *out)
{
    int64_t len = last_dim(&g->nodes[n->in[0]].shape), N = n->ip[1], at = n->ip[0];
    int64_t R = shape_numel(&n->shape) / N;
    DT_EACH_REAL(n->dt, T, {
        const T *x = in[0];
        T *y = out;
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < len; j++)
                y[r * N + at + j] += x[r * len + j];
    });
}

static int32_t pad_bprop(graph *g, int32_t node, int i, int32_t gout, int *u, uerr *e)
{
    (void)i, (void)u;
    const gnode *n = &g->nodes[node];
    return op_slice(g, gout, n->ip[0], last_dim(&g->nodes[n->in[0]].shape), e);
}

static int32_t pad_example(graph *g, uerr *e)
{
    return op_pad(g, op_example_param(g, shape_2(3, 2), e), 1, 5, e);
}

const op_def op_def_PAD = {.arity = 1,
                           .infer = pad_infer,
                           .rows = op_rows_lead,
                           .forward = pad_forward,
                           .bprop = pad_bprop,
                           .example = pad_example,
                           .accumulate = op_pad_accumulate};
