/* CUDA 2-D pooling: max (with argmax indices), average and adaptive
 * average, one thread per output element forward. Windows, divisors, the
 * summation order and the NaN rule are the CPU kernels' (engine/cpu/pool.c),
 * so results match them to rounding and the indices exactly.
 *
 * The average backward passes gather: each input element finds the outputs
 * whose windows hold it (a contiguous range along each axis) and adds their
 * shares in the order the CPU's scatter adds them, so no atomics and the
 * same sums. Max-pool backward only has the indices (its signature carries
 * no window sizes), so it scatters with atomic adds, which are exact when
 * windows do not overlap (the usual stride == kernel) and otherwise add in
 * an order that may vary; with deterministic algorithms required, each
 * plane is added up in the CPU's order by one thread instead. */
#include <math.h>

#include "engine/cuda/check.h"
#include "engine/cuda/launch.cuh"

extern "C" {
#include "engine/cuda/pool.h"
#include "engine/cuda/runtime.h"
}

/* Windows along one axis of in positions pooled to n_out: average pooling
 * (kernel, stride, pad, whether padding counts in the divisor) or adaptive
 * (kernel 0). */
struct PoolAxis {
    int64_t in, n_out;
    int64_t kernel, stride, pad;
    bool count_pad;
};

/* Output o reads [*start, *end) and divides by *count, as axis_avg and
 * axis_adaptive in the CPU kernels. */
__device__ __forceinline__ void axis_window(const PoolAxis &a, int64_t o, int64_t *start, int64_t *end, int64_t *count)
{
    if (a.kernel == 0) {
        *start = (o / a.n_out) * a.in + ((o % a.n_out) * a.in) / a.n_out;
        *end = 1 + ((o + 1) * a.in - 1) / a.n_out;
        *count = *end - *start;
        return;
    }
    int64_t s = o * a.stride - a.pad;
    int64_t e = s + a.kernel < a.in + a.pad ? s + a.kernel : a.in + a.pad;
    int64_t padded = e - s;
    s = s > 0 ? s : 0;
    e = e < a.in ? e : a.in;
    *start = s;
    *end = e > s ? e : s;
    *count = a.count_pad ? padded : *end - s;
}

/* The outputs [*lo, *hi] whose windows hold input position r. */
__device__ __forceinline__ void axis_covering(const PoolAxis &a, int64_t r, int64_t *lo, int64_t *hi)
{
    if (a.kernel == 0) {
        *lo = r * a.n_out / a.in;
        *hi = ((r + 1) * a.n_out - 1) / a.in;
    } else {
        /* o * stride - pad <= r < o * stride - pad + kernel */
        int64_t past = r + a.pad - a.kernel; /* windows must start after this */
        *lo = past >= 0 ? past / a.stride + 1 : 0;
        *hi = (r + a.pad) / a.stride;
    }
    if (*hi > a.n_out - 1) *hi = a.n_out - 1;
}

static PoolAxis avg_axis(int64_t in, int64_t n_out, int kernel, int stride, int pad, bool count_pad)
{
    PoolAxis a = {in, n_out, kernel, stride, pad, count_pad};
    return a;
}

static PoolAxis adaptive_axis(int64_t in, int64_t n_out)
{
    PoolAxis a = {in, n_out, 0, 0, 0, false};
    return a;
}

/* ---- average ---- */

__global__ void window_average(float *out, const float *x, int64_t planes, PoolAxis ah, PoolAxis aw)
{
    int64_t oh = ah.n_out, ow = aw.n_out, total = planes * oh * ow;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = idx % ow, i = (idx / ow) % oh, pl = idx / (oh * ow);
        int64_t r0, r1, ch, c0, c1, cw;
        axis_window(ah, i, &r0, &r1, &ch);
        axis_window(aw, j, &c0, &c1, &cw);
        int64_t divisor = ch * cw;
        if (r1 <= r0 || c1 <= c0 || divisor == 0) {
            out[idx] = 0.0f;
            continue;
        }
        const float *xp = x + pl * ah.in * aw.in;
        float sum = 0.0f; /* float, in the CPU's (and PyTorch's) order */
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) sum += xp[r * aw.in + c];
        out[idx] = sum / (float)divisor;
    }
}

__global__ void window_average_backward(float *gx, const float *g, int64_t planes, PoolAxis ah, PoolAxis aw)
{
    int64_t h = ah.in, w = aw.in, total = planes * h * w;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = idx % w, r = (idx / w) % h, pl = idx / (h * w);
        int64_t i_lo, i_hi, j_lo, j_hi;
        axis_covering(ah, r, &i_lo, &i_hi);
        axis_covering(aw, c, &j_lo, &j_hi);
        const float *gp = g + pl * ah.n_out * aw.n_out;
        float acc = 0.0f;
        for (int64_t i = i_lo; i <= i_hi; i++) {
            int64_t s, e, ch;
            axis_window(ah, i, &s, &e, &ch);
            if (r < s || r >= e) continue;
            for (int64_t j = j_lo; j <= j_hi; j++) {
                int64_t sj, ej, cw;
                axis_window(aw, j, &sj, &ej, &cw);
                if (c < sj || c >= ej || ch * cw == 0) continue;
                acc += gp[i * aw.n_out + j] / (float)(ch * cw);
            }
        }
        gx[idx] = acc;
    }
}

static void launch_average(Tensor *out, const Tensor *x, const PoolAxis &ah, const PoolAxis &aw)
{
    int64_t total = tensor_numel(out);
    if (total == 0) return;
    window_average<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(out), tensor_f32(x), x->shape.d[0] * x->shape.d[1], ah, aw);
    CUDA_CHECK_LAUNCH();
}

static void launch_average_backward(Tensor *gx, const Tensor *g, const PoolAxis &ah, const PoolAxis &aw)
{
    int64_t total = tensor_numel(gx);
    if (total == 0) return;
    window_average_backward<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(gx), tensor_f32(g), gx->shape.d[0] * gx->shape.d[1], ah, aw);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_avg_pool2d(Tensor *out, const Tensor *x, PoolParams p)
{
    launch_average(out, x,
                   avg_axis(x->shape.d[2], out->shape.d[2], p.kernel[0], p.stride[0], p.padding[0],
                            p.count_include_pad),
                   avg_axis(x->shape.d[3], out->shape.d[3], p.kernel[1], p.stride[1], p.padding[1],
                            p.count_include_pad));
}

extern "C" void cuda_avg_pool2d_backward(Tensor *gx, const Tensor *g, PoolParams p)
{
    launch_average_backward(gx, g,
                            avg_axis(gx->shape.d[2], g->shape.d[2], p.kernel[0], p.stride[0], p.padding[0],
                                     p.count_include_pad),
                            avg_axis(gx->shape.d[3], g->shape.d[3], p.kernel[1], p.stride[1], p.padding[1],
                                     p.count_include_pad));
}

extern "C" void cuda_adaptive_avg_pool2d(Tensor *out, const Tensor *x)
{
    launch_average(out, x, adaptive_axis(x->shape.d[2], out->shape.d[2]),
                   adaptive_axis(x->shape.d[3], out->shape.d[3]));
}

extern "C" void cuda_adaptive_avg_pool2d_backward(Tensor *gx, const Tensor *g)
{
    launch_average_backward(gx, g, adaptive_axis(gx->shape.d[2], g->shape.d[2]),
                            adaptive_axis(gx->shape.d[3], g->shape.d[3]));
}

/* ---- max ---- */

struct MaxGeom {
    int64_t planes, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
};

__global__ void max_pool(float *out, int64_t *indices, const float *x, MaxGeom m)
{
    int64_t total = m.planes * m.oh * m.ow;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = idx % m.ow, i = (idx / m.ow) % m.oh, pl = idx / (m.oh * m.ow);
        const float *xp = x + pl * m.h * m.w;
        int64_t r0 = i * m.sh - m.ph, c0 = j * m.sw - m.pw;
        int64_t r1 = r0 + m.kh < m.h ? r0 + m.kh : m.h, c1 = c0 + m.kw < m.w ? c0 + m.kw : m.w;
        r0 = r0 > 0 ? r0 : 0;
        c0 = c0 > 0 ? c0 : 0;
        int64_t best = r0 * m.w + c0;
        float best_val = -INFINITY;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) {
                float v = xp[r * m.w + c];
                if (v > best_val || isnan(v)) { /* NaN wins, the last one as on the CPU */
                    best_val = v;
                    best = r * m.w + c;
                }
            }
        out[idx] = best_val;
        if (indices) indices[idx] = best;
    }
}

/* g added to gx at the recorded indices (gx zeroed first). */
__global__ void max_pool_scatter(float *gx, const float *g, const int64_t *indices, int64_t total, int64_t ohw,
                                 int64_t hw)
{
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x)
        atomicAdd(gx + (idx / ohw) * hw + indices[idx], g[idx]);
}

/* One thread per plane, adding in output order exactly as the CPU does. */
__global__ void max_pool_scatter_ordered(float *gx, const float *g, const int64_t *indices, int64_t planes,
                                         int64_t ohw, int64_t hw)
{
    for (int64_t pl = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; pl < planes;
         pl += (int64_t)gridDim.x * blockDim.x)
        for (int64_t k = 0; k < ohw; k++) gx[pl * hw + indices[pl * ohw + k]] += g[pl * ohw + k];
}

extern "C" void cuda_max_pool2d(Tensor *out, Tensor *indices, const Tensor *x, PoolParams p)
{
    MaxGeom m = {x->shape.d[0] * x->shape.d[1], x->shape.d[2], x->shape.d[3], out->shape.d[2], out->shape.d[3],
                 p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1]};
    int64_t total = tensor_numel(out);
    if (total == 0) return;
    max_pool<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(out), indices ? tensor_i64(indices) : NULL, tensor_f32(x), m);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_max_pool2d_backward(Tensor *gx, const Tensor *g, const Tensor *indices, PoolParams p)
{
    (void)p; /* the scatter serves every window shape */
    int64_t planes = gx->shape.d[0] * gx->shape.d[1], hw = gx->shape.d[2] * gx->shape.d[3];
    int64_t ohw = g->shape.d[2] * g->shape.d[3], total = tensor_numel(g);
    if (tensor_numel(gx) == 0) return;
    cudaStream_t s = cuda_current_stream();
    CUDA_CHECK(cudaMemsetAsync(tensor_f32(gx), 0, sizeof(float) * (size_t)tensor_numel(gx), s));
    if (total == 0) return;
    if (cuda_deterministic())
        max_pool_scatter_ordered<<<cuda_grid_size(planes, 128), 128, 0, s>>>(tensor_f32(gx), tensor_f32(g),
                                                                            tensor_i64(indices), planes, ohw, hw);
    else
        max_pool_scatter<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, s>>>(
            tensor_f32(gx), tensor_f32(g), tensor_i64(indices), total, ohw, hw);
    CUDA_CHECK_LAUNCH();
}
