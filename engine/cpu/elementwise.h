/* CPU elementwise kernels. Inputs arrive already broadcast to out's shape
 * (stride 0 where broadcast); out is freshly allocated and contiguous. */
#ifndef ENGINE_CPU_ELEMENTWISE_H
#define ENGINE_CPU_ELEMENTWISE_H

#include "engine/elementwise_ops.h"
#include "engine/tensor.h"

/* f32 arithmetic; comparisons take f32 or i64 inputs of one dtype and write u8. */
void cpu_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b);
void cpu_unary(UnaryOp op, Tensor *out, const Tensor *a, double alpha, double beta);
/* grad_in = g * d op(x)/dx, given the input x and the forward output y. */
void cpu_unary_backward(UnaryOp op, Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *y, double alpha,
                        double beta);
/* out = cond ? a : b (cond u8). */
void cpu_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b);
/* dst += alpha * src, in place (src broadcast to dst). */
void cpu_axpy(Tensor *dst, const Tensor *src, double alpha);
/* int64 in place, exact: dst = dst + src * alpha (BIN_ADD), dst - src * alpha
 * (BIN_SUB) or dst * src (BIN_MUL, alpha unused); with src NULL the operand
 * is alpha itself. Overflow wraps around (two's complement), as PyTorch's
 * int64 arithmetic does. src arrives broadcast to dst. */
void cpu_inplace_i64(BinaryOp op, Tensor *dst, const Tensor *src, int64_t alpha);

#endif
