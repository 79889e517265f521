/* color.c - see color.h. */
#include "cli/color.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mode = CLI_COLOR_AUTO;
static int decided[2], on[2]; /* [0] stdout, [1] stderr */

int cli_color_parse(const char *s, int *when)
{
    static const char *const names[] = {"auto", "always", "never"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *when = i;
            return 0;
        }
    return -1;
}

void cli_color_set(int when)
{
    mode = when;
    decided[0] = decided[1] = 0;
}

static int decide(int fd)
{
    if (mode != CLI_COLOR_AUTO)
        return mode == CLI_COLOR_ALWAYS;
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
    if (no && *no)
        return 0;
    if (term && !strcmp(term, "dumb"))
        return 0;
    return isatty(fd);
}

int cli_color_on(FILE *f)
{
    int k = f == stderr;
    if (f != stdout && f != stderr)
        return 0;
    if (!decided[k]) {
        on[k] = decide(fileno(f));
        decided[k] = 1;
    }
    return on[k];
}

const char *cli_sgr(FILE *f, enum cli_style st)
{
    static const char *const sgr[] = {
        [CLI_ERROR] = "\033[1;31m", [CLI_WARN] = "\033[33m", [CLI_GOOD] = "\033[32m",
        [CLI_STRONG] = "\033[1m",   [CLI_FAINT] = "\033[2m",
    };
    return cli_color_on(f) ? sgr[st] : "";
}

const char *cli_sgr_end(FILE *f)
{
    return cli_color_on(f) ? "\033[0m" : "";
}
