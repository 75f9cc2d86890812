/* CUDA 2-D convolution kernels over cuDNN: the twins of engine/cpu/conv.h,
 * same signatures and contracts (x [N, C, H, W] the convolution's input
 * side, y [N, O, OH, OW] its output side, w [O, C/groups, kh, kw], every
 * tensor contiguous f32, sizes from the shapes). Plain C declarations. */
#ifndef ENGINE_CUDA_CONV_H
#define ENGINE_CUDA_CONV_H

#include "engine/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

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
