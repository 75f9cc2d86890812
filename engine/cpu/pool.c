/* CPU 2-D pooling: max (with argmax indices), average and adaptive average.
 * Windows and divisors follow PyTorch's CPU kernels exactly, so results match
 * to rounding. Average and adaptive average share one kernel over
 * precomputed per-axis windows; max has an AVX-512 path for the common 2x2
 * stride-2 windows; backward passes own a whole plane per thread, so
 * overlapping windows never race. */
#include "engine/cpu/fork.h"
#include "engine/cpu/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/strided.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Windows along one axis: output position o reads [start[o], end[o]) and
 * contributes count[o] to the divisor (the padded extent when padding is
 * counted, else the clamped one). */
typedef struct {
    int64_t n;
    int64_t *start, *end, *count;
} AxisWindows;

static AxisWindows axis_alloc(int64_t n)
{
    AxisWindows a = {n, malloc(sizeof(int64_t) * (size_t)(3 * n + 1)), NULL, NULL};
    ENGINE_ASSERT(a.start != NULL);
    a.end = a.start + n;
    a.count = a.end + n;
    return a;
}

/* avg_pool2d: windows of k from o * stride - pad, cut at the padded border. */
static AxisWindows axis_avg(int64_t n_out, int64_t in, int k, int stride, int pad, bool count_include_pad)
{
    AxisWindows a = axis_alloc(n_out);
    for (int64_t o = 0; o < n_out; o++) {
        int64_t s = o * stride - pad;
        int64_t e = s + k < in + pad ? s + k : in + pad;
        int64_t padded = e - s;
        s = s > 0 ? s : 0;
        e = e < in ? e : in;
        a.start[o] = s;
        a.end[o] = e > s ? e : s;
        a.count[o] = count_include_pad ? padded : a.end[o] - s;
    }
    return a;
}

/* adaptive_avg_pool2d: [floor(o * in / n_out), ceil((o + 1) * in / n_out)),
 * written without overflow-prone products as PyTorch does. */
static AxisWindows axis_adaptive(int64_t n_out, int64_t in)
{
    AxisWindows a = axis_alloc(n_out);
    for (int64_t o = 0; o < n_out; o++) {
        a.start[o] = (o / n_out) * in + ((o % n_out) * in) / n_out;
        a.end[o] = 1 + ((o + 1) * in - 1) / n_out;
        a.count[o] = a.end[o] - a.start[o];
    }
    return a;
}

static void axis_free(AxisWindows *a) { free(a->start); }

static void window_average(Tensor *out, const Tensor *x, const AxisWindows *ah, const AxisWindows *aw)
{
    int64_t planes = x->shape.d[0] * x->shape.d[1], h = x->shape.d[2], w = x->shape.d[3];
    int64_t oh = ah->n, ow = aw->n;
    const float *px = tensor_f32(x);
    float *po = tensor_f32(out);
    CPU_FOR(pl, planes, planes * h * w > CPU_PARALLEL_GRAIN, {
        const float *xp = px + pl * h * w;
        float *op = po + pl * oh * ow;
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t divisor = ah->count[i] * aw->count[j];
                if (ah->end[i] <= ah->start[i] || aw->end[j] <= aw->start[j] || divisor == 0) {
                    op[i * ow + j] = 0.0f;
                    continue;
                }
                float sum = 0.0f; /* float, in PyTorch's order */
                for (int64_t r = ah->start[i]; r < ah->end[i]; r++)
                    for (int64_t c = aw->start[j]; c < aw->end[j]; c++) sum += xp[r * w + c];
                op[i * ow + j] = sum / (float)divisor;
            }
    });
}

static void window_average_backward(Tensor *gx, const Tensor *g, const AxisWindows *ah, const AxisWindows *aw)
{
    int64_t planes = gx->shape.d[0] * gx->shape.d[1], h = gx->shape.d[2], w = gx->shape.d[3];
    int64_t oh = ah->n, ow = aw->n;
    const float *pg = tensor_f32(g);
    float *pgx = tensor_f32(gx);
    CPU_FOR(pl, planes, planes * h * w > CPU_PARALLEL_GRAIN, {
        float *xp = pgx + pl * h * w;
        const float *gp = pg + pl * oh * ow;
        memset(xp, 0, sizeof(float) * (size_t)(h * w));
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t divisor = ah->count[i] * aw->count[j];
                if (divisor == 0) continue;
                float delta = gp[i * ow + j] / (float)divisor;
                for (int64_t r = ah->start[i]; r < ah->end[i]; r++)
                    for (int64_t c = aw->start[j]; c < aw->end[j]; c++) xp[r * w + c] += delta;
            }
    });
}

void cpu_avg_pool2d(Tensor *out, const Tensor *x, PoolParams p)
{
    AxisWindows ah = axis_avg(out->shape.d[2], x->shape.d[2], p.kernel[0], p.stride[0], p.padding[0],
                              p.count_include_pad);
    AxisWindows aw = axis_avg(out->shape.d[3], x->shape.d[3], p.kernel[1], p.stride[1], p.padding[1],
                              p.count_include_pad);
    window_average(out, x, &ah, &aw);
    axis_free(&ah);
    axis_free(&aw);
}

void cpu_avg_pool2d_backward(Tensor *gx, const Tensor *g, PoolParams p)
{
    AxisWindows ah = axis_avg(g->shape.d[2], gx->shape.d[2], p.kernel[0], p.stride[0], p.padding[0],
                              p.count_include_pad);
    AxisWindows aw = axis_avg(g->shape.d[3], gx->shape.d[3], p.kernel[1], p.stride[1], p.padding[1],
                              p.count_include_pad);
    window_average_backward(gx, g, &ah, &aw);
    axis_free(&ah);
    axis_free(&aw);
}

void cpu_adaptive_avg_pool2d(Tensor *out, const Tensor *x)
{
    AxisWindows ah = axis_adaptive(out->shape.d[2], x->shape.d[2]);
    AxisWindows aw = axis_adaptive(out->shape.d[3], x->shape.d[3]);
    window_average(out, x, &ah, &aw);
    axis_free(&ah);
    axis_free(&aw);
}

void cpu_adaptive_avg_pool2d_backward(Tensor *gx, const Tensor *g)
{
    AxisWindows ah = axis_adaptive(g->shape.d[2], gx->shape.d[2]);
    AxisWindows aw = axis_adaptive(g->shape.d[3], gx->shape.d[3]);
    window_average_backward(gx, g, &ah, &aw);
    axis_free(&ah);
    axis_free(&aw);
}

/* ---- max ----
 * The indices a forward records for its backward are u8 window codes (the
 * maximum's row * kw + column inside its window; windows of at most 256
 * cells) or i64 plane indices (row * W + column, as PyTorch's), whichever
 * dtype the op allocated (ops_pool.c asks for codes: 1/8 of the memory and
 * of the traffic). */

/* best/best_val become (idx, v) when v is larger or NaN (NaN wins, as in
 * PyTorch). Bit selects, not branches: on real data "is this the new max"
 * is a coin flip the branch predictor keeps losing, and GCC turns ?: back
 * into branches here. */
static inline void max_select(float v, int64_t idx, float *best_val, int64_t *best)
{
    int64_t take = -(int64_t)((v > *best_val) | (v != v));
    union {
        float f;
        int32_t i;
    } bv = {*best_val}, nv = {v};
    bv.i = (int32_t)((bv.i & ~take) | (nv.i & take));
    *best_val = bv.f;
    *best = (*best & ~take) | (idx & take);
}

/* Where each output's indices go: one of codes and plane (or neither, when
 * no backward needs them). */
typedef struct {
    uint8_t *codes;
    int64_t *plane;
} MaxIndices;

static MaxIndices max_indices_of(const Tensor *indices)
{
    if (!indices) return (MaxIndices){NULL, NULL};
    return indices->dtype == DT_U8 ? (MaxIndices){tensor_u8(indices), NULL} : (MaxIndices){NULL, tensor_i64(indices)};
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define POOL_AVX512 1
/* "v wins over best": larger, or NaN (the later NaN wins, as in PyTorch). */
static inline __mmask16 takes_over(__m512 v, __m512 best)
{
    return _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

/* Masks of a row's chunk of n <= 16 windows: the outputs, and the first
 * and next 16 of its 2n inputs. */
static inline void chunk_masks(unsigned n, __mmask16 *outs, __mmask16 *first16, __mmask16 *next16)
{
    *outs = (__mmask16)((1u << n) - 1);
    *first16 = (__mmask16)(2 * n >= 16 ? 0xffffu : (1u << (2 * n)) - 1);
    *next16 = (__mmask16)(2 * n <= 16 ? 0u : (1u << (2 * n - 16)) - 1);
}

/* Planes 8 wide (MnistModel's conv2, 8x8): a row of 4 windows fills a
 * quarter of a vector, so 4 rows of windows (8 input rows, 4 vectors) go
 * into one, window (i, j) in lane 4i + j. Vector v_i holds input rows 2i
 * and 2i + 1; one permute sorts it into its windows' 128-bit blocks
 * [top-left | top-right | bottom-left | bottom-right], and a transpose of
 * the 4 x 4 blocks gathers each corner of all 16 windows in one vector. The
 * transpose is its own inverse: the backward scatters with it. */
static const int32_t corners_of_row_pair[16] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};
static const int32_t row_pair_of_corners[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};

static inline void transpose_blocks(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 *b)
{
    __m512 t0 = _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)), t1 = _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2));
    __m512 t2 = _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)), t3 = _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2));
    b[0] = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
    b[1] = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
    b[2] = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    b[3] = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

/* 16 windows of 4 rows of an 8-wide plane: x8 the first of their 8 input
 * rows, po and codes (or NULL) their 16 outputs. The same comparisons as
 * max_pool_2x2 below. */
static void max_pool_2x2_w8(const float *x8, float *po, uint8_t *codes)
{
    const __m512i sort = _mm512_loadu_si512(corners_of_row_pair);
    __m512 c[4]; /* top-left, top-right, bottom-left, bottom-right */
    transpose_blocks(_mm512_permutexvar_ps(sort, _mm512_loadu_ps(x8)), _mm512_permutexvar_ps(sort, _mm512_loadu_ps(x8 + 16)),
                     _mm512_permutexvar_ps(sort, _mm512_loadu_ps(x8 + 32)),
                     _mm512_permutexvar_ps(sort, _mm512_loadu_ps(x8 + 48)), c);
    __mmask16 top_right = takes_over(c[1], c[0]), bottom_right = takes_over(c[3], c[2]);
    __m512 top = _mm512_mask_blend_ps(top_right, c[0], c[1]), bottom = _mm512_mask_blend_ps(bottom_right, c[2], c[3]);
    __mmask16 below = takes_over(bottom, top);
    _mm512_storeu_ps(po, _mm512_mask_blend_ps(below, top, bottom));
    if (!codes) return;
    __mmask16 right = (__mmask16)((below & bottom_right) | (~below & top_right));
    __m512i row = _mm512_maskz_mov_epi32(below, _mm512_set1_epi32(2));
    _mm_storeu_si128((__m128i *)codes, _mm512_cvtepi32_epi8(_mm512_mask_add_epi32(row, right, row, _mm512_set1_epi32(1))));
}

/* Its backward: each window's gradient to the corner its code names, 0 to
 * the other three, the 8 input rows written whole. */
static void max_pool_2x2_w8_backward(float *gx8, const float *gp, const uint8_t *codes)
{
    const __m512i unsort = _mm512_loadu_si512(row_pair_of_corners);
    __m512 gv = _mm512_loadu_ps(gp);
    __m128i code = _mm_loadu_si128((const __m128i *)codes);
    __mmask16 below = _mm_test_epi8_mask(code, _mm_set1_epi8(2)), right = _mm_test_epi8_mask(code, _mm_set1_epi8(1));
    __m512 e[4];
    transpose_blocks(_mm512_maskz_mov_ps((__mmask16)(~below & ~right), gv), _mm512_maskz_mov_ps((__mmask16)(~below & right), gv),
                     _mm512_maskz_mov_ps((__mmask16)(below & ~right), gv), _mm512_maskz_mov_ps((__mmask16)(below & right), gv), e);
    for (int i = 0; i < 4; i++) _mm512_storeu_ps(gx8 + 16 * i, _mm512_permutexvar_ps(unsort, e[i]));
}

/* 2x2 stride 2 with AVX-512, 16 outputs of a row at a time (masked at the
 * row's end, so rows as short as 4 outputs stay vectorised). Each window is
 * settled as (top-left vs top-right), (bottom-left vs bottom-right), then
 * bottom vs top, the later one taken only when it wins: the same answer,
 * ties and NaNs included, as PyTorch's row-major scan. The scalar version
 * runs 4 selects in one dependency chain per output: 4x slower on
 * MnistModel's 24x24 and 8x8 planes (the version below the #else). codes:
 * 2 * (bottom row) + (right column), or NULL. */
static void max_pool_2x2(const float *xp, int64_t w, int64_t oh, int64_t ow, float *po, uint8_t *codes)
{
    int64_t i0 = 0;
    if (w == 8 && ow == 4)
        for (; i0 + 4 <= oh; i0 += 4) max_pool_2x2_w8(xp + 2 * i0 * w, po + i0 * ow, codes ? codes + i0 * ow : NULL);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
    for (int64_t i = i0; i < oh; i++) {
        const float *r0 = xp + 2 * i * w, *r1 = r0 + w;
        for (int64_t j = 0; j < ow; j += 16) {
            __mmask16 outs, first16, next16;
            chunk_masks((unsigned)(ow - j < 16 ? ow - j : 16), &outs, &first16, &next16);
            __m512 t0 = _mm512_maskz_loadu_ps(first16, r0 + 2 * j), t1 = _mm512_maskz_loadu_ps(next16, r0 + 2 * j + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(first16, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(next16, r1 + 2 * j + 16);
            __m512 tl = _mm512_permutex2var_ps(t0, even, t1), tr = _mm512_permutex2var_ps(t0, odd, t1);
            __m512 bl = _mm512_permutex2var_ps(b0, even, b1), br = _mm512_permutex2var_ps(b0, odd, b1);
            __mmask16 top_right = takes_over(tr, tl), bottom_right = takes_over(br, bl);
            __m512 top = _mm512_mask_blend_ps(top_right, tl, tr), bottom = _mm512_mask_blend_ps(bottom_right, bl, br);
            __mmask16 below = takes_over(bottom, top);
            _mm512_mask_storeu_ps(po + i * ow + j, outs, _mm512_mask_blend_ps(below, top, bottom));
            if (!codes) continue;
            __mmask16 right = (__mmask16)((below & bottom_right) | (~below & top_right));
            __m512i row = _mm512_maskz_mov_epi32(below, two);
            __m512i code = _mm512_mask_add_epi32(row, right, row, one);
            _mm_mask_storeu_epi8(codes + i * ow + j, outs, _mm512_cvtepi32_epi8(code));
        }
    }
}
#else
/* The common 2x2, stride 2, no padding case, with the window unrolled:
 * the scalar version (for CPUs without AVX-512). */
static void max_pool_2x2(const float *xp, int64_t w, int64_t oh, int64_t ow, float *po, uint8_t *codes)
{
    for (int64_t i = 0; i < oh; i++) {
        const float *r0 = xp + 2 * i * w, *r1 = r0 + w;
        for (int64_t j = 0; j < ow; j++) {
            float best_val = r0[2 * j];
            int64_t best = 0;
            max_select(r0[2 * j + 1], 1, &best_val, &best);
            max_select(r1[2 * j], 2, &best_val, &best);
            max_select(r1[2 * j + 1], 3, &best_val, &best);
            po[i * ow + j] = best_val;
            if (codes) codes[i * ow + j] = (uint8_t)best;
        }
    }
}
#endif

/* Any window: the maximum of each, with its code or plane index. */
static void max_pool_windows(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, PoolParams p, float *po,
                             MaxIndices ix)
{
    for (int64_t i = 0; i < oh; i++) {
        int64_t rs = i * p.stride[0] - p.padding[0]; /* the window's first row, padding included */
        int64_t r1 = rs + p.kernel[0] < h ? rs + p.kernel[0] : h, r0 = rs > 0 ? rs : 0;
        for (int64_t j = 0; j < ow; j++) {
            int64_t cs = j * p.stride[1] - p.padding[1];
            int64_t c1 = cs + p.kernel[1] < w ? cs + p.kernel[1] : w, c0 = cs > 0 ? cs : 0;
            int64_t best = r0 * w + c0;
            float best_val = -INFINITY;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) max_select(xp[r * w + c], r * w + c, &best_val, &best);
            po[i * ow + j] = best_val;
            if (ix.codes) ix.codes[i * ow + j] = (uint8_t)((best / w - rs) * p.kernel[1] + best % w - cs);
            else if (ix.plane) ix.plane[i * ow + j] = best;
        }
    }
}

bool cpu_max_pool2d_is_2x2(PoolParams p, int64_t h, int64_t w, int64_t oh, int64_t ow)
{
    return p.kernel[0] == 2 && p.kernel[1] == 2 && p.stride[0] == 2 && p.stride[1] == 2 && p.padding[0] == 0 &&
           p.padding[1] == 0 && 2 * oh <= h && 2 * ow <= w;
}

void cpu_max_pool2d_plane(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, PoolParams p, float *po,
                          uint8_t *codes)
{
    if (cpu_max_pool2d_is_2x2(p, h, w, oh, ow)) max_pool_2x2(xp, w, oh, ow, po, codes);
    else max_pool_windows(xp, h, w, oh, ow, p, po, (MaxIndices){codes, NULL});
}

void cpu_max_pool2d(Tensor *out, Tensor *indices, const Tensor *x, PoolParams p)
{
    int64_t planes = x->shape.d[0] * x->shape.d[1], h = x->shape.d[2], w = x->shape.d[3];
    int64_t oh = out->shape.d[2], ow = out->shape.d[3], ohw = oh * ow;
    const float *px = tensor_f32(x);
    float *po = tensor_f32(out);
    MaxIndices ix = max_indices_of(indices);
    CPU_FOR(pl, planes, planes * h * w > CPU_PARALLEL_GRAIN, {
        const float *xp = px + pl * h * w;
        if (ix.plane) max_pool_windows(xp, h, w, oh, ow, p, po + pl * ohw, (MaxIndices){NULL, ix.plane + pl * ohw});
        else cpu_max_pool2d_plane(xp, h, w, oh, ow, p, po + pl * ohw, ix.codes ? ix.codes + pl * ohw : NULL);
    });
}

#ifdef POOL_AVX512
/* 2x2 stride 2 windows never overlap: each window's 4 cells of gx are
 * written once, g where the code points and 0 elsewhere, 16 windows of a
 * row at a time, so gx needs no zeroing pass first; only the row and column
 * that no window covers (odd sizes) are zeroed. */
static void max_pool_2x2_backward(float *gxp, int64_t h, int64_t w, const float *gp, const uint8_t *codes, int64_t oh,
                                  int64_t ow)
{
    /* lanes 0-7 and 8-15 of two vectors, alternately: (l0, r0, l1, r1, ...) */
    const __m512i first_pairs = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i next_pairs = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int64_t i0 = 0;
    if (w == 8 && ow == 4)
        for (; i0 + 4 <= oh; i0 += 4) max_pool_2x2_w8_backward(gxp + 2 * i0 * w, gp + i0 * ow, codes + i0 * ow);
    for (int64_t i = i0; i < oh; i++) {
        float *r0 = gxp + 2 * i * w, *r1 = r0 + w;
        for (int64_t j = 0; j < ow; j += 16) {
            __mmask16 outs, first16, next16;
            chunk_masks((unsigned)(ow - j < 16 ? ow - j : 16), &outs, &first16, &next16);
            __m512 gv = _mm512_maskz_loadu_ps(outs, gp + i * ow + j);
            __m128i code = _mm_maskz_loadu_epi8(outs, codes + i * ow + j);
            __mmask16 below = _mm_test_epi8_mask(code, _mm_set1_epi8(2));
            __mmask16 right = _mm_test_epi8_mask(code, _mm_set1_epi8(1));
            __m512 tl = _mm512_maskz_mov_ps((__mmask16)(~below & ~right), gv);
            __m512 tr = _mm512_maskz_mov_ps((__mmask16)(~below & right), gv);
            __m512 bl = _mm512_maskz_mov_ps((__mmask16)(below & ~right), gv);
            __m512 br = _mm512_maskz_mov_ps((__mmask16)(below & right), gv);
            _mm512_mask_storeu_ps(r0 + 2 * j, first16, _mm512_permutex2var_ps(tl, first_pairs, tr));
            _mm512_mask_storeu_ps(r0 + 2 * j + 16, next16, _mm512_permutex2var_ps(tl, next_pairs, tr));
            _mm512_mask_storeu_ps(r1 + 2 * j, first16, _mm512_permutex2var_ps(bl, first_pairs, br));
            _mm512_mask_storeu_ps(r1 + 2 * j + 16, next16, _mm512_permutex2var_ps(bl, next_pairs, br));
        }
        if (w > 2 * ow) {
            memset(r0 + 2 * ow, 0, sizeof(float) * (size_t)(w - 2 * ow));
            memset(r1 + 2 * ow, 0, sizeof(float) * (size_t)(w - 2 * ow));
        }
    }
    if (h > 2 * oh) memset(gxp + 2 * oh * w, 0, sizeof(float) * (size_t)((h - 2 * oh) * w));
}
#endif

/* Any window: gx = 0, then each output's gradient added where its index
 * points, in output order. */
static void max_pool_windows_backward(float *gxp, int64_t h, int64_t w, const float *gp, MaxIndices ix, int64_t oh,
                                      int64_t ow, PoolParams p)
{
    memset(gxp, 0, sizeof(float) * (size_t)(h * w));
    for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
            int64_t k = i * ow + j, at;
            if (ix.codes) {
                int code = ix.codes[k];
                at = (i * p.stride[0] - p.padding[0] + code / p.kernel[1]) * w + j * p.stride[1] - p.padding[1] +
                     code % p.kernel[1];
            } else {
                at = ix.plane[k];
            }
            gxp[at] += gp[k];
        }
}

void cpu_max_pool2d_plane_backward(float *gxp, int64_t h, int64_t w, const float *gp, const uint8_t *codes, int64_t oh,
                                   int64_t ow, PoolParams p)
{
#ifdef POOL_AVX512
    if (cpu_max_pool2d_is_2x2(p, h, w, oh, ow)) {
        max_pool_2x2_backward(gxp, h, w, gp, codes, oh, ow);
        return;
    }
#endif
    max_pool_windows_backward(gxp, h, w, gp, (MaxIndices){(uint8_t *)codes, NULL}, oh, ow, p);
}

void cpu_max_pool2d_backward(Tensor *gx, const Tensor *g, const Tensor *indices, PoolParams p)
{
    int64_t planes = gx->shape.d[0] * gx->shape.d[1], h = gx->shape.d[2], w = gx->shape.d[3], hw = h * w;
    int64_t oh = g->shape.d[2], ow = g->shape.d[3], ohw = oh * ow;
    const float *pg = tensor_f32(g);
    MaxIndices ix = max_indices_of(indices);
    float *pgx = tensor_f32(gx);
    CPU_FOR(pl, planes, planes * hw > CPU_PARALLEL_GRAIN, {
        if (ix.plane)
            max_pool_windows_backward(pgx + pl * hw, h, w, pg + pl * ohw, (MaxIndices){NULL, ix.plane + pl * ohw}, oh,
                                      ow, p);
        else cpu_max_pool2d_plane_backward(pgx + pl * hw, h, w, pg + pl * ohw, ix.codes + pl * ohw, oh, ow, p);
    });
}
