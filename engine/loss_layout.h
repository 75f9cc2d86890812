/* How nll_loss kernels of every backend address their input: [N, C, S...]
 * flattened to [N, C, S] with one target per (n, s). */
#ifndef ENGINE_LOSS_LAYOUT_H
#define ENGINE_LOSS_LAYOUT_H

#include "engine/hostdev.h"
#include "engine/tensor.h"

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
