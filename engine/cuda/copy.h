/* CUDA kernels for raw memory and element copies: the twins of
 * engine/cpu/copy.h, with the same signatures and contracts. Plain C. */
#ifndef ENGINE_CUDA_COPY_H
#define ENGINE_CUDA_COPY_H

#include <stddef.h>

/* inside the C linkage block: .cu files include this header too */
#ifdef __cplusplus
extern "C" {
#endif

#include "engine/tensor.h"

/* Device memory from the caching allocator (allocator.h); NULL when it is
 * exhausted. */
void *cuda_alloc(size_t nbytes);
void cuda_free(void *p);
/* dst = src elementwise; src already has dst's shape (stride 0 where
 * broadcast); converts dtype when they differ, as cpu_copy does. */
void cuda_copy(Tensor *dst, const Tensor *src);
/* Every element of t = value (converted to t's dtype). */
void cuda_fill(Tensor *t, double value);
/* Host <-> device transfers of nbytes, staged through a small cached pinned
 * buffer. to_host returns once dst holds the data (after all queued work);
 * from_host returns once src has been read, so the caller may reuse it,
 * while the transfer to the device may still be in flight on the stream. */
void cuda_memcpy_to_host(void *dst, const void *src, size_t nbytes);
void cuda_memcpy_from_host(void *dst, const void *src, size_t nbytes);

#ifdef __cplusplus
}
#endif

#endif
