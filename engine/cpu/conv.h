/* CPU 2-D convolution kernels: an unfold of the input (im2col over the
 * kernel columns) and its fold, plus sgemms per sample and group. Three
 * kernels cover conv2d and conv_transpose2d in both directions, because a
 * transposed convolution is the adjoint of a convolution.
 *
 * Naming is from the convolution's point of view: x [N, C, H, W] is its
 * input side, y [N, O, OH, OW] its output side, w [O, C/groups, kh, kw].
 * Every tensor is contiguous and f32; sizes come from the shapes, so the
 * output side of an adjoint may be larger than the formula's (output_padding).
 * Where cpu_conv2d_lowp_native says so, the inputs of the three (not the
 * output, not a bias) may be bf16 instead: conv2d's native bf16 path. */
#ifndef ENGINE_CPU_CONV_H
#define ENGINE_CPU_CONV_H

#include "engine/ops.h"

/* Whether this layer's convolutions in dt run natively: bf16 only, on
 * oneDNN, in a build with it, on a CPU with bf16 instructions, for the
 * layers oneDNN takes (dnnl_pays). */
bool cpu_conv2d_lowp_native(const Tensor *x, const Tensor *w, ConvParams p, DType dt);
/* y = conv(x, w) (+ bias [O] when not NULL). */
void cpu_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p);
/* x = conv^T(y, w) (+ bias [C] when not NULL): conv2d's input gradient and
 * conv_transpose2d's forward. */
void cpu_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p);
/* gw = sum over the batch of gy (x) unfold(x): conv2d's weight gradient and,
 * with the roles of x and gy swapped, conv_transpose2d's. */
void cpu_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p);

/* The same three on our own kernels only (the ones above may run a layer
 * on oneDNN instead, see conv_dnnl.h): for bench/bench_conv_ab. */
void cpu_conv2d_own(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p);
void cpu_conv2d_transpose_own(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p);
void cpu_conv2d_weight_grad_own(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p);

/* conv2d then max_pool2d in one pass (out = max_pool2d(conv2d(x, w, bias)),
 * y the shape of the convolution's output, codes u8 window codes or NULL),
 * and its backward from the pooled gradient g and the codes: gx and gw, each
 * when not NULL. Where cpu_conv2d_max_pool2d_fused says so (f32, our direct
 * forward, windows of at most 256 cells). The same bits as the two ops one
 * after the other. */
bool cpu_conv2d_max_pool2d_fused(const Tensor *x, const Tensor *w, Shape y, ConvParams cp, PoolParams pp);
void cpu_conv2d_max_pool2d(Tensor *out, Tensor *codes, const Tensor *x, const Tensor *w, const Tensor *bias, Shape y,
                           ConvParams cp, PoolParams pp);
void cpu_conv2d_max_pool2d_backward(Tensor *gx, Tensor *gw, const Tensor *x, const Tensor *w, const Tensor *g,
                                    const Tensor *codes, Shape y, ConvParams cp, PoolParams pp);
#endif
