/* The scalar math of the elementwise ops, shared by the CPU kernels and
 * the CUDA kernels (see hostdev.h), so both
 * backends compute every op with the same float operations. */
#ifndef ENGINE_ELEMENTWISE_MATH_H
#define ENGINE_ELEMENTWISE_MATH_H

#include <math.h>

#include "engine/elementwise_ops.h"
#include "engine/hostdev.h"

/* x^e as PyTorch computes it: the exponents 0, 1, +-0.5, -1, 2, 3 and -2
 * through their own formulas (sqrt, reciprocal, products), the others
 * through powf. They differ from powf at some inputs: (-inf)^0.5 is NaN
 * (sqrt) where powf gives +inf, and so is the gradient of x^1.5 at -inf
 * (1.5 * (-inf)^0.5). */
ENGINE_HOSTDEV float pow_f(float x, float e)
{
    if (e == 0.0f) return 1.0f;
    if (e == 1.0f) return x;
    if (e == 0.5f) return sqrtf(x);
    if (e == -0.5f) return 1.0f / sqrtf(x);
    if (e == -1.0f) return 1.0f / x;
    if (e == 2.0f) return x * x;
    if (e == 3.0f) return x * x * x;
    if (e == -2.0f) return 1.0f / (x * x);
    return powf(x, e);
}

/* min(max(x, lo), hi) with NaN kept (fmaxf/fminf would replace it with a
 * bound); hi wins when lo > hi, as in PyTorch. */
ENGINE_HOSTDEV float clamp_f(float x, float lo, float hi)
{
    float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

ENGINE_HOSTDEV float unary_f(UnaryOp op, float x, float alpha, float beta)
{
    switch (op) {
    case UN_ADD_SCALAR: return x + alpha;
    case UN_MUL_SCALAR: return x * alpha;
    case UN_NEG: return -x;
    case UN_POW: return pow_f(x, alpha);
    case UN_EXP: return expf(x);
    case UN_LOG: return logf(x);
    case UN_SQRT: return sqrtf(x);
    case UN_ABS: return fabsf(x);
    case UN_CLAMP: return clamp_f(x, alpha, beta);
    case UN_RELU: return x <= 0.0f ? 0.0f : x; /* NaN stays NaN */
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

/* d op / dx times g, in PyTorch's formulas (which decide the result at
 * NaN and +-Inf: relu passes g where its output is NaN, clamp passes 0). */
ENGINE_HOSTDEV float unary_grad_f(UnaryOp op, float g, float x, float y, float alpha, float beta)
{
    switch (op) {
    case UN_ADD_SCALAR: return g;
    case UN_MUL_SCALAR: return g * alpha;
    case UN_NEG: return -g;
    case UN_POW: return alpha == 0.0f ? 0.0f : g * (alpha * pow_f(x, alpha - 1.0f));
    case UN_EXP: return g * y;
    case UN_LOG: return g / x;
    case UN_SQRT: return g / (2.0f * y);
    case UN_ABS: return g * (float)((x > 0.0f) - (x < 0.0f));
    case UN_CLAMP: return (x >= alpha && x <= beta) ? g : 0.0f;
    case UN_RELU: return y <= 0.0f ? 0.0f : g;
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
