/* Internals shared by the CPU reduction kernels (reduce.c, reduce_rows.c,
 * reduce_dim.c): a reduction pass as data, index walking, and the rule that
 * cuts few long reductions into chunks. Not part of the engine's API. */
#ifndef ENGINE_CPU_REDUCE_IMPL_H
#define ENGINE_CPU_REDUCE_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/cpu/strided.h"
#include "engine/tensor.h"

#define ROW_FLUSH 64 /* rows summed in float before their totals move to double */
#define MAX_CHUNKS 32
#define CHUNK_WORK (8 * CPU_PARALLEL_GRAIN)

typedef enum {
    RED_SUM,   /* sum of x */
    RED_SQDEV, /* sum of (x - shift)^2, shift per output */
    RED_MAX,   /* max of sign * x (sign -1 makes it a min: negation is exact and keeps NaN) */
} ReduceKind;

/* One reduction pass. Output j is sign * acc for RED_MAX, otherwise
 * acc * scale (1 / the divisor: a division per output would cost more than
 * a short run), square-rooted when take_sqrt; it is written as f32 to out
 * or, for internal passes, as double to out_f64. */
typedef struct {
    ReduceKind kind;
    float sign;
    const double *shift;
    double scale;
    bool take_sqrt;
    float *out;
    double *out_f64;
} ReduceJob;

/* Walks the row-major indices of a strided shape, keeping the element offset. */
typedef struct {
    int ndim;
    const int64_t *size, *stride;
    int64_t idx[MAX_DIMS];
    int64_t off;
} IndexIter;

static inline void iter_start(IndexIter *it, const Shape *s, const int64_t *strides, int64_t j)
{
    it->ndim = s->ndim;
    it->size = s->d;
    it->stride = strides;
    it->off = 0;
    for (int d = s->ndim - 1; d >= 0; d--) {
        it->idx[d] = j % s->d[d];
        it->off += it->idx[d] * strides[d];
        j /= s->d[d];
    }
}

static inline void iter_next(IndexIter *it)
{
    for (int d = it->ndim - 1; d >= 0; d--) {
        it->off += it->stride[d];
        if (++it->idx[d] < it->size[d]) return;
        it->off -= it->size[d] * it->stride[d];
        it->idx[d] = 0;
    }
}

/* v replaces m when larger or NaN: NaN propagates, as in PyTorch. */
static inline float pick_max_f(float m, float v) { return ((v > m) | (v != v)) ? v : m; }
static inline double pick_max_d(double m, double v) { return ((v > m) | (v != v)) ? v : m; }

static inline double acc_identity(const ReduceJob *job) { return job->kind == RED_MAX ? -INFINITY : 0.0; }

static inline double acc_combine(const ReduceJob *job, double a, double b)
{
    return job->kind == RED_MAX ? pick_max_d(a, b) : a + b;
}

static inline void reduce_store(const ReduceJob *job, int64_t j, double acc)
{
    double v = job->kind == RED_MAX ? job->sign * acc : acc * job->scale;
    if (job->take_sqrt) v = sqrt(v);
    if (job->out_f64) job->out_f64[j] = v;
    else job->out[j] = (float)v;
}

/* How many pieces each of n_tasks reductions of R elements is cut into:
 * pieces of at least CHUNK_WORK elements in all, as each costs a pass over
 * its outputs. */
static inline int64_t reduce_chunks(int64_t n_tasks, int64_t R, int64_t work)
{
    if (n_tasks >= MAX_CHUNKS || work < 2 * CHUNK_WORK) return 1;
    int64_t c = work / CHUNK_WORK;
    if (c > MAX_CHUNKS) c = MAX_CHUNKS;
    if (c > R) c = R;
    return c;
}

/* Combines the partial results partial[c * n + j] of every chunk c and stores them. */
void cpu_reduce_combine_chunks(const ReduceJob *job, const double *partial, int64_t chunks, int64_t n);

/* The row path (reduce_rows.c): outputs form rows of K contiguous elements,
 * one row per index of outer; the input's reduced dims are red. */
void cpu_reduce_rows(const ReduceJob *job, const float *base, Shape outer, const int64_t *outer_strides, int64_t K,
                     Shape red, const int64_t *red_strides);

#endif
