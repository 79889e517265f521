/* cell.c - presets as equations, and custom cells from the spec; see cell.h. */
#include "models/cell.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"

static int add_param(cell *c, const char *name, const char *d0, const char *d1, int line, int col,
                     uerr *e)
{
    if (c->nparams == CELL_MAX_PARAMS)
        return uerr_set(e, UERR_USER, "%s:%d:%d: more than %d parameters", c->file, line, col,
                        CELL_MAX_PARAMS);
    if (model_reserved_name(name))
        return uerr_set(e, UERR_USER,
                        "%s:%d:%d: '%s' is a reserved name (`unroll grad` writes "
                        "inputs, targets, mask, lengths, h0 and loss beside the "
                        "parameters, and the folders grad, per_step, hvp, hvp_v "
                        "and jacobian)",
                        c->file, line, col, name);
    for (int i = 0; i < c->nparams; i++)
        if (!strcmp(c->param[i].name, name))
            return uerr_set(e, UERR_USER, "%s:%d:%d: parameter '%s' declared twice", c->file, line,
                            col, name);
    cell_param *p = &c->param[c->nparams++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rank = d1 ? 2 : 1;
    snprintf(p->dim[0], sizeof p->dim[0], "%s", d0);
    snprintf(p->dim[1], sizeof p->dim[1], "%s", d1 ? d1 : "");
    p->line = line, p->col = col;
    return 0;
}

static int add_state(cell *c, const char *name, const char *dim, int line, int col, uerr *e)
{
    if (c->nstates == CELL_MAX_STATES)
        return uerr_set(e, UERR_USER, "%s:%d:%d: more than %d state vectors", c->file, line, col,
                        CELL_MAX_STATES);
    cell_state *s = &c->state[c->nstates++];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->dim, sizeof s->dim, "%s", dim);
    s->line = line, s->col = col;
    return 0;
}

static int add_eq(cell *c, const char *text, int line, int col, uerr *e)
{
    if (c->neqs == CELL_MAX_EQS)
        return uerr_set(e, UERR_USER, "%s:%d:%d: more than %d equations", c->file, line, col,
                        CELL_MAX_EQS);
    int rc = eq_parse(text, c->file, line, col, &c->eq[c->neqs], e);
    if (!rc)
        c->neqs++;
    return rc;
}

/* A preset written as the lines a user would write; "ACT" stands for
 * model.activation. Parameters: "name dim0 [dim1]". */
typedef struct preset {
    const char *params[16];
    const char *states[4];
    const char *step[8];
} preset;

static const preset elman = {
    {"U hidden input", "W hidden hidden", "b hidden", "V output hidden", "c output"},
    {"h hidden"},
    {"h[t] = ACT(W @ h[t-1] + U @ x[t] + b)", "o[t] = V @ h[t] + c"},
};

static const preset jordan = {
    {"U hidden input", "W hidden output", "b hidden", "V output hidden", "c output"},
    {NULL},
    {"h[t] = ACT(W @ y[t-1] + U @ x[t] + b)", "o[t] = V @ h[t] + c"},
};

static const preset lstm = {
    {"Ui hidden input", "Wi hidden hidden", "bi hidden", "Uf hidden input", "Wf hidden hidden",
     "bf hidden", "Ug hidden input", "Wg hidden hidden", "bg hidden", "Uo hidden input",
     "Wo hidden hidden", "bo hidden", "V output hidden", "c output"},
    {"h hidden", "cell hidden"},
    {"i[t] = sigmoid(Wi @ h[t-1] + Ui @ x[t] + bi)", "f[t] = sigmoid(Wf @ h[t-1] + Uf @ x[t] + bf)",
     "g[t] = tanh(Wg @ h[t-1] + Ug @ x[t] + bg)", "q[t] = sigmoid(Wo @ h[t-1] + Uo @ x[t] + bo)",
     "cell[t] = f[t] * cell[t-1] + i[t] * g[t]", "h[t] = q[t] * tanh(cell[t])",
     "o[t] = V @ h[t] + c"},
};

static const preset gru = {
    {"Uz hidden input", "Wz hidden hidden", "bz hidden", "Ur hidden input", "Wr hidden hidden",
     "br hidden", "Un hidden input", "Wn hidden hidden", "bn hidden", "V output hidden",
     "c output"},
    {"h hidden"},
    {"z[t] = sigmoid(Wz @ h[t-1] + Uz @ x[t] + bz)", "r[t] = sigmoid(Wr @ h[t-1] + Ur @ x[t] + br)",
     "n[t] = tanh(Wn @ (r[t] * h[t-1]) + Un @ x[t] + bn)",
     "h[t] = (1 - z[t]) * n[t] + z[t] * h[t-1]", "o[t] = V @ h[t] + c"},
};

/* model.gru: torch, nn.GRU's formula: the reset gate scales the whole
 * recurrent term W_hn h + b_hn, so PyTorch's two biases of n stay apart
 * (bn = b_in, bhn = b_hn) and all three recurrent products read h[t-1]
 * itself (the planner can stack them into one). h[t] is written as
 * PyTorch evaluates it, (h - n) z + n: the same value as (1 - z) n + z h
 * with PyTorch's roundings (bit for bit, given the same gates), in three
 * elementwise passes instead of five. */
static const preset gru_torch = {
    {"Uz hidden input", "Wz hidden hidden", "bz hidden", "Ur hidden input", "Wr hidden hidden",
     "br hidden", "Un hidden input", "Wn hidden hidden", "bn hidden", "bhn hidden",
     "V output hidden", "c output"},
    {"h hidden"},
    {"z[t] = sigmoid(Wz @ h[t-1] + Uz @ x[t] + bz)", "r[t] = sigmoid(Wr @ h[t-1] + Ur @ x[t] + br)",
     "n[t] = tanh(Un @ x[t] + bn + r[t] * (Wn @ h[t-1] + bhn))",
     "h[t] = (h[t-1] - n[t]) * z[t] + n[t]", "o[t] = V @ h[t] + c"},
};

static int from_preset(cell *c, const preset *p, const char *act, uerr *e)
{
    char f[3][EQ_NAME_MAX];
    for (int i = 0; i < 16 && p->params[i]; i++) {
        int n = sscanf(p->params[i], "%31s %31s %31s", f[0], f[1], f[2]);
        int rc = add_param(c, f[0], f[1], n == 3 ? f[2] : NULL, i + 1, 1, e);
        if (rc)
            return rc;
    }
    for (int i = 0; i < 4 && p->states[i]; i++) {
        sscanf(p->states[i], "%31s %31s", f[0], f[1]);
        int rc = add_state(c, f[0], f[1], i + 1, 1, e);
        if (rc)
            return rc;
    }
    for (int i = 0; i < 8 && p->step[i]; i++) {
        char text[256];
        const char *at = strstr(p->step[i], "ACT");
        if (at)
            snprintf(text, sizeof text, "%.*s%s%s", (int)(at - p->step[i]), p->step[i], act,
                     at + 3);
        else
            snprintf(text, sizeof text, "%s", p->step[i]);
        int rc = add_eq(c, text, i + 1, 1, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int not_scalar(const cell *c, const ytree_node *n, const char *what, uerr *e)
{
    return uerr_set(e, UERR_USER, "%s:%d:%d: %s: expected %s, found %s", c->file, n->line, n->col,
                    what, "a name or a number", ytree_kind_name(n->kind));
}

static int is_name(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static int from_custom(cell *c, const spec *s, uerr *e)
{
    const ytree_node *ps = s->model.params, *st = s->model.state, *step = s->model.step;
    if (!ps || ps->kind != YTREE_MAP)
        return uerr_set(e, UERR_USER,
                        "%s: model.params: expected a mapping of parameter names to "
                        "shapes, e.g. {W: [hidden, hidden], b: [hidden]}",
                        c->file);
    for (size_t i = 0; i < ps->n; i++) {
        const ytree_node *k = ps->kids[2 * i], *v = ps->kids[2 * i + 1];
        if (!is_name(k->text) || strlen(k->text) >= EQ_NAME_MAX)
            return uerr_set(e, UERR_USER, "%s:%d:%d: model.params: '%s' is not a valid name",
                            c->file, k->line, k->col, k->text);
        if (v->kind != YTREE_SEQ || v->n < 1 || v->n > 2)
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.params.%s: expected a shape of one or two "
                            "dimensions, e.g. [hidden, input]",
                            c->file, v->line, v->col, k->text);
        for (size_t j = 0; j < v->n; j++)
            if (v->kids[j]->kind != YTREE_SCALAR || strlen(v->kids[j]->text) >= EQ_NAME_MAX)
                return not_scalar(c, v->kids[j], "a dimension", e);
        int rc = add_param(c, k->text, v->kids[0]->text, v->n == 2 ? v->kids[1]->text : NULL,
                           k->line, k->col, e);
        if (rc)
            return rc;
    }
    if (st && !ytree_is_null(st)) {
        if (st->kind != YTREE_MAP)
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.state: expected a mapping of state "
                            "names to sizes, e.g. {h: hidden}",
                            c->file, st->line, st->col);
        for (size_t i = 0; i < st->n; i++) {
            const ytree_node *k = st->kids[2 * i], *v = st->kids[2 * i + 1];
            if (!is_name(k->text) || strlen(k->text) >= EQ_NAME_MAX)
                return uerr_set(e, UERR_USER, "%s:%d:%d: model.state: '%s' is not a valid name",
                                c->file, k->line, k->col, k->text);
            if (v->kind != YTREE_SCALAR || strlen(v->text) >= EQ_NAME_MAX)
                return not_scalar(c, v, "a state size", e);
            int rc = add_state(c, k->text, v->text, k->line, k->col, e);
            if (rc)
                return rc;
        }
    }
    if (!step || step->kind != YTREE_SEQ || step->n == 0)
        return uerr_set(e, UERR_USER,
                        "%s: model.step: expected a list of equations, e.g. "
                        "- h[t] = tanh(W @ h[t-1] + U @ x[t] + b)",
                        c->file);
    for (size_t i = 0; i < step->n; i++) {
        const ytree_node *q = step->kids[i];
        if (q->kind != YTREE_SCALAR)
            return uerr_set(e, UERR_USER, "%s:%d:%d: model.step: expected an equation, found %s",
                            c->file, q->line, q->col, ytree_kind_name(q->kind));
        /* a quoted scalar starts one column after its quote */
        int rc = add_eq(c, q->text, q->line, q->col + (q->quoted ? 1 : 0), e);
        if (rc)
            return rc;
    }
    return 0;
}

int cell_reads_output(const cell *c)
{
    for (int q = 0; q < c->neqs; q++)
        if (eq_reads(c->eq[q].rhs, "y", -1))
            return 1;
    return 0;
}

/* Whether every use of parameter name in x is as an operand of + or -. */
static int only_added(const expr *x, const char *name)
{
    if (!x)
        return 1;
    const expr *kids[2 + EQ_MAX_ARGS] = {x->a, x->b};
    int n = 2;
    for (int i = 0; i < x->nargs; i++)
        kids[n++] = x->args[i];
    int adds = x->kind == EX_BIN && (x->op == '+' || x->op == '-');
    for (int i = 0; i < n; i++) {
        const expr *k = kids[i];
        if (!k)
            continue;
        if (k->kind == EX_NAME && k->toff == EQ_NO_TIME && !strcmp(k->name, name)) {
            if (!adds)
                return 0;
        } else if (!only_added(k, name)) {
            return 0;
        }
    }
    return 1;
}

/* Gives each parameter its model.init entry; refuses entries naming no
 * parameter, and orthogonal or identity for a vector. */
static int attach_inits(cell *c, const spec *s, uerr *e)
{
    const char *path = s->path ? s->path : "config";
    for (int k = 0; k < s->model.init.n; k++) {
        const spec_init *in = &s->model.init.param[k];
        char at[300];
        if (in->line)
            snprintf(at, sizeof at, "%s:%d:%d", path, in->line, in->col);
        else
            snprintf(at, sizeof at, "%s", path);
        cell_param *p = NULL;
        for (int i = 0; i < c->nparams && !p; i++)
            if (!strcmp(c->param[i].name, in->name))
                p = &c->param[i];
        if (!p) {
            char names[256];
            size_t o = 0;
            names[0] = '\0';
            for (int i = 0; i < c->nparams && o < sizeof names; i++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                                      c->param[i].name);
            return uerr_set(e, UERR_USER, "%s: model.init.%s: the cell has no parameter %s (%s)",
                            at, in->name, in->name, names);
        }
        if (p->rank == 1 && (in->kind == SPEC_INIT_ORTHOGONAL || in->kind == SPEC_INIT_IDENTITY))
            return uerr_set(e, UERR_USER,
                            "%s: model.init.%s: %s needs a matrix; %s is a vector (use constant, "
                            "normal or uniform)",
                            at, in->name,
                            in->kind == SPEC_INIT_IDENTITY ? "identity" : "orthogonal", in->name);
        p->init = in;
    }
    return 0;
}

int cell_from_spec(const spec *s, cell *c, uerr *e)
{
    memset(c, 0, sizeof *c);
    snprintf(c->output, sizeof c->output, "o");
    const char *act = spec_value_name("model.activation", (int)s->model.activation);
    const preset *p = NULL;
    switch (s->model.cell) {
    case SPEC_CELL_ELMAN:
        p = &elman;
        break;
    case SPEC_CELL_JORDAN:
        p = &jordan;
        break;
    case SPEC_CELL_LSTM:
        p = &lstm;
        break;
    case SPEC_CELL_GRU:
        p = s->model.gru == SPEC_GRU_TORCH ? &gru_torch : &gru;
        break;
    case SPEC_CELL_CUSTOM:
        break;
    }
    int rc;
    if (p) {
        snprintf(c->file, sizeof c->file, "preset %s",
                 spec_value_name("model.cell", (int)s->model.cell));
        rc = from_preset(c, p, act ? act : "tanh", e);
    } else {
        snprintf(c->file, sizeof c->file, "%s", s->path ? s->path : "config");
        rc = from_custom(c, s, e);
    }
    if (!rc)
        rc = attach_inits(c, s, e);
    if (rc)
        cell_free(c);
    return rc;
}

void cell_free(cell *c)
{
    for (int i = 0; i < c->neqs; i++)
        eq_free(&c->eq[i]);
    c->neqs = 0;
}

int64_t cell_dim(const cell *c, const char *dim, int64_t hidden, int64_t input, int64_t output,
                 int line, int col, uerr *e)
{
    /* "4*hidden": a multiple, for gates computed by one product */
    int64_t mult = 1;
    const char *name = dim;
    char *end;
    if (*dim >= '1' && *dim <= '9') {
        long long m = strtoll(dim, &end, 10);
        if (*end == '*' && m >= 1 && m <= 64) {
            mult = m;
            name = end + 1;
        }
    }
    int64_t base = !strcmp(name, "hidden")   ? hidden
                   : !strcmp(name, "input")  ? input
                   : !strcmp(name, "output") ? output
                                             : -1;
    if (base > 0 && base * mult <= 1 << 20)
        return base * mult;
    long long v = strtoll(dim, &end, 10);
    if (*dim && !*end && v >= 1 && v <= 1 << 20)
        return v;
    uerr_set(e, UERR_USER,
             "%s:%d:%d: dimension '%s': expected hidden, input, output, a multiple such as "
             "4*hidden (up to 64 times), or an integer from 1 to 1048576",
             c->file, line, col, dim);
    return -1;
}

int cell_check_params(const cell *c, uerr *e)
{
    for (int i = 0; i < c->nparams; i++) {
        const cell_param *p = &c->param[i];
        int used = 0, bias = 1;
        for (int q = 0; q < c->neqs; q++) {
            used |= eq_reads(c->eq[q].rhs, p->name, EQ_NO_TIME);
            bias &= only_added(c->eq[q].rhs, p->name);
        }
        /* trained as nothing, saved and exported: most likely a typo */
        if (!used)
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.params.%s: no equation in model.step reads it "
                            "(remove it, or use it)",
                            c->file, p->line, p->col, p->name);
        if (p->rank == 1 && !bias && !p->init)
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.params.%s: a vector that is not only added (a bias "
                            "starts at 0) has no default start; give it one, e.g. model.init: "
                            "{%s: {kind: constant, value: 1}}",
                            c->file, p->line, p->col, p->name, p->name);
    }
    return 0;
}
