/* common.c - see cli.h. */
#include "cli/cli.h"
#include "cli/color.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_usage("%s needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_common_opt(int argc, char **argv, int *i, cli_common *c)
{
    const char *v;
    int r;
    if ((r = cli_value(argc, argv, i, "--set", &v)) != 0) {
        if (r < 0)
            return -1;
        if (c->nsets == CLI_MAX_SETS) {
            cli_usage("more than %d --set options", CLI_MAX_SETS);
            return -1;
        }
        if (!strchr(v, '=') || *v == '=') {
            cli_usage("--set '%s': expected KEY=VALUE", v);
            return -1;
        }
        c->sets[c->nsets++] = v;
        return 1;
    }
    if ((r = cli_value(argc, argv, i, "--db", &v)) != 0) {
        if (r > 0)
            c->db = v;
        return r;
    }
    if ((r = cli_value(argc, argv, i, "--color", &v)) != 0)
        return r < 0 ? -1 : cli_color_opt(v) ? -1 : 1;
    if (!strcmp(argv[*i], "--quiet") || !strcmp(argv[*i], "-q")) {
        c->quiet = 1;
        return 1;
    }
    if (!strcmp(argv[*i], "--verbose") || !strcmp(argv[*i], "-v")) {
        c->verbose = 1;
        return 1;
    }
    return 0;
}

/* Whether arg reads as an option. */
static int cli_is_option(const char *arg, int dash)
{
    switch (dash) {
    case CLI_DASH_ALL:
        return arg[0] == '-';
    case CLI_DASH_TWO:
        return arg[0] == '-' && arg[1] == '-';
    default:
        return arg[0] == '-' && arg[1];
    }
}

/* argv[*i] against the options of a: 1 taken, 0 not one of them, -1 a
 * usage error (printed). */
static int cli_own_opt(int argc, char **argv, int *i, const cli_args *a)
{
    for (const cli_opt *o = a->opts; o && o->name; o++) {
        if (o->flag) {
            if (!strcmp(argv[*i], o->name)) {
                *o->flag = 1;
                return 1;
            }
            continue;
        }
        const char *v;
        int r = cli_value(argc, argv, i, o->name, o->value ? o->value : &v);
        if (r < 0)
            return -1;
        if (r > 0)
            return o->value ? 1 : a->take(a->ctx, o->name, v) ? -1 : 1;
    }
    return 0;
}

int cli_parse_args(int argc, char **argv, const cli_args *a)
{
    int npos_seen = 0;
    for (int i = a->first ? a->first : 1; i < argc; i++) {
        int r = cli_common_opt(argc, argv, &i, a->c);
        if (r < 0)
            return UERR_USAGE;
        if (r > 0 || (a->form && cli_form_opt(argv[i], a->form)))
            continue;
        if (a->help && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            fputs(a->help, stdout);
            return -1;
        }
        if ((r = cli_own_opt(argc, argv, &i, a)) < 0)
            return UERR_USAGE;
        if (r > 0)
            continue;
        if (cli_is_option(argv[i], a->dash))
            return cli_usage("%s: unknown option '%s'", a->cmd, argv[i]);
        if (a->last_wins) {
            a->pos[0] = argv[i];
            npos_seen = 1;
            continue;
        }
        if (npos_seen == a->npos) {
            if (a->too_many)
                return cli_usage(a->too_many, a->cmd);
            return cli_usage("%s: unexpected argument '%s'", a->cmd, argv[i]);
        }
        a->pos[npos_seen++] = argv[i];
    }
    if (a->npos_seen)
        *a->npos_seen = npos_seen;
    return 0;
}

int cli_parse(int argc, char **argv, const char *cmd, const char *help, cli_common *c,
              const cli_opt *opts, const char **pos, int npos)
{
    cli_args a = {.cmd = cmd, .help = help, .c = c, .opts = opts, .pos = pos, .npos = npos};
    return cli_parse_args(argc, argv, &a);
}

int cli_color_opt(const char *when)
{
    int w;
    if (cli_color_parse(when, &w)) {
        cli_usage("--color: expected auto, always or never, found '%s'", when);
        return -1;
    }
    cli_color_set(w);
    return 0;
}

/* "unroll: " before an error message, red where colour is on. */
static void error_prefix(void)
{
    fprintf(stderr, "%sunroll:%s ", cli_sgr(stderr, CLI_ERROR), cli_sgr_end(stderr));
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%swarning:%s ", cli_sgr(stderr, CLI_WARN), cli_sgr_end(stderr));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const uerr *e)
{
    error_prefix();
    fprintf(stderr, "%s\n", e->msg[0] ? e->msg : "failed");
    /* running out of memory is a limit the user sets and can change (ulimit,
     * a smaller model or batch): status 1 wherever the library reports it */
    if (e->code == UERR_INTERNAL && strstr(e->msg, "out of memory"))
        return UERR_USER;
    return e->code ? e->code : UERR_INTERNAL;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_prefix();
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'unroll --help')\n");
    va_end(ap);
    return UERR_USAGE;
}

int cli_int(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        error_prefix();
        fprintf(stderr, "%s: expected an integer from %lld to %lld, found '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_real(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6) {
        error_prefix();
        fprintf(stderr, "%s: expected a number above 0 and at most 1e6, found '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_command_line(int argc, char **argv, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? " " : "unroll ", argv[i]);
}

const char *cli_db_path(const cli_common *c, const spec *s)
{
    if (c->db)
        return c->db;
    if (s && s->train.checkpoint.db && *s->train.checkpoint.db)
        return s->train.checkpoint.db;
    return CLI_DEFAULT_DB;
}
