/* CUDA reductions over all or some dims (sum, mean, var/std, amax/amin).
 *
 * As on the CPU, the input's dims are first coalesced into groups of kept
 * and of reduced dims. Then one of two layouts runs:
 *  - columns: when the innermost kept group is contiguous (dim 0 of an
 *    [N, C] tensor) or the reductions are short, one thread per output,
 *    neighbouring threads reading neighbouring elements; a block's eight
 *    rows of threads split each reduction and are combined in shared memory;
 *  - rows: otherwise (the last dim of a contiguous tensor), a warp or a
 *    whole block per output, threads striding through its reduced elements
 *    and combined by a shuffle/shared-memory tree.
 * When there are too few outputs to fill the device, every reduction is cut
 * into chunks whose partial results a second kernel combines in chunk order.
 * The chunk count depends on the shape only, and sums accumulate in double,
 * so results are deterministic and agree with the CPU kernels to ~1e-7. */
#include "engine/cuda/block_reduce.cuh"

extern "C" {
#include "engine/cuda/reduce.h"
#include "engine/reduce_layout.h"
}

typedef enum {
    RED_SUM,   /* sum of x */
    RED_SQDEV, /* sum of (x - shift)^2, shift per output */
    RED_MAX,   /* max of sign * x (sign -1 makes it a min) */
} ReduceKind;

/* What one pass computes and where it stores: output j is sign * acc for
 * RED_MAX, otherwise acc * scale, square-rooted when take_sqrt, written as
 * f32 to out or, for the mean pass of var, as double to out_f64. */
struct ReduceJob {
    ReduceKind kind;
    double sign, scale;
    bool take_sqrt;
    const double *shift;
    float *out;
    double *out_f64;
};

/* Where a pass reads: the kept groups index the outputs (row-major), the
 * reduced groups index each output's elements; strides in slot 0. */
struct ReduceGeom {
    const float *in;
    StridedDims kept, red;
    int64_t n_out, R, chunks;
    double *partial; /* [chunks][n_out] when chunks > 1 */
};

/* Adds, or keeps the larger (NaN propagating) for RED_MAX. */
struct ReduceCombine {
    bool is_max;
    __device__ __forceinline__ double operator()(double a, double b) const
    {
        return is_max ? MaxNanOp()(a, b) : a + b;
    }
};

__device__ __forceinline__ double acc_identity(const ReduceJob &job) { return job.kind == RED_MAX ? -INFINITY : 0.0; }

__device__ __forceinline__ double acc_value(const ReduceJob &job, float x, double shift)
{
    if (job.kind == RED_SUM) return (double)x;
    if (job.kind == RED_MAX) return job.sign * (double)x;
    double d = (double)x - shift;
    return d * d;
}

__device__ __forceinline__ void reduce_store(const ReduceJob &job, int64_t j, double acc)
{
    double v = job.kind == RED_MAX ? job.sign * acc : acc * job.scale;
    if (job.take_sqrt) v = sqrt(v);
    if (job.out_f64) job.out_f64[j] = v;
    else job.out[j] = (float)v;
}

/* Output j's accumulator over chunk c, reading its elements r0 + first,
 * r0 + first + step, ... below r1. */
__device__ __forceinline__ double accumulate(const ReduceJob &job, const ReduceGeom &g, int64_t j, int64_t c,
                                             int64_t first, int64_t step)
{
    ReduceCombine op{job.kind == RED_MAX};
    double acc = acc_identity(job);
    const float *base = g.in + strided_offset(g.kept, j);
    double shift = job.shift ? job.shift[j] : 0.0;
    int64_t r0 = g.R * c / g.chunks, r1 = g.R * (c + 1) / g.chunks;
    if (g.red.ndim == 1) { /* the common case: one reduced group, no index arithmetic */
        int64_t s = g.red.stride[0][0];
        for (int64_t r = r0 + first; r < r1; r += step) acc = op(acc, acc_value(job, base[r * s], shift));
    } else {
        for (int64_t r = r0 + first; r < r1; r += step)
            acc = op(acc, acc_value(job, base[strided_offset(g.red, r)], shift));
    }
    return acc;
}

/* Stores output j's result, or chunk c's partial result when there are several. */
__device__ __forceinline__ void finish(const ReduceJob &job, const ReduceGeom &g, int64_t j, int64_t c, double acc)
{
    if (g.chunks == 1) reduce_store(job, j, acc);
    else g.partial[c * g.n_out + j] = acc;
}

/* Rows layout: G threads (a warp or the whole block) per output; blockIdx.y is the chunk. */
template <int G> __global__ void reduce_rows_kernel(ReduceJob job, ReduceGeom g)
{
    constexpr int per_block = CUDA_THREADS / G;
    int64_t j = (int64_t)blockIdx.x * per_block + threadIdx.x / G;
    int lane = (int)(threadIdx.x % G);
    int64_t c = blockIdx.y;
    ReduceCombine op{job.kind == RED_MAX};
    double acc = j < g.n_out ? accumulate(job, g, j, c, lane, G) : acc_identity(job);
    if constexpr (G == WARP) acc = warp_reduce(acc, op);
    else acc = block_allreduce(acc, op, acc_identity(job));
    if (lane == 0 && j < g.n_out) finish(job, g, j, c, acc);
}

#define COLS_X 32 /* outputs per block */
#define COLS_Y 8  /* threads sharing each output's reduction */

/* Columns layout: thread (x, y) of a block adds every COLS_Y-th element of
 * output blockIdx.x * COLS_X + x; the COLS_Y partial sums are combined in y order. */
__global__ void reduce_cols_kernel(ReduceJob job, ReduceGeom g)
{
    __shared__ double part[COLS_Y][COLS_X + 1];
    int64_t j = (int64_t)blockIdx.x * COLS_X + threadIdx.x;
    int64_t c = blockIdx.y;
    ReduceCombine op{job.kind == RED_MAX};
    double acc = j < g.n_out ? accumulate(job, g, j, c, threadIdx.y, COLS_Y) : acc_identity(job);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || j >= g.n_out) return;
    for (int y = 1; y < COLS_Y; y++) acc = op(acc, part[y][threadIdx.x]);
    finish(job, g, j, c, acc);
}

/* One thread per output: the chunks' partial results in chunk order. */
__global__ void reduce_combine_kernel(ReduceJob job, const double *partial, int64_t chunks, int64_t n_out)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n_out) return;
    ReduceCombine op{job.kind == RED_MAX};
    double acc = acc_identity(job);
    for (int64_t c = 0; c < chunks; c++) acc = op(acc, partial[c * n_out + j]);
    reduce_store(job, j, acc);
}

/* ---- host side ---- */


/* The groups of one kind as sizes and strides; returns their element count. */
static int64_t pick_groups(const DimGroups *g, bool reduced, StridedDims *s)
{
    int64_t n = 1;
    s->ndim = 0;
    for (int i = 0; i < g->n; i++)
        if (g->reduced[i] == reduced) {
            s->size[s->ndim] = g->size[i];
            s->stride[0][s->ndim] = g->stride[i];
            n *= g->size[i];
            s->ndim++;
        }
    return n;
}

/* Runs job over in with outputs in the keepdim shape's row-major order. */
static void run_reduce(const ReduceJob &job, const Tensor *in, const bool *reduce)
{
    DimGroups dg;
    group_dims(in, reduce, &dg);
    ReduceGeom g = {};
    g.in = tensor_f32(in);
    g.n_out = pick_groups(&dg, false, &g.kept);
    g.R = pick_groups(&dg, true, &g.red);
    if (g.n_out == 0) return;
    bool kept_inner_contig = g.kept.ndim > 0 && g.kept.stride[0][g.kept.ndim - 1] == 1;
    bool cols = kept_inner_contig || g.R < WARP;
    int G = g.R >= 16 * CUDA_THREADS ? CUDA_THREADS : WARP;
    int64_t out_blocks = cols ? (g.n_out + COLS_X - 1) / COLS_X : (g.n_out + CUDA_THREADS / G - 1) / (CUDA_THREADS / G);
    ENGINE_ASSERT(out_blocks <= INT32_MAX);
    g.chunks = reduce_chunk_count(g.R, out_blocks, cols ? COLS_Y : G);
    if (g.chunks > 1) {
        g.partial = scratch_new<double>(g.chunks * g.n_out);
    }
    dim3 grid((unsigned)out_blocks, (unsigned)g.chunks);
    cudaStream_t s = cuda_current_stream();
    if (cols) reduce_cols_kernel<<<grid, dim3(COLS_X, COLS_Y), 0, s>>>(job, g);
    else if (G == WARP) reduce_rows_kernel<WARP><<<grid, CUDA_THREADS, 0, s>>>(job, g);
    else reduce_rows_kernel<CUDA_THREADS><<<grid, CUDA_THREADS, 0, s>>>(job, g);
    CUDA_CHECK_LAUNCH();
    if (g.partial) {
        reduce_combine_kernel<<<blocks_for(g.n_out), CUDA_THREADS, 0, s>>>(job, g.partial, g.chunks, g.n_out);
        CUDA_CHECK_LAUNCH();
        scratch_free(g.partial);
    }
}

static int64_t reduced_count(const Tensor *in, const bool *reduce)
{
    int64_t n = 1;
    for (int d = 0; d < in->shape.ndim; d++)
        if (reduce[d]) n *= in->shape.d[d];
    return n;
}

static ReduceJob make_job(ReduceKind kind, double sign, double scale, float *out)
{
    ReduceJob job = {};
    job.kind = kind;
    job.sign = sign;
    job.scale = scale;
    job.out = out;
    return job;
}

extern "C" void cuda_sum(Tensor *out, const Tensor *in, const bool *reduce)
{
    run_reduce(make_job(RED_SUM, 1.0, 1.0, tensor_f32(out)), in, reduce);
}

extern "C" void cuda_mean(Tensor *out, const Tensor *in, const bool *reduce)
{
    /* an empty reduction gives 0 * (1 / 0) = NaN, as on the CPU */
    run_reduce(make_job(RED_SUM, 1.0, 1.0 / (double)reduced_count(in, reduce), tensor_f32(out)), in, reduce);
}

extern "C" void cuda_var(Tensor *out, const Tensor *in, const bool *reduce, int correction, bool take_sqrt)
{
    int64_t n = reduced_count(in, reduce), n_out = tensor_numel(out);
    if (n_out == 0) return;
    ReduceJob mean_job = make_job(RED_SUM, 1.0, 1.0 / (double)n, NULL);
    mean_job.out_f64 = scratch_new<double>(n_out);
    run_reduce(mean_job, in, reduce);
    double dof = (double)n - correction;
    ReduceJob var_job = make_job(RED_SQDEV, 1.0, 1.0 / (dof > 0 ? dof : 0.0), tensor_f32(out)); /* 0/0 NaN, x/0 inf */
    var_job.shift = mean_job.out_f64;
    var_job.take_sqrt = take_sqrt;
    run_reduce(var_job, in, reduce);
    scratch_free(mean_job.out_f64);
}

extern "C" void cuda_amax(Tensor *out, const Tensor *in, const bool *reduce)
{
    run_reduce(make_job(RED_MAX, 1.0, 1.0, tensor_f32(out)), in, reduce);
}

extern "C" void cuda_amin(Tensor *out, const Tensor *in, const bool *reduce)
{
    run_reduce(make_job(RED_MAX, -1.0, 1.0, tensor_f32(out)), in, reduce);
}
