/* CUDA elementwise kernels (see elementwise.h): the math of
 * engine/cpu/elementwise.c, element for element, run through the strided
 * launcher of launch.cuh (contiguous fast path, broadcast via stride 0).
 * The scalar formulas mirror the CPU ones exactly (same float operations,
 * same special cases) so both backends agree to rounding. */
extern "C" {
#include "engine/cuda/elementwise.h"
}
#include "engine/cuda/launch.cuh"

namespace {

__device__ __forceinline__ float unary_f(UnaryOp op, float x, float alpha, float beta)
{
    switch (op) {
    case UN_ADD_SCALAR: return x + alpha;
    case UN_MUL_SCALAR: return x * alpha;
    case UN_NEG: return -x;
    case UN_POW: return alpha == 2.0f ? x * x : powf(x, alpha);
    case UN_EXP: return expf(x);
    case UN_LOG: return logf(x);
    case UN_SQRT: return sqrtf(x);
    case UN_ABS: return fabsf(x);
    case UN_CLAMP: return fminf(fmaxf(x, alpha), beta);
    case UN_RELU: return x > 0.0f ? x : 0.0f;
    case UN_LEAKY_RELU: return x > 0.0f ? x : x * alpha;
    case UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case UN_TANH: return tanhf(x);
    case UN_GELU:
        if (alpha != 0.0f) {
            const float k = 0.7978845608028654f; /* sqrt(2/pi) */
            return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
        }
        return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case UN_SIGN: return (float)((x > 0.0f) - (x < 0.0f));
    }
    return 0.0f;
}

/* d op / dx times g. */
__device__ __forceinline__ float unary_grad_f(UnaryOp op, float g, float x, float y, float alpha, float beta)
{
    switch (op) {
    case UN_ADD_SCALAR: return g;
    case UN_MUL_SCALAR: return g * alpha;
    case UN_NEG: return -g;
    case UN_POW: return alpha == 0.0f ? 0.0f : g * alpha * powf(x, alpha - 1.0f);
    case UN_EXP: return g * y;
    case UN_LOG: return g / x;
    case UN_SQRT: return g / (2.0f * y);
    case UN_ABS: return g * (float)((x > 0.0f) - (x < 0.0f));
    case UN_CLAMP: return (x >= alpha && x <= beta) ? g : 0.0f;
    case UN_RELU: return y > 0.0f ? g : 0.0f;
    case UN_LEAKY_RELU: return x > 0.0f ? g : g * alpha;
    case UN_SIGMOID: return g * y * (1.0f - y);
    case UN_TANH: return g * (1.0f - y * y);
    case UN_GELU:
        if (alpha != 0.0f) {
            const float k = 0.7978845608028654f;
            float inner = k * (x + 0.044715f * x * x * x);
            float th = tanhf(inner);
            float dinner = k * (1.0f + 3.0f * 0.044715f * x * x);
            return g * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * dinner);
        } else {
            float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
            float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
            return g * (cdf + x * pdf);
        }
    case UN_SIGN: return 0.0f;
    }
    return 0.0f;
}

__device__ __forceinline__ float binary_f(BinaryOp op, float a, float b)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    default: return 0.0f;
    }
}

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
