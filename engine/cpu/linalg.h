/* CPU matrix products over BLAS (cblas_sgemm), and the helpers the
 * convolution kernels share with them. */
#ifndef ENGINE_CPU_LINALG_H
#define ENGINE_CPU_LINALG_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/matrix_layout.h" /* MatrixLayout, blas_matrix_layout */
#include "engine/tensor.h"

/* Row-major C = alpha * op(A) @ op(B) + beta * C with op(A) m x k, op(B)
 * k x n; a thin wrapper over cblas_sgemm that accepts m, n or k of 0. */
void cpu_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* cpu_sgemm on the OpenMP threads: each computes a block of C's rows (or
 * columns, when C is wide) with single-threaded BLAS. One thread pool for
 * everything: BLAS's own pool would wake next to OpenMP's still-spinning
 * threads (between elementwise ops and products) and oversubscribe the
 * cores. Small products, and calls from inside a parallel region, run as
 * one cpu_sgemm. */
void cpu_sgemm_parallel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* The same on the library given rather than the one cpu_sgemm_by_dnnl
 * picks (oneDNN's sgemm, where the build has it, or OpenBLAS's): for
 * bench/bench_gemm_ab, which times both on the engine's own split. */
void cpu_sgemm_parallel_on(bool dnnl, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* out [batch..., M, N] (contiguous) = a [batch..., M, K] @ b [batch..., K, N]
 * (+ out's current values when accumulate). a and b have out's ndim, batch
 * dims already broadcast (stride 0 where broadcast), and BLAS-compatible
 * matrices (cpu_matrix_blas_ok). */
void cpu_matmul(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);

/* out [M, N] (f32, contiguous) = a [M, K] @ b [K, N] (+ out's current values
 * when accumulate), a and b bf16 with BLAS-compatible layouts: the products
 * of bf16 values summed in f32, on oneDNN's bf16 kernels where
 * cpu_matmul_lowp_native(DT_BF16) (else through f32 copies and sgemm).
 * f16 has no native kernel on the CPU: never native, never called. */
bool cpu_matmul_lowp_native(DType dt);
void cpu_matmul_lowp(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);

/* Whether an m x n x k product goes to oneDNN's sgemm (where the build has
 * it) rather than OpenBLAS's: linalg.c's rule (by size, unless OpenBLAS runs
 * narrower vectors than the CPU). */
bool cpu_sgemm_by_dnnl(int64_t m, int64_t n, int64_t k);

#endif
