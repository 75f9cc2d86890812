/* CUDA indexing kernels: the twins of engine/cpu/index.h (gather,
 * scatter-add, index-add, constant padding, one-hot, and the min/max scan
 * behind every index bounds check), with the same signatures and contracts.
 * The accumulating kernels are deterministic while cuda_deterministic() is
 * on; otherwise float accumulation may use atomics (faster, order-dependent
 * in the last bits). */
#ifndef ENGINE_CUDA_INDEX_H
#define ENGINE_CUDA_INDEX_H

#include <stdint.h>

#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies the two results back to the host (waits for the stream). */
void cuda_index_range(const Tensor *index, int64_t *min, int64_t *max);
void cuda_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index);
void cuda_scatter_add(Tensor *out, int dim, const Tensor *index, const Tensor *src);
void cuda_index_add(Tensor *out, int dim, const Tensor *index, const Tensor *src, int64_t skip);
void cuda_pad(Tensor *out, const Tensor *in, const int64_t *before, double value);
void cuda_one_hot(Tensor *out, const Tensor *indices);

#ifdef __cplusplus
}
#endif

#endif
