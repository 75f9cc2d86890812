/* CPU reduction kernels (reduce.c and reduce_rows.c; reduce_dim.c for the
 * single-dim ones).
 *
 * The all-or-some-dims kernels take out contiguous in the keepdim shape (1 on
 * every reduced dim) and a mask of the reduced dims; in may have any strides.
 * The single-dim kernels (max/min with indices) take contiguous tensors. */
#ifndef ENGINE_CPU_REDUCE_H
#define ENGINE_CPU_REDUCE_H

#include <stdbool.h>

#include "engine/tensor.h"

/* out = sum of in over the dims where reduce[d] is true; accumulates in double. */
void cpu_sum(Tensor *out, const Tensor *in, const bool *reduce);
/* out = the mean over the reduced dims (NaN when they are empty). */
void cpu_mean(Tensor *out, const Tensor *in, const bool *reduce);
/* out = sum((in - mean)^2) / max(n - correction, 0) over the reduced dims
 * (two passes in double), its square root when take_sqrt. */
void cpu_var(Tensor *out, const Tensor *in, const bool *reduce, int correction, bool take_sqrt);
/* out = the largest (smallest) value over the reduced dims; NaN propagates. */
void cpu_amax(Tensor *out, const Tensor *in, const bool *reduce);
void cpu_amin(Tensor *out, const Tensor *in, const bool *reduce);

/* For contiguous in, with dim of size D > 0: values (f32, may be NULL) and
 * indices (i64), both contiguous in the keepdim shape, get the largest
 * (smallest when !is_max) value along dim and its index; the first one wins
 * ties, and NaN counts as larger than everything (PyTorch's rule). */
void cpu_max_dim(Tensor *values, Tensor *indices, const Tensor *in, int dim, bool is_max);
/* dst (contiguous, zero-filled by the caller) gets src at the positions
 * indices give along dim: dst[.., indices[.., 0, ..], ..] = src[.., 0, ..];
 * src and indices are contiguous in dst's shape with 1 at dim. */
void cpu_put_along_dim(Tensor *dst, const Tensor *src, const Tensor *indices, int dim);

#endif
