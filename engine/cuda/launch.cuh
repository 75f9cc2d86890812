/* Launch helpers shared by the CUDA kernels (C++; included by .cu files
 * only): the stream, grid sizes, and elementwise launches over up to
 * STRIDED_MAX_OPS strided operands that share one index space.
 *
 * launch_elementwise<N>(shape, strides, op) calls op(off) once per element
 * of shape, where off[k] is operand k's element offset (its strides may be
 * 0 where it is broadcast). Dims are coalesced on the host as the CPU
 * kernels do (engine/cpu/strided.h); when every operand is contiguous the
 * kernel skips the index arithmetic, and when the element count fits in 32
 * bits the divisions are 32-bit (several times cheaper on the GPU). */
#ifndef ENGINE_CUDA_LAUNCH_CUH
#define ENGINE_CUDA_LAUNCH_CUH

#include <stdint.h>

#include <cuda_runtime.h>

#include "engine/cuda/check.h"
#include "engine/cuda/runtime.h"

extern "C" {
#include "engine/cpu/strided.h"
#include "engine/shape.h"
}

/* Multiprocessors on the current device (queried once). */
int cuda_sm_count(void);

static inline cudaStream_t cuda_current_stream(void) { return (cudaStream_t)cuda_stream(); }

#define CUDA_THREADS 256

/* Blocks for a grid-stride loop over n items: enough to fill every SM
 * (8 blocks of 256 threads = 2048 resident threads each), no more. */
static inline unsigned cuda_grid_size(int64_t n, int threads)
{
    int64_t blocks = (n + threads - 1) / threads;
    int64_t cap = (int64_t)cuda_sm_count() * 8;
    if (blocks > cap) blocks = cap;
    return (unsigned)(blocks > 0 ? blocks : 1);
}

/* Operand offsets from a flat row-major index over the coalesced dims. */
template <int N, typename Index> struct StridedIndexer {
    int ndim;
    Index size[MAX_DIMS];
    int64_t stride[N][MAX_DIMS];

    __device__ __forceinline__ void offsets(Index i, int64_t *off) const
    {
#pragma unroll
        for (int k = 0; k < N; k++) off[k] = 0;
#pragma unroll
        for (int d = MAX_DIMS - 1; d >= 0; d--) {
            if (d >= ndim) continue;
            Index q = i / size[d];
            Index r = i - q * size[d];
            i = q;
#pragma unroll
            for (int k = 0; k < N; k++) off[k] += (int64_t)r * stride[k][d];
        }
    }
};

template <int N, typename Index, typename Op>
__global__ void strided_elementwise_kernel(Index n, StridedIndexer<N, Index> ix, Op op)
{
    for (Index i = (Index)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (Index)gridDim.x * blockDim.x) {
        int64_t off[N];
        ix.offsets(i, off);
        op(off);
    }
}

template <int N, typename Index, typename Op> __global__ void contiguous_elementwise_kernel(Index n, Op op)
{
    for (Index i = (Index)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (Index)gridDim.x * blockDim.x) {
        int64_t off[N];
#pragma unroll
        for (int k = 0; k < N; k++) off[k] = (int64_t)i;
        op(off);
    }
}

template <int N, typename Index, typename Op>
static void launch_elementwise_indexed(int64_t n, const StridedLoop &L, bool contiguous, Op op)
{
    unsigned grid = cuda_grid_size(n, CUDA_THREADS);
    cudaStream_t s = cuda_current_stream();
    if (contiguous) {
        contiguous_elementwise_kernel<N, Index, Op><<<grid, CUDA_THREADS, 0, s>>>((Index)n, op);
    } else {
        StridedIndexer<N, Index> ix;
        ix.ndim = L.ndim_outer + 1;
        for (int d = 0; d < L.ndim_outer; d++) {
            ix.size[d] = (Index)L.outer_size[d];
            for (int k = 0; k < N; k++) ix.stride[k][d] = L.outer_stride[k][d];
        }
        ix.size[L.ndim_outer] = (Index)L.inner;
        for (int k = 0; k < N; k++) ix.stride[k][L.ndim_outer] = L.inner_stride[k];
        strided_elementwise_kernel<N, Index, Op><<<grid, CUDA_THREADS, 0, s>>>((Index)n, ix, op);
    }
    CUDA_CHECK_LAUNCH();
}

/* Whether the coalesced loop walks every operand with unit stride. */
template <int N> static inline bool strided_loop_contiguous(const StridedLoop &L)
{
    if (L.outer * L.inner <= 1) return true; /* one element: every offset is 0 */
    if (L.ndim_outer != 0) return false;
    for (int k = 0; k < N; k++)
        if (L.inner_stride[k] != 1) return false;
    return true;
}

/* Runs op(off) for every element of shape; strides[k] are operand k's
 * element strides over shape. */
template <int N, typename Op> static void launch_elementwise(Shape shape, const int64_t *const *strides, Op op)
{
    static_assert(N >= 1 && N <= STRIDED_MAX_OPS, "too many operands");
    int64_t n = shape_numel(shape);
    if (n == 0) return;
    StridedLoop L;
    strided_loop_init(&L, shape, N, strides);
    bool contiguous = strided_loop_contiguous<N>(L);
    if (n <= INT32_MAX) launch_elementwise_indexed<N, uint32_t>(n, L, contiguous, op);
    else launch_elementwise_indexed<N, int64_t>(n, L, contiguous, op);
}

#endif
