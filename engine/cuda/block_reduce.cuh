/* Building blocks shared by the CUDA reduction, index, loss, softmax and
 * optimizer kernels, on top of launch.cuh: 64-bit strided indexing, warp
 * and block reductions in a fixed order (so results never depend on
 * timing), the rule that cuts long reductions into chunks, a two-stage
 * reduction of a few doubles over n items, and scratch device memory.
 * Only included by .cu files. */
#ifndef ENGINE_CUDA_BLOCK_REDUCE_CUH
#define ENGINE_CUDA_BLOCK_REDUCE_CUH

#include <math.h>
#include <stdint.h>

#include "engine/cuda/launch.cuh"

extern "C" {
#include "engine/cuda/allocator.h"
#include "engine/tensor.h"
}

#define WARP 32

/* Blocks of CUDA_THREADS that give every one of n items its own thread. */
static inline unsigned blocks_for(int64_t n)
{
    int64_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    ENGINE_ASSERT(b <= INT32_MAX);
    return (unsigned)(b > 0 ? b : 1);
}

/* Row-major dims with one operand's strides, for kernels that index a
 * strided tensor by a flat index (64-bit: reductions may be long). */
typedef StridedIndexer<1, int64_t> StridedDims;

/* The offset at flat index i. */
__device__ __forceinline__ int64_t strided_offset(const StridedDims &s, int64_t i)
{
    int64_t off;
    s.offsets(i, &off);
    return off;
}

/* A 64-bit indexer over shape for N operands with the given strides, dims
 * coalesced as the CPU kernels coalesce them. */
template <int N> static StridedIndexer<N, int64_t> make_indexer(Shape shape, const int64_t *const *strides)
{
    StridedLoop L;
    strided_loop_init(&L, shape, N, strides);
    StridedIndexer<N, int64_t> ix;
    ix.ndim = L.ndim_outer + 1;
    for (int d = 0; d < L.ndim_outer; d++) {
        ix.size[d] = L.outer_size[d];
        for (int k = 0; k < N; k++) ix.stride[k][d] = L.outer_stride[k][d];
    }
    ix.size[L.ndim_outer] = L.inner > 0 ? L.inner : 1;
    for (int k = 0; k < N; k++) ix.stride[k][L.ndim_outer] = L.inner_stride[k];
    return ix;
}

/* ---- combining values ---- */

/* b replaces a when larger or NaN: NaN propagates, as in PyTorch's max. */
struct MaxNanOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const
    {
        return (b > a || b != b) ? b : a;
    }
};

/* The larger of two floats, ignoring NaN (fmaxf). */
struct FmaxOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

struct MinOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return b < a ? b : a; }
};

struct MaxOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return b > a ? b : a; }
};

struct SumOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

/* Tree over the 32 lanes of a warp; lane 0 holds the result. */
template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op)
{
#pragma unroll
    for (int o = WARP / 2; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

/* Butterfly over the 32 lanes of a warp: every lane gets the same result
 * (each step combines the same two values on both lanes). */
template <typename T, typename Op> __device__ __forceinline__ T warp_allreduce(T v, Op op)
{
#pragma unroll
    for (int o = WARP / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Tree over a one-dimensional block whose size is a multiple of 32; every
 * thread gets the result. Every thread of the block must call it. */
template <typename T, typename Op> __device__ T block_allreduce(T v, Op op, T identity)
{
    __shared__ T warp_part[WARP];
    __shared__ T result;
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    v = warp_reduce(v, op);
    __syncthreads(); /* an earlier call may still be reading warp_part or result */
    if (lane == 0) warp_part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int n_warps = (blockDim.x + WARP - 1) / WARP;
        T w = lane < n_warps ? warp_part[lane] : identity;
        w = warp_reduce(w, op);
        if (lane == 0) result = w;
    }
    __syncthreads();
    return result;
}

/* Over groups of G threads, G the warp or the whole block; every thread of
 * the group gets the result. */
template <int G, typename T, typename Op> __device__ __forceinline__ T group_allreduce(T v, Op op, T identity)
{
    if constexpr (G == WARP) return warp_allreduce(v, op);
    else return block_allreduce(v, op, identity);
}

/* ---- scratch device memory ---- */

/* Device memory for n elements of T from the caching allocator. Release it
 * with scratch_free once the kernels that use it are queued: the one stream
 * orders its next owner's kernels after them. A few bytes that cannot be had
 * mean a device full beyond what an op can report, so that aborts. */
template <typename T> static inline T *scratch_new(int64_t n)
{
    void *p = cuda_caching_alloc(sizeof(T) * (size_t)(n > 0 ? n : 1));
    if (!p) cuda_fail("CUDA", "cuda_caching_alloc (kernel scratch)", "out of device memory", __FILE__, __LINE__);
    return (T *)p;
}

static inline void scratch_free(void *p) { cuda_caching_free(p); }

/* Copies n bytes from the device to the host and waits for them. */
static inline void copy_to_host_sync(void *dst, const void *src, size_t n)
{
    CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, cuda_current_stream()));
    CUDA_CHECK(cudaStreamSynchronize(cuda_current_stream()));
}

/* ---- cutting long reductions into chunks ---- */

/* Blocks in all that make it worth cutting reductions into chunks. */
#define TARGET_BLOCKS 1024
/* Elements each thread should get at least, per chunk. */
#define MIN_PER_THREAD 16

/* How many chunks (at most 65535, a grid's y extent) each reduction of R
 * elements is cut into, given the blocks its outputs take and the threads
 * sharing each one. Depends on the shape only, so results do not depend on
 * the device. */
static inline int64_t reduce_chunk_count(int64_t R, int64_t out_blocks, int64_t threads_per_output)
{
    int64_t by_work = R / (threads_per_output * MIN_PER_THREAD);
    int64_t by_fill = (TARGET_BLOCKS + out_blocks - 1) / out_blocks;
    int64_t c = by_work < by_fill ? by_work : by_fill;
    if (c > 65535) c = 65535;
    return c > 1 ? c : 1;
}

/* ---- reductions of a few doubles over n items, in two deterministic stages ---- */

/* Blocks of the first stage: a fixed number for a given n, so the order of
 * the combinations depends on n only. */
static inline unsigned over_blocks(int64_t n)
{
    int64_t b = (n + CUDA_THREADS * 8 - 1) / (CUDA_THREADS * 8);
    return (unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b);
}

/* Stage 1: block b folds f(i, acc) over its grid-stride share of [0, n)
 * into partial[b * K + k]. */
template <int K, typename F, typename Op>
__global__ void over_partial_kernel(int64_t n, F f, Op op, double identity, double *partial)
{
    double acc[K];
#pragma unroll
    for (int k = 0; k < K; k++) acc[k] = identity;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        f(i, acc);
#pragma unroll
    for (int k = 0; k < K; k++) {
        double t = block_allreduce(acc[k], op, identity);
        if (threadIdx.x == 0) partial[blockIdx.x * K + k] = t;
    }
}

/* Stage 2 (one block): the n_blocks partials combined, handed to fin(totals) on thread 0. */
template <int K, typename Op, typename Fin>
__global__ void over_final_kernel(const double *partial, unsigned n_blocks, Op op, double identity, Fin fin)
{
    double total[K];
#pragma unroll
    for (int k = 0; k < K; k++) {
        double acc = identity;
        for (unsigned b = threadIdx.x; b < n_blocks; b += blockDim.x) acc = op(acc, partial[b * K + k]);
        total[k] = block_allreduce(acc, op, identity);
    }
    if (threadIdx.x == 0) fin(total);
}

/* Runs both stages: f(i, double acc[K]) folds item i's K values into acc
 * with op, fin(const double total[K]) stores the result on the device. */
template <int K, typename F, typename Op, typename Fin>
static void reduce_over(int64_t n, F f, Op op, double identity, Fin fin)
{
    unsigned nb = over_blocks(n);
    double *partial = scratch_new<double>((int64_t)nb * K);
    cudaStream_t s = cuda_current_stream();
    over_partial_kernel<K><<<nb, CUDA_THREADS, 0, s>>>(n, f, op, identity, partial);
    CUDA_CHECK_LAUNCH();
    over_final_kernel<K><<<1, CUDA_THREADS, 0, s>>>(partial, nb, op, identity, fin);
    CUDA_CHECK_LAUNCH();
    scratch_free(partial);
}

/* Sums: f adds item i's K values into acc. */
template <int K, typename F, typename Fin> static void sum_over(int64_t n, F f, Fin fin)
{
    reduce_over<K>(n, f, SumOp(), 0.0, fin);
}

#endif
