/*
 * fuzz_equation.c - the step-equation parser (models/equation.h).
 *
 * The input is one equation (cut at its first NUL, as a C string would
 * be). Besides surviving it, a parse that succeeds must give a tree that
 * keeps the header's promises, and printing that tree (with the
 * parentheses precedence needs) and parsing the text again must give the
 * same tree: what the parser accepts it understands one way only.
 */
#include "models/equation.h"
#include "tests/fuzz/fuzz.h"

/* A growing text buffer for the printer. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void put(text *t, const char *s)
{
    size_t k = strlen(s);
    if (t->n + k + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + k + 1)
            cap *= 2;
        char *p = realloc(t->s, cap);
        FUZZ_CHECK(p != NULL);
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, k + 1);
    t->n += k;
}

static void print_time(text *t, int toff)
{
    char buf[32];
    if (toff == EQ_NO_TIME)
        return;
    if (toff == 0)
        snprintf(buf, sizeof buf, "[t]");
    else
        snprintf(buf, sizeof buf, "[t-%d]", -toff);
    put(t, buf);
}

/* Binding strength: + - bind loosest, then * @, then unary minus and
 * atoms. */
static int prec(const expr *x)
{
    if (x->kind == EX_BIN)
        return strchr("+-", x->op) ? 1 : 2;
    return 3;
}

static void print_expr(text *t, const expr *x);

static void print_wrapped(text *t, const expr *x, int wrap)
{
    if (wrap)
        put(t, "(");
    print_expr(t, x);
    if (wrap)
        put(t, ")");
}

/* With only the parentheses the grammar needs: every '(' costs a level
 * of EQ_MAX_DEPTH, so printing more of them than the source had could
 * make a valid equation too deep to read back. */
static void print_expr(text *t, const expr *x)
{
    char buf[64];
    switch (x->kind) {
    case EX_NUM:
        snprintf(buf, sizeof buf, "%.17g", x->num);
        put(t, buf);
        return;
    case EX_NAME:
        put(t, x->name);
        print_time(t, x->toff);
        return;
    case EX_BIN:
        /* left-associative: the left operand may be of the same level,
         * the right one must bind tighter */
        print_wrapped(t, x->a, prec(x->a) < prec(x));
        snprintf(buf, sizeof buf, " %c ", x->op);
        put(t, buf);
        print_wrapped(t, x->b, prec(x->b) <= prec(x));
        return;
    case EX_NEG:
        put(t, "-");
        print_wrapped(t, x->a, prec(x->a) < 3);
        return;
    case EX_CALL:
        put(t, x->name);
        put(t, "(");
        for (int i = 0; i < x->nargs; i++) {
            if (i)
                put(t, ", ");
            print_expr(t, x->args[i]);
        }
        put(t, ")");
        return;
    }
    FUZZ_CHECK(!"unknown expression kind");
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < EQ_NAME_MAX;
}

/* The promises of equation.h about one node, recursively. */
static void check_expr(const expr *x)
{
    FUZZ_CHECK(x != NULL);
    switch (x->kind) {
    case EX_NUM:
        FUZZ_CHECK(x->num >= 0 && x->num == x->num);
        break;
    case EX_NAME:
        FUZZ_CHECK(name_ok(x->name));
        FUZZ_CHECK(x->toff == EQ_NO_TIME || (x->toff <= 0 && x->toff >= -1000));
        break;
    case EX_BIN:
        FUZZ_CHECK(x->op && strchr("+-*@", x->op));
        check_expr(x->a);
        check_expr(x->b);
        break;
    case EX_NEG:
        check_expr(x->a);
        break;
    case EX_CALL:
        FUZZ_CHECK(name_ok(x->name) && x->nargs >= 1 && x->nargs <= EQ_MAX_ARGS);
        for (int i = 0; i < x->nargs; i++)
            check_expr(x->args[i]);
        break;
    default:
        FUZZ_CHECK(!"unknown expression kind");
    }
}

static int same_expr(const expr *a, const expr *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case EX_NUM:
        return a->num == b->num;
    case EX_NAME:
        return !strcmp(a->name, b->name) && a->toff == b->toff;
    case EX_BIN:
        return a->op == b->op && same_expr(a->a, b->a) && same_expr(a->b, b->b);
    case EX_NEG:
        return same_expr(a->a, b->a);
    case EX_CALL:
        if (strcmp(a->name, b->name) || a->nargs != b->nargs)
            return 0;
        for (int i = 0; i < a->nargs; i++)
            if (!same_expr(a->args[i], b->args[i]))
                return 0;
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    FUZZ_CHECK(src != NULL);
    memcpy(src, data, size);
    src[size] = '\0';
    equation eq;
    uerr e = {0};
    if (eq_parse(src, "fuzz.yaml", 3, 5, &eq, &e)) {
        FUZZ_CHECK_ERR(&e);
        FUZZ_CHECK(eq.rhs == NULL);
        free(src);
        return 0;
    }
    FUZZ_CHECK(name_ok(eq.target));
    check_expr(eq.rhs);

    text t = {0};
    put(&t, eq.target);
    put(&t, "[t] = ");
    print_expr(&t, eq.rhs);
    equation again;
    uerr e2 = {0};
    if (eq_parse(t.s, "printed", 1, 1, &again, &e2)) {
        fprintf(stderr, "printed equation does not parse: %s\n  %s\n", t.s, e2.msg);
        abort();
    }
    if (strcmp(again.target, eq.target) || !same_expr(again.rhs, eq.rhs)) {
        fprintf(stderr, "printed equation parses differently: %s\n", t.s);
        abort();
    }
    eq_free(&again);
    eq_free(&eq);
    free(t.s);
    free(src);
    return 0;
}
