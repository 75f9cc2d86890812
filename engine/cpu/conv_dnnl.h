/* CPU convolutions through oneDNN (Debian's libdnnl), when the build found
 * it: the same three kernels as conv.h, for the layers where oneDNN's
 * kernels beat our sgemms (conv.c decides which; measured with
 * bench/bench_conv_ab). Each returns false, having written nothing, when
 * oneDNN is missing or cannot run the case; the caller's own kernel runs
 * then. Tensors as in conv.h: contiguous f32 NCHW / OIHW, or bf16 inputs
 * (the output and a bias f32). */
#ifndef ENGINE_CPU_CONV_DNNL_H
#define ENGINE_CPU_CONV_DNNL_H

#include <stdbool.h>

#include "engine/ops.h"

/* Whether the build has oneDNN and its engine starts. */
bool dnnl_conv_available(void);
/* y = conv(x, w) (+ bias [O] when not NULL). */
bool dnnl_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p);
/* x = conv^T(y, w), no bias: conv2d's input gradient. */
bool dnnl_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, ConvParams p);
/* gw = conv2d's weight gradient from x and gy. */
bool dnnl_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p);

#endif
