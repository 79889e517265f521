/* equation.c - a recursive-descent parser for step equations; see
 * equation.h. Nesting is bounded (EQ_MAX_DEPTH), so hostile input cannot
 * exhaust the stack. */
#include "models/equation.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EQ_MAX_DEPTH 64
#define EQ_MAX_NODES 4096 /* bounds the left-deep chains a + b + c ... too */

typedef struct parser {
    const char *src, *p, *file;
    int line, col; /* of src[0] */
    int depth;
    int nodes;
    uerr *e;
} parser;

static int col_of(const parser *ps, const char *at)
{
    return ps->col + (int)(at - ps->src);
}

static void skip_space(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

static int fail(parser *ps, const char *at, const char *what)
{
    char near[24];
    size_t n = 0;
    if (!*at) {
        snprintf(near, sizeof near, "end of line");
    } else {
        while (at[n] && n < 12 && !isspace((unsigned char)at[n]))
            n++;
        if (n == 0)
            n = 1;
        snprintf(near, sizeof near, "'%.*s'", (int)n, at);
    }
    return uerr_set(ps->e, UERR_USER, "%s:%d:%d: near %s: %s", ps->file, ps->line, col_of(ps, at),
                    near, what);
}

static expr *new_expr(parser *ps, ex_kind k, const char *at)
{
    if (++ps->nodes > EQ_MAX_NODES) {
        fail(ps, at, "equation too long (more than 4096 terms)");
        return NULL;
    }
    expr *x = calloc(1, sizeof *x);
    if (!x) {
        uerr_set(ps->e, UERR_INTERNAL, "equation: out of memory");
        return NULL;
    }
    x->kind = k;
    x->line = ps->line;
    x->col = col_of(ps, at);
    return x;
}

static void free_expr(expr *x)
{
    if (!x)
        return;
    free_expr(x->a);
    free_expr(x->b);
    for (int i = 0; i < x->nargs; i++)
        free_expr(x->args[i]);
    free(x);
}

void eq_free(equation *eq)
{
    free_expr(eq->rhs);
    eq->rhs = NULL;
}

/* Recursion is bounded by the parse (EQ_MAX_DEPTH), as in free_expr. */
int eq_reads(const expr *x, const char *name, int toff)
{
    if (!x)
        return 0;
    if (x->kind == EX_NAME && x->toff == toff && !strcmp(x->name, name))
        return 1;
    if (eq_reads(x->a, name, toff) || eq_reads(x->b, name, toff))
        return 1;
    for (int i = 0; i < x->nargs; i++)
        if (eq_reads(x->args[i], name, toff))
            return 1;
    return 0;
}

static int read_name(parser *ps, char *out)
{
    const char *s = ps->p;
    if (!isalpha((unsigned char)*s) && *s != '_')
        return fail(ps, s, "expected a name");
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    if (n >= EQ_NAME_MAX)
        return fail(ps, s, "name too long");
    memcpy(out, s, n);
    out[n] = '\0';
    ps->p += n;
    return 0;
}

/* '[' 't' ('-' INT)? ']' after a name; *toff gets 0 or -k */
static int read_time(parser *ps, int *toff)
{
    ps->p++; /* '[' */
    skip_space(ps);
    if (*ps->p != 't' || isalnum((unsigned char)ps->p[1]) || ps->p[1] == '_')
        return fail(ps, ps->p, "expected the time index t, as in h[t] or h[t-1]");
    ps->p++;
    skip_space(ps);
    *toff = 0;
    if (*ps->p == '-') {
        ps->p++;
        skip_space(ps);
        const char *at = ps->p;
        if (!isdigit((unsigned char)*at))
            return fail(ps, at, "expected a step count after t-");
        long k = strtol(at, (char **)&ps->p, 10);
        if (k < 1 || k > 1000)
            return fail(ps, at, "the offset must be from 1 to 1000");
        *toff = -(int)k;
        skip_space(ps);
    } else if (*ps->p == '+') {
        return fail(ps, ps->p, "a step cannot read the future (t+k)");
    }
    if (*ps->p != ']')
        return fail(ps, ps->p, "expected ']'");
    ps->p++;
    return 0;
}

static expr *parse_expr(parser *ps);

static expr *parse_atom(parser *ps)
{
    skip_space(ps);
    const char *at = ps->p;
    if (*at == '(') {
        ps->p++;
        expr *x = parse_expr(ps);
        if (!x)
            return NULL;
        skip_space(ps);
        if (*ps->p != ')') {
            fail(ps, ps->p, "expected ')'");
            free_expr(x);
            return NULL;
        }
        ps->p++;
        return x;
    }
    if (isdigit((unsigned char)*at) || (*at == '.' && isdigit((unsigned char)at[1]))) {
        expr *x = new_expr(ps, EX_NUM, at);
        if (!x)
            return NULL;
        errno = 0;
        x->num = strtod(at, (char **)&ps->p);
        if (errno) {
            fail(ps, at, "number out of range");
            free_expr(x);
            return NULL;
        }
        return x;
    }
    expr *x = new_expr(ps, EX_NAME, at);
    if (!x)
        return NULL;
    if (read_name(ps, x->name)) {
        free_expr(x);
        return NULL;
    }
    x->toff = EQ_NO_TIME;
    skip_space(ps);
    if (*ps->p == '[') {
        if (read_time(ps, &x->toff)) {
            free_expr(x);
            return NULL;
        }
    } else if (*ps->p == '(') {
        x->kind = EX_CALL;
        ps->p++;
        for (;;) {
            if (x->nargs == EQ_MAX_ARGS) {
                fail(ps, ps->p, "too many arguments");
                free_expr(x);
                return NULL;
            }
            expr *arg = parse_expr(ps);
            if (!arg) {
                free_expr(x);
                return NULL;
            }
            x->args[x->nargs++] = arg;
            skip_space(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p != ')') {
                fail(ps, ps->p, "expected ',' or ')'");
                free_expr(x);
                return NULL;
            }
            ps->p++;
            break;
        }
    }
    return x;
}

static expr *parse_unary(parser *ps)
{
    skip_space(ps);
    if (*ps->p == '-') {
        const char *at = ps->p++;
        if (++ps->depth > EQ_MAX_DEPTH) {
            fail(ps, at, "expression nested too deeply");
            return NULL;
        }
        expr *x = new_expr(ps, EX_NEG, at);
        if (x && !(x->a = parse_unary(ps))) {
            free_expr(x);
            x = NULL;
        }
        ps->depth--;
        return x;
    }
    return parse_atom(ps);
}

/* one precedence level: left-associative operators from ops */
static expr *parse_level(parser *ps, const char *ops, expr *(*next)(parser *))
{
    expr *x = next(ps);
    while (x) {
        skip_space(ps);
        if (!*ps->p || !strchr(ops, *ps->p))
            break;
        const char *at = ps->p++;
        expr *b = new_expr(ps, EX_BIN, at);
        if (!b) {
            free_expr(x);
            return NULL;
        }
        b->op = *at;
        b->a = x;
        x = b;
        if (!(b->b = next(ps))) {
            free_expr(x);
            return NULL;
        }
    }
    return x;
}

static expr *parse_term(parser *ps)
{
    return parse_level(ps, "@*", parse_unary);
}

static expr *parse_expr(parser *ps)
{
    if (++ps->depth > EQ_MAX_DEPTH) {
        fail(ps, ps->p, "expression nested too deeply");
        return NULL;
    }
    expr *x = parse_level(ps, "+-", parse_term);
    ps->depth--;
    return x;
}

int eq_parse(const char *src, const char *file, int line, int col, equation *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    parser ps = {.src = src, .p = src, .file = file, .line = line, .col = col, .e = e};
    skip_space(&ps);
    out->line = line;
    out->col = col_of(&ps, ps.p);
    int rc = read_name(&ps, out->target);
    if (rc)
        return rc;
    skip_space(&ps);
    int toff = 1;
    if (*ps.p != '[' || (rc = read_time(&ps, &toff)) || toff != 0)
        return rc ? rc : fail(&ps, ps.p, "the left side must be NAME[t]");
    skip_space(&ps);
    if (*ps.p != '=')
        return fail(&ps, ps.p, "expected '='");
    ps.p++;
    out->rhs = parse_expr(&ps);
    if (!out->rhs)
        return e->code ? e->code : UERR_USER;
    skip_space(&ps);
    if (*ps.p) {
        eq_free(out);
        return fail(&ps, ps.p, "unexpected text after the equation");
    }
    return 0;
}
