/*
 * color.h - whether the command colours its output, decided once per
 * stream, and the escape sequences when it does.
 *
 * --color=auto (the default) colours a stream iff it is a terminal, the
 * environment variable NO_COLOR is unset or empty (no-color.org: any
 * non-empty value turns colour off), and TERM is not "dumb".
 * --color=always colours even a pipe or a file (NO_COLOR included: an
 * explicit option wins over the environment); --color=never never does.
 * Colour never changes the text itself: without it the bytes are exactly
 * what scripts and tests read.
 */
#ifndef UNROLL_CLI_COLOR_H
#define UNROLL_CLI_COLOR_H

#include <stdio.h>

enum cli_color_when { CLI_COLOR_AUTO, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };

/* "auto", "always" or "never" into *when; -1 (nothing printed) for
 * anything else. */
int cli_color_parse(const char *s, int *when);

/* Sets the mode (the --color option) and forgets earlier decisions. */
void cli_color_set(int when);

/* 1 if f (stdout or stderr) is coloured; decided on first use. */
int cli_color_on(FILE *f);

enum cli_style {
    CLI_ERROR,  /* bold red: "unroll:" before an error, a failed check */
    CLI_WARN,   /* yellow: "warning:", an interrupted run */
    CLI_GOOD,   /* green: a passed check, a new best validation loss */
    CLI_STRONG, /* bold: a summary */
    CLI_FAINT,  /* dim: the empty part of a progress bar */
};

/* The escape that starts style st on f, and the one that ends it: both ""
 * when f is not coloured. */
const char *cli_sgr(FILE *f, enum cli_style st);
const char *cli_sgr_end(FILE *f);

#endif
