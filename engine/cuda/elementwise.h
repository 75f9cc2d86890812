/* CUDA elementwise kernels: the twins of engine/cpu/elementwise.h, with the
 * same signatures and contracts. Inputs arrive already broadcast to out's
 * shape (stride 0 where broadcast) and may be strided. Plain C. */
#ifndef ENGINE_CUDA_ELEMENTWISE_H
#define ENGINE_CUDA_ELEMENTWISE_H

/* inside the C linkage block: .cu files include this header too */
#ifdef __cplusplus
extern "C" {
#endif

#include "engine/elementwise_ops.h"
#include "engine/tensor.h"

/* f32 arithmetic; comparisons take f32 or i64 inputs of one dtype and write u8. */
void cuda_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b);
void cuda_unary(UnaryOp op, Tensor *out, const Tensor *a, double alpha, double beta);
/* grad_in = g * d op(x)/dx, given the input x and the forward output y. */
void cuda_unary_backward(UnaryOp op, Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *y, double alpha,
                         double beta);
/* out = cond ? a : b (cond u8). */
void cuda_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b);
/* dst += alpha * src, in place (src broadcast to dst). */
void cuda_axpy(Tensor *dst, const Tensor *src, double alpha);
/* int64 in place, exact and wrapping: dst op= src * alpha (see cpu_inplace_i64). */
void cuda_inplace_i64(BinaryOp op, Tensor *dst, const Tensor *src, int64_t alpha);

#ifdef __cplusplus
}
#endif

#endif
