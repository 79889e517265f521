/* err.c - see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int uerr_vset(uerr *e, int code, const char *fmt, va_list ap)
{
    if (e && e->code == UERR_OK) {
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
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
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
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
