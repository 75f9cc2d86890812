/* The scalar math of the elementwise ops, shared by the CPU kernels and
 * the CUDA kernels (see hostdev.h), so both
 * backends compute every op with the same float operations. */
#ifndef ENGINE_ELEMENTWISE_MATH_H
#define ENGINE_ELEMENTWISE_MATH_H

#include <math.h>

#include "engine/elementwise_ops.h"
#include "engine/hostdev.h"

ENGINE_HOSTDEV float unary_f(UnaryOp op, float x, float alpha, float beta)
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
ENGINE_HOSTDEV float unary_grad_f(UnaryOp op, float g, float x, float y, float alpha, float beta)
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

ENGINE_HOSTDEV float binary_f(BinaryOp op, float a, float b)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    default: return 0.0f;
    }
}

#endif
