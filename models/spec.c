/*
 * spec.c - loading the experiment config: values parsed and checked
 * against the key table (spec_table.c), defaults, the walk over the YAML
 * file, --set overrides and the whole-config checks (see spec.h).
 *
 * Type rules, the same for the file and for --set:
 *   int   decimal digits with an optional sign; 1e3, 1000.0 and 0x10 are
 *         not integers. In the file a quoted "100" is a string, not an int.
 *   real  decimal or exponent notation, ints accepted; inf/nan refused.
 *   bool  true or false, nothing else (no yes/no/on/off).
 *   enum  one of the listed names (quoted or not).
 *   str   any scalar except null; "~" or an empty value is null.
 * A section written with nothing under it (`model:`) is empty, not an
 * error, so all its keys can be commented out.
 *
 * Reals are parsed with strtod: the process must keep the "C" numeric
 * locale (never setlocale(LC_NUMERIC, "")), or "0.1" stops parsing.
 */
#include "models/spec_table.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

/* ---- parsing values ------------------------------------------------- */

static bool spec_parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return false;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (lim - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    /* -2^63 has no positive counterpart: negate in unsigned arithmetic. */
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (neg && v == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    return true;
}

static bool spec_parse_u64(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0;
    if (i < len && s[i] == '+')
        i++;
    if (i == len)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = v;
    return true;
}

/* Decimal notation only, checked before strtod so that strtod's extras
 * (hex floats, "inf", "nan", leading spaces) never get through. */
bool spec_parse_real(const char *s, size_t len, double *out)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (ed == 0)
            return false;
    }
    if (i != len || len >= 64)
        return false;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* "an integer from 1 to 65536", "a number > 0", "one of a, b, c", ... */
static void spec_expect(const spec_field *f, char *buf, size_t n)
{
    switch (f->type) {
    case SPEC_T_STR:
        snprintf(buf, n, "%s", f->flags & SPEC_NONEMPTY ? "a non-empty string" : "a string");
        return;
    case SPEC_T_INT:
        if (f->imax == SPEC_NOMAX)
            snprintf(buf, n, "an integer >= %" PRId64, f->imin);
        else
            snprintf(buf, n, "an integer from %" PRId64 " to %" PRId64, f->imin, f->imax);
        return;
    case SPEC_T_U64:
        snprintf(buf, n, "an integer from 0 to %" PRIu64, UINT64_MAX);
        return;
    case SPEC_T_BYTES:
        snprintf(buf, n, "%s", BYTES_FORMS);
        return;
    case SPEC_T_REAL:
        if (f->flags & SPEC_NO_HI)
            snprintf(buf, n, "a number %s %g", f->flags & SPEC_LO_OPEN ? ">" : ">=", f->rmin);
        else if (!(f->flags & (SPEC_LO_OPEN | SPEC_HI_OPEN)))
            snprintf(buf, n, "a number from %g to %g", f->rmin, f->rmax);
        else
            snprintf(buf, n, "a number in %c%g, %g%c", f->flags & SPEC_LO_OPEN ? '(' : '[', f->rmin,
                     f->rmax, f->flags & SPEC_HI_OPEN ? ')' : ']');
        return;
    case SPEC_T_BOOL:
        snprintf(buf, n, "true or false");
        return;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE: {
        const char *const *nm = spec_names(f);
        size_t k = spec_nnames(nm), o = 0;
        buf[0] = '\0';
        if (k > 2)
            o += (size_t)snprintf(buf, n, "one of ");
        for (size_t i = 0; i < k && o < n; i++) {
            const char *sep = i == 0 ? "" : k == 2 ? " or " : ", ";
            o += (size_t)snprintf(buf + o, n - o, "%s%s", sep, nm[i]);
        }
        return;
    }
    case SPEC_T_NODE:
        snprintf(buf, n, "a value");
        return;
    }
}

/* Parses text as f's type and checks its range. On failure returns -1
 * and leaves a suggestion (" (did you mean 'lstm'?)") or "" in hint.
 * Defaults skip the non-empty rule: data.path starts out empty. */
static int spec_parse(const spec_field *f, const char *s, size_t len, bool is_default,
                      spec_value *v, char *hint, size_t nhint)
{
    memset(v, 0, sizeof *v);
    hint[0] = '\0';
    switch (f->type) {
    case SPEC_T_STR:
        if (memchr(s, '\0', len) || !ytree_utf8_valid(s, len))
            return -1;
        if (len == 0 && (f->flags & SPEC_NONEMPTY) && !is_default)
            return -1;
        v->s = s;
        v->slen = len;
        return 0;
    case SPEC_T_INT:
        if (!spec_parse_int(s, len, &v->i) || v->i < f->imin || v->i > f->imax)
            return -1;
        return 0;
    case SPEC_T_U64:
        return spec_parse_u64(s, len, &v->u) ? 0 : -1;
    case SPEC_T_BYTES:
        return bytes_parse(s, len, &v->u);
    case SPEC_T_REAL: {
        double r;
        if (!spec_parse_real(s, len, &r))
            return -1;
        bool lo_ok = f->flags & SPEC_LO_OPEN ? r > f->rmin : r >= f->rmin;
        bool hi_ok = f->flags & SPEC_NO_HI     ? true
                     : f->flags & SPEC_HI_OPEN ? r < f->rmax
                                               : r <= f->rmax;
        if (!lo_ok || !hi_ok)
            return -1;
        v->r = r;
        return 0;
    }
    case SPEC_T_BOOL:
        if (len == 4 && !memcmp(s, "true", 4))
            v->b = true;
        else if (len == 5 && !memcmp(s, "false", 5))
            v->b = false;
        else
            return -1;
        return 0;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE: {
        const char *const *nm = spec_names(f);
        size_t k = spec_nnames(nm);
        for (size_t i = 0; i < k; i++) {
            if (strlen(nm[i]) == len && !memcmp(nm[i], s, len)) {
                if (f->type == SPEC_T_DTYPE) {
                    dtype dt;
                    if (dtype_from_name(nm[i], &dt))
                        return -1;
                    v->en = (int)dt;
                } else {
                    v->en = (int)i;
                }
                return 0;
            }
        }
        const char *best = spec_closest(s, len, nm, k);
        if (best)
            snprintf(hint, nhint, " (did you mean '%s'?)", best);
        return -1;
    }
    case SPEC_T_NODE:
        return -1;
    }
    return -1;
}

/* Keys whose mere presence matters to the cross-field checks. */
static void spec_mark_given(spec *s, const spec_field *f)
{
    if (f->off == offsetof(spec, model.activation))
        s->model.activation_given = true;
}

static char *spec_dup(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static int spec_store(spec *s, const spec_field *f, const spec_value *v)
{
    char *slot = (char *)s + f->off;
    switch (f->type) {
    case SPEC_T_STR: {
        char *copy = spec_dup(v->s, v->slen);
        if (!copy)
            return -1;
        char *old;
        memcpy(&old, slot, sizeof old);
        free(old);
        memcpy(slot, &copy, sizeof copy);
        return 0;
    }
    case SPEC_T_INT:
        if (f->size == sizeof(int)) {
            int x = (int)v->i;
            memcpy(slot, &x, sizeof x);
        } else {
            int64_t x = v->i;
            memcpy(slot, &x, sizeof x);
        }
        return 0;
    case SPEC_T_U64:
    case SPEC_T_BYTES:
        memcpy(slot, &v->u, sizeof v->u);
        return 0;
    case SPEC_T_REAL:
        memcpy(slot, &v->r, sizeof v->r);
        return 0;
    case SPEC_T_BOOL:
        memcpy(slot, &v->b, sizeof v->b);
        return 0;
    case SPEC_T_ENUM:
    case SPEC_T_DTYPE:
        memcpy(slot, &v->en, sizeof v->en);
        return 0;
    case SPEC_T_NODE:
        return -1;
    }
    return -1;
}

/* ---- defaults ------------------------------------------------------- */

/* "configs/elman_char.yaml" -> "elman_char". */
static char *spec_default_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    static const char *const exts[] = {".yaml", ".yml"};
    for (size_t i = 0; i < 2; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && !strcmp(base + len - el, exts[i])) {
            len -= el;
            break;
        }
    }
    if (len == 0)
        return spec_dup("run", 3);
    /* 123.yaml: a run name of digits would read as a run id */
    size_t digits = 0;
    while (digits < len && base[digits] >= '0' && base[digits] <= '9')
        digits++;
    if (digits == len) {
        char *p = malloc(len + 5);
        if (p)
            snprintf(p, len + 5, "run-%.*s", (int)len, base);
        return p;
    }
    return spec_dup(base, len);
}

static int spec_defaults(spec *s, const char *path, uerr *e)
{
    for (size_t i = 0; i < spec_nfields; i++) {
        const spec_field *f = &spec_fields[i];
        spec_value v;
        char hint[8];
        if (!f->def)
            continue;
        if (spec_parse(f, f->def, strlen(f->def), true, &v, hint, sizeof hint))
            return uerr_set(e, UERR_INTERNAL, "spec table: bad default '%s' for %s", f->def,
                            f->key);
        if (spec_store(s, f, &v))
            return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    }
    s->name = spec_default_name(path);
    if (!s->name)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", path);
    return 0;
}

/* ---- the walk over the file ----------------------------------------- */

typedef struct spec_loader {
    spec *s;
    const char *path;
    uerr *e;
} spec_loader;

static int spec_at(spec_loader *L, const ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int spec_at(spec_loader *L, const ytree_node *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return uerr_set(L->e, UERR_USER, "%s:%d:%d: %s", L->path, n->line, n->col, msg);
}

/* What a node is, for "found ...". */
static const char *spec_found(const ytree_node *n, char *buf, size_t size)
{
    char shown[256];
    if (n->kind != YTREE_SCALAR)
        return ytree_kind_name(n->kind);
    if (ytree_is_null(n))
        return n->len ? "null" : "nothing";
    ytree_show(shown, sizeof shown, n->text, n->len);
    if (n->quoted)
        snprintf(buf, size, "the string \"%s\"", shown);
    else
        snprintf(buf, size, "'%s'", shown);
    return buf;
}

static int spec_take(spec_loader *L, const spec_field *f, const ytree_node *val)
{
    char expect[160], found[300], hint[96];
    if (f->type == SPEC_T_NODE) {
        memcpy((char *)L->s + f->off, &val, sizeof val);
        return 0;
    }
    bool typed = f->type == SPEC_T_INT || f->type == SPEC_T_U64 || f->type == SPEC_T_REAL ||
                 f->type == SPEC_T_BOOL;
    spec_expect(f, expect, sizeof expect);
    if (val->kind != YTREE_SCALAR || ytree_is_null(val) || (typed && val->quoted))
        return spec_at(L, val, "%s: expected %s, found %s", f->key, expect,
                       spec_found(val, found, sizeof found));
    if (f->type == SPEC_T_STR && memchr(val->text, '\0', val->len))
        return spec_at(L, val, "%s: a string cannot contain a NUL byte", f->key);
    spec_value v;
    if (spec_parse(f, val->text, val->len, false, &v, hint, sizeof hint))
        return spec_at(L, val, "%s: expected %s, found %s%s", f->key, expect,
                       spec_found(val, found, sizeof found), hint);
    if (spec_store(L->s, f, &v))
        return uerr_set(L->e, UERR_INTERNAL, "%s: out of memory", L->path);
    spec_mark_given(L->s, f);
    return 0;
}

/* The recursion follows table sections (at most three levels), not the
 * file's depth. */
static int spec_walk(spec_loader *L, const ytree_node *map, const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        const ytree_node *key = map->kids[2 * i], *val = map->kids[2 * i + 1];
        char path[160], shown[256], hint[96];
        size_t pl = strlen(prefix);
        ytree_show(shown, sizeof shown, key->text, key->len);
        if (memchr(key->text, '.', key->len))
            return spec_at(L, key,
                           "unknown key '%s%s%s' (write nested keys as mappings, not dotted)",
                           prefix, pl ? "." : "", shown);
        bool fits = pl + 1 + key->len < sizeof path && !memchr(key->text, '\0', key->len);
        size_t len = 0;
        if (fits) {
            memcpy(path, prefix, pl);
            len = pl;
            if (pl)
                path[len++] = '.';
            memcpy(path + len, key->text, key->len);
            len += key->len;
            path[len] = '\0';
        }
        const spec_field *f = fits ? spec_field_find(path, len) : NULL;
        if (f) {
            if (spec_take(L, f, val))
                return -1;
        } else if (fits && spec_is_section(path, len)) {
            char found[300];
            if (ytree_is_null(val))
                continue;
            if (val->kind != YTREE_MAP)
                return spec_at(L, val, "%s: expected a mapping, found %s", path,
                               spec_found(val, found, sizeof found));
            if (spec_walk(L, val, path))
                return -1;
        } else if (!strcmp(prefix, "model.init") && val->kind == YTREE_MAP) {
            /* a parameter's own start: NAME: {kind: ..., value: ..., std: ...} */
            if (spec_init_take(L->s, L->path, key, val, L->e))
                return -1;
        } else {
            hint[0] = '\0';
            if (fits)
                spec_suggest_key(path, len, hint, sizeof hint);
            return spec_at(L, key, "unknown key '%s%s%s'%s", prefix, pl ? "." : "", shown, hint);
        }
    }
    return 0;
}

/* ---- public --------------------------------------------------------- */

int spec_set(spec *s, const char *assignment, uerr *e)
{
    char shown[256], hint[96], expect[160];
    const char *eq = strchr(assignment, '=');
    ytree_show(shown, sizeof shown, assignment, strlen(assignment));
    if (!eq || eq == assignment)
        return uerr_set(e, UERR_USER, "--set %s: expected KEY=VALUE", shown);
    size_t klen = (size_t)(eq - assignment);
    const char *val = eq + 1;
    const spec_field *f = spec_field_find(assignment, klen);
    int irc = f ? -1 : spec_init_set(s, assignment, klen, val, e);
    if (irc >= 0)
        return irc;
    if (!f) {
        char key[256];
        ytree_show(key, sizeof key, assignment, klen);
        if (spec_is_section(assignment, klen))
            return uerr_set(e, UERR_USER, "--set %s: '%s' is a section; set one of its keys", shown,
                            key);
        hint[0] = '\0';
        spec_suggest_key(assignment, klen, hint, sizeof hint);
        return uerr_set(e, UERR_USER, "--set %s: unknown key '%s'%s", shown, key, hint);
    }
    if (f->type == SPEC_T_NODE)
        return uerr_set(e, UERR_USER, "--set %s: %s can only be written in the config file", shown,
                        f->key);
    spec_value v;
    if (spec_parse(f, val, strlen(val), false, &v, hint, sizeof hint)) {
        spec_expect(f, expect, sizeof expect);
        if (f->type == SPEC_T_STR && !ytree_utf8_valid(val, strlen(val)))
            snprintf(expect, sizeof expect, "UTF-8 text");
        return uerr_set(e, UERR_USER, "--set %s: expected %s%s", shown, expect, hint);
    }
    if (spec_store(s, f, &v))
        return uerr_set(e, UERR_INTERNAL, "--set %s: out of memory", shown);
    spec_mark_given(s, f);
    return 0;
}

int spec_check(const spec *s, uerr *e)
{
    static const char *const custom_keys[] = {"params", "state", "step"};
    const ytree_node *custom[] = {s->model.params, s->model.state, s->model.step};
    const char *path = s->path ? s->path : "config";
    if (s->model.cell != SPEC_CELL_CUSTOM) {
        for (size_t i = 0; i < 3; i++) {
            if (!custom[i])
                continue;
            const ytree_node *key = NULL;
            const ytree_node *model = s->tree ? ytree_map_get(s->tree->root, "model", NULL) : NULL;
            ytree_map_get(model, custom_keys[i], &key);
            const ytree_node *at = key ? key : custom[i];
            return uerr_set(e, UERR_USER,
                            "%s:%d:%d: model.%s is only valid with model.cell: custom", path,
                            at->line, at->col, custom_keys[i]);
        }
    } else if (!s->model.step) {
        return uerr_set(e, UERR_USER, "%s: model.step: required with model.cell: custom", path);
    } else if (s->model.activation_given) {
        char at[300];
        return uerr_set(e, UERR_USER,
                        "%s: model.activation: a custom cell names its functions in its "
                        "equations (model.step), so it takes no activation; remove the key",
                        spec_key_place(s, "model.activation", at, sizeof at));
    }
    if (!s->data.path || !s->data.path[0])
        return uerr_set(e, UERR_USER, "%s: data.path: required", path);
    if (s->train.early_stop.patience > 0 && s->train.valid_every == 0)
        return uerr_set(e, UERR_USER,
                        "%s: train.early_stop: watches the validation loss, so it needs "
                        "train.valid_every > 0 (and data held out for validation)",
                        path);
    return spec_init_check(s, e);
}

int spec_load_buffer(spec *out, const char *name, const char *buf, size_t len,
                     const char *const *sets, int nsets, uerr *e)
{
    spec s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    int rc = ytree_parse_buffer(&s.tree, name, buf, len, e);
    if (rc)
        return rc;
    s.path = spec_dup(name, strlen(name));
    s.text = spec_dup(len ? buf : "", len);
    s.text_len = len;
    if (!s.path || !s.text) {
        spec_free(&s);
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
    }
    if ((rc = spec_defaults(&s, name, e))) {
        spec_free(&s);
        return rc;
    }
    spec_loader L = {&s, name, e};
    const ytree_node *root = s.tree->root;
    char found[300];
    if (!root || ytree_is_null(root))
        rc = uerr_set(e, UERR_USER, "%s: empty config", name);
    else if (root->kind != YTREE_MAP)
        rc = spec_at(&L, root, "the top level must be a mapping, found %s",
                     spec_found(root, found, sizeof found));
    else if (spec_walk(&L, root, ""))
        rc = e && e->code ? e->code : UERR_USER;
    for (int i = 0; !rc && i < nsets; i++)
        rc = spec_set(&s, sets[i], e);
    if (!rc)
        rc = spec_check(&s, e);
    if (rc) {
        spec_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int spec_load(spec *out, const char *path, const char *const *sets, int nsets, uerr *e)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = ytree_read_file(path, &text, &len, e);
    if (rc)
        return rc;
    rc = spec_load_buffer(out, path, text, len, sets, nsets, e);
    free(text);
    return rc;
}

const char *spec_key_place(const spec *s, const char *key, char *buf, size_t n)
{
    const char *path = s->path ? s->path : "config";
    const ytree_node *map = s->tree ? s->tree->root : NULL, *at = NULL;
    while (map && *key) {
        const char *dot = strchr(key, '.');
        size_t len = dot ? (size_t)(dot - key) : strlen(key);
        char part[64];
        if (len >= sizeof part)
            break;
        memcpy(part, key, len);
        part[len] = '\0';
        map = ytree_map_get(map, part, &at);
        if (!map)
            at = NULL;
        key += len + (dot ? 1 : 0);
    }
    if (at && !*key)
        snprintf(buf, n, "%s:%d:%d", path, at->line, at->col);
    else
        snprintf(buf, n, "%s", path);
    return buf;
}

void spec_free(spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < spec_nfields; i++) {
        if (spec_fields[i].type == SPEC_T_STR) {
            char *p;
            memcpy(&p, (char *)s + spec_fields[i].off, sizeof p);
            free(p);
        }
    }
    free(s->path);
    free(s->text);
    ytree_free(s->tree);
    memset(s, 0, sizeof *s);
}
