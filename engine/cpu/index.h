/* CPU indexing kernels: gather (which also serves index_select and
 * embedding), scatter-add, index-add, constant padding, one-hot, and the
 * min/max scan behind every index bounds check. Index values arrive already
 * checked to be in range. Accumulating kernels give each output element to
 * one thread and add into it in a fixed order, so results do not depend on
 * the thread count. */
#ifndef ENGINE_CPU_INDEX_H
#define ENGINE_CPU_INDEX_H

#include <stdint.h>

#include "engine/tensor.h"

/* Smallest and largest value of an i64 tensor (any strides); for an empty
 * tensor *min = INT64_MAX and *max = INT64_MIN. */
void cpu_index_range(const Tensor *index, int64_t *min, int64_t *max);
/* out[c] = src[c with c[dim] replaced by index[c]] for every c in out's
 * shape. out is fresh and contiguous; src and index may have any strides
 * (index may be a broadcast view). Any dtype (out and src share it). */
void cpu_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index);
/* out[c with c[dim] replaced by index[c]] += src[c] for every c in index's
 * shape. out is fresh (injective strides); index and src any strides. */
void cpu_scatter_add(Tensor *out, int dim, const Tensor *index, const Tensor *src);
/* out.select(dim, index[i]) += src.select(dim, i) for every i, skipping i
 * where index[i] == skip (pass -1 to skip nothing). f32; out, src and the
 * 0- or 1-dim index contiguous. */
void cpu_index_add(Tensor *out, int dim, const Tensor *index, const Tensor *src, int64_t skip);
/* out = in shifted by before[d] along each dim (negative crops), with value
 * everywhere in does not reach. out is fresh and contiguous; in any strides;
 * the same dtype. */
void cpu_pad(Tensor *out, const Tensor *in, const int64_t *before, double value);
/* out (i64, zeroed, contiguous [..., C]) gets 1 at [i, indices[i]]; indices
 * contiguous. */
void cpu_one_hot(Tensor *out, const Tensor *indices);

#endif
