/* The caching device allocator behind every CUDA storage.
 *
 * cudaMalloc and cudaFree are slow and cudaFree synchronises the device, so
 * freed blocks are kept in free lists bucketed by size and handed to the
 * next request that fits: after the first training step, steps allocate
 * nothing from the driver. Reuse is safe without events because all work
 * runs on one stream (runtime.h): kernels that still read a freed block are
 * queued before any kernel that writes it under its next owner.
 *
 * Sizes are rounded up to CUDA_ALLOC_SMALL_ROUND bytes below
 * CUDA_ALLOC_LARGE_MIN and to CUDA_ALLOC_LARGE_ROUND bytes from there on, so
 * nearby sizes share buckets. When cudaMalloc fails the cache is emptied
 * and the allocation retried once; if it fails again cuda_caching_alloc
 * returns NULL (storage_new turns that into "out of memory: ..."). Plain C. */
#ifndef ENGINE_CUDA_ALLOCATOR_H
#define ENGINE_CUDA_ALLOCATOR_H

#include <stddef.h>

/* inside the C linkage block: .cu files include this header too */
#ifdef __cplusplus
extern "C" {
#endif

#include "engine/memory.h"

#define CUDA_ALLOC_SMALL_ROUND ((size_t)512)
#define CUDA_ALLOC_LARGE_MIN ((size_t)1 << 20)
#define CUDA_ALLOC_LARGE_ROUND ((size_t)2 << 20)

/* A device block of at least nbytes (a valid pointer also for 0), or NULL
 * with an error recorded when there is no device, or NULL without one when
 * device memory is exhausted. */
void *cuda_caching_alloc(size_t nbytes);
/* Returns a block from cuda_caching_alloc to the cache; NULL is a no-op. */
void cuda_caching_free(void *p);
/* Returns a block from cuda_caching_alloc to the driver instead (waits for
 * the stream): for one-off large blocks, such as the workspace of cuDNN's
 * algorithm search, that would otherwise stay reserved for good. */
void cuda_caching_free_to_driver(void *p);
/* Block size a request of nbytes is rounded up to (0 on overflow). */
size_t cuda_caching_round(size_t nbytes);
void cuda_allocator_stats(MemoryStats *out);
/* Gives every cached free block back to the driver (waits for the stream). */
void cuda_allocator_empty_cache(void);
void cuda_allocator_reset_peak(void);

#ifdef __cplusplus
}
#endif

#endif
