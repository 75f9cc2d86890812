/* Coarse parallelism: independent pieces of work (the shards of a batch)
 * run on the engine's threads, one piece per call, each with the engine's
 * per-op threading off inside (ops and BLAS run on the calling thread), so
 * a whole forward or backward pass costs one fork and join instead of one
 * per op. */
#ifndef ENGINE_PARALLEL_H
#define ENGINE_PARALLEL_H

/* A piece of work: 0, or -1 with an engine error. */
typedef int (*ParallelFn)(int index, void *ctx);

/* The threads the engine's CPU kernels use (OMP_NUM_THREADS). */
int engine_num_threads(void);

/* Calls fn(i, ctx) for every i in [0, n), on up to n threads, and returns
 * when all are done. Each call runs with the calling thread's grad mode and
 * autocast state. Returns 0, or -1 with the error of the lowest failing i
 * (each call still runs: the pieces are independent). */
int engine_parallel_for(int n, ParallelFn fn, void *ctx);

#endif
