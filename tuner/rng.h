/* The search's own random numbers: xoshiro256** seeded through splitmix64,
 * so a search with the same seed proposes the same trials on every machine
 * and no draw depends on the engine's generators. */
#ifndef TUNE_RNG_H
#define TUNE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} TuneRng;

/* Seeds from (seed, stream): each trial draws from a stream of its own, so
 * its parameters do not depend on how many draws other trials made. */
void tune_rng_seed(TuneRng *r, uint64_t seed, uint64_t stream);
uint64_t tune_rng_next(TuneRng *r);
/* Uniform in [0, 1). */
double tune_rng_uniform(TuneRng *r);
/* Uniform integer in [0, n) (n >= 1), without modulo bias. */
uint64_t tune_rng_below(TuneRng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double tune_rng_normal(TuneRng *r);

#endif
