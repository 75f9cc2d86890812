/* When a CPU kernel's loop forks onto the engine's threads, and the loop
 * macro that does not enter OpenMP at all when it would not.
 *
 * Why not `#pragma omp parallel for if (cond)` alone: a region whose if
 * clause is false, or whose team is one thread (every region inside the
 * batch split's shards, and every region with OMP_NUM_THREADS=1), still
 * makes a team of one, and libgomp's closing barrier then wakes its
 * waiters with a futex system call whether there are any or not. On the
 * 2-core Zen 5 VM we measured, a system call costs 1.1 us and such a
 * region 1.3-1.4 us; a MnistModel step entered about 75 of them per shard,
 * some 0.1 ms of a 1.4 ms step. */
#ifndef ENGINE_CPU_FORK_H
#define ENGINE_CPU_FORK_H

#include <omp.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether a loop worth forking (its work above its grain: `worth`) gets
 * more than one thread: more than one is allowed here and the caller is
 * not inside a parallel region already (nested regions run on one). */
static inline bool cpu_fork(bool worth) { return worth && omp_get_max_threads() > 1 && !omp_in_parallel(); }

#define CPU_FORK_PRAGMA_(x) _Pragma(#x)

/* for (int64_t i = 0; i < n; i++) { body }: on the engine's threads (a
 * static schedule) when cpu_fork(worth), else on the calling thread with no
 * OpenMP region. The body is compiled twice; keep it to a few statements
 * or a call. */
#define CPU_FOR(i, n, worth, ...) CPU_FOR_CLAUSES(, i, n, worth, __VA_ARGS__)

/* CPU_FOR with more clauses for the forked loop: a schedule, or a
 * reduction whose variables start at a value that combining leaves
 * unchanged (0 for +; for max, one no larger than any the loop sees). Then
 * the loop on the calling thread gives the bits a team of one gives: the
 * team's private copy starts at the identity, takes the same values in the
 * same order, and is combined once with that starting value. */
#define CPU_FOR_CLAUSES(clauses, i, n, worth, ...)                                    \
    do {                                                                              \
        const int64_t cpu_for_n_ = (n);                                               \
        if (cpu_fork(worth)) {                                                        \
            CPU_FORK_PRAGMA_(omp parallel for clauses)                                \
            for (int64_t i = 0; i < cpu_for_n_; i++) { __VA_ARGS__ }                  \
        } else {                                                                      \
            for (int64_t i = 0; i < cpu_for_n_; i++) { __VA_ARGS__ }                  \
        }                                                                             \
    } while (0)

/* A piece of a loop over [lo, hi) on one thread, with the thread's index
 * `part` among the `parts` that run (per-thread partial sums index by it):
 * for loops whose threads each set up scratch buffers first. */
typedef void (*CpuRangeFn)(void *ctx, int part, int64_t lo, int64_t hi);

/* Runs fn over [0, n) as OpenMP's schedule(static) would cut it, one range
 * per thread, when cpu_fork(worth) (at most max_parts threads, 0 for no
 * limit), else once over the whole range on the calling thread with no
 * OpenMP region. Threads whose range is empty do not call fn. Returns the
 * number of parts (threads) it cut the loop into. */
int cpu_for_ranges(int64_t n, bool worth, int max_parts, CpuRangeFn fn, void *ctx);

#endif
