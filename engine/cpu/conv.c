/* CPU 2-D convolution as sgemms over a "row unfold" of the input, with
 * direct kernels for layers with few taps.
 *
 * Full im2col copies every input value kh * kw times. Here only the kernel
 * columns are unfolded: U has one row per (channel, kj) and one column per
 * (padded input row, output column), so U = unfold(x) is about kh times
 * smaller, and kernel row ki reads a window of U's columns:
 *   padded input row of output row oh, kernel row ki:  oh * sh + ki * dh.
 * With stride sh the padded rows are stored in sh phases (row r at phase
 * r % sh, position r / sh), so every window is OH * OW contiguous columns.
 * Per sample and group, with Wk = the weight of kernel row ki as [O/g, C/g*kw]:
 *   forward        y_g  = sum over ki of Wk @ U[window ki]
 *   transpose      U[window ki] += Wk^T @ y_g,  then x_g = fold(U)
 *   weight grad    Wk^T += U[window ki] @ gy_g^T
 * (The weight grad's transposed orientation measured about a quarter faster
 * in OpenBLAS for these shapes.) When the unfold is the identity (kernel one
 * column wide, no stride or padding) U is x itself.
 *
 * The sgemms of small networks are small (MnistModel's conv2: 20x50 @ 50x64
 * per kernel row and sample), so with a batch the samples are split across
 * OpenMP threads, each with its own U and single-threaded BLAS (measured 2x
 * faster forward and 2-3x forward+backward than per-sample sgemms threaded
 * by BLAS); a single sample splits each sgemm across the threads instead
 * (cpu_sgemm_parallel).
 *
 * The forward of layers with few taps per output (up to 256: MnistModel's
 * two layers, ResNet's stem) skips the sgemms: a direct kernel multiplies
 * straight from U (see "The direct forward" below), and on CPUs with
 * AVX-512 their gradients run in blocks of 16 samples (conv_lanes.c,
 * lanes_take). Layers with small
 * planes and many channels (ResNet's 8x8 and 4x4 stages) take a full im2col
 * of a chunk of samples and one sgemm per chunk instead (see "Full im2col
 * over chunks of samples"). The weight gradient's partial sums go by fixed
 * slots of samples, so any number of threads gives the same bits.
 *
 * Layers with many channels on both sides run on oneDNN instead, when the
 * build has it (conv_dnnl.h; the rule is at the end of this file). */
#include "engine/cpu/conv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/cpu/conv_dnnl.h"
#include "engine/cpu/conv_geom.h"
#include "engine/cpu/conv_lanes.h"
#include "engine/cpu/fork.h"
#include "engine/cpu/copy.h"
#include "engine/cpu/matmul_bf16_dnnl.h"
#include "engine/cpu/linalg.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/strided.h"
#include "engine/cpu/vec16.h"

/* The geometry of x convolved by w into planes of shape y. */
static ConvGeom conv_geom_of(const Tensor *x, Shape y, const Tensor *w, ConvParams p)
{
    ConvGeom g = {
        .n = x->shape.d[0], .c = x->shape.d[1], .h = x->shape.d[2], .w = x->shape.d[3],
        .o = y.d[1], .oh = y.d[2], .ow = y.d[3],
        .kh = w->shape.d[2], .kw = w->shape.d[3],
        .sh = p.stride[0], .sw = p.stride[1], .ph = p.padding[0], .pw = p.padding[1],
        .dh = p.dilation[0], .dw = p.dilation[1], .groups = p.groups,
    };
    ENGINE_ASSERT(y.d[0] == g.n && w->shape.d[0] == g.o && g.groups > 0 && g.c % g.groups == 0 &&
                  g.o % g.groups == 0 && w->shape.d[1] == g.c / g.groups);
    ENGINE_ASSERT(tensor_is_contiguous(x) && tensor_is_contiguous(w));
    g.l = g.oh * g.ow;
    g.cg = g.c / g.groups;
    g.og = g.o / g.groups;
    g.urows = g.cg * g.kw;
    g.hq = g.oh + (g.kh - 1) * g.dh / g.sh;
    g.ucols = g.sh * g.hq * g.ow;
    g.identity = g.kw == 1 && g.sw == 1 && g.pw == 0 && g.ow == g.w && g.sh == 1 && g.ph == 0 && g.hq == g.h;
    return g;
}

static ConvGeom conv_geom(const Tensor *x, const Tensor *y, const Tensor *w, ConvParams p)
{
    ENGINE_ASSERT(tensor_is_contiguous(y));
    return conv_geom_of(x, y->shape, w, p);
}

/* Offset in U of the column window kernel row ki reads. */
static int64_t window_offset(const ConvGeom *g, int64_t ki)
{
    int64_t r = ki * g->dh;
    return ((r % g->sh) * g->hq + r / g->sh) * g->ow;
}

/* Zeroes U outside kernel row 0's window (columns [0, L) of every row), the
 * part of U a transpose's first kernel row does not write: that row then
 * sets its window instead of adding to zeros (U is cleared once per sample
 * and pass, and most of it is that window). */
static void zero_outside_first_window(float *u, const ConvGeom *g)
{
    for (int64_t r = 0; r < g->urows; r++) memset(u + r * g->ucols + g->l, 0, sizeof(float) * (size_t)(g->ucols - g->l));
}

/* The positions o in [*lo, *hi) of n_out whose input o * stride + offset
 * lies inside [0, size). */
static void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t n_out, int64_t *lo, int64_t *hi)
{
    int64_t a = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t b = size - offset > 0 ? (size - offset + stride - 1) / stride : 0;
    *lo = a < n_out ? a : n_out;
    *hi = b < n_out ? b : n_out;
    if (*hi < *lo) *hi = *lo;
}

static inline void zero_floats(float *dst, int64_t n)
{
    if (n > 0) memset(dst, 0, sizeof(float) * (size_t)n);
}

/* rows x width floats between U (rows back to back) and x (rows step
 * apart): copied into U, or added back into x. */
static inline __attribute__((always_inline)) void block_rows(float *restrict u, float *restrict x, int64_t rows,
                                                             int64_t width, int64_t step, bool to_u)
{
    for (int64_t i = 0; i < rows; i++, u += width, x += step) {
        if (to_u) memcpy(u, x, sizeof(float) * (size_t)width);
        else for (int64_t o = 0; o < width; o++) x[o] += u[o];
    }
}

/* The rows that need no padding and no column stride. Short widths get
 * copies specialised at compile time: a generic copy per row of 8 floats
 * costs several times the row itself (measured on MnistModel's conv2, where
 * the unfold went from half the forward pass to a small part). */
static void interior_block(float *u, float *x, int64_t rows, int64_t width, int64_t step, bool to_u)
{
    switch (width) {
#define WIDTH_CASE(k) \
    case k: block_rows(u, x, rows, k, step, to_u); return;
        WIDTH_CASE(1) WIDTH_CASE(2) WIDTH_CASE(3) WIDTH_CASE(4) WIDTH_CASE(5) WIDTH_CASE(6) WIDTH_CASE(7)
        WIDTH_CASE(8) WIDTH_CASE(9) WIDTH_CASE(10) WIDTH_CASE(11) WIDTH_CASE(12) WIDTH_CASE(13) WIDTH_CASE(14)
        WIDTH_CASE(15) WIDTH_CASE(16) WIDTH_CASE(24) WIDTH_CASE(28) WIDTH_CASE(32)
#undef WIDTH_CASE
    default: block_rows(u, x, rows, width, step, to_u);
    }
}

/* One row of U whose columns [lo, hi) read x at column stride sw (x points
 * at column 0's input; the others are padding): copied into U with zeros
 * around, or added back into x. Callers pass sw as a literal so each loop
 * vectorises. (ResNet's 3x3 kernels with padding 1 send two rows of three
 * here; element by element with a run-time stride, the copies of its
 * stride-2 layers took most of the unfold's time.) */
static inline __attribute__((always_inline)) void padded_run(float *restrict u, float *restrict x, int64_t lo,
                                                             int64_t hi, int64_t ow, const int64_t sw, bool to_u)
{
    if (to_u) {
        for (int64_t o = 0; o < lo; o++) u[o] = 0.0f;
        for (int64_t o = lo; o < hi; o++) u[o] = x[o * sw];
        for (int64_t o = hi; o < ow; o++) u[o] = 0.0f;
    } else {
        for (int64_t o = lo; o < hi; o++) x[o * sw] += u[o];
    }
}

/* The one index mapping between a group's input planes and U, both ways:
 * to_u copies x into U (zero where the window reads padding); otherwise U
 * is added back into x (the fold, col2im's counterpart). U[(c, kj), phase,
 * q, ow] is x[c, q * sh + phase - ph, ow * sw + kj * dw - pw]. */
static void unfold_map(float *x, float *u, const ConvGeom *g, bool to_u)
{
    const int64_t ow = g->ow, sw = g->sw, plane = g->h * g->w;
    /* the valid ranges depend on kj and the phase only, not the channel */
    for (int64_t kj = 0; kj < g->kw; kj++) {
        int64_t col_offset = kj * g->dw - g->pw, lo, hi;
        valid_range(col_offset, sw, g->w, ow, &lo, &hi);
        for (int64_t phase = 0; phase < g->sh; phase++) {
            int64_t row_offset = phase - g->ph, q_lo, q_hi;
            valid_range(row_offset, g->sh, g->h, g->hq, &q_lo, &q_hi);
            for (int64_t c = 0; c < g->cg; c++) {
                float *xc = x + c * plane;
                float *row = u + (c * g->kw + kj) * g->ucols + phase * g->hq * ow;
                if (to_u) { /* padding rows */
                    zero_floats(row, q_lo * ow);
                    zero_floats(row + q_hi * ow, (g->hq - q_hi) * ow);
                }
                if (sw == 1 && lo == 0 && hi == ow) { /* the common case */
                    interior_block(row + q_lo * ow, xc + (q_lo * g->sh + row_offset) * g->w + col_offset,
                                   q_hi - q_lo, ow, g->sh * g->w, to_u);
                    continue;
                }
                for (int64_t q = q_lo; q < q_hi; q++) {
                    float *r = row + q * ow;
                    /* x index of output column 0 (read only for columns in [lo, hi)) */
                    int64_t base = (q * g->sh + row_offset) * g->w + col_offset;
                    if (sw == 1) /* a padded column: contiguous runs that vectorise */
                        padded_run(r, xc + base, lo, hi, ow, 1, to_u);
                    else if (sw == 2) /* ResNet's downsampling layers */
                        padded_run(r, xc + base, lo, hi, ow, 2, to_u);
                    else if (to_u) {
                        zero_floats(r, lo);
                        for (int64_t o = lo; o < hi; o++) r[o] = xc[base + o * sw];
                        zero_floats(r + hi, ow - hi);
                    } else {
                        for (int64_t o = lo; o < hi; o++) xc[base + o * sw] += r[o];
                    }
                }
            }
        }
    }
}

/* Whether to split the batch across threads (BLAS serial inside). */
static bool split_batch(const ConvGeom *g)
{
    return g->n > 1 && omp_get_max_threads() > 1 && g->n * g->o * g->cg * g->kh * g->kw * g->l > CPU_PARALLEL_GRAIN;
}

/* Scratch buffers come from the caching allocator: the unfolds of a
 * ResNet layer take megabytes, the sizes glibc may serve with fresh
 * mappings and page faults (engine/cpu/allocator.h says why). */
static float *alloc_floats(int64_t n) { return cpu_caching_alloc_floats(n); }

static void free_floats(float *p) { cpu_caching_free(p); }

/* The weight regrouped by kernel row: [groups][kh][O/g][C/g * kw], so the
 * weight of one group and kernel row is a plain matrix. */
static float *weight_by_kernel_row(const float *w, const ConvGeom *g)
{
    float *wk = alloc_floats(g->o * g->cg * g->kh * g->kw);
    for (int64_t grp = 0; grp < g->groups; grp++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t o = 0; o < g->og; o++)
                for (int64_t c = 0; c < g->cg; c++)
                    memcpy(wk + ((grp * g->kh + ki) * g->og + o) * g->urows + c * g->kw,
                           w + (((grp * g->og + o) * g->cg + c) * g->kh + ki) * g->kw, sizeof(float) * (size_t)g->kw);
    return wk;
}

static const float *kernel_row_weight(const float *wk, const ConvGeom *g, int64_t grp, int64_t ki)
{
    return wk + (grp * g->kh + ki) * g->og * g->urows;
}

/* Sets each of the planes (of size plane) to its bias value, or to 0. */
static void fill_planes(float *dst, int64_t planes, int64_t plane, const float *bias)
{
    for (int64_t i = 0; i < planes; i++)
        for (int64_t j = 0; j < plane; j++) dst[i * plane + j] = bias ? bias[i] : 0.0f;
}

/* ---- The direct forward over the row unfold ----
 *
 * Where a forward sgemm is small (MnistModel's conv1: 10 outputs of 25 taps
 * from one channel; conv2: 20 of 250), a direct kernel beats it: in U every
 * tap (c, ki, kj) of a group reads one contiguous run of L = OH * OW values
 * (row (c, kj), from window_offset(ki)), so vectors of 16 output positions
 * multiply-add straight from U, with no im2col and no BLAS packing. Per
 * sample and group, per block of DOB output channels x DT vectors of
 * positions, the accumulators start at the bias (no separate bias pass) and
 * every tap adds w[o, tap] * U[tap's run]. GCC vector extensions: one
 * AVX-512 register per vector with -march=native on such CPUs, two AVX2
 * ones or plain code elsewhere. Each output element is made by one thread in
 * the order of the taps: the same bits for any number of threads.
 *
 * The gradients of these layers go by blocks of 16 samples in the vector
 * lanes where the build has AVX-512 (conv_lanes.c: 2-6x faster than the
 * per-sample sgemms on MnistModel's layers, 1 thread); elsewhere they stay
 * with the sgemms. Direct versions with vectors over positions (partial
 * sums per chunk of samples, or 4 output channels x 5 taps of 16-lane sums
 * kept over a slot) measured slower or mixed (bench/bench_conv_ab). */

#define DOB 5 /* output channels per block */
#define DT 4  /* vectors of 16 positions per block */
/* Taps per output up to which the direct forward beats the sgemms
 * (bench/bench_conv_ab, CPU time, 1 thread: MnistModel's conv1 (25 taps)
 * 1.1-1.4x, conv2 (250) 1.25x, ResNet's 3-channel stem (27) 1.4x). */
#define DIRECT_FORWARD_TAPS_MAX 256
/* Multiply-adds below which a call runs on one thread. */
#define DIRECT_PARALLEL_MACS (1 << 20)

static bool direct_ok(const ConvGeom *g)
{
    int64_t taps = g->cg * g->kh * g->kw;
    return taps <= DIRECT_FORWARD_TAPS_MAX && g->l >= 16 && g->n * g->o * taps * g->l > 0;
}

static bool direct_parallel(const ConvGeom *g)
{
    return g->n > 1 && omp_get_max_threads() > 1 && g->n * g->o * g->cg * g->kh * g->kw * g->l > DIRECT_PARALLEL_MACS;
}

/* [k] offsets in a group's U (or x, for the identity) of each tap's run. */
static int64_t *tap_offsets(const ConvGeom *g)
{
    int64_t k = g->cg * g->kh * g->kw;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)k), t = 0;
    ENGINE_ASSERT(off != NULL);
    int64_t rows = g->identity ? g->h * g->w : g->ucols; /* floats between rows (c, kj) */
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) off[t++] = (c * g->kw + kj) * rows + window_offset(g, ki);
    return off;
}

/* Floats of a group's U (or copy of x), with room for a last vector read
 * past its end (zeroed: its lanes are dropped, but never a NaN or denormal
 * to slow them down). */
static float *alloc_direct_u(const ConvGeom *g)
{
    int64_t n = g->identity ? g->cg * g->h * g->w : g->urows * g->ucols;
    float *u = alloc_floats(n + 16);
    memset(u + n, 0, sizeof(float) * 16);
    return u;
}

/* nt (<= DT) vectors of positions from p0 for the block of output channels
 * o0 .. o0 + ob whose weights are wb [k][DOB] (zero beyond ob) and biases bb. */
static inline __attribute__((always_inline)) void direct_forward_block(const float *u, const int64_t *off, int64_t k,
                                                                       const float *wb, const float *bb, float *yg,
                                                                       int64_t l, int64_t o0, int64_t ob, int64_t p0,
                                                                       const int nt)
{
    v16 acc[DOB][DT];
    for (int o = 0; o < DOB; o++)
        for (int t = 0; t < nt; t++) acc[o][t] = splat16(bb[o]);
    const float *up = u + p0;
    for (int64_t tap = 0; tap < k; tap++) {
        const float *src = up + off[tap], *wt = wb + tap * DOB;
        v16 xv[DT];
        for (int t = 0; t < nt; t++) xv[t] = load16(src + 16 * t);
        for (int o = 0; o < DOB; o++) {
            v16 wv = splat16(wt[o]);
            for (int t = 0; t < nt; t++) acc[o][t] = fma16(wv, xv[t], acc[o][t]);
        }
    }
    /* whole vectors straight from the registers; a last partial one (the
     * plane's end) through a copy */
    const int full = l - p0 >= 16 * nt;
    for (int o = 0; o < DOB; o++) {
        if (o < ob) {
            float *dst = yg + (o0 + o) * l + p0;
            if (full) {
                for (int t = 0; t < nt; t++) store16(dst + 16 * t, acc[o][t]);
            } else {
                for (int t = 0; t < nt; t++) {
                    int64_t left = l - p0 - 16 * t;
                    float last[16];
                    store16(last, acc[o][t]);
                    memcpy(dst + 16 * t, last, sizeof(float) * (size_t)(left < 16 ? left : 16));
                }
            }
        }
    }
}

/* What every sample of a direct forward shares: the taps' offsets in U and
 * the weights and biases by group and block of DOB output channels,
 * [groups][blocks][k][DOB] and [groups][blocks][DOB], zero padded. */
typedef struct {
    int64_t k, vecs, blocks;
    int64_t *off;
    float *wb, *bb;
} DirectPlan;

static DirectPlan direct_plan(const ConvGeom *g, const float *pw, const float *pb)
{
    DirectPlan d = {.k = g->cg * g->kh * g->kw, .vecs = (g->l + 15) / 16, .blocks = (g->og + DOB - 1) / DOB};
    d.off = tap_offsets(g);
    d.wb = calloc((size_t)(g->groups * d.blocks * DOB * (d.k + 1)), sizeof(float));
    ENGINE_ASSERT(d.wb != NULL);
    d.bb = d.wb + g->groups * d.blocks * d.k * DOB;
    for (int64_t o = 0; o < g->o; o++) {
        int64_t grp = o / g->og, og = o % g->og, blk = grp * d.blocks + og / DOB;
        for (int64_t tap = 0; tap < d.k; tap++) d.wb[(blk * d.k + tap) * DOB + og % DOB] = pw[o * d.k + tap];
        d.bb[blk * DOB + og % DOB] = pb ? pb[o] : 0.0f;
    }
    return d;
}

static void direct_plan_free(DirectPlan *d)
{
    free(d->wb);
    free(d->off);
}

/* Sample n's output planes yn [O][L], with u the thread's alloc_direct_u. */
static void direct_sample(const DirectPlan *d, const ConvGeom *g, const float *px, int64_t n, float *u, float *yn)
{
    for (int64_t grp = 0; grp < g->groups; grp++) {
        float *xg = (float *)px + (n * g->c + grp * g->cg) * g->h * g->w;
        /* the identity reads x itself, which may end right after the last
         * plane: its last vectors go through a padded copy */
        if (g->identity) memcpy(u, xg, sizeof(float) * (size_t)(g->cg * g->h * g->w));
        else unfold_map(xg, u, g, true);
        float *yg = yn + grp * g->og * g->l;
        for (int64_t blk = 0; blk < d->blocks; blk++) {
            const float *wblk = d->wb + (grp * d->blocks + blk) * d->k * DOB, *bblk = d->bb + (grp * d->blocks + blk) * DOB;
            int64_t o0 = blk * DOB, ob = g->og - o0 < DOB ? g->og - o0 : DOB, v = 0;
            for (; v + DT <= d->vecs; v += DT)
                direct_forward_block(u, d->off, d->k, wblk, bblk, yg, g->l, o0, ob, 16 * v, DT);
            for (; v < d->vecs; v++) direct_forward_block(u, d->off, d->k, wblk, bblk, yg, g->l, o0, ob, 16 * v, 1);
        }
    }
}

typedef struct {
    const DirectPlan *d;
    const ConvGeom *g;
    const float *x;
    float *y;
} DirectForward;

static void direct_forward_samples(void *ctx, int part, int64_t n_lo, int64_t n_hi)
{
    (void)part;
    const DirectForward *f = ctx;
    const ConvGeom *g = f->g;
    float *u = alloc_direct_u(g);
    for (int64_t n = n_lo; n < n_hi; n++) direct_sample(f->d, g, f->x, n, u, f->y + n * g->o * g->l);
    free_floats(u);
}

static bool direct_forward(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    ConvGeom g = conv_geom(x, y, w, p);
    if (!direct_ok(&g)) return false;
    DirectPlan d = direct_plan(&g, tensor_f32(w), bias ? tensor_f32(bias) : NULL);
    DirectForward f = {&d, &g, tensor_f32(x), tensor_f32(y)};
    cpu_for_ranges(g.n, direct_parallel(&g), 0, direct_forward_samples, &f);
    direct_plan_free(&d);
    return true;
}

/* Partial sums of the weight gradient: one per slot of WG_SLOT_SAMPLES
 * consecutive samples (not one per thread), added as a pairwise tree in
 * slot order: the same bits for any number of threads, and the same as the
 * sum of the gradients of the batch's halves, quarters... (so a batch split
 * over 2 data-parallel ranks, whose all-reduce adds the halves, matches one
 * process where the halves are whole slots). Weights too large for that
 * many copies keep one partial sum per thread (the same bits run to run on
 * the same thread count). */
#define WG_SLOT_SAMPLES 16
#define WG_SLOT_FLOATS (4 * 1024 * 1024)

static bool weight_grad_by_slot(const ConvGeom *g)
{
    int64_t slots = (g->n + WG_SLOT_SAMPLES - 1) / WG_SLOT_SAMPLES;
    return slots * g->o * g->cg * g->kh * g->kw <= WG_SLOT_FLOATS;
}

/* ---- Full im2col over chunks of samples ----
 *
 * The per-sample sgemms above suit large planes (ResNet's 32x32 stage: 1024
 * positions per sample). Deeper layers have few positions and many
 * channels (ResNet's last stage: 16 positions, 512 channels): per sample,
 * every sgemm repacks the whole weight for a 16-column product, and the
 * weight gradient reads and writes all of its partial sum per sample and
 * kernel row. There, S samples go into one full im2col matrix,
 *   col [C * kh * kw][S * L], row (c, ki, kj), column (sample, oh, ow),
 * so one sgemm per chunk of samples does each pass with the weight in its
 * own [O][C * kh * kw] layout:
 *   forward        Y [O][S * L]  = W @ col           (then scattered to y)
 *   transpose      col = W^T @ GY [O][S * L]        (then folded into x)
 *   weight grad    GW += GY @ col^T
 * S is a power of two up to WG_SLOT_SAMPLES, so a weight gradient slot of
 * samples is whole chunks, summed in order (the same bits for any number of
 * threads). Measured (1 thread, batch 64, forward / input grad / weight
 * grad): ResNet-18's 4x4 layers from 62 / 63 / 68 GFLOP/s to 108 / 116 /
 * 122, its 8x8 ones from 110 / 109 / 108 to 113 / 124 / 115. */

/* Positions per sample up to which chunks of samples pay (measured, 1
 * thread: the 8x8 and 4x4 layers gain; the 16x16 ones (256 positions)
 * lose 15% and the 32x32 ones more, so they stay per sample). */
#define IM2COL_L_MAX 64
/* Columns of a chunk's matrix the chunk size aims for: 8 samples of 4x4,
 * 2 of 8x8. On 1 thread 128 to 2048 measured within noise of each other;
 * on 2, 512 lost 7% to 128 (each thread's im2col of several MB no longer
 * stays in its core's cache). */
#define IM2COL_COLS 128

/* ... and only for more taps than the direct forward takes: at MnistModel's
 * conv2 (250 taps, 8x8) the chunks lost 24% on the input gradient and 50%
 * on the weight gradient to the per-sample path (bench_conv_ab, 1 thread),
 * while ResNet-18's small planes (1152 taps and up) gain. Bigger chunks do
 * not rescue them: for the weight gradient alone, chunks of 2 to 16 samples
 * in either orientation of the product (GY @ col^T or col @ GY^T) were
 * 1.25-1.6x slower on conv2 and 1.6-4.9x on conv1 (1 thread, CPU time). */
static bool use_im2col(const ConvGeom *g)
{
    return g->groups == 1 && !g->identity && g->l <= IM2COL_L_MAX && g->c * g->kh * g->kw > DIRECT_FORWARD_TAPS_MAX;
}

/* Samples per chunk: a power of two dividing WG_SLOT_SAMPLES. */
static int64_t chunk_samples(const ConvGeom *g)
{
    int64_t s = 1;
    while (s < WG_SLOT_SAMPLES && 2 * s * g->l <= IM2COL_COLS) s *= 2;
    return s;
}

/* How runs move between col and U: copied into col (im2col), or copied or
 * added into U (col2im). */
typedef enum { RUN_TO_COL, RUN_SET_U, RUN_ADD_U } RunMode;

/* rows runs of width floats between col and u (rows col_step and u_step
 * apart). */
static inline __attribute__((always_inline)) void copy_runs(float *restrict col, int64_t col_step, float *restrict u,
                                                            int64_t u_step, int64_t rows, int64_t width, RunMode mode)
{
    for (int64_t r = 0; r < rows; r++, col += col_step, u += u_step) {
        if (mode == RUN_TO_COL) memcpy(col, u, sizeof(float) * (size_t)width);
        else if (mode == RUN_SET_U) memcpy(u, col, sizeof(float) * (size_t)width);
        else for (int64_t j = 0; j < width; j++) u[j] += col[j];
    }
}

/* copy_runs with the plane sizes of ResNet's deeper stages known at compile
 * time (a call per 16-float run cost more than the run). */
static void plane_runs(float *col, int64_t col_step, float *u, int64_t u_step, int64_t rows, int64_t width,
                       RunMode mode)
{
    switch (width) {
#define RUN_CASE(k) \
    case k: copy_runs(col, col_step, u, u_step, rows, k, mode); return;
        RUN_CASE(4) RUN_CASE(16) RUN_CASE(64)
#undef RUN_CASE
    default: copy_runs(col, col_step, u, u_step, rows, width, mode);
    }
}

/* Between one sample's planes x [C][H][W] and its columns of col (rows ld
 * floats apart), through the row unfold u: im2col's row (c, ki, kj) is the
 * window of kernel row ki in U's row (c, kj), L contiguous floats. So the
 * unfold's copies specialised by width and its padding serve both, and the
 * rest is runs of L floats (a direct im2col of 4x4 planes made a call per 4
 * floats and took a third of the layer's time). to_col copies x into col;
 * otherwise col is added back into x (col2im). */
static void im2col_map(float *x, float *col, int64_t ld, float *u, const ConvGeom *g, bool to_col)
{
    if (to_col) unfold_map(x, u, g, true);
    else zero_outside_first_window(u, g);
    /* rows (c, ki, kj) for kj = 0..kw-1 read U's rows (c, kj), ucols apart;
     * in col2im kernel row 0 sets its window, the others add */
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            plane_runs(col + (c * g->kh + ki) * g->kw * ld, ld, u + c * g->kw * g->ucols + window_offset(g, ki),
                       g->ucols, g->kw, g->l, to_col ? RUN_TO_COL : ki ? RUN_ADD_U : RUN_SET_U);
    if (!to_col) unfold_map(x, u, g, false);
}

/* Samples [n0, n0 + s) of planes [N][rows][l] to or from a chunk matrix
 * [rows][s * l] (rows of plane l): gather or scatter. With bias, the
 * scatter adds bias[row]. */
static void chunk_planes(float *planes, float *chunk, int64_t n0, int64_t s, int64_t rows, int64_t l, const float *bias,
                         bool gather)
{
    for (int64_t i = 0; i < s; i++)
        for (int64_t r = 0; r < rows; r++) {
            float *p = planes + ((n0 + i) * rows + r) * l, *q = chunk + (r * s + i) * l;
            if (gather) memcpy(q, p, sizeof(float) * (size_t)l);
            else if (!bias) memcpy(p, q, sizeof(float) * (size_t)l);
            else for (int64_t j = 0; j < l; j++) p[j] = q[j] + bias[r];
        }
}

/* col of samples [n0, n0 + s) of x. */
static void chunk_im2col(const float *x, float *col, float *u, int64_t n0, int64_t s, const ConvGeom *g)
{
    for (int64_t i = 0; i < s; i++)
        im2col_map((float *)x + (n0 + i) * g->c * g->h * g->w, col + i * g->l, s * g->l, u, g, true);
}

/* A pass over a layer's samples (or chunks of them), split across the
 * threads by cpu_for_ranges: the layer and its operands. */
typedef struct {
    const ConvGeom *g;
    float *out;
    const float *in, *w, *bias;
} ConvPass;

static void im2col_forward_chunks(void *ctx, int part, int64_t ch_lo, int64_t ch_hi)
{
    (void)part;
    const ConvPass *c = ctx;
    const ConvGeom *g = c->g;
    const int64_t S = chunk_samples(g), k = g->c * g->kh * g->kw;
    float *col = alloc_floats(k * S * g->l), *out = alloc_floats(g->o * S * g->l);
    float *u = alloc_floats(g->urows * g->ucols);
    for (int64_t ch = ch_lo; ch < ch_hi; ch++) {
        int64_t n0 = ch * S, s = g->n - n0 < S ? g->n - n0 : S;
        chunk_im2col(c->in, col, u, n0, s, g);
        cpu_sgemm_parallel(false, false, g->o, s * g->l, k, 1.0f, c->w, k, col, s * g->l, 0.0f, out, s * g->l);
        chunk_planes(c->out, out, n0, s, g->o, g->l, c->bias, false);
    }
    free_floats(col);
    free_floats(out);
    free_floats(u);
}

static void im2col_forward(float *y, const float *x, const float *w, const float *bias, const ConvGeom *g)
{
    const int64_t S = chunk_samples(g), chunks = (g->n + S - 1) / S;
    ConvPass c = {g, y, x, w, bias};
    cpu_for_ranges(chunks, split_batch(g), 0, im2col_forward_chunks, &c);
}

static void im2col_transpose_chunks(void *ctx, int part, int64_t ch_lo, int64_t ch_hi)
{
    (void)part;
    const ConvPass *c = ctx;
    const ConvGeom *g = c->g;
    const int64_t S = chunk_samples(g), k = g->c * g->kh * g->kw;
    float *col = alloc_floats(k * S * g->l), *gy = alloc_floats(g->o * S * g->l);
    float *u = alloc_floats(g->urows * g->ucols);
    for (int64_t ch = ch_lo; ch < ch_hi; ch++) {
        int64_t n0 = ch * S, s = g->n - n0 < S ? g->n - n0 : S;
        chunk_planes((float *)c->in, gy, n0, s, g->o, g->l, NULL, true);
        cpu_sgemm_parallel(true, false, k, s * g->l, g->o, 1.0f, c->w, k, gy, s * g->l, 0.0f, col, s * g->l);
        for (int64_t i = 0; i < s; i++) {
            float *xn = c->out + (n0 + i) * g->c * g->h * g->w;
            fill_planes(xn, g->c, g->h * g->w, c->bias); /* the fold adds onto it */
            im2col_map(xn, col + i * g->l, s * g->l, u, g, false);
        }
    }
    free_floats(col);
    free_floats(gy);
    free_floats(u);
}

static void im2col_transpose(float *x, const float *y, const float *w, const float *bias, const ConvGeom *g)
{
    const int64_t S = chunk_samples(g), chunks = (g->n + S - 1) / S;
    ConvPass c = {g, x, y, w, bias};
    cpu_for_ranges(chunks, split_batch(g), 0, im2col_transpose_chunks, &c);
}

/* Adds (beta 1) or writes (beta 0) the weight gradient [O][C * kh * kw] of
 * samples [n_lo, n_hi) into part, chunk by chunk in order; col and gy are a
 * chunk's scratch. */
static void im2col_weight_grad_range(float *part, float beta, const float *x, const float *gy_planes, float *col,
                                     float *gy, float *u, int64_t n_lo, int64_t n_hi, const ConvGeom *g)
{
    const int64_t S = chunk_samples(g), k = g->c * g->kh * g->kw;
    for (int64_t n0 = n_lo; n0 < n_hi; n0 += S) {
        int64_t s = n_hi - n0 < S ? n_hi - n0 : S;
        chunk_im2col(x, col, u, n0, s, g);
        chunk_planes((float *)gy_planes, gy, n0, s, g->o, g->l, NULL, true);
        cpu_sgemm_parallel(false, true, g->o, k, s * g->l, 1.0f, gy, s * g->l, col, s * g->l, n0 == n_lo ? beta : 1.0f,
                           part, k);
    }
}

/* The row unfold's forward of samples [n_lo, n_hi) (c->w: the weight by
 * kernel row). */
static void row_unfold_forward_samples(void *ctx, int part, int64_t n_lo, int64_t n_hi)
{
    (void)part;
    const ConvPass *c = ctx;
    const ConvGeom *g = c->g;
    float *u = g->identity ? NULL : alloc_floats(g->urows * g->ucols);
    for (int64_t n = n_lo; n < n_hi; n++) {
        float *yn = c->out + n * g->o * g->l;
        /* the bias is the products' starting value */
        if (c->bias) fill_planes(yn, g->o, g->l, c->bias);
        for (int64_t grp = 0; grp < g->groups; grp++) {
            float *xg = (float *)c->in + (n * g->c + grp * g->cg) * g->h * g->w;
            if (!g->identity) unfold_map(xg, u, g, true);
            for (int64_t ki = 0; ki < g->kh; ki++)
                cpu_sgemm_parallel(false, false, g->og, g->l, g->urows, 1.0f, kernel_row_weight(c->w, g, grp, ki),
                                   g->urows, (g->identity ? xg : u) + window_offset(g, ki), g->ucols,
                                   c->bias || ki ? 1.0f : 0.0f, yn + grp * g->og * g->l, g->l);
        }
    }
    free_floats(u);
}

void cpu_conv2d_own(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    if (direct_forward(y, x, w, bias, p)) return;
    ConvGeom g = conv_geom(x, y, w, p);
    if (use_im2col(&g)) {
        im2col_forward(tensor_f32(y), tensor_f32(x), tensor_f32(w), bias ? tensor_f32(bias) : NULL, &g);
        return;
    }
    float *wk = weight_by_kernel_row(tensor_f32(w), &g);
    ConvPass c = {&g, tensor_f32(y), tensor_f32(x), wk, bias ? tensor_f32(bias) : NULL};
    cpu_for_ranges(g.n, split_batch(&g), 0, row_unfold_forward_samples, &c);
    free_floats(wk);
}

/* Sample n's planes xn [C][H][W] = conv^T(yn [O][L]) (+ bias), with u the
 * thread's unfold (unused for the identity) and wk the weight by kernel row. */
static void transpose_sample(float *xn, const float *yn, const float *wk, const float *pb, float *u, const ConvGeom *g)
{
    fill_planes(xn, g->c, g->h * g->w, pb); /* the products and the fold add onto it */
    for (int64_t grp = 0; grp < g->groups; grp++) {
        float *xg = xn + grp * g->cg * g->h * g->w;
        const float *yg = yn + grp * g->og * g->l;
        float *dst = g->identity ? xg : u;
        if (!g->identity) zero_outside_first_window(u, g);
        /* windows of different kernel rows overlap: the first sets
         * its window of U, the others add (into x itself, all add) */
        for (int64_t ki = 0; ki < g->kh; ki++)
            cpu_sgemm_parallel(true, false, g->urows, g->l, g->og, 1.0f, kernel_row_weight(wk, g, grp, ki), g->urows, yg,
                               g->l, g->identity || ki ? 1.0f : 0.0f, dst + window_offset(g, ki), g->ucols);
        if (!g->identity) unfold_map(xg, u, g, false);
    }
}

/* The output gradient of a conv2d fused with max_pool2d: the pooled
 * gradient g [N][O][PH][PW] and the window codes, expanded to the
 * convolution's output planes one sample at a time. */
typedef struct {
    const float *g;
    const uint8_t *codes;
    int64_t ph, pw;
    PoolParams p;
} PooledGrad;

/* Sample n's output gradient [O][L]: in gy, or expanded from pooled into
 * scratch. */
static const float *sample_output_grad(const float *gy, const PooledGrad *pooled, float *scratch, int64_t n,
                                       const ConvGeom *g)
{
    if (!pooled) return gy + n * g->o * g->l;
    int64_t plane = pooled->ph * pooled->pw;
    for (int64_t o = 0; o < g->o; o++) {
        int64_t at = (n * g->o + o) * plane;
        cpu_max_pool2d_plane_backward(scratch + o * g->l, g->oh, g->ow, pooled->g + at, pooled->codes + at, pooled->ph,
                                      pooled->pw, pooled->p);
    }
    return scratch;
}

/* Whether conv_lanes.c's kernels make this layer's gradients (the weight
 * gradient by slot of 16 samples, the input gradient by the same blocks):
 * the layers with few taps that the direct forward takes. */
static bool lanes_take(const ConvGeom *g)
{
    return direct_ok(g) && !use_im2col(g) && conv_lanes_ok(g) && weight_grad_by_slot(g);
}

/* The output gradients of samples [n0, n0 + nl): in gy, or expanded from
 * pooled into scratch (nl planes [O][L]). */
static const float *block_output_grad(const float *gy, const PooledGrad *pooled, float *scratch, int64_t n0, int64_t nl,
                                      const ConvGeom *g)
{
    if (!pooled) return gy + n0 * g->o * g->l;
    for (int64_t s = 0; s < nl; s++) sample_output_grad(NULL, pooled, scratch + s * g->o * g->l, n0 + s, g);
    return scratch;
}

/* Whether the lanes expand pooled's gradient straight into them (2 x 2
 * windows), with no scratch planes. */
static bool pooled_into_lanes(const PooledGrad *pooled, const ConvGeom *g)
{
    return cpu_max_pool2d_is_2x2(pooled->p, g->oh, g->ow, pooled->ph, pooled->pw);
}

/* The lanes of samples [n0, n0 + nl)'s output gradient: from gy, or
 * expanded from pooled (straight into the lanes for 2 x 2 windows, else
 * through scratch: nl planes [O][L]). */
static void load_block_output_grad(ConvLanes *lanes, const float *gy, const PooledGrad *pooled, float *scratch,
                                   int64_t n0, int64_t nl, const ConvGeom *g)
{
    if (pooled && pooled_into_lanes(pooled, g)) {
        int64_t at = n0 * g->o * pooled->ph * pooled->pw;
        conv_lanes_load_pooled_gy(lanes, pooled->g + at, pooled->codes + at, pooled->ph, pooled->pw, (int)nl, g);
        return;
    }
    conv_lanes_load_gy(lanes, block_output_grad(gy, pooled, scratch, n0, nl, g), (int)nl, g);
}

/* px = conv^T of every sample's output gradient, from py or expanded from
 * pooled (+ bias pb), w the weight: by blocks of 16 samples in the lanes
 * where they take the layer, else the row unfold's transpose; samples split
 * across the threads. */
typedef struct {
    const ConvGeom *g;
    float *px;
    const float *py, *w, *pb; /* w: by kernel row for the row unfold */
    const PooledGrad *pooled;
    const ConvLanesPlan *plan;
} Transpose;

static void transpose_lanes_blocks(void *ctx, int part, int64_t blk_lo, int64_t blk_hi)
{
    (void)part;
    const Transpose *t = ctx;
    const ConvGeom *g = t->g;
    ConvLanes lanes = conv_lanes_alloc(g, false, true);
    float *gy_block = t->pooled && !pooled_into_lanes(t->pooled, g) ? alloc_floats(CONV_LANES * g->o * g->l) : NULL;
    for (int64_t blk = blk_lo; blk < blk_hi; blk++) {
        int64_t n0 = blk * CONV_LANES, nl = g->n - n0 < CONV_LANES ? g->n - n0 : CONV_LANES;
        load_block_output_grad(&lanes, t->py, t->pooled, gy_block, n0, nl, g);
        conv_lanes_input_grad(t->px + n0 * g->c * g->h * g->w, (int)nl, t->plan, &lanes, g);
    }
    free_floats(gy_block);
    conv_lanes_free(&lanes);
}

static void transpose_samples(void *ctx, int part, int64_t n_lo, int64_t n_hi)
{
    (void)part;
    const Transpose *t = ctx;
    const ConvGeom *g = t->g;
    float *u = g->identity ? NULL : alloc_floats(g->urows * g->ucols);
    float *gy_scratch = t->pooled ? alloc_floats(g->o * g->l) : NULL;
    for (int64_t n = n_lo; n < n_hi; n++)
        transpose_sample(t->px + n * g->c * g->h * g->w, sample_output_grad(t->py, t->pooled, gy_scratch, n, g), t->w,
                         t->pb, u, g);
    free_floats(gy_scratch);
    free_floats(u);
}

static void transpose_own(float *px, const float *py, const PooledGrad *pooled, const float *w, const float *pb,
                          const ConvGeom *g)
{
    bool parallel = split_batch(g);
    if (lanes_take(g)) {
        ConvLanesPlan plan = conv_lanes_plan(w, pb, g);
        int64_t blocks = (g->n + CONV_LANES - 1) / CONV_LANES;
        Transpose t = {g, px, py, w, pb, pooled, &plan};
        cpu_for_ranges(blocks, parallel, 0, transpose_lanes_blocks, &t);
        conv_lanes_plan_free(&plan);
        return;
    }
    float *wk = weight_by_kernel_row(w, g);
    Transpose t = {g, px, py, wk, pb, pooled, NULL};
    cpu_for_ranges(g->n, parallel, 0, transpose_samples, &t);
    free_floats(wk);
}

void cpu_conv2d_transpose_own(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p)
{
    ConvGeom g = conv_geom(x, y, w, p);
    if (use_im2col(&g)) {
        im2col_transpose(tensor_f32(x), tensor_f32(y), tensor_f32(w), bias ? tensor_f32(bias) : NULL, &g);
        return;
    }
    transpose_own(tensor_f32(x), tensor_f32(y), NULL, tensor_f32(w), bias ? tensor_f32(bias) : NULL, &g);
}

/* The input gradient a backward pass over the samples also makes, from the
 * same output gradient of each sample while it is in cache: gx [N][C][H][W]
 * and the weight by kernel row (wk), or arranged for the lanes (plan) where
 * they take the layer (see input_grad_of). */
typedef struct {
    float *gx;
    float *wk;
    ConvLanesPlan plan;
} InputGrad;

static InputGrad input_grad_of(float *gx, const float *w, const ConvGeom *g)
{
    InputGrad in = {gx, NULL, {0}};
    if (lanes_take(g)) in.plan = conv_lanes_plan(w, NULL, g);
    else in.wk = weight_by_kernel_row(w, g);
    return in;
}

static void input_grad_free(InputGrad *in)
{
    free_floats(in->wk);
    conv_lanes_plan_free(&in->plan);
}

/* The row unfold's weight gradient of samples [n_lo, n_hi), in the layout
 * [groups][kh][C/g * kw][O/g]: added into part, or written by the first
 * sample when first_writes. The output gradient comes from gy, or from
 * pooled through the thread's gy_scratch; with in_grad, each sample's input
 * gradient too (u serves both, one after the other). */
static void row_unfold_weight_grad_range(float *part, bool first_writes, const float *x, const float *gy,
                                         const PooledGrad *pooled, const InputGrad *in_grad, float *gy_scratch,
                                         float *u, int64_t n_lo, int64_t n_hi, const ConvGeom *g)
{
    for (int64_t n = n_lo; n < n_hi; n++) {
        const float *gyn = sample_output_grad(gy, pooled, gy_scratch, n, g);
        if (in_grad) transpose_sample(in_grad->gx + n * g->c * g->h * g->w, gyn, in_grad->wk, NULL, u, g);
        for (int64_t grp = 0; grp < g->groups; grp++) {
            float *xg = (float *)x + (n * g->c + grp * g->cg) * g->h * g->w;
            if (!g->identity) unfold_map(xg, u, g, true);
            for (int64_t ki = 0; ki < g->kh; ki++)
                cpu_sgemm_parallel(false, true, g->urows, g->og, g->l, 1.0f, (g->identity ? xg : u) + window_offset(g, ki),
                                   g->ucols, gyn + grp * g->og * g->l, g->l, first_writes && n == n_lo ? 0.0f : 1.0f,
                                   part + (grp * g->kh + ki) * g->urows * g->og, g->og);
        }
    }
}

/* weight_grad_own's samples [n_lo, n_hi) (one slot: at most 16) as one
 * block of lanes: their weight gradient written into part and, with
 * in_grad, their input gradient. */
static void lanes_weight_grad_range(float *part, const float *x, const float *gy, const PooledGrad *pooled,
                                    const InputGrad *in_grad, float *gy_block, ConvLanes *lanes,
                                    const ConvLanesPlan *plan, int64_t n_lo, int64_t n_hi, const ConvGeom *g)
{
    int nl = (int)(n_hi - n_lo);
    load_block_output_grad(lanes, gy, pooled, gy_block, n_lo, nl, g);
    conv_lanes_load_x(lanes, x + n_lo * g->c * g->h * g->w, nl, g);
    conv_lanes_weight_grad(part, plan, lanes, g);
    if (in_grad) conv_lanes_input_grad(in_grad->gx + n_lo * g->c * g->h * g->w, nl, &in_grad->plan, lanes, g);
}

/* out [O, C/g, kh, kw] = the sum of nparts partial sums (wsize floats
 * apart), in order; the row unfold's are in its transposed layout. */
static void weight_grad_gather(float *out, const float *partials, int64_t nparts, bool im2col, const ConvGeom *g)
{
    int64_t wsize = g->o * g->cg * g->kh * g->kw;
    if (im2col) { /* the same layout: a copy, then the others added in order */
        memcpy(out, partials, sizeof(float) * (size_t)wsize);
        for (int64_t t = 1; t < nparts; t++)
            for (int64_t i = 0; i < wsize; i++) out[i] += partials[t * wsize + i];
        return;
    }
    for (int64_t grp = 0; grp < g->groups; grp++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t r = 0; r < g->urows; r++)
                for (int64_t o = 0; o < g->og; o++) {
                    int64_t c = r / g->kw, kj = r % g->kw;
                    int64_t dst = (((grp * g->og + o) * g->cg + c) * g->kh + ki) * g->kw + kj;
                    int64_t src = ((grp * g->kh + ki) * g->urows + r) * g->og + o;
                    float sum = partials[src];
                    for (int64_t t = 1; t < nparts; t++) sum += partials[t * wsize + src];
                    out[dst] = sum;
                }
}

typedef struct {
    const ConvGeom *g;
    const float *px, *pg;
    const PooledGrad *pooled;
    const InputGrad *in_grad;
    const ConvLanesPlan *plan;
    float *partials;
    int64_t wsize, per_task, S; /* samples per task, and per im2col chunk */
    bool by_slot, im2col, lanes;
} WeightGrad;

/* Tasks [lo, hi) of the weight gradient on one thread (the thread-th). */
static void weight_grad_tasks(void *ctx, int thread, int64_t lo, int64_t hi)
{
    const WeightGrad *w = ctx;
    const ConvGeom *g = w->g;
    float *u = g->identity || w->lanes ? NULL : alloc_floats(g->urows * g->ucols);
    float *col = w->im2col ? alloc_floats(g->c * g->kh * g->kw * w->S * g->l) : NULL;
    float *gyc = w->im2col ? alloc_floats(g->o * w->S * g->l) : NULL;
    float *gy_scratch = !w->pooled || (w->lanes && pooled_into_lanes(w->pooled, g)) ? NULL
                        : alloc_floats((w->lanes ? CONV_LANES : 1) * g->o * g->l);
    ConvLanes lane_bufs = w->lanes ? conv_lanes_alloc(g, true, w->in_grad != NULL) : (ConvLanes){0};
    for (int64_t task = lo; task < hi; task++) {
        int64_t n_lo = task * w->per_task, n_hi = n_lo + w->per_task < g->n ? n_lo + w->per_task : g->n;
        float *part = w->partials + (w->by_slot ? task : thread) * w->wsize;
        if (w->im2col)
            im2col_weight_grad_range(part, w->by_slot ? 0.0f : 1.0f, w->px, w->pg, col, gyc, u, n_lo, n_hi, g);
        else if (w->lanes)
            lanes_weight_grad_range(part, w->px, w->pg, w->pooled, w->in_grad, gy_scratch, &lane_bufs, w->plan, n_lo,
                                    n_hi, g);
        else
            row_unfold_weight_grad_range(part, w->by_slot, w->px, w->pg, w->pooled, w->in_grad, gy_scratch, u, n_lo,
                                         n_hi, g);
    }
    free_floats(u);
    free_floats(col);
    free_floats(gyc);
    free_floats(gy_scratch);
    conv_lanes_free(&lane_bufs);
}

/* gw = the weight gradient of x convolved into g's output planes, whose
 * gradient is pg, or comes from pooled; with in_grad, the input gradient
 * in the same pass (by the row unfold or the lanes, not im2col chunks). */
static void weight_grad_own(Tensor *gw, const Tensor *x, const float *pg, const PooledGrad *pooled,
                            const InputGrad *in_grad, const ConvGeom *gp)
{
    const ConvGeom g = *gp;
    const float *px = tensor_f32(x);
    int64_t wsize = g.o * g.cg * g.kh * g.kw;
    bool im2col = use_im2col(&g);
    ENGINE_ASSERT(!((pooled || in_grad) && im2col));
    int64_t S = im2col ? chunk_samples(&g) : 1; /* samples per chunk */
    bool parallel = split_batch(&g);
    int max_threads = parallel ? omp_get_max_threads() : 1;
    int64_t slots = (g.n + WG_SLOT_SAMPLES - 1) / WG_SLOT_SAMPLES;
    bool by_slot = weight_grad_by_slot(&g), lanes = lanes_take(&g);
    if (!by_slot) slots = max_threads;
    if (slots < 1) slots = 1;
    float *partials = alloc_floats(wsize * slots);
    /* (a slot's first sample writes it whole) */
    if (!by_slot) memset(partials, 0, sizeof(float) * (size_t)(wsize * slots));
    ConvLanesPlan plan = lanes ? conv_lanes_plan(NULL, NULL, &g) : (ConvLanesPlan){0};
    /* by slot: slot i sums samples [i * 16, (i + 1) * 16) in order; else
     * thread t's partial sums the chunks the static schedule gives it */
    int64_t per_task = by_slot ? WG_SLOT_SAMPLES : S, tasks = (g.n + per_task - 1) / per_task;
    WeightGrad wg = {&g, px, pg, pooled, in_grad, &plan, partials, wsize, per_task, S, by_slot, im2col, lanes};
    int used_threads = cpu_for_ranges(tasks, parallel, max_threads, weight_grad_tasks, &wg);
    conv_lanes_plan_free(&plan);
    int64_t nparts = by_slot ? slots : used_threads;
    /* the slots' pairwise tree: partial i += partial i + step, for step 1,
     * 2, 4... (each element's order fixed; elements split over threads) */
    if (by_slot)
        for (int64_t step = 1; step < nparts; step *= 2)
            CPU_FOR_CLAUSES(schedule(static), i, wsize, parallel && wsize * (nparts / (2 * step)) > CPU_PARALLEL_GRAIN, {
                for (int64_t t = 0; t + step < nparts; t += 2 * step) partials[t * wsize + i] += partials[(t + step) * wsize + i];
            });
    weight_grad_gather(tensor_f32(gw), partials, by_slot ? 1 : nparts, im2col, &g);
    free_floats(partials);
}

void cpu_conv2d_weight_grad_own(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    ConvGeom g = conv_geom(x, gy, gw, p);
    weight_grad_own(gw, x, tensor_f32(gy), NULL, NULL, &g);
}

/* ---- Which kernels run: oneDNN's or ours ----
 *
 * oneDNN's direct convolutions beat our sgemms on layers with many channels
 * on both sides, reorders to and from its blocked layouts included
 * (bench_conv_ab, 2 threads: most passes of ResNet-18's 64-512 channel
 * layers 3-38% faster, a few, such as the 1x1 downsample's forward, slower;
 * the whole ResNet-18 step 4.6 -> 4.0 s); on few channels ours win, by 1.3-12x on MnistModel's
 * layers and ResNet's stem (oneDNN's input gradient of a 1-3 channel layer
 * is the worst), and a 32 -> 64 channel layer is a draw. */
static bool dnnl_pays(const Tensor *x, const Tensor *w, ConvParams p)
{
    enum { DNNL_MIN_CHANNELS = 64 };
    int64_t cg = x->shape.d[1] / p.groups, og = w->shape.d[0] / p.groups;
    return cg >= DNNL_MIN_CHANNELS && og >= DNNL_MIN_CHANNELS;
}

bool cpu_conv2d_lowp_native(const Tensor *x, const Tensor *w, ConvParams p, DType dt)
{
    return dt == DT_BF16 && x->shape.ndim == 4 && w->shape.ndim == 4 && p.groups > 0 && dnnl_pays(x, w, p) &&
           dnnl_bf16_matmul_native();
}

/* An f32 copy of t when it is bf16 (exact; freed with release_f32), else t:
 * our own kernels' operands when oneDNN refused a bf16 layer. */
static const Tensor *as_f32(const Tensor *t)
{
    if (!t || t->dtype == DT_F32) return t;
    Tensor *c = tensor_persist(tensor_empty(t->shape, DT_F32, tensor_device(t)));
    ENGINE_ASSERT(c != NULL);
    cpu_copy(c, t);
    return c;
}

static void release_f32(const Tensor *copy, const Tensor *original)
{
    if (copy != original) tensor_free((Tensor *)copy);
}

void cpu_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    if (dnnl_pays(x, w, p) && dnnl_conv2d(y, x, w, bias, p)) return;
    const Tensor *xf = as_f32(x), *wf = as_f32(w);
    cpu_conv2d_own(y, xf, wf, bias, p);
    release_f32(xf, x);
    release_f32(wf, w);
}

void cpu_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p)
{
    if (!bias && dnnl_pays(x, w, p) && dnnl_conv2d_transpose(x, y, w, p)) return;
    const Tensor *yf = as_f32(y), *wf = as_f32(w);
    cpu_conv2d_transpose_own(x, yf, wf, bias, p);
    release_f32(yf, y);
    release_f32(wf, w);
}

void cpu_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    if (dnnl_pays(x, gw, p) && dnnl_conv2d_weight_grad(gw, x, gy, p)) return;
    const Tensor *xf = as_f32(x), *gf = as_f32(gy);
    cpu_conv2d_weight_grad_own(gw, xf, gf, p);
    release_f32(xf, x);
    release_f32(gf, gy);
}

/* ---- conv2d fused with max_pool2d ----
 *
 * MnistModel's conv1 writes 1.47 MB of output planes per 64 samples, which
 * max_pool2d then reads back, and whose gradient the pooling's backward
 * writes again for the weight gradient and the bias sum to read: passes
 * over memory that cost more than their arithmetic, the more so on a machine
 * whose other jobs take the cache. Fused, a sample's output planes ([O][L]:
 * 23 KB for conv1) live in a buffer of the thread that makes them and are
 * pooled while in cache; the backward expands one sample's pooled gradient
 * into such a buffer for the weight gradient's and the input gradient's
 * sgemms (PooledGrad). Where the lanes take the layer (conv_lanes.c), a
 * block of 16 samples' planes is made and pooled in the lanes instead, and
 * the pooled gradient of 2 x 2 windows expands straight into them. Either
 * way the sums are the unfused kernels' in their order and the pooling
 * follows pool.c's rule, so the output, the codes and both gradients have
 * the same bits as conv2d then max_pool2d. */

bool cpu_conv2d_max_pool2d_fused(const Tensor *x, const Tensor *w, Shape y, ConvParams cp, PoolParams pp)
{
    if (x->dtype != DT_F32 || w->dtype != DT_F32 || (int64_t)pp.kernel[0] * pp.kernel[1] > 256) return false;
    if (dnnl_pays(x, w, cp)) return false; /* conv2d would run on oneDNN */
    ConvGeom g = conv_geom_of(x, y, w, cp);
    return direct_ok(&g) && !use_im2col(&g);
}

_Static_assert(DOB == CONV_LANES_BLOCK, "the lanes' forward reads the direct plan's blocks of output channels");

/* The fused conv2d + max_pool2d forward: the layer, its plan and the
 * pooling's operands. */
typedef struct {
    const ConvGeom *g;
    const DirectPlan *d;
    const ConvLanesPlan *plan; /* the lanes' only */
    const float *px;
    float *po;
    uint8_t *pc;
    int64_t ph, pw;
    PoolParams pp;
} ConvPool;

static void lanes_conv_pool_blocks(void *ctx, int part, int64_t blk_lo, int64_t blk_hi)
{
    (void)part;
    const ConvPool *c = ctx;
    const ConvGeom *g = c->g;
    int64_t pooled = g->o * c->ph * c->pw;
    ConvLanes lanes = conv_lanes_alloc(g, true, false);
    for (int64_t blk = blk_lo; blk < blk_hi; blk++) {
        int64_t n0 = blk * CONV_LANES, nl = g->n - n0 < CONV_LANES ? g->n - n0 : CONV_LANES;
        conv_lanes_load_x(&lanes, c->px + n0 * g->c * g->h * g->w, (int)nl, g);
        conv_lanes_forward(&lanes, c->d->wb, c->d->bb, c->plan, g);
        conv_lanes_max_pool_2x2(c->po + n0 * pooled, c->pc ? c->pc + n0 * pooled : NULL, c->ph, c->pw, (int)nl, &lanes,
                                g);
    }
    conv_lanes_free(&lanes);
}

static void direct_conv_pool_samples(void *ctx, int part, int64_t n_lo, int64_t n_hi)
{
    (void)part;
    const ConvPool *c = ctx;
    const ConvGeom *g = c->g;
    int64_t plane = c->ph * c->pw;
    float *u = alloc_direct_u(g), *yn = alloc_floats(g->o * g->l);
    for (int64_t n = n_lo; n < n_hi; n++) {
        direct_sample(c->d, g, c->px, n, u, yn);
        for (int64_t o = 0; o < g->o; o++) {
            int64_t at = (n * g->o + o) * plane;
            cpu_max_pool2d_plane(yn + o * g->l, g->oh, g->ow, c->ph, c->pw, c->pp, c->po + at, c->pc ? c->pc + at : NULL);
        }
    }
    free_floats(yn);
    free_floats(u);
}

void cpu_conv2d_max_pool2d(Tensor *out, Tensor *codes, const Tensor *x, const Tensor *w, const Tensor *bias, Shape y,
                           ConvParams cp, PoolParams pp)
{
    ConvGeom g = conv_geom_of(x, y, w, cp);
    ENGINE_ASSERT(direct_ok(&g) && tensor_is_contiguous(out));
    DirectPlan d = direct_plan(&g, tensor_f32(w), bias ? tensor_f32(bias) : NULL);
    ConvPool c = {&g, &d, NULL, tensor_f32(x), tensor_f32(out), codes ? tensor_u8(codes) : NULL,
                  out->shape.d[2], out->shape.d[3], pp};
    if (conv_lanes_ok(&g) && cpu_max_pool2d_is_2x2(pp, g.oh, g.ow, c.ph, c.pw)) {
        /* by blocks of 16 samples in the lanes: the direct forward's sums
         * in its order, so the same bits */
        ConvLanesPlan plan = conv_lanes_plan(NULL, NULL, &g);
        c.plan = &plan;
        int64_t blocks = (g.n + CONV_LANES - 1) / CONV_LANES;
        cpu_for_ranges(blocks, direct_parallel(&g), 0, lanes_conv_pool_blocks, &c);
        conv_lanes_plan_free(&plan);
    } else {
        cpu_for_ranges(g.n, direct_parallel(&g), 0, direct_conv_pool_samples, &c);
    }
    direct_plan_free(&d);
}

void cpu_conv2d_max_pool2d_backward(Tensor *gx, Tensor *gw, const Tensor *x, const Tensor *w, const Tensor *g,
                                    const Tensor *codes, Shape y, ConvParams cp, PoolParams pp)
{
    ConvGeom geom = conv_geom_of(x, y, w, cp);
    ENGINE_ASSERT(tensor_is_contiguous(g) && tensor_is_contiguous(codes) && codes->dtype == DT_U8);
    PooledGrad pooled = {tensor_f32(g), tensor_u8(codes), g->shape.d[2], g->shape.d[3], pp};
    if (!gw) { /* a frozen weight */
        if (gx) transpose_own(tensor_f32(gx), NULL, &pooled, tensor_f32(w), NULL, &geom);
        return;
    }
    InputGrad in_grad = gx ? input_grad_of(tensor_f32(gx), tensor_f32(w), &geom) : (InputGrad){0};
    weight_grad_own(gw, x, NULL, &pooled, gx ? &in_grad : NULL, &geom);
    input_grad_free(&in_grad);
}
