/* CUDA reduction kernels (reduce.cu; reduce_dim.cu for the single-dim
 * ones): the twins of engine/cpu/reduce.h, with the same signatures and
 * contracts. Results are deterministic: every output is combined in a fixed
 * order that depends on the shape only (no float atomics). */
#ifndef ENGINE_CUDA_REDUCE_H
#define ENGINE_CUDA_REDUCE_H

#include <stdbool.h>

#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out (contiguous, keepdim shape) = the reduction of in (any strides) over
 * the dims where reduce[d] is true; sums accumulate in double. */
void cuda_sum(Tensor *out, const Tensor *in, const bool *reduce);
void cuda_mean(Tensor *out, const Tensor *in, const bool *reduce);
void cuda_var(Tensor *out, const Tensor *in, const bool *reduce, int correction, bool take_sqrt);
void cuda_amax(Tensor *out, const Tensor *in, const bool *reduce);
void cuda_amin(Tensor *out, const Tensor *in, const bool *reduce);

/* max/min along dim of a contiguous in with indices (first occurrence wins
 * ties, NaN counts as the largest), and the scatter of gradients back to
 * those indices; see cpu_max_dim and cpu_put_along_dim. */
void cuda_max_dim(Tensor *values, Tensor *indices, const Tensor *in, int dim, bool is_max);
void cuda_put_along_dim(Tensor *dst, const Tensor *src, const Tensor *indices, int dim);

#ifdef __cplusplus
}
#endif

#endif
