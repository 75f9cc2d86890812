/* RandomRotation and RandomAffine, as torchvision computes them on tensors:
 * the inverse affine matrix of _get_inverse_affine_matrix, a float32
 * sampling grid as _gen_affine_grid builds it, and grid_sample's nearest
 * or bilinear sampling (align_corners=False), with the fill value blended
 * in through a mask channel exactly as _apply_grid_transform does. */
#include "data_loader/transform_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void affine_inverse_matrix(const double center[2], double angle, const double translate[2], double scale,
                           const double shear[2], double m[6])
{
    const double deg = 3.14159265358979323846 / 180.0;
    double rot = angle * deg, sx = shear[0] * deg, sy = shear[1] * deg;
    double cx = center[0], cy = center[1], tx = translate[0], ty = translate[1];
    /* rotation and shear, without the scale */
    double a = cos(rot - sy) / cos(sy);
    double b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot);
    double c = sin(rot - sy) / cos(sy);
    double d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot);
    /* inverted (its determinant is 1), scaled, then the translations */
    double r[6] = {d, -b, 0.0, -c, a, 0.0};
    for (int i = 0; i < 6; i++) r[i] /= scale;
    r[2] += r[0] * (-cx - tx) + r[1] * (-cy - ty);
    r[5] += r[3] * (-cx - tx) + r[4] * (-cy - ty);
    r[2] += cx;
    r[5] += cy;
    memcpy(m, r, sizeof r);
}

/* The value of channel ch at (y, x), 0 outside the image (padding_mode="zeros"). */
static inline float at(const Image *in, int ch, int y, int x, float *inside)
{
    if (x < 0 || y < 0 || x >= in->w || y >= in->h) {
        *inside = 0.0f;
        return 0.0f;
    }
    *inside = 1.0f;
    return in->data[((size_t)ch * (size_t)in->h + (size_t)y) * (size_t)in->w + (size_t)x];
}

void affine_sample(const Image *in, Image *out, const double m[6], bool bilinear, const float *fill, int n_fill,
                   bool on_bytes)
{
    int w = in->w, h = in->h;
    /* theta in float32, divided by [0.5 w, 0.5 h] (theta^T / [...] in _gen_affine_grid) */
    float hw = 0.5f * (float)w, hh = 0.5f * (float)h;
    float r00 = (float)m[0] / hw, r10 = (float)m[1] / hw, r20 = (float)m[2] / hw;
    float r01 = (float)m[3] / hh, r11 = (float)m[4] / hh, r21 = (float)m[5] / hh;
    /* grid_sample's unnormalisation (its vectorised CPU form): (g + 1) * size / 2 - 0.5 */
    float sw = (float)w / 2.0f, sh = (float)h / 2.0f;
    for (int y = 0; y < h; y++) {
        float by = (float)(-h * 0.5 + 0.5 + y); /* the base grid: pixel centres, exact half-integers */
        for (int x = 0; x < w; x++) {
            float bx = (float)(-w * 0.5 + 0.5 + x);
            float gx = bx * r00 + by * r10 + r20, gy = bx * r01 + by * r11 + r21;
            float ix = (gx + 1.0f) * sw - 0.5f, iy = (gy + 1.0f) * sh - 0.5f;
            for (int ch = 0; ch < in->c; ch++) {
                float f = fill[n_fill == 1 ? 0 : ch], v, inside;
                if (!bilinear) {
                    v = at(in, ch, (int)nearbyintf(iy), (int)nearbyintf(ix), &inside);
                    if (inside < 0.5f) v = f;
                } else {
                    float x0 = floorf(ix), y0 = floorf(iy);
                    float we = ix - x0, ea = 1.0f - we, no = iy - y0, so = 1.0f - no;
                    float nw = so * ea, ne = so * we, swt = no * ea, se = no * we;
                    int xi = (int)x0, yi = (int)y0;
                    float m_nw, m_ne, m_sw, m_se;
                    float v_nw = at(in, ch, yi, xi, &m_nw), v_ne = at(in, ch, yi, xi + 1, &m_ne);
                    float v_sw = at(in, ch, yi + 1, xi, &m_sw), v_se = at(in, ch, yi + 1, xi + 1, &m_se);
                    v = v_nw * nw + v_ne * ne + v_sw * swt + v_se * se;
                    /* the mask channel (ones) sampled alike, then img * mask + (1 - mask) * fill */
                    float mask = m_nw * nw + m_ne * ne + m_sw * swt + m_se * se;
                    v = v * mask + (1.0f - mask) * f;
                    if (on_bytes) v = round_byte(v);
                }
                out->data[((size_t)ch * (size_t)h + (size_t)y) * (size_t)w + (size_t)x] = v;
            }
        }
    }
}

enum { INTERP_NEAREST, INTERP_BILINEAR };
static const char *const interpolations[] = {"nearest", "bilinear", NULL};
enum { MAX_FILL = 64 };

/* What rotation and affine share. */
typedef struct {
    double degrees[2];
    bool has_translate, has_scale;
    double translate[2], scale[2];
    int n_shear;
    double shear[4];
    int interpolation;
    bool has_center;
    double center[2];
    float fill[MAX_FILL];
    int n_fill;
    bool affine; /* RandomAffine: the angle's sign and the translations */
} AffineParams;

static int affine_size(const Transform *t, ImageSize in, ImageSize *out)
{
    const AffineParams *p = t->params;
    if (p->n_fill != 1 && p->n_fill != in.c)
        return transform_fail(t, "fill has %d values, the image has %d channels (give 1 or %d)", p->n_fill, in.c,
                              in.c);
    *out = in;
    return 0;
}

static void affine_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const AffineParams *p = t->params;
    /* get_params draws in torchvision's order: angle, translations, scale, shears */
    double angle = sample_rng_range(rng, p->degrees[0], p->degrees[1]);
    double translate[2] = {0, 0}, scale = 1.0, shear[2] = {0, 0};
    if (p->has_translate) {
        double max_dx = p->translate[0] * in->w, max_dy = p->translate[1] * in->h;
        translate[0] = nearbyint(sample_rng_range(rng, -max_dx, max_dx)); /* int(round(...)): half to even */
        translate[1] = nearbyint(sample_rng_range(rng, -max_dy, max_dy));
    }
    if (p->has_scale) scale = sample_rng_range(rng, p->scale[0], p->scale[1]);
    if (p->n_shear >= 2) shear[0] = sample_rng_range(rng, p->shear[0], p->shear[1]);
    if (p->n_shear == 4) shear[1] = sample_rng_range(rng, p->shear[2], p->shear[3]);
    double center[2] = {0, 0};
    if (p->has_center) { /* pixel coordinates, relative to the image's centre */
        center[0] = p->center[0] - in->w * 0.5;
        center[1] = p->center[1] - in->h * 0.5;
    }
    double m[6];
    /* F.rotate turns the other way than F.affine: it passes -angle */
    affine_inverse_matrix(center, p->affine ? angle : -angle, translate, scale, shear, m);
    affine_sample(in, out, m, p->interpolation == INTERP_BILINEAR, p->fill, p->n_fill, t->on_bytes);
}

/* degrees (or shear): a number d >= 0 for [-d, d], or [low, high]. */
static int read_range(Transform *t, const Config *cfg, const char *args_path, const char *name, double *out,
                      int max, int *n)
{
    double v[4];
    if (targ_numbers(t, cfg, args_path, name, v, max, n,
                     max == 4 ? "a number, [low, high] or [x low, x high, y low, y high]" : "a number or [low, high]"))
        return -1;
    if (*n == 1) {
        if (v[0] < 0) return transform_fail(t, "%s: a single number must be >= 0 (it means [-%s, %s])", name, name, name);
        out[0] = -v[0];
        out[1] = v[0];
        *n = 2;
        return 0;
    }
    if (*n == 3) return transform_fail(t, "%s takes 1, 2 or 4 values, not 3", name);
    for (int i = 0; i < *n; i += 2)
        if (v[i] > v[i + 1]) return transform_fail(t, "%s: the range [%g, %g] runs backwards", name, v[i], v[i + 1]);
    memcpy(out, v, sizeof(double) * (size_t)*n);
    return 0;
}

static int read_common(Transform *t, const Config *cfg, const char *args_path, AffineParams *p)
{
    int n;
    if (read_range(t, cfg, args_path, "degrees", p->degrees, 2, &n)) return -1;
    if (n == 0) return transform_fail(t, "needs degrees (a number d for [-d, d], or [low, high])");
    double fill[MAX_FILL];
    if (targ_choice(t, cfg, args_path, "interpolation", interpolations, INTERP_NEAREST, &p->interpolation) ||
        targ_numbers(t, cfg, args_path, "center", p->center, 2, &n, "[x, y]") ||
        targ_numbers(t, cfg, args_path, "fill", fill, MAX_FILL, &p->n_fill, "a number or one per channel"))
        return -1;
    if (n == 1) return transform_fail(t, "center takes [x, y]");
    p->has_center = n == 2;
    if (p->n_fill == 0) {
        p->n_fill = 1;
        fill[0] = 0;
    }
    for (int i = 0; i < p->n_fill; i++) p->fill[i] = (float)fill[i];
    t->random = true;
    t->size = affine_size;
    t->apply = affine_apply;
    return 0;
}

int transform_random_rotation(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"degrees", "interpolation", "expand", "center", "fill", NULL};
    AffineParams *p = transform_params(t, sizeof *p);
    bool expand;
    if (targ_check(t, cfg, args_path, keys) || read_common(t, cfg, args_path, p) ||
        targ_bool(t, cfg, args_path, "expand", false, &expand))
        return -1;
    if (expand)
        return transform_fail(t, "expand: true makes the image's size depend on the angle, and a batch needs one "
                                 "size; leave it false");
    return 0;
}

int transform_random_affine(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"degrees", "translate", "scale", "shear", "interpolation", "fill", "center",
                                       NULL};
    AffineParams *p = transform_params(t, sizeof *p);
    p->affine = true;
    int n;
    if (targ_check(t, cfg, args_path, keys) || read_common(t, cfg, args_path, p) ||
        targ_numbers(t, cfg, args_path, "translate", p->translate, 2, &n, "[max dx, max dy] (fractions)"))
        return -1;
    if (n == 1) return transform_fail(t, "translate takes [max dx, max dy]");
    p->has_translate = n == 2;
    for (int i = 0; i < n; i++)
        if (!(p->translate[i] >= 0 && p->translate[i] <= 1))
            return transform_fail(t, "translate: values are fractions of the size, in [0, 1]; got %g", p->translate[i]);
    if (targ_numbers(t, cfg, args_path, "scale", p->scale, 2, &n, "[min, max]")) return -1;
    if (n == 1) return transform_fail(t, "scale takes [min, max]");
    p->has_scale = n == 2;
    for (int i = 0; i < n; i++)
        if (!(p->scale[i] > 0)) return transform_fail(t, "scale: values must be positive, got %g", p->scale[i]);
    if (n == 2 && p->scale[0] > p->scale[1])
        return transform_fail(t, "scale: the range [%g, %g] runs backwards", p->scale[0], p->scale[1]);
    return read_range(t, cfg, args_path, "shear", p->shear, 4, &p->n_shear);
}
