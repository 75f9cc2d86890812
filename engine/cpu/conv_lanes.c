/* Convolution gradients with 16 samples side by side in the vector lanes.
 *
 * conv.c makes a layer's gradients with sgemms per sample. For layers with
 * few taps per output those are small (MnistModel's conv2: 50 x 20 x 64 per
 * kernel row, conv1: 5 x 10 x 576) and BLAS runs them at a fraction of its
 * speed, packing included. Here a block of up to 16 samples is transposed
 * so that lane s of every vector holds sample s: the input as
 * [C][H + 2ph][W + 2pw][16] (padding zero), the output gradient as
 * [O][OH * OW][16]. Every multiply-add of the convolution is then one FMA
 * over the 16 samples, with no packing and no sums across lanes inside the
 * loops:
 *   weight grad  gw[o][tap] += gy[o][p] * x[tap + p] over the positions p,
 *                in a register tile of 5 outputs x 5 taps; the 16 lanes
 *                are added once per block;
 *   input grad   gx[tap + p] += w[o][tap] * gy[o][p] over the outputs o,
 *                in a tile of 5 taps x 4 positions, then added into the
 *                input-shaped buffer, which a transpose brings back to the
 *                samples' layout.
 * Loops and tiles go by the layer's shape alone, so each sample's input
 * gradient has the same bits in any block, lane or thread, and a block's
 * weight gradient (conv.c's slot of 16 samples) is the same on any number
 * of threads. */
#include "engine/cpu/conv_lanes.h"

#include <stdlib.h>
#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/cpu/vec16.h"
#include "engine/error.h"

#define WO 5 /* weight grad: outputs per tile */
#define WT 5 /* weight grad: taps per tile */
#define IT 5 /* input grad: taps per tile */
#define IP 4 /* input grad: positions per tile */
#define FP 4 /* forward: positions per tile */
/* A thread's lane buffers up to which the kernels run: about a core's L2.
 * MnistModel's layers take under 0.5 MB and gain 1.2-9x (bench_conv_ab, 1
 * thread), the MNIST net's first 1.5 MB and gains 1.7-3x; larger ones,
 * such as ResNet's stem (4.4 MB), would stream from beyond L2 and have not
 * been measured, so they keep the sgemms. */
#define LANES_MAX_BYTES (2 << 20)

static int64_t padded_h(const ConvGeom *g) { return g->h + 2 * g->ph; }
static int64_t padded_w(const ConvGeom *g) { return g->w + 2 * g->pw; }
static int64_t x_lane_floats(const ConvGeom *g) { return g->c * padded_h(g) * padded_w(g) * CONV_LANES; }
static int64_t gy_lane_floats(const ConvGeom *g) { return g->o * g->l * CONV_LANES; }

bool conv_lanes_ok(const ConvGeom *g)
{
    /* (BW and VL too: with them pool.c's 2 x 2 backward is the one
     * conv_lanes_load_pooled_gy matches) */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    return (2 * x_lane_floats(g) + gy_lane_floats(g)) * (int64_t)sizeof(float) <= LANES_MAX_BYTES;
#else
    (void)g;
    return false;
#endif
}

ConvLanes conv_lanes_alloc(const ConvGeom *g, bool input, bool input_grad)
{
    ConvLanes b = {NULL, cpu_caching_alloc_floats(gy_lane_floats(g)), NULL};
    if (input) {
        b.x = cpu_caching_alloc_floats(x_lane_floats(g));
        memset(b.x, 0, sizeof(float) * (size_t)x_lane_floats(g)); /* the padding stays zero */
    }
    if (input_grad) b.gx = cpu_caching_alloc_floats(x_lane_floats(g));
    return b;
}

void conv_lanes_free(ConvLanes *b)
{
    cpu_caching_free(b->x);
    cpu_caching_free(b->gy);
    cpu_caching_free(b->gx);
}

/* ---- 16 x 16 transposes between samples and lanes ---- */

/* Rows r[0..15] become the columns: in stage s, each pair of rows i and
 * i + s (bit s of i clear) trades the s x s blocks where bit s of the row
 * and of the column differ, so after the four stages (r, c) is at (c, r). */
V16_INLINE void transpose16(v16 r[16])
{
#define STAGE(s)                                                    \
    for (int i = 0; i < 16; i++)                                    \
        if (!(i & (s))) {                                           \
            v16 a = r[i], b = r[i + (s)];                           \
            r[i] = __builtin_shufflevector(a, b, STAGE_LO_##s);     \
            r[i + (s)] = __builtin_shufflevector(a, b, STAGE_HI_##s); \
        }
#define STAGE_LO_8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define STAGE_HI_8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define STAGE_LO_4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define STAGE_HI_4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define STAGE_LO_2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define STAGE_HI_2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define STAGE_LO_1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define STAGE_HI_1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
    STAGE(8)
    STAGE(4)
    STAGE(2)
    STAGE(1)
#undef STAGE
#undef STAGE_LO_8
#undef STAGE_HI_8
#undef STAGE_LO_4
#undef STAGE_HI_4
#undef STAGE_LO_2
#undef STAGE_HI_2
#undef STAGE_LO_1
#undef STAGE_HI_1
}

/* The first n (<= 16) floats at p, zeros after them. */
V16_INLINE v16 load_part(const float *p, int n)
{
    if (n == 16) return load16(p);
    float t[16] = {0};
    memcpy(t, p, sizeof(float) * (size_t)n);
    return load16(t);
}

/* The first n (<= 16) floats of v to p. */
V16_INLINE void store_part(float *p, v16 v, int n)
{
    if (n == 16) {
        store16(p, v);
        return;
    }
    float t[16];
    store16(t, v);
    memcpy(p, t, sizeof(float) * (size_t)n);
}

/* Lanes 0..nl-1 of the vectors at lanes from nl runs of rows x width floats
 * (run s at src + s * stride): value (r, c) of run s goes to lane s of
 * vector r * pitch + c. Lanes from nl on are zero. */
static void to_lanes(float *lanes, int64_t pitch, const float *src, int64_t stride, int64_t rows, int64_t width, int nl)
{
    int64_t len = rows * width, row = 0, col = 0; /* of value q0 + j */
    for (int64_t q0 = 0; q0 < len; q0 += 16) {
        int cols = len - q0 < 16 ? (int)(len - q0) : 16;
        v16 r[16];
        for (int s = 0; s < 16; s++) r[s] = s < nl ? load_part(src + s * stride + q0, cols) : splat16(0.0f);
        transpose16(r);
        for (int j = 0; j < cols; j++) {
            store16(lanes + (row * pitch + col) * CONV_LANES, r[j]);
            if (++col == width) col = 0, row++;
        }
    }
}

/* The reverse of to_lanes for lanes 0..nl-1. */
static void from_lanes(float *dst, int64_t stride, const float *lanes, int64_t pitch, int64_t rows, int64_t width, int nl)
{
    int64_t len = rows * width, row = 0, col = 0; /* of value q0 + j */
    for (int64_t q0 = 0; q0 < len; q0 += 16) {
        int cols = len - q0 < 16 ? (int)(len - q0) : 16;
        v16 r[16];
        for (int j = 0; j < 16; j++) {
            r[j] = j < cols ? load16(lanes + (row * pitch + col) * CONV_LANES) : splat16(0.0f);
            if (j < cols && ++col == width) col = 0, row++;
        }
        transpose16(r);
        for (int s = 0; s < nl; s++) store_part(dst + s * stride + q0, r[s], cols);
    }
}

void conv_lanes_load_x(ConvLanes *b, const float *x, int nl, const ConvGeom *g)
{
    int64_t hp = padded_h(g), wp = padded_w(g);
    for (int64_t c = 0; c < g->c; c++)
        to_lanes(b->x + ((c * hp + g->ph) * wp + g->pw) * CONV_LANES, wp, x + c * g->h * g->w, g->c * g->h * g->w, g->h,
                 g->w, nl);
}

void conv_lanes_load_gy(ConvLanes *b, const float *gy, int nl, const ConvGeom *g)
{
    to_lanes(b->gy, g->l, gy, g->o * g->l, 1, g->o * g->l, nl);
}

typedef unsigned char vu8 __attribute__((vector_size(16)));

/* The first n (<= 16) bytes at p as 16 int32 lanes (zeros after them),
 * their bits in a float vector for transpose16. */
V16_INLINE v16 load_codes(const uint8_t *p, int n)
{
    vu8 bytes = {0};
    if (n == 16) memcpy(&bytes, p, 16);
    else memcpy(&bytes, p, (size_t)n);
    vi16 wide = __builtin_convertvector(bytes, vi16);
    v16 v;
    memcpy(&v, &wide, sizeof v);
    return v;
}

void conv_lanes_load_pooled_gy(ConvLanes *b, const float *g, const uint8_t *codes, int64_t ph, int64_t pw, int nl,
                               const ConvGeom *geom)
{
    int64_t per_sample = geom->o * ph * pw;
    if (2 * ph != geom->oh || 2 * pw != geom->ow) /* rows or columns no window covers */
        memset(b->gy, 0, sizeof(float) * (size_t)gy_lane_floats(geom));
    int64_t o = 0, i = 0, j = 0; /* of pooled value q0 + c */
    for (int64_t q0 = 0; q0 < per_sample; q0 += 16) {
        int cols = per_sample - q0 < 16 ? (int)(per_sample - q0) : 16;
        v16 gr[16], cr[16];
        for (int s = 0; s < 16; s++) {
            gr[s] = s < nl ? load_part(g + s * per_sample + q0, cols) : splat16(0.0f);
            cr[s] = s < nl ? load_codes(codes + s * per_sample + q0, cols) : splat16(0.0f);
        }
        transpose16(gr);
        transpose16(cr);
        for (int c = 0; c < cols; c++) {
            vi16 code, gbits;
            memcpy(&code, &cr[c], sizeof code);
            memcpy(&gbits, &gr[c], sizeof gbits);
            float *top = b->gy + ((o * geom->oh + 2 * i) * geom->ow + 2 * j) * CONV_LANES;
            float *bottom = top + geom->ow * CONV_LANES;
            /* the gradient in the cell its code names (row * 2 + column), +0 in the others */
            for (int cell = 0; cell < 4; cell++) {
                vi16 picked = gbits & (code == cell);
                v16 v;
                memcpy(&v, &picked, sizeof v);
                store16((cell < 2 ? top : bottom) + (cell & 1) * CONV_LANES, v);
            }
            if (++j == pw) {
                j = 0;
                if (++i == ph) i = 0, o++;
            }
        }
    }
}

/* ---- The forward, fused with a 2 x 2 max-pooling ---- */

/* nt (<= FP) positions from p (one output row) of CONV_LANES_BLOCK output
 * channels: bias, then every tap's product in tap order. */
static inline __attribute__((always_inline)) void forward_tile(float *yo, const float *xg, const float *wb,
                                                               const float *bb, const int64_t *xoff, int64_t k,
                                                               int64_t p, int64_t xpos, int ob, const ConvGeom *g,
                                                               const int nt)
{
    v16 acc[CONV_LANES_BLOCK][FP];
    for (int o = 0; o < CONV_LANES_BLOCK; o++)
        for (int q = 0; q < nt; q++) acc[o][q] = splat16(bb[o]);
    int64_t col = g->sw * CONV_LANES;
    const float *xp = xg + xpos;
    for (int64_t tap = 0; tap < k; tap++) {
        v16 xv[FP];
        for (int q = 0; q < nt; q++) xv[q] = load16(xp + xoff[tap] + q * col);
        const float *wt = wb + tap * CONV_LANES_BLOCK;
        for (int o = 0; o < CONV_LANES_BLOCK; o++) {
            v16 wv = splat16(wt[o]);
            for (int q = 0; q < nt; q++) acc[o][q] = fma16(wv, xv[q], acc[o][q]);
        }
    }
    int64_t plane = g->l * CONV_LANES;
    for (int o = 0; o < ob; o++)
        for (int q = 0; q < nt; q++) store16(yo + o * plane + (p + q) * CONV_LANES, acc[o][q]);
}

void conv_lanes_forward(ConvLanes *b, const float *wb, const float *bb, const ConvLanesPlan *p, const ConvGeom *g)
{
    int64_t k = g->cg * g->kh * g->kw, blocks = (g->og + CONV_LANES_BLOCK - 1) / CONV_LANES_BLOCK;
    int64_t wp = padded_w(g);
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *xg = b->x + grp * g->cg * padded_h(g) * wp * CONV_LANES;
        for (int64_t blk = 0; blk < blocks; blk++) {
            const float *wblk = wb + (grp * blocks + blk) * k * CONV_LANES_BLOCK;
            const float *bblk = bb + (grp * blocks + blk) * CONV_LANES_BLOCK;
            int64_t o0 = blk * CONV_LANES_BLOCK;
            int ob = g->og - o0 < CONV_LANES_BLOCK ? (int)(g->og - o0) : CONV_LANES_BLOCK;
            float *yo = b->gy + (grp * g->og + o0) * g->l * CONV_LANES;
            for (int64_t oh = 0; oh < g->oh; oh++)
                for (int64_t ow = 0; ow < g->ow; ow += FP) {
                    int64_t pos = oh * g->ow + ow, xpos = (oh * g->sh * wp + ow * g->sw) * CONV_LANES;
                    switch (g->ow - ow < FP ? g->ow - ow : FP) {
                    case 4: forward_tile(yo, xg, wblk, bblk, p->xoff, k, pos, xpos, ob, g, 4); break;
                    case 3: forward_tile(yo, xg, wblk, bblk, p->xoff, k, pos, xpos, ob, g, 3); break;
                    case 2: forward_tile(yo, xg, wblk, bblk, p->xoff, k, pos, xpos, ob, g, 2); break;
                    default: forward_tile(yo, xg, wblk, bblk, p->xoff, k, pos, xpos, ob, g, 1); break;
                    }
                }
        }
    }
}

/* Lanes where v takes over best as a window's maximum (pool.c's
 * takes_over): greater, or NaN. */
V16_INLINE vi16 takes_over(v16 v, v16 best) { return (v > best) | (v != v); }

V16_INLINE v16 blend(vi16 take, v16 a, v16 b) /* take ? b : a, lane by lane */
{
    vi16 ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    vi16 r = (ai & ~take) | (bi & take);
    v16 v;
    memcpy(&v, &r, sizeof v);
    return v;
}

void conv_lanes_max_pool_2x2(float *out, uint8_t *codes, int64_t ph, int64_t pw, int nl, const ConvLanes *b,
                             const ConvGeom *g)
{
    int64_t per_sample = g->o * ph * pw, o = 0, i = 0, j = 0; /* of pooled value q0 + c */
    for (int64_t q0 = 0; q0 < per_sample; q0 += 16) {
        int cols = per_sample - q0 < 16 ? (int)(per_sample - q0) : 16;
        v16 best[16], code[16];
        for (int c = 0; c < 16; c++) {
            if (c >= cols) {
                best[c] = code[c] = splat16(0.0f);
                continue;
            }
            const float *top = b->gy + ((o * g->oh + 2 * i) * g->ow + 2 * j) * CONV_LANES;
            const float *bottom = top + g->ow * CONV_LANES;
            /* left vs right in each row, then bottom vs top, as pool.c's max_pool_2x2 */
            v16 tl = load16(top), tr = load16(top + CONV_LANES), bl = load16(bottom), br = load16(bottom + CONV_LANES);
            vi16 top_right = takes_over(tr, tl), bottom_right = takes_over(br, bl);
            v16 t = blend(top_right, tl, tr), bt = blend(bottom_right, bl, br);
            vi16 below = takes_over(bt, t);
            best[c] = blend(below, t, bt);
            vi16 right = (below & bottom_right) | (~below & top_right);
            vi16 cv = (below & 2) | (right & 1);
            memcpy(&code[c], &cv, sizeof cv);
            if (++j == pw) {
                j = 0;
                if (++i == ph) i = 0, o++;
            }
        }
        transpose16(best);
        for (int s = 0; s < nl; s++) store_part(out + s * per_sample + q0, best[s], cols);
        if (!codes) continue;
        transpose16(code);
        for (int s = 0; s < nl; s++) {
            vi16 ci;
            memcpy(&ci, &code[s], sizeof ci);
            vu8 bytes = __builtin_convertvector(ci, vu8);
            if (cols == 16) memcpy(codes + s * per_sample + q0, &bytes, 16);
            else memcpy(codes + s * per_sample + q0, &bytes, (size_t)cols);
        }
    }
}

/* ---- The plan ---- */

ConvLanesPlan conv_lanes_plan(const float *w, const float *bias, const ConvGeom *g)
{
    int64_t k = g->cg * g->kh * g->kw, hp = padded_h(g), wp = padded_w(g), blocks = (k + IT - 1) / IT;
    ConvLanesPlan p = {malloc(sizeof(int64_t) * (size_t)k), malloc(sizeof(int64_t) * (size_t)k), NULL, bias};
    ENGINE_ASSERT(p.xoff != NULL && p.part != NULL);
    for (int64_t c = 0, t = 0; c < g->cg; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++, t++) {
                p.xoff[t] = ((c * hp + ki * g->dh) * wp + kj * g->dw) * CONV_LANES;
                p.part[t] = (ki * g->urows + c * g->kw + kj) * g->og;
            }
    if (w) {
        p.wt = calloc((size_t)(g->groups * blocks * g->og * IT), sizeof(float));
        ENGINE_ASSERT(p.wt != NULL);
        for (int64_t grp = 0; grp < g->groups; grp++)
            for (int64_t o = 0; o < g->og; o++)
                for (int64_t t = 0; t < k; t++)
                    p.wt[((grp * blocks + t / IT) * g->og + o) * IT + t % IT] = w[(grp * g->og + o) * k + t];
    }
    return p;
}

void conv_lanes_plan_free(ConvLanesPlan *p)
{
    free(p->xoff);
    free(p->part);
    free(p->wt);
}

/* ---- The weight gradient ---- */

/* The sum of v's lanes, in a fixed order. */
V16_INLINE float sum16(v16 v)
{
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    v += __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    return v[0];
}

/* sums[i][t] = the sum over positions and lanes of gyo[i] * x at xoff[t]:
 * WO outputs x WT taps of one group (xg: its first channel's lanes). */
static void weight_grad_tile(float sums[WO][WT], const float *const gyo[WO], const float *xg, const int64_t xoff[WT],
                             const ConvGeom *g)
{
    v16 acc[WO][WT];
    for (int i = 0; i < WO; i++)
        for (int t = 0; t < WT; t++) acc[i][t] = splat16(0.0f);
    int64_t row = g->sh * padded_w(g) * CONV_LANES, col = g->sw * CONV_LANES;
    for (int64_t oh = 0, p = 0; oh < g->oh; oh++) {
        const float *xr = xg + oh * row;
        for (int64_t ow = 0; ow < g->ow; ow++, p += CONV_LANES) {
            v16 gv[WO];
            for (int i = 0; i < WO; i++) gv[i] = load16(gyo[i] + p);
            const float *xp = xr + ow * col;
            for (int t = 0; t < WT; t++) {
                v16 xv = load16(xp + xoff[t]);
                for (int i = 0; i < WO; i++) acc[i][t] = fma16(gv[i], xv, acc[i][t]);
            }
        }
    }
    for (int i = 0; i < WO; i++)
        for (int t = 0; t < WT; t++) sums[i][t] = sum16(acc[i][t]);
}

void conv_lanes_weight_grad(float *part, const ConvLanesPlan *p, const ConvLanes *b, const ConvGeom *g)
{
    int64_t k = g->cg * g->kh * g->kw;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        float *part_g = part + grp * g->kh * g->urows * g->og;
        const float *xg = b->x + grp * g->cg * padded_h(g) * padded_w(g) * CONV_LANES;
        for (int64_t o0 = 0; o0 < g->og; o0 += WO) {
            /* a last partial tile repeats its last output and tap (dropped) */
            const float *gyo[WO];
            for (int i = 0; i < WO; i++)
                gyo[i] = b->gy + (grp * g->og + (o0 + i < g->og ? o0 + i : g->og - 1)) * g->l * CONV_LANES;
            for (int64_t t0 = 0; t0 < k; t0 += WT) {
                int64_t xoff[WT];
                for (int t = 0; t < WT; t++) xoff[t] = p->xoff[t0 + t < k ? t0 + t : k - 1];
                float sums[WO][WT];
                weight_grad_tile(sums, gyo, xg, xoff, g);
                for (int i = 0; i < WO && o0 + i < g->og; i++)
                    for (int t = 0; t < WT && t0 + t < k; t++) part_g[p->part[t0 + t] + o0 + i] = sums[i][t];
            }
        }
    }
}

/* ---- The input gradient ---- */

/* nt (<= IP) positions from p (one output row) of one group: the products
 * of the IT taps of wt ([O/g][IT]) with gy, added into gx at each tap's
 * offset (the first tb taps: the rest are padding). row_of_taps: the IT
 * taps are one kernel row, one input column apart, as are the positions. */
static inline __attribute__((always_inline)) void input_grad_tile(float *gxg, const float *gyg, const float *wt,
                                                                  const int64_t *xoff, int tb, int64_t p,
                                                                  int64_t xpos, const ConvGeom *g, bool row_of_taps,
                                                                  const int nt)
{
    v16 acc[IT][IP];
    for (int t = 0; t < IT; t++)
        for (int q = 0; q < nt; q++) acc[t][q] = splat16(0.0f);
    const float *gp = gyg + p * CONV_LANES;
    int64_t plane = g->l * CONV_LANES;
    for (int64_t o = 0; o < g->og; o++, gp += plane, wt += IT) {
        v16 gv[IP];
        for (int q = 0; q < nt; q++) gv[q] = load16(gp + q * CONV_LANES);
        for (int t = 0; t < IT; t++) {
            v16 wv = splat16(wt[t]);
            for (int q = 0; q < nt; q++) acc[t][q] = fma16(wv, gv[q], acc[t][q]);
        }
    }
    if (row_of_taps) {
        /* tap t at position q lands on vector t + q of one input row: the
         * products that meet there are added in registers first, so that
         * each vector is read and written once, not once per tap (a chain
         * of dependent loads and stores) */
        float *dst = gxg + xoff[0] + xpos;
        for (int m = 0; m < IT + nt - 1; m++) {
            v16 sum = load16(dst + m * CONV_LANES);
            for (int t = 0; t < IT; t++)
                if (m - t >= 0 && m - t < nt) sum += acc[t][m - t];
            store16(dst + m * CONV_LANES, sum);
        }
        return;
    }
    int64_t col = g->sw * CONV_LANES;
    for (int t = 0; t < tb; t++)
        for (int q = 0; q < nt; q++) {
            float *dst = gxg + xoff[t] + xpos + q * col;
            store16(dst, load16(dst) + acc[t][q]);
        }
}

void conv_lanes_input_grad(float *gx, int nl, const ConvLanesPlan *p, ConvLanes *b, const ConvGeom *g)
{
    int64_t hp = padded_h(g), wp = padded_w(g), k = g->cg * g->kh * g->kw, blocks = (k + IT - 1) / IT;
    bool rows = g->kw == IT && g->sw == 1 && g->dw == 1; /* every block of taps is one kernel row */
    memset(b->gx, 0, sizeof(float) * (size_t)x_lane_floats(g));
    if (p->bias)
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ih = 0; ih < g->h; ih++)
                for (int64_t iw = 0; iw < g->w; iw++)
                    store16(b->gx + ((c * hp + ih + g->ph) * wp + iw + g->pw) * CONV_LANES, splat16(p->bias[c]));
    for (int64_t grp = 0; grp < g->groups; grp++) {
        float *gxg = b->gx + grp * g->cg * hp * wp * CONV_LANES;
        const float *gyg = b->gy + grp * g->og * g->l * CONV_LANES;
        for (int64_t oh = 0; oh < g->oh; oh++)
            for (int64_t ow = 0; ow < g->ow; ow += IP) {
                int64_t pos = oh * g->ow + ow, xpos = (oh * g->sh * wp + ow * g->sw) * CONV_LANES;
                for (int64_t blk = 0; blk < blocks; blk++) {
                    const float *wt = p->wt + (grp * blocks + blk) * g->og * IT;
                    const int64_t *xoff = p->xoff + blk * IT;
                    int tb = k - blk * IT < IT ? (int)(k - blk * IT) : IT;
                    switch (g->ow - ow < IP ? g->ow - ow : IP) {
                    case 4: input_grad_tile(gxg, gyg, wt, xoff, tb, pos, xpos, g, rows, 4); break;
                    case 3: input_grad_tile(gxg, gyg, wt, xoff, tb, pos, xpos, g, rows, 3); break;
                    case 2: input_grad_tile(gxg, gyg, wt, xoff, tb, pos, xpos, g, rows, 2); break;
                    default: input_grad_tile(gxg, gyg, wt, xoff, tb, pos, xpos, g, rows, 1); break;
                    }
                }
            }
    }
    for (int64_t c = 0; c < g->c; c++)
        from_lanes(gx + c * g->h * g->w, g->c * g->h * g->w, b->gx + ((c * hp + g->ph) * wp + g->pw) * CONV_LANES, wp,
                   g->h, g->w, nl);
}
