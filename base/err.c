/* err.c - see err.h. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

/* Copies src into dst (cap bytes) with ASCII control bytes escaped as
 * \n, \t or \xHH. Messages quote the input they complain about (a key,
 * a tensor name, the text near a parse error), and that input may hold a
 * newline or an escape sequence: escaped here, every message stays the
 * one printable line the CLI promises, whichever module wrote it. An
 * escape that would not fit is dropped whole. */
static void uerr_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char tmp[8];
        size_t n;
        if (*p == '\n')
            n = (size_t)snprintf(tmp, sizeof tmp, "\\n");
        else if (*p == '\t')
            n = (size_t)snprintf(tmp, sizeof tmp, "\\t");
        else if (*p < 0x20 || *p == 0x7F)
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", *p);
        else
            tmp[0] = (char)*p, n = 1;
        if (o + n >= cap)
            break;
        memcpy(dst + o, tmp, n);
        o += n;
    }
    dst[o] = '\0';
}

int uerr_vset(uerr *e, int code, const char *fmt, va_list ap)
{
    if (e && e->code == UERR_OK) {
        char raw[sizeof e->msg];
        e->code = code;
        vsnprintf(raw, sizeof raw, fmt, ap);
        uerr_escape(e->msg, sizeof e->msg, raw);
    }
    return code;
}

int uerr_set(uerr *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uerr_vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void uerr_prefix(uerr *e, const char *fmt, ...)
{
    if (!e || e->code == UERR_OK)
        return;
    char raw[512], head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    uerr_escape(head, sizeof head, raw);
    /* shift the old message right, truncating its tail, and put the head
     * and ": " in front of it */
    size_t hl = strlen(head) + 2, cap = sizeof e->msg;
    if (hl >= cap)
        hl = cap - 1;
    size_t ol = strlen(e->msg);
    if (hl + ol >= cap)
        ol = cap - 1 - hl;
    memmove(e->msg + hl, e->msg, ol);
    e->msg[hl + ol] = '\0';
    memcpy(e->msg, head, hl - 2);
    e->msg[hl - 2] = ':';
    e->msg[hl - 1] = ' ';
}

void uerr_clear(uerr *e)
{
    if (e) {
        e->code = UERR_OK;
        e->msg[0] = '\0';
    }
}
