/* CUDA kernels of the optimizers: the twins of engine/cpu/optim_kernels.h
 * (one fused pass per parameter, with the CPU kernels' exact float rounding,
 * so GPU and CPU parameters stay bit-identical step after step), a
 * multi-tensor launch that updates many parameters at once, and the
 * per-tensor norm used by gradient clipping (copied back to the host). */
#ifndef ENGINE_CUDA_OPTIM_KERNELS_H
#define ENGINE_CUDA_OPTIM_KERNELS_H

#include "engine/optim/kernel_args.h"
#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

void cuda_sgd_step(Tensor *param, const Tensor *grad, Tensor *momentum_buffer, const SGDKernelArgs *a);
void cuda_adam_step(Tensor *param, const Tensor *grad, Tensor *exp_avg, Tensor *exp_avg_sq, Tensor *max_exp_avg_sq,
                    const AdamKernelArgs *a);
void cuda_rmsprop_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *grad_avg,
                       Tensor *momentum_buffer, const RMSpropKernelArgs *a);
void cuda_adagrad_step(Tensor *param, const Tensor *grad, Tensor *sum, const AdagradKernelArgs *a);
void cuda_adadelta_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *acc_delta,
                        const AdadeltaKernelArgs *a);
double cuda_tensor_norm(const Tensor *t, double p);

/* The multi-tensor path: one launch applies n updates of one kind, entry i
 * doing exactly what cuda_<kind>_step does with updates[i]'s tensors and
 * args (every tensor contiguous f32 on the device). */
void cuda_optim_step_multi(const OptimUpdate *updates, int n);

#ifdef __cplusplus
}
#endif

#endif
