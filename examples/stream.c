/*
 * stream.c - a trained character model used one character at a time:
 * open it from a store by reference, feed a text, read the next-character
 * distribution after each step, branch from a saved state.
 *
 *   cc stream.c $(pkg-config --cflags --libs unroll) -o stream
 *   ./stream DB REF TEXT
 *
 * REF is any checkpoint reference (id, tag, RUN@STEP, RUN@best, run name).
 * Prints the loss of TEXT in nats per character, the three most likely
 * characters after it, and, from the state saved after TEXT, the most
 * likely character after TEXT + "e" and after TEXT + "a".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unroll.h>

static int fail(const uerr *e)
{
    fprintf(stderr, "stream: %s\n", e->msg);
    return 1;
}

static int32_t best_of(const double *p, int64_t V, int32_t skip1, int32_t skip2)
{
    int32_t best = -1;
    for (int32_t j = 0; j < V; j++)
        if (j != skip1 && j != skip2 && (best < 0 || p[j] > p[best]))
            best = j;
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: stream DB REF TEXT\n");
        return 2;
    }
    uerr e = {0};
    store *db = NULL;
    session s;
    if (store_open(&db, argv[1], STORE_READ_ONLY, &e) || session_open(&s, db, argv[2], 1, &e))
        return fail(&e);
    store_close(db); /* the session holds everything it needs */

    int64_t V = session_outputs(&s);
    double *p = malloc((size_t)V * sizeof(double));
    const text_vocab *v = &s.mc.vocab;
    if (!p || session_reset(&s, 1, &e))
        return fail(&e);
    /* the text's ids, the unknown id for characters the run never saw */
    int32_t *ids = NULL;
    int64_t n = 0;
    if (text_encode_prime(v, argv[3], strlen(argv[3]), &ids, &n, &e))
        return fail(&e);
    double loss = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0)
            loss -= log(p[ids[i]]);
        if (session_step_ids(&s, &ids[i], p, &e))
            return fail(&e);
    }
    printf("loss %.4f nats/char over %lld characters\n", n > 1 ? loss / (double)(n - 1) : 0.0,
           (long long)(n > 1 ? n - 1 : 0));
    int32_t a = best_of(p, V, -1, -1), b = best_of(p, V, a, -1), c = best_of(p, V, a, b);
    printf("next: '%s' %.3f, '%s' %.3f, '%s' %.3f\n", text_vocab_utf8(v, a), p[a],
           text_vocab_utf8(v, b), p[b], text_vocab_utf8(v, c), p[c]);

    /* two continuations from one saved state */
    void *saved = malloc(session_state_bytes(&s));
    if (!saved)
        return 1;
    session_state_save(&s, saved);
    const char *tries[2] = {"e", "a"};
    for (int k = 0; k < 2; k++) {
        int32_t id = text_vocab_find(v, (uint32_t)tries[k][0]);
        if (id < 0)
            continue;
        session_state_restore(&s, saved);
        if (session_step_ids(&s, &id, p, &e))
            return fail(&e);
        int32_t nx = best_of(p, V, -1, -1);
        printf("after +'%s': '%s' %.3f\n", tries[k], text_vocab_utf8(v, nx), p[nx]);
    }
    free(saved);
    free(ids);
    free(p);
    session_close(&s);
    return 0;
}
