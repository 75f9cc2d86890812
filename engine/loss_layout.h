/* What the loss kernels of every backend share: how nll_loss addresses its
 * input ([N, C, S...] flattened to [N, C, S] with one target per (n, s)),
 * and which pointwise loss a kernel computes. */
#ifndef ENGINE_LOSS_LAYOUT_H
#define ENGINE_LOSS_LAYOUT_H

#include "engine/hostdev.h"
#include "engine/tensor.h"

typedef enum {
    POINTWISE_MSE,
    POINTWISE_L1,
    POINTWISE_BCE,        /* x probabilities; logs clamped to >= -100 */
    POINTWISE_BCE_LOGITS, /* x logits; pos_weight scales the positive term */
} PointwiseLoss;

typedef struct {
    int64_t C, S, count; /* classes, positions per sample, targets (N * S) */
} NllLayout;

static inline NllLayout nll_layout(const Tensor *input, const Tensor *target)
{
    NllLayout l;
    l.C = input->shape.d[1];
    l.count = tensor_numel(target);
    l.S = input->shape.d[0] > 0 ? l.count / input->shape.d[0] : 0;
    return l;
}

/* Element offset in input [N, C, S] of class c for target position i = n * S + s. */
ENGINE_HOSTDEV int64_t nll_offset(NllLayout l, int64_t i, int64_t c)
{
    int64_t n = i / l.S, s = i % l.S;
    return (n * l.C + c) * l.S + s;
}

#endif
