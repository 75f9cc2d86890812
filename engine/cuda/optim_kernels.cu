/* CUDA fused optimizer updates (see optim_kernels.h): one parameter per
 * launch, or many (multi-tensor: a table of parameters in a small device
 * buffer, each block updating one chunk of one parameter).
 *
 * Each update is the CPU kernel's loop body (engine/cpu/optim_kernels.c),
 * operation for operation: the same float constants, computed on the host
 * the same way, and every multiply, add, divide and square root written as
 * an explicitly rounded intrinsic (__fmul_rn, ...), so the compiler cannot
 * fuse a multiply and an add into one FMA, which the CPU build does not do
 * either. A GPU parameter therefore follows its CPU twin bit for bit. */
#include <stdlib.h>

#include "engine/cuda/optim_kernels_impl.cuh"

extern "C" {
#include "engine/cuda/optim_kernels.h"
}

/* ---- constants, as the CPU kernels compute them ---- */

static SgdAlg::Consts sgd_consts(const SGDKernelArgs *a)
{
    SgdAlg::Consts k;
    k.wd = (float)a->weight_decay;
    k.mom = (float)a->momentum;
    k.keep = (float)(1.0 - a->dampening);
    k.neg_lr = (float)(-a->lr);
    k.use_wd = a->weight_decay != 0;
    k.maximize = a->maximize;
    k.nesterov = a->nesterov;
    k.init = a->init_buffer;
    return k;
}

static AdamAlg::Consts adam_consts(const AdamKernelArgs *a)
{
    AdamAlg::Consts k;
    k.sign = a->maximize ? -1.0f : 1.0f;
    k.wd = (float)a->weight_decay;
    k.use_wd = !a->decoupled && a->weight_decay != 0;
    k.b1 = (float)a->beta1;
    k.c1 = (float)(1.0 - a->beta1);
    k.b2 = (float)a->beta2;
    k.c2 = (float)(1.0 - a->beta2);
    k.decay = a->decoupled ? (float)(1.0 - a->lr * a->weight_decay) : 1.0f;
    k.bc2_sqrt = (float)sqrt(a->bias_correction2);
    k.eps = (float)a->eps;
    k.neg_step = (float)(-(a->lr / a->bias_correction1));
    return k;
}

static RmspropAlg::Consts rmsprop_consts(const RMSpropKernelArgs *a)
{
    RmspropAlg::Consts k;
    k.sign = a->maximize ? -1.0f : 1.0f;
    k.wd = (float)a->weight_decay;
    k.use_wd = a->weight_decay != 0;
    k.alpha = (float)a->alpha;
    k.c = (float)(1.0 - a->alpha);
    k.eps = (float)a->eps;
    k.mom = (float)a->momentum;
    k.neg_lr = (float)(-a->lr);
    return k;
}

static AdagradAlg::Consts adagrad_consts(const AdagradKernelArgs *a)
{
    AdagradAlg::Consts k;
    k.sign = a->maximize ? -1.0f : 1.0f;
    k.wd = (float)a->weight_decay;
    k.use_wd = a->weight_decay != 0;
    k.eps = (float)a->eps;
    k.neg_clr = (float)(-a->clr);
    return k;
}

static AdadeltaAlg::Consts adadelta_consts(const AdadeltaKernelArgs *a)
{
    AdadeltaAlg::Consts k;
    k.sign = a->maximize ? -1.0f : 1.0f;
    k.wd = (float)a->weight_decay;
    k.use_wd = a->weight_decay != 0;
    k.rho = (float)a->rho;
    k.c = (float)(1.0 - a->rho);
    k.eps = (float)a->eps;
    k.neg_lr = (float)(-a->lr);
    return k;
}

/* ---- one parameter per launch ---- */

template <typename Alg> __global__ void step_kernel(int64_t n, SlotPtrs s, typename Alg::Consts k)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        Alg::update(k, s, i);
}

static float *f32_or_null(const Tensor *t) { return t ? tensor_f32(t) : NULL; }

static SlotPtrs slots(Tensor *param, const Tensor *grad, Tensor *s0, Tensor *s1, Tensor *s2)
{
    SlotPtrs s = {{tensor_f32(param), f32_or_null(grad), f32_or_null(s0), f32_or_null(s1), f32_or_null(s2)}};
    return s;
}

template <typename Alg> static void launch_step(const Tensor *param, SlotPtrs s, typename Alg::Consts k)
{
    int64_t n = tensor_numel(param);
    if (n == 0) return;
    step_kernel<Alg><<<cuda_grid_size(n, CUDA_THREADS), CUDA_THREADS, 0, cuda_current_stream()>>>(n, s, k);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_sgd_step(Tensor *param, const Tensor *grad, Tensor *momentum_buffer, const SGDKernelArgs *a)
{
    launch_step<SgdAlg>(param, slots(param, grad, momentum_buffer, NULL, NULL), sgd_consts(a));
}

extern "C" void cuda_adam_step(Tensor *param, const Tensor *grad, Tensor *exp_avg, Tensor *exp_avg_sq,
                               Tensor *max_exp_avg_sq, const AdamKernelArgs *a)
{
    launch_step<AdamAlg>(param, slots(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq), adam_consts(a));
}

extern "C" void cuda_rmsprop_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *grad_avg,
                                  Tensor *momentum_buffer, const RMSpropKernelArgs *a)
{
    launch_step<RmspropAlg>(param, slots(param, grad, square_avg, grad_avg, momentum_buffer), rmsprop_consts(a));
}

extern "C" void cuda_adagrad_step(Tensor *param, const Tensor *grad, Tensor *sum, const AdagradKernelArgs *a)
{
    launch_step<AdagradAlg>(param, slots(param, grad, sum, NULL, NULL), adagrad_consts(a));
}

extern "C" void cuda_adadelta_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *acc_delta,
                                   const AdadeltaKernelArgs *a)
{
    launch_step<AdadeltaAlg>(param, slots(param, grad, square_avg, acc_delta, NULL), adadelta_consts(a));
}

/* ---- many parameters per launch ---- */

/* Elements of one parameter a block updates. */
#define MULTI_CHUNK (8 * CUDA_THREADS)

/* One parameter of a multi-tensor launch: its blocks start at first_block. */
template <typename Alg> struct MultiEntry {
    SlotPtrs s;
    int64_t n, first_block;
    typename Alg::Consts k;
};

/* Block b finds its parameter (the last entry starting at or before b) and
 * updates that parameter's chunk b - first_block. */
template <typename Alg> __global__ void multi_step_kernel(const MultiEntry<Alg> *entries, int n_entries)
{
    int64_t b = blockIdx.x;
    int lo = 0, hi = n_entries - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (entries[mid].first_block <= b) lo = mid;
        else hi = mid - 1;
    }
    const MultiEntry<Alg> e = entries[lo];
    int64_t begin = (b - e.first_block) * MULTI_CHUNK;
    int64_t end = begin + MULTI_CHUNK < e.n ? begin + MULTI_CHUNK : e.n;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) Alg::update(e.k, e.s, i);
}

/* Builds the entry table on the host, copies it to a small device buffer
 * and launches once; consts(u) gives an update's float constants. */
template <typename Alg, typename ConstsFn> static void launch_multi(const OptimUpdate *u, int n, ConstsFn consts)
{
    MultiEntry<Alg> *host = (MultiEntry<Alg> *)malloc(sizeof(MultiEntry<Alg>) * (size_t)(n > 0 ? n : 1));
    ENGINE_ASSERT(host != NULL);
    int count = 0;
    int64_t blocks = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = tensor_numel(u[i].tensors[0]);
        if (numel == 0) continue;
        MultiEntry<Alg> &e = host[count++];
        Tensor *const *t = u[i].tensors;
        e.s = slots(t[0], t[1], t[2], t[3], t[4]);
        e.n = numel;
        e.first_block = blocks;
        e.k = consts(u[i]);
        blocks += (numel + MULTI_CHUNK - 1) / MULTI_CHUNK;
    }
    if (count > 0) {
        ENGINE_ASSERT(blocks <= INT32_MAX);
        cudaStream_t s = cuda_current_stream();
        MultiEntry<Alg> *dev = scratch_new<MultiEntry<Alg>>(count);
        /* from pageable memory: the host buffer is staged before this returns */
        CUDA_CHECK(cudaMemcpyAsync(dev, host, sizeof(MultiEntry<Alg>) * (size_t)count, cudaMemcpyHostToDevice, s));
        multi_step_kernel<Alg><<<(unsigned)blocks, CUDA_THREADS, 0, s>>>(dev, count);
        CUDA_CHECK_LAUNCH();
        scratch_free(dev);
    }
    free(host);
}

extern "C" void cuda_optim_step_multi(const OptimUpdate *updates, int n)
{
    if (n == 0) return;
    switch (updates[0].kind) {
    case OPTIM_SGD:
        launch_multi<SgdAlg>(updates, n, [](const OptimUpdate &u) { return sgd_consts(&u.args.sgd); });
        break;
    case OPTIM_ADAM:
        launch_multi<AdamAlg>(updates, n, [](const OptimUpdate &u) { return adam_consts(&u.args.adam); });
        break;
    case OPTIM_RMSPROP:
        launch_multi<RmspropAlg>(updates, n, [](const OptimUpdate &u) { return rmsprop_consts(&u.args.rmsprop); });
        break;
    case OPTIM_ADAGRAD:
        launch_multi<AdagradAlg>(updates, n, [](const OptimUpdate &u) { return adagrad_consts(&u.args.adagrad); });
        break;
    case OPTIM_ADADELTA:
        launch_multi<AdadeltaAlg>(updates, n, [](const OptimUpdate &u) { return adadelta_consts(&u.args.adadelta); });
        break;
    }
}

/* ---- norms ---- */

/* What one element adds to a p-norm: x^2, |x|, |x|^p, or |x| for the max. */
struct NormTerm {
    const float *x;
    double p;
    __device__ void operator()(int64_t i, double *acc) const
    {
        double a = fabs((double)x[i]);
        if (isinf(p)) acc[0] = MaxNanOp()(acc[0], a);
        else if (p == 2.0) acc[0] += a * a;
        else if (p == 1.0) acc[0] += a;
        else acc[0] += pow(a, p);
    }
};

struct StoreTotal {
    double *out;
    __device__ void operator()(const double *total) const { out[0] = total[0]; }
};

extern "C" double cuda_tensor_norm(const Tensor *t, double p)
{
    int64_t n = tensor_numel(t);
    double *result = scratch_new<double>(1);
    NormTerm term = {tensor_f32(t), p};
    if (isinf(p)) reduce_over<1>(n, term, MaxNanOp(), 0.0, StoreTotal{result}); /* the max of |x|, NaN if any */
    else sum_over<1>(n, term, StoreTotal{result});
    double s;
    copy_to_host_sync(&s, result, sizeof s);
    scratch_free(result);
    if (isinf(p) || p == 1.0) return s;
    return p == 2.0 ? sqrt(s) : pow(s, 1.0 / p);
}
