/* Timing helpers shared by the C benchmarks: a millisecond clock (wall, or
 * the process's CPU time where a shared machine's load would blur wall
 * times) and the median of measured rounds. */
#ifndef BENCH_BENCH_TIMING_H
#define BENCH_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

/* Milliseconds on clock (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID). */
static inline double bench_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v[0..n); returns the median. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
