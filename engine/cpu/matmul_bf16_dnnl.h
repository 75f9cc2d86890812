/* bf16 matrix products on oneDNN's native kernels (AVX512-BF16 or AMX
 * instructions), for linear and mm on bf16 operands (autocast's, and bf16
 * tensors'): the products of bf16 values summed in f32, as the f32
 * emulation computes them (engine/autocast.h), in about half the time on a
 * CPU that has the instructions. Elsewhere (no oneDNN in the build, a CPU
 * without them, where oneDNN would only emulate bf16) nothing here runs and
 * the emulation does the work. */
#ifndef ENGINE_CPU_MATMUL_BF16_DNNL_H
#define ENGINE_CPU_MATMUL_BF16_DNNL_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this build and CPU have native bf16 products (asked of oneDNN
 * once: the implementation it picks must use bf16 instructions). */
bool dnnl_bf16_matmul_native(void);

/* c [m][n] (f32, rows ldc apart) = (accumulate ? c : 0) + a @ b, where a
 * [m][k] and b [k][n] are bf16 with element strides (a_rs, a_cs) and
 * (b_rs, b_cs), one of each pair 1. Returns false, having written nothing,
 * when oneDNN refuses the product. */
bool dnnl_bf16_matmul(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_cs, const uint16_t *b,
                      int64_t b_rs, int64_t b_cs, int64_t m, int64_t n, int64_t k, bool accumulate);

#endif
