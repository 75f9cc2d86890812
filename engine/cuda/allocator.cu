/* The caching device allocator (see allocator.h): size-bucketed free lists
 * over cudaMalloc'd blocks, with allocated / reserved / peak statistics.
 * Blocks are never split or merged: a training loop asks for the same sizes
 * every step, so exact-size buckets (plus a little slack) already serve
 * every request from the cache, and there is no fragmentation bookkeeping. */
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

extern "C" {
#include "engine/cuda/allocator.h"
#include "engine/cuda/runtime.h"
}
#include "engine/cuda/check.h"

namespace {

/* A cached block may serve a request up to a quarter smaller than itself:
 * a smaller last batch reuses the full batches' blocks instead of
 * reserving new ones, without letting tiny requests pin huge blocks. */
bool block_fits(size_t block, size_t want) { return block >= want && block - want <= want / 4; }

struct Cache {
    std::mutex lock;
    std::map<size_t, std::vector<void *>> free_blocks; /* block size -> cached blocks */
    std::unordered_map<void *, size_t> live;           /* block -> size, for blocks tensors hold */
    size_t allocated = 0, reserved = 0, peak = 0;
};

Cache &cache()
{
    /* never destroyed: persistent storages may be released during exit */
    static Cache *c = new Cache;
    return *c;
}

/* A cached block for a request of size bytes, or NULL. Caller holds the lock. */
void *take_cached(Cache &c, size_t size, size_t *block_size)
{
    auto it = c.free_blocks.lower_bound(size);
    if (it == c.free_blocks.end() || !block_fits(it->first, size)) return nullptr;
    void *p = it->second.back();
    it->second.pop_back();
    *block_size = it->first;
    if (it->second.empty()) c.free_blocks.erase(it);
    return p;
}

/* Frees every cached block. Caller holds the lock. */
void release_cached(Cache &c)
{
    if (c.free_blocks.empty()) return;
    /* blocks may still be read by queued kernels: let them finish first */
    cuda_synchronize();
    for (auto &bucket : c.free_blocks) {
        for (void *p : bucket.second) CUDA_CHECK(cudaFree(p));
        c.reserved -= bucket.first * bucket.second.size();
    }
    c.free_blocks.clear();
}

/* cudaMalloc that reports exhaustion as NULL; other failures abort. */
void *device_malloc(size_t size)
{
    void *p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError(); /* not sticky: clear it so later launch checks do not see it */
        return nullptr;
    }
    CUDA_CHECK(err);
    return p;
}

/* Ends the life of live block p; returns its size. Caller holds the lock. */
size_t release_live(Cache &c, void *p)
{
    auto it = c.live.find(p);
    ENGINE_ASSERT(it != c.live.end() && "freeing a pointer the caching allocator did not allocate");
    size_t block = it->second;
    c.live.erase(it);
    c.allocated -= block;
    return block;
}

} // namespace

extern "C" size_t cuda_caching_round(size_t nbytes)
{
    size_t unit = nbytes < CUDA_ALLOC_LARGE_MIN ? CUDA_ALLOC_SMALL_ROUND : CUDA_ALLOC_LARGE_ROUND;
    if (nbytes > (size_t)-1 - unit) return 0;
    size_t size = (nbytes + unit - 1) / unit * unit;
    return size ? size : unit; /* zero-byte tensors still get a distinct valid pointer */
}

extern "C" void *cuda_caching_alloc(size_t nbytes)
{
    if (cuda_device_count() == 0) {
        engine_error("cannot allocate %zu bytes on cuda:0: no CUDA device is available", nbytes);
        return nullptr;
    }
    size_t size = cuda_caching_round(nbytes);
    if (size == 0) return nullptr;
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    size_t block = size;
    void *p = take_cached(c, size, &block);
    if (!p) {
        p = device_malloc(size);
        if (!p) {
            /* the cache may hold enough in blocks of the wrong sizes */
            release_cached(c);
            p = device_malloc(size);
        }
        if (!p) return nullptr;
        c.reserved += size;
    }
    c.live.emplace(p, block);
    c.allocated += block;
    if (c.allocated > c.peak) c.peak = c.allocated;
    return p;
}

extern "C" void cuda_caching_free(void *p)
{
    if (!p) return;
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    size_t block = release_live(c, p);
    c.free_blocks[block].push_back(p);
}

extern "C" void cuda_caching_free_to_driver(void *p)
{
    if (!p) return;
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    c.reserved -= release_live(c, p);
    cuda_synchronize(); /* queued kernels may still use the block */
    CUDA_CHECK(cudaFree(p));
}

extern "C" void cuda_allocator_stats(MemoryStats *out)
{
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    out->allocated = c.allocated;
    out->reserved = c.reserved;
    out->peak_allocated = c.peak;
}

extern "C" void cuda_allocator_empty_cache(void)
{
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    release_cached(c);
}

extern "C" void cuda_allocator_reset_peak(void)
{
    Cache &c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    c.peak = c.allocated;
}
