/*
 * bytes.h - byte sizes: the one grammar that reads them and the forms
 * that print them.
 *
 * Every size a user writes (train.memory_budget in a config or --set,
 * UNROLL_GRAPH_LIMIT in the environment) goes through bytes_parse, so
 * a spelling one place accepts, every place accepts. The grammar:
 * digits, an optional fraction, an optional space, an optional unit:
 *   B                        bytes
 *   K, M, G, T (any case),   powers of 1024
 *   or KiB, MiB, GiB, TiB
 *   kB, KB, MB, GB, TB       powers of 1000
 * A fraction needs a unit other than B, and is rounded down to whole
 * bytes ("1.5GiB" is 1610612736). No sign, no exponent, no other space.
 */
#ifndef UNROLL_BYTES_H
#define UNROLL_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* What the grammar takes, for the messages that refuse a value. */
#define BYTES_FORMS "a size in bytes such as 1048576, 64MiB or 1.5GiB"

/* Room for any string the formatters below write. */
#define BYTES_STR_MAX 32

/* The len bytes at s as a byte count in *out: 0, or -1 when they are
 * not one (or it does not fit in 64 bits); *out is left alone then. */
int bytes_parse(const char *s, size_t len, uint64_t *out);

/* For messages: "512 B" below 1 KiB, else one decimal in the largest
 * binary unit that keeps the number at 1 or more ("1.5 KiB", "64.0 MiB",
 * "3.2 GiB"), never "0.0 MiB". Returns buf. */
const char *bytes_str(uint64_t n, char buf[BYTES_STR_MAX]);

/* Exact, for configs written back: the largest binary unit that
 * divides n ("1536MiB", "3GiB"), else the plain number ("2000", "0").
 * bytes_parse reads it back to n. Returns buf. */
const char *bytes_exact_str(uint64_t n, char buf[BYTES_STR_MAX]);

#endif
