/* Philox4x32-10, the counter-based generator (Salmon et al., SC'11) behind
 * every random number in the engine. Counter-based means element i of a draw
 * depends only on (seed, offset, i): CPU threads and GPU kernels produce the
 * same numbers, and a generator's state is just two integers. Header-only so
 * CUDA kernels can include it. */
#ifndef ENGINE_PHILOX_H
#define ENGINE_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define PHILOX_FN static __host__ __device__ inline
#else
#define PHILOX_FN static inline
#endif

typedef struct {
    uint32_t v[4];
} PhiloxBlock;

PHILOX_FN uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Four 32-bit random words for counter (block index) under key seed. */
PHILOX_FN PhiloxBlock philox4x32_10(uint64_t seed, uint64_t counter_lo, uint64_t counter_hi)
{
    uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
    uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    PhiloxBlock b = {{c0, c1, c2, c3}};
    return b;
}

/* A float uniform in [0, 1) from 24 random bits. */
PHILOX_FN float philox_uniform(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

#endif
