/* What the fused conv2d + max_pool2d (ops_conv.c) shares with the pooling
 * ops (ops_pool.c): the pooling's parameter checks and output size. */
#ifndef ENGINE_POOL_SHAPE_H
#define ENGINE_POOL_SHAPE_H

#include "engine/ops.h"

/* For a pooling of a 4-D input of shape in: resolves stride 0 to the
 * kernel, checks the parameters and sets the output shape, as PyTorch
 * computes it; false with an error naming op and the sizes otherwise. */
bool pool_output_shape(const char *op, Shape in, PoolParams *p, Shape *out);

#endif
