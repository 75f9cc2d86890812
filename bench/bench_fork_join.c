/* What a fork and join of two threads costs on this machine, the way the
 * batch split uses them: the engine's engine_parallel_for (libgomp; its
 * waiting set by OMP_WAIT_POLICY and GOMP_SPINCOUNT) against a pool of our
 * own whose worker spins on an atomic for up to --spin-us before it sleeps
 * on a futex (as ggml's and llm.c's CPU threads wait), with or without the
 * pause instruction in the spin. Like ./train, it runs libgomp with
 * OMP_WAIT_POLICY=passive unless the environment sets it. Each round times one region of two pieces
 * of --work-us of arithmetic each, after --gap-us of work on the calling
 * thread alone (a training step's serial part: the loss, the optimizer),
 * and prints the median region, its cost over one piece alone (median and
 * mean) and the 99th percentile of the region:
 *   "<mode> gap_us <g> work_us <w> region_us <r> overhead_us <o>
 *    mean_overhead_us <m> p99_region_us <p>"
 * A virtual CPU left idle halts, and waking it goes through the hypervisor;
 * a spinning one may be descheduled by it: which of the two costs less is
 * the machine's answer, not ours (see README, "Benchmarks").
 * Usage: bench_fork_join [--mode omp|spin|spin-pause] [--spin-us S]
 *                        [--gap-us G] [--work-us W] [--rounds N] */
#define _GNU_SOURCE
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/bench_timing.h"
#include "engine/parallel.h"
#include "utils/threads.h"

static double now_us(void) { return bench_ms(CLOCK_MONOTONIC) * 1e3; }

/* ---- the work: arithmetic the compiler cannot drop, calibrated in us ---- */

static volatile double sink;
static long iters_per_us = 1;

static void spin_work(long iters)
{
    double s = 0;
    for (long k = 0; k < iters; k++) s += (double)k * 1e-9;
    sink = s;
}

static void calibrate(void)
{
    long n = 1000000;
    double t0 = now_us();
    spin_work(n);
    double us = now_us() - t0;
    iters_per_us = us > 0 ? (long)(n / us) : n;
    if (iters_per_us < 1) iters_per_us = 1;
}

static double work_us;

static int piece(int index, void *ctx)
{
    (void)index, (void)ctx;
    spin_work((long)(work_us * (double)iters_per_us));
    return 0;
}

/* ---- our own pool: one worker, spin then futex ---- */

static _Atomic unsigned job, done;
static double spin_us;
static bool use_pause;

static void futex_wait(_Atomic unsigned *word, unsigned value)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(_Atomic unsigned *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* Returns once *word differs from value: spinning for up to spin_us, then asleep. */
static void wait_for_change(_Atomic unsigned *word, unsigned value)
{
    double t0 = now_us();
    for (unsigned k = 1; atomic_load_explicit(word, memory_order_acquire) == value; k++) {
        if (use_pause) _mm_pause();
        if (k % 256 == 0 && now_us() - t0 > spin_us) {
            while (atomic_load_explicit(word, memory_order_acquire) == value) futex_wait(word, value);
            return;
        }
    }
}

static void *pool_worker(void *arg)
{
    (void)arg;
    for (unsigned seen = 0;;) {
        wait_for_change(&job, seen);
        seen = atomic_load(&job);
        piece(1, NULL);
        atomic_store_explicit(&done, seen, memory_order_release);
        futex_wake(&done);
    }
    return NULL;
}

static void pool_region(void)
{
    unsigned n = atomic_fetch_add(&job, 1) + 1;
    futex_wake(&job);
    piece(0, NULL);
    wait_for_change(&done, n - 1);
}

int main(int argc, char **argv)
{
    prefer_passive_omp_waiting(argv); /* as ./train: unless OMP_WAIT_POLICY is set */
    const char *mode = "omp";
    double gap_us = 100;
    int rounds = 2000;
    work_us = 20;
    spin_us = 50;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc) {
            fprintf(stderr, "bench_fork_join: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--spin-us")) spin_us = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--gap-us")) gap_us = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--work-us")) work_us = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_fork_join: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    bool omp = !strcmp(mode, "omp");
    use_pause = !strcmp(mode, "spin-pause");
    if (!omp && !use_pause && strcmp(mode, "spin")) {
        fprintf(stderr, "bench_fork_join: --mode is omp, spin or spin-pause, got %s\n", mode);
        return 2;
    }
    if (rounds < 1 || !(work_us >= 0) || !(gap_us >= 0) || !(spin_us >= 0)) {
        fprintf(stderr, "bench_fork_join: --rounds must be at least 1 and the --*-us values at least 0\n");
        return 2;
    }
    if (omp && engine_num_threads() < 2) {
        fprintf(stderr, "bench_fork_join: the omp mode needs OMP_NUM_THREADS >= 2\n");
        return 2;
    }
    calibrate();
    pthread_t worker;
    if (!omp && pthread_create(&worker, NULL, pool_worker, NULL) != 0) return 1;
    double *region = malloc(sizeof(double) * (size_t)rounds), *alone = malloc(sizeof(double) * (size_t)rounds);
    if (!region || !alone) return 1;
    for (int r = 0; r < rounds; r++) {
        spin_work((long)(gap_us * (double)iters_per_us)); /* the serial part before the region */
        double t0 = now_us();
        if (omp) engine_parallel_for(2, piece, NULL);
        else pool_region();
        double t1 = now_us();
        piece(0, NULL);
        alone[r] = now_us() - t1;
        region[r] = t1 - t0;
    }
    double region_sum = 0, alone_sum = 0;
    for (int r = 0; r < rounds; r++) region_sum += region[r], alone_sum += alone[r];
    double rm = bench_median(region, rounds), am = bench_median(alone, rounds), p99 = region[rounds * 99 / 100];
    /* the mean too: a few long waits (a vCPU descheduled) cost a training run as much as many short ones */
    printf("%s gap_us %g work_us %g region_us %.1f overhead_us %.1f mean_overhead_us %.1f p99_region_us %.1f\n",
           mode, gap_us, work_us, rm, rm - am, (region_sum - alone_sum) / rounds, p99);
    free(region);
    free(alone);
    return 0;
}
