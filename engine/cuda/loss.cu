/* CUDA loss kernels (see loss.h): one thread per element; the reduced
 * losses sum in double in two deterministic stages (block_reduce.cuh).
 * Formulas follow the CPU kernels (engine/cpu/loss.c) term by term. */
#include <limits.h>

#include "engine/cuda/block_reduce.cuh"

extern "C" {
#include "engine/cuda/loss.h"
#include "engine/loss_layout.h"
}

/* ======================= nll ======================= */

/* The smallest i whose target is bad, by a block min and one atomicMin per
 * block (integer: the result does not depend on the order). */
__global__ void first_bad_target_kernel(const int64_t *t, int64_t n, int64_t C, int64_t ignore, long long *first)
{
    long long best = LLONG_MAX;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t v = t[i];
        if (v != ignore && (v < 0 || v >= C)) {
            best = i; /* a thread's indices only grow */
            break;
        }
    }
    best = block_allreduce(best, MinOp(), LLONG_MAX);
    if (threadIdx.x == 0 && best != LLONG_MAX) atomicMin(first, best);
}

extern "C" bool cuda_nll_loss_bad_target(const Tensor *target, int64_t n_classes, int64_t ignore_index, int64_t *bad)
{
    int64_t n = tensor_numel(target);
    if (n == 0) return false;
    long long *first = scratch_new<long long>(1);
    const long long none = LLONG_MAX;
    cudaStream_t s = cuda_current_stream();
    CUDA_CHECK(cudaMemcpyAsync(first, &none, sizeof none, cudaMemcpyHostToDevice, s));
    first_bad_target_kernel<<<cuda_grid_size(n, CUDA_THREADS), CUDA_THREADS, 0, s>>>(tensor_i64(target), n, n_classes,
                                                                                    ignore_index, first);
    CUDA_CHECK_LAUNCH();
    long long index;
    copy_to_host_sync(&index, first, sizeof index);
    scratch_free(first);
    if (index == LLONG_MAX) return false;
    copy_to_host_sync(bad, tensor_i64(target) + index, sizeof *bad);
    return true;
}

/* Item i of the nll sum: its loss (also stored per element when asked) and its weight. */
struct NllTerm {
    const float *x, *w;
    const int64_t *t;
    float *per_element;
    NllLayout l;
    int64_t ignore;
    __device__ void operator()(int64_t i, double *acc) const
    {
        int64_t c = t[i];
        float loss = 0.0f, wt = 0.0f;
        if (c != ignore) {
            wt = w ? w[c] : 1.0f;
            loss = -wt * x[nll_offset(l, i, c)];
        }
        if (per_element) per_element[i] = loss;
        acc[0] += loss;
        acc[1] += wt;
    }
};

struct NllFinish {
    float *out, *total_weight;
    bool per_element, mean;
    __device__ void operator()(const double *total) const
    {
        total_weight[0] = (float)total[1];
        if (!per_element) out[0] = (float)(mean ? total[0] / total[1] : total[0]);
    }
};

extern "C" void cuda_nll_loss(Tensor *out, Tensor *total_weight, const Tensor *input, const Tensor *target,
                              const Tensor *weight, int64_t ignore_index, Reduction reduction)
{
    NllTerm term = {tensor_f32(input), weight ? tensor_f32(weight) : NULL, tensor_i64(target), NULL,
                    nll_layout(input, target), ignore_index};
    bool per_element = reduction == REDUCTION_NONE;
    if (per_element) term.per_element = tensor_f32(out);
    NllFinish fin = {tensor_f32(out), tensor_f32(total_weight), per_element, reduction == REDUCTION_MEAN};
    sum_over<2>(term.l.count, term, fin);
}

__global__ void nll_backward_kernel(float *gi, const float *g, const int64_t *t, const float *w, const float *tw,
                                    NllLayout l, int64_t ignore, bool per_element, bool mean)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= l.count) return;
    int64_t c = t[i];
    if (c == ignore) return;
    float g0 = per_element ? g[i] : mean ? g[0] / tw[0] : g[0];
    float wt = w ? w[c] : 1.0f;
    gi[nll_offset(l, i, c)] = -wt * g0;
}

extern "C" void cuda_nll_loss_backward(Tensor *grad_input, const Tensor *g, const Tensor *target, const Tensor *weight,
                                       const Tensor *total_weight, int64_t ignore_index, Reduction reduction)
{
    NllLayout l = nll_layout(grad_input, target);
    if (l.count == 0) return;
    nll_backward_kernel<<<blocks_for(l.count), CUDA_THREADS, 0, cuda_current_stream()>>>(
        tensor_f32(grad_input), tensor_f32(g), tensor_i64(target), weight ? tensor_f32(weight) : NULL,
        tensor_f32(total_weight), l, ignore_index, reduction == REDUCTION_NONE, reduction == REDUCTION_MEAN);
    CUDA_CHECK_LAUNCH();
}

/* ======================= pointwise losses ======================= */

struct PointwiseArgs {
    PointwiseLoss kind;
    const float *x, *t, *w, *pw; /* w, pw may be NULL */
};

/* log clamped as PyTorch's binary_cross_entropy does, so 0 and 1 stay finite */
__device__ __forceinline__ float clamped_log(float v) { return fmaxf(logf(v), -100.0f); }
__device__ __forceinline__ float clamped_log1m(float v) { return fmaxf(log1pf(-v), -100.0f); }

/* log(1 + exp(-x)) as PyTorch's binary_cross_entropy_with_logits computes
 * it, m + log(exp(-m) + exp(-x - m)) with m = max(-x, 0): no overflow, and
 * PyTorch's NaN at x = -Inf (-x - m is Inf - Inf), which makes the loss
 * NaN there whatever the target. */
__device__ __forceinline__ float softplus_neg(float x)
{
    float m = -x > 0.0f ? -x : 0.0f;
    return m + logf(expf(-m) + expf(-x - m));
}

/* log(sigmoid(x)) as PyTorch's log_sigmoid: min(x, 0) - log1p(exp(-|x|)),
 * finite wherever it can be (0 at +Inf, -Inf at -Inf). */
__device__ __forceinline__ float log_sigmoid(float x) { return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); }

/* Element i's loss, weighted. */
__device__ __forceinline__ float pointwise_value(const PointwiseArgs &a, int64_t i)
{
    float x = a.x[i], t = a.t[i], v = 0.0f;
    switch (a.kind) {
    case POINTWISE_MSE: v = (x - t) * (x - t); break;
    case POINTWISE_L1: v = fabsf(x - t); break;
    case POINTWISE_BCE: v = (t - 1.0f) * clamped_log1m(x) - t * clamped_log(x); break;
    case POINTWISE_BCE_LOGITS: {
        float log_weight = a.pw ? (a.pw[i] - 1.0f) * t + 1.0f : 1.0f;
        v = (1.0f - t) * x + log_weight * softplus_neg(x);
        break;
    }
    }
    return a.w ? v * a.w[i] : v;
}

/* Item i of the loss sum, and whether a BCE input is outside [0, 1]. */
struct PointwiseTerm {
    PointwiseArgs a;
    float *per_element;
    __device__ void operator()(int64_t i, double *acc) const
    {
        float v = pointwise_value(a, i);
        if (per_element) per_element[i] = v;
        acc[0] += v;
        if (a.kind == POINTWISE_BCE) acc[1] += !(a.x[i] >= 0.0f && a.x[i] <= 1.0f);
    }
};

struct PointwiseFinish {
    float *out;
    double *bad;
    int64_t n;
    bool per_element, mean;
    __device__ void operator()(const double *total) const
    {
        if (!per_element) out[0] = (float)(mean ? total[0] / (double)n : total[0]);
        bad[0] = total[1];
    }
};

__global__ void pointwise_values_kernel(PointwiseArgs a, float *out, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = pointwise_value(a, i);
}

static PointwiseArgs pointwise_args(PointwiseLoss kind, const Tensor *x, const Tensor *target, const Tensor *weight,
                                    const Tensor *pos_weight)
{
    PointwiseArgs a = {kind, tensor_f32(x), tensor_f32(target), weight ? tensor_f32(weight) : NULL,
                       pos_weight ? tensor_f32(pos_weight) : NULL};
    return a;
}

extern "C" bool cuda_pointwise_loss(PointwiseLoss kind, Tensor *out, const Tensor *x, const Tensor *target,
                                    const Tensor *weight, const Tensor *pos_weight, Reduction reduction)
{
    int64_t n = tensor_numel(x);
    PointwiseArgs a = pointwise_args(kind, x, target, weight, pos_weight);
    bool per_element = reduction == REDUCTION_NONE;
    if (per_element && kind != POINTWISE_BCE) { /* nothing to sum or check */
        if (n > 0) {
            pointwise_values_kernel<<<blocks_for(n), CUDA_THREADS, 0, cuda_current_stream()>>>(a, tensor_f32(out), n);
            CUDA_CHECK_LAUNCH();
        }
        return true;
    }
    double *bad = scratch_new<double>(1);
    PointwiseTerm term = {a, per_element ? tensor_f32(out) : NULL};
    PointwiseFinish fin = {tensor_f32(out), bad, n, per_element, reduction == REDUCTION_MEAN};
    sum_over<2>(n, term, fin);
    double n_bad = 0.0;
    if (kind == POINTWISE_BCE) copy_to_host_sync(&n_bad, bad, sizeof n_bad);
    scratch_free(bad);
    return n_bad == 0.0;
}

/* Unweighted d loss / dx (wrt_target false) or d loss / dt of element i. */
__device__ __forceinline__ float pointwise_grad(const PointwiseArgs &a, int64_t i, bool wrt_target)
{
    float x = a.x[i], t = a.t[i];
    switch (a.kind) {
    case POINTWISE_MSE: return wrt_target ? -2.0f * (x - t) : 2.0f * (x - t);
    case POINTWISE_L1: return wrt_target ? (float)((x < t) - (x > t)) : (float)((x > t) - (x < t));
    case POINTWISE_BCE:
        return wrt_target ? clamped_log1m(x) - clamped_log(x) : (x - t) / fmaxf((1.0f - x) * x, 1e-12f);
    case POINTWISE_BCE_LOGITS:
        /* PyTorch's form (see the CPU kernel) */
        if (wrt_target) return a.pw ? log_sigmoid(-x) - a.pw[i] * log_sigmoid(x) : -x;
        else {
            float sig = 1.0f / (1.0f + expf(-x));
            return a.pw ? (a.pw[i] * t + 1.0f - t) * sig - a.pw[i] * t : sig - t;
        }
    }
    return 0.0f;
}

__global__ void pointwise_backward_kernel(PointwiseArgs a, float *gx, float *gt, const float *g, int64_t n,
                                          bool per_element, bool mean)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    /* d * g * w in the CPU kernel's order */
    float gi = per_element ? g[i] : mean ? g[0] / (float)n : g[0];
    if (gx) {
        float d = pointwise_grad(a, i, false) * gi;
        gx[i] = a.w ? d * a.w[i] : d;
    }
    if (gt) {
        float d = pointwise_grad(a, i, true) * gi;
        gt[i] = a.w ? d * a.w[i] : d;
    }
}

extern "C" void cuda_pointwise_loss_backward(PointwiseLoss kind, Tensor *grad_x, Tensor *grad_target, const Tensor *g,
                                             const Tensor *x, const Tensor *target, const Tensor *weight,
                                             const Tensor *pos_weight, Reduction reduction)
{
    int64_t n = tensor_numel(x);
    if (n == 0 || (!grad_x && !grad_target)) return;
    pointwise_backward_kernel<<<blocks_for(n), CUDA_THREADS, 0, cuda_current_stream()>>>(
        pointwise_args(kind, x, target, weight, pos_weight), grad_x ? tensor_f32(grad_x) : NULL,
        grad_target ? tensor_f32(grad_target) : NULL, tensor_f32(g), n, reduction == REDUCTION_NONE,
        reduction == REDUCTION_MEAN);
    CUDA_CHECK_LAUNCH();
}
