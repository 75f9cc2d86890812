/* CUDA batch norm and layer norm. Sums run in double and in a fixed order
 * (no atomics), so every result is the same from run to run.
 *
 * Batch-norm statistics and gradient sums are two passes: partial sums over
 * slices of the batch, then one thread per channel adding the slices in
 * order. x is [N, C, L]; with long runs (L >= SHORT_RUN, images) a block
 * sums one slice of one channel; with short runs ([N, C] after a linear
 * layer) a channel's values are C * L apart, so blocks sum columns of the
 * [N, C * L] matrix instead, 32 neighbouring columns per block to keep the
 * reads coalesced. How many slices depends on the shape alone, so results
 * do not change with the device either. Layer norm's weight and bias
 * gradients are the same column sums. The per-element passes compute the per-channel constants in
 * double exactly as the CPU does; layer norm gives one warp to each row. */
#include "engine/cuda/block_reduce.cuh"
#include "engine/cuda/launch.cuh"

extern "C" {
#include "engine/cuda/norm.h"
}

/* Runs shorter than this are summed down the columns. */
#define SHORT_RUN 32
/* Column sums: 32 columns by 8 row lanes per block. */
#define COL_X 32
#define COL_Y 8
/* Layer norm: rows (one warp each) per block. */
#define ROWS_PER_BLOCK 8

/* What is summed: with d = (x - row_shift[r] - shift) * row_scale[r],
 * s1 = sum(v) and s2 = sum(v * d), v = u (d itself when u is NULL). */
struct SumSpec {
    const float *x, *u;
    const float *shift; /* per channel at shift[c * shift_stride]; NULL = 0 */
    int64_t shift_stride;
    const float *row_shift, *row_scale; /* per row (layer norm); NULL = 0 and 1 */
    bool stats_shift; /* shift is a sample of x for the statistics: see stats_shift() */
};

/* The statistics shift by one sample of each channel; not by an infinite
 * one, which would make the mean Inf - Inf = NaN where PyTorch's is Inf (a
 * NaN sample makes it NaN either way). The CPU kernel's rule. */
__device__ __forceinline__ float stats_shift(float sample) { return isfinite(sample) ? sample : 0.0f; }

/* Channel c's shift as spec s defines it. */
__device__ __forceinline__ float channel_shift(const SumSpec &s, int64_t c)
{
    if (!s.shift) return 0.0f;
    float v = s.shift[c * s.shift_stride];
    return s.stats_shift ? stats_shift(v) : v;
}

__device__ __forceinline__ void accumulate(const SumSpec &s, int64_t i, float shift, float row_shift,
                                           float row_scale, double &a1, double &a2)
{
    float d = (s.x[i] - row_shift - shift) * row_scale;
    float v = s.u ? s.u[i] : d;
    a1 += v;
    a2 += (double)(v * d);
}

/* Partial sums of the columns j of a [rows, width] matrix over the rows of
 * slice blockIdx.y, into partial[(slice * width + j) * 2 + {0, 1}]; column j
 * belongs to channel j / run. */
__global__ void column_partials(SumSpec s, int64_t rows, int64_t width, int64_t run, double *partial)
{
    __shared__ double part[2][COL_Y][COL_X];
    int64_t j = blockIdx.x * (int64_t)COL_X + threadIdx.x, slice = blockIdx.y, slices = gridDim.y;
    int64_t r0 = rows * slice / slices, r1 = rows * (slice + 1) / slices;
    double a1 = 0.0, a2 = 0.0;
    if (j < width) {
        float shift = channel_shift(s, j / run);
        for (int64_t r = r0 + threadIdx.y; r < r1; r += COL_Y)
            accumulate(s, r * width + j, shift, s.row_shift ? s.row_shift[r] : 0.0f,
                       s.row_scale ? s.row_scale[r] : 1.0f, a1, a2);
    }
    part[0][threadIdx.y][threadIdx.x] = a1;
    part[1][threadIdx.y][threadIdx.x] = a2;
    __syncthreads();
    if (threadIdx.y == 0 && j < width) {
        double b1 = 0.0, b2 = 0.0;
        for (int y = 0; y < COL_Y; y++) {
            b1 += part[0][y][threadIdx.x];
            b2 += part[1][y][threadIdx.x];
        }
        partial[(slice * width + j) * 2] = b1;
        partial[(slice * width + j) * 2 + 1] = b2;
    }
}

/* Partial sums of channel blockIdx.x of [n, channels, run] over slice
 * blockIdx.y of its n * run values, into partial[(slice * channels + c) * 2 + {0, 1}]. */
__global__ void channel_partials(SumSpec s, int64_t n, int64_t channels, int64_t run, double *partial)
{
    int64_t c = blockIdx.x, slice = blockIdx.y, slices = gridDim.y, m = n * run;
    int64_t k0 = m * slice / slices, k1 = m * (slice + 1) / slices;
    float shift = channel_shift(s, c);
    double a1 = 0.0, a2 = 0.0;
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x)
        accumulate(s, ((k / run) * channels + c) * run + k % run, shift, 0.0f, 1.0f, a1, a2);
    a1 = block_allreduce(a1, SumOp(), 0.0);
    a2 = block_allreduce(a2, SumOp(), 0.0);
    if (threadIdx.x == 0) {
        partial[(slice * channels + c) * 2] = a1;
        partial[(slice * channels + c) * 2 + 1] = a2;
    }
}

/* Partial sums as laid out by the kernels above: slices x width pairs, each
 * channel owning per_channel neighbouring columns. */
struct Partials {
    double *data;
    int64_t slices, width, per_channel;
};

/* Channel (or column) c's totals, added in a fixed order. */
__device__ __forceinline__ void channel_total(const Partials &p, int64_t c, double *s1, double *s2)
{
    double a = 0.0, b = 0.0;
    for (int64_t l = 0; l < p.per_channel; l++)
        for (int64_t sl = 0; sl < p.slices; sl++) {
            const double *q = p.data + (sl * p.width + c * p.per_channel + l) * 2;
            a += q[0];
            b += q[1];
        }
    *s1 = a;
    *s2 = b;
}

/* Column sums of [rows, width] (column j in channel j / run). */
static Partials column_sums(const SumSpec &s, int64_t rows, int64_t width, int64_t run)
{
    int64_t blocks_x = (width + COL_X - 1) / COL_X;
    Partials p = {NULL, reduce_chunk_count(rows, blocks_x, COL_Y), width, run};
    p.data = scratch_new<double>(p.slices * width * 2);
    if (blocks_x == 0) return p; /* no columns (L = 0): no partials to read, and a 0-block grid is an error */
    dim3 grid((unsigned)blocks_x, (unsigned)p.slices), block(COL_X, COL_Y);
    column_partials<<<grid, block, 0, cuda_current_stream()>>>(s, rows, width, run, p.data);
    CUDA_CHECK_LAUNCH();
    return p;
}

/* Per-channel sums of x [n, channels, run], the layout chosen by run. */
static Partials channel_sums(const SumSpec &s, int64_t n, int64_t channels, int64_t run)
{
    if (run < SHORT_RUN) return column_sums(s, n, channels * run, run);
    Partials p = {NULL, reduce_chunk_count(n * run, channels, CUDA_THREADS), channels, 1};
    p.data = scratch_new<double>(p.slices * channels * 2);
    dim3 grid((unsigned)channels, (unsigned)p.slices);
    channel_partials<<<grid, CUDA_THREADS, 0, cuda_current_stream()>>>(s, n, channels, run, p.data);
    CUDA_CHECK_LAUNCH();
    return p;
}

/* [N, C, L] of a batch-norm input. */
struct ChannelLayout {
    int64_t n, c, l;
};

static ChannelLayout channel_layout(const Tensor *x)
{
    ChannelLayout r = {x->shape.d[0], x->shape.d[1], 1};
    for (int d = 2; d < x->shape.ndim; d++) r.l *= x->shape.d[d];
    return r;
}

static unsigned threads_for(int64_t n) { return (unsigned)(n < CUDA_THREADS ? (n > 0 ? n : 1) : CUDA_THREADS); }

/* ======================= batch norm ======================= */

/* shift is one sample of each channel (x[c * L], through stats_shift): the
 * one-pass variance then suffers no cancellation when the mean is large
 * against the spread. */
__global__ void finish_stats(Partials p, const float *shift, int64_t shift_stride, double count, double eps,
                             float *mean, float *var, float *invstd, int64_t channels)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= channels) return;
    double s1, s2;
    channel_total(p, c, &s1, &s2);
    double d = s1 / count, v = s2 / count - d * d;
    if (v < 0.0) v = 0.0;
    mean[c] = (float)((count > 0 ? (double)stats_shift(shift[c * shift_stride]) : 0.0) + d);
    var[c] = (float)v;
    invstd[c] = (float)(1.0 / sqrt(v + eps));
}

__global__ void finish_grad_sums(Partials p, const float *invstd, float *sum_g, float *sum_g_xhat, int64_t channels)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= channels) return;
    double s1, s2;
    channel_total(p, c, &s1, &s2);
    sum_g[c] = (float)s1;
    sum_g_xhat[c] = (float)(s2 * invstd[c]);
}

extern "C" void cuda_batch_norm_stats(const Tensor *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps)
{
    ChannelLayout lay = channel_layout(x);
    if (lay.c == 0) return;
    bool empty = lay.n * lay.l == 0;
    /* an empty batch has no sample to shift by (the sums are 0 anyway) */
    SumSpec s = {tensor_f32(x), NULL, empty ? NULL : tensor_f32(x), lay.l, NULL, NULL, true};
    Partials p = channel_sums(s, lay.n, lay.c, lay.l);
    finish_stats<<<(unsigned)((lay.c + CUDA_THREADS - 1) / CUDA_THREADS), threads_for(lay.c), 0,
                   cuda_current_stream()>>>(p, tensor_f32(x), lay.l, (double)(lay.n * lay.l), eps, tensor_f32(mean),
                                            tensor_f32(var), tensor_f32(invstd), lay.c);
    CUDA_CHECK_LAUNCH();
    scratch_free(p.data);
}

extern "C" void cuda_batch_norm_backward_reduce(Tensor *sum_g, Tensor *sum_g_xhat, const Tensor *g, const Tensor *x,
                                                const Tensor *mean, const Tensor *invstd)
{
    ChannelLayout lay = channel_layout(x);
    if (lay.c == 0) return;
    SumSpec s = {tensor_f32(x), tensor_f32(g), tensor_f32(mean), 1, NULL, NULL, false};
    Partials p = channel_sums(s, lay.n, lay.c, lay.l);
    finish_grad_sums<<<(unsigned)((lay.c + CUDA_THREADS - 1) / CUDA_THREADS), threads_for(lay.c), 0,
                       cuda_current_stream()>>>(p, tensor_f32(invstd), tensor_f32(sum_g), tensor_f32(sum_g_xhat),
                                                lay.c);
    CUDA_CHECK_LAUNCH();
    scratch_free(p.data);
}

/* out = x * alpha[c] + beta[c], the constants folded as on the CPU. */
__global__ void batch_norm_affine(float *out, const float *x, const float *mean, const float *invstd,
                                  const float *weight, const float *bias, int64_t total, int64_t channels, int64_t run)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = (i / run) % channels;
        double a = (double)invstd[c] * (weight ? weight[c] : 1.0f);
        float alpha = (float)a, beta = (float)((bias ? bias[c] : 0.0f) - mean[c] * a);
        out[i] = x[i] * alpha + beta;
    }
}

/* With batch statistics (sum_g given): (g - a - (x - mean) * k) * scale;
 * with fixed statistics: g * scale. */
__global__ void batch_norm_grad_input(float *gi, const float *g, const float *x, const float *mean,
                                      const float *invstd, const float *weight, const float *sum_g,
                                      const float *sum_g_xhat, int64_t total, int64_t channels, int64_t run,
                                      double count)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = (i / run) % channels;
        float scale = (float)((double)invstd[c] * (weight ? weight[c] : 1.0f));
        if (!sum_g) {
            gi[i] = g[i] * scale;
            continue;
        }
        float a = (float)(sum_g[c] / count), k = (float)((double)sum_g_xhat[c] * invstd[c] / count);
        gi[i] = (g[i] - a - (x[i] - mean[c]) * k) * scale;
    }
}

static const float *f32_or_null(const Tensor *t) { return t ? tensor_f32(t) : NULL; }

extern "C" void cuda_batch_norm_apply(Tensor *out, const Tensor *x, const Tensor *mean, const Tensor *invstd,
                                      const Tensor *weight, const Tensor *bias)
{
    ChannelLayout lay = channel_layout(x);
    int64_t total = tensor_numel(x);
    if (total == 0) return;
    batch_norm_affine<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(out), tensor_f32(x), tensor_f32(mean), tensor_f32(invstd), f32_or_null(weight), f32_or_null(bias),
        total, lay.c, lay.l);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_batch_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                               const Tensor *invstd, const Tensor *weight, const Tensor *sum_g,
                                               const Tensor *sum_g_xhat)
{
    ChannelLayout lay = channel_layout(x);
    int64_t total = tensor_numel(x);
    if (total == 0) return;
    batch_norm_grad_input<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(grad_in), tensor_f32(g), tensor_f32(x), tensor_f32(mean), tensor_f32(invstd), f32_or_null(weight),
        f32_or_null(sum_g), f32_or_null(sum_g_xhat), total, lay.c, lay.l, (double)(lay.n * lay.l));
    CUDA_CHECK_LAUNCH();
}

/* ======================= layer norm ======================= */

/* Each warp takes rows blockIdx.x * ROWS_PER_BLOCK + threadIdx.y, ... */
#define FOR_EACH_ROW(r, rows)                                                                               \
    for (int64_t r = blockIdx.x * (int64_t)ROWS_PER_BLOCK + threadIdx.y; r < (rows);                        \
         r += (int64_t)gridDim.x * ROWS_PER_BLOCK)

__global__ void layer_norm_rows(float *out, float *mean, float *rstd, const float *x, const float *weight,
                                const float *bias, int64_t rows, int64_t cols, double eps)
{
    int lane = threadIdx.x;
    FOR_EACH_ROW(r, rows)
    {
        const float *xr = x + r * cols;
        float *yr = out + r * cols;
        double s = 0.0, ss = 0.0;
        for (int64_t j = lane; j < cols; j += WARP) s += xr[j];
        s = warp_allreduce(s, SumOp());
        double m = cols > 0 ? s / (double)cols : 0.0;
        for (int64_t j = lane; j < cols; j += WARP) {
            double d = (double)xr[j] - m;
            ss += d * d;
        }
        ss = warp_allreduce(ss, SumOp());
        double rs = 1.0 / sqrt((cols > 0 ? ss / (double)cols : 0.0) + eps);
        if (lane == 0) {
            mean[r] = (float)m;
            rstd[r] = (float)rs;
        }
        float scale = (float)rs, shift = (float)(-m * rs);
        for (int64_t j = lane; j < cols; j += WARP) {
            float v = xr[j] * scale + shift;
            if (weight) v *= weight[j];
            if (bias) v += bias[j];
            yr[j] = v;
        }
    }
}

/* With gw = g * w: gi = rstd * gw + b * x + c, the expanded form of
 * rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), as on the CPU. */
__global__ void layer_norm_grad_rows(float *gi, const float *g, const float *x, const float *mean, const float *rstd,
                                     const float *weight, int64_t rows, int64_t cols)
{
    int lane = threadIdx.x;
    FOR_EACH_ROW(r, rows)
    {
        const float *xr = x + r * cols, *gr = g + r * cols;
        float *out = gi + r * cols;
        double ds = 0.0, db = 0.0;
        for (int64_t j = lane; j < cols; j += WARP) {
            float gw = gr[j] * (weight ? weight[j] : 1.0f);
            ds += (double)(gw * xr[j]);
            db += gw;
        }
        ds = warp_allreduce(ds, SumOp());
        db = warp_allreduce(db, SumOp());
        double a = rstd[r], m = mean[r];
        double b = (db * m - ds) * a * a * a / (double)cols;
        double c = -b * m - db * a / (double)cols;
        float fa = (float)a, fb = (float)b, fc = (float)c;
        for (int64_t j = lane; j < cols; j += WARP)
            out[j] = fa * gr[j] * (weight ? weight[j] : 1.0f) + fb * xr[j] + fc;
    }
}

static unsigned row_blocks(int64_t rows)
{
    int64_t blocks = (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, cap = 16 * (int64_t)cuda_sm_count();
    return (unsigned)(blocks < cap ? (blocks > 0 ? blocks : 1) : cap);
}

extern "C" void cuda_layer_norm(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *weight,
                                const Tensor *bias, int64_t cols, double eps)
{
    int64_t rows = tensor_numel(mean);
    if (rows == 0) return;
    layer_norm_rows<<<row_blocks(rows), dim3(WARP, ROWS_PER_BLOCK), 0, cuda_current_stream()>>>(
        tensor_f32(out), tensor_f32(mean), tensor_f32(rstd), tensor_f32(x), f32_or_null(weight), f32_or_null(bias),
        rows, cols, eps);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_layer_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                               const Tensor *rstd, const Tensor *weight, int64_t cols)
{
    int64_t rows = tensor_numel(mean);
    if (rows == 0 || cols == 0) return;
    layer_norm_grad_rows<<<row_blocks(rows), dim3(WARP, ROWS_PER_BLOCK), 0, cuda_current_stream()>>>(
        tensor_f32(grad_in), tensor_f32(g), tensor_f32(x), tensor_f32(mean), tensor_f32(rstd), f32_or_null(weight),
        rows, cols);
    CUDA_CHECK_LAUNCH();
}

__global__ void finish_columns(Partials p, float *grad_weight, float *grad_bias, int64_t cols)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double s1, s2;
    channel_total(p, j, &s1, &s2);
    if (grad_weight) grad_weight[j] = (float)s2;
    if (grad_bias) grad_bias[j] = (float)s1;
}

extern "C" void cuda_layer_norm_backward_params(Tensor *grad_weight, Tensor *grad_bias, const Tensor *g,
                                                const Tensor *x, const Tensor *mean, const Tensor *rstd, int64_t cols)
{
    int64_t rows = tensor_numel(mean);
    if (cols == 0) return;
    /* per column: sum of g, and of g * (x - mean[r]) * rstd[r] */
    SumSpec s = {tensor_f32(x), tensor_f32(g), NULL, 0, tensor_f32(mean), tensor_f32(rstd), false};
    Partials p = column_sums(s, rows, cols, 1);
    finish_columns<<<(unsigned)((cols + CUDA_THREADS - 1) / CUDA_THREADS), threads_for(cols), 0,
                     cuda_current_stream()>>>(p, grad_weight ? tensor_f32(grad_weight) : NULL,
                                              grad_bias ? tensor_f32(grad_bias) : NULL, cols);
    CUDA_CHECK_LAUNCH();
    scratch_free(p.data);
}
