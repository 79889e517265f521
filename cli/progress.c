/* progress.c - see progress.h. */
#include "cli/progress.h"

#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/color.h"

#define BAR_MIN 10 /* cells of the bar itself, at the least */
#define BAR_MAX 40 /* and at the most: the numbers matter more */
#define TEXT_MAX 512

int cli_term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void cli_fmt_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e9)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_init(cli_progress *p, FILE *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f));
    p->width = p->tty ? cli_term_width(f) : 80;
    p->last = -1;
}

void cli_progress_clear(cli_progress *p)
{
    if (!p->tty || !p->shown)
        return;
    /* spaces rather than an erase escape: any terminal understands them */
    fprintf(p->f, "\r%*s\r", p->width - 1, "");
    fflush(p->f);
    p->shown = 0;
}

void cli_progress_draw(cli_progress *p, double now, int64_t done, int64_t total, const char *text,
                       int force)
{
    if (!p->tty || (!force && p->shown && now - p->last < 0.1))
        return;
    p->last = now;
    /* the width may have changed since the last line (a resized window) */
    p->width = cli_term_width(p->f);
    int cols = p->width - 1;
    double frac = total > 0 ? (double)done / (double)total : 0;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    char tail[TEXT_MAX];
    int tl = snprintf(tail, sizeof tail, "  %3d%%  %s", (int)(100 * frac), text);
    if (tl < 0)
        return;
    if (tl >= (int)sizeof tail)
        tl = (int)sizeof tail - 1;
    int cells = cols - 2 - tl;
    if (cells > BAR_MAX)
        cells = BAR_MAX;
    if (cells < BAR_MIN) {
        cells = BAR_MIN;
        if (tl > cols - 2 - cells)
            tl = cols - 2 - cells;
    }
    if (tl < 0 || cols < BAR_MIN + 2) {
        /* too narrow for a bar: the text alone, cut */
        cells = 0;
        tl = cols < 0 ? 0 : cols;
        if (tl > (int)strlen(text))
            tl = (int)strlen(text);
        fprintf(p->f, "\r%.*s%*s", tl, text, cols - tl, "");
    } else {
        int full = (int)(frac * cells + 1e-9);
        char bar[BAR_MAX + 1];
        memset(bar, '#', (size_t)full);
        memset(bar + full, '.', (size_t)(cells - full));
        bar[cells] = '\0';
        fprintf(p->f, "\r[%s%.*s%s%s%s%s]%.*s%*s", cli_sgr(p->f, CLI_GOOD), full, bar,
                cli_sgr_end(p->f), cli_sgr(p->f, CLI_FAINT), bar + full, cli_sgr_end(p->f), tl,
                tail, cols - 2 - cells - tl, "");
    }
    fflush(p->f);
    p->shown = 1;
}

void cli_progress_print(cli_progress *p, const char *fmt, ...)
{
    cli_progress_clear(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
    fflush(p->f);
}
