/* A/B timing of the two sgemms the CPU backend can call (engine/cpu/linalg.c
 * picks by size): OpenBLAS's cblas_sgemm against oneDNN's dnnl_sgemm
 * (engine/cpu/gemm_dnnl.h), on the products of the benchmark models, one
 * after the other in every round (which goes first alternates), on the
 * current thread count, each called as the engine calls it
 * (cpu_sgemm_parallel_on: the product split across the OpenMP threads in
 * blocks of rows or columns, each block on the library single-threaded).
 * Prints per product the median GFLOP/s of each and their ratio, and which
 * one linalg.c's size rule takes.
 * Usage: bench_gemm_ab [rounds]   (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS;
 *   BENCH_CLOCK=cpu for the process's CPU time) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_timing.h"
#include "engine/cpu/gemm_dnnl.h"
#include "engine/cpu/linalg.h"

typedef struct {
    const char *name;
    bool ta, tb;
    int m, n, k;
} Product;

static const Product PRODUCTS[] = {
    {"mnist_model_conv2_weight_grad", false, true, 50, 20, 64}, /* per sample and kernel row */
    {"mnist_model_conv1_weight_grad", false, true, 5, 10, 576},
    {"mnist_model_conv2_input_grad", true, false, 50, 64, 20},
    {"mnist_model_conv1_input_grad", true, false, 5, 576, 10},
    {"mnist_net_conv2_forward", false, false, 64, 676, 96}, /* per sample and kernel row */
    {"mnist_net_conv2_weight_grad", false, true, 96, 64, 676},
    {"mnist_net_conv2_input_grad", true, false, 96, 676, 64},
    {"mlp_fc1_forward", false, true, 128, 1024, 784},
    {"mlp_fc2_forward", false, true, 128, 1024, 1024},
    {"mlp_fc2_weight_grad", true, false, 1024, 1024, 128},
    {"mlp_fc2_input_grad", false, false, 128, 1024, 1024},
};

static clockid_t bench_clock = CLOCK_MONOTONIC;

static float *filled(size_t n)
{
    float *p = malloc(sizeof(float) * n);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % 13) * 0.1f - 0.6f;
    return p;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 9;
    if (rounds < 1) rounds = 1;
    const char *clk = getenv("BENCH_CLOCK");
    if (clk && strcmp(clk, "cpu") == 0) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    float dummy = 0.0f;
    if (!dnnl_sgemm_row_major(false, false, 1, 1, 1, 1.0f, &dummy, 1, &dummy, 1, 0.0f, &dummy, 1)) {
        fprintf(stderr, "bench_gemm_ab: this build has no oneDNN (install libdnnl-dev and reconfigure)\n");
        return 1;
    }
    for (size_t p = 0; p < sizeof PRODUCTS / sizeof PRODUCTS[0]; p++) {
        const Product *q = &PRODUCTS[p];
        float *a = filled((size_t)q->m * q->k), *b = filled((size_t)q->k * q->n), *c = filled((size_t)q->m * q->n);
        int lda = q->ta ? q->m : q->k, ldb = q->tb ? q->k : q->n;
        double macs = (double)q->m * q->n * q->k;
        /* repeat small products so that a timed piece lasts about a millisecond */
        int reps = macs >= 1e7 ? 1 : (int)(1e7 / macs);
        double *t = malloc(sizeof(double) * 2 * (size_t)rounds);
        for (int r = -1; r < rounds; r++)
            for (int vv = 0; vv < 2; vv++) {
                int v = (vv + r + 1) % 2; /* 0 OpenBLAS, 1 oneDNN */
                double t0 = bench_ms(bench_clock);
                for (int i = 0; i < reps; i++) {
                    cpu_sgemm_parallel_on(v, q->ta, q->tb, q->m, q->n, q->k, 1.0f, a, lda, b, ldb, 0.0f, c, q->n);
                }
                if (r >= 0) t[v * rounds + r] = (bench_ms(bench_clock) - t0) / reps;
            }
        double blas = bench_median(t, rounds), dnnl = bench_median(t + rounds, rounds);
        printf("%-32s %c%c m %4d n %4d k %4d threads %d openblas_gflops %6.1f onednn_gflops %6.1f onednn/openblas "
               "%5.2f rule %s\n",
               q->name, q->ta ? 'T' : 'N', q->tb ? 'T' : 'N', q->m, q->n, q->k, omp_get_max_threads(),
               2 * macs / blas / 1e6, 2 * macs / dnnl / 1e6, blas / dnnl, cpu_sgemm_by_dnnl(q->m, q->n, q->k) ? "onednn" : "openblas");
        free(t);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
