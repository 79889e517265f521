/*
 * progress.h - the progress bar of long-running commands (train, ckpt
 * verify), one implementation for all of them.
 *
 * On a terminal one line is redrawn in place:
 *   [##########..........]  50%  step 2000/4000  loss 2.1023/token ...  ETA 0:12
 * fitted to the terminal's width (TIOCGWINSZ; 80 columns when that cannot
 * be read): the text is cut before the bar gets narrower than 10 cells,
 * and the last column stays empty so that nothing wraps. Lines that must
 * stay (a validation result, a warning) go through cli_progress_print,
 * which clears the bar first; the next draw puts it back below them.
 * When the stream is not a terminal, nothing here prints: the command
 * writes its plain lines itself (they are parsed, and stay as they are).
 */
#ifndef UNROLL_CLI_PROGRESS_H
#define UNROLL_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_progress {
    FILE *f;
    int tty;     /* f is a terminal: the bar is drawn */
    int width;   /* columns */
    int shown;   /* a bar is on the screen now */
    double last; /* when it was last drawn (the caller's clock, seconds) */
} cli_progress;

/* Looks at f once: a terminal or not, and how wide. */
void cli_progress_init(cli_progress *p, FILE *f);

/* Draws the bar for done of total followed by text (one line, no
 * newline), at most every 0.1 s of the caller's clock now unless force. */
void cli_progress_draw(cli_progress *p, double now, int64_t done, int64_t total, const char *text,
                       int force);

/* Prints a line that stays, above where the bar is redrawn. */
void cli_progress_print(cli_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Removes the bar (before a summary or an error). */
void cli_progress_clear(cli_progress *p);

/* Columns of the terminal behind f, or 80. */
int cli_term_width(FILE *f);

/* 0:42, 12:05 or 1:02:03. */
void cli_fmt_duration(double s, char *buf, size_t n);

#endif
