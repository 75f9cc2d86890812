/* CUDA batch-norm and layer-norm kernels: the twins of engine/cpu/norm.h,
 * same signatures and contracts (contiguous tensors; batch norm sees x as
 * [N, C, L] with per-channel tensors [C], layer norm sees x as [rows, cols]
 * with per-row statistics and weight/bias of cols elements; weight, bias
 * and the optional outputs may be NULL where the CPU's may). Plain C. */
#ifndef ENGINE_CUDA_NORM_H
#define ENGINE_CUDA_NORM_H

#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

void cuda_batch_norm_stats(const Tensor *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps);
void cuda_batch_norm_apply(Tensor *out, const Tensor *x, const Tensor *mean, const Tensor *invstd,
                           const Tensor *weight, const Tensor *bias);
void cuda_batch_norm_backward_reduce(Tensor *sum_g, Tensor *sum_g_xhat, const Tensor *g, const Tensor *x,
                                     const Tensor *mean, const Tensor *invstd);
void cuda_batch_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                    const Tensor *invstd, const Tensor *weight, const Tensor *sum_g,
                                    const Tensor *sum_g_xhat);

void cuda_layer_norm(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *weight,
                     const Tensor *bias, int64_t cols, double eps);
void cuda_layer_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                    const Tensor *rstd, const Tensor *weight, int64_t cols);
void cuda_layer_norm_backward_params(Tensor *grad_weight, Tensor *grad_bias, const Tensor *g, const Tensor *x,
                                     const Tensor *mean, const Tensor *rstd, int64_t cols);

#ifdef __cplusplus
}
#endif

#endif
