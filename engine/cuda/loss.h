/* CUDA loss kernels: the twins of engine/cpu/loss.h (nll over class indices,
 * the pointwise losses), with the same signatures and contracts. The two
 * kernels that answer a question on the host (a bad target, an input
 * outside [0, 1]) reduce on the device and copy one result back. */
#ifndef ENGINE_CUDA_LOSS_H
#define ENGINE_CUDA_LOSS_H

#include <stdbool.h>

#include "engine/cpu/loss.h" /* PointwiseLoss */
#include "engine/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

bool cuda_nll_loss_bad_target(const Tensor *target, int64_t n_classes, int64_t ignore_index, int64_t *bad);
void cuda_nll_loss(Tensor *out, Tensor *total_weight, const Tensor *input, const Tensor *target, const Tensor *weight,
                   int64_t ignore_index, Reduction reduction);
void cuda_nll_loss_backward(Tensor *grad_input, const Tensor *g, const Tensor *target, const Tensor *weight,
                            const Tensor *total_weight, int64_t ignore_index, Reduction reduction);
bool cuda_pointwise_loss(PointwiseLoss kind, Tensor *out, const Tensor *x, const Tensor *target, const Tensor *weight,
                         const Tensor *pos_weight, Reduction reduction);
void cuda_pointwise_loss_backward(PointwiseLoss kind, Tensor *grad_x, Tensor *grad_target, const Tensor *g,
                                  const Tensor *x, const Tensor *target, const Tensor *weight,
                                  const Tensor *pos_weight, Reduction reduction);

#ifdef __cplusplus
}
#endif

#endif
