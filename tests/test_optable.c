/*
 * test_optable.c - what equations can call comes from the op table, and
 * everything that lists it agrees with the table:
 *
 * - every op flagged OPF_CALL is found by its equation name, and the
 *   "unknown function" message lists them all;
 * - OPF_ACTIVATION ops take one argument and are what model.activation
 *   accepts (spec_value_name walks them in table order);
 * - the fuzz dictionary (tests/fuzz/equation.dict) has "name(" for every
 *   callable op and no function the table lacks;
 * - the README's list of equation functions and its model.activation
 *   comment name exactly the table's callables and activations.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "models/spec.h"
#include "ops/ops.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int ncallable(void)
{
    int k = 0;
    for (int op = 0; op < OP_COUNT; op++)
        k += (op_table[op]->flags & OPF_CALL) != 0;
    return k;
}

static void test_callable_ops_are_found(void)
{
    char list[256];
    op_call_list(list, sizeof list);
    for (int op = 0; op < OP_COUNT; op++) {
        const op_def *d = op_table[op];
        if (!(d->flags & OPF_CALL)) {
            CHECKF(!(d->flags & OPF_ACTIVATION), "op %s: an activation must be callable",
                   op_name(op));
            continue;
        }
        CHECKF(op_find_call(op_call_name(op)) == op, "op %s is not found as %s", op_name(op),
               op_call_name(op));
        CHECKF(strstr(list, op_call_name(op)) != NULL, "%s is not in '%s'", op_call_name(op), list);
        if (d->flags & OPF_ACTIVATION)
            CHECKF(d->arity == 1 && !d->call, "activation %s: one argument, built by default",
                   op_name(op));
    }
    CHECK(ncallable() >= 6);
    CHECK(op_find_call("no_such_function") < 0);
    /* an op not callable is not found by its name */
    CHECK(op_find_call("tanh_grad") < 0 && op_find_call("slice") < 0);
}

static void test_activations_are_the_spec_values(void)
{
    const char *const *act = op_activation_names();
    int k = 0;
    for (int op = 0; op < OP_COUNT; op++)
        if (op_table[op]->flags & OPF_ACTIVATION) {
            const char *nm = spec_value_name("model.activation", k);
            CHECKF(nm && !strcmp(nm, op_call_name(op)), "model.activation %d is %s, not %s", k,
                   nm ? nm : "(none)", op_call_name(op));
            CHECK(act[k] && !strcmp(act[k], op_call_name(op)));
            k++;
        }
    CHECK(act[k] == NULL && spec_value_name("model.activation", k) == NULL);
    CHECK(k >= 3);
}

static void test_fuzz_dictionary_lists_the_functions(void)
{
    char *dict = slurp("tests/fuzz/equation.dict");
    CHECKF(dict != NULL, "%s", "cannot read tests/fuzz/equation.dict");
    if (!dict)
        return;
    for (int op = 0; op < OP_COUNT; op++) {
        if (!(op_table[op]->flags & OPF_CALL))
            continue;
        char want[64];
        snprintf(want, sizeof want, "\"%s(\"", op_call_name(op));
        CHECKF(strstr(dict, want) != NULL, "equation.dict lacks %s", want);
    }
    /* and every entry "name(" in it is a callable op (entries are lines
     * that start with a quote; comments start with #) */
    for (char *line = dict; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line != '"')
            continue;
        char *q = strchr(line + 1, '"');
        size_t len = q ? (size_t)(q - line - 1) : 0;
        if (len > 1 && len < 64 && line[len] == '(') {
            char name[64];
            memcpy(name, line + 1, len - 1);
            name[len - 1] = '\0';
            CHECKF(op_find_call(name) >= 0, "equation.dict has %s(, which no op is", name);
        }
    }
    free(dict);
}

/* The backticked names of the README sentence "The functions are ...". */
static void test_readme_lists_the_functions(void)
{
    char *rd = slurp("README.md");
    CHECKF(rd != NULL, "%s", "cannot read README.md");
    if (!rd)
        return;
    const char *s = strstr(rd, "functions are ");
    CHECKF(s != NULL, "%s", "README.md has no \"functions are \" sentence");
    int found = 0;
    for (const char *p = s; p && *p && *p != '.';) {
        const char *b = strchr(p, '`');
        if (!b)
            break;
        const char *end = strchr(b + 1, '`');
        if (!end)
            break;
        /* "`chunk(v, k, n)`": the name before the parenthesis */
        const char *paren = memchr(b + 1, '(', (size_t)(end - b - 1));
        size_t len = (size_t)((paren ? paren : end) - b - 1);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, b + 1);
        CHECKF(op_find_call(name) >= 0, "README lists %s, which no op is", name);
        found++;
        p = end + 1;
        /* the sentence ends at the first '.' outside backticks */
        const char *dot = strchr(p, '.'), *next = strchr(p, '`');
        if (dot && (!next || dot < next))
            break;
    }
    CHECKF(found == ncallable(), "README lists %d functions, the table has %d", found, ncallable());
    /* the preset activations, in the comment of the config block */
    const char *a = strstr(rd, "activation: tanh");
    CHECKF(a != NULL, "%s", "README.md has no model.activation line");
    if (a) {
        const char *hash = strchr(a, '#'), *eol = strchr(a, '\n');
        char want[128];
        size_t o = 0;
        want[0] = '\0';
        for (const char *const *nm = op_activation_names(); *nm; nm++)
            o += (size_t)snprintf(want + o, sizeof want - o, "%s%s", o ? " | " : "", *nm);
        CHECKF(hash && eol && hash < eol && (size_t)(eol - hash - 2) == strlen(want) &&
                   !strncmp(hash + 2, want, strlen(want)),
               "README's activation comment is not '# %s'", want);
    }
    free(rd);
}

int main(void)
{
    RUN(test_callable_ops_are_found);
    RUN(test_activations_are_the_spec_values);
    RUN(test_fuzz_dictionary_lists_the_functions);
    RUN(test_readme_lists_the_functions);
    CHECK_EXIT();
}
