/* The CPU caching allocator (engine/cpu/allocator.h): large freed blocks
 * come back for requests of their bucket, other buckets and small blocks
 * stay apart, empty_cache gives the memory back, the reserve bound trims the
 * least recently freed blocks, alignment, several threads at once, a
 * freed block goes back to the CPU that took it, and a training step's
 * tensors reuse the previous step's memory. Under ASan the
 * cached blocks are poisoned, so the other tests would catch a use after
 * free through the cache. */
#define _GNU_SOURCE /* sched_setaffinity, sched_getcpu */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/cpu/allocator.h"
#include "engine/memory.h"
#include "tests/support/check.h"
#include "tests/support/heap.h"

#define MiB ((size_t)1 << 20)

static CpuAllocatorStats stats(void)
{
    CpuAllocatorStats s;
    cpu_allocator_stats(&s);
    return s;
}

/* Runs first, while the peak is still this test's own: two phases of
 * different sizes both stay cached, a third evicts the oldest phase. */
static void test_reserve_bound_evicts_least_recently_freed(void **state)
{
    cpu_allocator_empty_cache();
    CpuAllocatorStats s0 = stats();
    assert_int_equal(s0.live_bytes, 0);
    size_t total = s0.peak_live_bytes > 8 * MiB ? s0.peak_live_bytes : 8 * MiB;
    total = (total + 4 * MiB - 1) / (4 * MiB) * (4 * MiB); /* a multiple of every phase's block */
    const size_t sizes[3] = {MiB, 2 * MiB, 4 * MiB};       /* three buckets */
    enum { MAX_BLOCKS = 4096 };
    assert_true(total / MiB <= MAX_BLOCKS);
    static void *phase[3][MAX_BLOCKS];
    size_t n[3];
    for (int k = 0; k < 3; k++) {
        n[k] = total / sizes[k];
        for (size_t i = 0; i < n[k]; i++) assert_non_null(phase[k][i] = cpu_caching_alloc(sizes[k]));
        CpuAllocatorStats s = stats();
        assert_true(s.live_bytes + s.cached_bytes <= CPU_ALLOC_RESERVE_FACTOR * s.peak_live_bytes);
        if (k == 1) assert_int_equal(s.cached_bytes, total); /* phase 0 kept beside phase 1 */
        if (k == 2) assert_int_equal(s.cached_bytes, total); /* phase 0 evicted, phase 1 kept */
        for (size_t i = 0; i < n[k]; i++) cpu_caching_free(phase[k][i]);
    }
    /* phase 1's blocks (freed before phase 2's) are still there */
    void *again = cpu_caching_alloc(sizes[1]);
    bool found = false;
    for (size_t i = 0; i < n[1]; i++) found |= again == phase[1][i];
    assert_true(found);
    cpu_caching_free(again);
    print_message("  phases of %zu MiB: reserved %zu MiB after the third (bound %d x peak %zu MiB)\n", total / MiB,
                  (stats().cached_bytes + stats().live_bytes) / MiB, CPU_ALLOC_RESERVE_FACTOR,
                  stats().peak_live_bytes / MiB);
    cpu_allocator_empty_cache();
}

static void test_freed_block_is_reused_for_same_bucket(void **state)
{
    cpu_allocator_empty_cache();
    size_t n = 3 * MiB + 123, m = 3 * MiB + MiB / 2 - 1000; /* both in the (3, 3.5] MiB bucket */
    assert_int_equal(cpu_caching_round(n), cpu_caching_round(m));
    char *p = cpu_caching_alloc(n);
    assert_non_null(p);
    memset(p, 7, n);
    cpu_caching_free(p);
    assert_int_equal(stats().cached_bytes, cpu_caching_round(n));
    assert_int_equal(stats().cached_blocks, 1);
    char *q = cpu_caching_alloc(m);
    assert_ptr_equal(q, p);
    assert_int_equal(stats().cached_bytes, 0);
    assert_int_equal(stats().live_bytes, cpu_caching_round(n));
    memset(q, 1, m);
    cpu_caching_free(q);
    cpu_allocator_empty_cache();
}

static void test_different_buckets_are_not_mixed(void **state)
{
    cpu_allocator_empty_cache();
    /* four classes per power of two */
    assert_int_equal(cpu_caching_round(2 * MiB), 2 * MiB);
    assert_int_equal(cpu_caching_round(2 * MiB + 1), 2 * MiB + MiB / 2);
    assert_int_equal(cpu_caching_round(2 * MiB + MiB / 2), 2 * MiB + MiB / 2);
    assert_int_equal(cpu_caching_round(2 * MiB + MiB / 2 + 1), 3 * MiB);
    assert_int_equal(cpu_caching_round(MiB + 1), MiB + MiB / 4);
    void *a = cpu_caching_alloc(2 * MiB);
    assert_non_null(a);
    cpu_caching_free(a);
    /* neither a bigger nor a smaller bucket takes the cached 2 MiB block */
    void *bigger = cpu_caching_alloc(2 * MiB + 1);
    void *smaller = cpu_caching_alloc(2 * MiB - MiB / 4 - 1);
    assert_non_null(bigger);
    assert_non_null(smaller);
    assert_ptr_not_equal(bigger, a);
    assert_ptr_not_equal(smaller, a);
    assert_int_equal(stats().cached_bytes, 2 * MiB);
    assert_int_equal(stats().cached_blocks, 1);
    void *same = cpu_caching_alloc(2 * MiB - 5);
    assert_ptr_equal(same, a);
    cpu_caching_free(same);
    cpu_caching_free(bigger);
    cpu_caching_free(smaller);
    assert_int_equal(stats().cached_blocks, 3);
    cpu_allocator_empty_cache();
}

static void test_small_blocks_bypass_the_cache(void **state)
{
    cpu_allocator_empty_cache();
    CpuAllocatorStats before = stats();
    assert_int_equal(cpu_caching_round(1000), 1000);
    assert_int_equal(cpu_caching_round(CPU_ALLOC_CACHE_MIN - 1), CPU_ALLOC_CACHE_MIN - 1);
    void *tiny = cpu_caching_alloc(1000), *below = cpu_caching_alloc(CPU_ALLOC_CACHE_MIN - 1);
    assert_non_null(tiny);
    assert_non_null(below);
    assert_int_equal(stats().live_bytes, before.live_bytes);
    cpu_caching_free(tiny);
    cpu_caching_free(below);
    assert_int_equal(stats().cached_bytes, 0);
    assert_int_equal(stats().cached_blocks, 0);
    /* the threshold itself is cached */
    void *at = cpu_caching_alloc(CPU_ALLOC_CACHE_MIN);
    assert_int_equal(stats().live_bytes, before.live_bytes + CPU_ALLOC_CACHE_MIN);
    cpu_caching_free(at);
    assert_int_equal(stats().cached_bytes, CPU_ALLOC_CACHE_MIN);
    cpu_allocator_empty_cache();
}

static void test_empty_cache_gives_memory_back(void **state)
{
    cpu_allocator_empty_cache();
    enum { N = 6 };
    void *blocks[N];
    for (int i = 0; i < N; i++) assert_non_null(blocks[i] = cpu_caching_alloc((size_t)(i + 1) * MiB + 17));
    for (int i = 0; i < N; i++) cpu_caching_free(blocks[i]);
    CpuAllocatorStats full = stats();
    assert_int_equal(full.cached_blocks, N);
    assert_true(full.cached_bytes >= 21 * MiB);
    /* the CPU's device statistics stay zero: the trainer logs only devices with nonzero ones */
    MemoryStats ms;
    assert_int_equal(device_memory_stats(CPU, &ms), 0);
    assert_int_equal(ms.allocated, 0);
    assert_int_equal(ms.reserved, 0);
    assert_int_equal(ms.peak_allocated, 0);
    long long held = (long long)heap_allocated_bytes();
    device_empty_cache(CPU);
    long long released = held - (long long)heap_allocated_bytes();
    print_message("  empty_cache: %zu cached bytes, %lld bytes back to the C library\n", full.cached_bytes, released);
    assert_int_equal(stats().cached_bytes, 0);
    assert_int_equal(stats().cached_blocks, 0);
    assert_true(released >= (long long)full.cached_bytes);
    device_empty_cache(CPU); /* again: nothing to do */
}

static void test_alignment(void **state)
{
    const size_t sizes[] = {0, 1, 63, 64, 65, 1000, 4096, CPU_ALLOC_CACHE_MIN - 1, CPU_ALLOC_CACHE_MIN,
                            CPU_ALLOC_CACHE_MIN + 1, 5 * MiB + 3};
    enum { N = sizeof sizes / sizeof sizes[0] };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = cpu_caching_alloc(sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % CPU_ALLOC_ALIGN, 0);
        memset(p[i], 0xab, sizes[i]); /* all of it is the caller's (ASan checks) */
    }
    void *zero2 = cpu_caching_alloc(0);
    assert_ptr_not_equal(zero2, p[0]); /* zero-byte blocks are distinct */
    cpu_caching_free(zero2);
    for (int i = 0; i < N; i++) cpu_caching_free(p[i]);
    /* the same from the cache */
    for (int i = N - 1; i >= 0; i--) {
        p[i] = cpu_caching_alloc(sizes[i]);
        assert_int_equal((uintptr_t)p[i] % CPU_ALLOC_ALIGN, 0);
    }
    for (int i = 0; i < N; i++) cpu_caching_free(p[i]);
    cpu_caching_free(NULL);
    cpu_allocator_empty_cache();
}

/* ---- several threads ---- */

enum { N_THREADS = 4, ITERS = 60, HELD = 3 };

typedef struct {
    int id;
    long bad_words; /* words that did not hold this thread's pattern */
} Worker;

static uint64_t pattern(int id, int iter, size_t i) { return ((uint64_t)id << 56) ^ ((uint64_t)iter << 32) ^ i; }

static void *worker_run(void *arg)
{
    Worker *w = arg;
    static const size_t sizes[] = {100, 70000, MiB, MiB + MiB / 3, 2 * MiB + 5, 3 * MiB};
    uint64_t *held[HELD] = {0};
    size_t words[HELD] = {0};
    int tag[HELD] = {0};
    for (int it = 0; it < ITERS + HELD; it++) {
        int slot = it % HELD;
        if (held[slot]) { /* check and free the block written HELD iterations ago */
            for (size_t i = 0; i < words[slot]; i++) w->bad_words += held[slot][i] != pattern(w->id, tag[slot], i);
            cpu_caching_free(held[slot]);
            held[slot] = NULL;
        }
        if (it >= ITERS) continue;
        size_t n = sizes[(size_t)(it * 7 + w->id) % (sizeof sizes / sizeof sizes[0])];
        held[slot] = cpu_caching_alloc(n);
        if (!held[slot]) {
            w->bad_words = -1;
            return NULL;
        }
        words[slot] = n / sizeof(uint64_t);
        tag[slot] = it;
        for (size_t i = 0; i < words[slot]; i++) held[slot][i] = pattern(w->id, it, i);
    }
    return NULL;
}

static void test_threads_allocate_and_free_concurrently(void **state)
{
    size_t live_before = stats().live_bytes;
    pthread_t threads[N_THREADS];
    Worker workers[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        workers[t] = (Worker){.id = t};
        assert_int_equal(pthread_create(&threads[t], NULL, worker_run, &workers[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(pthread_join(threads[t], NULL), 0);
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(workers[t].bad_words, 0);
    CpuAllocatorStats s = stats();
    print_message("  %d threads x %d blocks: %zu blocks cached afterwards\n", N_THREADS, ITERS, s.cached_blocks);
    assert_int_equal(s.live_bytes, live_before);
    assert_true(s.cached_blocks > 0);
    cpu_allocator_empty_cache();
}

/* A step's tensors are freed by scope_end; the next step's tensors of the
 * same sizes get the same memory. */
static void test_next_step_reuses_scope_memory(void **state)
{
    cpu_allocator_empty_cache();
    void *prev[2] = {0};
    size_t cached_after_first = 0;
    for (int step = 0; step < 3; step++) {
        scope_begin();
        Tensor *x = tensor_full(SHAPE(1000, 1000), 1.0, DT_F32, CPU); /* 4 MB */
        Tensor *y = t_mul_scalar(x, 2);                              /* 4 MB */
        REQUIRE_OK(y);
        assert_true(tensor_item(t_sum(y, NULL, 0, false)) == 2e6);
        void *now[2] = {x->storage->data, y->storage->data};
        scope_end();
        if (step == 0) {
            cached_after_first = stats().cached_blocks;
            assert_true(cached_after_first >= 2);
        } else {
            /* the same two blocks, in either order */
            assert_true((now[0] == prev[0] && now[1] == prev[1]) || (now[0] == prev[1] && now[1] == prev[0]));
            assert_int_equal(stats().cached_blocks, cached_after_first);
        }
        prev[0] = now[0];
        prev[1] = now[1];
    }
    cpu_allocator_empty_cache();
}

/* Moves the calling thread to cpu; false where it may not run there. */
static bool run_on_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 && sched_getcpu() == cpu;
}

/* Per-CPU free lists (allocator.h, "Affinity"): a block taken on CPU a and
 * one taken on CPU b, both freed (from b, as the batch split's main thread
 * frees its shards' tensors), go back to their own CPUs: a request on a
 * gets a's block although b's was freed last, one on b gets b's, and with
 * b's lists empty a request there takes a's rather than a new block. */
static void test_freed_block_goes_back_to_its_cpu(void **state)
{
    (void)state;
    cpu_set_t allowed;
    assert_int_equal(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    int a = -1, b = -1;
    for (int c = 0; c < CPU_SETSIZE && b < 0; c++)
        if (CPU_ISSET(c, &allowed)) {
            if (a < 0) a = c;
            else if (c % 16 != a % 16) b = c; /* CPUs beyond the allocator's 16 lists share them */
        }
    if (b < 0 || !run_on_cpu(a)) {
        print_message("  SKIPPED: needs two CPUs this process may run on\n");
        assert_int_equal(sched_setaffinity(0, sizeof allowed, &allowed), 0);
        skip();
    }
    cpu_allocator_empty_cache();
    size_t n = 2 * MiB;
    char *on_a = cpu_caching_alloc(n);
    assert_non_null(on_a);
    memset(on_a, 1, n);
    assert_true(run_on_cpu(b));
    char *on_b = cpu_caching_alloc(n);
    assert_non_null(on_b);
    memset(on_b, 2, n);
    cpu_caching_free(on_a);
    cpu_caching_free(on_b); /* the most recently freed */
    assert_true(run_on_cpu(a));
    char *again_a = cpu_caching_alloc(n);
    assert_ptr_equal(again_a, on_a);
    assert_true(run_on_cpu(b));
    char *again_b = cpu_caching_alloc(n);
    assert_ptr_equal(again_b, on_b);
    cpu_caching_free(again_a); /* freed on b, back to a's lists */
    char *stolen = cpu_caching_alloc(n); /* b's lists are empty */
    assert_ptr_equal(stolen, on_a);
    assert_int_equal(stats().cached_blocks, 0);
    cpu_caching_free(stolen);
    cpu_caching_free(again_b);
    assert_int_equal(sched_setaffinity(0, sizeof allowed, &allowed), 0);
    cpu_allocator_empty_cache();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_bound_evicts_least_recently_freed),
        cmocka_unit_test(test_freed_block_is_reused_for_same_bucket),
        cmocka_unit_test(test_different_buckets_are_not_mixed),
        cmocka_unit_test(test_small_blocks_bypass_the_cache),
        cmocka_unit_test(test_empty_cache_gives_memory_back),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_threads_allocate_and_free_concurrently),
        cmocka_unit_test(test_freed_block_goes_back_to_its_cpu),
        cmocka_unit_test(test_next_step_reuses_scope_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
