/* Resize, CenterCrop, RandomCrop and the random flips, as torchvision's
 * tensor versions compute them. Resize is PyTorch's bilinear interpolation
 * (F.interpolate, align_corners=False), with antialias by default as PIL and
 * torchvision >= 0.17 do (torchvision 0.14's tensor default is without: set
 * "antialias": false for it), or nearest. */
#include "data_loader/transform_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes a transform may ask for: large enough for any real image, small
 * enough that c * h * w floats never overflow a size computation. */
enum { MAX_SIDE = 1 << 15 };

static int check_size(const Transform *t, ImageSize s)
{
    if (s.h < 1 || s.w < 1 || s.h > MAX_SIDE || s.w > MAX_SIDE)
        return transform_fail(t, "the image would be %dx%d: sides go from 1 to %d", s.h, s.w, MAX_SIDE);
    return 0;
}

/* "size": an int, [size] or [h, w], read into (h, w); single: only one side given. */
static int read_size(Transform *t, const Config *cfg, const char *args_path, int64_t hw[2], bool *single,
                     bool required)
{
    int n;
    if (targ_ints(t, cfg, args_path, "size", hw, 2, &n, 1, MAX_SIDE, "an int or [h, w]")) return -1;
    if (n == 0 && required) return transform_fail(t, "needs a size (an int or [h, w])");
    *single = n == 1;
    if (n == 1) hw[1] = hw[0];
    return 0;
}

/* ---------------- Resize ---------------- */

enum { INTERP_BILINEAR, INTERP_NEAREST };
static const char *const interpolations[] = {"bilinear", "nearest", NULL};

typedef struct {
    int64_t size[2];
    bool smaller_edge; /* size is the smaller edge's */
    int64_t max_size;  /* 0: none */
    int interpolation;
    bool antialias;
} ResizeParams;

static int resize_size(const Transform *t, ImageSize in, ImageSize *out)
{
    const ResizeParams *p = t->params;
    *out = in;
    if (!p->smaller_edge) {
        out->h = (int)p->size[0];
        out->w = (int)p->size[1];
        return check_size(t, *out);
    }
    /* torchvision's _compute_resized_output_size */
    int64_t shorter = in.w <= in.h ? in.w : in.h, longer = in.w <= in.h ? in.h : in.w;
    int64_t new_short = p->size[0], new_long = (int64_t)((double)new_short * (double)longer / (double)shorter);
    if (p->max_size && new_long > p->max_size) {
        new_short = (int64_t)((double)p->max_size * (double)new_short / (double)new_long);
        new_long = p->max_size;
    }
    if (new_long > MAX_SIDE || new_short < 1)
        return transform_fail(t, "a %dx%d image would become %lldx%lld: sides go from 1 to %d", in.h, in.w,
                              (long long)(in.w <= in.h ? new_long : new_short),
                              (long long)(in.w <= in.h ? new_short : new_long), MAX_SIDE);
    out->w = (int)(in.w <= in.h ? new_short : new_long);
    out->h = (int)(in.w <= in.h ? new_long : new_short);
    return 0;
}

/* PyTorch's antialiased weights for one output index (_compute_weights_aa),
 * with its float and double roundings. */
static int aa_weights(int64_t i, int64_t in_size, float scale, float support, float *w, int64_t *xmin)
{
    float center = (float)((double)scale * ((double)i + 0.5));
    float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
    int64_t lo = (int64_t)((double)(center - support) + 0.5);
    if (lo < 0) lo = 0;
    int64_t hi = (int64_t)((double)(center + support) + 0.5);
    if (hi > in_size) hi = in_size;
    int n = (int)(hi - lo);
    float total = 0.0f;
    for (int j = 0; j < n; j++) {
        float x = (float)(((double)((float)(j + lo) - center) + 0.5) * (double)invscale);
        if (x < 0.0f) x = -x;
        w[j] = x < 1.0f ? 1.0f - x : 0.0f;
        total += w[j];
    }
    if (total != 0.0f)
        for (int j = 0; j < n; j++) w[j] /= total;
    *xmin = lo;
    return n;
}

/* One antialiased pass along a dim: n_lines lines of in_size values, each
 * `stride` apart within a line, lines `line_step` apart; out likewise. */
static void aa_pass(const float *in, float *out, int64_t in_size, int64_t out_size, int64_t n_lines,
                    int64_t in_stride, int64_t out_stride, int64_t in_line, int64_t out_line)
{
    float scale = (float)in_size / (float)out_size;
    float support = scale >= 1.0f ? scale : 1.0f; /* interp_size / 2 * scale, bilinear: interp_size = 2 */
    float *w = malloc(sizeof(float) * (size_t)(2 * (int64_t)ceilf(support) + 3));
    ENGINE_ASSERT(w != NULL);
    for (int64_t i = 0; i < out_size; i++) {
        int64_t xmin;
        int n = aa_weights(i, in_size, scale, support, w, &xmin);
        for (int64_t l = 0; l < n_lines; l++) {
            const float *src = in + l * in_line + xmin * in_stride;
            float acc = src[0] * w[0];
            for (int j = 1; j < n; j++) acc += src[j * in_stride] * w[j];
            out[l * out_line + i * out_stride] = acc;
        }
    }
    free(w);
}

/* Antialiased bilinear: the width first, then the height, each only when it changes. */
static void resize_aa(const Image *in, Image *out)
{
    const float *src = in->data;
    float *tmp = NULL;
    int c = in->c;
    if (out->w != in->w) {
        bool last = out->h == in->h;
        tmp = last ? NULL : malloc(sizeof(float) * (size_t)c * (size_t)in->h * (size_t)out->w);
        float *dst = last ? out->data : tmp;
        ENGINE_ASSERT(dst != NULL);
        aa_pass(src, dst, in->w, out->w, (int64_t)c * in->h, 1, 1, in->w, out->w);
        src = dst;
    }
    if (out->h != in->h) {
        for (int k = 0; k < c; k++)
            aa_pass(src + (size_t)k * (size_t)in->h * (size_t)out->w, out->data + (size_t)k * (size_t)out->h * (size_t)out->w,
                    in->h, out->h, out->w, out->w, out->w, 1, 1);
    }
    free(tmp);
}

/* PyTorch's linear source index and weight (align_corners=False). */
static void linear_index(int64_t i, int64_t in_size, float scale, int64_t *i0, int64_t *i1, float *l0, float *l1)
{
    float real = (float)((double)scale * ((double)i + 0.5) - 0.5);
    if (real < 0.0f) real = 0.0f;
    *i0 = (int64_t)real;
    *i1 = *i0 + (*i0 < in_size - 1 ? 1 : 0);
    float lambda = real - (float)*i0;
    if (lambda > 1.0f) lambda = 1.0f;
    *l1 = lambda;
    *l0 = 1.0f - lambda;
}

static void resize_bilinear(const Image *in, Image *out)
{
    float sh = (float)in->h / (float)out->h, sw = (float)in->w / (float)out->w;
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * (size_t)in->h * (size_t)in->w;
        float *dst = out->data + (size_t)c * (size_t)out->h * (size_t)out->w;
        for (int y = 0; y < out->h; y++) {
            int64_t y0, y1, x0, x1;
            float h0, h1, w0, w1;
            linear_index(y, in->h, sh, &y0, &y1, &h0, &h1);
            for (int x = 0; x < out->w; x++) {
                linear_index(x, in->w, sw, &x0, &x1, &w0, &w1);
                float top = src[y0 * in->w + x0] * w0 + src[y0 * in->w + x1] * w1;
                float bottom = src[y1 * in->w + x0] * w0 + src[y1 * in->w + x1] * w1;
                dst[y * out->w + x] = top * h0 + bottom * h1;
            }
        }
    }
}

/* PyTorch's nearest (not nearest-exact): floor(dst * scale). */
static int64_t nearest_index(int64_t i, int64_t in_size, int64_t out_size)
{
    if (out_size == in_size) return i;
    if (out_size == 2 * in_size) return i >> 1;
    float scale = (float)in_size / (float)out_size;
    int64_t s = (int64_t)floorf((float)i * scale);
    return s < in_size - 1 ? s : in_size - 1;
}

static void resize_nearest(const Image *in, Image *out)
{
    for (int c = 0; c < in->c; c++)
        for (int y = 0; y < out->h; y++) {
            const float *row = in->data + ((size_t)c * (size_t)in->h + (size_t)nearest_index(y, in->h, out->h)) * (size_t)in->w;
            float *dst = out->data + ((size_t)c * (size_t)out->h + (size_t)y) * (size_t)out->w;
            for (int x = 0; x < out->w; x++) dst[x] = row[nearest_index(x, in->w, out->w)];
        }
}

static void resize_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const ResizeParams *p = t->params;
    size_t n = (size_t)out->c * (size_t)out->h * (size_t)out->w;
    if (in->h == out->h && in->w == out->w) { /* torchvision returns the image as it is */
        memcpy(out->data, in->data, sizeof(float) * n);
        return;
    }
    if (p->interpolation == INTERP_NEAREST) {
        resize_nearest(in, out);
        return;
    }
    if (p->antialias) resize_aa(in, out);
    else resize_bilinear(in, out);
    if (t->on_bytes) /* uint8 images: rounded back to bytes (the weights are >= 0: no clamp needed) */
        for (size_t i = 0; i < n; i++) out->data[i] = round_byte(out->data[i]);
}

int transform_resize(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"size", "interpolation", "max_size", "antialias", NULL};
    ResizeParams *p = transform_params(t, sizeof *p);
    int n;
    if (targ_check(t, cfg, args_path, keys) || read_size(t, cfg, args_path, p->size, &p->smaller_edge, true) ||
        targ_choice(t, cfg, args_path, "interpolation", interpolations, INTERP_BILINEAR, &p->interpolation) ||
        targ_ints(t, cfg, args_path, "max_size", &p->max_size, 1, &n, 1, MAX_SIDE, "an int") ||
        targ_bool(t, cfg, args_path, "antialias", true, &p->antialias))
        return -1;
    if (n && !p->smaller_edge)
        return transform_fail(t, "max_size only goes with a size for the smaller edge (an int), not [h, w]");
    if (n && p->max_size <= p->size[0])
        return transform_fail(t, "max_size (%lld) must be larger than size (%lld)", (long long)p->max_size,
                              (long long)p->size[0]);
    char key[400];
    snprintf(key, sizeof key, "%s.antialias", args_path);
    if (p->interpolation == INTERP_NEAREST && p->antialias && config_has(cfg, key))
        return transform_fail(t, "antialias goes with bilinear interpolation only");
    t->size = resize_size;
    t->apply = resize_apply;
    return 0;
}

/* ---------------- crops and padding ---------------- */

/* out = the window of in at (top, left) of out's size; rows and columns
 * outside in read through the maps ys/xs (source index or -1: fill). */
static void crop_mapped(const Image *in, Image *out, const int *ys, const int *xs, float fill)
{
    for (int c = 0; c < in->c; c++) {
        const float *src = in->data + (size_t)c * (size_t)in->h * (size_t)in->w;
        float *dst = out->data + (size_t)c * (size_t)out->h * (size_t)out->w;
        for (int y = 0; y < out->h; y++) {
            float *row = dst + (size_t)y * (size_t)out->w;
            if (ys[y] < 0) {
                for (int x = 0; x < out->w; x++) row[x] = fill;
                continue;
            }
            const float *srow = src + (size_t)ys[y] * (size_t)in->w;
            for (int x = 0; x < out->w; x++) row[x] = xs[x] < 0 ? fill : srow[xs[x]];
        }
    }
}

/* CenterCrop: torchvision pads with zeros when the crop is larger than the
 * image, then crops at round((size - crop) / 2) (half to even, as Python's). */
typedef struct {
    int64_t size[2];
} CenterCropParams;

static int center_crop_size(const Transform *t, ImageSize in, ImageSize *out)
{
    const CenterCropParams *p = t->params;
    *out = in;
    out->h = (int)p->size[0];
    out->w = (int)p->size[1];
    return 0;
}

/* The source index of each of the crop's n positions along a side of size n_in. */
static void center_map(int n_in, int n, int *map)
{
    int pad_lo = n > n_in ? (n - n_in) / 2 : 0, pad_hi = n > n_in ? (n - n_in + 1) / 2 : 0;
    int padded = n_in + pad_lo + pad_hi;
    int start = (int)nearbyint((double)(padded - n) / 2.0);
    for (int i = 0; i < n; i++) {
        int s = start + i - pad_lo;
        map[i] = s >= 0 && s < n_in ? s : -1;
    }
}

static void center_crop_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    int *ys = malloc(sizeof(int) * (size_t)out->h), *xs = malloc(sizeof(int) * (size_t)out->w);
    ENGINE_ASSERT(ys && xs);
    center_map(in->h, out->h, ys);
    center_map(in->w, out->w, xs);
    crop_mapped(in, out, ys, xs, 0.0f);
    free(ys);
    free(xs);
}

int transform_center_crop(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"size", NULL};
    CenterCropParams *p = transform_params(t, sizeof *p);
    bool single;
    if (targ_check(t, cfg, args_path, keys) || read_size(t, cfg, args_path, p->size, &single, true)) return -1;
    t->size = center_crop_size;
    t->apply = center_crop_apply;
    return 0;
}

/* RandomCrop: padding (left, top, right, bottom) with fill and
 * padding_mode, then pad_if_needed's padding of each side by what is
 * missing, then a window at uniform offsets. */
static const char *const pad_modes[] = {"constant", "edge", "reflect", "symmetric", NULL};

typedef struct {
    int64_t size[2];
    int64_t pad[4]; /* left, top, right, bottom */
    bool pad_if_needed;
    double fill;
    int mode;
} RandomCropParams;

/* The padded sides: after `padding`, and after pad_if_needed (0: none). */
typedef struct {
    int h1, w1;           /* after padding */
    int need_h, need_w;   /* pad_if_needed's padding on each side */
    int h, w;             /* the image the window is taken from */
} CropPlan;

static CropPlan crop_plan(const RandomCropParams *p, ImageSize in)
{
    CropPlan c;
    c.h1 = in.h + (int)(p->pad[1] + p->pad[3]);
    c.w1 = in.w + (int)(p->pad[0] + p->pad[2]);
    c.need_w = p->pad_if_needed && c.w1 < p->size[1] ? (int)p->size[1] - c.w1 : 0;
    c.need_h = p->pad_if_needed && c.h1 < p->size[0] ? (int)p->size[0] - c.h1 : 0;
    c.w = c.w1 + 2 * c.need_w;
    c.h = c.h1 + 2 * c.need_h;
    return c;
}

static int random_crop_size(const Transform *t, ImageSize in, ImageSize *out)
{
    const RandomCropParams *p = t->params;
    CropPlan c = crop_plan(p, in);
    if (p->mode == PAD_REFLECT || p->mode == PAD_SYMMETRIC) {
        /* they mirror the image once: torch's reflect needs a pad shorter than the side, symmetric one no longer */
        int slack = p->mode == PAD_SYMMETRIC ? 1 : 0;
        if (p->pad[0] >= in.w + slack || p->pad[2] >= in.w + slack || p->pad[1] >= in.h + slack ||
            p->pad[3] >= in.h + slack || c.need_w >= c.w1 + slack || c.need_h >= c.h1 + slack)
            return transform_fail(t, "%s padding must be %s the image's side (%dx%d)", pad_modes[p->mode],
                                  slack ? "at most" : "shorter than", in.h, in.w);
    }
    if (c.h > MAX_SIDE || c.w > MAX_SIDE) return transform_fail(t, "padding makes the image too large");
    if (c.h < p->size[0] || c.w < p->size[1])
        return transform_fail(t, "the crop (%lldx%lld) is larger than the image (%dx%d%s); pad it (padding, "
                                 "pad_if_needed) or Resize first",
                              (long long)p->size[0], (long long)p->size[1], c.h, c.w,
                              c.h != in.h || c.w != in.w ? " after padding" : "");
    *out = in;
    out->h = (int)p->size[0];
    out->w = (int)p->size[1];
    return 0;
}

/* The source of each of the n positions of the window from `start` along a
 * side of size n_in padded by lo/hi, then by need on both sides. */
static void random_crop_map(int n_in, int lo, int hi, int need, int start, int n, PadMode mode, int *map)
{
    int n1 = n_in + lo + hi;
    for (int i = 0; i < n; i++) {
        int s = pad_source(start + i - need, n1, mode); /* into the first padded image */
        map[i] = s < 0 ? -1 : pad_source(s - lo, n_in, mode);
    }
}

static void random_crop_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const RandomCropParams *p = t->params;
    CropPlan c = crop_plan(p, (ImageSize){in->c, in->h, in->w});
    int top = 0, left = 0;
    if (!(c.h == out->h && c.w == out->w)) { /* torchvision draws nothing for a window of the whole image */
        top = (int)sample_rng_int(rng, 0, c.h - out->h);
        left = (int)sample_rng_int(rng, 0, c.w - out->w);
    }
    int *ys = malloc(sizeof(int) * (size_t)out->h), *xs = malloc(sizeof(int) * (size_t)out->w);
    ENGINE_ASSERT(ys && xs);
    random_crop_map(in->h, (int)p->pad[1], (int)p->pad[3], c.need_h, top, out->h, (PadMode)p->mode, ys);
    random_crop_map(in->w, (int)p->pad[0], (int)p->pad[2], c.need_w, left, out->w, (PadMode)p->mode, xs);
    crop_mapped(in, out, ys, xs, (float)p->fill);
    free(ys);
    free(xs);
}

int transform_random_crop(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"size", "padding", "pad_if_needed", "fill", "padding_mode", NULL};
    RandomCropParams *p = transform_params(t, sizeof *p);
    bool single;
    int64_t pad[4];
    int n_pad;
    if (targ_check(t, cfg, args_path, keys) || read_size(t, cfg, args_path, p->size, &single, true) ||
        targ_ints(t, cfg, args_path, "padding", pad, 4, &n_pad, 0, MAX_SIDE,
                  "an int, [left/right, top/bottom] or [left, top, right, bottom]") ||
        targ_bool(t, cfg, args_path, "pad_if_needed", false, &p->pad_if_needed) ||
        targ_number(t, cfg, args_path, "fill", 0.0, &p->fill) ||
        targ_choice(t, cfg, args_path, "padding_mode", pad_modes, PAD_CONSTANT, &p->mode))
        return -1;
    if (n_pad == 3) return transform_fail(t, "padding takes 1, 2 or 4 values, not 3");
    /* torchvision's _parse_pad_padding */
    if (n_pad == 1) p->pad[0] = p->pad[1] = p->pad[2] = p->pad[3] = pad[0];
    if (n_pad == 2) {
        p->pad[0] = p->pad[2] = pad[0];
        p->pad[1] = p->pad[3] = pad[1];
    }
    if (n_pad == 4) memcpy(p->pad, pad, sizeof pad);
    t->random = true;
    t->size = random_crop_size;
    t->apply = random_crop_apply;
    return 0;
}

/* ---------------- flips ---------------- */

typedef struct {
    double p;
    bool vertical;
} FlipParams;

static void flip_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const FlipParams *p = t->params;
    size_t n = (size_t)in->c * (size_t)in->h * (size_t)in->w;
    if (!(sample_rng_uniform(rng) < p->p)) { /* torch.rand(1) < p, drawn every time */
        memcpy(out->data, in->data, sizeof(float) * n);
        return;
    }
    for (int c = 0; c < in->c; c++)
        for (int y = 0; y < in->h; y++) {
            const float *src = in->data + ((size_t)c * (size_t)in->h + (size_t)(p->vertical ? in->h - 1 - y : y)) * (size_t)in->w;
            float *dst = out->data + ((size_t)c * (size_t)in->h + (size_t)y) * (size_t)in->w;
            if (p->vertical) memcpy(dst, src, sizeof(float) * (size_t)in->w);
            else
                for (int x = 0; x < in->w; x++) dst[x] = src[in->w - 1 - x];
        }
}

static int flip(Transform *t, const Config *cfg, const char *args_path, bool vertical)
{
    static const char *const keys[] = {"p", NULL};
    FlipParams *p = transform_params(t, sizeof *p);
    p->vertical = vertical;
    if (targ_check(t, cfg, args_path, keys) || targ_number(t, cfg, args_path, "p", 0.5, &p->p)) return -1;
    if (!(p->p >= 0 && p->p <= 1)) return transform_fail(t, "p must be a probability in [0, 1], got %g", p->p);
    t->random = true;
    t->apply = flip_apply;
    return 0;
}

int transform_random_horizontal_flip(Transform *t, const Config *cfg, const char *args_path)
{
    return flip(t, cfg, args_path, false);
}

int transform_random_vertical_flip(Transform *t, const Config *cfg, const char *args_path)
{
    return flip(t, cfg, args_path, true);
}
