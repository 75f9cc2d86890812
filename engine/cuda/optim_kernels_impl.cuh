/* The per-element optimizer updates of the CUDA backend, shared by the
 * one-parameter and the multi-parameter launches of optim_kernels.cu. Each
 * algorithm is a struct with its float constants (Consts) and update(k,
 * slots, i): the CPU kernel's loop body for element i with every operation
 * explicitly rounded (no FMA contraction), so the results match
 * engine/cpu/optim_kernels.c bit for bit. Only included by .cu files. */
#ifndef ENGINE_CUDA_OPTIM_KERNELS_IMPL_CUH
#define ENGINE_CUDA_OPTIM_KERNELS_IMPL_CUH

#include "engine/cuda/block_reduce.cuh"

/* param, grad and up to three state tensors (NULL when unused), in the
 * order of the kernel's signature. */
#define OPT_SLOTS 5
struct SlotPtrs {
    float *s[OPT_SLOTS];
};

__device__ __forceinline__ float fmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fdiv(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float fsqrt(float a) { return __fsqrt_rn(a); }

/* The gradient as the update sees it: negated for maximize (sign -1), plus
 * weight_decay * param when that is on. */
__device__ __forceinline__ float effective_grad(float g, float p, float sign, bool use_wd, float wd)
{
    float d = fmul(g, sign);
    return use_wd ? fadd(d, fmul(wd, p)) : d;
}

/* slots: param, grad, momentum_buffer */
struct SgdAlg {
    struct Consts {
        float wd, mom, keep, neg_lr;
        bool use_wd, maximize, nesterov, init;
    };
    static __device__ __forceinline__ void update(const Consts &k, const SlotPtrs &s, int64_t i)
    {
        float *p = s.s[0], *buf = s.s[2];
        float g = s.s[1][i];
        float d = k.maximize ? -g : g;
        if (k.use_wd) d = fadd(d, fmul(k.wd, p[i]));
        if (buf) {
            float b = k.init ? d : fadd(fmul(buf[i], k.mom), fmul(k.keep, d));
            buf[i] = b;
            d = k.nesterov ? fadd(d, fmul(k.mom, b)) : b;
        }
        p[i] = fadd(p[i], fmul(k.neg_lr, d));
    }
};

/* slots: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq */
struct AdamAlg {
    struct Consts {
        float sign, wd, b1, c1, b2, c2, decay, bc2_sqrt, eps, neg_step;
        bool use_wd;
    };
    static __device__ __forceinline__ void update(const Consts &k, const SlotPtrs &s, int64_t i)
    {
        float *p = s.s[0], *m = s.s[2], *v = s.s[3], *vmax = s.s[4];
        float d = effective_grad(s.s[1][i], p[i], k.sign, k.use_wd, k.wd);
        float mi = fadd(fmul(m[i], k.b1), fmul(k.c1, d));
        float vi = fadd(fmul(v[i], k.b2), fmul(fmul(k.c2, d), d));
        m[i] = mi;
        v[i] = vi;
        float sq = vi;
        if (vmax) { /* torch.maximum: NaN wins */
            float a = vmax[i];
            sq = (a != a || a > vi) ? a : vi;
            vmax[i] = sq;
        }
        float denom = fadd(fdiv(fsqrt(sq), k.bc2_sqrt), k.eps);
        p[i] = fadd(fmul(p[i], k.decay), fdiv(fmul(k.neg_step, mi), denom));
    }
};

/* slots: param, grad, square_avg, grad_avg, momentum_buffer */
struct RmspropAlg {
    struct Consts {
        float sign, wd, alpha, c, eps, mom, neg_lr;
        bool use_wd;
    };
    static __device__ __forceinline__ void update(const Consts &k, const SlotPtrs &s, int64_t i)
    {
        float *p = s.s[0], *sq = s.s[2], *ga = s.s[3], *buf = s.s[4];
        float d = effective_grad(s.s[1][i], p[i], k.sign, k.use_wd, k.wd);
        float si = fadd(fmul(sq[i], k.alpha), fmul(fmul(k.c, d), d));
        sq[i] = si;
        float avg = si;
        if (ga) { /* square_avg.addcmul(grad_avg, grad_avg, value=-1) */
            float gi = fadd(fmul(ga[i], k.alpha), fmul(k.c, d));
            ga[i] = gi;
            avg = fadd(avg, fmul(fmul(-1.0f, gi), gi));
        }
        float denom = fadd(fsqrt(avg), k.eps);
        if (buf) {
            float b = fadd(fmul(buf[i], k.mom), fdiv(fmul(1.0f, d), denom));
            buf[i] = b;
            p[i] = fadd(p[i], fmul(k.neg_lr, b));
        } else {
            p[i] = fadd(p[i], fdiv(fmul(k.neg_lr, d), denom));
        }
    }
};

/* slots: param, grad, sum */
struct AdagradAlg {
    struct Consts {
        float sign, wd, eps, neg_clr;
        bool use_wd;
    };
    static __device__ __forceinline__ void update(const Consts &k, const SlotPtrs &s, int64_t i)
    {
        float *p = s.s[0], *sum = s.s[2];
        float d = effective_grad(s.s[1][i], p[i], k.sign, k.use_wd, k.wd);
        float si = fadd(sum[i], fmul(fmul(1.0f, d), d));
        sum[i] = si;
        p[i] = fadd(p[i], fdiv(fmul(k.neg_clr, d), fadd(fsqrt(si), k.eps)));
    }
};

/* slots: param, grad, square_avg, acc_delta */
struct AdadeltaAlg {
    struct Consts {
        float sign, wd, rho, c, eps, neg_lr;
        bool use_wd;
    };
    static __device__ __forceinline__ void update(const Consts &k, const SlotPtrs &s, int64_t i)
    {
        float *p = s.s[0], *sq = s.s[2], *acc = s.s[3];
        float d = effective_grad(s.s[1][i], p[i], k.sign, k.use_wd, k.wd);
        float si = fadd(fmul(sq[i], k.rho), fmul(fmul(k.c, d), d));
        sq[i] = si;
        float rms_grad = fsqrt(fadd(si, k.eps));
        float rms_delta = fsqrt(fadd(acc[i], k.eps));
        float delta = fmul(fdiv(rms_delta, rms_grad), d);
        acc[i] = fadd(fmul(acc[i], k.rho), fmul(fmul(k.c, delta), delta));
        p[i] = fadd(p[i], fmul(k.neg_lr, delta));
    }
};

#endif
