/* See fork.h: the loop over ranges, for kernels with per-thread scratch. */
#include "engine/cpu/fork.h"

int cpu_for_ranges(int64_t n, bool worth, int max_parts, CpuRangeFn fn, void *ctx)
{
    if (n <= 0) return 1;
    if (!cpu_fork(worth && n > 1)) {
        fn(ctx, 0, 0, n);
        return 1;
    }
    int threads = omp_get_max_threads();
    if (max_parts > 0 && threads > max_parts) threads = max_parts;
    int parts = 1;
#pragma omp parallel num_threads(threads)
    {
        /* libgomp's static schedule: the first n % nt threads take one more */
        int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t q = n / nt, r = n % nt;
        int64_t lo = t < r ? t * (q + 1) : r * (q + 1) + (t - r) * q, hi = lo + (t < r ? q + 1 : q);
#pragma omp single nowait
        parts = (int)nt;
        if (hi > lo) fn(ctx, (int)t, lo, hi);
    }
    return parts;
}
