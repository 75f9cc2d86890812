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

#ifdef __cplusplus
}
#endif

#endif
