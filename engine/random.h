/* Random number generators: one global default plus explicit ones, each a
 * (seed, offset) pair over Philox (see philox.h) whose state can be saved and
 * restored exactly, as checkpoints need. */
#ifndef ENGINE_RANDOM_H
#define ENGINE_RANDOM_H

#include <stdint.h>

#include "engine/tensor.h"

typedef struct Generator {
    uint64_t seed;
    uint64_t offset; /* Philox blocks (4 words each) used so far */
} Generator;

/* The default generator, seeded with 0 until manual_seed(). Not thread-safe:
 * workers that need randomness take explicit generators. */
Generator *generator_default(void);
/* Makes g this thread's default generator (NULL: the global one again) and
 * returns the previous choice: the threads that run the shards of one batch
 * (trainer/batch_split.h) each draw from a generator of their own, so their
 * dropout masks do not depend on which thread runs first. */
Generator *generator_use_on_thread(Generator *g);
void generator_seed(Generator *g, uint64_t seed);
/* Seeds the default generator (torch.manual_seed). */
void manual_seed(uint64_t seed);

/* State as two integers (seed, offset), for checkpoints. */
void generator_get_state(const Generator *g, uint64_t state[2]);
void generator_set_state(Generator *g, const uint64_t state[2]);

/* Reserves n_words random words: returns the first Philox block to use and
 * advances the generator past them. Kernels then draw word i of the request
 * from block (first + i / 4), word i % 4. */
uint64_t generator_reserve(Generator *g, uint64_t n_words);

/* g NULL = the default generator; the results follow the scope rule. */
Tensor *tensor_rand(Shape shape, Generator *g, Device device);  /* U[0, 1) */
Tensor *tensor_randn(Shape shape, Generator *g, Device device); /* N(0, 1) */
/* i64 uniform in [low, high). */
Tensor *tensor_randint(int64_t low, int64_t high, Shape shape, Generator *g, Device device);
/* A random permutation of 0..n-1 (i64, on the CPU). */
Tensor *tensor_randperm(int64_t n, Generator *g);

/* In place, f32: U[low, high), N(mean, std). */
int tensor_uniform_(Tensor *t, double low, double high, Generator *g);
int tensor_normal_(Tensor *t, double mean, double std, Generator *g);
/* In place: each element 1 with probability p, else 0 (f32). */
int tensor_bernoulli_(Tensor *t, double p, Generator *g);

#endif
