/* CUDA matrix products over cuBLAS: the twins of engine/cpu/linalg.h's
 * kernels, same signatures and contracts. Plain C declarations. */
#ifndef ENGINE_CUDA_LINALG_H
#define ENGINE_CUDA_LINALG_H

#include <stdbool.h>

#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out [batch..., M, N] (contiguous) = a [batch..., M, K] @ b [batch..., K, N]
 * (+ out's current values when accumulate). a and b have out's ndim, batch
 * dims already broadcast (stride 0 where broadcast), and BLAS-compatible
 * matrices (matrix_blas_ok, engine/matrix_layout.h). */
void cuda_matmul(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);

/* out [M, N] (f32, contiguous) = a [M, K] @ b [K, N] (+ out's current values
 * when accumulate), a and b both bf16 or both f16 with BLAS-compatible
 * layouts: cuBLAS's low-precision products (tensor cores), summed in f32.
 * Native for f16 everywhere and for bf16 from compute capability 8.0. */
bool cuda_matmul_lowp_native(DType dt);
void cuda_matmul_lowp(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);

#ifdef __cplusplus
}
#endif

#endif
