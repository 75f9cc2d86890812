/* CPU elementwise kernels over strided loops, parallel with OpenMP. */
#include "engine/cpu/elementwise.h"

#include <math.h>

#include "engine/cpu/fork.h"
#include "engine/cpu/strided.h"
#include "engine/elementwise_math.h"

/* Every unary op code, for loops specialised per op: with the op a
 * constant, unary_f folds to one expression and the loop vectorises (a
 * switch inside the loop would stop that). */
#define FOR_EACH_UNARY(M)                                                                                        \
    M(UN_ADD_SCALAR) M(UN_MUL_SCALAR) M(UN_NEG) M(UN_POW) M(UN_EXP) M(UN_LOG) M(UN_SQRT) M(UN_ABS) M(UN_CLAMP) \
    M(UN_RELU) M(UN_LEAKY_RELU) M(UN_SIGMOID) M(UN_TANH) M(UN_GELU) M(UN_SIGN)


/* One loop per comparison, the op chosen once per row: a test of the op
 * inside the loop costs more than the comparison itself (the metrics'
 * [batch, classes] masks are made of such rows). */
#define COMPARE_LOOPS(T)                                                                                  \
    do {                                                                                                  \
        const T *pa = (const T *)tensor_data(a) + off[1], *pb = (const T *)tensor_data(b) + off[2];       \
        switch (op) {                                                                                     \
        case BIN_EQ: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] == pb[i * sb]; break; \
        case BIN_NE: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] != pb[i * sb]; break; \
        case BIN_GT: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] > pb[i * sb]; break;  \
        case BIN_LT: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] < pb[i * sb]; break;  \
        case BIN_GE: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] >= pb[i * sb]; break; \
        default: for (int64_t i = 0; i < L.inner; i++) po[i * so] = pa[i * sa] <= pb[i * sb]; break;     \
        }                                                                                                 \
    } while (0)

#define BINARY_LOOPS(A, B)                                                         \
    switch (op) {                                                                  \
    case BIN_ADD: for (int64_t i = 0; i < L.inner; i++) po[i] = (A) + (B); break; \
    case BIN_SUB: for (int64_t i = 0; i < L.inner; i++) po[i] = (A) - (B); break; \
    case BIN_MUL: for (int64_t i = 0; i < L.inner; i++) po[i] = (A) * (B); break; \
    case BIN_DIV: for (int64_t i = 0; i < L.inner; i++) po[i] = (A) / (B); break; \
    default: break;                                                                \
    }

void cpu_binary(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b)
{
    const int64_t *strides[3] = {out->strides, a->strides, b->strides};
    StridedLoop L;
    strided_loop_init(&L, out->shape, 3, strides);
    int64_t total = L.outer * L.inner;
    bool compare = op >= BIN_EQ;
    if (!compare && L.ndim_outer == 1 && L.inner_stride[0] == 1 && L.inner_stride[1] == 1 && L.inner_stride[2] == 0) {
        /* rows of a against one value of b each: x [N, C, H, W] times a
         * mask [N, C, 1, 1] (dropout2d) is N * C rows of H * W, short ones
         * (16 for MnistModel's conv2), which should cost their values and
         * little more than the general loop's per-row work below */
        CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
            float *po = tensor_f32(out) + o * L.outer_stride[0][0];
            const float *pa = tensor_f32(a) + o * L.outer_stride[1][0];
            const float vb = tensor_f32(b)[o * L.outer_stride[2][0]];
            BINARY_LOOPS(pa[i], vb)
        });
        return;
    }
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[3];
        strided_offsets(&L, o, off);
        int64_t so = L.inner_stride[0], sa = L.inner_stride[1], sb = L.inner_stride[2];
        if (compare) {
            uint8_t *po = tensor_u8(out) + off[0];
            if (a->dtype == DT_I64)
                COMPARE_LOOPS(int64_t);
            else
                COMPARE_LOOPS(float);
            continue;
        }
        float *po = tensor_f32(out) + off[0];
        const float *pa = tensor_f32(a) + off[1], *pb = tensor_f32(b) + off[2];
        /* separate loops per op so the compiler vectorises each; besides
         * the dense case, a row of one operand against one value of the
         * other (a per-channel mask or scale broadcast over a plane, as
         * dropout2d's: the general loop below stays scalar) */
        if (so == 1 && sa == 1 && sb == 1) {
            BINARY_LOOPS(pa[i], pb[i])
        } else if (so == 1 && sa == 1 && sb == 0) {
            const float vb = pb[0];
            BINARY_LOOPS(pa[i], vb)
        } else if (so == 1 && sa == 0 && sb == 1) {
            const float va = pa[0];
            BINARY_LOOPS(va, pb[i])
        } else {
            for (int64_t i = 0; i < L.inner; i++) po[i * so] = binary_f(op, pa[i * sa], pb[i * sb]);
        }
    });
}

#define UNARY_CONTIGUOUS(OPC) \
    case OPC: for (int64_t i = 0; i < L.inner; i++) po[i] = unary_f(OPC, pa[i], fa, fb); break;

void cpu_unary(UnaryOp op, Tensor *out, const Tensor *a, double alpha, double beta)
{
    const int64_t *strides[2] = {out->strides, a->strides};
    StridedLoop L;
    strided_loop_init(&L, out->shape, 2, strides);
    int64_t total = L.outer * L.inner;
    float fa = (float)alpha, fb = (float)beta;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN / 4, {
        int64_t off[2];
        strided_offsets(&L, o, off);
        float *po = tensor_f32(out) + off[0];
        const float *pa = tensor_f32(a) + off[1];
        int64_t so = L.inner_stride[0], sa = L.inner_stride[1];
        if (so == 1 && sa == 1) {
            switch (op) { FOR_EACH_UNARY(UNARY_CONTIGUOUS) }
        } else {
            for (int64_t i = 0; i < L.inner; i++) po[i * so] = unary_f(op, pa[i * sa], fa, fb);
        }
    });
}

#define UNARY_GRAD_CONTIGUOUS(OPC) \
    case OPC: for (int64_t i = 0; i < L.inner; i++) pgi[i] = unary_grad_f(OPC, pg[i], px[i], py[i], fa, fb); break;

void cpu_unary_backward(UnaryOp op, Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *y, double alpha,
                        double beta)
{
    const int64_t *strides[4] = {grad_in->strides, g->strides, x->strides, y->strides};
    StridedLoop L;
    strided_loop_init(&L, grad_in->shape, 4, strides);
    int64_t total = L.outer * L.inner;
    float fa = (float)alpha, fb = (float)beta;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN / 4, {
        int64_t off[4];
        strided_offsets(&L, o, off);
        float *pgi = tensor_f32(grad_in) + off[0];
        const float *pg = tensor_f32(g) + off[1], *px = tensor_f32(x) + off[2], *py = tensor_f32(y) + off[3];
        int64_t s0 = L.inner_stride[0], s1 = L.inner_stride[1], s2 = L.inner_stride[2], s3 = L.inner_stride[3];
        if (s0 == 1 && s1 == 1 && s2 == 1 && s3 == 1) {
            switch (op) { FOR_EACH_UNARY(UNARY_GRAD_CONTIGUOUS) }
        } else {
            for (int64_t i = 0; i < L.inner; i++)
                pgi[i * s0] = unary_grad_f(op, pg[i * s1], px[i * s2], py[i * s3], fa, fb);
        }
    });
}

void cpu_where(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b)
{
    const int64_t *strides[4] = {out->strides, cond->strides, a->strides, b->strides};
    StridedLoop L;
    strided_loop_init(&L, out->shape, 4, strides);
    int64_t total = L.outer * L.inner;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[4];
        strided_offsets(&L, o, off);
        float *po = tensor_f32(out) + off[0];
        const uint8_t *pc = tensor_u8(cond) + off[1];
        const float *pa = tensor_f32(a) + off[2], *pb = tensor_f32(b) + off[3];
        for (int64_t i = 0; i < L.inner; i++)
            po[i * L.inner_stride[0]] = pc[i * L.inner_stride[1]] ? pa[i * L.inner_stride[2]] : pb[i * L.inner_stride[3]];
    });
}

void cpu_axpy(Tensor *dst, const Tensor *src, double alpha)
{
    const int64_t *strides[2] = {dst->strides, src->strides};
    StridedLoop L;
    strided_loop_init(&L, dst->shape, 2, strides);
    int64_t total = L.outer * L.inner;
    float fa = (float)alpha;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[2];
        strided_offsets(&L, o, off);
        float *pd = tensor_f32(dst) + off[0];
        const float *ps = tensor_f32(src) + off[1];
        int64_t sd = L.inner_stride[0], ss = L.inner_stride[1];
        if (sd == 1 && ss == 1) {
            for (int64_t i = 0; i < L.inner; i++) pd[i] += fa * ps[i];
        } else {
            for (int64_t i = 0; i < L.inner; i++) pd[i * sd] += fa * ps[i * ss];
        }
    });
}

/* Two's-complement wrap without signed overflow (undefined in C): the
 * arithmetic is done on uint64_t, whose results are exact modulo 2^64. */
static inline int64_t wrap_i64(uint64_t v) { return (int64_t)v; }

static inline int64_t inplace_i64_f(BinaryOp op, int64_t d, int64_t s, int64_t alpha)
{
    uint64_t ud = (uint64_t)d, us = (uint64_t)s, ua = (uint64_t)alpha;
    switch (op) {
    case BIN_ADD: return wrap_i64(ud + us * ua);
    case BIN_SUB: return wrap_i64(ud - us * ua);
    default: return wrap_i64(ud * us);
    }
}

void cpu_inplace_i64(BinaryOp op, Tensor *dst, const Tensor *src, int64_t alpha)
{
    /* a scalar operand is a stride-0 operand of value alpha, multiplied by 1 */
    static const int64_t zero_strides[MAX_DIMS] = {0};
    const int64_t *strides[2] = {dst->strides, src ? src->strides : zero_strides};
    StridedLoop L;
    strided_loop_init(&L, dst->shape, 2, strides);
    int64_t total = L.outer * L.inner;
    const int64_t scalar = alpha;
    const int64_t *ps0 = src ? tensor_i64(src) : &scalar;
    const int64_t factor = src ? alpha : 1;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[2];
        strided_offsets(&L, o, off);
        int64_t *pd = tensor_i64(dst) + off[0];
        const int64_t *ps = ps0 + off[1];
        int64_t sd = L.inner_stride[0], ss = L.inner_stride[1];
        for (int64_t i = 0; i < L.inner; i++) pd[i * sd] = inplace_i64_f(op, pd[i * sd], ps[i * ss], factor);
    });
}
