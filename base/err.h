/*
 * err.h - the error record every fallible function in unroll fills.
 *
 * Library code never prints and never exits: it returns a non-zero status
 * and leaves one line in an uerr that names the place (file:line:column,
 * a config key, a tensor or node), what was expected and what was found.
 * The record keeps it one printable line: ASCII control bytes that the
 * message quotes from the input are stored escaped (\n, \t, \xHH).
 * Only cli/ turns the code into an exit status and prints the message.
 */
#ifndef UNROLL_ERR_H
#define UNROLL_ERR_H

#include <stdarg.h>

enum {
    UERR_OK = 0,
    UERR_USER = 1,     /* bad config, data, arguments: the user can fix it */
    UERR_USAGE = 2,    /* command line misuse */
    UERR_INTERNAL = 3, /* a bug or an environment failure (I/O, memory) */
};

typedef struct uerr {
    int code;
    char msg[1024];
} uerr;

/* Sets e (if non-NULL) and returns code, so callers can write
 * `return uerr_set(e, UERR_USER, "%s: ...", path);`. Never overwrites an
 * error already recorded: the first failure is the one worth reporting. */
int uerr_set(uerr *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int uerr_vset(uerr *e, int code, const char *fmt, va_list ap);

/* Prefixes an already-set message with context ("loading run 3: ..."). */
void uerr_prefix(uerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void uerr_clear(uerr *e);

#endif
