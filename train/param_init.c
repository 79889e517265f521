/*
 * param_init.c - see param_init.h.
 *
 * orthogonal: the Q of a QR factorisation of a Gaussian matrix with R's
 * diagonal positive (Gram-Schmidt gives that directly), which is uniform
 * over the orthogonal matrices. For [m, n] the min(m, n) vectors of
 * length max(m, n) (columns when m >= n, else rows) are made orthonormal,
 * twice over ("twice is enough": the second pass restores orthogonality
 * float rounding lost in the first), with sums in double.
 */
#include "train/param_init.h"

#include <math.h>
#include <string.h>

/* FNV-1a of the name, mixed into the seed: a stream per parameter */
static uint64_t own_seed(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 1099511628211ull;
    return seed ^ h;
}

/* Element i of vector k of an [m, n] matrix: columns when m >= n. */
static int64_t at(int64_t m, int64_t n, int64_t k, int64_t i)
{
    return m >= n ? i * n + k : k * n + i;
}

#define ORTHO(T)                                                                                   \
    static void ortho_##T(T *v, int64_t m, int64_t n, double gain)                                 \
    {                                                                                              \
        int64_t K = m < n ? m : n, L = m < n ? n : m;                                              \
        for (int64_t k = 0; k < K; k++) {                                                          \
            for (int pass = 0; pass < 2; pass++)                                                   \
                for (int64_t j = 0; j < k; j++) {                                                  \
                    double d = 0;                                                                  \
                    for (int64_t i = 0; i < L; i++)                                                \
                        d += (double)v[at(m, n, j, i)] * (double)v[at(m, n, k, i)];                \
                    for (int64_t i = 0; i < L; i++)                                                \
                        v[at(m, n, k, i)] -= (T)(d * (double)v[at(m, n, j, i)]);                   \
                }                                                                                  \
            double s = 0;                                                                          \
            for (int64_t i = 0; i < L; i++)                                                        \
                s += (double)v[at(m, n, k, i)] * (double)v[at(m, n, k, i)];                        \
            double r = s > 0 ? 1 / sqrt(s) : 0;                                                    \
            for (int64_t i = 0; i < L; i++)                                                        \
                v[at(m, n, k, i)] = (T)((double)v[at(m, n, k, i)] * r);                            \
        }                                                                                          \
        if (gain != 1)                                                                             \
            for (int64_t i = 0; i < m * n; i++)                                                    \
                v[i] = (T)((double)v[i] * gain);                                                   \
    }
ORTHO(float)
ORTHO(double)

/* The element values of an entry; identity and orthogonal are 2-D (the
 * cell checked it). */
static double draw(const spec_init *in, rng *r, double std, int64_t j, int64_t n)
{
    double sd = in->std > 0 ? in->std : std;
    switch (in->kind) {
    case SPEC_INIT_CONSTANT:
        return in->value;
    case SPEC_INIT_NORMAL:
        return in->value + sd * rng_normal(r);
    case SPEC_INIT_UNIFORM:
        return in->value + sd * sqrt(3.0) * (2 * rng_uniform(r) - 1);
    case SPEC_INIT_ORTHOGONAL:
        return rng_normal(r);
    case SPEC_INIT_IDENTITY:
        return j / n == j % n ? in->value : 0;
    }
    return 0;
}

void param_init_fill(void *v, dtype dt, const model_param *p, rng *main, uint64_t seed, double std)
{
    int64_t k = shape_numel(&p->shape);
    int64_t n = p->shape.rank == 2 ? p->shape.dim[1] : k;
    if (!p->has_init) {
        DT_EACH_REAL(dt, T, {
            T *x = v;
            for (int64_t j = 0; j < k; j++)
                x[j] = p->is_bias ? 0 : (T)(std * rng_normal(main));
        });
        return;
    }
    rng own;
    rng_seed(&own, own_seed(seed, p->name));
    DT_EACH_REAL(dt, T, {
        T *x = v;
        for (int64_t j = 0; j < k; j++)
            x[j] = (T)draw(&p->init, &own, std, j, n);
    });
    if (p->init.kind == SPEC_INIT_ORTHOGONAL) {
        if (dt == DT_F32)
            ortho_float(v, p->shape.dim[0], n, p->init.value);
        else
            ortho_double(v, p->shape.dim[0], n, p->init.value);
    }
}
