/*
 * equation.h - the step equations of a cell, parsed.
 *
 * One equation per line, written per example in column-vector form as in
 * the seeds:
 *
 *     h[t] = tanh(W @ h[t-1] + U @ x[t] + b)
 *     o[t] = V @ h[t] + c
 *
 * Grammar (usual precedence: unary minus, then @ and *, then + and -):
 *     equation := NAME '[' 't' ']' '=' expr
 *     expr     := term (('+' | '-') term)*
 *     term     := unary (('@' | '*') unary)*
 *     unary    := '-' unary | atom
 *     atom     := NUMBER | NAME | NAME '[' 't' ('-' INT)? ']'
 *               | NAME '(' expr (',' expr)* ')' | '(' expr ')'
 * A NAME without a time index is a parameter; with one it is a per-step
 * value (an input, a state, or an earlier equation's result). What the
 * names mean is decided when the model is built (models/model.c); here
 * only the syntax is checked, and every node keeps its line:column.
 */
#ifndef UNROLL_EQUATION_H
#define UNROLL_EQUATION_H

#include "base/err.h"

#define EQ_NAME_MAX 32
#define EQ_MAX_ARGS 4
#define EQ_NO_TIME 1 /* toff of a name written without [t] */

typedef enum ex_kind {
    EX_NUM,  /* num */
    EX_NAME, /* name, toff: 0 for [t], -k for [t-k], EQ_NO_TIME */
    EX_BIN,  /* op in "+-*@", a and b */
    EX_NEG,  /* -a */
    EX_CALL, /* name(args) */
} ex_kind;

typedef struct expr expr;
struct expr {
    ex_kind kind;
    char op;
    char name[EQ_NAME_MAX];
    int toff;
    double num;
    expr *a, *b;
    expr *args[EQ_MAX_ARGS];
    int nargs;
    int line, col;
};

typedef struct equation {
    char target[EQ_NAME_MAX];
    expr *rhs;
    int line, col;
} equation;

/* Parses src (one equation) whose first character stands at file:line:col;
 * errors read "file:line:col: near 'tok': what". */
int eq_parse(const char *src, const char *file, int line, int col, equation *out, uerr *e);
void eq_free(equation *eq);

/* Whether x reads name at time offset toff (EQ_NO_TIME: the parameter
 * name, written without [t]; -1: name[t-1]). */
int eq_reads(const expr *x, const char *name, int toff);

#endif
