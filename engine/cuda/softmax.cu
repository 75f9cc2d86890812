/* CUDA softmax / log-softmax and their backward. The tensor is seen as
 * [outer, size, inner] around the softmax dim.
 *  - Along the last dim (inner 1) every row is contiguous: a warp (rows up
 *    to a few thousand) or a whole block per row, which reads it coalesced,
 *    finds its max, sums the exponentials and writes, with the group's
 *    reductions done by shuffles and shared memory.
 *  - Otherwise one thread per (outer, inner) position walks its column;
 *    neighbouring threads read neighbouring elements.
 * The max is subtracted before exponentiating; sums accumulate in double
 * (the CPU sums floats in short blocks and those in double). */
#include "engine/cuda/block_reduce.cuh"

extern "C" {
#include "engine/cuda/softmax.h"
}

/* Rows at least this long get a whole block instead of a warp. */
#define BLOCK_ROW 4096


/* The value written at one element once the max mx and the sum s of the
 * row (or column) are known. */
__device__ __forceinline__ float softmax_out(float x, float mx, float scale, bool log_out)
{
    return log_out ? (x - mx) - scale : expf(x - mx) * scale;
}

/* scale: log(sum) for log_softmax, 1 / sum for softmax. */
__device__ __forceinline__ float softmax_scale(double sum, bool log_out)
{
    return log_out ? (float)log(sum) : (float)(1.0 / sum);
}

/* ---- forward ---- */

template <int G> __global__ void softmax_rows_kernel(float *y, const float *x, int64_t rows, int64_t n, bool log_out)
{
    constexpr int per_block = CUDA_THREADS / G;
    int64_t j = (int64_t)blockIdx.x * per_block + threadIdx.x / G;
    int lane = (int)(threadIdx.x % G);
    bool active = j < rows;
    const float *xr = x + j * n;
    float mx = -INFINITY;
    if (active)
        for (int64_t i = lane; i < n; i += G) mx = fmaxf(mx, xr[i]);
    mx = group_allreduce<G>(mx, FmaxOp(), -INFINITY);
    double sum = 0.0;
    if (active)
        for (int64_t i = lane; i < n; i += G) sum += expf(xr[i] - mx);
    sum = group_allreduce<G>(sum, SumOp(), 0.0);
    if (!active) return;
    float scale = softmax_scale(sum, log_out);
    float *yr = y + j * n;
    for (int64_t i = lane; i < n; i += G) yr[i] = softmax_out(xr[i], mx, scale, log_out);
}

__global__ void softmax_cols_kernel(float *y, const float *x, DimSplit s, bool log_out)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= s.outer * s.inner) return;
    int64_t base = (j / s.inner) * s.size * s.inner + j % s.inner;
    const float *xc = x + base;
    float mx = -INFINITY;
    for (int64_t d = 0; d < s.size; d++) mx = fmaxf(mx, xc[d * s.inner]);
    double sum = 0.0;
    for (int64_t d = 0; d < s.size; d++) sum += expf(xc[d * s.inner] - mx);
    float scale = softmax_scale(sum, log_out);
    float *yc = y + base;
    for (int64_t d = 0; d < s.size; d++) yc[d * s.inner] = softmax_out(xc[d * s.inner], mx, scale, log_out);
}

/* ---- backward ---- */

/* The summand of the backward's one reduction: g (log_softmax) or g * y. */
__device__ __forceinline__ double backward_term(float g, float y, bool log_out)
{
    return log_out ? (double)g : (double)g * (double)y;
}

__device__ __forceinline__ float backward_out(float g, float y, float s, bool log_out)
{
    return log_out ? g - expf(y) * s : y * (g - s);
}

template <int G>
__global__ void softmax_backward_rows_kernel(float *gi, const float *g, const float *y, int64_t rows, int64_t n,
                                             bool log_out)
{
    constexpr int per_block = CUDA_THREADS / G;
    int64_t j = (int64_t)blockIdx.x * per_block + threadIdx.x / G;
    int lane = (int)(threadIdx.x % G);
    bool active = j < rows;
    const float *gr = g + j * n, *yr = y + j * n;
    double acc = 0.0;
    if (active)
        for (int64_t i = lane; i < n; i += G) acc += backward_term(gr[i], yr[i], log_out);
    acc = group_allreduce<G>(acc, SumOp(), 0.0);
    if (!active) return;
    float s = (float)acc;
    float *out = gi + j * n;
    for (int64_t i = lane; i < n; i += G) out[i] = backward_out(gr[i], yr[i], s, log_out);
}

__global__ void softmax_backward_cols_kernel(float *gi, const float *g, const float *y, DimSplit s, bool log_out)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= s.outer * s.inner) return;
    int64_t base = (j / s.inner) * s.size * s.inner + j % s.inner;
    const float *gc = g + base, *yc = y + base;
    double acc = 0.0;
    for (int64_t d = 0; d < s.size; d++) acc += backward_term(gc[d * s.inner], yc[d * s.inner], log_out);
    float sum = (float)acc;
    float *out = gi + base;
    for (int64_t d = 0; d < s.size; d++)
        out[d * s.inner] = backward_out(gc[d * s.inner], yc[d * s.inner], sum, log_out);
}

/* ---- drivers ---- */

/* Grid for rows of n elements, G threads per row. */
static unsigned row_blocks(int64_t rows, int G)
{
    int64_t per_block = CUDA_THREADS / G;
    int64_t b = (rows + per_block - 1) / per_block;
    ENGINE_ASSERT(b <= INT32_MAX);
    return (unsigned)b;
}

extern "C" void cuda_softmax(Tensor *out, const Tensor *x, int dim, bool log_out)
{
    if (tensor_numel(x) == 0) return;
    DimSplit s = shape_split_at(x->shape, dim);
    float *py = tensor_f32(out);
    const float *px = tensor_f32(x);
    cudaStream_t st = cuda_current_stream();
    if (s.inner > 1) {
        softmax_cols_kernel<<<blocks_for(s.outer * s.inner), CUDA_THREADS, 0, st>>>(py, px, s, log_out);
    } else if (s.size >= BLOCK_ROW) {
        softmax_rows_kernel<CUDA_THREADS>
            <<<row_blocks(s.outer, CUDA_THREADS), CUDA_THREADS, 0, st>>>(py, px, s.outer, s.size, log_out);
    } else {
        softmax_rows_kernel<WARP><<<row_blocks(s.outer, WARP), CUDA_THREADS, 0, st>>>(py, px, s.outer, s.size, log_out);
    }
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_softmax_backward(Tensor *grad_in, const Tensor *g, const Tensor *y, int dim, bool log_out)
{
    if (tensor_numel(y) == 0) return;
    DimSplit s = shape_split_at(y->shape, dim);
    float *pgi = tensor_f32(grad_in);
    const float *pg = tensor_f32(g), *py = tensor_f32(y);
    cudaStream_t st = cuda_current_stream();
    if (s.inner > 1) {
        softmax_backward_cols_kernel<<<blocks_for(s.outer * s.inner), CUDA_THREADS, 0, st>>>(pgi, pg, py, s, log_out);
    } else if (s.size >= BLOCK_ROW) {
        softmax_backward_rows_kernel<CUDA_THREADS>
            <<<row_blocks(s.outer, CUDA_THREADS), CUDA_THREADS, 0, st>>>(pgi, pg, py, s.outer, s.size, log_out);
    } else {
        softmax_backward_rows_kernel<WARP>
            <<<row_blocks(s.outer, WARP), CUDA_THREADS, 0, st>>>(pgi, pg, py, s.outer, s.size, log_out);
    }
    CUDA_CHECK_LAUNCH();
}
