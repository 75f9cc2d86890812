/* CPU batch norm and layer norm. Each quantity is one pass over the data:
 * statistics and gradient sums run in float within short blocks (so they
 * vectorise) and in double across blocks; the elementwise passes fold
 * per-channel (per-row) constants into one multiply-add.
 *
 * Batch norm walks x as [N, C, L] in one of two ways: with long runs
 * (L >= SHORT_RUN, e.g. images) each (n, c) run of L values shares its
 * channel's constants; with short runs (e.g. [N, C] after a linear layer)
 * rows of C * L values are processed with the constants expanded to one
 * per column, so the inner loops stay long and vectorise. */
#include "engine/cpu/fork.h"
#include "engine/cpu/norm.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "engine/cpu/strided.h"

#define SHORT_RUN 32

/* Row sums run in float over blocks of SUM_BLOCK values (vectorised) and in
 * double across blocks. */
#define SUM_BLOCK 256

static double *alloc_doubles(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    ENGINE_ASSERT(p != NULL);
    return p;
}

static float *alloc_floats(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ENGINE_ASSERT(p != NULL);
    return p;
}

/* ======================= sums down the columns ======================= */

/* Rows summed in float before each flush into the double partials: float
 * arithmetic vectorises twice as wide, and short float runs lose nothing
 * that matters. */
#define ROW_BLOCK 16

/* For row-major [rows, width] data, per column j:
 *   d = (x[r, j] - row_shift[r] - col_shift[j]) * row_scale[r],
 *   s1[j] = sum_r v, s2[j] = sum_r v * d, with v = u[r, j] (d when u is NULL).
 * row_shift / row_scale NULL mean 0 / 1. Each task sums a contiguous range
 * of rows into its own partials (reads stay row-major); the partials are
 * then added in a fixed order. */
static void column_sums(const float *x, const float *u, int64_t rows, int64_t width, const float *col_shift,
                        const float *row_shift, const float *row_scale, double *s1, double *s2)
{
    int64_t tasks = rows * width > CPU_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
    if (tasks > rows) tasks = rows > 0 ? rows : 1;
    double *partial = alloc_doubles(tasks * 2 * width);
    float *block = alloc_floats(tasks * 2 * width);
    CPU_FOR(t, tasks, tasks > 1, {
        double *p1 = partial + t * 2 * width, *p2 = p1 + width;
        float *q1 = block + t * 2 * width, *q2 = q1 + width;
        int64_t r0 = rows * t / tasks, r1 = rows * (t + 1) / tasks;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * width;
            float rs = row_shift ? row_shift[r] : 0.0f, sc = row_scale ? row_scale[r] : 1.0f;
            if (u) {
                const float *ur = u + r * width;
                for (int64_t j = 0; j < width; j++) {
                    float d = (xr[j] - rs - col_shift[j]) * sc;
                    q1[j] += ur[j];
                    q2[j] += ur[j] * d;
                }
            } else {
                for (int64_t j = 0; j < width; j++) {
                    float d = (xr[j] - rs - col_shift[j]) * sc;
                    q1[j] += d;
                    q2[j] += d * d;
                }
            }
            if ((r - r0 + 1) % ROW_BLOCK == 0 || r + 1 == r1) {
                for (int64_t j = 0; j < width; j++) {
                    p1[j] += q1[j];
                    p2[j] += q2[j];
                    q1[j] = q2[j] = 0.0f;
                }
            }
        }
    });
    for (int64_t j = 0; j < width; j++) {
        double a = 0.0, b = 0.0;
        for (int64_t t = 0; t < tasks; t++) {
            a += partial[t * 2 * width + j];
            b += partial[t * 2 * width + width + j];
        }
        s1[j] = a;
        s2[j] = b;
    }
    free(partial);
    free(block);
}

/* ======================= batch norm ======================= */

typedef struct {
    int64_t N, C, L;
} ChannelLayout;

static ChannelLayout channel_layout(Shape s)
{
    ChannelLayout r = {s.d[0], s.d[1], 1};
    for (int d = 2; d < s.ndim; d++) r.L *= s.d[d];
    return r;
}

/* Adds sum(v) to *s1 and sum(v * (x - k)) to *s2 over len values, with
 * v = u (x - k when u is NULL); float within blocks, double across. */
static void run_sums(const float *x, const float *u, float k, int64_t len, double *s1, double *s2)
{
    for (int64_t b = 0; b < len; b += SUM_BLOCK) {
        int64_t e = b + SUM_BLOCK < len ? b + SUM_BLOCK : len;
        float t1 = 0.0f, t2 = 0.0f;
        if (u) {
#pragma omp simd reduction(+ : t1, t2)
            for (int64_t i = b; i < e; i++) {
                t1 += u[i];
                t2 += u[i] * (x[i] - k);
            }
        } else {
#pragma omp simd reduction(+ : t1, t2)
            for (int64_t i = b; i < e; i++) {
                float d = x[i] - k;
                t1 += d;
                t2 += d * d;
            }
        }
        *s1 += t1;
        *s2 += t2;
    }
}

/* Per channel c: s1 = sum(u), s2 = sum(u * (x - shift[c])); with u NULL,
 * u = x - shift[c] (so s2 is the sum of squared deviations). */
static void channel_sums(const float *x, const float *u, const double *shift, ChannelLayout lay, double *s1, double *s2)
{
    if (lay.L < SHORT_RUN) {
        int64_t width = lay.C * lay.L;
        float *col_shift = alloc_floats(width);
        double *c1 = alloc_doubles(width), *c2 = alloc_doubles(width);
        for (int64_t j = 0; j < width; j++) col_shift[j] = (float)shift[j / lay.L];
        column_sums(x, u, lay.N, width, col_shift, NULL, NULL, c1, c2);
        for (int64_t c = 0; c < lay.C; c++) {
            s1[c] = s2[c] = 0.0;
            for (int64_t l = 0; l < lay.L; l++) {
                s1[c] += c1[c * lay.L + l];
                s2[c] += c2[c * lay.L + l];
            }
        }
        free(col_shift);
        free(c1);
        free(c2);
        return;
    }
    CPU_FOR(c, lay.C, lay.N * lay.C * lay.L > CPU_PARALLEL_GRAIN && lay.C > 1, {
        double a1 = 0.0, a2 = 0.0;
        for (int64_t n = 0; n < lay.N; n++) {
            int64_t base = (n * lay.C + c) * lay.L;
            run_sums(x + base, u ? u + base : NULL, (float)shift[c], lay.L, &a1, &a2);
        }
        s1[c] = a1;
        s2[c] = a2;
    });
}

/* The elementwise passes, with per-channel constants p0..p3:
 *   MAP_AFFINE:     out = x * p0 + p1                      (forward)
 *   MAP_GRAD_BATCH: out = (g - p1 - (x - p2) * p3) * p0    (grad with batch stats)
 *   MAP_GRAD_FIXED: out = g * p0                           (grad with fixed stats) */
typedef enum { MAP_AFFINE, MAP_GRAD_BATCH, MAP_GRAD_FIXED } ChannelMap;

/* len values; the constants are read at i * ps: ps 0 broadcasts one value
 * (long runs), ps 1 reads one per column (short runs). Callers pass ps as a
 * literal so each use compiles to a plain vectorised loop. */
static inline void map_run(ChannelMap op, float *out, const float *x, const float *g, const float *const *p, int64_t len,
                           int64_t ps)
{
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    switch (op) {
    case MAP_AFFINE:
        for (int64_t i = 0; i < len; i++) out[i] = x[i] * p0[i * ps] + p1[i * ps];
        break;
    case MAP_GRAD_BATCH:
        for (int64_t i = 0; i < len; i++) out[i] = (g[i] - p1[i * ps] - (x[i] - p2[i * ps]) * p3[i * ps]) * p0[i * ps];
        break;
    case MAP_GRAD_FIXED:
        for (int64_t i = 0; i < len; i++) out[i] = g[i] * p0[i * ps];
        break;
    }
}

/* Applies op over [N, C, L] with the per-channel constants params[0..3]
 * (unused ones may be NULL). g may be NULL for MAP_AFFINE. */
static void channel_map(ChannelMap op, float *out, const float *x, const float *g, float *const *params,
                        ChannelLayout lay)
{
    int64_t work = lay.N * lay.C * lay.L;
    if (lay.L >= SHORT_RUN) {
        CPU_FOR(n, lay.N, work > CPU_PARALLEL_GRAIN, {
            for (int64_t c = 0; c < lay.C; c++) {
                int64_t base = (n * lay.C + c) * lay.L;
                const float *p[4];
                for (int k = 0; k < 4; k++) p[k] = params[k] ? params[k] + c : NULL;
                map_run(op, out + base, x + base, g ? g + base : NULL, p, lay.L, 0);
            }
        });
        return;
    }
    int64_t width = lay.C * lay.L;
    float *cols[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < 4; k++) {
        if (!params[k]) continue;
        cols[k] = alloc_floats(width);
        for (int64_t j = 0; j < width; j++) cols[k][j] = params[k][j / lay.L];
    }
    CPU_FOR(n, lay.N, work > CPU_PARALLEL_GRAIN, {
        int64_t base = n * width;
        map_run(op, out + base, x + base, g ? g + base : NULL, (const float *const *)cols, width, 1);
    });
    for (int k = 0; k < 4; k++) free(cols[k]);
}

static inline float optional_at(const Tensor *t, int64_t i, float fallback)
{
    return t ? tensor_f32(t)[i] : fallback;
}

void cpu_batch_norm_stats(const Tensor *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps)
{
    ChannelLayout lay = channel_layout(x->shape);
    const float *px = tensor_f32(x);
    double M = (double)(lay.N * lay.L);
    double *shift = alloc_doubles(lay.C), *s1 = alloc_doubles(lay.C), *s2 = alloc_doubles(lay.C);
    /* shifting by one sample of the channel keeps the one-pass variance
     * free of cancellation when the mean is large against the spread; not
     * by an infinite one, which would make the mean Inf - Inf = NaN where
     * PyTorch's is Inf (a NaN sample makes it NaN either way) */
    for (int64_t c = 0; c < lay.C; c++) shift[c] = M > 0 && isfinite(px[c * lay.L]) ? px[c * lay.L] : 0.0;
    channel_sums(px, NULL, shift, lay, s1, s2);
    float *pm = tensor_f32(mean), *pv = tensor_f32(var), *pi = tensor_f32(invstd);
    for (int64_t c = 0; c < lay.C; c++) {
        double d = s1[c] / M;
        double v = s2[c] / M - d * d;
        if (v < 0.0) v = 0.0;
        pm[c] = (float)(shift[c] + d);
        pv[c] = (float)v;
        pi[c] = (float)(1.0 / sqrt(v + eps));
    }
    free(shift);
    free(s1);
    free(s2);
}

void cpu_batch_norm_apply(Tensor *out, const Tensor *x, const Tensor *mean, const Tensor *invstd, const Tensor *weight,
                          const Tensor *bias)
{
    ChannelLayout lay = channel_layout(x->shape);
    float *alpha = alloc_floats(lay.C), *beta = alloc_floats(lay.C);
    const float *pm = tensor_f32(mean), *pi = tensor_f32(invstd);
    for (int64_t c = 0; c < lay.C; c++) {
        double a = (double)pi[c] * optional_at(weight, c, 1.0f);
        alpha[c] = (float)a;
        beta[c] = (float)(optional_at(bias, c, 0.0f) - pm[c] * a);
    }
    channel_map(MAP_AFFINE, tensor_f32(out), tensor_f32(x), NULL, (float *[]){alpha, beta, NULL, NULL}, lay);
    free(alpha);
    free(beta);
}

void cpu_batch_norm_backward_reduce(Tensor *sum_g, Tensor *sum_g_xhat, const Tensor *g, const Tensor *x,
                                    const Tensor *mean, const Tensor *invstd)
{
    ChannelLayout lay = channel_layout(x->shape);
    double *shift = alloc_doubles(lay.C), *s1 = alloc_doubles(lay.C), *s2 = alloc_doubles(lay.C);
    const float *pm = tensor_f32(mean), *pi = tensor_f32(invstd);
    for (int64_t c = 0; c < lay.C; c++) shift[c] = pm[c];
    channel_sums(tensor_f32(x), tensor_f32(g), shift, lay, s1, s2);
    float *pg = tensor_f32(sum_g), *pgx = tensor_f32(sum_g_xhat);
    for (int64_t c = 0; c < lay.C; c++) {
        pg[c] = (float)s1[c];
        pgx[c] = (float)(s2[c] * pi[c]);
    }
    free(shift);
    free(s1);
    free(s2);
}

void cpu_batch_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                   const Tensor *invstd, const Tensor *weight, const Tensor *sum_g,
                                   const Tensor *sum_g_xhat)
{
    ChannelLayout lay = channel_layout(x->shape);
    const float *pm = tensor_f32(mean), *pi = tensor_f32(invstd);
    bool batch_stats = sum_g != NULL;
    /* gi = (g - a[c] - (x - mean[c]) * k[c]) * scale[c] */
    float *scale = alloc_floats(lay.C), *a = alloc_floats(lay.C), *m = alloc_floats(lay.C), *k = alloc_floats(lay.C);
    double M = (double)(lay.N * lay.L);
    for (int64_t c = 0; c < lay.C; c++) {
        scale[c] = (float)((double)pi[c] * optional_at(weight, c, 1.0f));
        if (batch_stats) {
            a[c] = (float)(tensor_f32(sum_g)[c] / M);
            m[c] = pm[c];
            k[c] = (float)((double)tensor_f32(sum_g_xhat)[c] * pi[c] / M);
        }
    }
    if (batch_stats)
        channel_map(MAP_GRAD_BATCH, tensor_f32(grad_in), tensor_f32(x), tensor_f32(g), (float *[]){scale, a, m, k},
                    lay);
    else
        channel_map(MAP_GRAD_FIXED, tensor_f32(grad_in), tensor_f32(x), tensor_f32(g),
                    (float *[]){scale, NULL, NULL, NULL}, lay);
    free(scale);
    free(a);
    free(m);
    free(k);
}

/* ======================= layer norm ======================= */

void cpu_layer_norm(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *weight, const Tensor *bias,
                    int64_t cols, double eps)
{
    int64_t rows = tensor_numel(mean);
    const float *px = tensor_f32(x);
    const float *pw = weight ? tensor_f32(weight) : NULL, *pb = bias ? tensor_f32(bias) : NULL;
    float *po = tensor_f32(out), *pm = tensor_f32(mean), *pr = tensor_f32(rstd);
    CPU_FOR(r, rows, rows * cols > CPU_PARALLEL_GRAIN && rows > 1, {
        const float *xr = px + r * cols;
        float *yr = po + r * cols;
        double s = 0.0, ss = 0.0;
_Pragma("omp simd reduction(+ : s)")
        for (int64_t j = 0; j < cols; j++) s += xr[j];
        double m = cols > 0 ? s / (double)cols : 0.0;
_Pragma("omp simd reduction(+ : ss)")
        for (int64_t j = 0; j < cols; j++) {
            double d = (double)xr[j] - m;
            ss += d * d;
        }
        double rs = 1.0 / sqrt((cols > 0 ? ss / (double)cols : 0.0) + eps);
        pm[r] = (float)m;
        pr[r] = (float)rs;
        /* y = (x * rstd - mean * rstd) * w + b */
        float scale = (float)rs, shift = (float)(-m * rs);
        if (pw && pb) {
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] * scale + shift) * pw[j] + pb[j];
        } else {
            for (int64_t j = 0; j < cols; j++) {
                float v = xr[j] * scale + shift;
                if (pw) v *= pw[j];
                if (pb) v += pb[j];
                yr[j] = v;
            }
        }
    });
}

void cpu_layer_norm_backward_input(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                   const Tensor *rstd, const Tensor *weight, int64_t cols)
{
    int64_t rows = tensor_numel(mean);
    const float *px = tensor_f32(x), *pg = tensor_f32(g), *pm = tensor_f32(mean), *pr = tensor_f32(rstd);
    float *pgi = tensor_f32(grad_in);
    /* no weight is a weight of ones */
    float *ones = weight ? NULL : alloc_floats(cols);
    for (int64_t j = 0; ones && j < cols; j++) ones[j] = 1.0f;
    const float *pw = weight ? tensor_f32(weight) : ones;
    CPU_FOR(r, rows, rows * cols > CPU_PARALLEL_GRAIN && rows > 1, {
        const float *xr = px + r * cols, *gr = pg + r * cols;
        float *out = pgi + r * cols;
        /* with gw = g * w: ds = sum(gw * x), db = sum(gw); then
         * gi = rstd * gw + b * x + c, the expanded form of
         * rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) */
        double ds = 0.0, db = 0.0;
        for (int64_t k = 0; k < cols; k += SUM_BLOCK) {
            int64_t e = k + SUM_BLOCK < cols ? k + SUM_BLOCK : cols;
            float fs = 0.0f, fd = 0.0f;
_Pragma("omp simd reduction(+ : fs, fd)")
            for (int64_t j = k; j < e; j++) {
                float gw = gr[j] * pw[j];
                fs += gw * xr[j];
                fd += gw;
            }
            ds += fs;
            db += fd;
        }
        double a = pr[r], m = pm[r];
        double b = (db * m - ds) * a * a * a / (double)cols;
        double c = -b * m - db * a / (double)cols;
        float fa = (float)a, fb = (float)b, fc = (float)c;
        for (int64_t j = 0; j < cols; j++) out[j] = fa * gr[j] * pw[j] + fb * xr[j] + fc;
    });
    free(ones);
}

void cpu_layer_norm_backward_params(Tensor *grad_weight, Tensor *grad_bias, const Tensor *g, const Tensor *x,
                                    const Tensor *mean, const Tensor *rstd, int64_t cols)
{
    int64_t rows = tensor_numel(mean);
    float *zero = alloc_floats(cols);
    double *sb = alloc_doubles(cols), *sw = alloc_doubles(cols);
    /* per column: sum of g, and of g * (x - mean[r]) * rstd[r] */
    column_sums(tensor_f32(x), tensor_f32(g), rows, cols, zero, tensor_f32(mean), tensor_f32(rstd), sb, sw);
    for (int64_t j = 0; j < cols; j++) {
        if (grad_weight) tensor_f32(grad_weight)[j] = (float)sw[j];
        if (grad_bias) tensor_f32(grad_bias)[j] = (float)sb[j];
    }
    free(zero);
    free(sb);
    free(sw);
}
