/* The sgemm peak of this machine through the engine's BLAS path (cpu_sgemm:
 * oneDNN's sgemm for such a product where the build has it, the faster of
 * the two libraries here, else OpenBLAS): times an
 * n^3 sgemm (default 2048) on the current OpenMP/BLAS thread count, one
 * warm-up then `iters` runs, and prints
 *   "sgemm_<n> threads <t> best_gflops <x> median_gflops <y>"
 * The best run is the peak (on a shared machine the others were preempted).
 * bench/epoch_floor.sh uses it as the floor of an epoch.
 * Usage: bench_sgemm [n] [iters] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/cpu/linalg.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2048, iters = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 16) n = 16;
    if (iters < 1) iters = 1;
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(sizeof(float) * nn), *b = malloc(sizeof(float) * nn), *c = malloc(sizeof(float) * nn);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
        c[i] = 0.0f;
    }
    double *gf = malloc(sizeof(double) * (size_t)iters);
    for (int i = -1; i < iters; i++) {
        double t0 = now_s();
        cpu_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (i >= 0) gf[i] = 2.0 * n * (double)n * n / (now_s() - t0) / 1e9;
    }
    qsort(gf, (size_t)iters, sizeof(double), cmp_double);
    printf("sgemm_%d threads %d best_gflops %.2f median_gflops %.2f\n", n, omp_get_max_threads(), gf[iters - 1],
           gf[iters / 2]);
    free(a);
    free(b);
    free(c);
    free(gf);
    return 0;
}
