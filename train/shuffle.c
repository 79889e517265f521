/* shuffle.c - see shuffle.h. */
#include "train/shuffle.h"

#include <stdlib.h>
#include <string.h>

void shuffle_indices(rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

int shuffler_init(shuffler *s, int64_t n, uint64_t seed, uerr *e)
{
    memset(s, 0, sizeof *s);
    s->order = malloc((size_t)(n ? n : 1) * sizeof *s->order);
    if (!s->order)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    s->n = n;
    s->pos = n; /* the first call starts epoch 0 */
    s->epoch = -1;
    /* its own stream, apart from the one that split the data */
    rng_seed(&s->r, seed ^ 0x5eed5eed5eedull);
    return 0;
}

void shuffler_free(shuffler *s)
{
    free(s->order);
    memset(s, 0, sizeof *s);
}

int64_t shuffler_next(shuffler *s)
{
    if (s->pos == s->n) {
        for (int64_t i = 0; i < s->n; i++)
            s->order[i] = i;
        shuffle_indices(&s->r, s->order, s->n);
        s->pos = 0;
        s->epoch++;
    }
    return s->order[s->pos++];
}
