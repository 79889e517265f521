/* ops.c - the generated op table and the generic builders; see ops.h. */
#include "ops/ops.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define X(id, name) extern const op_def op_def_##id;
#include "graph/ops.def"
#undef X

const op_def *const op_table[OP_COUNT] = {
#define X(id, name) &op_def_##id,
#include "graph/ops.def"
#undef X
};

static gnode proto_of(int op, int nin, const int32_t *in)
{
    gnode n = {.op = (uint16_t)op, .nin = (uint8_t)nin};
    for (int i = 0; i < nin; i++)
        n.in[i] = in[i];
    return n;
}

op_forward_fn op_accumulate_fn(int op)
{
    return op_table[op]->accumulate;
}

const char *op_call_name(int op)
{
    return op_table[op]->call_name ? op_table[op]->call_name : op_name(op);
}

int op_find_call(const char *name)
{
    for (int op = 0; op < OP_COUNT; op++)
        if ((op_table[op]->flags & OPF_CALL) && !strcmp(op_call_name(op), name))
            return op;
    return -1;
}

void op_call_list(char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int op = 0; op < OP_COUNT && k < n; op++)
        if (op_table[op]->flags & OPF_CALL)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", op_call_name(op));
}

int32_t op_call_vectors(int op, op_args *a)
{
    const op_def *d = op_table[op];
    int32_t in[GRAPH_MAX_IN];
    for (int i = 0; i < a->n; i++) {
        int32_t v = a->vector(a, i);
        if (v < 0)
            return -1;
        if (i < GRAPH_MAX_IN)
            in[i] = v;
    }
    char msg[96];
    if (d->arity >= 0 && a->n != d->arity) {
        if (d->arity == 1)
            snprintf(msg, sizeof msg, "%s takes one argument", op_call_name(op));
        else
            snprintf(msg, sizeof msg, "%s takes %d arguments", op_call_name(op), d->arity);
        return a->fail(a, -1, msg);
    }
    if (a->n < 1 || a->n > GRAPH_MAX_IN) {
        uerr_set(a->e, UERR_INTERNAL, "op %s takes 1 to %d inputs, given %d", op_name(op),
                 GRAPH_MAX_IN, a->n);
        return -1;
    }
    return op_build(a->g, proto_of(op, a->n, in), a->e);
}

/* Filled once: which ops are activations is known only when the op
 * files' tables are linked in. */
static const char *op_act_names[OP_COUNT + 1];
static pthread_once_t op_act_once = PTHREAD_ONCE_INIT;

static void op_act_fill(void)
{
    int k = 0;
    for (int op = 0; op < OP_COUNT; op++)
        if (op_table[op]->flags & OPF_ACTIVATION)
            op_act_names[k++] = op_call_name(op);
    op_act_names[k] = NULL;
}

const char *const *op_activation_names(void)
{
    pthread_once(&op_act_once, op_act_fill);
    return op_act_names;
}

int op_shape_error(const graph *g, const gnode *n, uerr *e, const char *what)
{
    char buf[512];
    size_t k = 0;
    for (int i = 0; i < n->nin && k < sizeof buf; i++) {
        char sb[64];
        const gnode *in = &g->nodes[n->in[i]];
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s %s", i ? ", " : "",
                              dtype_name((dtype)in->dt), shape_str(&in->shape, sb, sizeof sb));
    }
    char at[32] = "";
    if (g->cur_t >= 0)
        snprintf(at, sizeof at, " at t=%d", g->cur_t);
    return uerr_set(e, UERR_USER, "op %s%s: %s (inputs: %s)", op_name(n->op), at, what, buf);
}

int op_zero_side(const gnode *n, const void *x, int64_t k)
{
    int r = 0;
    DT_EACH_REAL(n->dt, T, {
        T v = ((const T *)x)[k];
        r = v > 0 ? 2 : v == 0 ? 1 : 0;
    });
    return r;
}

int op_infer_like_first(const graph *g, gnode *n, uerr *e)
{
    const gnode *a = &g->nodes[n->in[0]];
    for (int i = 0; i < n->nin; i++) {
        const gnode *x = &g->nodes[n->in[i]];
        if (x->dt != g->dt)
            return op_shape_error(g, n, e, "expected floating inputs of the graph's dtype");
        if (!shape_equal(&x->shape, &a->shape))
            return op_shape_error(g, n, e, "expected inputs of one shape");
    }
    n->dt = a->dt;
    n->shape = a->shape;
    return 0;
}

unsigned op_rows_same(const graph *g, const gnode *n)
{
    if (n->shape.rank != 2)
        return 0;
    unsigned m = 0;
    for (int k = 0; k < n->nin; k++) {
        const shape *s = &g->nodes[n->in[k]].shape;
        if (shape_equal(s, &n->shape))
            m |= 1u << k;
        else if (s->rank > 1)
            return 0;
    }
    return m;
}

unsigned op_rows_lead(const graph *g, const gnode *n)
{
    if (n->shape.rank != 2)
        return 0;
    for (int k = 0; k < n->nin; k++) {
        const shape *s = &g->nodes[n->in[k]].shape;
        if (s->rank != 2 || s->dim[0] != n->shape.dim[0])
            return 0;
    }
    return (1u << n->nin) - 1;
}

int32_t op_build(graph *g, gnode proto, uerr *e)
{
    const op_def *d = op_table[proto.op];
    for (int i = 0; i < proto.nin; i++)
        if (proto.in[i] < 0)
            return -1;
    if (d->arity >= 0 && proto.nin != d->arity) {
        uerr_set(e, UERR_INTERNAL, "op %s takes %d inputs, given %d", op_name(proto.op), d->arity,
                 proto.nin);
        return -1;
    }
    proto.t = g->cur_t;
    if (d->infer(g, &proto, e))
        return -1;
    int32_t id;
    if (graph_push(g, &proto, NULL, &id, e))
        return -1;
    return id;
}

int32_t op_unary(graph *g, int op, int32_t a, uerr *e)
{
    return op_build(g, proto_of(op, 1, &a), e);
}

int32_t op_binary(graph *g, int op, int32_t a, int32_t b, uerr *e)
{
    int32_t in[2] = {a, b};
    return op_build(g, proto_of(op, 2, in), e);
}

int32_t op_fill(graph *g, shape s, double value, uerr *e)
{
    gnode n = {.op = OP_FILL, .shape = s, .fp = value};
    return op_build(g, n, e);
}

int32_t op_matmul(graph *g, int32_t a, int32_t b, int ta, int tb, uerr *e)
{
    int32_t in[2] = {a, b};
    gnode n = proto_of(OP_MATMUL, 2, in);
    n.ip[0] = ta;
    n.ip[1] = tb;
    return op_build(g, n, e);
}

int32_t op_add(graph *g, int32_t a, int32_t b, uerr *e)
{
    return op_binary(g, OP_ADD, a, b, e);
}
int32_t op_sub(graph *g, int32_t a, int32_t b, uerr *e)
{
    return op_binary(g, OP_SUB, a, b, e);
}
int32_t op_mul(graph *g, int32_t a, int32_t b, uerr *e)
{
    return op_binary(g, OP_MUL, a, b, e);
}

int32_t op_scale(graph *g, int32_t a, double s, uerr *e)
{
    gnode n = proto_of(OP_SCALE, 1, &a);
    n.fp = s;
    return op_build(g, n, e);
}

int32_t op_softmax_xent(graph *g, int32_t logits, int32_t targets, uerr *e)
{
    return op_binary(g, OP_SOFTMAX_XENT, logits, targets, e);
}

int32_t op_sum(graph *g, int32_t a, int axis, uerr *e)
{
    gnode n = proto_of(OP_SUM, 1, &a);
    n.ip[0] = axis;
    return op_build(g, n, e);
}

int32_t op_broadcast(graph *g, int32_t a, shape s, uerr *e)
{
    gnode n = proto_of(OP_BROADCAST, 1, &a);
    n.shape = s;
    return op_build(g, n, e);
}

int32_t op_gather(graph *g, int32_t table, int32_t idx, uerr *e)
{
    return op_binary(g, OP_GATHER, table, idx, e);
}

int32_t op_gather_t(graph *g, int32_t table_t, int32_t idx, uerr *e)
{
    int32_t in[2] = {table_t, idx};
    gnode n = proto_of(OP_GATHER, 2, in);
    n.ip[0] = 1;
    return op_build(g, n, e);
}

int32_t op_scatter(graph *g, int32_t rows, int32_t idx, int64_t ncols, uerr *e)
{
    int32_t in[2] = {rows, idx};
    gnode n = proto_of(OP_SCATTER, 2, in);
    n.ip[0] = ncols;
    return op_build(g, n, e);
}

int32_t op_sum_steps(graph *g, int32_t a, int64_t rows, int reverse, uerr *e)
{
    gnode n = proto_of(OP_SUM, 1, &a);
    n.ip[1] = rows;
    n.ip[2] = reverse != 0;
    return op_build(g, n, e);
}

int32_t op_xent_steps(graph *g, int32_t logits, int32_t targets, int64_t rows, int reverse, uerr *e)
{
    int32_t in[2] = {logits, targets};
    gnode n = proto_of(OP_SOFTMAX_XENT, 2, in);
    n.ip[1] = rows;
    n.ip[2] = reverse != 0;
    return op_build(g, n, e);
}

int32_t op_scatter_steps(graph *g, int32_t a, int32_t idx, int64_t ncols, int64_t rows, int reverse,
                         uerr *e)
{
    int32_t in[2] = {a, idx};
    gnode n = proto_of(OP_SCATTER, 2, in);
    n.ip[0] = ncols;
    n.ip[1] = rows;
    n.ip[2] = reverse != 0;
    return op_build(g, n, e);
}

int32_t op_concat(graph *g, const int32_t *parts, int n, uerr *e)
{
    if (n < 1 || n > GRAPH_MAX_IN) {
        uerr_set(e, UERR_INTERNAL, "op concat takes 1 to %d inputs, given %d", GRAPH_MAX_IN, n);
        return -1;
    }
    return op_build(g, proto_of(OP_CONCAT, n, parts), e);
}

int32_t op_slice(graph *g, int32_t a, int64_t start, int64_t len, uerr *e)
{
    gnode n = proto_of(OP_SLICE, 1, &a);
    n.ip[0] = start;
    n.ip[1] = len;
    return op_build(g, n, e);
}

int32_t op_transpose(graph *g, int32_t a, uerr *e)
{
    return op_unary(g, OP_TRANSPOSE, a, e);
}

int32_t op_pad(graph *g, int32_t a, int64_t start, int64_t total, uerr *e)
{
    gnode n = proto_of(OP_PAD, 1, &a);
    n.ip[0] = start;
    n.ip[1] = total;
    return op_build(g, n, e);
}

int32_t op_unbroadcast(graph *g, int32_t grad, const shape *to, uerr *e)
{
    if (grad < 0)
        return -1;
    const shape *from = &g->nodes[grad].shape;
    if (shape_equal(from, to))
        return grad;
    if (to->rank == 0)
        return op_sum(g, grad, -1, e);
    return op_sum(g, grad, 0, e);
}

int32_t op_example_param(graph *g, shape s, uerr *e)
{
    int32_t id;
    if (graph_leaf(g, "p", g->dt, s, NODE_PARAM, -1, &id, e))
        return -1;
    return id;
}

int32_t op_example_positive(graph *g, shape s, uerr *e)
{
    int32_t p = op_example_param(g, s, e);
    return op_add(g, op_mul(g, p, p, e), op_fill(g, shape_0(), 0.25, e), e);
}

int32_t op_example_index(graph *g, shape s, int64_t bound, uerr *e)
{
    int32_t id;
    if (graph_leaf(g, "idx", DT_I32, s, NODE_DATA, -1, &id, e))
        return -1;
    g->nodes[id].ip[0] = bound;
    return id;
}

int32_t op_where(graph *g, int32_t mask, int32_t a, int32_t b, uerr *e)
{
    int32_t in[3] = {mask, a, b};
    return op_build(g, proto_of(OP_WHERE, 3, in), e);
}

int32_t op_real_loss(graph *g, int op, int32_t pred, int32_t target, int32_t mask, uerr *e)
{
    int32_t in[3] = {pred, target, mask};
    return op_build(g, proto_of(op, mask < 0 ? 2 : 3, in), e);
}

int32_t op_choose(graph *g, int32_t o, int32_t y, int32_t coin, uerr *e)
{
    int32_t in[3] = {o, y, coin};
    return op_build(g, proto_of(OP_CHOOSE, 3, in), e);
}
