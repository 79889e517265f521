/* bytes.c - byte sizes read and written; see bytes.h. */
#include "base/bytes.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The multiplier of the unit in s[0..len), or 0 if it is not one. The
 * one-letter and lower-case binary forms are the ones UNROLL_GRAPH_LIMIT
 * took before it shared this grammar. */
static uint64_t bytes_unit(const char *s, size_t len)
{
    /* a row per unit family */
    /* clang-format off */
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"", 1}, {"B", 1},
        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
        {"K", 1ull << 10},   {"M", 1ull << 20},   {"G", 1ull << 30},   {"T", 1ull << 40},
        {"k", 1ull << 10},   {"m", 1ull << 20},   {"g", 1ull << 30},   {"t", 1ull << 40},
        {"kiB", 1ull << 10}, {"miB", 1ull << 20}, {"giB", 1ull << 30}, {"tiB", 1ull << 40},
        {"kB", 1000}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"TB", 1000000000000},
    };
    /* clang-format on */
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
        if (strlen(units[u].name) == len && !memcmp(units[u].name, s, len))
            return units[u].mult;
    return 0;
}

int bytes_parse(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0, digits = 0;
    uint64_t whole = 0;
    double frac = 0, scale = 1;
    int has_frac = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i++] - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return -1;
        whole = whole * 10 + d, digits++;
    }
    if (i < len && s[i] == '.') {
        has_frac = 1;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            frac += (s[i] - '0') * (scale /= 10);
    }
    if (digits == 0)
        return -1;
    if (i < len && s[i] == ' ')
        i++;
    uint64_t mult = bytes_unit(s + i, len - i);
    if (mult == 0 || (has_frac && mult == 1) || whole > UINT64_MAX / mult)
        return -1;
    uint64_t part = (uint64_t)(frac * (double)mult); /* below mult */
    if (whole * mult > UINT64_MAX - part)
        return -1;
    *out = whole * mult + part;
    return 0;
}

const char *bytes_str(uint64_t n, char buf[BYTES_STR_MAX])
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 6)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, BYTES_STR_MAX, "%" PRIu64 " B", n);
    else
        snprintf(buf, BYTES_STR_MAX, "%.1f %s", v, unit[u]);
    return buf;
}

const char *bytes_exact_str(uint64_t n, char buf[BYTES_STR_MAX])
{
    static const char *const unit[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int u = 0; u < 4 && n; u++) {
        uint64_t m = (uint64_t)1 << (10 * (4 - u));
        if (n % m == 0) {
            snprintf(buf, BYTES_STR_MAX, "%" PRIu64 "%s", n / m, unit[u]);
            return buf;
        }
    }
    snprintf(buf, BYTES_STR_MAX, "%" PRIu64, n);
    return buf;
}
