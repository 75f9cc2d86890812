/* CUDA elementwise kernels (see elementwise.h): the math of
 * engine/cpu/elementwise.c, element for element, run through the strided
 * launcher of launch.cuh (contiguous fast path, broadcast via stride 0).
 * The scalar formulas mirror the CPU ones exactly (same float operations,
 * same special cases) so both backends agree to rounding. */
extern "C" {
#include "engine/cuda/elementwise.h"
#include "engine/elementwise_math.h"
}
#include "engine/cuda/launch.cuh"

namespace {


template <typename T> __device__ __forceinline__ bool compare_f(BinaryOp op, T a, T b)
{
    switch (op) {
    case BIN_EQ: return a == b;
    case BIN_NE: return a != b;
    case BIN_GT: return a > b;
    case BIN_LT: return a < b;
    case BIN_GE: return a >= b;
    default: return a <= b;
    }
}

/* Operand k of each functor sits at off[k], in the order of the kernel's
 * arguments (output first). */

struct BinaryArith {
    BinaryOp op;
    float *out;
    const float *a, *b;
    __device__ __forceinline__ void operator()(const int64_t *off) const { out[off[0]] = binary_f(op, a[off[1]], b[off[2]]); }
};

template <typename T> struct Compare {
    BinaryOp op;
    uint8_t *out;
    const T *a, *b;
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        out[off[0]] = (uint8_t)compare_f(op, a[off[1]], b[off[2]]);
    }
};

struct Unary {
    UnaryOp op;
    float alpha, beta;
    float *out;
    const float *a;
    __device__ __forceinline__ void operator()(const int64_t *off) const { out[off[0]] = unary_f(op, a[off[1]], alpha, beta); }
};

struct UnaryBackward {
    UnaryOp op;
    float alpha, beta;
    float *grad_in;
    const float *g, *x, *y;
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        grad_in[off[0]] = unary_grad_f(op, g[off[1]], x[off[2]], y[off[3]], alpha, beta);
    }
};

struct Where {
    float *out;
    const uint8_t *cond;
    const float *a, *b;
    __device__ __forceinline__ void operator()(const int64_t *off) const { out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]]; }
};

struct Axpy {
    float alpha;
    float *dst;
    const float *src;
    __device__ __forceinline__ void operator()(const int64_t *off) const { dst[off[0]] += alpha * src[off[1]]; }
};

/* int64 in place, exact: uint64_t arithmetic wraps modulo 2^64 as PyTorch's
 * int64 does, without signed overflow. A scalar operand (src NULL) is the
 * functor's own value. */
struct InplaceI64 {
    BinaryOp op;
    int64_t alpha;
    int64_t *dst;
    const int64_t *src; /* NULL: the operand is alpha */
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        uint64_t d = (uint64_t)dst[off[0]];
        uint64_t s = src ? (uint64_t)src[off[1]] : (uint64_t)alpha;
        uint64_t f = src ? (uint64_t)alpha : 1u;
        uint64_t r = op == BIN_ADD ? d + s * f : op == BIN_SUB ? d - s * f : d * s;
        dst[off[0]] = (int64_t)r;
    }
};

} // namespace

extern "C" void cuda_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b)
{
    const int64_t *strides[3] = {out->strides, a->strides, b->strides};
    if (op < BIN_EQ) {
        launch_elementwise<3>(out->shape, strides, BinaryArith{op, tensor_f32(out), tensor_f32(a), tensor_f32(b)});
    } else if (a->dtype == DT_I64) {
        launch_elementwise<3>(out->shape, strides, Compare<int64_t>{op, tensor_u8(out), tensor_i64(a), tensor_i64(b)});
    } else {
        launch_elementwise<3>(out->shape, strides, Compare<float>{op, tensor_u8(out), tensor_f32(a), tensor_f32(b)});
    }
}

extern "C" void cuda_unary(UnaryOp op, Tensor *out, const Tensor *a, double alpha, double beta)
{
    const int64_t *strides[2] = {out->strides, a->strides};
    launch_elementwise<2>(out->shape, strides, Unary{op, (float)alpha, (float)beta, tensor_f32(out), tensor_f32(a)});
}

extern "C" void cuda_unary_backward(UnaryOp op, Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *y,
                                    double alpha, double beta)
{
    const int64_t *strides[4] = {grad_in->strides, g->strides, x->strides, y->strides};
    launch_elementwise<4>(grad_in->shape, strides,
                          UnaryBackward{op, (float)alpha, (float)beta, tensor_f32(grad_in), tensor_f32(g), tensor_f32(x),
                                        tensor_f32(y)});
}

extern "C" void cuda_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b)
{
    const int64_t *strides[4] = {out->strides, cond->strides, a->strides, b->strides};
    launch_elementwise<4>(out->shape, strides, Where{tensor_f32(out), tensor_u8(cond), tensor_f32(a), tensor_f32(b)});
}

extern "C" void cuda_axpy(Tensor *dst, const Tensor *src, double alpha)
{
    const int64_t *strides[2] = {dst->strides, src->strides};
    launch_elementwise<2>(dst->shape, strides, Axpy{(float)alpha, tensor_f32(dst), tensor_f32(src)});
}

extern "C" void cuda_inplace_i64(BinaryOp op, Tensor *dst, const Tensor *src, int64_t alpha)
{
    static const int64_t zero_strides[MAX_DIMS] = {0};
    const int64_t *strides[2] = {dst->strides, src ? src->strides : zero_strides};
    launch_elementwise<2>(dst->shape, strides, InplaceI64{op, alpha, tensor_i64(dst), src ? tensor_i64(src) : NULL});
}
