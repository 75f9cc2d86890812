/* CPU 2-D convolution: im2col / col2im plus sgemm per sample and group.
 *
 * For one sample and group, with L = OH * OW and R = C/groups * kh * kw:
 *   forward        y_g [O/g, L] = w_g [O/g, R] @ cols [R, L],  cols = im2col(x_g)
 *   transpose      cols = w_g^T @ y_g,                          x_g = col2im(cols)
 *   weight grad    gw_g [O/g, R] += gy_g [O/g, L] @ cols^T
 * A 1x1 kernel with stride 1 and no padding needs no im2col: cols is x_g.
 *
 * The sgemms of the networks this engine trains are small (MnistModel:
 * 10x25 @ 25x576 and 20x250 @ 250x64 per sample), so with a batch the
 * samples are split across OpenMP threads, each with its own column buffer
 * and single-threaded BLAS; a single sample lets BLAS use the threads. */
#include "engine/cpu/conv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/linalg.h"
#include "engine/cpu/strided.h"

typedef struct {
    int64_t n, c, h, w;      /* input side */
    int64_t o, oh, ow;       /* output side */
    int64_t kh, kw;
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t groups, cg, og;  /* groups and channels per group */
    int64_t rows, l;         /* im2col rows (cg * kh * kw) and columns (oh * ow) */
    bool pointwise;          /* 1x1, stride 1, no padding: im2col is the identity */
} ConvGeom;

static ConvGeom conv_geom(const Tensor *x, const Tensor *y, const Tensor *w, ConvParams p)
{
    ConvGeom g = {
        .n = x->shape.d[0], .c = x->shape.d[1], .h = x->shape.d[2], .w = x->shape.d[3],
        .o = y->shape.d[1], .oh = y->shape.d[2], .ow = y->shape.d[3],
        .kh = w->shape.d[2], .kw = w->shape.d[3],
        .sh = p.stride[0], .sw = p.stride[1], .ph = p.padding[0], .pw = p.padding[1],
        .dh = p.dilation[0], .dw = p.dilation[1], .groups = p.groups,
    };
    ENGINE_ASSERT(y->shape.d[0] == g.n && w->shape.d[0] == g.o && g.groups > 0 && g.c % g.groups == 0 &&
                  g.o % g.groups == 0 && w->shape.d[1] == g.c / g.groups);
    ENGINE_ASSERT(tensor_is_contiguous(x) && tensor_is_contiguous(y) && tensor_is_contiguous(w));
    g.cg = g.c / g.groups;
    g.og = g.o / g.groups;
    g.rows = g.cg * g.kh * g.kw;
    g.l = g.oh * g.ow;
    g.pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.oh == g.h &&
                  g.ow == g.w;
    return g;
}

/* The output columns o in [*lo, *hi) whose input position o * stride + offset
 * lies inside [0, size). */
static void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t n_out, int64_t *lo, int64_t *hi)
{
    int64_t a = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t b = size - offset > 0 ? (size - offset + stride - 1) / stride : 0;
    *lo = a < n_out ? a : n_out;
    *hi = b < n_out ? b : n_out;
    if (*hi < *lo) *hi = *lo;
}

/* Rows are short in small networks (OW = 8 in MnistModel's conv2), where a
 * libc call per row costs more than the copy: fixed-size blocks compile to a
 * few vector moves, and empty ranges make no call. */
static inline void copy_floats(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(dst + i, src + i, 8 * sizeof(float));
    for (; i < n; i++) dst[i] = src[i];
}

static inline void zero_floats(float *dst, int64_t n)
{
    if (n > 0) memset(dst, 0, sizeof(float) * (size_t)n);
}

/* rows x width floats between cols (rows back to back) and x (rows step
 * apart): copied into cols, or added back into x. */
static inline __attribute__((always_inline)) void interior_rows(float *restrict cols, float *restrict x, int64_t rows,
                                                                int64_t width, int64_t step, bool to_cols)
{
    for (int64_t i = 0; i < rows; i++, cols += width, x += step) {
        if (to_cols) memcpy(cols, x, sizeof(float) * (size_t)width);
        else for (int64_t o = 0; o < width; o++) x[o] += cols[o];
    }
}

/* The window rows that need no padding and no stride. Short widths get
 * copies specialised at compile time: a generic loop per row of 8 costs
 * several times the row itself (measured: im2col of MnistModel's conv2 went
 * from half of the forward pass to a small part). */
static void interior_block(float *cols, float *x, int64_t rows, int64_t width, int64_t step, bool to_cols)
{
    switch (width) {
#define WIDTH_CASE(k) \
    case k: interior_rows(cols, x, rows, k, step, to_cols); return;
        WIDTH_CASE(1) WIDTH_CASE(2) WIDTH_CASE(3) WIDTH_CASE(4) WIDTH_CASE(5) WIDTH_CASE(6) WIDTH_CASE(7)
        WIDTH_CASE(8) WIDTH_CASE(9) WIDTH_CASE(10) WIDTH_CASE(11) WIDTH_CASE(12) WIDTH_CASE(13) WIDTH_CASE(14)
        WIDTH_CASE(15) WIDTH_CASE(16)
#undef WIDTH_CASE
    default: interior_rows(cols, x, rows, width, step, to_cols);
    }
}

/* The one index mapping between a group's input planes and its column
 * matrix, in both directions: to_cols copies x into cols (zero where the
 * window reads padding); otherwise cols is added back into x (col2im).
 * Output row oh of kernel row ki reads input row oh * sh + ki * dh - ph,
 * output column ow of kernel column kj input column ow * sw + kj * dw - pw;
 * valid_range gives the outputs whose input lies inside the image. */
static void im2col_map(float *x, float *cols, const ConvGeom *g, bool to_cols)
{
    const int64_t ow = g->ow, sw = g->sw, plane = g->h * g->w;
    /* the valid ranges depend on the kernel offset only, not the channel:
     * computed once per offset (the divisions cost more than a short row) */
    for (int64_t ki = 0; ki < g->kh; ki++) {
        int64_t row_offset = ki * g->dh - g->ph, oh_lo, oh_hi;
        valid_range(row_offset, g->sh, g->h, g->oh, &oh_lo, &oh_hi);
        for (int64_t kj = 0; kj < g->kw; kj++) {
            int64_t col_offset = kj * g->dw - g->pw, lo, hi;
            valid_range(col_offset, sw, g->w, ow, &lo, &hi);
            for (int64_t c = 0; c < g->cg; c++) {
                float *xc = x + c * plane;
                float *row = cols + ((c * g->kh + ki) * g->kw + kj) * g->l;
                if (to_cols) { /* output rows whose window row is padding */
                    zero_floats(row, oh_lo * ow);
                    zero_floats(row + oh_hi * ow, (g->oh - oh_hi) * ow);
                }
                if (sw == 1 && lo == 0 && hi == ow) { /* the common case */
                    interior_block(row + oh_lo * ow, xc + (oh_lo * g->sh + row_offset) * g->w + col_offset,
                                   oh_hi - oh_lo, ow, g->sh * g->w, to_cols);
                    continue;
                }
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    float *r = row + oh * ow;
                    /* x index of output column 0 (read only for columns in [lo, hi)) */
                    int64_t base = (oh * g->sh + row_offset) * g->w + col_offset;
                    if (to_cols) {
                        zero_floats(r, lo);
                        if (sw == 1) copy_floats(r + lo, xc + base + lo, hi - lo);
                        else for (int64_t o = lo; o < hi; o++) r[o] = xc[base + o * sw];
                        zero_floats(r + hi, ow - hi);
                    } else if (sw == 1) {
                        for (int64_t o = lo; o < hi; o++) xc[base + o] += r[o];
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
    return g->n > 1 && omp_get_max_threads() > 1 && g->n * g->o * g->rows * g->l > CPU_PARALLEL_GRAIN;
}

static float *alloc_floats(int64_t n)
{
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    ENGINE_ASSERT(p != NULL);
    return p;
}

/* Sets each of the planes (of size plane) to its bias value, or to 0. */
static void fill_planes(float *dst, int64_t planes, int64_t plane, const float *bias)
{
    for (int64_t i = 0; i < planes; i++)
        for (int64_t j = 0; j < plane; j++) dst[i * plane + j] = bias ? bias[i] : 0.0f;
}

void cpu_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    ConvGeom g = conv_geom(x, y, w, p);
    const float *px = tensor_f32(x), *pw = tensor_f32(w), *pb = bias ? tensor_f32(bias) : NULL;
    float *py = tensor_f32(y);
    bool parallel = split_batch(&g);
    int blas_threads = parallel ? cpu_blas_serial_begin() : 0;
#pragma omp parallel if (parallel)
    {
        float *cols = g.pointwise ? NULL : alloc_floats(g.rows * g.l);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.n; n++) {
            float *yn = py + n * g.o * g.l;
            /* the bias is the product's starting value */
            if (pb) fill_planes(yn, g.o, g.l, pb);
            for (int64_t grp = 0; grp < g.groups; grp++) {
                float *xg = (float *)px + (n * g.c + grp * g.cg) * g.h * g.w;
                if (!g.pointwise) im2col_map(xg, cols, &g, true);
                cpu_sgemm(false, false, g.og, g.l, g.rows, 1.0f, pw + grp * g.og * g.rows, g.rows,
                          g.pointwise ? xg : cols, g.l, pb ? 1.0f : 0.0f, yn + grp * g.og * g.l, g.l);
            }
        }
        free(cols);
    }
    if (parallel) cpu_blas_serial_end(blas_threads);
}

void cpu_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p)
{
    ConvGeom g = conv_geom(x, y, w, p);
    const float *py = tensor_f32(y), *pw = tensor_f32(w), *pb = bias ? tensor_f32(bias) : NULL;
    float *px = tensor_f32(x);
    bool parallel = split_batch(&g);
    int blas_threads = parallel ? cpu_blas_serial_begin() : 0;
#pragma omp parallel if (parallel)
    {
        float *cols = g.pointwise ? NULL : alloc_floats(g.rows * g.l);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.n; n++) {
            float *xn = px + n * g.c * g.h * g.w;
            /* col2im accumulates; a pointwise product adds onto the bias */
            if (pb || !g.pointwise) fill_planes(xn, g.c, g.h * g.w, pb);
            for (int64_t grp = 0; grp < g.groups; grp++) {
                float *xg = xn + grp * g.cg * g.h * g.w;
                const float *yg = py + (n * g.o + grp * g.og) * g.l;
                float *dst = g.pointwise ? xg : cols;
                float beta = g.pointwise && pb ? 1.0f : 0.0f;
                cpu_sgemm(true, false, g.rows, g.l, g.og, 1.0f, pw + grp * g.og * g.rows, g.rows, yg, g.l, beta, dst,
                          g.l);
                if (!g.pointwise) im2col_map(xg, cols, &g, false);
            }
        }
        free(cols);
    }
    if (parallel) cpu_blas_serial_end(blas_threads);
}

void cpu_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    ConvGeom g = conv_geom(x, gy, gw, p);
    const float *px = tensor_f32(x), *pg = tensor_f32(gy);
    float *out = tensor_f32(gw);
    int64_t wsize = g.o * g.rows;
    bool parallel = split_batch(&g);
    int max_threads = parallel ? omp_get_max_threads() : 1;
    /* One partial sum per thread, added in thread order (deterministic).
     * Each group's partial is kept transposed, [R, O/g] += cols @ gy_g^T:
     * OpenBLAS runs that orientation about a quarter faster for these
     * shapes; the transpose back happens once, in the final sum. */
    float *partials = alloc_floats(wsize * max_threads);
    memset(partials, 0, sizeof(float) * (size_t)(wsize * max_threads));
    int used_threads = 1;
    int blas_threads = parallel ? cpu_blas_serial_begin() : 0;
#pragma omp parallel if (parallel) num_threads(max_threads)
    {
        float *cols = g.pointwise ? NULL : alloc_floats(g.rows * g.l);
        float *part = partials + omp_get_thread_num() * wsize;
#pragma omp single
        used_threads = omp_get_num_threads();
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.n; n++)
            for (int64_t grp = 0; grp < g.groups; grp++) {
                float *xg = (float *)px + (n * g.c + grp * g.cg) * g.h * g.w;
                if (!g.pointwise) im2col_map(xg, cols, &g, true);
                cpu_sgemm(false, true, g.rows, g.og, g.l, 1.0f, g.pointwise ? xg : cols, g.l,
                          pg + (n * g.o + grp * g.og) * g.l, g.l, 1.0f, part + grp * g.og * g.rows, g.og);
            }
        free(cols);
    }
    if (parallel) cpu_blas_serial_end(blas_threads);
    for (int64_t grp = 0; grp < g.groups; grp++)
        for (int64_t o = 0; o < g.og; o++)
            for (int64_t r = 0; r < g.rows; r++) {
                int64_t src = grp * g.og * g.rows + r * g.og + o;
                float sum = partials[src];
                for (int t = 1; t < used_threads; t++) sum += partials[t * wsize + src];
                out[(grp * g.og + o) * g.rows + r] = sum;
            }
    free(partials);
}
