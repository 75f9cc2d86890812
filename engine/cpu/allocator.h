/* The caching host allocator behind every CPU storage.
 *
 * Why: glibc serves blocks above its mmap threshold (at most 32 MiB on
 * 64-bit) with mmap and gives them back with munmap on free, so a training
 * step whose activations are tens of MiB maps them again every step and
 * takes a page fault for every 4 KiB it touches. ResNet-18 at batch 256
 * (activations of 64 MiB) took 2.0 million page faults per step and 18.1 s;
 * with glibc's mmap and trim thresholds raised out of the way the same step
 * took 11.1 s. Blocks of a few hundred KiB suffer too, from glibc trimming
 * and regrowing the top of its heap: a MnistModel epoch (batch 128, blocks
 * of 164-737 KiB) took 578,000 page faults with a 1 MiB threshold here and
 * 20,800 with 64 KiB. So, as on the GPU, blocks of CPU_ALLOC_CACHE_MIN
 * bytes and more are kept when freed, in free lists bucketed by size, and
 * handed to the next request of the same bucket: after the first step, a
 * training loop's tensors reuse the previous step's pages. Smaller blocks go
 * straight to malloc/free.
 *
 * Buckets: large sizes are rounded up to one of four classes per power of
 * two (1, 1.25, 1.5 and 1.75 times 2^k), so nearby sizes share a bucket and
 * a block is at most a quarter bigger than its request.
 *
 * Footprint: the cache never lets reserved bytes (large blocks held by
 * tensors plus cached ones) grow past CPU_ALLOC_RESERVE_FACTOR times the
 * highest number of bytes tensors have held in large blocks at once. A
 * request that misses the cache first returns the least recently freed
 * cached blocks to the OS until the new block fits under that bound. A
 * steady training loop reserves exactly its peak; a phase with other sizes
 * (an eval pass with a bigger batch, a smaller last batch) adds its blocks
 * beside the training ones while they fit under the bound, so alternating
 * phases keep both; workloads whose sizes keep changing evict the stale
 * ones instead of growing without bound. device_empty_cache(CPU) returns
 * every cached block at once. If malloc fails the cache is emptied and the
 * allocation retried once.
 *
 * Affinity: the free lists are kept per CPU. A block goes back to the
 * lists of the CPU that took it last, whichever thread frees it, and a
 * request takes from its own CPU's lists first (another CPU's only when
 * those are empty, so the bound above and the reuse hold as before). Its
 * lines are then likely still in that core's caches, where the last
 * taker wrote them. With one list, the batch split's shards (each on its
 * thread, all freed by the main thread at the end of the step) took each
 * other's blocks from step to step, and every write then fetched the line
 * from the other core: 240 ns one way between the two vCPUs of the
 * 2-core Zen 5 machine we measured on (its cores sit on different CCDs).
 * Per-CPU lists made the default config's steady epoch on 2 threads 7-8%
 * shorter there (1 thread: unchanged).
 *
 * Every block is aligned to CPU_ALLOC_ALIGN bytes (AVX-512 loads, cache
 * lines). Thread-safe: the cache is guarded by one mutex; small blocks take
 * no lock. Under AddressSanitizer, cached blocks and the slack past each
 * request are poisoned, so a use after free or an overflow into the
 * rounding slack is still reported. */
#ifndef ENGINE_CPU_ALLOCATOR_H
#define ENGINE_CPU_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

#define CPU_ALLOC_ALIGN ((size_t)64)
#define CPU_ALLOC_CACHE_MIN ((size_t)64 << 10)
#define CPU_ALLOC_RESERVE_FACTOR 2

/* A block of at least nbytes aligned to CPU_ALLOC_ALIGN (a distinct valid
 * pointer also for 0), or NULL when memory is exhausted. */
void *cpu_caching_alloc(size_t nbytes);
/* n floats (at least one) from cpu_caching_alloc, for kernels' scratch:
 * exhausted memory is an engine assertion, not NULL. */
float *cpu_caching_alloc_floats(int64_t n);
/* Returns a block from cpu_caching_alloc (to the cache when large); NULL is
 * a no-op. */
void cpu_caching_free(void *p);
/* Block size a request of nbytes gets: nbytes itself below
 * CPU_ALLOC_CACHE_MIN, its bucket's size from there on (0 on overflow). */
size_t cpu_caching_round(size_t nbytes);
/* Gives every cached free block back to the OS (live blocks stay). */
void cpu_allocator_empty_cache(void);

/* The cache's own counters, for tests and diagnostics (device_memory_stats
 * stays all zeros for the CPU). Only blocks of CPU_ALLOC_CACHE_MIN bytes and
 * more are counted, at their rounded sizes. */
typedef struct {
    size_t live_bytes;   /* held by callers */
    size_t cached_bytes; /* freed, kept for reuse */
    size_t cached_blocks;
    size_t peak_live_bytes; /* highest live_bytes so far */
} CpuAllocatorStats;
void cpu_allocator_stats(CpuAllocatorStats *out);

#endif
