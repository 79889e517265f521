/*
 * stream.c - one stream's equations evaluated into graph nodes, a time
 * step at a time; see stream_int.h.
 */
#include "models/stream_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static int add_param(model *m, const char *name, shape s, const spec_init *init, uerr *e)
{
    model_param *p = &m->param[m->nparams];
    snprintf(p->name, sizeof p->name, "%.31s", name); /* checked to fit by the caller */
    p->shape = s;
    p->is_bias = s.rank == 1 && !init;
    p->has_init = init != NULL;
    if (init)
        p->init = *init;
    if (graph_leaf(&m->g, name, m->g.dt, s, NODE_PARAM, -1, &p->node, e))
        return e->code;
    m->nparams++;
    return 0;
}

/* A value: a node, and what kind of thing it is. */
enum { V_BATCH, V_PARAM, V_INDEX, V_NUMBER };
typedef struct val {
    int32_t node;
    int kind;
    double num;
} val;

static const val VAL_FAIL = {-1, V_BATCH, 0};

int stream_name_index(const evaluator *ev, const char *name)
{
    for (int i = 0; i < ev->nnames; i++)
        if (!strcmp(ev->names[i], name))
            return i;
    return -1;
}

/* printf-checked: a format that names its argument more than once (as
 * the "changes over time" message does) once read past the one argument
 * this took, and crashed on `W @ h` written without [t-1]. */
static val fail_at(evaluator *ev, const expr *x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static val fail_at(evaluator *ev, const expr *x, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uerr_set(ev->e, UERR_USER, "%s:%d:%d: %s", ev->c->file, x->line, x->col, what);
    return VAL_FAIL;
}

/* Op errors name the op and the shapes; say which equation built it. */
static val located(evaluator *ev, const expr *x, int32_t node, int kind)
{
    if (node < 0) {
        if (ev->e->code)
            uerr_prefix(ev->e, "%s:%d:%d", ev->c->file, x->line, x->col);
        return VAL_FAIL;
    }
    return (val){node, kind, 0};
}

static val eval(evaluator *ev, const expr *x);

/* h[t-1] times the stream's one state mask of the chunk: the leaf is
 * made at the first read and multiplied in at every step. */
static val state_dropout(evaluator *ev, const expr *x, int k, val v)
{
    model *m = ev->m;
    if (!ev->state_mask[k]) {
        int32_t p = model_dropout(m, MODEL_DROP_STATE, v.node, -1, m->ndrop, 0, ev->e);
        if (p < 0)
            return located(ev, x, p, V_BATCH);
        ev->state_mask[k] = m->drop[m->ndrop - 1].node + 1;
        return (val){p, V_BATCH, 0};
    }
    return located(ev, x, op_mul(&m->g, v.node, ev->state_mask[k] - 1, ev->e), V_BATCH);
}

static val eval_name(evaluator *ev, const expr *x)
{
    model *m = ev->m;
    graph *g = &m->g;
    if (x->toff == EQ_NO_TIME) {
        char full[64];
        snprintf(full, sizeof full, "%s%s", ev->prefix, x->name);
        int p = model_find_param(m, full);
        if (p >= 0)
            return (val){m->param[p].node, V_PARAM, 0};
        if (stream_name_index(ev, x->name) >= 0 || !strcmp(x->name, "x") || !strcmp(x->name, "y"))
            return fail_at(ev, x,
                           "'%s' changes over time: write it with a time index, as in "
                           "%s[t] or %s[t-1]",
                           x->name, x->name, x->name);
        return fail_at(ev, x, "unknown name '%s' (not a parameter in model.params)", x->name);
    }
    int64_t at = ev->t + x->toff;
    if (!strcmp(x->name, "x")) {
        if (x->toff != 0)
            return fail_at(ev, x, "%s: only x[t] is supported", "x");
        if (ev->input)
            return (val){ev->input[ev->t], V_BATCH, 0};
        if (m->dense && m->pdrop[MODEL_DROP_INPUT] > 0)
            return located(
                ev, x, model_dropout(m, MODEL_DROP_INPUT, m->x[ev->t], (int32_t)ev->t, 0, 0, ev->e),
                V_BATCH);
        return (val){m->x[ev->t], m->dense ? V_BATCH : V_INDEX, 0};
    }
    if (!strcmp(x->name, "y")) {
        if (ev->reverse)
            return fail_at(ev, x, "%s",
                           "y[t-1] cannot be read by a backward-in-time layer "
                           "(model.bidirectional needs a cell without y[t-1])");
        if (x->toff == 0)
            return fail_at(ev, x, "%s",
                           "y[t] is the target of this step: a model cannot read "
                           "it (teacher forcing reads y[t-1])");
        if (x->toff != -1)
            return fail_at(ev, x, "%s: only y[t-1] is supported", "y");
        int kind = m->real ? V_BATCH : V_INDEX;
        if (at >= 0 && m->coin) {
            /* scheduled sampling: the target, or the model's own answer */
            if (m->logits[at] < 0)
                return fail_at(ev, x, "%s", "scheduled sampling needs one layer, one direction");
            return located(ev, x, op_choose(g, m->logits[at], m->y[at], m->coin[ev->t], ev->e),
                           V_INDEX);
        }
        if (at >= 0)
            return (val){m->real ? m->yr[at] : m->y[at], kind, 0};
        if (m->yprev < 0) {
            if (graph_leaf(g, "yprev", m->real ? g->dt : DT_I32,
                           m->real ? shape_2(m->B, m->out) : shape_1(m->B), NODE_DATA, -1,
                           &m->yprev, ev->e))
                return VAL_FAIL;
            if (!m->real)
                g->nodes[m->yprev].ip[0] = m->out;
        }
        return (val){m->yprev, kind, 0};
    }
    int k = stream_name_index(ev, x->name);
    if (k < 0)
        return fail_at(ev, x,
                       "unknown name '%s' (not an input, a state or an equation's "
                       "result)",
                       x->name);
    if (x->toff == 0) {
        if (ev->now[k] < 0)
            return fail_at(ev, x, "'%s[t]' is used before its equation (equations run in order)",
                           x->name);
        if (ev->in_output && m->pdrop[MODEL_DROP_OUTPUT] > 0)
            return located(
                ev, x, model_dropout(m, MODEL_DROP_OUTPUT, ev->now[k], (int32_t)ev->t, k, 0, ev->e),
                V_BATCH);
        return (val){ev->now[k], V_BATCH, 0};
    }
    if (!ev->is_state[k])
        return fail_at(ev, x,
                       "only state vectors can be read at an earlier step: add '%s' to "
                       "model.state",
                       x->name);
    if (x->toff != -1)
        return fail_at(ev, x, "%s: a state can only be read at t-1", x->name);
    val v;
    if (!ev->first)
        v = (val){ev->before[k], V_BATCH, 0};
    else if (ev->state_dim[k] == m->S) /* the first step: its columns of the initial state */
        v = (val){m->h0, V_BATCH, 0};
    else
        v = located(ev, x, op_slice(g, m->h0, ev->state_off[k], ev->state_dim[k], ev->e), V_BATCH);
    if (v.node < 0 || m->pdrop[MODEL_DROP_STATE] <= 0 || strcmp(x->name, "h"))
        return v;
    return state_dropout(ev, x, k, v);
}

static val eval_matmul(evaluator *ev, const expr *x)
{
    graph *g = &ev->m->g;
    val a = eval(ev, x->a);
    if (a.node < 0)
        return a;
    val b = eval(ev, x->b);
    if (b.node < 0)
        return b;
    if (a.kind != V_PARAM || g->nodes[a.node].shape.rank != 2)
        return fail_at(ev, x, "%s", "the left side of @ must be a parameter matrix");
    if (b.kind == V_INDEX) {
        int64_t cols = g->nodes[a.node].shape.dim[1], ids = g->nodes[b.node].ip[0];
        if (cols != ids) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "a one-hot input over %lld classes needs a matrix of %lld columns, not %lld",
                     (long long)ids, (long long)ids, (long long)cols);
            return fail_at(ev, x, "%s", msg);
        }
        val r = located(ev, x, op_gather(g, a.node, b.node, ev->e), V_BATCH);
        /* a dropped one-hot input: its whole row of every lookup */
        if (r.node < 0 || b.node != ev->m->x[ev->t] || ev->m->pdrop[MODEL_DROP_INPUT] <= 0)
            return r;
        return located(ev, x,
                       model_dropout(ev->m, MODEL_DROP_INPUT, r.node, (int32_t)ev->t, 0, 1, ev->e),
                       V_BATCH);
    }
    if (b.kind != V_BATCH)
        return fail_at(ev, x, "%s", "the right side of @ must be a per-step vector");
    return located(ev, x, op_matmul(g, b.node, a.node, 0, 1, ev->e), V_BATCH);
}

static int32_t number_node(evaluator *ev, val v)
{
    return v.kind == V_NUMBER ? op_fill(&ev->m->g, shape_0(), v.num, ev->e) : v.node;
}

static val eval_binary(evaluator *ev, const expr *x)
{
    if (x->op == '@')
        return eval_matmul(ev, x);
    graph *g = &ev->m->g;
    val a = eval(ev, x->a);
    if (a.node < 0 && a.kind != V_NUMBER)
        return a;
    val b = eval(ev, x->b);
    if (b.node < 0 && b.kind != V_NUMBER)
        return b;
    if (a.kind == V_INDEX || b.kind == V_INDEX)
        return fail_at(ev, x, "%s", "a one-hot input can only be used as P @ x[t]");
    if (a.kind != V_BATCH && b.kind != V_BATCH)
        return fail_at(ev, x, "'%c' needs a per-step vector on one side", x->op);
    int op = x->op == '+' ? OP_ADD : x->op == '-' ? OP_SUB : OP_MUL;
    if (a.kind != V_BATCH) {
        /* number or parameter on the left: the kernels broadcast only the
         * right operand. a + b = b + a and a * b = b * a exactly in IEEE
         * arithmetic, and a - b = (-b) + a. */
        val t = a;
        a = b;
        b = t;
        if (op == OP_SUB) {
            a.node = op_scale(g, a.node, -1.0, ev->e);
            op = OP_ADD;
        }
    }
    int32_t bn = number_node(ev, b);
    return located(ev, x, op_binary(g, op, a.node, bn, ev->e), V_BATCH);
}

/* An equation's call, as an op's call builder sees it (ops/ops.h): the
 * arguments evaluated on demand, every error placed at the equation. */
typedef struct call_ctx {
    evaluator *ev;
    const expr *x;
} call_ctx;

static int32_t call_vector(op_args *a, int i)
{
    call_ctx *cc = a->ctx;
    val v = eval(cc->ev, cc->x->args[i]);
    if (v.kind == V_BATCH && v.node < 0) {
        a->placed = 1;
        return -1;
    }
    if (v.kind != V_BATCH) {
        fail_at(cc->ev, cc->x->args[i], "%s", "expected a per-step vector");
        a->placed = 1;
        return -1;
    }
    return v.node;
}

/* Only a number as written (1.5, -2): asking about anything else must
 * not evaluate it, which would add its nodes to the graph a second time
 * when the call then takes it as a vector. */
static int call_number(op_args *a, int i, double *num)
{
    call_ctx *cc = a->ctx;
    const expr *x = cc->x->args[i];
    while (x->kind == EX_NEG)
        x = x->a;
    if (x->kind != EX_NUM)
        return 0;
    val v = eval(cc->ev, cc->x->args[i]);
    if (v.kind != V_NUMBER)
        return 0;
    *num = v.num;
    return 1;
}

static int32_t call_fail(op_args *a, int i, const char *msg)
{
    call_ctx *cc = a->ctx;
    fail_at(cc->ev, i < 0 ? cc->x : cc->x->args[i], "%s", msg);
    a->placed = 1;
    return -1;
}

/* name(args): the op equations call by that name (OPF_CALL in ops/). */
static val eval_call(evaluator *ev, const expr *x)
{
    call_ctx cc = {ev, x};
    op_args a = {.g = &ev->m->g,
                 .n = x->nargs,
                 .ctx = &cc,
                 .e = ev->e,
                 .vector = call_vector,
                 .number = call_number,
                 .fail = call_fail};
    int op = op_find_call(x->name);
    if (op < 0) {
        /* the arguments' own errors first, as for a known function */
        for (int i = 0; i < x->nargs; i++)
            if (call_vector(&a, i) < 0)
                return VAL_FAIL;
        char list[256];
        op_call_list(list, sizeof list);
        return fail_at(ev, x, "unknown function '%s' (%s)", x->name, list);
    }
    op_call_fn call = op_table[op]->call ? op_table[op]->call : op_call_vectors;
    int32_t node = call(op, &a);
    if (node < 0 && a.placed)
        return VAL_FAIL;
    return located(ev, x, node, V_BATCH);
}

static val eval(evaluator *ev, const expr *x)
{
    switch (x->kind) {
    case EX_NUM:
        return (val){-1, V_NUMBER, x->num};
    case EX_NAME:
        return eval_name(ev, x);
    case EX_BIN:
        return eval_binary(ev, x);
    case EX_CALL:
        return eval_call(ev, x);
    case EX_NEG: {
        val a = eval(ev, x->a);
        if (a.kind == V_NUMBER)
            return (val){-1, V_NUMBER, -a.num};
        if (a.node < 0)
            return a;
        if (a.kind != V_BATCH)
            return fail_at(ev, x, "%s", "'-' needs a per-step vector");
        return located(ev, x, op_scale(&ev->m->g, a.node, -1.0, ev->e), V_BATCH);
    }
    }
    return VAL_FAIL;
}

/* Reads a state of the cell at an earlier step (h[t-1]; not y[t-1], an
 * input). */
static int reads_past_state(const cell *c, const expr *x)
{
    if (!x)
        return 0;
    if (x->kind == EX_NAME && x->toff < 0)
        for (int i = 0; i < c->nstates; i++)
            if (!strcmp(c->state[i].name, x->name))
                return 1;
    if (reads_past_state(c, x->a) || reads_past_state(c, x->b))
        return 1;
    for (int i = 0; i < x->nargs; i++)
        if (reads_past_state(c, x->args[i]))
            return 1;
    return 0;
}

/* The parameter multiplies a past state somewhere in x (W @ h[t-1],
 * Wn @ (r[t] * h[t-1])): the gradient ledger's recurrent matrices. */
static int recurrent_in(const cell *c, const expr *x, const char *name)
{
    if (!x)
        return 0;
    if (x->kind == EX_BIN && x->op == '@' && x->a && x->a->kind == EX_NAME &&
        x->a->toff == EQ_NO_TIME && !strcmp(x->a->name, name) && reads_past_state(c, x->b))
        return 1;
    if (recurrent_in(c, x->a, name) || recurrent_in(c, x->b, name))
        return 1;
    for (int i = 0; i < x->nargs; i++)
        if (recurrent_in(c, x->args[i], name))
            return 1;
    return 0;
}

static int used_by(const evaluator *ev, const char *param)
{
    for (int i = 0; i < ev->c->neqs; i++)
        if (ev->use[i] && eq_reads(ev->c->eq[i].rhs, param, EQ_NO_TIME))
            return 1;
    return 0;
}

/* Declares a stream's parameters (those its equations read, named with
 * its prefix; dimension "input" is in_dim, "hidden" is hid_dim) and its
 * states (their columns of h0 follow those of earlier streams), and
 * checks the equations' targets. */
int stream_setup(evaluator *ev, const spec *s, int64_t in_dim, int64_t hid_dim, uerr *e)
{
    model *m = ev->m;
    const cell *c = ev->c;
    for (int i = 0; i < c->nparams; i++) {
        const cell_param *p = &c->param[i];
        /* every declared shape is checked, used or not: a typo in an
         * unused parameter is still a typo */
        int64_t d[2];
        for (int k = 0; k < p->rank; k++)
            if ((d[k] = cell_dim(c, p->dim[k], hid_dim, in_dim, m->out, p->line, p->col, e)) < 0)
                return e->code;
        if (!used_by(ev, p->name))
            continue;
        char full[64];
        snprintf(full, sizeof full, "%s%s", ev->prefix, p->name);
        if (m->nparams == MODEL_MAX_PARAMS || strlen(full) >= sizeof m->param[0].name)
            return uerr_set(e, UERR_USER,
                            "%s: more than %d parameters, or a name over %zu "
                            "characters ('%s')",
                            c->file, MODEL_MAX_PARAMS, sizeof m->param[0].name - 1, full);
        int rc = add_param(m, full, p->rank == 2 ? shape_2(d[0], d[1]) : shape_1(d[0]), p->init, e);
        if (rc)
            return rc;
        for (int q = 0; q < c->neqs; q++)
            m->param[m->nparams - 1].recurrent |=
                ev->use[q] && recurrent_in(c, c->eq[q].rhs, p->name);
    }
    for (int i = 0; i < c->nstates; i++) {
        const cell_state *st = &c->state[i];
        int used = 0;
        for (int q = 0; q < c->neqs; q++)
            used |= ev->use[q] && !strcmp(c->eq[q].target, st->name);
        char full[64];
        snprintf(full, sizeof full, "%s%s", ev->prefix, st->name);
        /* checked before the unused ones are passed over: a state named x
         * is never computed (x[t] is the input), so it would vanish */
        if (!used && strcmp(st->name, "x") && strcmp(st->name, "y"))
            continue;
        if (model_find_param(m, full) >= 0 || !strcmp(st->name, "x") || !strcmp(st->name, "y"))
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: state '%s' has the name of a parameter or "
                            "an input",
                            c->file, st->line, st->col, st->name);
        int64_t d = cell_dim(c, st->dim, hid_dim, in_dim, m->out, st->line, st->col, e);
        if (d < 0)
            return e->code;
        int k = ev->nnames++;
        snprintf(ev->names[k], EQ_NAME_MAX, "%s", st->name);
        ev->is_state[k] = 1;
        ev->state_off[k] = m->S;
        ev->state_dim[k] = d;
        m->S += d;
    }
    for (int i = 0; i < c->neqs; i++) {
        const equation *q = &c->eq[i];
        if (!ev->use[i])
            continue;
        if (model_find_param(m, q->target) >= 0 || !strcmp(q->target, "x") ||
            !strcmp(q->target, "y"))
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: '%s' is a parameter or an input: an "
                            "equation cannot assign it",
                            c->file, q->line, q->col, q->target);
        if (stream_name_index(ev, q->target) >= 0 &&
            !ev->is_state[stream_name_index(ev, q->target)])
            return uerr_set(e, UERR_USER, "%s:%d:%d: '%s[t]' is assigned twice", c->file, q->line,
                            q->col, q->target);
        if (stream_name_index(ev, q->target) < 0) {
            int k = ev->nnames++;
            snprintf(ev->names[k], EQ_NAME_MAX, "%s", q->target);
        }
    }
    for (int k = 0; k < ev->nnames; k++) {
        int assigned = 0;
        for (int i = 0; i < c->neqs; i++)
            assigned |= !strcmp(c->eq[i].target, ev->names[k]);
        if (ev->is_state[k] && !assigned)
            return uerr_set(e, UERR_USER, "%s: state '%s' has no equation '%s[t] = ...'", c->file,
                            ev->names[k], ev->names[k]);
    }
    (void)s;
    return 0;
}

/* One step t of a stream: its equations in order, the states of ended
 * sequences kept (masks). */
int stream_step(evaluator *ev, int64_t t, int first)
{
    model *m = ev->m;
    graph *g = &m->g;
    const cell *c = ev->c;
    uerr *e = ev->e;
    g->cur_t = (int32_t)t;
    ev->t = t;
    ev->first = first;
    for (int k = 0; k < ev->nnames; k++) {
        ev->before[k] = ev->now[k];
        ev->now[k] = -1;
    }
    for (int i = 0; i < c->neqs; i++) {
        if (!ev->use[i])
            continue;
        ev->in_output = !strcmp(c->eq[i].target, c->output);
        val v = eval(ev, c->eq[i].rhs);
        ev->in_output = 0;
        if (v.node < 0 || v.kind != V_BATCH) {
            if (!e->code)
                uerr_set(e, UERR_USER, "%s:%d:%d: '%s[t]' must be a per-step vector", c->file,
                         c->eq[i].line, c->eq[i].col, c->eq[i].target);
            return e->code;
        }
        int k = stream_name_index(ev, c->eq[i].target);
        if (ev->is_state[k] && g->nodes[v.node].shape.dim[1] != ev->state_dim[k])
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: '%s[t]' has %lld columns, its state size is "
                            "%lld",
                            c->file, c->eq[i].line, c->eq[i].col, c->eq[i].target,
                            (long long)g->nodes[v.node].shape.dim[1], (long long)ev->state_dim[k]);
        if (m->mask && ev->is_state[k]) {
            /* an ended sequence keeps its state: padding changes nothing */
            int32_t prev = !first ? ev->before[k]
                           : ev->state_dim[k] == m->S
                               ? m->h0
                               : op_slice(g, m->h0, ev->state_off[k], ev->state_dim[k], e);
            v.node = op_where(g, m->mask[t], v.node, prev, e);
            if (v.node < 0)
                return e->code;
        }
        ev->now[k] = v.node;
    }
    return 0;
}

int32_t stream_eval_vector(evaluator *ev, const expr *x)
{
    val v = eval(ev, x);
    return v.node >= 0 && v.kind == V_BATCH ? v.node : -1;
}
