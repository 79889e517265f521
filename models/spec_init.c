/*
 * spec_init.c - model.init's per-parameter entries:
 *
 *   model:
 *     init:
 *       std: 0.01                               # the default normal's std
 *       u: {kind: uniform, value: 0.5, std: 0.1}
 *       W: {kind: orthogonal}
 *
 * Fields: kind (required) constant | normal | uniform | orthogonal |
 * identity; value (constant: the value; normal, uniform: the mean;
 * orthogonal: the gain; identity: the diagonal; default 0 for the first
 * three, 1 for the others); std (normal and uniform only; default
 * model.init.std). Whether NAME is a parameter, and 2-D for orthogonal and
 * identity, is checked where the cell is known (models/cell.c); how the
 * values are drawn is train/param_init.c.
 *
 * The table (spec_table.c) cannot hold keys named by the user, so these
 * are read here: spec_walk hands over a mapping under an unknown key of
 * model.init, spec_set an override model.init.NAME.FIELD=VALUE.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/spec_table.h"

static const char *const init_kinds[] = {"constant",   "normal",   "uniform",
                                         "orthogonal", "identity", NULL};
static const char *const init_fields[] = {"kind", "value", "std", NULL};

static bool init_uses_std(spec_init_kind k)
{
    return k == SPEC_INIT_NORMAL || k == SPEC_INIT_UNIFORM;
}

/* The entry of name, made if new; NULL when full (an error set). */
static spec_init *init_entry(spec *s, const char *name, size_t len, const char *where, uerr *e)
{
    for (int i = 0; i < s->model.init.n; i++)
        if (strlen(s->model.init.param[i].name) == len &&
            !memcmp(s->model.init.param[i].name, name, len))
            return &s->model.init.param[i];
    if (s->model.init.n == SPEC_MAX_INITS || len == 0 ||
        len >= sizeof s->model.init.param[0].name) {
        uerr_set(e, UERR_USER, "%s: model.init: at most %d entries, names of 1 to %zu characters",
                 where, SPEC_MAX_INITS, sizeof s->model.init.param[0].name - 1);
        return NULL;
    }
    spec_init *in = &s->model.init.param[s->model.init.n++];
    memset(in, 0, sizeof *in);
    memcpy(in->name, name, len);
    in->std = -1;
    return in;
}

/* Stores text as field f of in; -1 with what was expected in why. */
static int init_field(spec_init *in, const char *f, size_t flen, const char *text, size_t len,
                      char *why, size_t nwhy)
{
    if (flen == 4 && !memcmp(f, "kind", 4)) {
        for (int k = 0; init_kinds[k]; k++)
            if (strlen(init_kinds[k]) == len && !memcmp(init_kinds[k], text, len)) {
                in->kind = (spec_init_kind)k;
                in->has_kind = true;
                if (!in->has_value)
                    in->value = k >= SPEC_INIT_ORTHOGONAL ? 1.0 : 0.0;
                return 0;
            }
        const char *best = spec_closest(text, len, init_kinds, spec_nnames(init_kinds));
        snprintf(why, nwhy, "expected constant, normal, uniform, orthogonal or identity%s%s%s",
                 best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
        return -1;
    }
    double r;
    bool is_std = flen == 3 && !memcmp(f, "std", 3);
    if (is_std || (flen == 5 && !memcmp(f, "value", 5))) {
        if (!spec_parse_real(text, len, &r) || (is_std && !(r > 0))) {
            snprintf(why, nwhy, "%s", is_std ? "expected a number > 0" : "expected a number");
            return -1;
        }
        if (is_std) {
            in->std = r;
            in->has_std = true;
        } else {
            in->value = r;
            in->has_value = true;
        }
        return 0;
    }
    const char *best = spec_closest(f, flen, init_fields, 3);
    snprintf(why, nwhy, "unknown field (kind, value, std)%s%s%s", best ? "; did you mean '" : "",
             best ? best : "", best ? "'?" : "");
    return -1;
}

int spec_init_take(spec *s, const char *path, const ytree_node *key, const ytree_node *val, uerr *e)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%d:%d", path, key->line, key->col);
    spec_init *in = init_entry(s, key->text, key->len, where, e);
    if (!in)
        return UERR_USER;
    in->line = key->line;
    in->col = key->col;
    for (size_t i = 0; i < val->n; i++) {
        const ytree_node *k = val->kids[2 * i], *v = val->kids[2 * i + 1];
        /* a quoted number is a string, as everywhere in the config; a
         * kind is a name, quoted or not (as an enum) */
        bool bad = v->kind != YTREE_SCALAR || (v->quoted && strcmp(k->text, "kind"));
        char why[160];
        if (bad)
            snprintf(why, sizeof why, "expected a plain value, found %s",
                     v->kind != YTREE_SCALAR ? ytree_kind_name(v->kind) : "a quoted string");
        if (bad || init_field(in, k->text, k->len, v->text, v->len, why, sizeof why)) {
            const ytree_node *at = !strncmp(why, "unknown", 7) ? k : v;
            return uerr_set(e, UERR_USER, "%s:%d:%d: model.init.%s.%s: %s", path, at->line, at->col,
                            in->name, k->text, why);
        }
    }
    return 0;
}

int spec_init_set(spec *s, const char *key, size_t klen, const char *val, uerr *e)
{
    static const char pre[] = "model.init.";
    size_t pl = sizeof pre - 1;
    if (klen <= pl || memcmp(key, pre, pl))
        return -1;
    const char *name = key + pl, *dot = memchr(name, '.', klen - pl);
    if (!dot || memchr(dot + 1, '.', (size_t)(key + klen - dot - 1)))
        return -1;
    char shown[160];
    snprintf(shown, sizeof shown, "--set %.*s=%s", (int)klen, key, val);
    spec_init *in = init_entry(s, name, (size_t)(dot - name), shown, e);
    if (!in)
        return UERR_USER;
    char why[160];
    if (init_field(in, dot + 1, (size_t)(key + klen - dot - 1), val, strlen(val), why, sizeof why))
        return uerr_set(e, UERR_USER, "%s: %s", shown, why);
    return 0;
}

int spec_init_check(const spec *s, uerr *e)
{
    const char *path = s->path ? s->path : "config";
    for (int i = 0; i < s->model.init.n; i++) {
        const spec_init *in = &s->model.init.param[i];
        char at[300];
        if (in->line)
            snprintf(at, sizeof at, "%s:%d:%d", path, in->line, in->col);
        else
            snprintf(at, sizeof at, "%s", path);
        if (!in->has_kind)
            return uerr_set(e, UERR_USER,
                            "%s: model.init.%s: kind is required (constant, normal, uniform, "
                            "orthogonal or identity)",
                            at, in->name);
        if (in->has_std && !init_uses_std(in->kind))
            return uerr_set(e, UERR_USER,
                            "%s: model.init.%s: std goes with normal and uniform, not %s", at,
                            in->name, init_kinds[in->kind]);
    }
    return 0;
}

/* The shortest text that reads back to r (as spec_write.c's reals). */
static void init_real(FILE *f, double r)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, r);
        if (strtod(tmp, NULL) == r)
            break;
    }
    fputs(tmp, f);
}

void spec_init_write(const spec *s, FILE *f, int indent)
{
    fprintf(f,
            "%*s# per parameter, NAME: {kind: constant | normal | uniform | orthogonal | "
            "identity, value, std}.\n"
            "%*s# Without one: a matrix is normal(0, std); a vector only ever added (a bias) "
            "is 0; any other vector needs one.\n",
            indent, "", indent, "");
    for (int i = 0; i < s->model.init.n; i++) {
        const spec_init *in = &s->model.init.param[i];
        fprintf(f, "%*s", indent, "");
        ytree_write_scalar(f, in->name, strlen(in->name), true);
        fprintf(f, ": {kind: %s, value: ", init_kinds[in->kind]);
        init_real(f, in->value);
        if (init_uses_std(in->kind)) {
            fputs(", std: ", f);
            init_real(f, in->std > 0 ? in->std : s->model.init.std);
        }
        fputs("}\n", f);
    }
}
