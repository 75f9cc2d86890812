/* ColorJitter, as torchvision's tensor functions compute it: brightness,
 * contrast and saturation blend the image with black, its mean grey or its
 * grey version (_blend: clamped to [0, 255] and cast, that is truncated,
 * for bytes; clamped to [0, 1] for tensors); hue turns the hue in HSV
 * (_rgb2hsv / _hsv2rgb). The four run in a random order, each with a
 * factor drawn from its range, as ColorJitter.get_params draws them. */
#include "data_loader/transform_internal.h"

#include <math.h>
#include <string.h>

enum { BRIGHTNESS, CONTRAST, SATURATION, HUE, N_JITTERS };
static const char *const jitter_names[] = {"brightness", "contrast", "saturation", "hue"};

typedef struct {
    bool on[N_JITTERS];
    double range[N_JITTERS][2];
} JitterParams;

static int jitter_size(const Transform *t, ImageSize in, ImageSize *out)
{
    if (in.c != 1 && in.c != 3)
        return transform_fail(t, "takes images of 1 or 3 channels (grey or RGB), this one has %d", in.c);
    *out = in;
    return 0;
}

/* _blend(img, other, ratio): ratio * img + (1 - ratio) * other, in float32. */
static inline float blend(float a, float b, float ratio, float one_minus, float bound, bool bytes)
{
    float v = ratio * a + one_minus * b;
    v = v < 0.0f ? 0.0f : v > bound ? bound : v;
    return bytes ? truncf(v) : v;
}

/* rgb_to_grayscale: 0.2989 r + 0.587 g + 0.114 b, cast back to the image's type. */
static inline float grey(float r, float g, float b, bool bytes)
{
    float v = 0.2989f * r + 0.587f * g + 0.114f * b;
    return bytes ? truncf(v) : v;
}

static void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
    bool eqc = maxc == minc;
    float cr = maxc - minc;
    *s = cr / (eqc ? 1.0f : maxc);
    float div = eqc ? 1.0f : cr;
    float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    float hue;
    if (maxc == r) hue = bc - gc;
    else if (maxc == g) hue = 2.0f + rc - bc;
    else hue = 4.0f + gc - rc;
    *h = fmodf(hue / 6.0f + 1.0f, 1.0f);
    *v = maxc;
}

static inline float clamp01(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }

static void hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b)
{
    float i = floorf(h * 6.0f), f = h * 6.0f - i;
    float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
    int k = ((int)i % 6 + 6) % 6;
    const float rs[6] = {v, q, p, p, t, v}, gs[6] = {t, v, v, q, p, p}, bs[6] = {p, p, t, v, v, q};
    *r = rs[k];
    *g = gs[k];
    *b = bs[k];
}

/* In place on img (c is 1 or 3). */
static void jitter_one(int which, float factor, float *img, int c, size_t plane, bool bytes)
{
    float bound = bytes ? 255.0f : 1.0f, ratio = factor, rest = (float)(1.0 - (double)factor);
    size_t n = (size_t)c * plane;
    switch (which) {
    case BRIGHTNESS:
        for (size_t i = 0; i < n; i++) img[i] = blend(img[i], 0.0f, ratio, rest, bound, bytes);
        break;
    case CONTRAST: {
        double sum = 0; /* the mean of the grey image, in float32 as torch.mean returns it */
        for (size_t i = 0; i < plane; i++)
            sum += c == 3 ? grey(img[i], img[plane + i], img[2 * plane + i], bytes) : img[i];
        float mean = (float)(sum / (double)plane);
        for (size_t i = 0; i < n; i++) img[i] = blend(img[i], mean, ratio, rest, bound, bytes);
        break;
    }
    case SATURATION:
        if (c == 1) break; /* grey images stay as they are, as PIL leaves them */
        for (size_t i = 0; i < plane; i++) {
            float gr = grey(img[i], img[plane + i], img[2 * plane + i], bytes);
            for (int k = 0; k < 3; k++) img[k * plane + i] = blend(img[k * plane + i], gr, ratio, rest, bound, bytes);
        }
        break;
    case HUE:
        if (c == 1) break;
        for (size_t i = 0; i < plane; i++) {
            float rgb[3], h, s, v;
            for (int k = 0; k < 3; k++) rgb[k] = bytes ? img[k * plane + i] / 255.0f : img[k * plane + i];
            rgb_to_hsv(rgb[0], rgb[1], rgb[2], &h, &s, &v);
            h = fmodf(h + factor, 1.0f); /* Python's %: into [0, 1) */
            if (h < 0.0f) h += 1.0f;
            hsv_to_rgb(h, s, v, &rgb[0], &rgb[1], &rgb[2]);
            for (int k = 0; k < 3; k++) img[k * plane + i] = bytes ? truncf(rgb[k] * 255.0f) : rgb[k];
        }
        break;
    }
}

static void jitter_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const JitterParams *p = t->params;
    /* get_params: a random order of the four (torch.randperm(4)), then the factors */
    int order[N_JITTERS] = {0, 1, 2, 3};
    for (int i = N_JITTERS - 1; i > 0; i--) {
        int j = (int)sample_rng_int(rng, 0, i);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    float factor[N_JITTERS] = {0};
    for (int k = 0; k < N_JITTERS; k++)
        if (p->on[k]) factor[k] = (float)sample_rng_range(rng, p->range[k][0], p->range[k][1]);
    size_t plane = (size_t)in->h * (size_t)in->w;
    memcpy(out->data, in->data, sizeof(float) * (size_t)in->c * plane);
    for (int i = 0; i < N_JITTERS; i++)
        if (p->on[order[i]]) jitter_one(order[i], factor[order[i]], out->data, in->c, plane, t->on_bytes);
}

int transform_color_jitter(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"brightness", "contrast", "saturation", "hue", NULL};
    JitterParams *p = transform_params(t, sizeof *p);
    if (targ_check(t, cfg, args_path, keys)) return -1;
    for (int k = 0; k < N_JITTERS; k++) {
        double v[2];
        int n;
        bool hue = k == HUE;
        if (targ_numbers(t, cfg, args_path, jitter_names[k], v, 2, &n, "a number or [min, max]")) return -1;
        if (n == 0) continue;
        /* ColorJitter._check_input */
        double center = hue ? 0.0 : 1.0, lo = hue ? -0.5 : 0.0, hi = hue ? 0.5 : INFINITY;
        if (n == 1) {
            if (v[0] < 0 || (hue && v[0] > 0.5))
                return transform_fail(t, "%s: a single number must be in [0, %s], got %g", jitter_names[k],
                                      hue ? "0.5" : "inf", v[0]);
            v[1] = center + v[0];
            v[0] = center - v[0];
            if (!hue && v[0] < 0) v[0] = 0;
        } else if (!(lo <= v[0] && v[0] <= v[1] && v[1] <= hi)) {
            return transform_fail(t, "%s: [%g, %g] must be an ordered range within [%g, %g]", jitter_names[k], v[0],
                                  v[1], lo, hi);
        }
        if (v[0] == center && v[1] == center) continue; /* no change: torchvision's None */
        p->on[k] = true;
        p->range[k][0] = v[0];
        p->range[k][1] = v[1];
    }
    t->random = true;
    t->size = jitter_size;
    t->apply = jitter_apply;
    return 0;
}
