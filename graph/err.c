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
    char head[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
}

void uerr_clear(uerr *e)
{
    if (e) {
        e->code = UERR_OK;
        e->msg[0] = '\0';
    }
}
