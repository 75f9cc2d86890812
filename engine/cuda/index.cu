/* CUDA indexing kernels (see index.h).
 *
 * gather and pad give every output element its own thread. The accumulating
 * kernels stay deterministic without float atomics:
 *  - scatter_add gives each line along dim (index's other coordinates fixed)
 *    to one thread, which adds in index order: distinct lines write
 *    disjoint parts of out, as on the CPU;
 *  - index_add sorts the index stably (radix sort of (row, position)
 *    pairs), so each output element's thread adds its source rows in index
 *    order, the same float additions in the same order as the CPU kernel.
 * When cuda_deterministic() is off, float accumulation takes the faster
 * atomicAdd path instead (one thread per source element). */
#include <limits.h>

#include <cub/device/device_radix_sort.cuh>

#include "engine/cuda/block_reduce.cuh"

extern "C" {
#include "engine/cuda/index.h"
}

/* Lines along dim at least this long go through atomics when allowed. */
#define ATOMIC_MIN_LINE 32

/* ---- index_range ---- */

__global__ void index_range_kernel(const int64_t *p, int64_t n, StridedDims ix, long long *range)
{
    long long lo = LLONG_MAX, hi = LLONG_MIN;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        long long v = p[strided_offset(ix, i)];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    lo = block_allreduce(lo, MinOp(), LLONG_MAX);
    hi = block_allreduce(hi, MaxOp(), LLONG_MIN);
    if (threadIdx.x == 0) { /* integer atomics: the result does not depend on the order */
        atomicMin(&range[0], lo);
        atomicMax(&range[1], hi);
    }
}

extern "C" void cuda_index_range(const Tensor *index, int64_t *min_out, int64_t *max_out)
{
    int64_t n = tensor_numel(index);
    if (n == 0) {
        *min_out = INT64_MAX;
        *max_out = INT64_MIN;
        return;
    }
    const int64_t *strides[1] = {index->strides};
    long long *range = scratch_new<long long>(2);
    const long long start[2] = {LLONG_MAX, LLONG_MIN};
    cudaStream_t s = cuda_current_stream();
    CUDA_CHECK(cudaMemcpyAsync(range, start, sizeof start, cudaMemcpyHostToDevice, s));
    index_range_kernel<<<cuda_grid_size(n, CUDA_THREADS), CUDA_THREADS, 0, s>>>(
        tensor_i64(index), n, make_indexer<1>(index->shape, strides), range);
    CUDA_CHECK_LAUNCH();
    long long result[2];
    copy_to_host_sync(result, range, sizeof result);
    scratch_free(range);
    *min_out = result[0];
    *max_out = result[1];
}

/* ---- gather ---- */

/* out[c] = src[c with c[dim] = index[c]]: off = (out, index, src without dim). */
template <typename T> struct GatherOp {
    T *out;
    const T *src;
    const int64_t *idx;
    int64_t dim_stride;
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        out[off[0]] = src[off[2] + idx[off[1]] * dim_stride];
    }
};

template <typename T>
static void gather_typed(Tensor *out, const Tensor *src, const Tensor *index, int64_t dim_stride,
                         const int64_t *const *strides)
{
    GatherOp<T> op = {(T *)tensor_data(out), (const T *)tensor_data(src), tensor_i64(index), dim_stride};
    launch_elementwise<3>(out->shape, strides, op);
}

extern "C" void cuda_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index)
{
    /* src is walked at index position with its dim's stride left out; the
     * index value then supplies the offset along dim */
    int64_t src_strides[MAX_DIMS] = {0};
    for (int d = 0; d < src->shape.ndim; d++) src_strides[d] = src->strides[d];
    int64_t dim_stride = 0;
    if (src->shape.ndim > 0) {
        dim_stride = src->strides[dim];
        src_strides[dim] = 0;
    }
    const int64_t *strides[3] = {out->strides, index->strides, src_strides};
    switch (out->dtype) {
    case DT_F32: gather_typed<float>(out, src, index, dim_stride, strides); break;
    case DT_I64: gather_typed<int64_t>(out, src, index, dim_stride, strides); break;
    case DT_U8: gather_typed<uint8_t>(out, src, index, dim_stride, strides); break;
    default: ENGINE_UNREACHABLE("gather: bad dtype");
    }
}

/* ---- scatter_add ---- */

/* One line along dim: off = (out, index, src) at the line's start. */
template <typename T> struct ScatterLineOp {
    T *out;
    const T *src;
    const int64_t *idx;
    int64_t len, idx_step, src_step, out_dim_stride;
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        T *po = out + off[0];
        const int64_t *pi = idx + off[1];
        const T *ps = src + off[2];
        for (int64_t k = 0; k < len; k++) po[pi[k * idx_step] * out_dim_stride] += ps[k * src_step];
    }
};

/* One element: off = (out without dim, index, src). */
struct ScatterAtomicOp {
    float *out;
    const float *src;
    const int64_t *idx;
    int64_t out_dim_stride;
    __device__ __forceinline__ void operator()(const int64_t *off) const
    {
        atomicAdd(out + off[0] + idx[off[1]] * out_dim_stride, src[off[2]]);
    }
};

/* steps: the line length, and index's and src's strides along dim. */
template <typename T>
static void scatter_lines(Tensor *out, const Tensor *index, const Tensor *src, Shape lines,
                          const int64_t *const *strides, const int64_t *steps, int64_t out_dim_stride)
{
    ScatterLineOp<T> op = {(T *)tensor_data(out), (const T *)tensor_data(src), tensor_i64(index), steps[0], steps[1],
                           steps[2], out_dim_stride};
    launch_elementwise<3>(lines, strides, op);
}

extern "C" void cuda_scatter_add(Tensor *out, int dim, const Tensor *index, const Tensor *src)
{
    int nd = index->shape.ndim;
    int64_t out_dim_stride = nd > 0 ? out->strides[dim] : 0;
    int64_t len = nd > 0 ? index->shape.d[dim] : 1;
    if (out->dtype == DT_F32 && !cuda_deterministic() && len >= ATOMIC_MIN_LINE) {
        int64_t out_strides[MAX_DIMS] = {0};
        for (int d = 0; d < nd; d++) out_strides[d] = d == dim ? 0 : out->strides[d];
        const int64_t *strides[3] = {out_strides, index->strides, src->strides};
        ScatterAtomicOp op = {tensor_f32(out), tensor_f32(src), tensor_i64(index), out_dim_stride};
        launch_elementwise<3>(index->shape, strides, op);
        return;
    }
    /* the lines: index's shape without dim, each walked along dim in order */
    Shape lines = {0, {0}};
    int64_t so[MAX_DIMS] = {0}, si[MAX_DIMS] = {0}, ss[MAX_DIMS] = {0};
    for (int k = 0; k < nd; k++) {
        if (k == dim) continue;
        lines.d[lines.ndim] = index->shape.d[k];
        so[lines.ndim] = out->strides[k];
        si[lines.ndim] = index->strides[k];
        ss[lines.ndim] = src->strides[k];
        lines.ndim++;
    }
    int64_t idx_step = nd > 0 ? index->strides[dim] : 0, src_step = nd > 0 ? src->strides[dim] : 0;
    const int64_t *strides[3] = {so, si, ss};
    int64_t steps[3] = {len, idx_step, src_step};
    switch (out->dtype) {
    case DT_F32: scatter_lines<float>(out, index, src, lines, strides, steps, out_dim_stride); break;
    case DT_I64: scatter_lines<int64_t>(out, index, src, lines, strides, steps, out_dim_stride); break;
    case DT_U8: scatter_lines<uint8_t>(out, index, src, lines, strides, steps, out_dim_stride); break;
    default: ENGINE_UNREACHABLE("scatter_add: bad dtype");
    }
}

/* ---- index_add ---- */

/* out as [outer, size, inner], src as [outer, n, inner]. */
struct IndexAddGeom {
    float *out;
    const float *src;
    int64_t outer, size, inner, n, skip;
};

__global__ void iota_kernel(int64_t *v, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = i;
}

/* start[r] = the first position p with keys[p] >= r, for r in [0, size]. */
__global__ void row_start_kernel(const unsigned long long *keys, int64_t n, int64_t size, int64_t *start)
{
    int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r > size) return;
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < (unsigned long long)r) lo = mid + 1;
        else hi = mid;
    }
    start[r] = lo;
}

/* One thread per out element (o, r, k): adds the source rows that index
 * sends to row r, in index order (perm is the stable sort's permutation). */
__global__ void index_add_sorted_kernel(IndexAddGeom g, const int64_t *perm, const int64_t *start)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= g.outer * g.size * g.inner) return;
    int64_t k = j % g.inner, r = (j / g.inner) % g.size, o = j / (g.inner * g.size);
    int64_t p0 = start[r], p1 = start[r + 1];
    if (p0 == p1 || r == g.skip) return;
    float acc = g.out[j];
    for (int64_t p = p0; p < p1; p++) acc += g.src[(o * g.n + perm[p]) * g.inner + k];
    g.out[j] = acc;
}

/* One thread per source element (o, i, k). */
__global__ void index_add_atomic_kernel(IndexAddGeom g, const int64_t *idx)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= g.outer * g.n * g.inner) return;
    int64_t k = j % g.inner, i = (j / g.inner) % g.n, o = j / (g.inner * g.n);
    int64_t r = idx[i];
    if (r == g.skip) return;
    atomicAdd(g.out + (o * g.size + r) * g.inner + k, g.src[j]);
}

/* Bits that hold every row number below size. */
static int key_bits(int64_t size)
{
    int bits = 1;
    while (bits < 63 && ((int64_t)1 << bits) < size) bits++;
    return bits;
}

extern "C" void cuda_index_add(Tensor *out, int dim, const Tensor *index, const Tensor *src, int64_t skip)
{
    int nd = out->shape.ndim;
    IndexAddGeom g = {tensor_f32(out), tensor_f32(src), 1, nd ? out->shape.d[dim] : 1, 1, tensor_numel(index), skip};
    for (int k = 0; k < dim; k++) g.outer *= out->shape.d[k];
    for (int k = dim + 1; k < nd; k++) g.inner *= out->shape.d[k];
    if (g.outer == 0 || g.inner == 0 || g.n == 0) return;
    cudaStream_t s = cuda_current_stream();
    const int64_t *idx = tensor_i64(index);
    if (!cuda_deterministic()) {
        index_add_atomic_kernel<<<blocks_for(g.outer * g.n * g.inner), CUDA_THREADS, 0, s>>>(g, idx);
        CUDA_CHECK_LAUNCH();
        return;
    }
    /* rows (index values, all in [0, size)) sorted with their positions */
    unsigned long long *keys = scratch_new<unsigned long long>(g.n);
    int64_t *positions = scratch_new<int64_t>(g.n), *perm = scratch_new<int64_t>(g.n);
    int64_t *start = scratch_new<int64_t>(g.size + 1);
    iota_kernel<<<blocks_for(g.n), CUDA_THREADS, 0, s>>>(positions, g.n);
    CUDA_CHECK_LAUNCH();
    const unsigned long long *keys_in = (const unsigned long long *)idx;
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys, positions, perm, g.n, 0,
                                               key_bits(g.size), s));
    char *temp = scratch_new<char>((int64_t)temp_bytes);
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys, positions, perm, g.n, 0,
                                               key_bits(g.size), s));
    row_start_kernel<<<blocks_for(g.size + 1), CUDA_THREADS, 0, s>>>(keys, g.n, g.size, start);
    CUDA_CHECK_LAUNCH();
    index_add_sorted_kernel<<<blocks_for(g.outer * g.size * g.inner), CUDA_THREADS, 0, s>>>(g, perm, start);
    CUDA_CHECK_LAUNCH();
    scratch_free(temp);
    scratch_free(keys);
    scratch_free(positions);
    scratch_free(perm);
    scratch_free(start);
}

/* ---- pad ---- */

struct PadGeom {
    int ndim;
    int64_t out_size[MAX_DIMS], in_size[MAX_DIMS], in_stride[MAX_DIMS], before[MAX_DIMS];
};

/* out[i] (contiguous) = in at i's coordinates minus before, or fill outside in. */
template <typename T> __global__ void pad_kernel(T *out, const T *in, int64_t n, PadGeom g, T fill)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t rem = i, off = 0;
    bool inside = true;
#pragma unroll
    for (int d = MAX_DIMS - 1; d >= 0; d--) {
        if (d >= g.ndim) continue;
        int64_t c = rem % g.out_size[d] - g.before[d];
        rem /= g.out_size[d];
        inside = inside && c >= 0 && c < g.in_size[d];
        off += c * g.in_stride[d];
    }
    out[i] = inside ? in[off] : fill;
}

template <typename T> static void pad_typed(Tensor *out, const Tensor *in, int64_t n, const PadGeom &g, T fill)
{
    pad_kernel<T><<<blocks_for(n), CUDA_THREADS, 0, cuda_current_stream()>>>((T *)tensor_data(out),
                                                                          (const T *)tensor_data(in), n, g, fill);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_pad(Tensor *out, const Tensor *in, const int64_t *before, double value)
{
    int64_t n = tensor_numel(out);
    if (n == 0) return;
    PadGeom g = {};
    g.ndim = out->shape.ndim;
    for (int d = 0; d < g.ndim; d++) {
        g.out_size[d] = out->shape.d[d];
        g.in_size[d] = in->shape.d[d];
        g.in_stride[d] = in->strides[d];
        g.before[d] = before[d];
    }
    switch (out->dtype) {
    case DT_F32: pad_typed<float>(out, in, n, g, (float)value); break;
    case DT_I64: pad_typed<int64_t>(out, in, n, g, (int64_t)value); break;
    case DT_U8: pad_typed<uint8_t>(out, in, n, g, (uint8_t)(int64_t)value); break;
    default: ENGINE_UNREACHABLE("pad: bad dtype");
    }
}

/* ---- one_hot ---- */

__global__ void one_hot_kernel(int64_t *out, const int64_t *idx, int64_t n, int64_t classes)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i * classes + idx[i]] = 1;
}

extern "C" void cuda_one_hot(Tensor *out, const Tensor *indices)
{
    int64_t n = tensor_numel(indices);
    if (n == 0) return;
    int64_t classes = out->shape.d[out->shape.ndim - 1];
    one_hot_kernel<<<blocks_for(n), CUDA_THREADS, 0, cuda_current_stream()>>>(tensor_i64(out), tensor_i64(indices), n,
                                                                           classes);
    CUDA_CHECK_LAUNCH();
}
