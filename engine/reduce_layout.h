/* How reduction kernels of every backend walk their input: the dims with
 * size-1 dims dropped and neighbours of one kind (both reduced or both kept)
 * that step through memory as one dim merged. Host code. */
#ifndef ENGINE_REDUCE_LAYOUT_H
#define ENGINE_REDUCE_LAYOUT_H

#include <stdbool.h>

#include "engine/tensor.h"

typedef struct {
    int n;
    int64_t size[MAX_DIMS], stride[MAX_DIMS];
    bool reduced[MAX_DIMS];
} DimGroups;

static inline void group_dims(const Tensor *in, const bool *reduce, DimGroups *g)
{
    g->n = 0;
    for (int d = 0; d < in->shape.ndim; d++) {
        int64_t size = in->shape.d[d], stride = in->strides[d];
        if (size == 1) continue;
        int last = g->n - 1;
        if (last >= 0 && g->reduced[last] == reduce[d] && g->stride[last] == stride * size) {
            g->size[last] *= size;
            g->stride[last] = stride;
            continue;
        }
        g->size[g->n] = size;
        g->stride[g->n] = stride;
        g->reduced[g->n] = reduce[d];
        g->n++;
    }
}

#endif
