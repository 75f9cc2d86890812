/* CPU batch-norm and layer-norm kernels (forward and fused backward).
 * Every tensor is contiguous. Batch norm sees x as [N, C, L] (L the product
 * of the dims after the channel dim) with per-channel tensors of shape [C];
 * layer norm sees x as [rows, cols] with per-row statistics of shape [rows]
 * and weight/bias of cols elements. Sums are float within short blocks and double across them. */
#ifndef ENGINE_CPU_NORM_H
#define ENGINE_CPU_NORM_H

#include "engine/tensor.h"

/* Per channel: mean, biased variance and invstd = 1 / sqrt(var + eps). */
void cpu_batch_norm_stats(const Tensor *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps);
/* out = (x - mean) * invstd * weight + bias; weight and bias may be NULL. */
void cpu_batch_norm_apply(Tensor *out, const Tensor *x, const Tensor *mean, const Tensor *invstd, const Tensor *weight,
                          const Tensor *bias);
/* Per channel: sum_g = sum(g), sum_g_xhat = sum(g * (x - mean) * invstd). */
void cpu_batch_norm_backward_reduce(Tensor *sum_g, Tensor *sum_g_xhat, const Tensor *g, const Tensor *x,
                                    const Tensor *mean, const Tensor *invstd);
/* Gradient of x. With batch statistics (sum_g and sum_g_xhat given):
 * w * invstd * (g - (sum_g + xhat * sum_g_xhat) / M), M = N * L; with fixed
 * (running) statistics (both NULL): g * w * invstd. weight may be NULL. */
void cpu_batch_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                   const Tensor *invstd, const Tensor *weight, const Tensor *sum_g,
                                   const Tensor *sum_g_xhat);

/* out = (x - mean) * rstd * weight + bias per row; also writes the row
 * mean and rstd = 1 / sqrt(biased var + eps). weight and bias may be NULL. */
void cpu_layer_norm(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *weight, const Tensor *bias,
                    int64_t cols, double eps);
void cpu_layer_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                   const Tensor *rstd, const Tensor *weight, int64_t cols);
/* grad_weight = sum over rows of g * xhat, grad_bias = sum over rows of g;
 * either may be NULL. */
void cpu_layer_norm_backward_params(Tensor *grad_weight, Tensor *grad_bias, const Tensor *g, const Tensor *x,
                                    const Tensor *mean, const Tensor *rstd, int64_t cols);

#endif
