/* utf8.c - UTF-8 decoding and encoding; see utf8.h. */
#include "base/utf8.h"

int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    if (avail == 0)
        return 0;
    unsigned b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int len;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF)
        len = 2, c = b0 & 0x1Fu, min = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF)
        len = 3, c = b0 & 0x0Fu, min = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4)
        len = 4, c = b0 & 0x07u, min = 0x10000;
    else /* a continuation byte, 0xC0/0xC1 (always overlong), 0xF5.. */
        return 0;
    if ((size_t)len > avail)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || !utf8_scalar(c))
        return 0;
    *cp = c;
    return len;
}

int utf8_scalar(uint32_t c)
{
    return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
}

int utf8_encode(uint32_t c, char out[UTF8_MAX])
{
    if (!utf8_scalar(c))
        return 0;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    int n = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    /* the lead byte: n high bits set, then the top bits of c */
    out[0] = (char)(((0xFF00u >> n) & 0xFF) | (c >> (6 * (n - 1))));
    for (int i = 1; i < n; i++)
        out[i] = (char)(0x80 | ((c >> (6 * (n - 1 - i))) & 0x3F));
    return n;
}
