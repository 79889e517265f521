/*
 * sample.h - generating text from a trained character model.
 *
 * The model is unrolled for one step (B = 1, T = 1) and run repeatedly,
 * its final state fed back as the next initial state. The prime text is
 * fed first; then each next character is drawn from
 * softmax(o_t / temperature) with the given seed, cut to the top_k most
 * likely and then to the nucleus of mass top_p when those are set.
 * Temperature 0 is greedy: the most likely id, the lowest of ties, with
 * no random draw. Without a prime text the first input is the
 * vocabulary's newline (or id 0), not printed.
 *
 * Determinism: the candidates are ordered by probability, then by id, so
 * the cut and the draw depend on the logits and the seed only.
 */
#ifndef UNROLL_SAMPLE_H
#define UNROLL_SAMPLE_H

#include "models/spec.h"
#include "train/text.h"

typedef struct sample_opts {
    int64_t length;     /* characters to generate (after the prime) */
    double temperature; /* >= 0; 0 = greedy */
    const char *prime;  /* UTF-8, may be "" */
    uint64_t seed;
    int64_t top_k; /* keep the K most likely; 0 = all */
    double top_p;  /* keep the fewest whose mass reaches P; 0 or 1 = all */
} sample_opts;

/* One candidate of a draw: sample_pick's work space holds V of them. */
typedef struct sample_cand {
    double p;
    int32_t id;
} sample_cand;

/* The next id from logits[0..V) under o's temperature, top_k and top_p,
 * drawing from r unless greedy; logits is overwritten (it is the work
 * space of the draw) and work holds V candidates. Returns -1 when the
 * logits do not give a distribution (a non-finite value). */
struct rng;
int32_t sample_pick(double *logits, int64_t V, const sample_opts *o, struct rng *r,
                    sample_cand *work);

typedef struct sample_param {
    const char *name;
    dtype dt;
    const void *data; /* float32 or float64, converted to spec's dtype */
    int64_t numel;
} sample_param;

/* Copies checkpoint parameters (matched by name, converted to the net's
 * dtype) into n; a missing or mis-sized one is an error naming it. */
struct net;
int sample_set_params(struct net *n, const sample_param *ps, int np, uerr *e);

/* Generates into *out (malloc'd UTF-8, NUL-terminated, prime included). */
int sample_text(const spec *s, const text_vocab *v, const sample_param *params, int nparams,
                const sample_opts *o, char **out, double *chars_per_s, uerr *e);

/* A sampler whose state lives on between calls (sample --interactive):
 * text fed in and text generated both move the model's state on, and one
 * generator stream, seeded once, serves every draw. Feeding o->prime and
 * then generating o->length characters gives sample_text's text.
 * Generating before anything was fed feeds the newline first (not
 * printed), as sample_text does without a prime. */
typedef struct sample_stream {
    struct net *n;
    const text_vocab *v;
    sample_opts o;
    uint64_t rng_state[4];
    double *probs; /* the next character's logits, once steps > 0 */
    sample_cand *work;
    int64_t steps; /* characters fed so far */
    char *buf;     /* the last generated text */
    size_t cap;
} sample_stream;

/* params are copied into the stream's net; v must outlive the stream. */
int sample_stream_open(sample_stream *ss, const spec *s, const text_vocab *v,
                       const sample_param *params, int nparams, const sample_opts *o, uerr *e);
/* Feeds len bytes of UTF-8 text; text that cannot be encoded (a
 * character outside a vocabulary without an unknown id) feeds nothing. */
int sample_stream_feed(sample_stream *ss, const char *utf8, size_t len, uerr *e);
/* Draws length characters, each fed back in; *out (NUL-terminated) is
 * owned by the stream and valid until its next call. */
int sample_stream_gen(sample_stream *ss, int64_t length, const char **out, uerr *e);
void sample_stream_free(sample_stream *ss);

#endif
