/*
 * store_cli.c - what the store commands share (see cli.h), and
 * unroll query "SELECT ..." [--csv|--json] [--db FILE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "cli/cli.h"

int cli_form_opt(const char *arg, table_form *form)
{
    if (!strcmp(arg, "--csv")) {
        *form = TABLE_CSV;
        return 1;
    }
    if (!strcmp(arg, "--json")) {
        *form = TABLE_JSON;
        return 1;
    }
    return 0;
}

int cli_open_store(const cli_common *c, int write, store **db, uerr *e)
{
    return store_open(db, cli_db_path(c, NULL), write ? STORE_READ_WRITE : STORE_READ_UPGRADE, e);
}

int cli_print_table(const table *t, table_form form)
{
    uerr e = {0};
    if (table_write(t, stdout, form, &e))
        return cli_fail(&e);
    return 0;
}

int cli_print_loss_table(table *t, table_form form)
{
    static const char *const sums[][2] = {{"loss", "loss_sum"}, {"last_loss", "last_loss_sum"}};
    for (int c = 0; form == TABLE_PLAIN && c < t->ncols; c++)
        for (size_t k = 0; k < sizeof sums / sizeof sums[0]; k++) {
            char *nm;
            if (strcmp(t->cols[c], sums[k][0]) || !(nm = strdup(sums[k][1])))
                continue;
            free(t->cols[c]);
            t->cols[c] = nm;
        }
    return cli_print_table(t, form);
}

static const char query_help[] =
    "usage: unroll query \"SQL\" [--csv | --json] [--limit N] [--db FILE]\n"
    "\n"
    "Runs one read-only SQL statement on the store and prints its rows: for\n"
    "anything the other commands do not ask. The database is opened read-only\n"
    "and statements that could write are refused. docs/store.md describes the\n"
    "tables; BLOB columns print as <blob N bytes> (use hex(data) to see them).\n"
    "Rows print as they come (the plain form aligns each 1000 rows by\n"
    "themselves); more than --limit rows (default 100000) stops with an\n"
    "error after printing them: add a LIMIT.\n"
    "\n"
    "examples:\n"
    "  unroll query \"SELECT name, status FROM runs\"\n"
    "  unroll query \"SELECT run, min(value) FROM metrics WHERE name = 'valid_loss' GROUP BY "
    "run\" --csv\n";

/* Rows go out as they come, QUERY_PART at a time: a long result never
 * sits in memory whole, and the first rows show while the rest run. */
#define QUERY_PART 1000

typedef struct query_out {
    table_form form;
} query_out;

static int query_part(void *ctx, const table *t, int64_t before, int last, uerr *e)
{
    const query_out *q = ctx;
    return table_write_part(t, stdout, q->form, before, last, e);
}

int cmd_query(int argc, char **argv)
{
    cli_common c = {0};
    const char *sql = NULL, *limit_s = NULL;
    table_form form = TABLE_PLAIN;
    const cli_opt opts[] = {{"--limit", &limit_s, NULL}, {NULL, NULL, NULL}};
    cli_args pa = {.cmd = "query",
                   .help = query_help,
                   .c = &c,
                   .opts = opts,
                   .form = &form,
                   .dash = CLI_DASH_TWO,
                   .pos = &sql,
                   .npos = 1,
                   .too_many = "%s: one SQL statement, quoted as one argument"};
    int pr = cli_parse_args(argc, argv, &pa);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (!sql)
        return cli_usage("query: which SQL? (unroll query \"SELECT ...\")");
    long long limit = STORE_QUERY_LIMIT;
    if (limit_s && cli_int("--limit", limit_s, 1, INT64_MAX, &limit))
        return UERR_USAGE;
    uerr e = {0};
    store *db = NULL;
    table t = {0};
    query_out q = {.form = form};
    int rc = store_open(&db, cli_db_path(&c, NULL), STORE_READ_ONLY, &e);
    if (!rc)
        rc = store_query_each(db, sql, limit, QUERY_PART, &t, query_part, &q, &e);
    table_free(&t);
    store_close(db);
    return rc ? cli_fail(&e) : 0;
}

/* ---- configs as key = value ------------------------------------------------ */

void cli_kv_free(cli_kv *kv, int n)
{
    for (int i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/* Strips spec_write_yaml's trailing "   # doc" (the last '#' after two
 * spaces) and the blanks around the value. */
static void cli_strip_comment(char *v)
{
    char *hash = NULL;
    for (char *p = strstr(v, "  #"); p; p = strstr(p + 1, "  #"))
        hash = p;
    if (hash)
        *hash = '\0';
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\r'))
        v[--n] = '\0';
}

static int cli_kv_add(cli_kv **kv, int *n, int *cap, const char *key, const char *value)
{
    if (VEC_GROW(*kv, *cap, *n + 1))
        return -1;
    char *a = strdup(key), *b = strdup(value);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    (*kv)[(*n)++] = (cli_kv){a, b};
    return 0;
}

int cli_config_flat(const char *name, const char *config_text, cli_kv **kv, int *n, uerr *e)
{
    *kv = NULL;
    *n = 0;
    spec s;
    int rc = spec_load_buffer(&s, name, config_text, strlen(config_text), NULL, 0, e);
    if (rc)
        return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m || spec_write_yaml(&s, m) || fclose(m)) {
        spec_free(&s);
        free(buf);
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    }
    spec_free(&s);
    /* The writer's YAML is regular: two spaces per level, "key: value",
     * "key:" opening a map or list, "- item" in lists, comment lines. */
    char path[16][128];
    int indent[16], items[16], depth = 0, cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        int in = 0;
        while (line[in] == ' ')
            in++;
        char *p = line + in;
        if (!*p || *p == '#')
            continue;
        while (depth > 0 && indent[depth - 1] >= in)
            depth--;
        char prefix[2048] = "";
        for (int i = 0; i < depth; i++) {
            size_t k = strlen(prefix);
            snprintf(prefix + k, sizeof prefix - k, "%s%s", i ? "." : "", path[i]);
        }
        char key[2200];
        if (p[0] == '-' && p[1] == ' ') {
            int *it = depth ? &items[depth - 1] : &items[0];
            snprintf(key, sizeof key, "%s[%d]", prefix, (*it)++);
            cli_strip_comment(p + 2);
            if (cli_kv_add(kv, n, &cap, key, p + 2))
                rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            continue;
        }
        char *colon = strstr(p, ": ");
        size_t klen = colon ? (size_t)(colon - p) : strlen(p);
        if (!colon && klen && p[klen - 1] == ':')
            klen--;
        char k1[128];
        snprintf(k1, sizeof k1, "%.*s", (int)klen, p);
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k1);
        char *val = colon ? colon + 2 : NULL;
        if (val)
            cli_strip_comment(val);
        if (!val || !*val) {
            if (depth < 16) {
                snprintf(path[depth], sizeof path[0], "%s", k1);
                indent[depth] = in;
                items[depth] = 0;
                depth++;
            }
            continue;
        }
        if (cli_kv_add(kv, n, &cap, key, val))
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    }
    free(buf);
    if (rc) {
        cli_kv_free(*kv, *n);
        *kv = NULL;
        *n = 0;
    }
    return rc;
}

int cli_value_eq(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (ea != a && !*ea && eb != b && !*eb)
        return x == y;
    size_t na = strlen(a), nb = strlen(b);
    if (na >= 2 && a[0] == '"' && a[na - 1] == '"')
        a++, na -= 2;
    if (nb >= 2 && b[0] == '"' && b[nb - 1] == '"')
        b++, nb -= 2;
    return na == nb && !memcmp(a, b, na);
}
