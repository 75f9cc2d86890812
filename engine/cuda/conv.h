/* CUDA 2-D convolution kernels over cuDNN: the twins of engine/cpu/conv.h,
 * same signatures and contracts (x [N, C, H, W] the convolution's input
 * side, y [N, O, OH, OW] its output side, w [O, C/groups, kh, kw], every
 * tensor contiguous f32, sizes from the shapes). Where
 * cuda_conv2d_lowp_native says so, the inputs of the three (not the
 * output, not a bias) may be bf16 or f16 instead: conv2d's native
 * low-precision path (cuDNN on tensor cores). Plain C declarations. */
#ifndef ENGINE_CUDA_CONV_H
#define ENGINE_CUDA_CONV_H

#include "engine/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether conv2d runs natively in dt on this device: f16 everywhere, bf16
 * from compute capability 8.0. */
bool cuda_conv2d_lowp_native(const Tensor *x, const Tensor *w, ConvParams p, DType dt);
/* y = conv(x, w) (+ bias [O] when not NULL). */
void cuda_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p);
/* x = conv^T(y, w) (+ bias [C] when not NULL): conv2d's input gradient and
 * conv_transpose2d's forward. */
void cuda_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p);
/* gw = sum over the batch of gy (x) unfold(x): conv2d's weight gradient and,
 * with the roles of x and gy swapped, conv_transpose2d's. */
void cuda_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p);

#ifdef __cplusplus
}
#endif

#endif
