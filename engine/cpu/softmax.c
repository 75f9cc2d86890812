/* CPU softmax / log-softmax and their backward. The tensor is seen as
 * [outer, size, inner] around the softmax dim. Along the last dim (inner 1)
 * each row is contiguous and handled on its own; otherwise blocks of inner
 * positions are processed together, so every pass reads contiguous runs
 * instead of striding by inner. exp is a polynomial the compiler can
 * vectorise; sums are float within short blocks and double across them. */
/* Comparisons may then be evaluated unconditionally, which lets GCC turn the
 * clamps in exp_vec into vector selects (FP exception flags are never read). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "engine/cpu/fork.h"
#include "engine/cpu/softmax.h"

#include <math.h>
#include <stdint.h>

#include "engine/cpu/strided.h"

/* The row and block functions are also built for AVX2 (x86-64-v3) and
 * picked at load time on CPUs that have it; the baseline build targets
 * plain x86-64, whose 4-wide vectors halve the throughput of exp. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HOT_LOOPS __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HOT_LOOPS
#endif

/* Inner positions handled together when the dim is not the last. */
#define INNER_BLOCK 128

/* exp is the expensive part, so fewer elements are worth a thread */
#define SOFTMAX_GRAIN (CPU_PARALLEL_GRAIN / 8)

/* exp(x) within 1 ulp, as straight-line arithmetic so loops over it
 * vectorise (a libm call does not): Cody-Waite reduction by ln 2, Cephes'
 * degree-6 polynomial, 2^n built in the exponent bits. x below -87.33
 * (-inf included) gives 0, NaN stays NaN; x here is at most 0 (x - max,
 * or a log-probability), the upper clamp only keeps the bits valid. */
static inline float exp_vec(float x)
{
    const float lo = -87.33654f, hi = 88.37626f, round_magic = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x >= lo ? x : lo; /* NaN takes lo here: the integer conversion below needs a finite value */
    xc = xc > hi ? hi : xc;
    float n = (xc * 1.44269504088896341f + round_magic) - round_magic; /* round(x / ln 2) */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale;
    scale.i = ((int32_t)n + 127) << 23;
    float e = p * scale.f;
    return x < lo ? 0.0f : x != x ? x : e;
}

/* Float partial sums vectorise; flushing them to double every SUM_BLOCK
 * elements keeps long rows accurate. */
#define SUM_BLOCK 256

/* sum of exp(x[i] - shift), also stored in y when y is not NULL. */
HOT_LOOPS static double exp_sum(float *y, const float *x, int64_t n, float shift)
{
    double total = 0.0;
    for (int64_t b = 0; b < n; b += SUM_BLOCK) {
        int64_t e = b + SUM_BLOCK < n ? b + SUM_BLOCK : n;
        float s = 0.0f;
        if (y) {
#pragma omp simd reduction(+ : s)
            for (int64_t i = b; i < e; i++) {
                float v = exp_vec(x[i] - shift);
                y[i] = v;
                s += v;
            }
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t i = b; i < e; i++) s += exp_vec(x[i] - shift);
        }
        total += s;
    }
    return total;
}

/* sum of a[i] * b[i], or of a[i] when b is NULL. */
HOT_LOOPS static double blocked_sum(const float *a, const float *b, int64_t n)
{
    double total = 0.0;
    for (int64_t k = 0; k < n; k += SUM_BLOCK) {
        int64_t e = k + SUM_BLOCK < n ? k + SUM_BLOCK : n;
        float s = 0.0f;
        if (b) {
#pragma omp simd reduction(+ : s)
            for (int64_t i = k; i < e; i++) s += a[i] * b[i];
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t i = k; i < e; i++) s += a[i];
        }
        total += s;
    }
    return total;
}

/* ---- one contiguous row (softmax over the last dim) ---- */

HOT_LOOPS static void softmax_row(float *y, const float *x, int64_t n, bool log_out)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (log_out) {
        float lse = (float)log(exp_sum(NULL, x, n, mx));
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mx) - lse;
    } else {
        float inv = (float)(1.0 / exp_sum(y, x, n, mx));
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
}

HOT_LOOPS static void softmax_backward_row(float *gi, const float *g, const float *y, int64_t n, bool log_out)
{
    if (log_out) {
        float s = (float)blocked_sum(g, NULL, n);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) gi[i] = g[i] - exp_vec(y[i]) * s;
    } else {
        float dot = (float)blocked_sum(g, y, n);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) gi[i] = y[i] * (g[i] - dot);
    }
}

/* ---- a block of len inner positions: rows d at offset d * inner ---- */

HOT_LOOPS static void softmax_block(float *y, const float *x, int64_t size, int64_t inner, int64_t len, bool log_out)
{
    float mx[INNER_BLOCK], scale[INNER_BLOCK], part[INNER_BLOCK];
    double sum[INNER_BLOCK];
    for (int64_t i = 0; i < len; i++) {
        mx[i] = x[i];
        sum[i] = 0.0;
        part[i] = 0.0f;
    }
    for (int64_t d = 1; d < size; d++) {
        const float *xr = x + d * inner;
        for (int64_t i = 0; i < len; i++) mx[i] = xr[i] > mx[i] ? xr[i] : mx[i];
    }
    for (int64_t d = 0; d < size; d++) {
        const float *xr = x + d * inner;
        float *yr = y + d * inner;
        for (int64_t i = 0; i < len; i++) {
            float e = exp_vec(xr[i] - mx[i]);
            yr[i] = e; /* the log variant overwrites it below */
            part[i] += e;
        }
        if ((d + 1) % SUM_BLOCK == 0 || d + 1 == size) {
            for (int64_t i = 0; i < len; i++) {
                sum[i] += part[i];
                part[i] = 0.0f;
            }
        }
    }
    for (int64_t i = 0; i < len; i++) scale[i] = log_out ? (float)log(sum[i]) : (float)(1.0 / sum[i]);
    for (int64_t d = 0; d < size; d++) {
        const float *xr = x + d * inner;
        float *yr = y + d * inner;
        if (log_out) {
            for (int64_t i = 0; i < len; i++) yr[i] = (xr[i] - mx[i]) - scale[i];
        } else {
            for (int64_t i = 0; i < len; i++) yr[i] *= scale[i];
        }
    }
}

HOT_LOOPS static void softmax_backward_block(float *gi, const float *g, const float *y, int64_t size, int64_t inner, int64_t len,
                                   bool log_out)
{
    double acc[INNER_BLOCK];
    float s[INNER_BLOCK], part[INNER_BLOCK];
    for (int64_t i = 0; i < len; i++) {
        acc[i] = 0.0;
        part[i] = 0.0f;
    }
    for (int64_t d = 0; d < size; d++) {
        const float *gr = g + d * inner, *yr = y + d * inner;
        if (log_out) {
            for (int64_t i = 0; i < len; i++) part[i] += gr[i];
        } else {
            for (int64_t i = 0; i < len; i++) part[i] += gr[i] * yr[i];
        }
        if ((d + 1) % SUM_BLOCK == 0 || d + 1 == size) {
            for (int64_t i = 0; i < len; i++) {
                acc[i] += part[i];
                part[i] = 0.0f;
            }
        }
    }
    for (int64_t i = 0; i < len; i++) s[i] = (float)acc[i];
    for (int64_t d = 0; d < size; d++) {
        const float *gr = g + d * inner, *yr = y + d * inner;
        float *out = gi + d * inner;
        if (log_out) {
            for (int64_t i = 0; i < len; i++) out[i] = gr[i] - exp_vec(yr[i]) * s[i];
        } else {
            for (int64_t i = 0; i < len; i++) out[i] = yr[i] * (gr[i] - s[i]);
        }
    }
}

/* ---- drivers ---- */

/* Row and block functions share one shape so the forward and backward can
 * share the driver: out from a (x or g) and b (unused by the forward, y for
 * the backward). */
typedef void (*RowFn)(float *out, const float *a, const float *b, int64_t n, bool log_out);
typedef void (*BlockFn)(float *out, const float *a, const float *b, int64_t size, int64_t inner, int64_t len,
                        bool log_out);

static void fwd_row(float *out, const float *x, const float *unused, int64_t n, bool log_out)
{
    softmax_row(out, x, n, log_out);
}

static void fwd_block(float *out, const float *x, const float *unused, int64_t size, int64_t inner, int64_t len,
                      bool log_out)
{
    softmax_block(out, x, size, inner, len, log_out);
}

/* Runs row (inner 1) or block functions over every slice along dim, split
 * across threads. b may be NULL. */
static void over_dim(Shape shape, int dim, RowFn row, BlockFn block, float *out, const float *a, const float *b,
                     bool log_out)
{
    if (shape_numel(shape) == 0) return;
    DimSplit s = shape_split_at(shape, dim);
    int64_t total = s.outer * s.size * s.inner;
    if (s.inner == 1) {
        CPU_FOR(o, s.outer, total > SOFTMAX_GRAIN && s.outer > 1, {
            int64_t base = o * s.size;
            row(out + base, a + base, b ? b + base : NULL, s.size, log_out);
        });
        return;
    }
    int64_t nblocks = (s.inner + INNER_BLOCK - 1) / INNER_BLOCK;
    CPU_FOR(task, s.outer * nblocks, total > SOFTMAX_GRAIN && s.outer * nblocks > 1, {
        int64_t o = task / nblocks, i0 = (task % nblocks) * INNER_BLOCK;
        int64_t len = s.inner - i0 < INNER_BLOCK ? s.inner - i0 : INNER_BLOCK;
        int64_t base = o * s.size * s.inner + i0;
        block(out + base, a + base, b ? b + base : NULL, s.size, s.inner, len, log_out);
    });
}

void cpu_softmax(Tensor *out, const Tensor *x, int dim, bool log_out)
{
    over_dim(x->shape, dim, fwd_row, fwd_block, tensor_f32(out), tensor_f32(x), NULL, log_out);
}

void cpu_softmax_backward(Tensor *grad_in, const Tensor *g, const Tensor *y, int dim, bool log_out)
{
    over_dim(y->shape, dim, softmax_backward_row, softmax_backward_block, tensor_f32(grad_in), tensor_f32(g),
             tensor_f32(y), log_out);
}
