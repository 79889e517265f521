/*
 * param_init.h - how a parameter starts: its model.init entry drawn, or
 * the default.
 *
 * Reproducibility: everything comes from train.seed. Parameters without
 * an entry draw, in model order, from the one stream seeded by train.seed
 * (matrices N(0, std^2), biases 0), exactly as before entries existed, so
 * old runs start as they did. A parameter with an entry draws from a
 * stream of its own, seeded by train.seed and its full name ("l1.bw.W"),
 * so adding, changing or removing one entry leaves every other
 * parameter's start as it was.
 */
#ifndef UNROLL_PARAM_INIT_H
#define UNROLL_PARAM_INIT_H

#include "models/model.h"
#include "train/rng.h"

/* Fills v (numel elements of dt, p's shape) with p's start. main is the
 * shared stream of the parameters without an entry; std model.init.std. */
void param_init_fill(void *v, dtype dt, const model_param *p, rng *main, uint64_t seed, double std);

#endif
