/* Vectors of 16 floats for the CPU's direct convolution kernels (conv.c,
 * conv_lanes.c): GCC vector extensions, one AVX-512 register per vector
 * with -march=native on such CPUs, two AVX2 ones or plain code elsewhere. */
#ifndef ENGINE_CPU_VEC16_H
#define ENGINE_CPU_VEC16_H

#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <string.h>

/* Without AVX-512, GCC warns that passing a 64-byte vector by value has
 * another ABI; these helpers are static and inlined, so no call between
 * separately compiled code ever passes one. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));

/* For helpers that take or return vectors: always inlined, so that no call
 * passes one (the ABI note above). */
#define V16_INLINE static inline __attribute__((always_inline))

V16_INLINE v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

V16_INLINE void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

V16_INLINE v16 splat16(float f) { return (v16){f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f}; }

/* a * b + c, fused where the CPU can (ISO C does not contract a * b + c) */
V16_INLINE v16 fma16(v16 a, v16 b, v16 c)
{
#ifdef __AVX512F__
    return (v16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    return a * b + c;
#endif
}

#endif
