/* The caching host allocator (see allocator.h): size-class free lists over
 * posix_memalign'd blocks, one set per CPU, with a least-recently-freed
 * order for trimming.
 *
 * Every block starts with a header of CPU_ALLOC_ALIGN bytes (its size and
 * state, and for cached blocks their list links), so a free needs no lookup
 * table and small blocks take no lock. Blocks are never split or merged: a
 * training loop asks for the same sizes every step, so per-class buckets
 * already serve every request after the first step. */
#define _GNU_SOURCE /* sched_getcpu */
#include "engine/cpu/allocator.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define CPU_ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CPU_ALLOC_ASAN 1
#endif
#endif
#ifdef CPU_ALLOC_ASAN
#include <sanitizer/asan_interface.h>
#define poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define poison(p, n) ((void)(p), (void)(n))
#define unpoison(p, n) ((void)(p), (void)(n))
#endif

/* 2^CLASS_BITS size classes per power of two; the class index of a rounded
 * size is its exponent times that plus its sub-class (sizes stay below 2^62). */
enum { CLASS_BITS = 2, N_CLASSES = 64 << CLASS_BITS };

/* Free lists per CPU (CPUs beyond N_CPU_LISTS share them, modulo): see
 * allocator.h, "Affinity". */
enum { N_CPU_LISTS = 16 };

/* header states: catches frees of foreign pointers and double frees */
#define BLOCK_LIVE 0x6c6976652d626c6bull
#define BLOCK_CACHED 0x6361636865642d62ull

typedef struct Block Block;
struct Block {
    size_t size;                      /* data bytes: the request when small, the class size when large */
    uint64_t state;                   /* BLOCK_LIVE or BLOCK_CACHED */
    Block *bucket_prev, *bucket_next; /* cached blocks of one class, most recently freed first */
    Block *lru_older, *lru_newer;     /* all cached blocks, in the order they were freed */
    int cpu;                          /* the free lists it goes back to: its last taker's CPU */
};
#define HEADER_BYTES CPU_ALLOC_ALIGN
_Static_assert(sizeof(Block) <= HEADER_BYTES, "the block header must fit in one alignment unit");
_Static_assert((CPU_ALLOC_CACHE_MIN & (CPU_ALLOC_CACHE_MIN - 1)) == 0 && CPU_ALLOC_CACHE_MIN >= 64,
               "CPU_ALLOC_CACHE_MIN must be a power of two");

/* Global and never freed: storages may be released during exit. The lists
 * keep every cached block reachable for LeakSanitizer. */
static struct {
    pthread_mutex_t lock;
    Block *buckets[N_CPU_LISTS][N_CLASSES];
    Block *oldest, *newest;
    size_t live, cached, cached_blocks, peak;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *data_of(Block *b) { return (char *)b + HEADER_BYTES; }

static unsigned floor_log2(size_t x) { return (unsigned)(8 * sizeof(unsigned long) - 1) - (unsigned)__builtin_clzl(x); }

static int class_of(size_t rounded)
{
    unsigned e = floor_log2(rounded);
    return (int)((e << CLASS_BITS) + ((rounded >> (e - CLASS_BITS)) & ((1u << CLASS_BITS) - 1)));
}

size_t cpu_caching_round(size_t nbytes)
{
    if (nbytes < CPU_ALLOC_CACHE_MIN) return nbytes;
    if (nbytes > SIZE_MAX / 4) return 0;
    size_t step = (size_t)1 << (floor_log2(nbytes) - CLASS_BITS);
    return (nbytes + step - 1) & ~(step - 1);
}

/* A fresh live block with size data bytes from the C library, or NULL. */
static Block *os_block(size_t size)
{
    void *base = NULL;
    if (posix_memalign(&base, CPU_ALLOC_ALIGN, HEADER_BYTES + size) != 0) return NULL;
    Block *b = base;
    *b = (Block){.size = size, .state = BLOCK_LIVE};
    return b;
}

static void os_free(Block *b)
{
    unpoison(data_of(b), b->size);
    b->state = 0;
    free(b);
}

/* The free lists of the CPU the calling thread runs on. */
static int lists_of_caller(void)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : cpu % N_CPU_LISTS;
}

/* ---- the cache's lists (caller holds the lock) ---- */

static void push_cached(Block *b)
{
    Block **bucket = &cache.buckets[b->cpu][class_of(b->size)];
    b->bucket_prev = NULL;
    b->bucket_next = *bucket;
    if (*bucket) (*bucket)->bucket_prev = b;
    *bucket = b;
    b->lru_newer = NULL;
    b->lru_older = cache.newest;
    if (cache.newest) cache.newest->lru_newer = b;
    else cache.oldest = b;
    cache.newest = b;
    cache.cached += b->size;
    cache.cached_blocks++;
    b->state = BLOCK_CACHED;
}

static void unlink_cached(Block *b)
{
    if (b->bucket_prev) b->bucket_prev->bucket_next = b->bucket_next;
    else cache.buckets[b->cpu][class_of(b->size)] = b->bucket_next;
    if (b->bucket_next) b->bucket_next->bucket_prev = b->bucket_prev;
    if (b->lru_older) b->lru_older->lru_newer = b->lru_newer;
    else cache.oldest = b->lru_newer;
    if (b->lru_newer) b->lru_newer->lru_older = b->lru_older;
    else cache.newest = b->lru_older;
    cache.cached -= b->size;
    cache.cached_blocks--;
    b->state = BLOCK_LIVE;
}

static void release_oldest(void)
{
    Block *b = cache.oldest;
    unlink_cached(b);
    os_free(b);
}

/* Before a new block of size bytes: returns least recently freed blocks to
 * the OS until reserved bytes stay within the bound of allocator.h. */
static void make_room(size_t size)
{
    size_t need = cache.live + size;
    size_t limit = CPU_ALLOC_RESERVE_FACTOR * (need > cache.peak ? need : cache.peak);
    while (cache.oldest && need + cache.cached > limit) release_oldest();
}

/* A large block of rounded size bytes, cached or new, or NULL: the one
 * freed last to the caller's CPU's lists, else to another CPU's. */
static Block *take_large(size_t size)
{
    int cpu = lists_of_caller(), c = class_of(size);
    pthread_mutex_lock(&cache.lock);
    Block *b = cache.buckets[cpu][c];
    for (int other = 1; !b && other < N_CPU_LISTS; other++) b = cache.buckets[(cpu + other) % N_CPU_LISTS][c];
    if (b) {
        unlink_cached(b);
    } else {
        make_room(size);
        b = os_block(size);
        if (!b) {
            /* the cache may hold enough in blocks of other sizes */
            while (cache.oldest) release_oldest();
            b = os_block(size);
        }
    }
    if (b) {
        b->cpu = cpu;
        cache.live += size;
        if (cache.live > cache.peak) cache.peak = cache.live;
    }
    pthread_mutex_unlock(&cache.lock);
    return b;
}

void *cpu_caching_alloc(size_t nbytes)
{
    if (nbytes < CPU_ALLOC_CACHE_MIN) {
        Block *b = os_block(nbytes ? nbytes : 1); /* a distinct pointer inside its block also for 0 */
        return b ? data_of(b) : NULL;
    }
    size_t size = cpu_caching_round(nbytes);
    if (size == 0) return NULL;
    Block *b = take_large(size);
    if (!b) return NULL;
    char *data = data_of(b);
    unpoison(data, nbytes);
    poison(data + nbytes, size - nbytes); /* the rounding slack is not the caller's */
    return data;
}

float *cpu_caching_alloc_floats(int64_t n)
{
    float *p = cpu_caching_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    ENGINE_ASSERT(p != NULL);
    return p;
}

void cpu_caching_free(void *p)
{
    if (!p) return;
    Block *b = (Block *)((char *)p - HEADER_BYTES);
    ENGINE_ASSERT(b->state == BLOCK_LIVE && "cpu_caching_free of a pointer it did not allocate, or freed twice");
    if (b->size < CPU_ALLOC_CACHE_MIN) {
        os_free(b);
        return;
    }
    poison(p, b->size);
    pthread_mutex_lock(&cache.lock);
    cache.live -= b->size;
    push_cached(b);
    pthread_mutex_unlock(&cache.lock);
}

void cpu_allocator_empty_cache(void)
{
    pthread_mutex_lock(&cache.lock);
    while (cache.oldest) release_oldest();
    pthread_mutex_unlock(&cache.lock);
}

void cpu_allocator_stats(CpuAllocatorStats *out)
{
    pthread_mutex_lock(&cache.lock);
    *out = (CpuAllocatorStats){.live_bytes = cache.live,
                               .cached_bytes = cache.cached,
                               .cached_blocks = cache.cached_blocks,
                               .peak_live_bytes = cache.peak};
    pthread_mutex_unlock(&cache.lock);
}
