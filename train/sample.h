/*
 * sample.h - generating text from a trained character model.
 *
 * The model is unrolled for one step (B = 1, T = 1) and run repeatedly,
 * its final state fed back as the next initial state. The prime text is
 * fed first; then each next character is drawn from
 * softmax(o_t / temperature) with the given seed. Without a prime text
 * the first input is the vocabulary's newline (or id 0), not printed.
 */
#ifndef UNROLL_SAMPLE_H
#define UNROLL_SAMPLE_H

#include "models/spec.h"
#include "train/text.h"

typedef struct sample_opts {
    int64_t length;        /* characters to generate (after the prime) */
    double temperature;
    const char *prime;     /* UTF-8, may be "" */
    uint64_t seed;
} sample_opts;

typedef struct sample_param {
    const char *name;
    dtype dt;
    const void *data;      /* float32 or float64, converted to spec's dtype */
    int64_t numel;
} sample_param;

/* Copies checkpoint parameters (matched by name, converted to the net's
 * dtype) into n; a missing or mis-sized one is an error naming it. */
struct net;
int sample_set_params(struct net *n, const sample_param *ps, int np, uerr *e);

/* Generates into *out (malloc'd UTF-8, NUL-terminated, prime included). */
int sample_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
                const sample_opts *o, char **out, double *chars_per_s, uerr *e);

#endif
