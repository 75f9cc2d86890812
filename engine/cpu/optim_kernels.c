/* CPU fused optimizer updates (see optim_kernels.h).
 *
 * Each loop body is PyTorch's single-tensor update for one element, with the
 * same float rounding: scalars are rounded to float where PyTorch passes them
 * to a float kernel (mul_(beta), add_(x, alpha), addcmul_/addcdiv_ values),
 * and every intermediate is a float, as PyTorch's temporaries are. */
#include "engine/cpu/fork.h"
#include "engine/cpu/optim_kernels.h"

#include <math.h>

#include "engine/cpu/strided.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

/* The updates run over blocks small enough to stay in L1: plain loops the
 * compiler vectorises, and the square roots in between through
 * sqrt_inplace (sqrtf's errno handling keeps compilers from vectorising
 * it inside a loop). */
#define BLOCK 256

static void sqrt_inplace(float *x, int n)
{
    int i = 0;
#if defined(__SSE__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#elif defined(__aarch64__)
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vsqrtq_f32(vld1q_f32(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrtf(x[i]);
}

/* The gradient as the update sees it: negated for maximize (sign -1), plus
 * weight_decay * param when that is on. */
static inline float effective_grad(float g, float p, float sign, bool use_wd, float wd)
{
    float d = g * sign;
    return use_wd ? d + wd * p : d;
}

typedef struct {
    float sign, wd, mom, keep, neg_lr;
    bool use_wd, init, nesterov;
} SGDConsts;

/* One block of SGD: the flags are tested once per block, not per element,
 * so each step is a plain loop the compiler vectorises (a per-element branch
 * kept the loop scalar, a quarter of an MLP's training step). */
static void sgd_block(float *restrict p, const float *restrict g, float *restrict buf, int n, const SGDConsts *k)
{
    float d[BLOCK];
    for (int j = 0; j < n; j++) d[j] = effective_grad(g[j], p[j], k->sign, k->use_wd, k->wd);
    if (buf) {
        if (k->init)
            for (int j = 0; j < n; j++) buf[j] = d[j];
        else
            for (int j = 0; j < n; j++) buf[j] = buf[j] * k->mom + k->keep * d[j];
        if (k->nesterov)
            for (int j = 0; j < n; j++) d[j] = d[j] + k->mom * buf[j];
        else
            for (int j = 0; j < n; j++) d[j] = buf[j];
    }
    for (int j = 0; j < n; j++) p[j] = p[j] + k->neg_lr * d[j];
}

void cpu_sgd_step(Tensor *param, const Tensor *grad, Tensor *momentum_buffer, const SGDKernelArgs *a)
{
    float *p = tensor_f32(param);
    const float *g = tensor_f32(grad);
    float *buf = momentum_buffer ? tensor_f32(momentum_buffer) : NULL;
    const int64_t n = tensor_numel(param);
    const SGDConsts k = {
        .sign = a->maximize ? -1.0f : 1.0f,
        .wd = (float)a->weight_decay,
        .use_wd = a->weight_decay != 0,
        .mom = (float)a->momentum,
        .keep = (float)(1.0 - a->dampening),
        .neg_lr = (float)(-a->lr),
        .init = a->init_buffer,
        .nesterov = a->nesterov,
    };
    const int64_t n_blocks = (n + BLOCK - 1) / BLOCK;
    CPU_FOR(b, n_blocks, n > CPU_PARALLEL_GRAIN, {
        int64_t lo = b * BLOCK;
        int len = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        sgd_block(p + lo, g + lo, buf ? buf + lo : NULL, len, &k);
    });
}

typedef struct {
    float sign, wd, b1, c1, b2, c2, decay, bc2_sqrt, eps, neg_step;
    bool use_wd;
} AdamConsts;

static void adam_block(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                       float *restrict vmax, int n, const AdamConsts *k)
{
    float s[BLOCK];
    for (int j = 0; j < n; j++) {
        float d = effective_grad(g[j], p[j], k->sign, k->use_wd, k->wd);
        float mi = m[j] * k->b1 + k->c1 * d;
        float vi = v[j] * k->b2 + k->c2 * d * d;
        m[j] = mi;
        v[j] = vi;
        s[j] = vi;
    }
    if (vmax) {
        for (int j = 0; j < n; j++) { /* torch.maximum: NaN wins */
            float a = vmax[j], b = s[j];
            float mx = (a != a || a > b) ? a : b;
            vmax[j] = mx;
            s[j] = mx;
        }
    }
    sqrt_inplace(s, n);
    for (int j = 0; j < n; j++) p[j] = p[j] * k->decay + k->neg_step * m[j] / (s[j] / k->bc2_sqrt + k->eps);
}

void cpu_adam_step(Tensor *param, const Tensor *grad, Tensor *exp_avg, Tensor *exp_avg_sq, Tensor *max_exp_avg_sq,
                   const AdamKernelArgs *a)
{
    float *p = tensor_f32(param), *m = tensor_f32(exp_avg), *v = tensor_f32(exp_avg_sq);
    float *vmax = max_exp_avg_sq ? tensor_f32(max_exp_avg_sq) : NULL;
    const float *g = tensor_f32(grad);
    const int64_t n = tensor_numel(param);
    const AdamConsts k = {
        .sign = a->maximize ? -1.0f : 1.0f,
        .wd = (float)a->weight_decay,
        .use_wd = !a->decoupled && a->weight_decay != 0,
        .b1 = (float)a->beta1,
        .c1 = (float)(1.0 - a->beta1),
        .b2 = (float)a->beta2,
        .c2 = (float)(1.0 - a->beta2),
        /* AdamW's param.mul_(1 - lr * weight_decay); multiplying by 1 is exact */
        .decay = a->decoupled ? (float)(1.0 - a->lr * a->weight_decay) : 1.0f,
        .bc2_sqrt = (float)sqrt(a->bias_correction2),
        .eps = (float)a->eps,
        .neg_step = (float)(-(a->lr / a->bias_correction1)),
    };
    const int64_t n_blocks = (n + BLOCK - 1) / BLOCK;
    CPU_FOR(b, n_blocks, n > CPU_PARALLEL_GRAIN, {
        int64_t lo = b * BLOCK;
        int len = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        adam_block(p + lo, g + lo, m + lo, v + lo, vmax ? vmax + lo : NULL, len, &k);
    });
}

typedef struct {
    float sign, wd, alpha, c, eps, mom, neg_lr;
    bool use_wd;
} RMSpropConsts;

static void rmsprop_block(float *restrict p, const float *restrict g, float *restrict sq, float *restrict ga,
                          float *restrict buf, int n, const RMSpropConsts *k)
{
    float s[BLOCK], dd[BLOCK];
    for (int j = 0; j < n; j++) {
        float d = effective_grad(g[j], p[j], k->sign, k->use_wd, k->wd);
        float si = sq[j] * k->alpha + k->c * d * d;
        sq[j] = si;
        s[j] = si;
        dd[j] = d;
    }
    if (ga) {
        for (int j = 0; j < n; j++) { /* square_avg.addcmul(grad_avg, grad_avg, value=-1) */
            float gi = ga[j] * k->alpha + k->c * dd[j];
            ga[j] = gi;
            s[j] = s[j] + -1.0f * gi * gi;
        }
    }
    sqrt_inplace(s, n);
    if (buf) {
        for (int j = 0; j < n; j++) {
            float b = buf[j] * k->mom + 1.0f * dd[j] / (s[j] + k->eps);
            buf[j] = b;
            p[j] = p[j] + k->neg_lr * b;
        }
    } else {
        for (int j = 0; j < n; j++) p[j] = p[j] + k->neg_lr * dd[j] / (s[j] + k->eps);
    }
}

void cpu_rmsprop_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *grad_avg,
                      Tensor *momentum_buffer, const RMSpropKernelArgs *a)
{
    float *p = tensor_f32(param), *sq = tensor_f32(square_avg);
    float *ga = grad_avg ? tensor_f32(grad_avg) : NULL;
    float *buf = momentum_buffer ? tensor_f32(momentum_buffer) : NULL;
    const float *g = tensor_f32(grad);
    const int64_t n = tensor_numel(param);
    const RMSpropConsts k = {
        .sign = a->maximize ? -1.0f : 1.0f,
        .wd = (float)a->weight_decay,
        .use_wd = a->weight_decay != 0,
        .alpha = (float)a->alpha,
        .c = (float)(1.0 - a->alpha),
        .eps = (float)a->eps,
        .mom = (float)a->momentum,
        .neg_lr = (float)(-a->lr),
    };
    const int64_t n_blocks = (n + BLOCK - 1) / BLOCK;
    CPU_FOR(b, n_blocks, n > CPU_PARALLEL_GRAIN, {
        int64_t lo = b * BLOCK;
        int len = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        rmsprop_block(p + lo, g + lo, sq + lo, ga ? ga + lo : NULL, buf ? buf + lo : NULL, len, &k);
    });
}

typedef struct {
    float sign, wd, eps, neg_clr;
    bool use_wd;
} AdagradConsts;

static void adagrad_block(float *restrict p, const float *restrict g, float *restrict sum, int n,
                          const AdagradConsts *k)
{
    float s[BLOCK], dd[BLOCK];
    for (int j = 0; j < n; j++) {
        float d = effective_grad(g[j], p[j], k->sign, k->use_wd, k->wd);
        float si = sum[j] + 1.0f * d * d;
        sum[j] = si;
        s[j] = si;
        dd[j] = d;
    }
    sqrt_inplace(s, n);
    for (int j = 0; j < n; j++) p[j] = p[j] + k->neg_clr * dd[j] / (s[j] + k->eps);
}

void cpu_adagrad_step(Tensor *param, const Tensor *grad, Tensor *sum, const AdagradKernelArgs *a)
{
    float *p = tensor_f32(param), *s = tensor_f32(sum);
    const float *g = tensor_f32(grad);
    const int64_t n = tensor_numel(param);
    const AdagradConsts k = {
        .sign = a->maximize ? -1.0f : 1.0f,
        .wd = (float)a->weight_decay,
        .use_wd = a->weight_decay != 0,
        .eps = (float)a->eps,
        .neg_clr = (float)(-a->clr),
    };
    const int64_t n_blocks = (n + BLOCK - 1) / BLOCK;
    CPU_FOR(b, n_blocks, n > CPU_PARALLEL_GRAIN, {
        int64_t lo = b * BLOCK;
        int len = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        adagrad_block(p + lo, g + lo, s + lo, len, &k);
    });
}

typedef struct {
    float sign, wd, rho, c, eps, neg_lr;
    bool use_wd;
} AdadeltaConsts;

static void adadelta_block(float *restrict p, const float *restrict g, float *restrict sq, float *restrict acc,
                           int n, const AdadeltaConsts *k)
{
    float std[BLOCK], rms_delta[BLOCK], dd[BLOCK];
    for (int j = 0; j < n; j++) {
        float d = effective_grad(g[j], p[j], k->sign, k->use_wd, k->wd);
        float si = sq[j] * k->rho + k->c * d * d;
        sq[j] = si;
        std[j] = si + k->eps;
        rms_delta[j] = acc[j] + k->eps;
        dd[j] = d;
    }
    sqrt_inplace(std, n);
    sqrt_inplace(rms_delta, n);
    for (int j = 0; j < n; j++) {
        float delta = rms_delta[j] / std[j] * dd[j];
        acc[j] = acc[j] * k->rho + k->c * delta * delta;
        p[j] = p[j] + k->neg_lr * delta;
    }
}

void cpu_adadelta_step(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *acc_delta,
                       const AdadeltaKernelArgs *a)
{
    float *p = tensor_f32(param), *sq = tensor_f32(square_avg), *acc = tensor_f32(acc_delta);
    const float *g = tensor_f32(grad);
    const int64_t n = tensor_numel(param);
    const AdadeltaConsts k = {
        .sign = a->maximize ? -1.0f : 1.0f,
        .wd = (float)a->weight_decay,
        .use_wd = a->weight_decay != 0,
        .rho = (float)a->rho,
        .c = (float)(1.0 - a->rho),
        .eps = (float)a->eps,
        .neg_lr = (float)(-a->lr),
    };
    const int64_t n_blocks = (n + BLOCK - 1) / BLOCK;
    CPU_FOR(b, n_blocks, n > CPU_PARALLEL_GRAIN, {
        int64_t lo = b * BLOCK;
        int len = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        adadelta_block(p + lo, g + lo, sq + lo, acc + lo, len, &k);
    });
}

double cpu_tensor_norm(const Tensor *t, double p)
{
    const float *x = tensor_f32(t);
    const int64_t n = tensor_numel(t);
    if (isinf(p)) {
        double m = 0;
        int has_nan = 0; /* max() drops NaN, but torch's norm of a NaN tensor is NaN */
        CPU_FOR_CLAUSES(reduction(max : m) reduction(| : has_nan), i, n, n > CPU_PARALLEL_GRAIN, {
            double a = fabs((double)x[i]);
            if (isnan(a)) has_nan = 1;
            else if (a > m) m = a;
        });
        return has_nan ? NAN : m;
    }
    double s = 0;
    if (p == 2.0) {
        CPU_FOR_CLAUSES(reduction(+ : s), i, n, n > CPU_PARALLEL_GRAIN, s += (double)x[i] * (double)x[i];);
        return sqrt(s);
    }
    if (p == 1.0) {
        CPU_FOR_CLAUSES(reduction(+ : s), i, n, n > CPU_PARALLEL_GRAIN, s += fabs((double)x[i]););
        return s;
    }
    CPU_FOR_CLAUSES(reduction(+ : s), i, n, n > CPU_PARALLEL_GRAIN, s += pow(fabs((double)x[i]), p););
    return pow(s, 1.0 / p);
}
