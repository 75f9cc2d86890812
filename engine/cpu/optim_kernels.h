/* CPU kernels of the optimizers: one fused pass per parameter that applies a
 * whole update step (PyTorch's sequence of in-place ops, element by element),
 * and the per-tensor norm used by gradient clipping. Every tensor must be
 * contiguous f32 with the parameter's shape; optional state is NULL when the
 * options do not use it. */
#ifndef ENGINE_CPU_OPTIM_KERNELS_H
#define ENGINE_CPU_OPTIM_KERNELS_H

#include "engine/optim/kernel_args.h"
#include "engine/tensor.h"

/* momentum_buffer: NULL when momentum is 0. */
void cpu_sgd_step(Tensor *param, const Tensor *grad, Tensor *momentum_buffer, const SGDKernelArgs *a);
/* max_exp_avg_sq: NULL unless amsgrad. */
void cpu_adam_step(Tensor *param, const Tensor *grad, Tensor *exp_avg, Tensor *exp_avg_sq, Tensor *max_exp_avg_sq,
                   const AdamKernelArgs *a);
/* grad_avg: NULL unless centered; momentum_buffer: NULL unless momentum > 0. */
void cpu_rmsprop_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *grad_avg,
                      Tensor *momentum_buffer, const RMSpropKernelArgs *a);
void cpu_adagrad_step(Tensor *param, const Tensor *grad, Tensor *sum, const AdagradKernelArgs *a);
void cpu_adadelta_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *acc_delta,
                       const AdadeltaKernelArgs *a);

/* The p-norm of all elements of t (p = INFINITY: the largest |x|),
 * accumulated in double. */
double cpu_tensor_norm(const Tensor *t, double p);

#endif
