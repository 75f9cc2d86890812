/* CPU loss kernels: negative log-likelihood over class indices and the
 * pointwise losses (MSE, L1, binary cross-entropy with and without logits).
 * Every tensor is contiguous; sums accumulate in double. */
#ifndef ENGINE_CPU_LOSS_H
#define ENGINE_CPU_LOSS_H

#include <stdbool.h>

#include "engine/loss_layout.h" /* PointwiseLoss */
#include "engine/ops.h"

/* ---- nll: input [N, C, S] (S the product of the dims after C, 1 for
 * [N, C]), target i64 with N * S elements, weight [C] or NULL ---- */

/* true (and the value in *bad) when some target is outside [0, n_classes)
 * without being ignore_index. */
bool cpu_nll_loss_bad_target(const Tensor *target, int64_t n_classes, int64_t ignore_index, int64_t *bad);
/* out: the per-element losses (REDUCTION_NONE, ignored ones 0) or one
 * element, their sum (divided by total_weight for REDUCTION_MEAN).
 * total_weight: one element, the summed weight of the non-ignored targets. */
void cpu_nll_loss(Tensor *out, Tensor *total_weight, const Tensor *input, const Tensor *target, const Tensor *weight,
                  int64_t ignore_index, Reduction reduction);
/* Writes -weight[t] * g at every (n, t, s) of grad_input, which arrives
 * zeroed. g: per element for REDUCTION_NONE, else one element (divided by
 * total_weight for REDUCTION_MEAN). */
void cpu_nll_loss_backward(Tensor *grad_input, const Tensor *g, const Tensor *target, const Tensor *weight,
                           const Tensor *total_weight, int64_t ignore_index, Reduction reduction);

/* ---- pointwise losses: x and target of one shape; weight and pos_weight
 * NULL or already expanded to that shape ---- */

/* out: per element (REDUCTION_NONE) or one element (sum or mean). Returns
 * false when POINTWISE_BCE finds an input outside [0, 1] (out is then
 * undefined). */
bool cpu_pointwise_loss(PointwiseLoss kind, Tensor *out, const Tensor *x, const Tensor *target, const Tensor *weight,
                        const Tensor *pos_weight, Reduction reduction);
/* Gradients of x and target (either may be NULL) from g, per element for
 * REDUCTION_NONE, else one element. */
void cpu_pointwise_loss_backward(PointwiseLoss kind, Tensor *grad_x, Tensor *grad_target, const Tensor *g,
                                 const Tensor *x, const Tensor *target, const Tensor *weight, const Tensor *pos_weight,
                                 Reduction reduction);

#endif
