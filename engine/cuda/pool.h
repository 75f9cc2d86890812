/* CUDA 2-D pooling kernels: the twins of engine/cpu/pool.h, same
 * signatures and contracts (contiguous f32 [N, C, H, W] tensors, output
 * sizes from the output tensors, strides already resolved; max-pool indices
 * are h * W + w within the plane, as the CPU and PyTorch record them).
 * Plain C declarations. */
#ifndef ENGINE_CUDA_POOL_H
#define ENGINE_CUDA_POOL_H

#include "engine/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

void cuda_max_pool2d(Tensor *out, Tensor *indices, const Tensor *x, PoolParams p);
void cuda_max_pool2d_backward(Tensor *gx, const Tensor *g, const Tensor *indices, PoolParams p);
void cuda_avg_pool2d(Tensor *out, const Tensor *x, PoolParams p);
void cuda_avg_pool2d_backward(Tensor *gx, const Tensor *g, PoolParams p);
void cuda_adaptive_avg_pool2d(Tensor *out, const Tensor *x);
void cuda_adaptive_avg_pool2d_backward(Tensor *gx, const Tensor *g);

#ifdef __cplusplus
}
#endif

#endif
