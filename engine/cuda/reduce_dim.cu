/* CUDA kernels of max/min along one dim with indices (torch.max(t, dim),
 * argmax) and of their backward, which puts gradients back at the indices.
 * The input is contiguous and seen as [outer, D, inner].
 *
 * Candidates are (value, index) pairs compared by one rule that does not
 * depend on the order they meet in: NaN beats every number, a larger value
 * beats a smaller one, and between equals (or two NaNs) the smaller index
 * wins. So warp trees and chunked scans pick the same element as the CPU's
 * first-occurrence scan. */
#include "engine/cuda/block_reduce.cuh"

extern "C" {
#include "engine/cuda/reduce.h"
}

struct MaxDimGeom {
    const float *in;
    float *values; /* may be NULL */
    int64_t *indices;
    int64_t D, inner, n_out, chunks;
    float sign; /* -1 turns the max into a min */
    float *part_v; /* [chunks][n_out] winners in sign space, when chunks > 1 */
    int64_t *part_i;
};

/* Whether candidate (v, i) replaces (best, bi); an index < 0 marks no candidate. */
__device__ __forceinline__ bool replaces(float v, int64_t i, float best, int64_t bi)
{
    if (i < 0) return false;
    if (bi < 0) return true;
    bool v_nan = v != v, b_nan = best != best;
    if (v_nan || b_nan) return v_nan && (!b_nan || i < bi);
    return v > best || (v == best && i < bi);
}

__device__ __forceinline__ void warp_reduce_pair(float &best, int64_t &bi)
{
#pragma unroll
    for (int o = WARP / 2; o > 0; o >>= 1) {
        float v = __shfl_down_sync(0xffffffffu, best, o);
        long long i = __shfl_down_sync(0xffffffffu, (long long)bi, o);
        if (replaces(v, i, best, bi)) {
            best = v;
            bi = i;
        }
    }
}

/* The winner of a one-dimensional block, valid on thread 0. */
__device__ void block_reduce_pair(float &best, int64_t &bi)
{
    __shared__ float wv[WARP];
    __shared__ int64_t wi[WARP];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    warp_reduce_pair(best, bi);
    if (lane == 0) {
        wv[warp] = best;
        wi[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
        int n_warps = (blockDim.x + WARP - 1) / WARP;
        best = lane < n_warps ? wv[lane] : 0.0f;
        bi = lane < n_warps ? wi[lane] : -1;
        warp_reduce_pair(best, bi);
    }
}

__device__ __forceinline__ void store_result(const MaxDimGeom &g, int64_t j, float best, int64_t bi)
{
    if (g.values) g.values[j] = g.sign * best;
    g.indices[j] = bi;
}

/* Stores output j's winner, or chunk c's winner when there are several chunks. */
__device__ __forceinline__ void store_winner(const MaxDimGeom &g, int64_t j, int64_t c, float best, int64_t bi)
{
    if (g.chunks == 1) {
        store_result(g, j, best, bi);
        return;
    }
    g.part_v[c * g.n_out + j] = best;
    g.part_i[c * g.n_out + j] = bi;
}

/* inner == 1: G threads (a warp or the block) per contiguous row of D;
 * blockIdx.y is the chunk of the row. */
template <int G> __global__ void max_rows_kernel(MaxDimGeom g)
{
    constexpr int per_block = CUDA_THREADS / G;
    int64_t j = (int64_t)blockIdx.x * per_block + threadIdx.x / G;
    int lane = (int)(threadIdx.x % G);
    int64_t c = blockIdx.y;
    float best = 0.0f;
    int64_t bi = -1;
    if (j < g.n_out) {
        const float *row = g.in + j * g.D;
        int64_t d1 = g.D * (c + 1) / g.chunks;
        for (int64_t d = g.D * c / g.chunks + lane; d < d1; d += G) {
            float v = g.sign * row[d];
            if (replaces(v, d, best, bi)) {
                best = v;
                bi = d;
            }
        }
    }
    if constexpr (G == WARP) warp_reduce_pair(best, bi);
    else block_reduce_pair(best, bi);
    if (lane == 0 && j < g.n_out) store_winner(g, j, c, best, bi);
}

/* inner > 1: one thread per output (o, k), neighbouring threads reading
 * neighbouring elements; blockIdx.y is the chunk of the dim. */
__global__ void max_cols_kernel(MaxDimGeom g)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= g.n_out) return;
    int64_t c = blockIdx.y, o = j / g.inner, k = j % g.inner;
    const float *col = g.in + o * g.D * g.inner + k;
    float best = 0.0f;
    int64_t bi = -1;
    int64_t d1 = g.D * (c + 1) / g.chunks;
    for (int64_t d = g.D * c / g.chunks; d < d1; d++) {
        float v = g.sign * col[d * g.inner];
        if (replaces(v, d, best, bi)) {
            best = v;
            bi = d;
        }
    }
    store_winner(g, j, c, best, bi);
}

/* One thread per output: the chunks' winners. */
__global__ void max_combine_kernel(MaxDimGeom g)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= g.n_out) return;
    float best = 0.0f;
    int64_t bi = -1;
    for (int64_t c = 0; c < g.chunks; c++) {
        float v = g.part_v[c * g.n_out + j];
        int64_t i = g.part_i[c * g.n_out + j];
        if (replaces(v, i, best, bi)) {
            best = v;
            bi = i;
        }
    }
    store_result(g, j, best, bi);
}

/* Sizes before, of and after dim (a 0-dim tensor counts as [1]). */
static void split_at_dim(const Tensor *t, int dim, int64_t *outer, int64_t *size, int64_t *inner)
{
    *outer = *size = *inner = 1;
    for (int d = 0; d < t->shape.ndim; d++) {
        if (d < dim) *outer *= t->shape.d[d];
        else if (d == dim) *size = t->shape.d[d];
        else *inner *= t->shape.d[d];
    }
}

extern "C" void cuda_max_dim(Tensor *values, Tensor *indices, const Tensor *in, int dim, bool is_max)
{
    int64_t outer;
    MaxDimGeom g = {};
    split_at_dim(in, dim, &outer, &g.D, &g.inner);
    ENGINE_ASSERT(g.D > 0);
    g.n_out = outer * g.inner;
    if (g.n_out == 0) return;
    g.in = tensor_f32(in);
    g.values = values ? tensor_f32(values) : NULL;
    g.indices = tensor_i64(indices);
    g.sign = is_max ? 1.0f : -1.0f;
    bool rows = g.inner == 1;
    int G = g.D >= 16 * CUDA_THREADS ? CUDA_THREADS : WARP;
    int64_t per_block = rows ? CUDA_THREADS / G : CUDA_THREADS;
    int64_t out_blocks = (g.n_out + per_block - 1) / per_block;
    ENGINE_ASSERT(out_blocks <= INT32_MAX);
    g.chunks = reduce_chunk_count(g.D, out_blocks, rows ? G : 1);
    if (g.chunks > 1) {
        g.part_v = scratch_new<float>(g.chunks * g.n_out);
        g.part_i = scratch_new<int64_t>(g.chunks * g.n_out);
    }
    dim3 grid((unsigned)out_blocks, (unsigned)g.chunks);
    cudaStream_t s = cuda_current_stream();
    if (!rows) max_cols_kernel<<<grid, CUDA_THREADS, 0, s>>>(g);
    else if (G == WARP) max_rows_kernel<WARP><<<grid, CUDA_THREADS, 0, s>>>(g);
    else max_rows_kernel<CUDA_THREADS><<<grid, CUDA_THREADS, 0, s>>>(g);
    CUDA_CHECK_LAUNCH();
    if (g.chunks > 1) {
        max_combine_kernel<<<blocks_for(g.n_out), CUDA_THREADS, 0, s>>>(g);
        CUDA_CHECK_LAUNCH();
        scratch_free(g.part_v);
        scratch_free(g.part_i);
    }
}

__global__ void put_along_dim_kernel(float *dst, const float *src, const int64_t *idx, int64_t n, int64_t D,
                                     int64_t inner)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    int64_t o = j / inner, k = j % inner, i = idx[j];
    if (i >= 0 && i < D) dst[(o * D + i) * inner + k] = src[j]; /* indices come from max_dim: always in range */
}

extern "C" void cuda_put_along_dim(Tensor *dst, const Tensor *src, const Tensor *indices, int dim)
{
    int64_t outer, D, inner;
    split_at_dim(dst, dim, &outer, &D, &inner);
    int64_t n = outer * inner;
    if (n == 0) return;
    put_along_dim_kernel<<<blocks_for(n), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(dst), tensor_f32(src), tensor_i64(indices), n, D, inner);
    CUDA_CHECK_LAUNCH();
}
